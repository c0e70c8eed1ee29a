from rest_framework.routers import DefaultRouter

from stations.api.views import SessionViewSet, StationViewSet

router = DefaultRouter()
router.register("stations", StationViewSet, basename="station")
router.register("sessions", SessionViewSet, basename="session")

urlpatterns = router.urls
