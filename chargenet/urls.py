from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import health

urlpatterns = [
    path("", TemplateView.as_view(template_name="chargenet/landing.html"), name="landing"),
    path("admin/", admin.site.urls),
    path("portal/", include("portal.urls")),
    path("api/v1/", include("chargenet.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("stations.firmware.urls")),
    path("ocpi/", include("roaming.urls")),
    path("pki/", include("pki.urls")),
]
