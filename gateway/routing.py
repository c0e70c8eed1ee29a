from django.urls import re_path

from gateway.consumer import OcppConsumer

websocket_urlpatterns = [
    # Station ids may be percent-encoded; the consumer decodes them.
    re_path(r"^ocpp/(?P<station_id>[^/]+)/?$", OcppConsumer.as_asgi()),
]
