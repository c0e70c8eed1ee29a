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
