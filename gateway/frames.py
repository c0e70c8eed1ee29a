"""What both OCPP versions share on top of the ``ocpp`` package.

The package routes a CALL to the ``@on`` handler and validates it against the schema,
but only logs a frame it cannot parse. OCPP-J wants a CALLERROR for that and the
connection kept, so frames are checked here first. Error codes are also translated to
the version's own vocabulary (1.6 says FormationViolation where 2.0.1 says FormatViolation).
"""

import asyncio
import inspect
import logging
import re
import uuid
from dataclasses import fields, is_dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property, lru_cache

import orjson
from django.conf import settings
from ocpp.charge_point import LOGGER as OCPP_LOGGER
from ocpp.charge_point import _raise_key_error, camel_to_snake_case, snake_to_camel_case
from ocpp.exceptions import FormatViolationError, OCPPError, SecurityError
from ocpp.messages import Call, CallError, CallResult, MessageType
from ocpp.routing import routables

from gateway.dbpool import db  # noqa: F401  (handlers import it from here)
from gateway.formats import first_invalid_date_time
from stations.models import RegistrationStatus
from stations.timestamps import parse_timestamp  # noqa: F401  (handlers import it from here)
from gateway import validation

logger = logging.getLogger(__name__)

# Containers (arrays, objects) a frame may nest, counting the frame's own array. The deepest
# OCPP 1.6 / 2.0.1 message nests about 8; the rest is left for free-form DataTransfer data.
# Deeper frames get a CALLERROR: code downstream (the package's case conversion, jsonschema)
# recurses through payloads.
MAX_NESTING_DEPTH = 64

# Actions a station may send before it is Accepted (while Pending).
ALLOWED_BEFORE_ACCEPTED = {"BootNotification", "Heartbeat"}
# A Rejected station must stay silent until it boots again (1.6 §4.2, 2.0.1 B03).
ALLOWED_WHILE_REJECTED = {"BootNotification"}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class StationSession:
    """What a handler knows of the station on the other end of its connection."""

    __slots__ = ("station_pk", "station_id", "registration_status", "connection_id")

    def __init__(self, *, station_pk: int, station_id: str, registration_status: str, connection_id: str):
        self.station_pk = station_pk
        self.station_id = station_id
        self.registration_status = registration_status
        self.connection_id = connection_id


