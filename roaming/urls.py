from django.urls import path

from roaming import views

V = "2.2.1"

urlpatterns = [
    path("versions", views.versions, name="ocpi-versions"),
    path(V, views.version_details, name="ocpi-version-details"),
    path(f"{V}/credentials", views.credentials_view, name="ocpi-credentials"),
    path(f"{V}/locations", views.locations, name="ocpi-locations"),
    path(f"{V}/locations/<str:location_id>", views.locations),
    path(f"{V}/locations/<str:location_id>/<str:evse_uid>", views.locations),
    path(f"{V}/locations/<str:location_id>/<str:evse_uid>/<str:connector_id>", views.locations),
    path(f"{V}/sessions", views.sessions, name="ocpi-sessions"),
    path(f"{V}/cdrs", views.cdrs, name="ocpi-cdrs"),
    path(f"{V}/tariffs", views.tariffs, name="ocpi-tariffs"),
    path(f"{V}/tokens", views.token, name="ocpi-tokens"),
    path(f"{V}/tokens/<str:country_code>/<str:party_id>/<str:uid>", views.token),
    path(f"{V}/commands", views.command, name="ocpi-commands"),
    path(f"{V}/commands/<str:command_type>", views.command),
    path(f"{V}/chargingprofiles", views.charging_profile, name="ocpi-chargingprofiles"),
    path(f"{V}/chargingprofiles/<str:session_id>", views.charging_profile),
]
