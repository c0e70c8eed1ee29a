"""OCPP 1.6J: each action a station sends, mapped to a version-neutral service.

A 1.6 connector N is EVSE N, connector 1 here; connector 0 is the station itself.
"""

from django.conf import settings
from django.utils import timezone
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action, DataTransferStatus

from billing import station_prices
from pki import protocol as pki_protocol
from stations.firmware import diagnostics, rollout
from stations.models import StationEvent
from gateway.frames import FrameRouter, StationSession, db, now_iso, parse_timestamp
from gateway.batcher import meter_batcher, record_boot, status_batcher
from stations.services import boot, reports, sessions
from stations.services.authorization import Authorization, authorize
from stations.services.meter_batch import MeterWrite
from stations.services.meter_values import Sample, make_sample
from stations.services.status import StatusReport, record_status


def id_tag_info(auth: Authorization) -> dict:
    info = {"status": str(auth.status)}
    if auth.expires_at is not None:
        info["expiry_date"] = auth.expires_at.isoformat()
    if auth.group_id:
        info["parent_id_tag"] = auth.group_id
    return info


def samples_from(meter_value: list[dict]) -> list[Sample]:
    samples = []
    for reading in meter_value:
        timestamp = parse_timestamp(reading["timestamp"])
        for sampled in reading["sampled_value"]:
            if sampled.get("format") == "SignedData":
                continue
            sample = make_sample(
                timestamp=timestamp,
                value=sampled["value"],
                measurand=sampled.get("measurand"),
                unit=sampled.get("unit"),
                phase=sampled.get("phase"),
                location=sampled.get("location"),
                context=sampled.get("context"),
            )
            if sample is not None:
                samples.append(sample)
    return samples


