"""Load never exceeds the site limit: property tests (hypothesis) on the site load manager's
allocator, re-balancing policy, schedules and fallback limit.

Sites, sessions and meter values are random. The checks are written independently of the
module, in exact arithmetic (``Fraction``): site limits in force are recomputed from the
schedule, a three-phase car puts a third of its power on each phase, and the site's
per-phase limit is I x V per phase.
"""

import math
import random
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from stations.load_management import (
    RebalancePolicy,
    SentProfile,
    SessionDemand,
    SiteLimit,
    SiteLimitPeriod,
    allocate,
    fallback_default_limit,
    plan_schedule,
)

T0 = datetime(2025, 6, 2, 6, 0, tzinfo=UTC)
PROPERTY_SETTINGS = settings(max_examples=150, deadline=None)
HEADROOM_A, HEADROOM_RATIO = 1.0, 0.1  # allocate()'s defaults


# --- strategies ------------------------------------------------------------------------------


def optional(strategy):
    return st.none() | strategy


deci_amps = st.integers(min_value=0, max_value=4_000).map(lambda d: d / 10)


@st.composite
def sites(draw) -> SiteLimit:
    """A static limit and/or a schedule that lowers it (or, alone, is the limit)."""
    power = draw(optional(st.integers(min_value=0, max_value=400_000)))
    current = draw(optional(deci_amps))
    offsets = draw(st.lists(st.integers(min_value=0, max_value=600), max_size=3, unique=True))
    schedule = tuple(
        SiteLimitPeriod(
            T0 + timedelta(minutes=offset),
            max_power_w=draw(optional(st.integers(min_value=0, max_value=400_000))),
            max_current_a=draw(optional(deci_amps)),
        )
        for offset in sorted(offsets)
    )
    schedule_alone = schedule and all(p.max_power_w is not None or p.max_current_a is not None for p in schedule)
    if power is None and current is None and not schedule_alone:
        power = draw(st.integers(min_value=0, max_value=400_000))
    voltage = draw(st.sampled_from([220, 230, 240]))
    return SiteLimit(max_power_w=power, max_current_a=current, voltage_v=voltage, schedule=schedule)


@st.composite
def demands(draw, session_id: str) -> SessionDemand:
    max_power = draw(optional(st.integers(min_value=0, max_value=60_000)))
    max_current = draw(optional(st.integers(min_value=0, max_value=800).map(lambda d: d / 10)))
    if max_power is None and max_current is None:
        max_current = draw(st.integers(min_value=60, max_value=800).map(lambda d: d / 10))
    watts = st.floats(min_value=0, max_value=60_000, allow_nan=False)
    return SessionDemand(
        session_id=session_id,
        max_power_w=max_power,
        max_current_a=max_current,
        phases=draw(st.sampled_from([1, 3])),
        phase=draw(st.sampled_from([1, 2, 3])),
        measured_power_w=draw(optional(watts)),
        allowed_power_w=draw(optional(watts)),
        priority=draw(st.integers(min_value=0, max_value=2)),
        min_power_w=draw(optional(st.integers(min_value=0, max_value=80_000).map(lambda d: d / 10))),
        profile_rejected=draw(st.integers(0, 12)) == 0,
        offline=draw(st.integers(0, 12)) == 0,
        suspended_ev=draw(st.integers(0, 8)) == 0,
        arrival=draw(st.integers(min_value=0, max_value=50)),
    )


@st.composite
def situations(draw, max_sessions: int = 30):
    """A site, sessions, and an instant [at, until) at which a limit is in force."""
    site = draw(sites())
    count = draw(st.integers(min_value=0, max_value=max_sessions))
    sessions = [draw(demands(f"S{i}")) for i in range(count)]
    earliest = 0
    if site.max_power_w is None and site.max_current_a is None:  # the schedule must be in force
        earliest = int((site.schedule[0].start - T0).total_seconds())
    at = T0 + timedelta(seconds=draw(st.integers(min_value=earliest, max_value=12 * 3600)))
    until = draw(optional(st.integers(min_value=1, max_value=3600).map(lambda s: at + timedelta(seconds=s))))
    return site, sessions, at, until


