"""ASGI entry point: HTTP goes to Django, WebSockets to the OCPP consumer (/ocpp/) and the live pages (/ws/)."""

import gc
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

# A server process holds thousands of long-lived connections. With the collector's default
# thresholds its full passes over them stopped the event loop for 0.4-0.8 s each, about
# twenty times per worker in a reconnect storm of 10,000 stations (benchmarks/fleet.py):
# handshakes waited and were refused. In the workers of gateway.serve, what start-up built
# lives as long as the process and is frozen out of every pass; young objects are collected
# after 50,000 allocations instead of 700, and full passes come after 100 young-generation
# passes instead of 10. (Not in other processes that import this module, such as the test
# suite's: freezing there would keep whatever exists at that moment forever.)
if os.environ.get("CHARGENET_WORKER"):
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
