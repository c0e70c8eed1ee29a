from django.urls import path

from roaming import emsp_views, views

V = "2.2.1"
E = f"{V}/emsp"  # our eMSP-side modules

urlpatterns = [
    path("versions", views.versions, name="ocpi-versions"),
    path(V, views.version_details, name="ocpi-version-details"),
    path(f"{V}/credentials", views.credentials_view, name="ocpi-credentials"),
    path(f"{V}/hubclientinfo", emsp_views.hubclientinfo, name="ocpi-hubclientinfo"),
    path(f"{V}/hubclientinfo/<str:country_code>/<str:party_id>", emsp_views.hubclientinfo),
    # ChargeNet as CPO
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
    # ChargeNet as eMSP
    path(f"{E}/locations", emsp_views.locations, name="ocpi-emsp-locations"),
    path(f"{E}/locations/<str:country_code>/<str:party_id>/<str:location_id>", emsp_views.locations),
    path(f"{E}/locations/<str:country_code>/<str:party_id>/<str:location_id>/<str:evse_uid>", emsp_views.locations),
    path(f"{E}/locations/<str:country_code>/<str:party_id>/<str:location_id>/<str:evse_uid>/<str:connector_id>",
         emsp_views.locations),
    path(f"{E}/sessions", emsp_views.sessions, name="ocpi-emsp-sessions"),
    path(f"{E}/sessions/<str:country_code>/<str:party_id>/<str:session_id>", emsp_views.sessions),
    path(f"{E}/cdrs", emsp_views.cdrs, name="ocpi-emsp-cdrs"),
    path(f"{E}/cdrs/<int:cdr_pk>", emsp_views.cdrs, name="ocpi-emsp-cdr"),
    path(f"{E}/tariffs", emsp_views.tariffs, name="ocpi-emsp-tariffs"),
    path(f"{E}/tariffs/<str:country_code>/<str:party_id>/<str:tariff_id>", emsp_views.tariffs),
    path(f"{E}/tokens", emsp_views.tokens, name="ocpi-emsp-tokens"),
    path(f"{E}/tokens/<str:uid>/authorize", emsp_views.authorize),
    path(f"{E}/commands", emsp_views.results, {"kind": "commands", "uid": ""}, name="ocpi-emsp-commands"),
    path(f"{E}/chargingprofiles", emsp_views.results, {"kind": "chargingprofiles", "uid": ""},
         name="ocpi-emsp-chargingprofiles"),
    path(f"{E}/<str:kind>/results/<str:uid>", emsp_views.results, name="ocpi-emsp-results"),
]
