"""Browser WebSockets, mounted under /ws/ in chargenet.asgi (with session auth)."""

from django.urls import re_path

from portal.consumers import LiveConsumer

websocket_urlpatterns = [
    re_path(r"^dashboard/$", LiveConsumer.as_asgi()),
    re_path(r"^sessions/(?P<session_pk>\d+)/$", LiveConsumer.as_asgi()),
]
