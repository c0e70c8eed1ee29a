"""The V2X planner never breaks a limit: property tests (hypothesis).

Sites, cars, the site's other load and prices are random. Checks are recomputed here from
the plan's powers, independently of the planner: the site's flow per slot (total, and per
phase with a three-phase car putting a third of its power on each phase and the site's
other load balanced), each car's energy at the end of every slot, and its permission.
"""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from stations.load_management import SiteLimit, SiteLimitPeriod, V2xDemand, plan_v2x

T0 = datetime(2025, 6, 2, 14, 0, tzinfo=UTC)
TOL = 1e-3  # W and Wh: float sums over a few dozen slots
PROPERTIES = settings(max_examples=150, deadline=None)


@st.composite
def sites(draw) -> SiteLimit:
    power = draw(st.none() | st.integers(min_value=0, max_value=150_000))
    current = draw(st.none() | st.integers(min_value=0, max_value=2_000).map(lambda d: d / 10))
    if power is None and current is None:
        power = draw(st.integers(min_value=0, max_value=150_000))
    schedule = tuple(
        SiteLimitPeriod(T0 + timedelta(minutes=m), max_power_w=draw(st.integers(min_value=0, max_value=150_000)))
        for m in sorted(draw(st.lists(st.integers(min_value=1, max_value=480), max_size=2, unique=True)))
    )
    return SiteLimit(max_power_w=power, max_current_a=current, voltage_v=230, schedule=schedule)


@st.composite
def cars(draw, n: int) -> list[V2xDemand]:
    out = []
    for i in range(n):
        ceiling = draw(st.none() | st.integers(min_value=0, max_value=80_000))
        departure_min = draw(st.integers(min_value=1, max_value=8 * 60))
        plugged_in_min = draw(st.none() | st.integers(min_value=0, max_value=departure_min - 1))
        out.append(V2xDemand(
            session_id=f"EV-{i}",
            max_charge_w=draw(st.integers(min_value=0, max_value=22_000)),
            max_discharge_w=draw(st.integers(min_value=0, max_value=22_000)),
            may_discharge=draw(st.booleans()),
            departure=T0 + timedelta(minutes=departure_min),
            plugged_in=None if plugged_in_min is None else T0 + timedelta(minutes=plugged_in_min),
            energy_request_wh=draw(st.integers(min_value=0, max_value=60_000)),
            floor_wh=-draw(st.integers(min_value=0, max_value=40_000)),
            ceiling_wh=ceiling,
            phases=draw(st.sampled_from([1, 3])),
            phase=draw(st.sampled_from([1, 2, 3])),
        ))
    return out


def curves(values):
    return st.lists(st.tuples(st.integers(min_value=0, max_value=8 * 60), values), max_size=6).map(
        lambda points: [(T0 + timedelta(minutes=m), v) for m, v in sorted(dict(points).items())]
    )


@st.composite
def scenarios(draw):
    return dict(
        site=draw(sites()),
        cars=draw(st.integers(min_value=0, max_value=5).flatmap(cars)),
        export_limit_w=draw(st.integers(min_value=0, max_value=50_000)),
        site_load=draw(curves(st.integers(min_value=0, max_value=200_000))),
        price=draw(curves(st.integers(min_value=1, max_value=60).map(lambda c: c / 100))),
        slot=timedelta(minutes=draw(st.sampled_from([15, 30, 60]))),
    )


def plan_of(s):
    return plan_v2x(s["site"], s["cars"], start=T0, export_limit_w=s["export_limit_w"], site_load=s["site_load"],
                    price=s["price"], slot=s["slot"])


def value_at(curve, when, default=0.0):
    value = curve[0][1] if curve else default
    for start, v in curve:
        if start <= when:
            value = v
    return value


def limits_at(site: SiteLimit, begin, end) -> tuple[float, float]:
    """(total W, W per phase) in force at every instant of [begin, end), recomputed here: the
    static limit, the schedule period in force at ``begin`` and those starting before ``end``."""
    in_force = [p for p in site.schedule if p.start <= begin][-1:] + [p for p in site.schedule if begin < p.start < end]
    powers = [site.max_power_w, *(p.max_power_w for p in in_force)]
    total = min((p for p in powers if p is not None), default=float("inf"))
    phase = float("inf") if site.max_current_a is None else site.max_current_a * site.voltage_v
    return total, phase


