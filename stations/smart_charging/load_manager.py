"""The site load manager: from the database to ``allocate`` and back out as charging profiles.

A re-balance of one site: claim the site (a lease row, so two processes or workers never
re-balance the same site at once; a request meanwhile sets ``rebalance_pending`` and the
holder runs again), read the active sessions with their EVSE maximum, phases, measured
power, what their station holds and what the car asked for, plan departure-time sessions
into the cheapest or greenest hours, ``allocate`` the limit in force until the next run,
ask the ``RebalancePolicy`` which stations must hear about it, send those TxProfiles
(decreases first; the increases only once every decrease was accepted), and record a
point of the site's power chart.

V2X: on a site where a car may discharge (an OCPP 2.1 station, a bidirectional car that its
driver allowed to and that is above its minimum charge, a departure time), ``plan_v2x``
plans charging and discharging; a car planned to discharge now gets a 2.1 TxProfile with a
negative setpoint (CentralSetpoint) and sits out the allocation, whose limit grows by what
it feeds the site.

Each TxProfile holds the allocated limit for ``profile_validity_s`` and then falls to the
site's safe default: if ChargeNet stops, every EVSE is back at the TxDefaultProfile that
keeps the site within its limit however many cars charge. Profiles are renewed at half
their validity. OCPP 2.1 stations get one Dynamic profile per session instead, moved with
UpdateDynamicSchedule (``stations.smart_charging.dynamic``, which says how it stays safe).
"""

import logging
import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from asgiref.sync import sync_to_async
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from stations.load_management import (
    Allocation,
    DefaultLimit,
    RebalancePolicy,
    SentProfile,
    SessionDemand,
    SiteLimit,
    SiteLimitPeriod,
    V2xDemand,
    allocate,
    fallback_default_limit,
    plan_schedule,
    plan_v2x,
)
from stations.models import (
    Car,
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingSession,
    ChargingStation,
    CommandOutcome,
    ConnectorStatus,
    Evse,
    Measurand,
    MeterSample,
    Phase,
    ProfileSource,
    SessionLoadState,
    SessionStatus,
    Site,
    SiteLoadLimit,
    SiteLoadSample,
)
from stations.smart_charging import car_minimum, dynamic
from stations.smart_charging.profiles import (
    FALLBACK_PROFILE_ID,
    FALLBACK_STACK_LEVEL,
    LOAD_MANAGER_PROFILE_ID,
    LOAD_MANAGER_STACK_LEVEL,
)

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
MEASUREMENT_MAX_AGE = timedelta(minutes=10)
RETRY_AFTER_FAILURE_S = 15.0


# --- reading the site -------------------------------------------------------------------


def site_limit_of(config: SiteLoadLimit) -> SiteLimit:
    return SiteLimit(
        max_power_w=config.max_power_w,
        max_current_a=config.max_current_a,
        voltage_v=config.voltage_v,
        schedule=tuple(
            SiteLimitPeriod(start=p.start, max_power_w=p.max_power_w, max_current_a=p.max_current_a)
            for p in config.periods.all()
        ),
    )


def amps(power_w: int, phases: int, voltage_v: float) -> float:
    """Current on each phase used at ``power_w``, rounded down to 0.1 A (as the allocator)."""
    return math.floor(round(10 * power_w / (voltage_v * phases), 6)) / 10


def measured_power(session_pks: list[int], *, now: datetime) -> dict[int, float]:
    """Latest power per session: Power.Active.Import (total, else the sum over phases), else
    the slope of the last two energy register readings. Only recent readings count."""
    return _metered_power(session_pks, now=now, power=Measurand.POWER_ACTIVE_IMPORT,
                          register=Measurand.ENERGY_ACTIVE_IMPORT_REGISTER)


def measured_export_power(session_pks: list[int], *, now: datetime) -> dict[int, float]:
    """V2X: latest power each session fed back, read like ``measured_power`` from
    Power.Active.Export or the slope of the export register."""
    return _metered_power(session_pks, now=now, power=Measurand.POWER_ACTIVE_EXPORT,
                          register=Measurand.ENERGY_ACTIVE_EXPORT_REGISTER)