# --- the rules, restated independently ------------------------------------------------------

Load = tuple[Fraction, list[Fraction]]  # total W, W on each phase


def limits_in_force(site: SiteLimit, at: datetime, until: datetime | None) -> list[tuple[Fraction | None, ...]]:
    """(W, A on each phase) in force at ``at`` and at every period start in (at, until)."""
    instants = [at] + [p.start for p in site.schedule if until is not None and at < p.start < until]
    result = []
    for instant in instants:
        periods = [p for p in site.schedule if p.start <= instant][-1:]
        power = [v for v in [site.max_power_w, *(p.max_power_w for p in periods)] if v is not None]
        current = [v for v in [site.max_current_a, *(p.max_current_a for p in periods)] if v is not None]
        result.append((Fraction(min(power)) if power else None, Fraction(str(min(current))) if current else None))
    return result


def phase_shares(session: SessionDemand) -> list[Fraction]:
    if session.phases == 3:
        return [Fraction(1, 3)] * 3
    return [Fraction(1 if p == session.phase else 0) for p in (1, 2, 3)]


def load(powers: Iterable[tuple[str, int]], by_id: dict[str, SessionDemand]) -> Load:
    total, per_phase = Fraction(0), [Fraction(0)] * 3
    for sid, power_w in powers:
        total += power_w
        per_phase = [w + share * power_w for w, share in zip(per_phase, phase_shares(by_id[sid]), strict=True)]
    return total, per_phase


def fits(load_: Load, power_limit, current_limit, voltage: float, phases: Iterable[int] = range(3)) -> bool:
    """Whether the load is within the site limit, in total and on ``phases``."""
    total, per_phase = load_
    if power_limit is not None and total > power_limit:
        return False
    return current_limit is None or all(per_phase[p] <= current_limit * voltage for p in phases)


def evse_max_w(session: SessionDemand, voltage: float) -> Fraction:
    caps = []
    if session.max_power_w is not None:
        caps.append(Fraction(session.max_power_w))
    if session.max_current_a is not None:
        caps.append(Fraction(str(session.max_current_a)) * voltage * session.phases)
    return min(caps)


def min_w(session: SessionDemand, voltage: float) -> int:
    wanted = 6 * voltage * session.phases if session.min_power_w is None else Fraction(session.min_power_w)
    return min(math.ceil(wanted), math.floor(evse_max_w(session, voltage)))


def whole_w(measured_w: float) -> int:
    """Meter values rounded down to a W, float noise below a micro-W ignored."""
    return math.floor(round(measured_w, 6))


def unmanaged_load(sessions: list[SessionDemand], voltage: float) -> Load:
    """Stations that reject profiles or are offline, at their maximum."""
    by_id = {s.session_id: s for s in sessions}
    return load(((s.session_id, math.ceil(evse_max_w(s, voltage))) for s in sessions if not s.controlled), by_id)


def room(load_: Load, unmanaged: Load, power_limit, current_limit, voltage) -> Load:
    """What stations that cannot be limited leave of the site limit (never below 0)."""
    total = math.inf if power_limit is None else max(0, power_limit - unmanaged[0])
    phases = [math.inf if current_limit is None else max(0, current_limit * voltage - w) for w in unmanaged[1]]
    return total, phases


def rank(session: SessionDemand):
    """Cars that take energy first, then by priority, then by arrival."""
    return (session.suspended_ev, -session.priority, session.arrival, session.session_id)


