"""The OCPP-J WebSocket endpoint. It only moves frames: who may connect, which version
is spoken, and handing frames to the version's handler (gateway.v16 / v201 / v21)."""

import asyncio
import logging
import time
import uuid
from collections import deque
from datetime import UTC, datetime

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.layers import get_channel_layer
from channels.generic.websocket import AsyncWebsocketConsumer
from ocpp.messages import CallError

from gateway import handshake
from gateway.admission import Busy, admission
from gateway.frames import StationSession
from gateway.presence import mark_connected, mark_disconnected, presence
from gateway.v16 import StationHandler16
from gateway.v21 import StationHandler21
from gateway.v201 import StationHandler201
from pki.services.transport import transport_of
from stations import background
from stations.groups import station_group

logger = logging.getLogger(__name__)

# Best first: the server picks the first of these that the station offers.
SUBPROTOCOLS = {
    "ocpp2.1": ("2.1", StationHandler21),
    "ocpp2.0.1": ("2.0.1", StationHandler201),
    "ocpp1.6": ("1.6", StationHandler16),
}

# daphne (autobahn) can send only close codes 1000 and 3000-4999: closing with 1002 or 1011
# raises inside the application and leaves an open socket nobody serves. The 4xxx codes
# below mirror the RFC 6455 ones they stand for.
CLOSE_REPLACED = 4000  # another connection of the same station took over
CLOSE_NO_SUBPROTOCOL = 4002  # the station offered no OCPP version we speak (cf. 1002)
CLOSE_INTERNAL_ERROR = 4011  # the connection's handler failed (cf. 1011)
RECENT_FRAMES = 30
RECENT_FRAME_CHARS = 2000


def choose_subprotocol(offered: list[str]) -> str | None:
    offered_lower = {p.strip().lower() for p in offered}
    for name in SUBPROTOCOLS:
        if name in offered_lower:
            return name
    return None


class _Inbox:
    """The connection object the handler writes to. It remembers the last frames both ways,
    for operators looking at a station ("last messages"), with the time as a number until
    asked."""

    __slots__ = ("_send", "recent")

    def __init__(self, send):
        self._send = send  # the server's ASGI send
        self.recent: deque[tuple[float, str, str]] = deque(maxlen=RECENT_FRAMES)

    def put(self, frame: str) -> None:
        self.recent.append((time.time(), "in", frame[:RECENT_FRAME_CHARS]))

    async def send(self, frame: str) -> None:
        self.recent.append((time.time(), "out", frame[:RECENT_FRAME_CHARS]))
        await self._send({"type": "websocket.send", "text": frame})

    def recent_frames(self) -> list[tuple[str, str, str]]:
        return [(_iso(at), direction, frame) for at, direction, frame in self.recent]


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")