def _metered_power(session_pks: list[int], *, now: datetime, power: int, register: int) -> dict[int, float]:
    rows = (
        MeterSample.objects.filter(
            session_id__in=session_pks,
            timestamp__gte=now - MEASUREMENT_MAX_AGE,
            measurand__in=[power, register],
        )
        .order_by("session_id", "-timestamp")
        .values_list("session_id", "timestamp", "measurand", "phase", "value")
    )
    latest_power: dict[int, tuple[datetime, dict[int, float]]] = {}
    registers: dict[int, list[tuple[datetime, float]]] = {}
    for session_id, timestamp, measurand, phase, value in rows:
        if measurand == power:
            seen = latest_power.setdefault(session_id, (timestamp, {}))
            if seen[0] == timestamp:
                seen[1].setdefault(phase, value)
        elif phase == Phase.NONE and len(registers.setdefault(session_id, [])) < 2:
            registers[session_id].append((timestamp, value))
    watts = {}
    for session_id in session_pks:
        if session_id in latest_power:
            by_phase = latest_power[session_id][1]
            watts[session_id] = by_phase.get(Phase.NONE, sum(v for p, v in by_phase.items() if p != Phase.NONE))
        elif len(registers.get(session_id, [])) == 2:
            (t1, e1), (t0, e0) = registers[session_id]
            seconds = (t1 - t0).total_seconds()
            if seconds > 0:
                watts[session_id] = max(0.0, (e1 - e0) * 3600 / seconds)
    return watts


@dataclass
class SessionInfo:
    session: ChargingSession
    evse: Evse
    state: SessionLoadState
    demand: SessionDemand
    # V2X: the car the session's token charges (None: unknown, never discharged) and the net
    # energy at which it is at its minimum charge (``car_minimum.minimum_held_wh``).
    car: Car | None = None
    car_minimum_wh: float | None = None


def _demands(site: Site, *, now: datetime) -> list[SessionInfo]:
    sessions = list(
        ChargingSession.objects.filter(station__site=site, status=SessionStatus.ACTIVE, evse__isnull=False)
        .select_related("station", "evse", "connector", "driver", "id_token__car")
        .order_by("pk")
    )
    states = {s.session_id: s for s in SessionLoadState.objects.filter(session__in=sessions)}
    power = measured_power([s.pk for s in sessions], now=now)
    cars = {s.pk: s.id_token.car if s.id_token is not None else None for s in sessions}
    battery = car_minimum.batteries([s for s in sessions if cars[s.pk] is not None and cars[s.pk].has_minimum],
                                    now=now)
    infos = []
    for session in sessions:
        state = states.get(session.pk) or SessionLoadState(session=session)
        evse, station = session.evse, session.station
        max_power = evse.max_power_w
        if state.ev_max_power_w is not None:
            max_power = min(state.ev_max_power_w, max_power) if max_power is not None else state.ev_max_power_w
        if state.partner_limit_w is not None:
            max_power = min(state.partner_limit_w, max_power) if max_power is not None else state.partner_limit_w
        demand = SessionDemand(
            session_id=str(session.pk),
            max_power_w=max_power,
            max_current_a=evse.max_current_a,
            phases=state.ev_phases or evse.phases,
            phase=evse.phase,
            measured_power_w=power.get(session.pk),
            allowed_power_w=state.allowed_power_w,
            priority=state.priority,
            profile_rejected=station.accepts_profiles is False,
            offline=not station.is_online,
            suspended_ev=session.connector is not None and session.connector.status == ConnectorStatus.SUSPENDED_EV,
            departure=state.departure_at,
            energy_request_wh=(  # what the car still needs: it holds what it drew less what it fed back
                max(0, state.energy_request_wh - (session.energy_wh - session.energy_exported_wh))
                if state.energy_request_wh is not None else None
            ),
            arrival=session.pk,
        )
        car = cars[session.pk]
        car_minimum_wh = car_minimum.minimum_held_wh(
            car, battery.get(session.pk, car_minimum.Battery()), held_wh=session.energy_wh - session.energy_exported_wh)
        infos.append(SessionInfo(session=session, evse=evse, state=state, demand=demand, car=car,
                                 car_minimum_wh=car_minimum_wh))
    return infos


