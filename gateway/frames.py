"""What both OCPP versions share on top of the ``ocpp`` package.

The package routes a CALL to the ``@on`` handler and validates it against the schema,
but only logs a frame it cannot parse. OCPP-J wants a CALLERROR for that and the
connection kept, so frames are checked here first. Error codes are also translated to
the version's own vocabulary (1.6 says FormationViolation where 2.0.1 says FormatViolation).
"""

import json
import logging
import uuid
from datetime import UTC, datetime

from ocpp.exceptions import FormatViolationError, GenericError, OCPPError, SecurityError
from ocpp.messages import Call, CallError, CallResult, MessageType, get_validator

from stations.models import RegistrationStatus
from stations.timestamps import parse_timestamp  # noqa: F401  (handlers import it from here)
from gateway.dbpool import db  # noqa: F401  (handlers import it from here)

logger = logging.getLogger(__name__)

# jsonschema keyword -> OCPP error code (mapped to the version's spelling on sending)
_SCHEMA_FAILURE_CODES = {
    "enum": "PropertyConstraintViolation",
    "minItems": "OccurrenceConstraintViolation",
    "maxItems": "OccurrenceConstraintViolation",
    "minimum": "PropertyConstraintViolation",
    "maximum": "PropertyConstraintViolation",
}

# Actions a station may send before it is Accepted (while Pending).
ALLOWED_BEFORE_ACCEPTED = {"BootNotification", "Heartbeat"}
# A Rejected station must stay silent until it boots again (1.6 §4.2, 2.0.1 B03).
ALLOWED_WHILE_REJECTED = {"BootNotification"}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class StationSession:
    """What a handler knows of the station on the other end of its connection."""

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

    async def route_message(self, raw_msg):
        try:
            frame = json.loads(raw_msg)
        except (TypeError, ValueError):
            await self._send_frame_error("-1", self.frame_error_code, "Message is not valid JSON")
            return
        if not isinstance(frame, list) or not frame:
            await self._send_frame_error("-1", self.frame_error_code, "Message is not a JSON array")
            return
        unique_id = frame[1] if len(frame) > 1 and isinstance(frame[1], str) and frame[1] else "-1"
        message_type = frame[0]
        if message_type == MessageType.Call:
            if len(frame) != 4 or not isinstance(frame[2], str) or not isinstance(frame[3], dict) or unique_id == "-1":
                await self._send_frame_error(
                    unique_id, self.frame_error_code, "A CALL is [2, uniqueId, action, {payload}]"
                )
                return
            await self._route_call(Call(unique_id, frame[2], frame[3]))
        elif message_type == MessageType.CallResult:
            if len(frame) != 3 or not isinstance(frame[2], dict):
                logger.warning("%s: malformed CALLRESULT ignored: %.200s", self.station.station_id, raw_msg)
                return
            self._response_queue.put_nowait(CallResult(unique_id, frame[2]))
        elif message_type == MessageType.CallError:
            if len(frame) < 4:
                logger.warning("%s: malformed CALLERROR ignored: %.200s", self.station.station_id, raw_msg)
                return
            details = frame[4] if len(frame) > 4 and isinstance(frame[4], dict) else {}
            self._response_queue.put_nowait(CallError(unique_id, str(frame[2]), str(frame[3]), details))
        else:
            await self._send_frame_error(
                unique_id, self.message_type_error_code, f"Unknown message type id {message_type!r}"
            )

    async def _route_call(self, msg: Call) -> None:
        status = self.station.registration_status
        allowed = ALLOWED_WHILE_REJECTED if status == RegistrationStatus.REJECTED else ALLOWED_BEFORE_ACCEPTED
        if status != RegistrationStatus.ACCEPTED and msg.action not in allowed:
            await self._send_error(msg, SecurityError(
                description=f"Station is {self.station.registration_status}; send BootNotification first"
            ))
            return
        self.current_payload = msg.payload
        try:
            await self._handle_call(msg)
        except FormatViolationError as error:
            await self._send_error(msg, self._refine_schema_error(msg, error))
        except OCPPError as error:
            await self._send_error(msg, error)
        finally:
            self.current_payload = None

    def _refine_schema_error(self, msg: Call, error: OCPPError) -> OCPPError:
        """The package reports most schema failures as FormatViolation; the specs name
        finer codes for some (an enum value it does not know, too few or too many items)."""
        try:
            validator = get_validator(MessageType.Call, msg.action, self._ocpp_version)
            failure = next(iter(validator.iter_errors(msg.payload)), None)
        except Exception:
            return error
        if failure is None:
            return error
        code = _SCHEMA_FAILURE_CODES.get(failure.validator)
        if code is None:
            return error
        where = "/".join(str(p) for p in failure.absolute_path) or "payload"
        refined = GenericError(description=f"{where}: {failure.message}"[:255], details={"cause": failure.message})
        refined.code = code
        return refined

    async def call_raw(self, action: str, payload: dict) -> CallResult | CallError:
        """Send a CALL with a camelCase payload as given and return the station's answer.

        Unlike ``call()`` this keeps free-form payloads raw. The caller validated the
        request; the lock keeps one CALL in flight per station, as OCPP-J requires.
        Wrap in ``asyncio.wait_for``: the package's timeout only starts once the lock is held.
        """
        call = Call(unique_id=str(uuid.uuid4()), action=action, payload=payload)
        async with self._call_lock:
            await self._send(call.to_json())
            return await self._get_specific_response(call.unique_id, self._response_timeout)

    async def _send(self, message: str) -> None:
        # The package builds CALLERRORs for handler failures itself: speak this version's codes.
        if message.startswith("[4") and self.error_code_map:
            frame = json.loads(message)
            if frame[2] in self.error_code_map:
                frame[2] = self.error_code_map[frame[2]]
                message = json.dumps(frame)
        await self._connection.send(message)

    async def _send_error(self, msg: Call, error: OCPPError) -> None:
        code = self.error_code_map.get(error.code, error.code)
        cause = error.details.get("cause") if isinstance(error.details, dict) else None
        details = {"cause": str(cause)[:500]} if cause else {}
        await self._send(json.dumps([MessageType.CallError, msg.unique_id, code, error.description[:255], details]))

    async def _send_frame_error(self, unique_id: str, code: str, description: str) -> None:
        logger.info("%s: refused frame: %s", self.station.station_id, description)
        await self._send(json.dumps([MessageType.CallError, unique_id, code, description, {}]))
