from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import re_path

from gateway.consumer import OcppConsumer
from stations.services.registry import MAX_STATION_ID_LENGTH


class RefusedConsumer(AsyncWebsocketConsumer):
    """A WebSocket handshake for a path no station can have (empty id, ``..``, control
    characters, a decoded ``%2F``): daphne answers 403. Without it the URL router raises
    and daphne answers 500."""

    async def connect(self):
        await self.close()


# The path arrives percent-decoded. A station id is what registration accepts
# (stations.services.registry.validate_station_id): 1-48 characters, none of "/?#",
# no control characters or spaces; "." and ".." are path segments, not ids.
STATION_ID = rf"(?!\.\.?/?$)[^/?#\x00-\x20\x7f]{{1,{MAX_STATION_ID_LENGTH}}}"

websocket_urlpatterns = [
    re_path(rf"^ocpp/(?P<station_id>{STATION_ID})/?$", OcppConsumer.as_asgi()),
    re_path(r"^ocpp(/|$)", RefusedConsumer.as_asgi()),
]

# Last in the project's router: any other WebSocket path is refused the same way.
refuse_websocket = re_path(r"", RefusedConsumer.as_asgi())
