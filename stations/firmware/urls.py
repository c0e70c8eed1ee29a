from django.urls import path

from stations.firmware import views

urlpatterns = [
    path("firmware/download/<str:token>/<str:name>", views.firmware_download, name="firmware-download"),
    path("diagnostics/upload/<str:token>/", views.diagnostics_upload, name="diagnostics-upload"),
    path("diagnostics/upload/<str:token>/<str:name>", views.diagnostics_upload, name="diagnostics-upload-named"),
]
