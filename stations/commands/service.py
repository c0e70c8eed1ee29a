"""Send a command to a station from any process and get its answer.

The caller (API view, admin action, management command, Celery task) may run in any
process; the station's WebSocket lives in one daphne process. The command travels over
the channel layer to the station's group; the consumer holding the connection
acknowledges at once, sends the OCPP CALL and posts the answer back to the caller's
reply channel. No acknowledgement means no live connection, whatever the database says
(a crashed process leaves stale presence behind), so that is "offline", not "timeout".
"""

import asyncio
import random
import time
from dataclasses import dataclass

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, _validate_payload

from stations.commands.catalog import (
    COMMANDS,
    PNC_VENDOR_ID,
    V16,
    CommandError,
    unwrap_pnc_answer,
    validate_params,
)
from stations.groups import station_group
from stations.models import (
    ChargingStation,
    CommandLog,
    CommandOutcome,
    DeviceModelVariable,
    IdToken,
    IdTokenType,
    IdTokenStatus,
    Reservation,
    ReservationStatus,
)
from stations.services.reports import upsert_variable
from stations.signals import command_answered

ACK_TIMEOUT_S = 3.0
ACCEPTING_STATUSES = {"Accepted", "Unlocked", "Scheduled", "RebootRequired", "AcceptedCanceled"}
LOCAL_LIST_MAX_ENTRIES = 1000


class StationNotFound(LookupError):
    pass


@dataclass(frozen=True)
class CommandResult:
    log_id: int
    command: str
    outcome: str
    status: str | None = None
    response: dict | None = None
    error: str = ""
    latency_ms: int | None = None

    def as_dict(self) -> dict:
        return {
            "id": self.log_id,
            "command": self.command,
            "outcome": self.outcome,
            "status": self.status,
            "response": self.response,
            "error": self.error,
            "latency_ms": self.latency_ms,
        }


@dataclass(frozen=True)
class _Prepared:
    log: CommandLog
    station: ChargingStation
    action: str
    payload: dict


def _validate_ocpp(action: str, payload: dict, version: str) -> None:
    try:
        _validate_payload(Call("check", action, payload), version)
    except OCPPError as error:
        cause = error.details.get("cause", "") if isinstance(error.details, dict) else ""
        if error.code == "NotImplemented":
            raise CommandError(f"OCPP {version} has no action {action!r}") from None
        raise CommandError(
            f"payload does not match the OCPP {version} schema for {action}: {cause or error.description}"
        ) from None


def _complete_params(command: str, params: dict, station: ChargingStation) -> dict:
    """Fill in what ChargeNet assigns itself: ids, the local list from the token database."""
    if command == "start_session":
        params.setdefault("remote_start_id", random.randint(1, 2**31 - 1))
        if "id_token_type" not in params:
            # The station checks the token like one presented locally: name its real type.
            registered = IdToken.objects.filter(value=params["id_token"]).values_list("type", flat=True).first()
            params["id_token_type"] = registered or IdTokenType.CENTRAL
    if command in ("get_base_report", "signed_update_firmware") and "request_id" not in params:
        params["request_id"] = random.randint(1, 2**31 - 1)
    if command == "reserve_now":
        if params["expires_at"] <= timezone.now():
            raise CommandError("expires_at must be in the future")
        reservation = Reservation.objects.create(
            station=station,
            evse_id=params["evse_id"],
            id_token_value=params["id_token"],
            expires_at=params["expires_at"],
        )
        params.setdefault("reservation_id", reservation.pk)
        if params["reservation_id"] != reservation.pk:
            raise CommandError("reservation_id is assigned by ChargeNet; omit it")
    if command == "send_local_list":
        tokens = IdToken.objects.order_by("value")[: LOCAL_LIST_MAX_ENTRIES + 1]
        entries = [
            {
                "value": t.value,
                "type": t.type,
                "status": t.status if not (t.expires_at and t.expires_at <= timezone.now()) else IdTokenStatus.EXPIRED,
                "expiry": t.expires_at.isoformat() if t.expires_at else None,
            }
            for t in tokens
        ]
        if len(entries) > LOCAL_LIST_MAX_ENTRIES:
            raise CommandError(f"the local list holds at most {LOCAL_LIST_MAX_ENTRIES} tokens")
        params["entries"] = entries
        params["version"] = station.local_list_version + 1
    return params