class FrameRouter:
    """Mixin for ``ocpp`` ChargePoint subclasses: frame checks and version error codes."""

    #: error code the package uses -> the code this OCPP version defines
    error_code_map: dict[str, str] = {}
    #: code for a frame that is not a valid OCPP-J message at all
    frame_error_code: str = "FormatViolation"
    #: code for an unknown message type id
    message_type_error_code: str = "FormatViolation"

    station: StationSession
    current_payload: dict | None = None
    logger = OCPP_LOGGER
    _unique_id_generator = staticmethod(uuid.uuid4)

    def __init__(self, id, connection, response_timeout=30, logger=None):
        # The package's ChargePoint.__init__ is not called: it builds a route map of bound
        # methods, a lock and a queue for every connection. The routes are the class's
        # (``routes()``); the lock and queue are made when a first CALL goes out.
        self.id = id
        self._connection = connection
        self._response_timeout = response_timeout
        if logger is not None:
            self.logger = logger

    @cached_property
    def _call_lock(self) -> asyncio.Lock:
        return asyncio.Lock()

    @cached_property
    def _response_queue(self) -> asyncio.Queue:
        return asyncio.Queue()

    @classmethod
    def routes(cls) -> dict[str, "Route"]:
        """The class's ``@on`` / ``@after`` handlers by action, found as the package finds
        them (the names its decorators registered), once per class."""
        table = cls.__dict__.get("_route_table")
        if table is None:
            table = {}
            for name in routables:
                attr = getattr(cls, name, None)
                for option in ("_on_action", "_after_action"):
                    action = getattr(attr, option, None)
                    if action is None:
                        continue
                    route = table.setdefault(str(getattr(action, "value", action)), Route())
                    wants_id = "call_unique_id" in inspect.signature(attr).parameters
                    if option == "_on_action":
                        route.on, route.on_wants_id = name, wants_id
                        # Payloads are checked with compiled schemas (gateway.validation).
                        route.checked = not getattr(attr, "_skip_schema_validation", False)
                    else:
                        route.after, route.after_wants_id = name, wants_id
            cls._route_table = table
        return table

    @property
    def route_map(self) -> dict[str, dict]:
        """The package's view of the routes (action -> which hooks exist), for code that asks."""
        table = type(self).__dict__.get("_route_map")
        if table is None:
            table = {}
            for action, route in self.routes().items():
                hooks = {"_skip_schema_validation": True}
                if route.on is not None:
                    hooks["_on_action"] = getattr(type(self), route.on)
                if route.after is not None:
                    hooks["_after_action"] = getattr(type(self), route.after)
                table[action] = hooks
            type(self)._route_map = table
        return table

    async def start(self):
        """The package's loop, for a connection object with ``recv()`` (the consumer does
        not use it: it hands frames to ``route_message`` as they come)."""
        while True:
            await self.route_message(await self._connection.recv())

    async def route_message(self, raw_msg):
        """Route one inbound frame. Nothing a station sends may end the connection's loop:
        what is not an OCPP-J message gets the version's CALLERROR, and an unexpected
        failure while routing a CALL answers InternalError."""
        if self.logger.isEnabledFor(logging.INFO):  # OCPP_LOG_LEVEL=INFO logs every frame
            self.logger.info("%s: receive message %s", self.id, raw_msg)
        frame = await self._parse_frame(raw_msg)
        if frame is None:
            return
        try:
            await self._route_frame(frame, raw_msg)
        except Exception:
            logger.exception("%s: routing a frame failed", self.station.station_id)
            if frame[0] == MessageType.Call:
                await self._send_frame_error(
                    _unique_id_of(frame), "InternalError", "The CSMS failed to process this message"
                )

    async def _parse_frame(self, raw_msg: str) -> list | None:
        """The frame as a list, or None after answering why it is no OCPP-J frame."""
        limit = settings.OCPP_MAX_FRAME_BYTES
        # A str of n characters is n to 4n bytes in UTF-8: encode only when it may matter.
        if len(raw_msg) > limit // 4 and len(raw_msg.encode("utf-8", "surrogatepass")) > limit:
            await self._send_frame_error(_sniff_unique_id(raw_msg), self.frame_error_code,
                                         f"Frame exceeds {limit} bytes")
            return None
        try:
            frame = orjson.loads(raw_msg)
        except orjson.JSONDecodeError as error:
            # orjson refuses nesting beyond 1024 levels as invalid JSON, without recursion.
            deep = "depth limit" in str(error)
            await self._send_frame_error(
                _sniff_unique_id(raw_msg) if deep else "-1", self.frame_error_code,
                f"Frame nests deeper than {MAX_NESTING_DEPTH} levels" if deep else "Message is not valid JSON",
            )
            return None
        if not isinstance(frame, list) or not frame:
            await self._send_frame_error("-1", self.frame_error_code, "Message is not a JSON array")
            return None
        if _nests_deeper_than(raw_msg, frame, MAX_NESTING_DEPTH):
            await self._send_frame_error(_unique_id_of(frame), self.frame_error_code,
                                         f"Frame nests deeper than {MAX_NESTING_DEPTH} levels")
            return None
        return frame

    async def _route_frame(self, frame: list, raw_msg: str) -> None:
        unique_id = _unique_id_of(frame)
        message_type = frame[0]
        if message_type == MessageType.Call:
            if len(frame) != 4 or not _has_unique_id(frame) or not isinstance(frame[2], str) or not isinstance(
                    frame[3], dict):
                await self._send_frame_error(
                    unique_id, self.frame_error_code, "A CALL is [2, uniqueId, action, {payload}]"
                )
                return
            if _NUL in raw_msg and _holds_nul([frame[2], frame[3]]):
                await self._send(dumps([MessageType.CallError, unique_id, "PropertyConstraintViolation",
                                        "NUL characters are not allowed in OCPP strings", {}]))
                return
            await self._route_call(Call(unique_id, frame[2], frame[3]))
        elif message_type == MessageType.CallResult:
            if len(frame) != 3 or not isinstance(frame[2], dict):
                logger.warning("%s: malformed CALLRESULT ignored: %.200s", self.station.station_id, raw_msg)
                return
            payload = _without_nul(frame[2]) if _NUL in raw_msg else frame[2]
            self._deliver_response(CallResult(unique_id, payload))
        elif message_type == MessageType.CallError:
            if len(frame) < 4:
                logger.warning("%s: malformed CALLERROR ignored: %.200s", self.station.station_id, raw_msg)
                return
            if _NUL in raw_msg:
                frame = _without_nul(frame)
            details = frame[4] if len(frame) > 4 and isinstance(frame[4], dict) else {}
            self._deliver_response(CallError(unique_id, str(frame[2]), str(frame[3]), details))
        elif not await self._route_other(message_type, frame, raw_msg):
            await self._send_frame_error(
                unique_id, self.message_type_error_code, f"Unknown message type id {message_type!r}"
            )

    async def _route_other(self, message_type, frame: list, raw_msg: str) -> bool:
        """A message type beyond CALL, CALLRESULT and CALLERROR: True if this version
        knows it (and handled it), False to refuse it."""
        return False

    def _deliver_response(self, response: CallResult | CallError) -> None:
        """OCPP-J: an answer whose id matches no pending CALL is ignored. Only the answer to
        the one CALL in flight is queued, so the queue never grows with strangers' answers."""
        if response.unique_id == getattr(self, "_pending_call_id", None):
            self._response_queue.put_nowait(response)
            return
        if not getattr(self, "_warned_unknown_answer", False):
            self._warned_unknown_answer = True
            logger.warning("%s: ignoring answers to unknown message ids (first: %.100s; logged once "
                           "per connection)", self.station.station_id, response.unique_id)

    async def _route_call(self, msg: Call) -> None:
        status = self.station.registration_status
        allowed = ALLOWED_WHILE_REJECTED if status == RegistrationStatus.REJECTED else ALLOWED_BEFORE_ACCEPTED
        if status != RegistrationStatus.ACCEPTED and msg.action not in allowed:
            await self._send_error(msg, SecurityError(
                description=f"Station is {self.station.registration_status}; send BootNotification first"
            ))
            return
        route = self.routes().get(msg.action)
        if route is not None:
            invalid = first_invalid_date_time(self._ocpp_version, msg.action, msg.payload)
            if invalid is not None:
                where, value = invalid
                await self._send_error(msg, FormatViolationError(
                    description=f"{where}: {str(value)[:60]!r} is not a 'date-time' (RFC 3339)"))
                return
        self.current_payload = msg.payload
        try:
            if route is not None and route.checked:
                validation.check(msg.action, self._ocpp_version, msg.payload)
            await self._handle_call(msg)
        except OCPPError as error:
            await self._send_error(msg, error)
        finally:
            self.current_payload = None

    async def _handle_call(self, msg: Call):
        """Run the action's ``@on`` handler and answer with what it returns, then start its
        ``@after`` hook: what the package's ``_handle_call`` does, without its per-call work
        (regex case conversion of every key, ``inspect.signature``, ``dataclasses.asdict``
        with deep copies, ``json.dumps``). Keys are converted by the package's own rules,
        memoised per key; answers are checked against the response schema."""
        route = self.routes().get(msg.action)
        if route is None or route.on is None:
            _raise_key_error(msg.action, self._ocpp_version)
            return None
        kwargs = to_snake(msg.payload)
        try:
            if route.on_wants_id:
                response = getattr(self, route.on)(**kwargs, call_unique_id=msg.unique_id)
            else:
                response = getattr(self, route.on)(**kwargs)
            if inspect.isawaitable(response):
                response = await response
        except Exception as error:
            self.logger.exception("Error while handling request '%s'", msg)
            error = error if isinstance(error, OCPPError) else None
            code = self.error_code_map.get(error.code, error.code) if error else "InternalError"
            await self._connection.send(dumps([
                MessageType.CallError, msg.unique_id, code,
                error.description if error else "An unexpected error occurred.", error.details if error else {},
            ]))
            return None
        payload = answer_payload(response)
        if route.checked:
            validation.check(msg.action, self._ocpp_version, payload, response=True)
        await self._connection.send(dumps([MessageType.CallResult, msg.unique_id, payload]))
        if route.after is not None:
            if route.after_wants_id:
                hook = getattr(self, route.after)(**kwargs, call_unique_id=msg.unique_id)
            else:
                hook = getattr(self, route.after)(**kwargs)
            if inspect.isawaitable(hook):
                asyncio.ensure_future(hook)
        return None

    async def call_raw(self, action: str, payload: dict) -> CallResult | CallError:
        """Send a CALL with a camelCase payload as given and return the station's answer.

        Unlike ``call()`` this keeps free-form payloads raw. The caller validated the
        request; the lock keeps one CALL in flight per station, as OCPP-J requires.
        Wrap in ``asyncio.wait_for``: the package's timeout only starts once the lock is held.
        """
        call = Call(unique_id=str(uuid.uuid4()), action=action, payload=payload)
        async with self._call_lock:
            await self._send(dumps([MessageType.Call, call.unique_id, action, payload]))
            return await self._get_specific_response(call.unique_id, self._response_timeout)

    async def _get_specific_response(self, unique_id, timeout):
        """The answer to the CALL in flight (the package's version recurses once per stray
        answer). Only that answer is queued (``_deliver_response``); a duplicate of an
        earlier answer is skipped here."""
        self._pending_call_id = unique_id
        try:
            async with asyncio.timeout(timeout):
                while True:
                    response = await self._response_queue.get()
                    if response.unique_id == unique_id:
                        return response
        finally:
            self._pending_call_id = None

    async def _send(self, message: str) -> None:
        if message.startswith("[2"):
            # Outbound CALL (also the package's ``call()``): its answer is awaited from now on,
            # before the station can possibly answer.
            self._pending_call_id = orjson.loads(message)[1]
        elif message.startswith("[4") and self.error_code_map:
            # The package builds CALLERRORs for handler failures itself: speak this version's codes.
            frame = orjson.loads(message)
            if frame[2] in self.error_code_map:
                frame[2] = self.error_code_map[frame[2]]
                message = dumps(frame)
        await self._connection.send(message)

    async def _send_error(self, msg: Call, error: OCPPError) -> None:
        code = self.error_code_map.get(error.code, error.code)
        cause = error.details.get("cause") if isinstance(error.details, dict) else None
        details = {"cause": str(cause)[:500]} if cause else {}
        await self._send(dumps([MessageType.CallError, msg.unique_id, code, error.description[:255], details]))

    async def _send_frame_error(self, unique_id: str, code: str, description: str) -> None:
        logger.info("%s: refused frame: %s", self.station.station_id, description)
        code = self.error_code_map.get(code, code)
        await self._send(dumps([MessageType.CallError, unique_id, code, description, {}]))


