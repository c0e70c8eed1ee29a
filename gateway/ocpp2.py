"""OCPP 2.0.1 and 2.1: each action a station sends, mapped to a version-neutral service.

2.1 is a superset of 2.0.1 for what a station sends: the same actions with new optional
fields and enum values. So the handlers are written once, here, and ``gateway.v201`` and
``gateway.v21`` put them on their version's ``ChargePoint``. A handler answers with
``self._call_result`` (the version's result classes) and routes by the action's name,
which both versions spell alike. What differs between the versions lives in the version
modules (2.1: V2X, DER control, and the actions 2.0.1 does not have)."""

from django.conf import settings
from django.utils import timezone
from ocpp.routing import after, on

from billing import station_prices, station_tariffs
from gateway.batcher import meter_batcher, record_boot, status_batcher
from gateway.frames import FrameRouter, StationSession, db, now_iso, parse_timestamp
from pki import protocol as pki_protocol
from stations import background
from stations.firmware import diagnostics, rollout
from stations.models import StationEvent
from stations.services import boot, display_messages, reports, reservations, sessions
from stations.services.authorization import Authorization, authorize
from stations.services.meter_batch import EventFacts, MeterWrite
from stations.services.meter_values import Sample, make_sample
from stations.services.status import StatusReport, record_status
from stations.smart_charging import station_reports


def id_token_info(auth: Authorization) -> dict:
    info = {"status": str(auth.status)}
    if auth.expires_at is not None:
        info["cache_expiry_date_time"] = auth.expires_at.isoformat()
    if auth.group_id:
        info["group_id_token"] = {"id_token": auth.group_id, "type": "Central"}
    return info


def samples_from(meter_value: list[dict] | None) -> list[Sample]:
    samples = []
    for reading in meter_value or []:
        timestamp = parse_timestamp(reading["timestamp"])
        for sampled in reading["sampled_value"]:
            unit = sampled.get("unit_of_measure") or {}
            sample = make_sample(
                timestamp=timestamp,
                value=sampled["value"],
                measurand=sampled.get("measurand"),
                unit=unit.get("unit", None),
                multiplier=unit.get("multiplier", 0),
                phase=sampled.get("phase"),
                location=sampled.get("location"),
                context=sampled.get("context"),
            )
            if sample is not None:
                samples.append(sample)
    return samples


