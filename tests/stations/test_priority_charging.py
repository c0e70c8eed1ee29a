"""OCPP 2.1 priority charging in the load manager: a session whose priority charging is on
(priority 10, from NotifyPriorityCharging or an accepted UsePriorityCharging) is served first
by the allocator, is not held back by the price plan and is never asked to discharge."""

from datetime import timedelta

import pytest
from django.utils import timezone

from stations.models import (
    ChargingSession,
    ChargingStation,
    Driver,
    Evse,
    SessionLoadState,
    Site,
    SiteLoadLimit,
)
from stations.services.cars import create_car, set_car_tokens
from stations.smart_charging.load_manager import plan_rebalance
from stations.smart_charging.station_reports import PRIORITY_CHARGING, record_priority_charging

pytestmark = pytest.mark.django_db


@pytest.fixture
def site(make_station, make_token):
    site = Site.objects.create(name="Depot")
    SiteLoadLimit.objects.create(site=site, max_power_w=16_000, min_interval_s=0, dead_band_w=100)
    token = make_token("TOKEN-A", driver_email="a@example.com")
    driver = Driver.objects.get(email="a@example.com")
    car = create_car(driver=driver, name="Van", allow_discharge=True)
    set_car_tokens(car=car, chosen=[token], offered=[token])
    for station_id in ("CS-A", "CS-B"):
        station = make_station(station_id, site=site)
        ChargingStation.objects.filter(pk=station.pk).update(
            charging_rate_unit="W", ocpp_version="2.1", is_online=True)
        evse = Evse.objects.create(station=station, evse_id=1, max_power_w=11_000, max_current_a=16)
        ChargingSession.objects.create(
            station=station, evse=evse, transaction_id=f"TX-{station_id[-1]}", started_at=timezone.now(),
            driver=driver, id_token=token)
    return site


def limits(site) -> dict[str, int]:
    plan = plan_rebalance(site_pk=site.pk)
    by_pk = {str(s.pk): s.transaction_id for s in ChargingSession.objects.all()}
    return {by_pk[sid]: limit.limit_w for sid, limit in plan.allocation.limits.items()}


def test_equal_shares_without_priority(site):
    assert limits(site) == {"TX-A": 8_000, "TX-B": 8_000}


def test_priority_charging_is_served_first_and_the_other_keeps_its_minimum(site):
    b = ChargingStation.objects.get(station_id="CS-B")
    assert record_priority_charging(station_pk=b.pk, transaction_id="TX-B", activated=True)
    assert SessionLoadState.objects.get(session__transaction_id="TX-B").priority == PRIORITY_CHARGING == 10
    shares = limits(site)
    assert shares["TX-B"] == 11_000  # its EVSE maximum
    assert shares["TX-A"] == 5_000 and sum(shares.values()) <= 16_000
    record_priority_charging(station_pk=b.pk, transaction_id="TX-B", activated=False)
    assert limits(site) == {"TX-A": 8_000, "TX-B": 8_000}


def test_priority_charging_is_not_put_off_to_cheaper_hours(site):
    now = timezone.now()
    SiteLoadLimit.objects.filter(site=site).update(optimise_for="price", curve=[
        [(now - timedelta(hours=1)).isoformat(), 0.60], [(now + timedelta(hours=2)).isoformat(), 0.10]])
    for session in ChargingSession.objects.all():
        SessionLoadState.objects.create(session=session, departure_at=now + timedelta(hours=8),
                                        energy_request_wh=10_000)
    assert limits(site) == {"TX-A": 0, "TX-B": 0}  # both wait for the cheap hours
    b = ChargingStation.objects.get(station_id="CS-B")
    record_priority_charging(station_pk=b.pk, transaction_id="TX-B", activated=True)
    assert limits(site)["TX-B"] == 11_000


def test_a_car_on_priority_charging_is_not_asked_to_discharge(site):
    now = timezone.now()
    config = SiteLoadLimit.objects.get(site=site)
    # The building takes the whole grid for an hour: a car that may discharge covers the other.
    config.periods.create(start=now - timedelta(minutes=5), max_power_w=0)
    config.periods.create(start=now + timedelta(hours=1), max_power_w=16_000)
    a = ChargingSession.objects.get(transaction_id="TX-A")
    SessionLoadState.objects.create(
        session=a, departure_at=now + timedelta(hours=6), energy_request_wh=5_000,
        requested_energy_transfer="AC_BPT", ev_max_discharge_power_w=7_000, ev_min_energy_request_wh=-15_000)
    plan = plan_rebalance(site_pk=site.pk)
    assert [p.setpoint_w < 0 for p in plan.to_send if p.session_pk == a.pk] == [True]
    record_priority_charging(station_pk=a.station_id, transaction_id="TX-A", activated=True)
    plan = plan_rebalance(site_pk=site.pk)
    assert not [p for p in plan.to_send if p.setpoint_w]