class Route:
    """One action's hooks on a handler class: method names, and whether each takes
    ``call_unique_id``."""

    __slots__ = ("on", "on_wants_id", "checked", "after", "after_wants_id")

    def __init__(self):
        self.on = self.after = None
        self.on_wants_id = self.after_wants_id = False
        self.checked = False


@lru_cache(maxsize=4096)
def snake_key(key: str) -> str:
    """``chargePointVendor`` -> ``charge_point_vendor``, by the package's rules."""
    return next(iter(camel_to_snake_case({key: None})))


@lru_cache(maxsize=4096)
def camel_key(key: str) -> str:
    """``charge_point_vendor`` -> ``chargePointVendor``, by the package's rules."""
    return next(iter(snake_to_camel_case({key: None})))


def to_snake(value):
    """A payload with every key in snake_case (the handlers' keyword arguments)."""
    if type(value) is dict:
        return {snake_key(k): to_snake(v) if type(v) in _CONTAINERS else v for k, v in value.items()}
    if type(value) is list:
        return [to_snake(v) if type(v) in _CONTAINERS else v for v in value]
    return value


_CONTAINERS = (dict, list)


@lru_cache(maxsize=None)
def _field_keys(cls) -> tuple[tuple[str, str], ...]:
    return tuple((f.name, camel_key(f.name)) for f in fields(cls))