class OcppConsumer(AsyncWebsocketConsumer):
    handler = None
    station: StationSession | None = None
    _command_tasks: set[asyncio.Task] | None = None
    _events: asyncio.Task | None = None  # channel-layer events (commands, replaced, traffic)

    async def dispatch(self, message):
        """Channels closes stale database connections before every event, on the one
        shared sync thread: a thread hop per OCPP frame, queued behind every ORM call of
        the process. Every ORM call here goes through ``db()``, which does that itself
        on its own threads, so events are dispatched directly."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self):
        station_id = self.scope["url_route"]["kwargs"]["station_id"]
        subprotocol = choose_subprotocol(self.scope.get("subprotocols", []))
        if subprotocol is None:
            # OCPP-J: complete the handshake without Sec-WebSocket-Protocol, then close.
            logger.info("%s: no supported OCPP subprotocol in %s", station_id, self.scope.get("subprotocols"))
            await self.accept()
            await self.close(code=CLOSE_NO_SUBPROTOCOL)
            return

        try:
            async with admission().slot():
                accepted = await self._admit(station_id, subprotocol)
        except Busy as busy:
            # A handshake is denied with HTTP 403 (all daphne can send); the charger retries on its back-off.
            logger.warning("%s: connection refused: %s", station_id, busy)
            accepted = False
        if not accepted:
            await self.close()
            return
        version, handler_class = SUBPROTOCOLS[subprotocol]
        self.inbox = _Inbox(self.base_send)
        self.handler = handler_class(self.station, self.inbox)
        presence().add(self.station.station_pk)
        self._present = True
        logger.info("%s: connected with OCPP %s", self.station.station_id, version)

    async def _admit(self, station_id: str, subprotocol: str) -> bool:
        """Authenticate, take the station's group, mark it connected, accept. The
        handshake's only database work is batched with the other handshakes of the moment."""
        result = await handshake.authenticate_station(
            station_id=station_id, authorization=self._header(b"authorization"), transport=transport_of(self.scope)
        )
        if isinstance(result, handshake.ConnectionRefused):
            logger.warning("%s: connection refused: %s", station_id, result.reason)
            return False  # the server answers the handshake with 403
        version = SUBPROTOCOLS[subprotocol][0]
        background.bind_loop(asyncio.get_running_loop())
        connection_id = uuid.uuid4().hex
        self.station = StationSession(
            station_pk=result.pk,
            station_id=result.station_id,
            registration_status=result.registration_status,
            connection_id=connection_id,
        )
        self.group = station_group(result.station_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        previous = await mark_connected(station_pk=result.pk, connection_id=connection_id, ocpp_version=version)
        if previous:
            # An older connection of this station (a reboot it did not close, another
            # process) steps aside. After a clean restart nobody holds the station, and the
            # storm of handshakes spares this round trip to Redis.
            await self.channel_layer.group_send(
                self.group, {"type": "station.replaced", "connection_id": connection_id}
            )
        await self.accept(subprotocol=subprotocol)
        return True

    async def _frames(self, receive) -> None:
        """The station's frames, each handled before the next is read (so per-station order
        holds and a busy station waits, not the others); every other ASGI event (connect,
        disconnect) goes through ``dispatch``."""
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                await self.dispatch(message)
                continue
            if self.handler is None:
                continue
            text = message.get("text")
            if text is None:
                # OCPP-J is text only; a binary frame cannot be a valid message.
                text = "<binary frame>"
            self.inbox.put(text)
            try:
                await self.handler.route_message(text)
            except Exception:
                logger.exception("%s: handler loop failed; closing", self.station.station_id)
                await self.close(code=CLOSE_INTERNAL_ERROR)
                return

    async def _channel_events(self) -> None:
        """Events other processes send this connection (a command, "replaced", "traffic"),
        handled as they come, beside the station's frames."""
        while True:
            message = await self.channel_layer.receive(self.channel_name)
            try:
                await self.dispatch(message)
            except StopConsumer:
                return
            except Exception:
                logger.exception("channel-layer event %s failed", message.get("type"))

    async def disconnect(self, code):
        await self._leave()
        logger.info("%s: disconnected (%s)", self.station.station_id if self.station else "?", code)

    async def __call__(self, scope, receive, send):
        """Channels' consumer loop without its per-event ``asyncio.wait`` over two fresh
        tasks and without a task per burst of frames: frames are read and handled by this
        coroutine itself, channel-layer events by one task beside it. At saturation (400
        stations, 100 back to back, two workers) that answered 11,300-12,000 frames a second
        instead of 8,300-9,600 (benchmarks/fleet.py)."""
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        self.base_send = send
        self._events = asyncio.create_task(self._channel_events())
        try:
            await self._frames(receive)
        except StopConsumer:
            pass
        finally:
            self._events.cancel()
            # The server kills consumers that outlive a dropped handshake or a shutdown; they
            # never see websocket.disconnect, so leave here too (no-op after disconnect).
            if self.station is not None and getattr(self, "_present", False):
                asyncio.get_running_loop().create_task(self._leave())

    async def _leave(self):
        for task in list(self._command_tasks or ()):
            task.cancel()
        if self.station is None or not getattr(self, "_present", False):
            return
        self._present = False
        presence().remove(self.station.station_pk)
        await self.channel_layer.group_discard(self.group, self.channel_name)
        await mark_disconnected(station_pk=self.station.station_pk, connection_id=self.station.connection_id)

    # --- channel-layer events -------------------------------------------------------

    async def station_replaced(self, event):
        if self.station is not None and event["connection_id"] != self.station.connection_id:
            logger.info("%s: replaced by a newer connection", self.station.station_id)
            await self.close(code=CLOSE_REPLACED)

    async def station_command(self, event):
        """A command from any process. Acknowledge at once, answer from a separate task:
        consumer events run one after another, so awaiting the station here would block."""
        await self.channel_layer.send(
            event["reply_channel"], {"type": "command.ack", "command_id": event["command_id"]}
        )
        task = asyncio.create_task(self._run_command(event))
        if self._command_tasks is None:
            self._command_tasks = set()
        self._command_tasks.add(task)
        task.add_done_callback(self._command_tasks.discard)

    async def station_traffic(self, event):
        """Another process asks for this connection's last frames."""
        frames = self.inbox.recent_frames() if self.handler is not None else []
        await self.channel_layer.send(event["reply_channel"], {"type": "traffic.result", "frames": frames})

    async def _run_command(self, event):
        reply = {"type": "command.result", "command_id": event["command_id"]}
        try:
            answer = await asyncio.wait_for(self.handler.call_raw(event["action"], event["payload"]), event["timeout"])
        except TimeoutError:
            reply.update(outcome="timeout", error=f"no answer within {event['timeout']:g} s")
        except asyncio.CancelledError:
            reply.update(outcome="error", error="the station disconnected before answering")
            await self.channel_layer.send(event["reply_channel"], reply)
            raise
        except Exception as error:  # the connection went away mid-call
            logger.exception("%s: command %s failed", self.station.station_id, event["action"])
            reply.update(outcome="error", error=f"{type(error).__name__}: {error}"[:500])
        else:
            if isinstance(answer, CallError):
                reply.update(
                    outcome="error",
                    response={
                        "errorCode": answer.error_code,
                        "errorDescription": answer.error_description,
                        "errorDetails": answer.error_details,
                    },
                    error=f"{answer.error_code}: {answer.error_description}"[:500],
                )
            else:
                reply.update(outcome="accepted", response=answer.payload)
        await self.channel_layer.send(event["reply_channel"], reply)

    def _header(self, name: bytes) -> str | None:
        for key, value in self.scope.get("headers", []):
            if key.lower() == name:
                return value.decode("latin-1")
        return None