class Ocpp2Handlers(FrameRouter):
    """The station-initiated actions of OCPP 2.0.1, shared by 2.0.1 and 2.1 (mixed into the
    version's ``ChargePoint``, which provides ``_call_result``)."""

    error_code_map = {
        "FormationViolation": "FormatViolation",
        "OccurenceConstraintViolation": "OccurrenceConstraintViolation",
    }
    frame_error_code = "RpcFrameworkError"
    message_type_error_code = "MessageTypeNotSupported"

    def __init__(self, station: StationSession, connection, response_timeout: int = 30):
        super().__init__(station.station_id, connection, response_timeout=response_timeout)
        self.station = station
        self.pending_deliveries: dict[str, int] = {}  # SignCertificate call id -> signing request

    @on("BootNotification")
    async def on_boot_notification(self, charging_station, reason, **kw):
        modem = charging_station.get("modem") or {}
        report = boot.BootReport(
            station_pk=self.station.station_pk,
            vendor=charging_station["vendor_name"],
            model=charging_station["model"],
            serial_number=charging_station.get("serial_number", ""),
            firmware_version=charging_station.get("firmware_version", ""),
            iccid=modem.get("iccid", ""),
            imsi=modem.get("imsi", ""),
            reason=reason,
        )
        registration = await record_boot(report, self.station)
        self.station.registration_status = registration
        return self._call_result.BootNotification(
            current_time=now_iso(), interval=settings.OCPP_HEARTBEAT_INTERVAL, status=registration
        )

    @on("Heartbeat")
    async def on_heartbeat(self, **kw):
        return self._call_result.Heartbeat(current_time=now_iso())

    @on("StatusNotification")
    async def on_status_notification(self, timestamp, connector_status, evse_id, connector_id, **kw):
        report = StatusReport(
            station_pk=self.station.station_pk,
            evse_id=evse_id,
            connector_id=connector_id,
            status=connector_status,
            timestamp=parse_timestamp(timestamp),
        )
        if evse_id == 0 or not await status_batcher().submit(report):
            await db(record_status)(**vars(report))
        return self._call_result.StatusNotification()

    @on("Authorize")
    async def on_authorize(self, id_token, **kw):
        raw = self.current_payload or {}
        if raw.get("certificate") or raw.get("iso15118CertificateHashData"):
            # Plug & Charge: contract certificate (chain) or its hash data → pki.
            result = await pki_protocol.authorize(
                id_token=raw["idToken"], certificate=raw.get("certificate"),
                iso15118_certificate_hash_data=raw.get("iso15118CertificateHashData"),
            )
            return self._call_result.Authorize(
                id_token_info=id_token_info(result.authorization), certificate_status=result.certificate_status,
                **self.authorize_extras(result.authorization),
            )
        auth = await db(authorize)(value=id_token["id_token"], type=id_token["type"])
        info = id_token_info(auth)
        if auth.accepted:
            await self._add_price_message(info, id_token["id_token"])
        return self._call_result.Authorize(id_token_info=info, **self.authorize_extras(auth))

    def authorize_extras(self, auth: Authorization) -> dict:
        """Fields of the Authorize answer only a later version has (2.1: allowed energy transfer)."""
        return {}

    async def _add_price_message(self, info: dict, id_token_value: str) -> None:
        """I01: the driver's price as the personal message, where the station shows tariffs."""
        support = station_prices.cached_support(self.station.station_pk)
        if support is not None and not support.tariff:
            return  # the usual case costs no database round trip
        message = await db(station_prices.personal_message)(
            station_pk=self.station.station_pk, id_token_value=id_token_value)
        if message is not None:
            info["personal_message"] = message

    def _compare_station_cost(self, transaction_id: str, timestamp: str) -> None:
        """2.1: a station that calculates cost reports it (``costDetails``); compared with
        ChargeNet's pricing in the background, after this event is applied (never on the frame path)."""
        cost_details = (self.current_payload or {}).get("costDetails")
        if not cost_details:
            return
        station_pk, at = self.station.station_pk, parse_timestamp(timestamp)
        background.run_soon(lambda: db(station_tariffs.compare_station_cost)(
            station_pk=station_pk, transaction_id=transaction_id, cost_details=cost_details, at=at),
            name="station cost comparison")

    @on("TransactionEvent")
    async def on_transaction_event(self, event_type, timestamp, trigger_reason, seq_no, transaction_info, **kw):
        answer = await self._transaction_event(event_type, timestamp, trigger_reason, seq_no, transaction_info, **kw)
        self._compare_station_cost(transaction_info["transaction_id"], timestamp)
        return answer

    async def _transaction_event(self, event_type, timestamp, trigger_reason, seq_no, transaction_info, **kw):
        evse = kw.get("evse") or {}
        id_token = kw.get("id_token")
        samples = samples_from(kw.get("meter_value"))
        if (
            event_type == "Updated"
            and id_token is None
            and "remote_start_id" not in transaction_info
            and kw.get("reservation_id") is None
            and "operation_mode" not in transaction_info
            and "cost_details" not in kw  # 2.1: compared with ChargeNet's cost once the meter is written
            and await meter_batcher().submit(
                MeterWrite(
                    station_pk=self.station.station_pk,
                    evse_id=evse.get("id", 0),
                    transaction_id=transaction_info["transaction_id"],
                    samples=samples,
                    names_evse=bool(evse),
                    event=EventFacts(
                        seq_no=seq_no,
                        trigger_reason=trigger_reason,
                        timestamp=parse_timestamp(timestamp),
                        offline=kw.get("offline", False),
                        charging_state=transaction_info.get("charging_state"),
                    ),
                )
            )
        ):
            return self._call_result.TransactionEvent()
        event = sessions.TransactionEvent(
            event_type=event_type,
            transaction_id=transaction_info["transaction_id"],
            seq_no=seq_no,
            timestamp=parse_timestamp(timestamp),
            trigger_reason=trigger_reason,
            offline=kw.get("offline", False),
            evse_id=evse.get("id"),
            connector_id=evse.get("connector_id"),
            id_token_value=id_token["id_token"] if id_token else None,
            id_token_type=id_token["type"] if id_token else None,
            charging_state=transaction_info.get("charging_state"),
            stopped_reason=transaction_info.get("stopped_reason"),
            remote_start_id=transaction_info.get("remote_start_id"),
            reservation_id=kw.get("reservation_id"),
            samples=samples,
            operation_mode=transaction_info.get("operation_mode"),
        )
        result = await db(sessions.apply_transaction_event)(station_pk=self.station.station_pk, event=event)
        total_cost = None
        support = station_prices.cached_support(self.station.station_pk)
        if event_type == "Ended" and (support is None or support.cost):  # I03: the final cost, where shown
            total_cost = await db(station_prices.final_total_cost)(
                station_pk=self.station.station_pk, transaction_id=transaction_info["transaction_id"])
        if result.authorization is None:
            return self._call_result.TransactionEvent(total_cost=total_cost)
        info = id_token_info(result.authorization)
        if event_type == "Started" and result.authorization.accepted:
            await self._add_price_message(info, id_token["id_token"])
        return self._call_result.TransactionEvent(id_token_info=info, total_cost=total_cost)

    @on("MeterValues")
    async def on_meter_values(self, evse_id, meter_value, **kw):
        await db(sessions.record_meter_values)(
            station_pk=self.station.station_pk, evse_id=evse_id, samples=samples_from(meter_value)
        )
        return self._call_result.MeterValues()

    @on("NotifyReport")
    async def on_notify_report(self, request_id, generated_at, seq_no, **kw):
        raw = self.current_payload or {}
        await db(reports.store_device_model)(
            station_pk=self.station.station_pk,
            report_data=raw.get("reportData", []),
            generated_at=parse_timestamp(generated_at),
        )
        station_prices.forget_support(self.station.station_pk)  # TariffCostCtrlr may have changed
        if not kw.get("tbc"):  # the whole report is in: a 2.1 station found to calculate cost gets its tariff
            station_pk = self.station.station_pk
            background.run_soon(lambda: db(station_tariffs.push_default_tariffs)(station_pks=[station_pk]),
                                name="tariffs to a 2.1 station after its report")
        return self._call_result.NotifyReport()

    @on("NotifyDisplayMessages")
    async def on_notify_display_messages(self, request_id, **kw):
        raw = self.current_payload or {}
        await db(display_messages.record_reported_messages)(
            station_pk=self.station.station_pk, message_info=raw.get("messageInfo", []))
        return self._call_result.NotifyDisplayMessages()

    @on("NotifyEvent")
    async def on_notify_event(self, generated_at, seq_no, event_data, **kw):
        raw = self.current_payload or {}
        summaries = [
            f"{e.get('component', {}).get('name', '?')}.{e.get('variable', {}).get('name', '?')}"
            f"={e.get('actualValue', '')}"
            for e in raw.get("eventData", [])
        ]
        await db(reports.record_event)(
            station_pk=self.station.station_pk,
            kind=StationEvent.Kind.NOTIFY_EVENT,
            timestamp=parse_timestamp(generated_at),
            summary=", ".join(summaries),
            payload=raw,
        )
        return self._call_result.NotifyEvent()

    @on("NotifyCustomerInformation")
    async def on_notify_customer_information(self, data, seq_no, generated_at, request_id, **kw):
        """The station's report after a CustomerInformation request (sent with ``raw``): kept
        as a station event for the operator who asked."""
        await db(reports.record_event)(
            station_pk=self.station.station_pk,
            kind=StationEvent.Kind.NOTIFY_EVENT,
            timestamp=parse_timestamp(generated_at),
            summary=f"customer information (request {request_id}, part {seq_no}): {data}"[:255],
            payload=self.current_payload or {},
        )
        return self._call_result.NotifyCustomerInformation()

    @on("SecurityEventNotification")
    async def on_security_event_notification(self, type, timestamp, **kw):
        await db(reports.record_event)(
            station_pk=self.station.station_pk,
            kind=StationEvent.Kind.SECURITY_EVENT,
            timestamp=parse_timestamp(timestamp),
            summary=type,
            payload=self.current_payload or {},
        )
        return self._call_result.SecurityEventNotification()

    @on("FirmwareStatusNotification")
    async def on_firmware_status_notification(self, status, **kw):
        await db(rollout.record_firmware_status)(
            station_pk=self.station.station_pk, status=status, request_id=kw.get("request_id")
        )
        return self._call_result.FirmwareStatusNotification()

    @on("LogStatusNotification")
    async def on_log_status_notification(self, status, **kw):
        await db(diagnostics.record_status)(
            station_pk=self.station.station_pk, status=status, request_id=kw.get("request_id")
        )
        return self._call_result.LogStatusNotification()

    @on("ReservationStatusUpdate")
    async def on_reservation_status_update(self, reservation_id, reservation_update_status, **kw):
        await db(reservations.record_reservation_update)(
            station_pk=self.station.station_pk, reservation_id=reservation_id, status=reservation_update_status
        )
        return self._call_result.ReservationStatusUpdate()

    @on("NotifyEVChargingNeeds")
    async def on_notify_ev_charging_needs(self, evse_id, charging_needs, **kw):
        status = await db(station_reports.record_charging_needs)(
            station_pk=self.station.station_pk, payload=self.current_payload
        )
        return self._call_result.NotifyEVChargingNeeds(status=status)

    @on("NotifyEVChargingSchedule")
    async def on_notify_ev_charging_schedule(self, time_base, charging_schedule, evse_id, **kw):
        status = await db(station_reports.record_ev_schedule)(
            station_pk=self.station.station_pk, payload=self.current_payload
        )
        return self._call_result.NotifyEVChargingSchedule(status=status)

    @on("ReportChargingProfiles")
    async def on_report_charging_profiles(self, request_id, charging_limit_source, charging_profile, evse_id, **kw):
        await db(station_reports.record_reported_profiles)(
            station_pk=self.station.station_pk, payload=self.current_payload
        )
        return self._call_result.ReportChargingProfiles()

    @on("NotifyChargingLimit")
    async def on_notify_charging_limit(self, charging_limit, **kw):
        await db(reports.record_event)(
            station_pk=self.station.station_pk,
            kind=StationEvent.Kind.CHARGING_LIMIT,
            timestamp=timezone.now(),
            summary=f"charging limit from {charging_limit.get('charging_limit_source', '?')}",
            payload=self.current_payload,
        )
        return self._call_result.NotifyChargingLimit()

    @on("ClearedChargingLimit")
    async def on_cleared_charging_limit(self, charging_limit_source, **kw):
        await db(reports.record_event)(
            station_pk=self.station.station_pk,
            kind=StationEvent.Kind.CHARGING_LIMIT,
            timestamp=timezone.now(),
            summary=f"charging limit from {charging_limit_source} cleared",
            payload=self.current_payload,
        )
        return self._call_result.ClearedChargingLimit()

    @on("DataTransfer")
    async def on_data_transfer(self, vendor_id, **kw):
        raw = self.current_payload or {}
        await db(reports.record_event)(
            station_pk=self.station.station_pk,
            kind=StationEvent.Kind.DATA_TRANSFER,
            timestamp=timezone.now(),
            summary=f"{vendor_id} {raw.get('messageId', '')}".strip(),
            payload=raw,
        )
        return self._call_result.DataTransfer(status="UnknownVendorId")

    # --- certificates and Plug & Charge (pki) ---------------------------------------------

    @on("SignCertificate")
    async def on_sign_certificate(self, csr, call_unique_id, **kw):
        answer, deliver = await pki_protocol.sign_certificate(
            station_pk=self.station.station_pk, csr=csr, certificate_type=kw.get("certificate_type")
        )
        if deliver is not None:
            self.pending_deliveries[call_unique_id] = deliver
        return self._call_result.SignCertificate(status=answer["status"], status_info=answer.get("statusInfo"))

    @after("SignCertificate")
    async def after_sign_certificate(self, call_unique_id, **kw):
        deliver = self.pending_deliveries.pop(call_unique_id, None)
        if deliver is not None:
            pki_protocol.deliver_later(deliver)

    @on("GetCertificateStatus")
    async def on_get_certificate_status(self, ocsp_request_data, **kw):
        raw = (self.current_payload or {}).get("ocspRequestData", {})
        answer = await pki_protocol.get_certificate_status(ocsp_request_data=raw)
        return self._call_result.GetCertificateStatus(
            status=answer["status"], ocsp_result=answer.get("ocspResult"), status_info=answer.get("statusInfo")
        )

    @on("Get15118EVCertificate")
    async def on_get_15118_ev_certificate(self, iso15118_schema_version, action, exi_request, **kw):
        answer = await pki_protocol.get_15118_ev_certificate(
            station_id=self.station.station_id, payload=self.current_payload or {}
        )
        return self._call_result.Get15118EVCertificate(
            status=answer["status"], exi_response=answer["exiResponse"], status_info=answer.get("statusInfo"),
            **self.ev_certificate_extras(answer),
        )

    def ev_certificate_extras(self, answer: dict) -> dict:
        """Fields of the Get15118EVCertificate answer only a later version has (2.1: remainingContracts)."""
        return {}