# --- allocation ------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(situations())
def test_the_sum_of_limits_never_exceeds_the_site_limit_at_any_instant(situation):
    site, sessions, at, until = situation
    allocation = allocate(site, sessions, at=at, until=until)
    by_id = {s.session_id: s for s in sessions}
    voltage = site.voltage_v
    controlled = [limit for limit in allocation.limits.values() if limit.controlled]
    total, per_phase = load(((limit.session_id, limit.limit_w) for limit in controlled), by_id)
    unmanaged = unmanaged_load(sessions, voltage)

    for power_limit, current_limit in limits_in_force(site, at, until):
        room_total, room_phases = room((total, per_phase), unmanaged, power_limit, current_limit, voltage)
        assert total <= room_total
        for phase in range(3):
            assert per_phase[phase] <= room_phases[phase]
            # Stations taking ampere profiles: 0.1 A steps on each phase used.
            amps = sum(
                Fraction(round(limit.limit_a * 10), 10)
                for limit in controlled
                if phase_shares(by_id[limit.session_id])[phase]
            )
            assert amps <= room_phases[phase] / voltage
        if not allocation.overloaded:
            everything = (total + unmanaged[0], [a + b for a, b in zip(per_phase, unmanaged[1], strict=True)])
            assert fits(everything, power_limit, current_limit, voltage)


@PROPERTY_SETTINGS
@given(situations())
def test_no_session_is_above_its_evse_maximum_or_between_zero_and_its_minimum(situation):
    site, sessions, at, until = situation
    allocation = allocate(site, sessions, at=at, until=until)
    voltage = site.voltage_v

    assert set(allocation.limits) == {s.session_id for s in sessions}
    for session in sessions:
        limit = allocation.limits[session.session_id]
        if not session.controlled:
            assert limit.limit_w == math.ceil(evse_max_w(session, voltage))
            continue
        assert 0 <= limit.limit_w <= evse_max_w(session, voltage)
        if session.max_current_a is not None:
            assert limit.limit_a <= session.max_current_a
        assert Fraction(round(limit.limit_a * 10), 10) * voltage * session.phases <= limit.limit_w
        assert limit.limit_w == 0 or limit.limit_w >= min_w(session, voltage)
        assert limit.queued == (session.session_id in allocation.queued)
        if limit.queued:
            assert limit.limit_w == 0 and min_w(session, voltage) > 0


@PROPERTY_SETTINGS
@given(situations())
def test_capacity_is_left_unused_only_when_every_session_is_at_its_own_maximum(situation):
    site, sessions, at, until = situation
    allocation = allocate(site, sessions, at=at, until=until)
    by_id = {s.session_id: s for s in sessions}
    voltage = site.voltage_v
    total, per_phase = load(((sid, limit.limit_w) for sid, limit in allocation.limits.items()), by_id)
    admitted = [limit for limit in allocation.limits.values() if limit.controlled and not limit.queued]
    rounding_w = 3 * len(admitted) + 3  # each limit rounded down by < 1 W, a third of it on each phase

    for limit in admitted:
        session = by_id[limit.session_id]
        evse_max = math.floor(evse_max_w(session, voltage))
        # Its own maximum is the EVSE's, or for a car charging slower than allowed its measured
        # power + headroom or (hysteresis) what it is allowed now; never below its minimum.
        if session.suspended_ev:
            assert limit.max_w == min_w(session, voltage)
        elif limit.max_w < evse_max:
            assert session.measured_power_w is not None and session.allowed_power_w is not None
            headroom = max(HEADROOM_A * voltage * session.phases, HEADROOM_RATIO * session.measured_power_w)
            assert limit.max_w in {
                min_w(session, voltage),
                whole_w(session.measured_power_w + headroom),
                whole_w(session.allowed_power_w),
            }
        if limit.limit_w >= limit.max_w:
            continue
        # Below its own maximum: a constraint it uses is full, up to rounding.
        spare = []
        for power_limit, current_limit in limits_in_force(site, at, until):
            if power_limit is not None:
                spare.append(power_limit - total)
            if current_limit is not None:
                for phase, share in enumerate(phase_shares(session)):
                    if share:
                        spare.append((current_limit * voltage - per_phase[phase]) / share)
        assert spare and min(spare) <= rounding_w, (limit, spare)


