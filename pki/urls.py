from django.urls import path

from pki import views

urlpatterns = [
    path("ocsp/<int:ca_id>", views.ocsp_responder, name="pki-ocsp"),
    path("crl/<int:ca_id>.crl", views.crl_view, name="pki-crl"),
]
