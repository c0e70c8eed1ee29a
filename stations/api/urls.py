"""The stations app's API routes (sites and stations themselves are composed in chargenet.api)."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from stations.api import cars, views
from stations.smart_charging import api as smart_charging

router = DefaultRouter()
router.register("evses", views.EvseViewSet, basename="evse")
router.register("drivers", views.DriverViewSet, basename="driver")
router.register("id-tokens", views.IdTokenViewSet, basename="id-token")
router.register("cars", cars.CarViewSet, basename="car")
router.register("sessions", views.SessionViewSet, basename="session")
router.register("commands", views.CommandLogViewSet, basename="command")

urlpatterns = router.urls + [
    path("sites/<int:pk>/load-limit/", smart_charging.SiteLoadLimitView.as_view(), name="site-load-limit"),
    path("sites/<int:pk>/power/", smart_charging.SitePowerView.as_view(), name="site-power"),
    path("sites/<int:pk>/power.svg", smart_charging.SitePowerChartView.as_view(), name="site-power-chart"),
    path("sites/<int:pk>/rebalance/", smart_charging.SiteRebalanceView.as_view(), name="site-rebalance"),
    path(
        "stations/<str:station_id>/charging-profiles/",
        smart_charging.StationProfilesView.as_view(),
        name="station-charging-profiles",
    ),
    path(
        "stations/<str:station_id>/charging-profiles/<int:profile_id>/",
        smart_charging.StationProfileView.as_view(),
        name="station-charging-profile",
    ),
    path(
        "stations/<str:station_id>/composite-schedule/",
        smart_charging.CompositeScheduleView.as_view(),
        name="station-composite-schedule",
    ),
]

# Firmware catalog, campaigns and diagnostics (stations/firmware/api.py).
from stations.firmware import api as firmware_api  # noqa: E402

firmware_router = DefaultRouter()
firmware_router.register("firmware", firmware_api.FirmwareViewSet, basename="firmware")
firmware_router.register("firmware-campaigns", firmware_api.CampaignViewSet, basename="firmware-campaign")
firmware_router.register("diagnostics", firmware_api.DiagnosticsViewSet, basename="diagnostics")
urlpatterns += firmware_router.urls
