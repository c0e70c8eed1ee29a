"""Browser WebSockets (dashboard, live sessions): signed in by the Django session cookie;
pages of other origins are refused (no cross-site WebSocket hijacking)."""

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import re_path

from portal.consumers import LiveConsumer


def _browser(consumer):
    return AllowedHostsOriginValidator(AuthMiddlewareStack(consumer))


websocket_urlpatterns = [
    re_path(r"^ws/dashboard/$", _browser(LiveConsumer.as_asgi())),
    re_path(r"^ws/sessions/(?P<session_pk>\d+)/$", _browser(LiveConsumer.as_asgi())),
]