@transaction.atomic
def _prepare(*, station_id: str, command: str, params: dict, requested_by, source: str) -> _Prepared:
    station = ChargingStation.objects.filter(station_id=station_id).first()
    if station is None:
        raise StationNotFound(station_id)
    version = station.ocpp_version or V16
    params = _complete_params(command, dict(params), station)
    spec = COMMANDS[command]
    if spec.prepare is not None:
        params = spec.prepare(params, station)
    action, payload = spec.build(params, version)
    _validate_ocpp(action, payload, version)
    logged_params = {k: v for k, v in params.items() if k != "entries"}
    log = CommandLog.objects.create(
        station=station,
        command=command,
        params=_jsonable(logged_params),
        ocpp_action=action,
        ocpp_request=payload,
        requested_by=requested_by if getattr(requested_by, "is_authenticated", False) else None,
        source=source,
    )
    return _Prepared(log=log, station=station, action=action, payload=payload)


def _jsonable(params: dict) -> dict:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in params.items()}


@transaction.atomic
def _finish(
    prepared: _Prepared, *, outcome: str, response: dict | None = None, error: str = "", latency_ms: int | None = None
) -> CommandResult:
    log = prepared.log
    status = None
    if outcome == CommandOutcome.ACCEPTED and response is not None:
        answer = response
        if prepared.action == "DataTransfer" and prepared.payload.get("vendorId") == PNC_VENDOR_ID:
            answer = unwrap_pnc_answer(response)  # 1.6 Plug & Charge: the 2.0.1 answer inside
        status = answer.get("status")
        if isinstance(status, str) and status not in ACCEPTING_STATUSES:
            outcome = CommandOutcome.REJECTED
        _apply_answer(prepared, outcome=outcome, response=answer)
    log.outcome = outcome
    log.status = status if isinstance(status, str) else ""
    log.ocpp_response = response
    log.error = error[:500]
    log.answered_at = timezone.now()
    log.latency_ms = latency_ms
    log.save(update_fields=["outcome", "status", "ocpp_response", "error", "answered_at", "latency_ms"])
    spec = COMMANDS.get(log.command)
    if spec is not None and spec.on_answer is not None:
        spec.on_answer(params=log.params, station=prepared.station, outcome=outcome, response=response, log=log)
    if outcome != CommandOutcome.ACCEPTED and log.command == "reserve_now":
        Reservation.objects.filter(pk=log.params.get("reservation_id")).update(status=ReservationStatus.REJECTED)
    return CommandResult(
        log_id=log.pk,
        command=log.command,
        outcome=outcome,
        status=log.status or None,
        response=response,
        error=log.error,
        latency_ms=latency_ms,
    )


def _apply_answer(prepared: _Prepared, *, outcome: str, response: dict) -> None:
    """What the station's answer changes in our records."""
    command, station, params = prepared.log.command, prepared.station, prepared.log.params
    accepted = outcome == CommandOutcome.ACCEPTED
    if command == "reserve_now":
        Reservation.objects.filter(pk=params["reservation_id"]).update(
            status=ReservationStatus.ACCEPTED if accepted else ReservationStatus.REJECTED
        )
    elif command == "cancel_reservation" and accepted:
        Reservation.objects.filter(station=station, pk=params["reservation_id"]).update(
            status=ReservationStatus.CANCELLED
        )
    elif command == "send_local_list" and accepted:
        ChargingStation.objects.filter(pk=station.pk).update(local_list_version=params["version"])
    elif command == "get_local_list_version":
        version = response.get("listVersion", response.get("versionNumber"))
        if isinstance(version, int):
            ChargingStation.objects.filter(pk=station.pk).update(local_list_version=version)
    elif prepared.action == "GetConfiguration":
        _store_16_configuration(station, response.get("configurationKey", []))
    elif prepared.action == "ChangeConfiguration" and accepted:
        _store_16_configuration(station, [{"key": params["key"], "value": params["value"]}], partial=True)
    elif prepared.action == "GetVariables":
        _store_201_variables(station, response.get("getVariableResult", []))
    # Other apps keep their records of the station in step (pki: installed certificates).
    command_answered.send(sender=CommandLog, station=station, command=command, params=params,
                          response=response, accepted=accepted)


