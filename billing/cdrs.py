"""Charge detail records: a completed session, priced once against the tariff it started with.

`create_cdr` is what the `billing.price_session` task runs when a session completes. It is
idempotent (a second call returns the first CDR; two workers racing end with one CDR) and
writes the CDR and its VAT lines in one transaction. A CDR is immutable afterwards.

Decisions:
- A session to which no tariff applies (no snapshot, no assignment, no default) gets no CDR:
  it is logged, not priced at zero, so that free charging is always a tariff someone wrote.
- A session with zero energy still gets a CDR: a FLAT fee or parking time may apply.
- A session that cannot be priced (the pricing engine refuses its data) gets no CDR; the
  reason is logged at ERROR and `create_cdr` can be run again once it is fixed.
- The CDR id is "CNT" and the session's primary key, zero-padded: one CDR per session, so the
  id is known before the row exists and a repeated run can never mint a second one.
"""

import bisect
import logging
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction

from billing import feed_in
from billing.models import CdrVatLine, ChargeDetailRecord, SessionTariff
from billing.pricing import PricingError, Reading, SessionTimeline, price_session
from billing.signals import cdr_created
from billing.tariffs import group_tariff_of, resolve_tariff, tariff_to_ocpi
from stations.models import ChargingSession, Location, Measurand, MeterSample, Phase, SessionStatus
from stations.signals import announce_on_commit

logger = logging.getLogger(__name__)

CDR_ID_PREFIX = "CNT"
_ENERGY_REGISTER = Measurand.ENERGY_ACTIVE_IMPORT_REGISTER
_POWER = Measurand.POWER_ACTIVE_IMPORT
_PHASES = (Phase.L1, Phase.L2, Phase.L3)


def cdr_id_for(session_pk: int) -> str:
    return f"{CDR_ID_PREFIX}{session_pk:012d}"


def create_cdr(*, session_id: int) -> ChargeDetailRecord | None:
    """The CDR of a completed session, written now if it does not exist yet. None when the
    session is not completed, no tariff applies, or it cannot be priced (all logged)."""
    existing = ChargeDetailRecord.objects.filter(session_id=session_id).first()
    if existing is not None:
        return existing
    try:
        return _create_cdr(session_id)
    except IntegrityError:
        # Another worker priced the same session at the same moment: its CDR stands.
        existing = ChargeDetailRecord.objects.filter(session_id=session_id).first()
        if existing is None:
            raise
        return existing


@transaction.atomic
def _create_cdr(session_id: int) -> ChargeDetailRecord | None:
    session = (
        ChargingSession.objects.select_for_update(of=("self",))
        .select_related("station__site")
        .get(pk=session_id)
    )
    existing = ChargeDetailRecord.objects.filter(session=session).first()
    if existing is not None:
        return existing
    if session.status != SessionStatus.COMPLETED or session.started_at is None or session.stopped_at is None:
        logger.warning("session %s is not completed (or has no start/stop time): no CDR", session_id)
        return None
    tariff, time_zone = _tariff_of(session)
    if tariff is None:
        logger.info("no tariff applies to session %s (%s): no CDR", session_id, session.station.station_id)
        return None
    try:
        breakdown = price_session(tariff=tariff, timeline=session_timeline(session), time_zone=time_zone)
    except PricingError as error:
        logger.error("session %s cannot be priced with tariff %s: %s", session_id, tariff.get("id"), error)
        return None
    breakdown = feed_in.with_credit(breakdown, feed_in.credit_line(
        exported_wh=session.energy_exported_wh, price_per_kwh=_feed_in_price_of(session),
        currency=breakdown.currency,
    ))

    site = session.station.site
    cdr = ChargeDetailRecord.objects.create(
        session=session,
        cdr_id=cdr_id_for(session.pk),
        driver_id=session.driver_id,
        station_id_text=session.station.station_id,
        site_name=site.name if site is not None else "",
        id_token_value=session.id_token_value,
        start_date_time=session.started_at,
        end_date_time=session.stopped_at,
        time_zone=time_zone,
        currency=breakdown.currency,
        total_energy_kwh=breakdown.total_energy_kwh.quantize(Decimal("0.001"), ROUND_HALF_UP),
        total_energy_exported_kwh=(Decimal(session.energy_exported_wh) / 1000).quantize(Decimal("0.001")),
        total_time_h=breakdown.total_time_h.quantize(Decimal("0.0001"), ROUND_HALF_UP),
        total_parking_time_h=breakdown.total_parking_time_h.quantize(Decimal("0.0001"), ROUND_HALF_UP),
        total_cost_excl_vat=breakdown.total_excl_vat,
        total_vat=breakdown.total_vat,
        total_cost_incl_vat=breakdown.total_incl_vat,
        tariff=tariff,
        breakdown=breakdown.as_dict(),
    )
    CdrVatLine.objects.bulk_create(
        CdrVatLine(cdr=cdr, vat_rate=rate, base=base, vat=vat) for rate, (base, vat) in breakdown.vat_summary.items()
    )
    announce_on_commit(cdr_created, cdr_pk=cdr.pk)
    return cdr