@PROPERTY_SETTINGS
@given(situations())
def test_a_session_is_queued_only_if_its_minimum_does_not_fit_beside_those_ranked_before_it(situation):
    """Ranked before it: the minimums of cars admitted before it; for a suspended car, what
    every car that takes energy got."""
    site, sessions, at, until = situation
    allocation = allocate(site, sessions, at=at, until=until)
    by_id = {s.session_id: s for s in sessions}
    voltage = site.voltage_v
    in_force = limits_in_force(site, at, until)

    reserved = [(s.session_id, math.ceil(evse_max_w(s, voltage))) for s in sessions if not s.controlled]
    others_final = False
    for session in sorted((s for s in sessions if s.controlled), key=rank):
        if session.suspended_ev and not others_final:
            reserved = [(sid, allocation.limits[sid].limit_w) for sid, _ in reserved]
            others_final = True
        needed = (session.session_id, min_w(session, voltage))
        its_phases = [phase for phase, share in enumerate(phase_shares(session)) if share]
        fits_now = needed[1] == 0 or all(
            fits(load([*reserved, needed], by_id), power, current, voltage, its_phases) for power, current in in_force
        )
        assert allocation.limits[session.session_id].queued == (not fits_now)
        if fits_now:
            reserved.append(needed)


@PROPERTY_SETTINGS
@given(situations(), st.randoms(use_true_random=False))
def test_the_allocation_does_not_depend_on_the_order_of_the_sessions(situation, rnd):
    site, sessions, at, until = situation
    shuffled = list(sessions)
    rnd.shuffle(shuffled)

    first = allocate(site, sessions, at=at, until=until)
    assert allocate(site, shuffled, at=at, until=until) == first
    assert allocate(site, sessions, at=at, until=until) == first


# --- re-balancing ------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    sites(),
    st.lists(demands("template"), min_size=1, max_size=25),
    st.integers(min_value=0, max_value=2**32 - 1),
    st.integers(min_value=0, max_value=600),
    st.integers(min_value=0, max_value=3000),
)
def test_the_limits_stations_hold_never_exceed_the_site_limit_under_the_rebalance_policy(
    site, templates, seed, min_interval_s, dead_band_w
):
    """Sessions come and go and change speed every minute for two hours; after each
    re-allocation only the profiles the policy lets through are sent. What the stations then
    hold still fits what stations that cannot be limited leave of the site limit."""
    rnd = random.Random(seed)
    policy = RebalancePolicy(min_interval=timedelta(seconds=min_interval_s), dead_band_w=dead_band_w)
    voltage = site.voltage_v
    sent: dict[str, SentProfile] = {}
    present: dict[str, SessionDemand] = {}
    first = site.schedule[0].start if site.max_power_w is None and site.max_current_a is None else T0
    for minute in range(120):
        at = first + timedelta(minutes=minute)
        if rnd.random() < 0.3:
            sid = f"S{minute}"
            present[sid] = replace(rnd.choice(templates), session_id=sid, arrival=minute)
        if present and rnd.random() < 0.15:
            del present[rnd.choice(sorted(present))]
        for sid, session in present.items():
            allowed = sent[sid].limit_w if sid in sent else None
            measured = None if allowed is None else allowed * rnd.choice([0, 0.5, 0.95, 1.0])
            present[sid] = replace(session, allowed_power_w=allowed, measured_power_w=measured)

        until = at + timedelta(minutes=1)
        allocation = allocate(site, present.values(), at=at, until=until)
        for sid in policy.due(allocation, sent):
            sent[sid] = SentProfile(limit_w=allocation.limits[sid].limit_w, sent_at=at)
        sent = {sid: profile for sid, profile in sent.items() if sid in present}

        held = [(sid, profile.limit_w) for sid, profile in sent.items() if present[sid].controlled]
        assert {sid for sid, _ in held} == {sid for sid, s in present.items() if s.controlled}
        held_total, held_phases = load(held, present)
        unmanaged = unmanaged_load(list(present.values()), voltage)
        for power_limit, current_limit in limits_in_force(site, at, until):
            room_total, room_phases = room((held_total, held_phases), unmanaged, power_limit, current_limit, voltage)
            assert held_total <= room_total
            assert all(w <= r for w, r in zip(held_phases, room_phases, strict=True))


