"""V2X as it runs: a live daphne, a simulated OCPP 2.1 charger whose car may discharge and a
1.6 charger whose car just charges, on a site whose grid connection the building's evening
peak takes whole. The 2.1 car feeds the site so the other car can charge; every point of the
power chart stays inside the grid's limit."""

import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from stations.management.commands.simulate import fleet_members
from stations.models import (
    Car,
    ChargingProfile,
    ChargingSession,
    Driver,
    Evse,
    IdToken,
    ProfileSource,
    Site,
    SiteLoadLimit,
    SiteLoadLimitPeriod,
    SiteLoadSample,
)
from stations.services.registry import register_station
from tests.live.conftest import ROOT, child_env

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def simulate(server, *args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "simulate", "--stations", "1", "--url", server.ws, "--duration", "14",
         "--session-seconds", "10", "--pause-seconds", "0.5", "--meter-interval", "0.5", "--power-kw", "11", *args],
        cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def test_a_demand_peak_is_covered_by_discharge(start_server):
    site = Site.objects.create(name="V2G office")
    config = SiteLoadLimit.objects.create(
        site=site, max_power_w=22_000, min_interval_s=0, meter_rebalance_interval_s=1, dead_band_w=100
    )
    now = timezone.now()
    SiteLoadLimitPeriod.objects.create(limit=config, start=now - timedelta(minutes=5), max_power_w=0)
    SiteLoadLimitPeriod.objects.create(limit=config, start=now + timedelta(hours=1), max_power_w=22_000)
    for station_id in ("V2G-01", "PEAK-01"):
        station = register_station(station_id=station_id, site=site).station
        Evse.objects.create(station=station, evse_id=1, max_current_a=16)
    member = fleet_members("V2G-", 1)[0]
    driver = Driver.objects.create(email=member.driver_email)
    # The simulator registers its token only where none exists: this one charges a car that may discharge.
    IdToken.objects.create(value=member.id_token, driver=driver,
                           car=Car.objects.create(driver=driver, name="V2G car", allow_discharge=True))

    server = start_server()
    runs = [simulate(server, "--version", "2.1", "--bidirectional", "--prefix", "V2G-"),
            simulate(server, "--version", "1.6", "--prefix", "PEAK-")]
    for run in runs:
        output, _ = run.communicate(timeout=120)
        assert run.returncode == 0, output

    v2g = ChargingSession.objects.filter(station__station_id="V2G-01")
    assert v2g.exists() and all(s.operation_mode in ("", "CentralSetpoint") for s in v2g)
    assert sum(s.energy_exported_wh for s in v2g) > 0, "the 2.1 car never fed the site"
    setpoints = [p.periods[0].get("setpoint") for p in ChargingProfile.objects.filter(
        station__station_id="V2G-01", source=ProfileSource.LOAD_MANAGER)]
    assert any(s is not None and s < 0 for s in setpoints), setpoints
    other = ChargingProfile.objects.filter(station__station_id="PEAK-01", source=ProfileSource.LOAD_MANAGER)
    assert any(p.first_limit > 0 for p in other), "the other car never got to charge"

    samples = list(SiteLoadSample.objects.filter(site=site).order_by("at"))
    assert any(s.discharge_w > 0 for s in samples)
    # The grid's limit is 0 W: whatever the stations are allowed, discharge feeds it.
    assert all(s.limit_w == 0 and s.allocated_w - s.discharge_w <= s.limit_w for s in samples), [
        (s.at.time(), s.sessions, s.allocated_w, s.discharge_w) for s in samples]
