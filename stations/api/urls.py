from rest_framework.routers import DefaultRouter

from stations.api import views

router = DefaultRouter()
router.register("sites", views.SiteViewSet, basename="site")
router.register("stations", views.StationViewSet, basename="station")
router.register("evses", views.EvseViewSet, basename="evse")
router.register("drivers", views.DriverViewSet, basename="driver")
router.register("id-tokens", views.IdTokenViewSet, basename="id-token")
router.register("sessions", views.SessionViewSet, basename="session")
router.register("commands", views.CommandLogViewSet, basename="command")

urlpatterns = router.urls

# Firmware catalog, campaigns and diagnostics (stations/firmware/api.py).
from stations.firmware import api as firmware_api  # noqa: E402

firmware_router = DefaultRouter()
firmware_router.register("firmware", firmware_api.FirmwareViewSet, basename="firmware")
firmware_router.register("firmware-campaigns", firmware_api.CampaignViewSet, basename="firmware-campaign")
firmware_router.register("diagnostics", firmware_api.DiagnosticsViewSet, basename="diagnostics")
urlpatterns += firmware_router.urls
