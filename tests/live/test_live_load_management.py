"""Site load management as it runs: a live daphne, simulated chargers that obey the
charging profiles they get, and a site whose grid connection is smaller than its chargers."""

import subprocess
import sys

import pytest

from stations.models import (
    ChargingProfile,
    ChargingSession,
    Evse,
    ProfileSource,
    ProfileStatus,
    Site,
    SiteLoadLimit,
    SiteLoadSample,
)
from stations.services.registry import register_station
from tests.live.conftest import ROOT, child_env

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

V = 230.0


def managed_site() -> Site:
    site = Site.objects.create(name="Small depot")
    SiteLoadLimit.objects.create(site=site, max_current_a=16.0, min_interval_s=0, meter_rebalance_interval_s=1)
    for station_id in ("LM-01", "LM-02"):
        station = register_station(station_id=station_id, site=site).station
        Evse.objects.create(station=station, evse_id=1)
    return site


def simulate_two_chargers(server, **env):
    run = subprocess.run(
        [sys.executable, "manage.py", "simulate", "--stations", "2", "--version", "mixed", "--url", server.ws,
         "--duration", "12", "--session-seconds", "8", "--pause-seconds", "0.5", "--meter-interval", "0.5",
         "--power-kw", "11", "--prefix", "LM-"],
        cwd=ROOT, env=child_env(**env), capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def assert_site_was_shared(site: Site) -> None:
    # Each station booted into the site's safe default: 3x16 A over two EVSEs = 8 A each.
    defaults = ChargingProfile.objects.filter(source=ProfileSource.FALLBACK, status=ProfileStatus.ACTIVE)
    assert {p.station.station_id for p in defaults} == {"LM-01", "LM-02"}
    assert all(p.periods[0]["limit"] == 8.0 for p in defaults)

    # Each session got a TxProfile that the station accepted.
    tx = ChargingProfile.objects.filter(source=ProfileSource.LOAD_MANAGER).exclude(status=ProfileStatus.FAILED)
    sessions_with_profile = set(tx.values_list("session__station__station_id", flat=True))
    assert sessions_with_profile == {"LM-01", "LM-02"}, list(tx.values("station__station_id", "status"))
    assert ChargingSession.objects.filter(station__site=site).count() >= 2

    # Never more allowed than the connection, and once both charged, both were held to it.
    limit_w = int(16 * V * 3)
    samples = list(SiteLoadSample.objects.filter(site=site).order_by("at"))
    assert samples and all(s.limit_w == limit_w and s.allocated_w <= limit_w for s in samples)
    both = [s for s in samples if s.sessions == 2]
    assert both, [(s.sessions, s.allocated_w) for s in samples]
    # The cars obey: what they draw (their meter values) follows what they are allowed.
    assert any(0 < s.measured_w <= limit_w for s in both), [(s.allocated_w, s.measured_w) for s in both]


def test_two_11kw_chargers_share_a_3x16a_connection(start_server):
    """Embedded: the re-balances run on the server's event loop."""
    site = managed_site()
    simulate_two_chargers(start_server())
    assert_site_was_shared(site)


def test_celery_worker_rebalances_for_stations_held_by_daphne(start_server, celery_worker, redis_url, tmp_path):
    """With Redis: the receivers queue Celery tasks; a worker process computes the shares and
    sends the profiles over the Redis channel layer to the daphne holding the stations."""
    site = managed_site()
    queue = celery_worker(concurrency=1)
    env = {"REDIS_URL": redis_url, "CELERY_QUEUE": queue}
    simulate_two_chargers(start_server(**env), **env)
    worker_log = (tmp_path / "celery.log").read_text()
    assert "rebalance_site" in worker_log and "succeeded" in worker_log, worker_log[-3000:]
    assert_site_was_shared(site)
