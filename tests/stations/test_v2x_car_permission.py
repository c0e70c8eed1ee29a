"""V2X permission and minimum charge are the car's: the load manager reads which car a session
charges from its token, discharges only a car its driver allowed (whatever the driver's other
cars may do), and keeps it above the minimum charge the driver set (the stricter of that and
the car's own minimum).

The site: a building peak takes the whole grid connection for the next hour; a bidirectional
car on a 2.1 station could cover it for a car on a 1.6 station. ``plan_rebalance`` is the
load manager's decision, read from the database as it runs."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from stations.models import (
    Car,
    ChargingSession,
    ChargingStation,
    Driver,
    Evse,
    IdToken,
    Measurand,
    MeterSample,
    SessionLoadState,
    Site,
    SiteLoadLimit,
    SiteLoadLimitPeriod,
)
from stations.services.cars import create_car, set_car_tokens
from stations.services.meter_values import apply_soc
from stations.smart_charging import load_manager
from stations.smart_charging.load_manager import plan_rebalance

pytestmark = pytest.mark.django_db


@pytest.fixture
def evening(make_station, make_token):
    now = timezone.now()
    site = Site.objects.create(name="Office")
    config = SiteLoadLimit.objects.create(site=site, max_power_w=22_000, min_interval_s=0, dead_band_w=100)
    SiteLoadLimitPeriod.objects.create(limit=config, start=now - timedelta(minutes=5), max_power_w=0)
    SiteLoadLimitPeriod.objects.create(limit=config, start=now + timedelta(hours=1), max_power_w=22_000)
    v2g = make_station("CS-V2G", site=site)
    plain = make_station("CP-B", site=site)
    ChargingStation.objects.filter(pk=v2g.pk).update(ocpp_version="2.1", charging_rate_unit="W", is_online=True)
    ChargingStation.objects.filter(pk=plain.pk).update(ocpp_version="1.6", is_online=True)
    make_token("TOKEN-FAMILY", driver_email="v2g@example.com")
    make_token("TOKEN-COMMUTE", driver_email="v2g@example.com")
    make_token("TOKEN-LOOSE", driver_email="v2g@example.com")
    make_token("TOKEN-B", driver_email="b@example.com")
    driver = Driver.objects.get(email="v2g@example.com")
    family = create_car(driver=driver, name="Family car", allow_discharge=True, battery_capacity_kwh=60)
    commuter = create_car(driver=driver, name="Commuter", allow_discharge=False)
    tokens = {t.value: t for t in IdToken.objects.all()}
    set_car_tokens(car=family, chosen=[tokens["TOKEN-FAMILY"]], offered=[tokens["TOKEN-FAMILY"]])
    set_car_tokens(car=commuter, chosen=[tokens["TOKEN-COMMUTE"]], offered=[tokens["TOKEN-COMMUTE"]])
    # The other car, on the 1.6 station: no departure, so it counts at its maximum.
    evse_b = Evse.objects.create(station=plain, evse_id=1, max_current_a=16)
    ChargingSession.objects.create(station=plain, evse=evse_b, transaction_id="B-1", id_token=tokens["TOKEN-B"],
                                   driver=tokens["TOKEN-B"].driver, started_at=now)
    Evse.objects.create(station=v2g, evse_id=1, max_power_w=11_000, max_current_a=16)
    return site, family, commuter


def plug_in(site, token_value: str, *, ev_min_energy_request_wh: int = -15_000) -> ChargingSession:
    """The bidirectional car plugs in at CS-V2G with ``token_value`` and sends its V2X needs."""
    now = timezone.now()
    token = IdToken.objects.get(value=token_value)
    station = ChargingStation.objects.get(station_id="CS-V2G")
    session = ChargingSession.objects.create(
        station=station, evse=station.evses.get(), transaction_id="V2G-1", id_token=token, driver=token.driver,
        started_at=now)
    SessionLoadState.objects.create(
        session=session, departure_at=now + timedelta(hours=6), energy_request_wh=10_000, ev_max_power_w=11_000,
        requested_energy_transfer="AC_BPT", available_energy_transfer=["AC_three_phase", "AC_BPT"],
        ev_max_discharge_power_w=7_000, ev_min_energy_request_wh=ev_min_energy_request_wh)
    return session


def report(session, measurand, value, *, minutes_ago: float = 1):
    """A meter value of the car, kept as the meter value service keeps it (SoC: on the session too)."""
    at = timezone.now() - timedelta(minutes=minutes_ago)
    MeterSample.objects.create(station=session.station, session=session, evse_id=1, measurand=measurand,
                               value=value, timestamp=at)
    if measurand == Measurand.SOC:
        session.save(update_fields=apply_soc(session, percent=value, at=at))


def setpoint(site, session) -> int | None:
    plan = plan_rebalance(site_pk=site.pk)
    sent = [p for p in plan.to_send if p.session_pk == session.pk]
    return sent[0].setpoint_w if sent else None


def may_discharge(site, session) -> bool:
    infos = load_manager._demands(site, now=timezone.now())
    return load_manager.may_discharge(next(i for i in infos if i.session.pk == session.pk))


@pytest.fixture
def planned_cars(monkeypatch):
    """The V2xDemand of each car as the load manager hands it to ``plan_v2x``."""
    seen = {}
    real = load_manager.plan_v2x

    def spy(limit, cars, **kwargs):
        seen.update({car.session_id: car for car in cars})
        return real(limit, cars, **kwargs)

    monkeypatch.setattr(load_manager, "plan_v2x", spy)
    return seen


def test_the_car_that_may_discharge_covers_the_peak(evening):
    site, _, _ = evening
    session = plug_in(site, "TOKEN-FAMILY")
    assert -7_000 <= setpoint(site, session) < 0


def test_a_car_not_allowed_never_discharges_even_if_the_driver_allows_another(evening, planned_cars):
    site, family, commuter = evening
    assert family.allow_discharge and not commuter.allow_discharge
    session = plug_in(site, "TOKEN-COMMUTE")
    assert setpoint(site, session) is None
    assert not may_discharge(site, session) and planned_cars == {}  # no plan: no car may discharge


def test_a_session_whose_token_is_on_no_car_never_discharges(evening, planned_cars):
    site, _, _ = evening
    session = plug_in(site, "TOKEN-LOOSE")
    assert setpoint(site, session) is None
    assert not may_discharge(site, session) and planned_cars == {}


def test_the_drivers_minimum_charge_is_the_floor_when_it_is_the_stricter(evening, planned_cars):
    site, family, _ = evening
    Car.objects.filter(pk=family.pk).update(min_soc_percent=50)
    session = plug_in(site, "TOKEN-FAMILY")
    report(session, Measurand.SOC, 52)  # 60 kWh battery (the car's): 1.2 kWh above 50 %
    sent = setpoint(site, session)
    car = planned_cars[str(session.pk)]
    assert car.may_discharge and car.floor_wh == pytest.approx(-1_200)  # not the car's own -15 kWh
    assert sent is not None and sent < 0


def test_the_cars_own_minimum_stays_when_it_is_the_stricter(evening, planned_cars):
    site, family, _ = evening
    Car.objects.filter(pk=family.pk).update(min_energy_kwh=Decimal("12.0"))
    session = plug_in(site, "TOKEN-FAMILY", ev_min_energy_request_wh=-5_000)
    report(session, Measurand.SOC, 80)  # 48 kWh in the battery: 36 kWh above the driver's 12 kWh
    setpoint(site, session)
    assert planned_cars[str(session.pk)].floor_wh == pytest.approx(-5_000)


def test_the_reported_battery_capacity_comes_before_the_cars(evening, planned_cars):
    site, family, _ = evening
    Car.objects.filter(pk=family.pk).update(min_soc_percent=40)
    session = plug_in(site, "TOKEN-FAMILY")
    report(session, Measurand.SOC, 45)
    report(session, Measurand.DISPLAY_BATTERY_ENERGY_CAPACITY, 80_000, minutes_ago=30)
    setpoint(site, session)
    assert planned_cars[str(session.pk)].floor_wh == pytest.approx(-4_000)  # 5 % of 80 kWh


@pytest.mark.parametrize("reading", ["below the minimum", "no state of charge", "an old state of charge",
                                     "no capacity"])
def test_a_car_at_or_below_its_minimum_or_with_an_unknown_battery_does_not_discharge(evening, planned_cars, reading):
    site, family, _ = evening
    Car.objects.filter(pk=family.pk).update(min_soc_percent=50)
    if reading == "no capacity":
        Car.objects.filter(pk=family.pk).update(battery_capacity_kwh=None)
    session = plug_in(site, "TOKEN-FAMILY")
    if reading == "below the minimum":
        report(session, Measurand.SOC, 49)
    elif reading == "an old state of charge":
        report(session, Measurand.SOC, 90, minutes_ago=30)
    elif reading == "no capacity":
        report(session, Measurand.SOC, 90)
    assert setpoint(site, session) is None
    assert not may_discharge(site, session) and planned_cars == {}


def test_a_car_without_a_minimum_of_its_own_needs_no_battery_readings(evening, planned_cars):
    site, family, _ = evening
    Car.objects.filter(pk=family.pk).update(battery_capacity_kwh=None)
    session = plug_in(site, "TOKEN-FAMILY")
    assert setpoint(site, session) < 0
    assert planned_cars[str(session.pk)].floor_wh == pytest.approx(-15_000)