def _curve(config: SiteLoadLimit) -> list[tuple[datetime, float]]:
    points = []
    for start, value in config.curve or []:
        points.append((datetime.fromisoformat(str(start).replace("Z", "+00:00")), float(value)))
    return sorted(points)


def _planned_caps(config: SiteLoadLimit, limit: SiteLimit, infos: list[SessionInfo], now: datetime) -> dict[str, int]:
    """Caps from the price/PV plan for sessions with a departure time and an energy request."""
    if not config.optimise_for:
        return {}
    curve = _curve(config)
    if not curve or curve[0][0] > now:
        return {}
    # A session on priority charging charges now, at what the allocator gives it: not planned.
    demands = [i.demand for i in infos if not i.demand.priority]
    if not any(d.departure and d.energy_request_wh for d in demands):
        return {}
    prefer = "lowest" if config.optimise_for == SiteLoadLimit.Optimise.PRICE else "highest"
    schedules = plan_schedule(limit, demands, start=now, curve=curve, prefer=prefer)
    return {sid: schedule.limit_at(now) for sid, schedule in schedules.items()}


V2X_STATIONS = {"2.1"}


@dataclass(frozen=True)
class Discharge:
    """A car planned to feed the site now: ``setpoint_w`` < 0."""

    setpoint_w: int
    max_discharge_w: int


def may_discharge(info: SessionInfo) -> bool:
    """The car (the one the session's token charges) asked for it and its driver allowed it,
    it is above the minimum charge its driver set, its station allows it, and it says when
    it leaves. A session whose car is unknown never discharges."""
    session, state = info.session, info.state
    held = session.energy_wh - session.energy_exported_wh
    return (
        session.station.ocpp_version in V2X_STATIONS
        and state.can_discharge
        and info.car is not None
        and info.car.allow_discharge
        and (info.car_minimum_wh is None or info.car_minimum_wh < held)
        and state.departure_at is not None
        and info.demand.controlled
    )


def _v2x_discharges(config: SiteLoadLimit, limit: SiteLimit, infos: list[SessionInfo], now: datetime):
    """The cars to discharge now and by how much, from a V2X plan of the site (empty when no
    car may discharge). Sessions without a departure, and sessions on priority charging, count as
    the site's other load, at their maximum; a car stays above what it held at the start of the
    plan minus its room to its minimum state of charge (``ev_min_energy_request_wh``), or above
    the minimum charge its driver set (``car_minimum_wh``) where that is stricter."""
    if not any(may_discharge(i) and not i.demand.priority for i in infos):
        return {}
    cars, other_w = [], 0.0
    for info in infos:
        demand, state = info.demand, info.state
        # A car on priority charging draws its maximum now, like a session without a plan.
        if demand.departure is None or not demand.controlled or demand.priority:
            other_w += demand.max_power_w if demand.max_power_w is not None else (
                (demand.max_current_a or 0) * config.voltage_v * demand.phases)
            continue
        held = info.session.energy_wh - info.session.energy_exported_wh
        floor = 0.0
        if state.ev_min_energy_request_wh is not None:
            floor = min(0.0, float(state.ev_min_energy_request_wh - held))
        if info.car_minimum_wh is not None:  # the minimum charge its driver set, where stricter
            floor = max(floor, min(0.0, float(info.car_minimum_wh - held)))
        ceiling = None if state.ev_max_energy_request_wh is None else max(0.0, state.ev_max_energy_request_wh - held)
        evse_max = demand.max_power_w if demand.max_power_w is not None else (
            (demand.max_current_a or 0) * config.voltage_v * demand.phases)
        cars.append(V2xDemand(
            session_id=demand.session_id, max_charge_w=evse_max, departure=max(demand.departure, now),
            energy_request_wh=demand.energy_request_wh or 0, max_discharge_w=state.ev_max_discharge_power_w or 0,
            may_discharge=may_discharge(info), floor_wh=floor, ceiling_wh=ceiling, phases=demand.phases,
            phase=demand.phase, arrival=demand.arrival,
        ))
    curve = _curve(config) if config.optimise_for == SiteLoadLimit.Optimise.PRICE else []
    plan = plan_v2x(
        limit, cars, start=now, export_limit_w=config.max_export_power_w, site_load=[(now, other_w)],
        price=curve if curve and curve[0][0] <= now else [], slot=timedelta(minutes=15),
    )
    return {
        car.session_id: Discharge(setpoint_w=math.ceil(plan.power_at(car.session_id, now)),
                                  max_discharge_w=int(car.max_discharge_w))
        for car in cars
        if car.may_discharge and plan.power_at(car.session_id, now) <= -1
    }


