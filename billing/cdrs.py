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
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction

from billing import feed_in
from billing.market import follow_market, points_between
from billing.models import CdrVatLine, ChargeDetailRecord, MarketPriceFeed, SessionTariff
from billing.pricing import PriceBreakdown, PricingError, Reading, SessionTimeline, price_session
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
    tariff, time_zone, feed = _tariff_of(session)
    if tariff is None:
        logger.info("no tariff applies to session %s (%s): no CDR", session_id, session.station.station_id)
        return None
    try:
        tariff, breakdown = price_timeline(tariff=tariff, time_zone=time_zone, feed=feed,
                                           timeline=session_timeline(session), session=session)
    except PricingError as error:
        logger.error("session %s cannot be priced with tariff %s: %s", session_id, tariff.get("id"), error)
        return None

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


def _tariff_of(session: ChargingSession) -> tuple[dict | None, str, MarketPriceFeed | None]:
    """(the OCPI tariff to price with, the time zone of its restrictions, its market feed)."""
    return session_tariff(session, refresh_group=True)


def session_tariff(session: ChargingSession, *, refresh_group: bool = False,
                   ) -> tuple[dict | None, str, MarketPriceFeed | None]:
    """The tariff a session is priced with: its snapshot, or (no snapshot) the one that applied
    at its start. ``refresh_group``: a 2.0.1 session whose driver became known after the start
    takes a group tariff that applies now, and the snapshot records it (the CDR does this; a
    running-cost look-up only reads)."""
    site = session.station.site
    snapshot = SessionTariff.objects.filter(session=session).select_related("market_feed").first()
    if snapshot is None:
        # Started before billing was in place, or the snapshot failed: resolve as of the start.
        tariff = resolve_tariff(session)
        if tariff is None:
            return None, (site.time_zone if site else "UTC"), None
        return tariff_to_ocpi(tariff), (site.time_zone if site else "UTC"), tariff.market_feed
    if not snapshot.driver_known and session.driver_id is not None:
        # 2.0.1 plug-in-first: the Started event came before the id token, so the snapshot
        # could not know the driver's groups. A group tariff that applies now takes over.
        tariff = group_tariff_of(session)
        if tariff is not None:
            if not refresh_group:
                return tariff_to_ocpi(tariff), snapshot.time_zone, tariff.market_feed
            snapshot.tariff, snapshot.snapshot, snapshot.driver_known = tariff, tariff_to_ocpi(tariff), True
            snapshot.market_feed = tariff.market_feed
            snapshot.feed_in_price = tariff.feed_in_price
            snapshot.save(update_fields=["tariff", "snapshot", "driver_known", "market_feed", "feed_in_price"])
    return snapshot.snapshot, snapshot.time_zone, snapshot.market_feed


def price_timeline(*, tariff: dict, time_zone: str, feed: MarketPriceFeed | None,
                   timeline: SessionTimeline, session: ChargingSession | None = None) -> tuple[dict, PriceBreakdown]:
    """(the tariff as priced, the breakdown): the one way a session is priced, for CDRs and for
    running costs. A dynamic tariff gets the market prices stored for the timeline's span;
    ``session``: its V2X feed-in credit so far is a line of the breakdown."""
    if feed is not None:
        tariff = follow_market(tariff, feed=feed, points=points_between(feed.pk, timeline.start, timeline.end),
                               time_zone=time_zone)
    breakdown = price_session(tariff=tariff, timeline=timeline, time_zone=time_zone)
    if session is not None and session.energy_exported_wh:
        breakdown = feed_in.with_credit(breakdown, feed_in.credit_line(
            exported_wh=session.energy_exported_wh, price_per_kwh=_feed_in_price_of(session),
            currency=breakdown.currency,
        ))
    return tariff, breakdown


def session_timeline(session: ChargingSession, *, end=None) -> SessionTimeline:
    """The session's energy register (and active power where reported) from start to stop.

    Readings: the outlet's Energy.Active.Import.Register samples, the meter start at
    ``started_at`` and the meter stop at ``stopped_at`` (they win over a sample at the same
    instant), rounded to Wh as the session's own energy is. Power.Active.Import: the total, or
    the sum of L1-L3 where only phases are reported. A register that steps back (a meter swap,
    a glitch) is held at its highest value so that energy is never negative.

    ``end``: for a session still running, the instant to price up to; the register is held at
    the last reading (``meter_last_wh``) from that reading to ``end``."""
    start, end = session.started_at, end or session.stopped_at
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


def record_resold_cdr(*, cdr_id: str, driver_id: int, station_id_text: str, site_name: str, id_token_value: str,
                      start: datetime, end: datetime, time_zone: str, currency: str, energy_kwh: Decimal,
                      time_h: Decimal, vat_lines: dict[Decimal | None, tuple[Decimal, Decimal]], tariff: dict,
                      breakdown: dict) -> ChargeDetailRecord:
    """A charge our driver made elsewhere (a roaming partner's charger), resold to the driver:
    a CDR without a session of ours, its amounts given per VAT rate as ``{rate: (base, vat)}``
    (rate None: no VAT), invoiced like any other (same monthly run, same gapless numbers,
    once). Idempotent on ``cdr_id``. No ``cdr_created`` signal: it is not ours to push."""
    existing = ChargeDetailRecord.objects.filter(cdr_id=cdr_id).first()
    if existing is not None:
        return existing
    cent = Decimal("0.01")
    lines = {rate: (base.quantize(cent, ROUND_HALF_UP), vat.quantize(cent, ROUND_HALF_UP))
             for rate, (base, vat) in vat_lines.items()}
    excl = sum((base for base, _ in lines.values()), Decimal("0.00"))
    vat = sum((vat for _, vat in lines.values()), Decimal("0.00"))
    with transaction.atomic():
        cdr = ChargeDetailRecord.objects.create(
            session=None, cdr_id=cdr_id, driver_id=driver_id, station_id_text=station_id_text[:48],
            site_name=site_name[:200], id_token_value=id_token_value, start_date_time=start, end_date_time=end,
            time_zone=time_zone, currency=currency, total_energy_kwh=energy_kwh.quantize(Decimal("0.001")),
            total_time_h=time_h.quantize(Decimal("0.0001")), total_cost_excl_vat=excl, total_vat=vat,
            total_cost_incl_vat=excl + vat, tariff=tariff, breakdown=breakdown,
        )
        CdrVatLine.objects.bulk_create(CdrVatLine(cdr=cdr, vat_rate=rate, base=base, vat=line_vat)
                                       for rate, (base, line_vat) in lines.items())
    return cdr
