from django.urls import path

from roaming import api

urlpatterns = [
    path("roaming/settlement.csv", api.settlement_csv, name="roaming-settlement-csv"),
    path("roaming/locations/", api.partner_locations, name="roaming-locations"),
    path("roaming/locations/<int:pk>/start/", api.start_session, name="roaming-start"),
    path("roaming/sessions/", api.roaming_sessions, name="roaming-sessions"),
    path("roaming/sessions/<int:pk>/stop/", api.stop_session, name="roaming-stop"),
]