def flows(s, plan):
    """Per slot: (total W, [W on L1, L2, L3], base W)."""
    out = []
    for j, (begin, _end) in enumerate(plan.slots):
        base = max(0.0, value_at(s["site_load"], begin)) if s["site_load"] else 0.0
        total, phases = base, [base / 3] * 3
        for car in s["cars"]:
            watts = plan.power_w[car.session_id][j]
            total += watts
            if car.phases == 3:
                phases = [p + watts / 3 for p in phases]
            else:
                phases[car.phase - 1] += watts
        out.append((total, phases, base))
    return out


@PROPERTIES
@given(scenarios())
def test_import_and_export_stay_within_the_limits_on_every_phase(s):
    plan = plan_of(s)
    for (begin, end), (total, phases, base), overload in zip(plan.slots, flows(s, plan), plan.overload_w,
                                                               strict=True):
        cap_total, cap_phase = limits_at(s["site"], begin, end)
        # Import: within the limit, unless the site's other load alone is over it (cars then add nothing).
        assert total <= max(cap_total, base) + TOL
        assert all(p <= max(cap_phase, base / 3) + TOL for p in phases)
        if overload > TOL:
            assert base > cap_total or base / 3 > cap_phase
        # Export: never beyond the export limit, nor beyond a phase's limit the other way.
        assert total >= -s["export_limit_w"] - TOL
        assert all(p >= -cap_phase - TOL for p in phases)


@PROPERTIES
@given(scenarios())
def test_no_discharge_without_permission_and_each_car_within_its_power(s):
    plan = plan_of(s)
    for car in s["cars"]:
        low = -car.max_discharge_w if car.may_discharge else 0.0
        for (begin, end), watts in zip(plan.slots, plan.power_w[car.session_id], strict=True):
            assert low - TOL <= watts <= car.max_charge_w + TOL
            if begin >= car.departure or (car.plugged_in is not None and end <= car.plugged_in):
                assert watts == 0  # not there


@PROPERTIES
@given(scenarios())
def test_each_car_stays_between_floor_and_ceiling_and_v2x_never_costs_it_energy(s):
    plan = plan_of(s)
    without_v2x = plan_of({**s, "cars": [replace(c, may_discharge=False) for c in s["cars"]]})
    for car in s["cars"]:
        held = 0.0
        for (begin, end), watts in zip(plan.slots, plan.power_w[car.session_id], strict=True):
            there_from = max(begin, car.plugged_in or begin)
            held += watts * max(0.0, (min(end, car.departure) - there_from).total_seconds()) / 3600
            assert held >= car.floor_wh - TOL
            if car.ceiling_wh is not None:
                assert held <= max(car.ceiling_wh, 0) + TOL
        assert abs(held - plan.energy_wh[car.session_id]) <= TOL
        # What a car leaves with does not depend on whether it (or any car) discharged meanwhile.
        assert abs(plan.energy_wh[car.session_id] - without_v2x.energy_wh[car.session_id]) <= TOL
        assert plan.energy_wh[car.session_id] >= car.energy_request_wh - plan.shortfall_wh[car.session_id] - TOL


@PROPERTIES
@given(scenarios())
def test_no_car_leaves_short_when_the_site_has_room_for_every_car(s):
    """Feasible: the import limit covers the site's load and every car at full power, and
    each request fits the car's time and battery. Then every request is met, discharging or not."""
    room = SiteLimit(max_power_w=200_000 + 5 * 22_000)
    feasible = [
        replace(car, energy_request_wh=min(
            car.energy_request_wh,
            car.max_charge_w * (car.departure - (car.plugged_in or T0)).total_seconds() / 3600 * 0.999,
            car.ceiling_wh if car.ceiling_wh is not None else float("inf"),
        ))
        for car in s["cars"]
    ]
    plan = plan_v2x(room, feasible, start=T0, export_limit_w=s["export_limit_w"], site_load=s["site_load"],
                    price=s["price"], slot=s["slot"])
    for car in feasible:
        assert plan.energy_wh[car.session_id] >= car.energy_request_wh - TOL
        assert plan.shortfall_wh[car.session_id] <= TOL