def _with_discharge(limit: SiteLimit, infos: list[SessionInfo], discharges: dict[str, Discharge]) -> SiteLimit:
    """The site limit for ``allocate`` grown by what discharging cars feed it: the total by
    their power, each phase by a three-phase car's share (a single-phase car's phase is not
    raised: the limit is the same on every phase)."""
    if not discharges:
        return limit
    phases = {i.demand.session_id: i.demand.phases for i in infos}
    fed_w = sum(-d.setpoint_w for d in discharges.values())
    fed_a = sum(-d.setpoint_w / (3 * limit.voltage_v) for sid, d in discharges.items() if phases[sid] == 3)

    def grown(power, current):
        return (None if power is None else power + fed_w), (None if current is None else current + fed_a)

    power, current = grown(limit.max_power_w, limit.max_current_a)
    schedule = tuple(
        SiteLimitPeriod(p.start, *grown(p.max_power_w, p.max_current_a)) for p in limit.schedule
    )
    return SiteLimit(max_power_w=power, max_current_a=current, voltage_v=limit.voltage_v, schedule=schedule)


# --- the plan ---------------------------------------------------------------------------


@dataclass
class ProfileToSend:
    session_pk: int
    station_id: str
    limit_w: int
    params: dict
    decrease: bool
    setpoint_w: int | None = None  # V2X: a discharge setpoint (negative W)
    dynamic_params: dict | None = None  # the same as a 2.1 Dynamic profile, for stations that take them


@dataclass
class RebalancePlan:
    site_pk: int
    at: datetime
    allocation: Allocation | None
    to_send: list[ProfileToSend] = field(default_factory=list)
    sample: SiteLoadSample | None = None
    next_change: datetime | None = None
    active_sessions: int = 0


def tx_profile_params(
    *, session: ChargingSession, evse: Evse, limit_w: int, fallback: DefaultLimit, voltage_v: float,
    validity_s: int, now: datetime, phases: int | None = None,
) -> dict:
    """The load manager's TxProfile: ``limit_w`` now, the safe default after ``validity_s``
    (never more than now)."""
    unit = session.station.charging_rate_unit
    phases = phases or evse.phases
    if unit == "A":
        limit = amps(limit_w, phases, voltage_v)
        fallback = min(fallback.limit_a, limit)
    else:
        limit, fallback = limit_w, min(fallback.limit_w, limit_w)
    periods = [{"start_period_s": 0, "limit": limit, "number_phases": phases}]
    if fallback != limit:
        periods.append({"start_period_s": validity_s, "limit": fallback, "number_phases": phases})
    return {
        "evse_id": evse.evse_id,
        "purpose": ChargingProfilePurpose.TX,
        "stack_level": LOAD_MANAGER_STACK_LEVEL,
        "kind": ChargingProfileKind.ABSOLUTE,
        "charging_rate_unit": unit,
        "start_schedule": now.replace(microsecond=0),
        "periods": periods,
        "transaction_id": session.transaction_id,
        "profile_id": LOAD_MANAGER_PROFILE_ID + evse.evse_id,
        "source": ProfileSource.LOAD_MANAGER,
    }