class StationHandler16(FrameRouter, ChargePoint):
    error_code_map = {
        "FormatViolation": "FormationViolation",
        "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
        "RpcFrameworkError": "FormationViolation",
        "MessageTypeNotSupported": "FormationViolation",
    }
    frame_error_code = "FormationViolation"
    message_type_error_code = "FormationViolation"

    def __init__(self, station: StationSession, connection, response_timeout: int = 30):
        super().__init__(station.station_id, connection, response_timeout=response_timeout)
        self.station = station
        self.pending_deliveries: dict[str, int] = {}  # SignCertificate call id -> signing request
        self.price_to_show: str | None = None  # an id tag just accepted: its price follows (California)

    @on(Action.boot_notification)
    async def on_boot_notification(self, charge_point_vendor, charge_point_model, **kw):
        report = boot.BootReport(
            station_pk=self.station.station_pk,
            vendor=charge_point_vendor,
            model=charge_point_model,
            serial_number=kw.get("charge_point_serial_number") or kw.get("charge_box_serial_number") or "",
            firmware_version=kw.get("firmware_version", ""),
            iccid=kw.get("iccid", ""),
            imsi=kw.get("imsi", ""),
        )
        registration = await record_boot(report, self.station)
        self.station.registration_status = registration
        return call_result.BootNotification(
            current_time=now_iso(), interval=settings.OCPP_HEARTBEAT_INTERVAL, status=registration
        )

    @on(Action.heartbeat)
    async def on_heartbeat(self, **kw):
        return call_result.Heartbeat(current_time=now_iso())

    @on(Action.status_notification)
    async def on_status_notification(self, connector_id, error_code, status, timestamp=None, **kw):
        report = StatusReport(
            station_pk=self.station.station_pk,
            evse_id=connector_id,
            connector_id=1,
            status=status,
            timestamp=parse_timestamp(timestamp) if timestamp else timezone.now(),
            error_code="" if error_code == "NoError" else error_code,
            info=kw.get("info", ""),
            vendor_error_code=kw.get("vendor_error_code", ""),
        )
        if connector_id == 0 or not await status_batcher().submit(report):
            await db(record_status)(**vars(report))
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_tag, **kw):
        auth = await db(authorize)(value=id_tag)
        self.price_to_show = id_tag if auth.accepted else None
        return call_result.Authorize(id_tag_info=id_tag_info(auth))

    @after(Action.authorize)
    async def after_authorize(self, id_tag, **kw):
        """California Pricing: the driver's price (SetUserPrice) once the answer went out."""
        if self.price_to_show == id_tag:
            self.price_to_show = None
            pk = self.station.station_pk
            support = station_prices.cached_support(pk) or await db(station_prices.display_support)(pk)
            if support.california:
                station_prices.send_user_price_later(station_pk=self.station.station_pk, id_token_value=id_tag)

    @on(Action.start_transaction)
    async def on_start_transaction(self, connector_id, id_tag, meter_start, timestamp, **kw):
        result = await db(sessions.start_session)(
            station_pk=self.station.station_pk,
            evse_id=connector_id,
            connector_id=1,
            id_token_value=id_tag,
            meter_start_wh=meter_start,
            started_at=parse_timestamp(timestamp),
            reservation_id=kw.get("reservation_id"),
        )
        return call_result.StartTransaction(
            transaction_id=int(result.session.transaction_id), id_tag_info=id_tag_info(result.authorization)
        )

    @on(Action.meter_values)
    async def on_meter_values(self, connector_id, meter_value, transaction_id=None, **kw):
        samples = samples_from(meter_value)
        if transaction_id is not None and await meter_batcher().submit(
            MeterWrite(
                station_pk=self.station.station_pk,
                evse_id=connector_id,
                transaction_id=str(transaction_id),
                samples=samples,
            )
        ):
            return call_result.MeterValues()
        await db(sessions.record_meter_values)(
            station_pk=self.station.station_pk,
            evse_id=connector_id,
            samples=samples,
            transaction_id=str(transaction_id) if transaction_id is not None else None,
        )
        return call_result.MeterValues()

    @on(Action.stop_transaction)
    async def on_stop_transaction(self, meter_stop, timestamp, transaction_id, **kw):
        result = await db(sessions.stop_session)(
            station_pk=self.station.station_pk,
            transaction_id=str(transaction_id),
            meter_stop_wh=meter_stop,
            stopped_at=parse_timestamp(timestamp),
            reason=kw.get("reason", ""),
            id_token_value=kw.get("id_tag"),
            samples=samples_from(kw.get("transaction_data") or []),
        )
        if result.authorization is None:
            return call_result.StopTransaction()
        return call_result.StopTransaction(id_tag_info=id_tag_info(result.authorization))

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id, call_unique_id=None, **kw):
        raw = self.current_payload or {}
        if vendor_id == pki_protocol.PNC_VENDOR_ID:
            return await self.on_pnc_data_transfer(raw, call_unique_id)
        await db(reports.record_event)(
            station_pk=self.station.station_pk,
            kind=StationEvent.Kind.DATA_TRANSFER,
            timestamp=timezone.now(),
            summary=f"{vendor_id} {raw.get('messageId', '')}".strip(),
            payload=raw,
        )
        return call_result.DataTransfer(status=DataTransferStatus.unknown_vendor_id)

    @on(Action.firmware_status_notification)
    async def on_firmware_status_notification(self, status, **kw):
        await db(rollout.record_firmware_status)(station_pk=self.station.station_pk, status=status)
        return call_result.FirmwareStatusNotification()

    @on(Action.diagnostics_status_notification)
    async def on_diagnostics_status_notification(self, status, **kw):
        await db(diagnostics.record_status)(station_pk=self.station.station_pk, status=status)
        return call_result.DiagnosticsStatusNotification()

    # --- security extension and Plug & Charge (pki) ------------------------------------------

    @on(Action.sign_certificate)
    async def on_sign_certificate(self, csr, call_unique_id, **kw):
        answer, deliver = await pki_protocol.sign_certificate(
            station_pk=self.station.station_pk, csr=csr, certificate_type="ChargingStationCertificate"
        )
        if deliver is not None:
            self.pending_deliveries[call_unique_id] = deliver
        return call_result.SignCertificate(status=answer["status"])

    @after(Action.sign_certificate)
    async def after_sign_certificate(self, call_unique_id, **kw):
        deliver = self.pending_deliveries.pop(call_unique_id, None)
        if deliver is not None:
            pki_protocol.deliver_later(deliver)

    @after(Action.data_transfer)
    async def after_data_transfer(self, call_unique_id, **kw):
        await self.after_sign_certificate(call_unique_id)

    async def on_pnc_data_transfer(self, raw: dict, call_unique_id: str | None):
        """ISO 15118 PnC over 1.6: the 2.0.1 message in ``data`` (a JSON string), answered likewise."""
        message_id = raw.get("messageId")
        try:
            payload = pki_protocol.parse_pnc_request(message_id, raw.get("data"))
        except pki_protocol.PncRefused as error:
            await db(reports.record_event)(
                station_pk=self.station.station_pk, kind=StationEvent.Kind.DATA_TRANSFER, timestamp=timezone.now(),
                summary=f"refused PnC {message_id}: {error}"[:255], payload=raw,
            )
            status = DataTransferStatus.unknown_message_id if "messageId" in str(error) else DataTransferStatus.rejected
            return call_result.DataTransfer(status=status)
        if message_id == "Authorize":
            result = await pki_protocol.authorize(
                id_token=payload["idToken"], certificate=payload.get("certificate"),
                iso15118_certificate_hash_data=payload.get("iso15118CertificateHashData"),
            )
            info = {"status": str(result.authorization.status)}
            if result.authorization.expires_at is not None:
                info["cacheExpiryDateTime"] = result.authorization.expires_at.isoformat()
            answer = pki_protocol.authorize_answer(result, info)
        elif message_id == "GetCertificateStatus":
            answer = await pki_protocol.get_certificate_status(ocsp_request_data=payload["ocspRequestData"])
        elif message_id == "Get15118EVCertificate":
            answer = await pki_protocol.get_15118_ev_certificate(station_id=self.station.station_id, payload=payload)
            answer.pop("remainingContracts", None)  # 2.1 only: the 1.6 PnC DataTransfer carries 2.0.1 payloads
        else:  # SignCertificate
            answer, deliver = await pki_protocol.sign_certificate(
                station_pk=self.station.station_pk, csr=payload["csr"],
                certificate_type=payload.get("certificateType", "V2GCertificate"),
            )
            if deliver is not None and call_unique_id is not None:
                self.pending_deliveries[call_unique_id] = deliver
        return call_result.DataTransfer(
            status=DataTransferStatus.accepted, data=pki_protocol.pnc_response_data(message_id, answer)
        )

    @on(Action.security_event_notification)
    async def on_security_event_notification(self, type, timestamp, **kw):
        await db(reports.record_event)(
            station_pk=self.station.station_pk,
            kind=StationEvent.Kind.SECURITY_EVENT,
            timestamp=parse_timestamp(timestamp),
            summary=type,
            payload=self.current_payload or {},
        )
        return call_result.SecurityEventNotification()

    @on(Action.signed_firmware_status_notification)
    async def on_signed_firmware_status_notification(self, status, **kw):
        await db(rollout.record_firmware_status)(
            station_pk=self.station.station_pk, status=status, request_id=kw.get("request_id")
        )
        return call_result.SignedFirmwareStatusNotification()

    @on(Action.log_status_notification)
    async def on_log_status_notification(self, status, **kw):
        await db(diagnostics.record_status)(
            station_pk=self.station.station_pk, status=status, request_id=kw.get("request_id")
        )
        return call_result.LogStatusNotification()