def _store_16_configuration(station: ChargingStation, keys: list[dict], partial: bool = False) -> None:
    """A 1.6 configuration kept like a device model: component "OCPP16", one variable per key."""
    now = timezone.now()
    for item in keys:
        defaults = {"value": str(item.get("value", ""))[:2500], "reported_at": now}
        if not partial:
            defaults["mutability"] = "ReadOnly" if item.get("readonly") else "ReadWrite"
        DeviceModelVariable.objects.update_or_create(
            station=station,
            component="OCPP16",
            component_instance="",
            evse_id=0,
            connector_id=0,
            variable=str(item.get("key", ""))[:50],
            variable_instance="",
            attribute_type="Actual",
            defaults=defaults,
        )


def _store_201_variables(station: ChargingStation, results: list[dict]) -> None:
    now = timezone.now()
    for result in results:
        if result.get("attributeStatus") != "Accepted":
            continue
        upsert_variable(
            station_pk=station.pk,
            component=result.get("component", {}),
            variable=result.get("variable", {}),
            attribute_type=result.get("attributeType", "Actual"),
            values={"value": str(result.get("attributeValue", ""))[:2500], "reported_at": now},
        )


async def send_command_async(
    *,
    station_id: str,
    command: str,
    params: dict | None = None,
    requested_by=None,
    source: str = "api",
    timeout: float | None = None,
) -> CommandResult:
    """Validate, record, deliver, wait. Raises CommandError (bad request) or StationNotFound."""
    params = validate_params(command, params or {})
    timeout = float(timeout if timeout is not None else settings.OCPP_COMMAND_TIMEOUT)
    prepared = await sync_to_async(_prepare)(
        station_id=station_id, command=command, params=params, requested_by=requested_by, source=source
    )
    finish = sync_to_async(_finish)
    if not prepared.station.is_online:
        return await finish(prepared, outcome=CommandOutcome.OFFLINE, error="station is not connected")

    layer = get_channel_layer()
    reply_channel = await layer.new_channel()  # one prefix: channels_redis reads one list per prefix
    started = time.monotonic()
    await layer.group_send(
        station_group(station_id),
        {
            "type": "station.command",
            "command_id": prepared.log.pk,
            "action": prepared.action,
            "payload": prepared.payload,
            "reply_channel": reply_channel,
            "timeout": timeout,
        },
    )
    try:
        await asyncio.wait_for(_receive(layer, reply_channel, "command.ack"), ACK_TIMEOUT_S)
    except TimeoutError:
        return await finish(prepared, outcome=CommandOutcome.OFFLINE, error="no connection to the station answered")
    try:
        reply = await asyncio.wait_for(_receive(layer, reply_channel, "command.result"), timeout + ACK_TIMEOUT_S)
    except TimeoutError:
        reply = {"outcome": CommandOutcome.TIMEOUT, "error": "the connection holding the station did not report back"}
    latency_ms = int((time.monotonic() - started) * 1000)
    return await finish(
        prepared,
        outcome=reply["outcome"],
        response=reply.get("response"),
        error=reply.get("error", ""),
        latency_ms=latency_ms,
    )


async def _receive(layer, channel: str, message_type: str) -> dict:
    while True:
        message = await layer.receive(channel)
        if message.get("type") == message_type:
            return message


def send_command(**kwargs) -> CommandResult:
    """Synchronous entry point for views, admin actions, commands and tasks."""
    return async_to_sync(send_command_async)(**kwargs)


__all__ = ["CommandError", "CommandResult", "StationNotFound", "send_command", "send_command_async"]