def fallback_limit(site: Site, config: SiteLoadLimit) -> DefaultLimit:
    """The TxDefaultProfile limit that keeps the site safe with every EVSE charging."""
    evses = list(Evse.objects.filter(station__site=site).select_related("station"))
    managed = [e for e in evses if e.station.accepts_profiles is not False]
    unmanaged = [
        SessionDemand(
            session_id=f"evse-{e.pk}", max_power_w=e.max_power_w, max_current_a=e.max_current_a, phases=e.phases,
            phase=e.phase,
        )
        for e in evses
        if e.station.accepts_profiles is False
    ]
    if not managed:
        return DefaultLimit(limit_w=0, limit_a=0.0)
    max_a = max(e.max_current_a for e in managed)
    return fallback_default_limit(site_limit_of(config), len(managed), evse_max_current_a=max_a, unmanaged=unmanaged)


@transaction.atomic
def plan_rebalance(*, site_pk: int, now: datetime | None = None) -> RebalancePlan:
    now = now or timezone.now()
    config = SiteLoadLimit.objects.select_related("site").prefetch_related("periods").get(site_id=site_pk)
    site = config.site
    if not config.enabled:
        return RebalancePlan(site_pk=site_pk, at=now, allocation=None)
    limit = site_limit_of(config)
    infos = _demands(site, now=now)
    caps = _planned_caps(config, limit, infos, now)
    discharges = _v2x_discharges(config, limit, infos, now)
    demands = []
    for info in infos:
        demand = info.demand
        if demand.session_id in discharges:
            # It feeds the site rather than drawing from it: its limit is 0 while it discharges.
            demand = SessionDemand(**{**demand.__dict__, "max_power_w": 0, "max_current_a": None})
        elif demand.session_id in caps:
            cap = caps[demand.session_id]
            own = demand.max_power_w if demand.max_power_w is not None else math.inf
            demand = SessionDemand(**{**demand.__dict__, "max_power_w": min(own, cap)})
        demands.append(demand)
    interval = timedelta(seconds=config.meter_rebalance_interval_s)
    allocation = allocate(_with_discharge(limit, infos, discharges), demands, at=now, until=now + interval)
    policy = RebalancePolicy(min_interval=timedelta(seconds=config.min_interval_s), dead_band_w=config.dead_band_w)
    sent = {
        str(i.session.pk): SentProfile(limit_w=i.state.allowed_power_w, sent_at=i.state.allowed_at)
        for i in infos
        if i.state.allowed_power_w is not None and i.state.allowed_at is not None
    }
    due = policy.due(allocation, sent)
    by_id = {str(i.session.pk): i for i in infos}
    fallback = fallback_limit(site, config)
    to_send = []
    renew_before = now - timedelta(seconds=config.profile_validity_s / 2)
    for sid, discharge in discharges.items():  # sent first, with the decreases: the others' room relies on it
        info = by_id[sid]
        held = info.state.setpoint_w
        if held is None or abs(held - discharge.setpoint_w) >= config.dead_band_w or (
            info.state.allowed_at is not None and info.state.allowed_at <= renew_before
        ):
            to_send.append(_discharge_profile(info, discharge, config, now, fallback))
    # A car that stops discharging hears it now, whatever the policy's interval: its station
    # would otherwise keep feeding the site on the old setpoint.
    stopped = [sid for sid, i in by_id.items() if i.state.setpoint_w is not None and sid not in discharges]
    due = [*due, *(sid for sid in stopped if sid not in due)]
    for sid in due:
        if sid in discharges:
            continue
        info = by_id[sid]
        limit_w = allocation.limits[sid].limit_w
        previous = info.state.allowed_power_w
        decrease = previous is not None and limit_w < previous
        to_send.append(_profile(info, limit_w, fallback, config, now, decrease=decrease))
    for sid, info in by_id.items():  # renew what the stations hold before it falls to the default
        if sid in due or sid in discharges or not allocation.limits[sid].controlled or info.state.allowed_at is None:
            continue
        if info.state.allowed_at <= renew_before:
            to_send.append(_profile(info, info.state.allowed_power_w, fallback, config, now, decrease=False))

    for info in infos:
        queued = str(info.session.pk) in allocation.queued
        if info.state.pk is None or info.state.queued != queued:
            info.state.queued = queued
            info.state.save()
    measured = sum(d.measured_power_w or 0 for d in demands)
    # The grid's limit, not the one grown by discharge: allocated - discharge stays within it.
    site_w = _site_limit_w(replace(allocation, site=limit.lowest(now, now + interval)))
    sample = SiteLoadSample(
        site=site,
        at=now,
        limit_w=site_w,
        allocated_w=allocation.total_w,
        discharge_w=sum(-d.setpoint_w for d in discharges.values()),
        measured_w=int(measured),
        measured_export_w=int(sum(measured_export_power([i.session.pk for i in infos], now=now).values())),
        export_limit_w=config.max_export_power_w,
        sessions=len(demands),
        queued=len(allocation.queued),
    )
    return RebalancePlan(
        site_pk=site_pk,
        at=now,
        allocation=allocation,
        to_send=to_send,
        sample=sample,
        next_change=limit.next_change(now),
        active_sessions=len(demands),
    )