# --- schedules and fallback --------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    sites(),
    st.lists(demands("template"), max_size=12),
    st.lists(st.integers(min_value=0, max_value=12 * 3600), max_size=12),
    st.lists(st.integers(min_value=0, max_value=80_000), max_size=12),
    st.lists(st.floats(min_value=-1, max_value=1, allow_nan=False), min_size=1, max_size=24),
    st.sampled_from(["lowest", "highest"]),
)
def test_a_plan_never_exceeds_the_site_limit_at_any_instant(site, templates, departures_s, requests_wh, values, prefer):
    start = T0 if site.max_power_w is not None or site.max_current_a is not None else site.schedule[0].start
    sessions = [
        replace(
            template,
            session_id=f"S{i}",
            arrival=i,
            departure=start + timedelta(seconds=departures_s[i]) if i < len(departures_s) else None,
            energy_request_wh=requests_wh[i] if i < len(requests_wh) else None,
        )
        for i, template in enumerate(templates)
    ]
    curve = [(start + timedelta(hours=i), value) for i, value in enumerate(values)]
    slot = timedelta(minutes=30)
    plans = plan_schedule(site, sessions, start=start, curve=curve, prefer=prefer, slot=slot)
    by_id = {s.session_id: s for s in sessions}
    voltage = site.voltage_v
    unmanaged = unmanaged_load(sessions, voltage)

    assert set(plans) == {
        s.session_id for s in sessions if s.controlled and s.departure is not None and s.energy_request_wh
    }
    # Plans and site limit are step functions: checking every step checks every instant.
    steps = {start, *(p.start for p in site.schedule if p.start > start)}
    for plan in plans.values():
        steps |= {plan.start_schedule + timedelta(seconds=p.start_period_s) for p in plan.periods}
    for instant in sorted(steps):
        planned = [(sid, plan.limit_at(instant)) for sid, plan in plans.items()]
        for sid, power in planned:
            assert power == 0 or min_w(by_id[sid], voltage) <= power <= evse_max_w(by_id[sid], voltage)
        total, per_phase = load(planned, by_id)
        for power_limit, current_limit in limits_in_force(site, instant, None):
            room_total, room_phases = room((total, per_phase), unmanaged, power_limit, current_limit, voltage)
            assert total <= room_total
            assert all(w <= r for w, r in zip(per_phase, room_phases, strict=True))
    for sid, plan in plans.items():
        assert plan.planned_energy_wh + plan.shortfall_wh >= by_id[sid].energy_request_wh - 1e-6


@PROPERTY_SETTINGS
@given(sites(), st.integers(min_value=1, max_value=100), st.lists(demands("unmanaged"), max_size=4))
def test_evses_at_the_fallback_limit_never_exceed_the_site_whatever_the_cars_and_phases(site, evses, unmanaged):
    unmanaged = [replace(s, session_id=f"U{i}", profile_rejected=True) for i, s in enumerate(unmanaged)]
    default = fallback_default_limit(site, evses, unmanaged=unmanaged)
    voltage = site.voltage_v
    unmanaged_total, unmanaged_phases = unmanaged_load(unmanaged, voltage)
    limit_w, limit_a = Fraction(default.limit_w), Fraction(round(default.limit_a * 10), 10)

    for period in [site, *site.schedule]:
        power_limit, current_limit = period.max_power_w, period.max_current_a
        if power_limit is not None:  # every EVSE charging: at the W limit, or at the A limit on three phases
            assert unmanaged_total + evses * limit_w <= max(power_limit, unmanaged_total)
            assert unmanaged_total + evses * 3 * voltage * limit_a <= max(power_limit, unmanaged_total)
        if current_limit is not None:  # every car on the same phase
            phase_w = Fraction(str(current_limit)) * voltage
            for unmanaged_w in unmanaged_phases:
                assert unmanaged_w + evses * limit_w <= max(phase_w, unmanaged_w)
                assert unmanaged_w + evses * limit_a * voltage <= max(phase_w, unmanaged_w)