def answer_payload(value):
    """A handler's answer (a ``call_result`` dataclass) as the camelCase payload the package
    would send: None fields and items left out, nested dataclasses and dicts converted."""
    if isinstance(value, dict):
        return {camel_key(k): answer_payload(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [answer_payload(v) for v in value if v is not None]
    if is_dataclass(value) and not isinstance(value, type):
        answer = {}
        for name, key in _field_keys(type(value)):
            item = getattr(value, name)
            if item is not None:
                answer[key] = answer_payload(item)
        return answer
    return value


def _json_default(value):
    # as the package's encoder: Decimals as floats with one decimal
    if isinstance(value, Decimal):
        return float("%.1f" % value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps(value) -> str:
    """JSON text of a frame we build ourselves (orjson: compact, UTF-8, no NaN)."""
    return orjson.dumps(value, default=_json_default).decode()


_UNIQUE_ID = re.compile(r'\s*\[\s*2\s*,\s*"([^"\\]{1,36})"')


# A NUL can only reach a parsed frame escaped (raw control characters are invalid JSON), so
# this substring test (C speed) rules it out for almost every frame. PostgreSQL refuses NUL in
# text and jsonb: a CALL holding one is refused (stripping it could turn one id token into
# another); an answer to our CALL keeps its meaning with the NULs dropped.
_NUL = "\\u0000"


def _holds_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def _without_nul(value):
    """``value`` with NUL characters removed from every string (depth is bounded by the
    nesting limit, so recursion is safe)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def _has_unique_id(frame: list) -> bool:
    """Whether the frame names its message id: a non-empty string ("-1" too: a station may
    choose it, though ChargeNet answers "-1" for a frame without one)."""
    return len(frame) > 1 and isinstance(frame[1], str) and frame[1] != ""


def _unique_id_of(frame: list) -> str:
    return frame[1] if _has_unique_id(frame) else "-1"


def _sniff_unique_id(raw_msg: str) -> str:
    """The message id of a CALL too large or deep to parse, read from its first bytes, so
    the station can match the CALLERROR to its request; "-1" if there is none."""
    match = _UNIQUE_ID.match(raw_msg[:64])
    return match.group(1) if match else "-1"


def _nests_deeper_than(raw_msg: str, frame: list, limit: int) -> bool:
    """Whether a parsed frame nests containers deeper than ``limit``. Counting brackets
    (C speed) rules out almost every frame; only frames with more brackets than the limit
    are walked, iteratively (recursive code downstream must never see such a frame)."""
    if raw_msg.count("[") + raw_msg.count("{") <= limit:
        return False
    stack = [(frame, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children if isinstance(child, (list, dict)))
    return False