def _profile(info: SessionInfo, limit_w: int, fallback: DefaultLimit, config: SiteLoadLimit, now, *, decrease):
    params = tx_profile_params(
        session=info.session, evse=info.evse, limit_w=limit_w, fallback=fallback, voltage_v=config.voltage_v,
        validity_s=config.profile_validity_s, now=now, phases=info.demand.phases,
    )
    return ProfileToSend(
        session_pk=info.session.pk, station_id=info.session.station.station_id, limit_w=limit_w, params=params,
        decrease=decrease, dynamic_params=_dynamic(info, params, config),
    )


def _dynamic(info: SessionInfo, params: dict, config: SiteLoadLimit) -> dict | None:
    if not dynamic.takes_dynamic(info.session.station):
        return None
    return dynamic.as_dynamic(params, validity_s=config.profile_validity_s)


def discharge_profile_params(
    *, session: ChargingSession, evse: Evse, setpoint_w: int, max_discharge_w: int, voltage_v: float, phases: int,
    validity_s: int, now: datetime, fallback: DefaultLimit,
) -> dict:
    """The 2.1 TxProfile of a discharging car: CentralSetpoint at ``setpoint_w`` (negative)
    within its discharge limit and no charging, for ``validity_s``; then charging only, at the
    site's safe default, so a car is never left discharging when ChargeNet is gone."""
    unit = session.station.charging_rate_unit
    scale = 1.0 if unit == "W" else 1 / (voltage_v * phases)  # A: per phase
    setpoint = round(setpoint_w * scale, 1)
    discharge_limit = round(-max_discharge_w * scale, 1)
    after = fallback.limit_w if unit == "W" else fallback.limit_a
    return {
        "evse_id": evse.evse_id,
        "purpose": ChargingProfilePurpose.TX,
        "stack_level": LOAD_MANAGER_STACK_LEVEL,
        "kind": ChargingProfileKind.ABSOLUTE,
        "charging_rate_unit": unit,
        "start_schedule": now.replace(microsecond=0),
        "periods": [
            {"start_period_s": 0, "limit": 0, "number_phases": phases, "operation_mode": "CentralSetpoint",
             "setpoint": max(setpoint, discharge_limit), "discharge_limit": discharge_limit},
            {"start_period_s": validity_s, "limit": after, "number_phases": phases, "operation_mode": "ChargingOnly"},
        ],
        "transaction_id": session.transaction_id,
        "profile_id": LOAD_MANAGER_PROFILE_ID + evse.evse_id,
        "source": ProfileSource.LOAD_MANAGER,
    }


def _discharge_profile(
    info: SessionInfo, discharge: Discharge, config: SiteLoadLimit, now, fallback: DefaultLimit
) -> ProfileToSend:
    params = discharge_profile_params(
        session=info.session, evse=info.evse, setpoint_w=discharge.setpoint_w,
        max_discharge_w=discharge.max_discharge_w, voltage_v=config.voltage_v, phases=info.demand.phases,
        validity_s=config.profile_validity_s, now=now, fallback=fallback,
    )
    return ProfileToSend(
        session_pk=info.session.pk, station_id=info.session.station.station_id, limit_w=0, params=params,
        decrease=True, setpoint_w=discharge.setpoint_w, dynamic_params=_dynamic(info, params, config),
    )


