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
from ocpp.exceptions import NotSupportedError
from ocpp.routing import on
from ocpp.v21 import ChargePoint
from ocpp.v21.enums import Action

from gateway.frames import db, parse_timestamp
from gateway.ocpp2 import Ocpp2Handlers
from stations.models import StationEvent
from stations.services import reports
from stations.services.authorization import Authorization
from stations.smart_charging import station_reports

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
            # No answer, ever. ChargeNet refuses periodic event streams (OpenPeriodicEventStream),
            # so a SEND is unexpected: logged, not stored.
            logger.info("%s: SEND ignored: %.300s", self.station.station_id, raw_msg)
            return True
        return False

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
        # ChargeNet sends no Dynamic profiles: there is no update to give for any id.
        return self._call_result.PullDynamicScheduleUpdate(
            status="Rejected", status_info={"reason_code": "UnknownProfile"}
        )

    # --- N: periodic event streams --------------------------------------------------------

    @on(Action.open_periodic_event_stream)
    async def on_open_periodic_event_stream(self, constant_stream_data, **kw):
        return self._call_result.OpenPeriodicEventStream(
            status="Rejected", status_info={"reason_code": "NotSupported"}
        )

    @on(Action.close_periodic_event_stream)
    async def on_close_periodic_event_stream(self, id, **kw):
        return self._call_result.ClosePeriodicEventStream()
