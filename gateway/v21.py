"""OCPP 2.1: the shared 2.x handlers (``gateway.ocpp2``) on the package's 2.1 ChargePoint,
and the actions only 2.1 stations send, one section per functional block.

Every action a 2.1 station may send gets an answer: a handler below or in ``gateway.ocpp2``,
else the CALLERROR the spec names (NotImplemented for a 2.1 action ChargeNet does not
handle, NotSupported for a name 2.1 does not have). The ``ocpp`` package (2.1.0) sends no
reply at all for those, so ``_handle_call`` decides before it.
"""

import logging

from django.utils import timezone
from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.exceptions import OCPPError
from ocpp.exceptions import NotSupportedError
from ocpp.routing import on
from ocpp.v21 import ChargePoint
from ocpp.v21.enums import Action

from gateway import validation
from gateway.batcher import stream_batcher
from gateway.formats import first_invalid_date_time
from gateway.frames import db, parse_timestamp
from gateway.ocpp2 import Ocpp2Handlers
from stations.models import RegistrationStatus, StationEvent
from stations.services import reports
from stations.services.authorization import Authorization
from stations.smart_charging import dynamic, station_reports
from stations.streams import services as streams

logger = logging.getLogger(__name__)

ACTIONS_21 = frozenset(action.value for action in Action)

# OCPP-J 2.1 adds two message types: CALLRESULTERROR (a peer could not process our
# CALLRESULT) and SEND (a message that gets no answer, e.g. NotifyPeriodicEventStream).
CALLRESULTERROR = 5
SEND = 6


# What a car allowed to discharge may choose from; without it 2.1 means "charging only".
CHARGE_AND_DISCHARGE = ["AC_single_phase", "AC_two_phase", "AC_three_phase", "DC", "AC_BPT", "DC_BPT"]


