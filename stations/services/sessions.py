"""Charging sessions: start, meter, stop. One model for 1.6 and 2.0.1 transactions.

1.6 reports a transaction with StartTransaction / MeterValues / StopTransaction and lets
the CSMS pick the transaction id; 2.0.1 reports it as a stream of TransactionEvents
numbered by seqNo with the station's own id. Both end up here, and both are safe to
repeat: a retried start returns the same session, a repeated event changes nothing.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, transaction

from stations.models import (
    ChargingSession,
    CommandLog,
    Location,
    MeterSample,
    Phase,
    ReadingContext,
    Reservation,
    ReservationStatus,
    SessionStatus,
    StationEvent,
    TransactionEventRecord,
)
from stations.services.authorization import Authorization, authorize
from stations.services.meter_values import ENERGY_REGISTER, Sample, recompute_energy, store_samples
from stations.services.status import ensure_connector
from stations.signals import announce_on_commit, meter_values_recorded, session_completed, session_started


@dataclass(frozen=True)
class SessionResult:
    session: ChargingSession | None
    authorization: Authorization | None = None
    duplicate: bool = False


def _bind_token(session: ChargingSession, auth: Authorization | None, value: str) -> None:
    session.id_token_value = value
    if auth is not None:
        session.authorization_status = auth.status
        session.id_token = auth.token
        session.driver = auth.token.driver if auth.token is not None else None


def find_session(*, station_pk: int, transaction_id: str) -> ChargingSession | None:
    return ChargingSession.objects.filter(station_id=station_pk, transaction_id=str(transaction_id)).first()


# --- 1.6 style: the CSMS assigns the transaction id --------------------------------


@transaction.atomic
def start_session(
    *,
    station_pk: int,
    evse_id: int,
    connector_id: int,
    id_token_value: str,
    meter_start_wh: int,
    started_at: datetime,
    reservation_id: int | None = None,
) -> SessionResult:
    """Open a session and assign its transaction id (the session's primary key).

    A station that lost our answer repeats the same StartTransaction; we recognise it by
    connector, token, meter start and timestamp and return the same transaction id.
    """
    auth = authorize(value=id_token_value)
    connector = ensure_connector(station_pk=station_pk, evse_id=evse_id, connector_id=connector_id)
    existing = ChargingSession.objects.filter(
        station_id=station_pk,
        connector=connector,
        id_token_value=id_token_value,
        meter_start_wh=meter_start_wh,
        started_at=started_at,
    ).first()
    if existing is not None:
        return SessionResult(session=existing, authorization=auth, duplicate=True)

    session = ChargingSession(
        station_id=station_pk,
        evse=connector.evse,
        connector=connector,
        transaction_id=f"pending-{uuid.uuid4().hex[:28]}",  # fits max_length 36
        started_at=started_at,
        meter_start_wh=meter_start_wh,
        meter_start_at=started_at,
        meter_start_fixed=True,
        meter_last_wh=meter_start_wh,
        meter_last_at=started_at,
        reservation_id=reservation_id,
    )
    _bind_token(session, auth, id_token_value)
    session.save()
    session.transaction_id = str(session.pk)
    session.save(update_fields=["transaction_id"])
    _use_reservation(station_pk, reservation_id)
    session_started.send(sender=ChargingSession, session=session)
    return SessionResult(session=session, authorization=auth)


@transaction.atomic
def stop_session(
    *,
    station_pk: int,
    transaction_id: str,
    meter_stop_wh: int,
    stopped_at: datetime,
    reason: str = "",
    id_token_value: str | None = None,
    samples: list[Sample] | None = None,
) -> SessionResult:
    """Close a session. An unknown transaction is recorded as a station event, not an error:
    the station must get its answer, or it retries forever."""
    auth = authorize(value=id_token_value) if id_token_value else None
    session = (
        ChargingSession.objects.select_for_update()
        .filter(station_id=station_pk, transaction_id=str(transaction_id))
        .first()
    )
    if session is None:
        # get_or_create: the station repeats the stop until answered; one record is enough.
        StationEvent.objects.get_or_create(
            station_id=station_pk,
            kind=StationEvent.Kind.UNKNOWN_TRANSACTION,
            timestamp=stopped_at,
            summary=f"Stop for unknown transaction {transaction_id}",
            defaults={
                "payload": {
                    "transaction_id": str(transaction_id),
                    "meter_stop_wh": meter_stop_wh,
                    "reason": reason,
                    "id_token": id_token_value,
                }
            },
        )
        return SessionResult(session=None, authorization=auth)
    if session.status == SessionStatus.COMPLETED:
        return SessionResult(session=session, authorization=auth, duplicate=True)

    evse_id = session.evse.evse_id if session.evse_id else 0
    store_samples(station_pk=station_pk, evse_id=evse_id, session=session, samples=samples or [], save=False)
    session.meter_stop_wh = meter_stop_wh
    if session.meter_last_at is None or stopped_at >= session.meter_last_at:
        session.meter_last_wh, session.meter_last_at = meter_stop_wh, stopped_at
    session.stopped_at = stopped_at
    session.stop_reason = reason or "Local"
    session.status = SessionStatus.COMPLETED
    recompute_energy(session)
    session.save()
    _announce_completion(session)
    return SessionResult(session=session, authorization=auth)


@transaction.atomic
def record_meter_values(
    *,
    station_pk: int,
    evse_id: int,
    samples: list[Sample],
    transaction_id: str | None = None,
) -> ChargingSession | None:
    """Store meter values; they belong to the named transaction, else to the session
    active on that EVSE, else to the station alone."""
    session = None
    if transaction_id is not None:
        session = find_session(station_pk=station_pk, transaction_id=transaction_id)
    elif evse_id:
        session = (
            ChargingSession.objects.filter(station_id=station_pk, evse__evse_id=evse_id, status=SessionStatus.ACTIVE)
            .order_by("-started_at")
            .first()
        )
    store_samples(station_pk=station_pk, evse_id=evse_id, session=session, samples=samples)
    if session is not None and samples:
        announce_on_commit(meter_values_recorded, station_pk=station_pk, session_pks=[session.pk])
    return session


# --- 2.0.1 style: a stream of events with the station's transaction id ---------------


@dataclass(frozen=True)
class TransactionEvent:
    event_type: str  # Started | Updated | Ended
    transaction_id: str
    seq_no: int
    timestamp: datetime
    trigger_reason: str
    offline: bool = False
    evse_id: int | None = None
    connector_id: int | None = None
    id_token_value: str | None = None
    id_token_type: str | None = None
    charging_state: str | None = None
    stopped_reason: str | None = None
    remote_start_id: int | None = None
    reservation_id: int | None = None
    samples: list[Sample] = field(default_factory=list)
    operation_mode: str | None = None  # 2.1 transactionInfo.operationMode (V2X)


@transaction.atomic
def apply_transaction_event(*, station_pk: int, event: TransactionEvent) -> SessionResult:
    """Apply one TransactionEvent. Events may arrive out of order after an outage (an
    Updated before its Started), so any event creates the session it refers to."""
    auth = None
    if event.id_token_value is not None:
        auth = authorize(value=event.id_token_value, type=event.id_token_type)

    session, created = (
        ChargingSession.objects.select_for_update(of=("self",))
        .select_related("evse")
        .get_or_create(station_id=station_pk, transaction_id=event.transaction_id)
    )
    was_completed = session.status == SessionStatus.COMPLETED
    try:
        with transaction.atomic():
            TransactionEventRecord.objects.create(
                session=session,
                seq_no=event.seq_no,
                event_type=event.event_type,
                trigger_reason=event.trigger_reason,
                timestamp=event.timestamp,
                offline=event.offline,
            )
    except IntegrityError:
        return SessionResult(session=session, authorization=auth, duplicate=True)

    changed = {"last_seq_no"} if session.last_seq_no is None or event.seq_no > session.last_seq_no else set()
    if changed:
        session.last_seq_no = event.seq_no
    if event.evse_id and session.connector_id is None:
        connector = ensure_connector(station_pk=station_pk, evse_id=event.evse_id, connector_id=event.connector_id or 1)
        session.evse, session.connector = connector.evse, connector
        changed |= {"evse", "connector"}
    if event.id_token_value is not None and (not session.id_token_value or event.trigger_reason != "StopAuthorized"):
        # The token that started (or was later bound to) the session identifies its driver;
        # a different token that only stops it does not take it over.
        _bind_token(session, auth, event.id_token_value)
        changed |= {"id_token_value", "authorization_status", "id_token", "driver"}
    elif event.id_token_value is None and event.remote_start_id is not None and not session.id_token_value:
        requested = _remote_start_token(station_pk, event.remote_start_id)
        if requested is not None:
            _bind_token(session, authorize(value=requested[0], type=requested[1]), requested[0])
            changed |= {"id_token_value", "authorization_status", "id_token", "driver"}
    if event.event_type == "Started" or session.started_at is None:
        session.started_at = event.timestamp
        changed.add("started_at")
    for name, value in [
        ("offline", True if event.offline else None),
        ("charging_state", event.charging_state or None),
        ("remote_start_id", event.remote_start_id),
        ("reservation_id", event.reservation_id),
        ("operation_mode", event.operation_mode),
    ]:
        if value is not None and getattr(session, name) != value:
            setattr(session, name, value)
            changed.add(name)
    if event.event_type == "Ended" and session.status != SessionStatus.COMPLETED:
        session.status = SessionStatus.COMPLETED
        session.stopped_at = event.timestamp
        session.stop_reason = event.stopped_reason or "Local"
        changed |= {"status", "stopped_at", "stop_reason"}

    evse_id = session.evse.evse_id if session.evse_id else (event.evse_id or 0)
    changed |= store_samples(station_pk=station_pk, evse_id=evse_id, session=session, samples=event.samples, save=False)
    if (
        session.status == SessionStatus.COMPLETED
        and session.meter_last_wh is not None
        and session.meter_stop_wh != session.meter_last_wh
        and not _stop_register_reported(session, event.samples)
    ):
        # Without a Transaction.End register the latest reading is the stop, and an event
        # from the offline queue that arrives after Ended may still carry a later one.
        session.meter_stop_wh = session.meter_last_wh
        changed |= {"meter_stop_wh"} | recompute_energy(session)
    if "reservation_id" in changed:
        _use_reservation(station_pk, session.reservation_id)
    if created:
        session.save()
        session_started.send(sender=ChargingSession, session=session)
    elif changed:
        session.save(update_fields=sorted(changed | {"updated_at"}))
    if session.status == SessionStatus.COMPLETED and not was_completed:
        _announce_completion(session)
    return SessionResult(session=session, authorization=auth)


def _remote_start_token(station_pk: int, remote_start_id: int) -> tuple[str, str] | None:
    """(value, type) of the token ChargeNet sent in the RequestStartTransaction with this
    remoteStartId. Some stations leave idToken out of the TransactionEvent that starts a
    remotely started session; without this the session would have no driver to bill."""
    request = (
        CommandLog.objects.filter(
            station_id=station_pk, ocpp_action="RequestStartTransaction", ocpp_request__remoteStartId=remote_start_id
        )
        .order_by("-pk")
        .values_list("ocpp_request", flat=True)
        .first()
    )
    token = request.get("idToken") if isinstance(request, dict) else None
    if not isinstance(token, dict) or not token.get("idToken"):
        return None
    return token["idToken"], token.get("type")


def _use_reservation(station_pk: int, reservation_id: int | None) -> None:
    """A session started on a reservation consumes it."""
    if reservation_id is not None:
        Reservation.objects.filter(pk=reservation_id, station_id=station_pk).update(status=ReservationStatus.USED)


def _announce_completion(session: ChargingSession) -> None:
    session_id = session.pk
    transaction.on_commit(lambda: session_completed.send(sender=ChargingSession, session_id=session_id))


def _stop_register_reported(session: ChargingSession, samples: list[Sample]) -> bool:
    if any(sample.is_energy_register and sample.context == ReadingContext.TRANSACTION_END for sample in samples):
        return True
    return MeterSample.objects.filter(
        session=session,
        context=ReadingContext.TRANSACTION_END,
        measurand=ENERGY_REGISTER,
        phase=Phase.NONE,
        location=Location.OUTLET,
    ).exists()
