"""Per-car V2X permission and minimum charge, as properties (hypothesis): from random drivers
with several cars each (some allowing discharge, some with a minimum charge, batteries known
or not) and sessions whose tokens charge one of those cars or none, the load manager's V2X
step (``_v2x_discharges``, on what ``_demands`` reads) never discharges a car its driver did
not allow, nor a session on no car, whatever the driver's other cars allow; and the plan it
makes keeps every car above the stricter of its own minimum and its driver's.

The stations are 2.1 and the cars bidirectional: what else decides is tested elsewhere.
The planner's own properties (``test_v2x_planning_properties.py``) take ``may_discharge`` and
``floor_wh`` as given; these check where they come from."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

from hypothesis import event, given, settings
from hypothesis import strategies as st

from stations.load_management import SessionDemand, SiteLimit, SiteLimitPeriod
from stations.models import (
    Car,
    ChargingSession,
    ChargingStation,
    Driver,
    Evse,
    IdToken,
    SessionLoadState,
    SiteLoadLimit,
)
from stations.smart_charging import car_minimum, load_manager

NOW = datetime(2026, 12, 6, 17, 0, tzinfo=UTC)
TOL = 1e-3
PROPERTIES = settings(max_examples=200, deadline=None)


@st.composite
def drivers_cars(draw) -> list[Car]:
    cars = []
    for d in range(draw(st.integers(min_value=1, max_value=3))):
        driver = Driver(pk=d + 1, email=f"d{d}@example.com")
        for c in range(draw(st.integers(min_value=1, max_value=3))):
            cars.append(Car(
                pk=len(cars) + 1, driver=driver, name=f"car {d}.{c}",
                allow_discharge=draw(st.sampled_from([True, True, False])),
                min_soc_percent=draw(st.integers(min_value=0, max_value=100) | st.none()),
                min_energy_kwh=draw(st.none() | st.integers(min_value=0, max_value=600).map(lambda v: Decimal(v) / 10)),
                battery_capacity_kwh=draw(st.none() | st.integers(min_value=20, max_value=100).map(Decimal)),
            ))
    return cars


@st.composite
def scenarios(draw):
    cars = draw(drivers_cars())
    infos, batteries = [], {}
    for i in range(draw(st.integers(min_value=1, max_value=5))):
        car = draw(st.sampled_from([*cars, *cars, None]))
        token = IdToken(pk=i + 1, value=f"T{i}", driver=car.driver if car else None, car=car)
        station = ChargingStation(pk=i + 1, station_id=f"CS-{i}", ocpp_version="2.1",
                                  is_online=True)
        evse = Evse(pk=i + 1, station=station, evse_id=1, max_power_w=11_000, max_current_a=16)
        held = draw(st.integers(min_value=0, max_value=30_000))
        session = ChargingSession(pk=i + 1, station=station, evse=evse, transaction_id=f"TX-{i}", id_token=token,
                                  driver=token.driver, energy_wh=held, energy_exported_wh=0)
        departure = NOW + timedelta(minutes=draw(st.integers(min_value=60, max_value=8 * 60)))
        state = SessionLoadState(
            session=session, departure_at=departure,
            energy_request_wh=held + draw(st.integers(min_value=0, max_value=40_000)),
            requested_energy_transfer=draw(st.sampled_from(["AC_BPT", "DC_BPT"])),
            ev_max_discharge_power_w=draw(st.integers(min_value=1_000, max_value=11_000)),
            ev_min_energy_request_wh=draw(st.integers(min_value=-30_000, max_value=5_000).map(
                lambda v, held=held: held + v) | st.none()),
        )
        battery = car_minimum.Battery(
            soc_percent=draw(st.integers(min_value=0, max_value=100) | st.none()),
            capacity_wh=draw(st.integers(min_value=20_000, max_value=100_000) | st.none()),
        )
        batteries[str(session.pk)] = (battery, held)
        demand = SessionDemand(session_id=str(session.pk), max_power_w=11_000, max_current_a=16, phases=3,
                               departure=departure, energy_request_wh=max(0, state.energy_request_wh - held))
        infos.append(load_manager.SessionInfo(
            session=session, evse=evse, state=state, demand=demand, car=car,
            car_minimum_wh=car_minimum.minimum_held_wh(car, battery, held_wh=held),
        ))
    config = SiteLoadLimit(max_power_w=150_000, voltage_v=230,
                           max_export_power_w=draw(st.integers(min_value=0, max_value=30_000)))
    # The grid: a peak now (the building takes most of it), room again later.
    peak_w = draw(st.integers(min_value=0, max_value=30_000))
    limit = SiteLimit(max_power_w=150_000, voltage_v=230, schedule=(
        SiteLimitPeriod(NOW - timedelta(minutes=5), max_power_w=peak_w),
        SiteLimitPeriod(NOW + timedelta(minutes=draw(st.integers(min_value=15, max_value=180))), max_power_w=150_000),
    ))
    # The site's other load (the building): a session without a departure, counted at its maximum.
    station = ChargingStation(pk=99, station_id="CP-OTHER", ocpp_version="1.6", is_online=True)
    evse = Evse(pk=99, station=station, evse_id=1, max_power_w=draw(st.integers(min_value=10_000, max_value=60_000)))
    session = ChargingSession(pk=99, station=station, evse=evse, transaction_id="OTHER", energy_wh=0)
    infos.append(load_manager.SessionInfo(
        session=session, evse=evse, state=SessionLoadState(session=session),
        demand=SessionDemand(session_id="99", max_power_w=evse.max_power_w, phases=3)))
    return config, limit, infos, batteries


def run(config, limit, infos):
    """``_v2x_discharges`` with the cars and the plan it handed the planner."""
    seen = {}
    real = load_manager.plan_v2x

    def spy(limit, cars, **kwargs):
        plan = real(limit, cars, **kwargs)
        seen.update(cars=cars, plan=plan)
        return plan

    with mock.patch.object(load_manager, "plan_v2x", spy):
        discharges = load_manager._v2x_discharges(config, limit, infos, NOW)
    return discharges, seen


def allowed(info) -> bool:
    car = info.car
    return car is not None and car.allow_discharge


@PROPERTIES
@given(scenarios())
def test_no_discharge_for_a_car_its_driver_did_not_allow_nor_for_a_session_on_no_car(scenario):
    config, limit, infos, _ = scenario
    discharges, seen = run(config, limit, infos)
    by_id = {i.demand.session_id: i for i in infos}
    event("a car discharges" if discharges else "no car discharges")
    for session_id, discharge in discharges.items():
        assert allowed(by_id[session_id]) and discharge.setpoint_w < 0
    for car in seen.get("cars", []):
        if not allowed(by_id[car.session_id]):
            if discharges:
                event("a car not allowed while another discharges")
            assert not car.may_discharge
            assert all(watts >= -TOL for watts in seen["plan"].power_w[car.session_id])


@PROPERTIES
@given(scenarios())
def test_the_plan_keeps_each_car_above_the_stricter_minimum(scenario):
    config, limit, infos, batteries = scenario
    _, seen = run(config, limit, infos)
    by_id = {i.demand.session_id: i for i in infos}
    for car in seen.get("cars", []):
        info = by_id[car.session_id]
        if not car.may_discharge:
            continue
        battery, held = batteries[car.session_id]
        driver_car = info.car
        if driver_car.has_minimum:
            event("a car with its driver's minimum may discharge")
            # Known battery, above the driver's minimum; the plan never takes it below.
            assert battery.soc_percent is not None
            capacity = battery.capacity_wh or float(driver_car.battery_capacity_kwh) * 1000
            least = max((driver_car.min_soc_percent or 0) / 100 * capacity,
                        float(driver_car.min_energy_kwh or 0) * 1000)
            above = battery.soc_percent / 100 * capacity - least
            assert above > 0 and car.floor_wh >= -above - TOL
        # The car's own minimum (unknown: where it is now) holds too.
        own = info.state.ev_min_energy_request_wh
        assert car.floor_wh >= (min(0, own - held) if own is not None else 0) - TOL
        plan, total = seen["plan"], 0.0
        for (begin, end), watts in zip(plan.slots, plan.power_w[car.session_id], strict=True):
            total += watts * max(0.0, (min(end, car.departure) - begin).total_seconds()) / 3600
            assert total >= car.floor_wh - TOL