class StationHandler21(Ocpp2Handlers, ChargePoint):
    def authorize_extras(self, auth: Authorization) -> dict:
        """The token's car (a card assigned to it, or its Plug & Charge contract) decides;
        a token on no car charges only. ``authorize`` loaded the car with the token."""
        token = auth.token if auth.accepted else None
        car = token.car if token is not None and token.car_id is not None else None
        if car is not None and car.allow_discharge:
            return {"allowed_energy_transfer": CHARGE_AND_DISCHARGE}
        return {}

    def ev_certificate_extras(self, answer: dict) -> dict:
        if answer.get("remainingContracts") is None:
            return {}
        return {"remaining_contracts": answer["remainingContracts"]}

    async def _handle_call(self, msg):
        handlers = self.route_map.get(msg.action)
        if handlers is None or "_on_action" not in handlers:
            if msg.action in ACTIONS_21:
                raise OcppNotImplemented(details={"cause": f"ChargeNet does not handle {msg.action}"})
            raise NotSupportedError(details={"cause": f"{msg.action} is not an OCPP 2.1 action"})
        return await super()._handle_call(msg)

    async def _route_other(self, message_type, frame: list, raw_msg: str) -> bool:
        if message_type == CALLRESULTERROR:
            logger.warning("%s: the station could not process our answer: %.300s", self.station.station_id, raw_msg)
            return True
        if message_type == SEND:
            await self._route_send(frame)  # no answer, ever: not even to a bad one
            return True
        return False

    async def _route_send(self, frame: list) -> None:
        """A SEND: [6, messageId, action, payload]. Only NotifyPeriodicEventStream exists in
        2.1; one that breaks the schema (or arrives before the station is Accepted) is logged
        and dropped, as the station expects no answer."""
        station_id = self.station.station_id
        if len(frame) != 4 or not isinstance(frame[2], str) or frame[2] not in SEND_HANDLERS or not isinstance(
                frame[3], dict):
            logger.warning("%s: SEND ignored (not a known SEND message): %.200s", station_id, frame)
            return
        if self.station.registration_status != RegistrationStatus.ACCEPTED:
            logger.warning("%s: SEND ignored: the station is not Accepted", station_id)
            return
        action, payload = frame[2], frame[3]
        try:
            if first_invalid_date_time(self._ocpp_version, action, payload) is not None:
                raise ValueError("basetime is not an RFC 3339 date-time")
            validation.check(action, self._ocpp_version, payload)
        except (OCPPError, ValueError) as error:
            logger.warning("%s: %s dropped: %s", station_id, action, getattr(error, "description", error))
            return
        await getattr(self, SEND_HANDLERS[action])(payload)

    async def on_notify_periodic_event_stream(self, payload: dict) -> None:
        if any("\x00" in item["v"] for item in payload["data"]):  # the only free text; PostgreSQL refuses NUL
            logger.warning("%s: stream %s data dropped: NUL characters", self.station.station_id, payload["id"])
            return
        write = streams.StreamWrite(
            station_pk=self.station.station_pk, stream_id=payload["id"], basetime=parse_timestamp(payload["basetime"]),
            data=[(float(item["t"]), item["v"]) for item in payload["data"]],
        )
        if not await stream_batcher().submit(write):
            applied = await db(streams.write_batch)([write])
            if not applied[0]:
                logger.info("%s: data of stream %s dropped: the stream is not open", self.station.station_id,
                            payload["id"])

    async def _record(self, kind: str, timestamp: str | None, summary: str) -> None:
        await db(reports.record_event)(
            station_pk=self.station.station_pk,
            kind=kind,
            timestamp=parse_timestamp(timestamp) if timestamp else timezone.now(),
            summary=summary[:255],
            payload=self.current_payload or {},
        )

    # --- R: DER control -------------------------------------------------------------------

    @on(Action.notify_der_alarm)
    async def on_notify_der_alarm(self, control_type, timestamp, **kw):
        ended = " ended" if kw.get("alarm_ended") else ""
        fault = kw.get("grid_event_fault")
        summary = f"DER alarm {control_type}{ended}" + (f": {fault}" if fault else "")
        await self._record(StationEvent.Kind.DER, timestamp, summary)
        return self._call_result.NotifyDERAlarm()

    @on(Action.notify_der_start_stop)
    async def on_notify_der_start_stop(self, control_id, started, timestamp, **kw):
        state = "started" if started else "stopped"
        await self._record(StationEvent.Kind.DER, timestamp, f"DER control {control_id} {state}")
        return self._call_result.NotifyDERStartStop()

    @on(Action.report_der_control)
    async def on_report_der_control(self, request_id, **kw):
        controls = sorted(k for k in (self.current_payload or {}) if k not in ("requestId", "tbc", "customData"))
        summary = f"DER controls (request {request_id}): {', '.join(controls) or 'none'}"
        await self._record(StationEvent.Kind.DER, None, summary)
        return self._call_result.ReportDERControl()

    # --- K: smart charging additions ---------------------------------------------------------

    @on(Action.notify_priority_charging)
    async def on_notify_priority_charging(self, transaction_id, activated, **kw):
        await db(station_reports.record_priority_charging)(
            station_pk=self.station.station_pk, transaction_id=transaction_id, activated=activated
        )
        await self._record(
            StationEvent.Kind.PRIORITY_CHARGING, None,
            f"priority charging {'on' if activated else 'off'} for transaction {transaction_id}",
        )
        return self._call_result.NotifyPriorityCharging()

    @on(Action.pull_dynamic_schedule_update)
    async def on_pull_dynamic_schedule_update(self, charging_profile_id, **kw):
        update = await db(dynamic.pull_update)(station_pk=self.station.station_pk, profile_id=charging_profile_id)
        if update is None:
            return self._call_result.PullDynamicScheduleUpdate(status="Rejected", status_info={
                "reason_code": "UnknownProfile",
                "additional_info": f"no Dynamic profile {charging_profile_id} from this CSMS is in force"})
        return self._call_result.PullDynamicScheduleUpdate(status="Accepted", schedule_update=_snake(update))

    # --- N: periodic event streams --------------------------------------------------------

    @on(Action.open_periodic_event_stream)
    async def on_open_periodic_event_stream(self, constant_stream_data, **kw):
        params = constant_stream_data.get("params") or {}
        refusal = await db(streams.open_stream)(
            station_pk=self.station.station_pk, stream_id=constant_stream_data["id"],
            variable_monitoring_id=constant_stream_data["variable_monitoring_id"],
            interval_s=params.get("interval"), values=params.get("values"),
        )
        if refusal is not None:
            return self._call_result.OpenPeriodicEventStream(
                status="Rejected", status_info={"reason_code": refusal.reason_code, "additional_info": refusal.info})
        return self._call_result.OpenPeriodicEventStream(status="Accepted")

    @on(Action.close_periodic_event_stream)
    async def on_close_periodic_event_stream(self, id, **kw):
        await db(streams.close_stream)(station_pk=self.station.station_pk, stream_id=id)
        return self._call_result.ClosePeriodicEventStream()


SEND_HANDLERS = {"NotifyPeriodicEventStream": "on_notify_periodic_event_stream"}


def _snake(update: dict) -> dict:
    """ChargingScheduleUpdateType keys as the package's result classes take them (it turns
    them back into camelCase)."""
    return {"discharge_limit" if key == "dischargeLimit" else key: value for key, value in update.items()}
