"""ASGI entry point: HTTP goes to Django, WebSockets to the OCPP consumer (/ocpp/) and the live pages (/ws/)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chargenet.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from portal.routing import websocket_urlpatterns as portal_websocket_urlpatterns  # noqa: E402
from stations.routing import websocket_urlpatterns  # noqa: E402

# Browser pages (dashboard, live sessions): the Django session signs them in; other origins are refused.
browser_websockets = AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(portal_websocket_urlpatterns)))

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter([*websocket_urlpatterns, path("ws/", browser_websockets)]),
    }
)
