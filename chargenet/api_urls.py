"""``/api/v1/``: every app's endpoints under one prefix."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from chargenet import api
from pki import api as pki_api

router = DefaultRouter()
router.register("sites", api.SiteViewSet, basename="site")
router.register("stations", api.StationViewSet, basename="station")
router.register("vehicles", pki_api.VehicleViewSet, basename="vehicle")  # Plug & Charge cars

urlpatterns = router.urls + [
    path("", include("stations.api.urls")),
    path("", include("billing.api.urls")),
]