def _site_limit_w(allocation: Allocation) -> int | None:
    site = allocation.site
    values = []
    if site.max_power_w is not None:
        values.append(site.max_power_w)
    if site.max_current_a is not None:
        values.append(site.max_current_a * site.voltage_v * 3)
    return int(min(values)) if values else None


def record_sent(*, session_pk: int, limit_w: int, at: datetime, setpoint_w: int | None = None) -> None:
    SessionLoadState.objects.update_or_create(
        session_id=session_pk, defaults={"allowed_power_w": limit_w, "allowed_at": at, "setpoint_w": setpoint_w}
    )


def save_sample(sample: SiteLoadSample, profiles_sent: int) -> None:
    sample.profiles_sent = profiles_sent
    sample.save()


# --- one site at a time ----------------------------------------------------------------


def claim(*, site_pk: int) -> bool:
    """Take the site's re-balance lease, or leave a request for whoever holds it.

    The request flag is raised before the lease is tried: a holder that releases in
    between then sees it and plans once more, so no request is lost to the race."""
    now = timezone.now()
    SiteLoadLimit.objects.filter(site_id=site_pk).update(rebalance_pending=True)
    taken = SiteLoadLimit.objects.filter(site_id=site_pk).filter(
        Q(rebalance_lease_until__isnull=True) | Q(rebalance_lease_until__lt=now)
    ).update(rebalance_lease_until=now + LEASE, rebalance_pending=False)
    return bool(taken)


def release(*, site_pk: int) -> bool:
    """Give the lease back; True if a request came in meanwhile (run again, lease kept)."""
    now = timezone.now()
    released = SiteLoadLimit.objects.filter(site_id=site_pk, rebalance_pending=False).update(
        rebalance_lease_until=None, last_rebalanced_at=now
    )
    if released:
        return False
    SiteLoadLimit.objects.filter(site_id=site_pk).update(
        rebalance_pending=False, rebalance_lease_until=now + LEASE, last_rebalanced_at=F("last_rebalanced_at")
    )
    return True


@dataclass(frozen=True)
class RebalanceOutcome:
    site_pk: int
    ran: bool
    sessions: int = 0
    profiles_sent: int = 0
    failures: int = 0
    next_change: datetime | None = None


async def rebalance_site_async(site_pk: int) -> RebalanceOutcome:
    """Re-balance one site now (see the module docstring). Safe to call from any process."""
    run = sync_to_async(_call, thread_sensitive=False)
    if not await run(claim, site_pk=site_pk):
        return RebalanceOutcome(site_pk=site_pk, ran=False)
    sent = failures = sessions = 0
    next_change = None
    try:
        while True:
            plan: RebalancePlan = await run(plan_rebalance, site_pk=site_pk)
            sessions, next_change = plan.active_sessions, plan.next_change
            round_failures = 0
            # Decreases first; an increase only once every decrease is in force.
            for item in sorted(plan.to_send, key=lambda p: not p.decrease):
                if not item.decrease and round_failures:
                    break
                result = await _send_profile(item)
                if result.outcome == CommandOutcome.ACCEPTED:
                    sent += 1
                    await run(record_sent, session_pk=item.session_pk, limit_w=item.limit_w, at=plan.at,
                              setpoint_w=item.setpoint_w)
                else:
                    round_failures += 1
                    logger.warning(
                        "site %s: profile for session %s not in force (%s %s)",
                        site_pk, item.session_pk, result.outcome, result.error or result.status or "",
                    )
            failures += round_failures
            if plan.sample is not None:
                await run(save_sample, plan.sample, sent)
            if not await run(release, site_pk=site_pk):
                break
    except BaseException:
        await run(_drop_lease, site_pk=site_pk)
        raise
    # The caller (dispatch, the Celery task) tries again after RETRY_AFTER_FAILURE_S when failures > 0.
    return RebalanceOutcome(
        site_pk=site_pk, ran=True, sessions=sessions, profiles_sent=sent, failures=failures, next_change=next_change
    )


