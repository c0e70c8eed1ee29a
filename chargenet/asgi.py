"""ASGI entry point: HTTP goes to Django, WebSockets to the OCPP consumer (/ocpp/) and the live pages (/ws/)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chargenet.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from chargenet.periodic import with_periodic_jobs  # noqa: E402
from pki.iso15118 import exi  # noqa: E402

from portal.routing import websocket_urlpatterns as portal_websocket_urlpatterns  # noqa: E402
from gateway.routing import refuse_websocket, websocket_urlpatterns  # noqa: E402

# Embedded mode: what Celery beat would run, this process runs (chargenet/periodic.py).
application = with_periodic_jobs(ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter([*websocket_urlpatterns, *portal_websocket_urlpatterns, refuse_websocket]),
    }
))

# An EV waits at most a few seconds for its contract: the EXI codec's JVM starts with the server.
exi.warm_up_in_background()