def _feed_in_price_of(session: ChargingSession) -> Decimal | None:
    """The feed-in price snapshotted at session start (else the resolved tariff's now)."""
    if not session.energy_exported_wh:
        return None
    snapshot = SessionTariff.objects.filter(session=session).select_related("tariff").first()
    if snapshot is not None:
        return snapshot.feed_in_price
    tariff = resolve_tariff(session)
    return tariff.feed_in_price if tariff is not None else None


def _tariff_of(session: ChargingSession) -> tuple[dict | None, str]:
    """(the OCPI tariff to price with, the time zone of its restrictions)."""
    site = session.station.site
    snapshot = SessionTariff.objects.filter(session=session).first()
    if snapshot is None:
        # Started before billing was in place, or the snapshot failed: resolve as of the start.
        tariff = resolve_tariff(session)
        return (tariff_to_ocpi(tariff) if tariff is not None else None), (site.time_zone if site else "UTC")
    if not snapshot.driver_known and session.driver_id is not None:
        # 2.0.1 plug-in-first: the Started event came before the id token, so the snapshot
        # could not know the driver's groups. A group tariff that applies now takes over.
        tariff = group_tariff_of(session)
        if tariff is not None:
            snapshot.tariff, snapshot.snapshot, snapshot.driver_known = tariff, tariff_to_ocpi(tariff), True
            snapshot.feed_in_price = tariff.feed_in_price
            snapshot.save(update_fields=["tariff", "snapshot", "driver_known", "feed_in_price"])
    return snapshot.snapshot, snapshot.time_zone


def session_timeline(session: ChargingSession) -> SessionTimeline:
    """The session's energy register (and active power where reported) from start to stop.

    Readings: the outlet's Energy.Active.Import.Register samples, the meter start at
    ``started_at`` and the meter stop at ``stopped_at`` (they win over a sample at the same
    instant), rounded to Wh as the session's own energy is. Power.Active.Import: the total, or
    the sum of L1-L3 where only phases are reported. A register that steps back (a meter swap,
    a glitch) is held at its highest value so that energy is never negative."""
    start, end = session.started_at, session.stopped_at
    rows = MeterSample.objects.filter(
        session=session,
        measurand__in=(_ENERGY_REGISTER, _POWER),
        location=Location.OUTLET,
        timestamp__gte=start,
        timestamp__lte=end,
    ).values_list("timestamp", "measurand", "phase", "value")
    energy: dict = {}
    power_total: dict = {}
    power_phases: dict = {}
    for timestamp, measurand, phase, value in rows:
        if measurand == _ENERGY_REGISTER:
            if phase == Phase.NONE:
                energy[timestamp] = round(value)
        elif phase == Phase.NONE:
            power_total[timestamp] = value
        elif phase in _PHASES:
            power_phases[timestamp] = power_phases.get(timestamp, 0.0) + value
    if session.meter_start_wh is not None:
        energy[start] = session.meter_start_wh
    stop_wh = session.meter_stop_wh if session.meter_stop_wh is not None else session.meter_last_wh
    if stop_wh is not None:
        energy[end] = stop_wh

    times = sorted(energy)
    values: list[int] = []
    for moment in times:
        value = energy[moment]
        if values and value < values[-1]:
            if values[-1] - value > 1:
                logger.warning("session %s: energy register steps back at %s (%s -> %s Wh)",
                               session.pk, moment.isoformat(), values[-1], value)
            value = values[-1]
        values.append(value)

    def register_at(moment) -> float:
        """Linear between readings, flat outside them (the pricing engine's own model)."""
        if not times:
            return 0
        i = bisect.bisect_left(times, moment)
        if i < len(times) and times[i] == moment:
            return values[i]
        if i == 0:
            return values[0]
        if i == len(times):
            return values[-1]
        t0, t1, e0, e1 = times[i - 1], times[i], values[i - 1], values[i]
        return e0 + (e1 - e0) * ((moment - t0) / (t1 - t0))

    power = {**power_phases, **power_total}
    readings = [
        Reading(timestamp=moment, energy_wh=register_at(moment), power_w=power.get(moment))
        for moment in sorted(set(times) | set(power))
    ]
    return SessionTimeline(start=start, end=end, readings=readings)