async def _send_profile(item: ProfileToSend):
    """Put the item's limit (or setpoint) in force. A 2.1 station that holds the session's
    Dynamic profile gets an UpdateDynamicSchedule; otherwise it gets the Dynamic profile, and a
    station that refuses Dynamic profiles the Absolute one (from then on, straight away)."""
    from stations.commands.service import send_command_async

    run = sync_to_async(_call, thread_sensitive=False)
    send = dict(station_id=item.station_id, source="load_manager")
    if item.dynamic_params is not None:
        if await run(dynamic.holds, station_id=item.station_id, dynamic_params=item.dynamic_params):
            result = await send_command_async(
                command="update_dynamic_schedule", params=dynamic.update_of(item.dynamic_params), **send)
            if result.outcome == CommandOutcome.ACCEPTED:
                return result
            if result.outcome in (CommandOutcome.OFFLINE, CommandOutcome.TIMEOUT):
                return result  # tried again like any failure
            # Rejected (it lost the profile, e.g. rebooted) or a CALLERROR: the profile anew.
        result = await send_command_async(command="set_charging_profile", params=item.dynamic_params, **send)
        refused = await run(_refuses_dynamic, item.station_id)
        if result.outcome == CommandOutcome.ACCEPTED or not refused:
            return result
    return await send_command_async(command="set_charging_profile", params=item.params, **send)


def _refuses_dynamic(station_id: str) -> bool:
    return ChargingStation.objects.filter(station_id=station_id, accepts_dynamic_profiles=False).exists()


def _drop_lease(*, site_pk: int) -> None:
    SiteLoadLimit.objects.filter(site_id=site_pk).update(rebalance_lease_until=None)


def _call(func, *args, **kwargs):
    from django.db import close_old_connections

    close_old_connections()
    try:
        return func(*args, **kwargs)
    finally:
        close_old_connections()


# --- the safe default ------------------------------------------------------------------


def fallback_profile_params(*, station: ChargingStation, config: SiteLoadLimit) -> dict:
    default = fallback_limit(config.site, config)
    phases = max((e.phases for e in station.evses.all()), default=3)
    limit = default.limit_a if station.charging_rate_unit == "A" else default.limit_w
    return {
        "evse_id": 0,
        "purpose": ChargingProfilePurpose.TX_DEFAULT,
        "stack_level": FALLBACK_STACK_LEVEL,
        "kind": ChargingProfileKind.RELATIVE,
        "charging_rate_unit": station.charging_rate_unit,
        "periods": [{"start_period_s": 0, "limit": limit, "number_phases": phases}],
        "profile_id": FALLBACK_PROFILE_ID,
        "source": ProfileSource.FALLBACK,
    }


def fallback_targets(*, site_pk: int, station_pk: int | None = None) -> list[tuple[str, dict]]:
    """(station id, TxDefaultProfile params) for the site's online stations that take profiles."""
    config = SiteLoadLimit.objects.select_related("site").prefetch_related("periods").filter(
        site_id=site_pk, enabled=True
    ).first()
    if config is None:
        return []
    stations = ChargingStation.objects.filter(site_id=site_pk, is_online=True).exclude(accepts_profiles=False)
    if station_pk is not None:
        stations = stations.filter(pk=station_pk)
    return [
        (station.station_id, fallback_profile_params(station=station, config=config))
        for station in stations.prefetch_related("evses")
    ]


async def send_fallback_async(*, site_pk: int, station_pk: int | None = None) -> int:
    """Send the site's safe TxDefaultProfile to its stations (one, or all online)."""
    from stations.commands.service import send_command_async

    run = sync_to_async(_call, thread_sensitive=False)
    targets = await run(fallback_targets, site_pk=site_pk, station_pk=station_pk)
    accepted = 0
    for station_id, params in targets:
        result = await send_command_async(
            station_id=station_id, command="set_charging_profile", params=params, source="load_manager"
        )
        accepted += result.outcome == CommandOutcome.ACCEPTED
    return accepted
