"""The whole stack as a user runs it: daphne serving, simulated chargers of both versions
booting, charging and reporting, the API showing the result."""

import subprocess
import sys

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token

from stations.models import ChargingSession, ChargingStation, MeterSample
from tests.live.conftest import ROOT, child_env

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def test_simulated_chargers_charge_through_a_live_daphne(start_server):
    import json
    import urllib.request

    server = start_server()
    run = subprocess.run(
        [sys.executable, "manage.py", "simulate", "--stations", "2", "--version", "mixed", "--url", server.ws,
         "--duration", "8", "--session-seconds", "2", "--pause-seconds", "0.5", "--meter-interval", "0.5",
         "--prefix", "LIVE-"],
        cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=90,
    )
    assert run.returncode == 0, run.stdout + run.stderr

    stations = {s.station_id: s for s in ChargingStation.objects.filter(station_id__startswith="LIVE-")}
    assert set(stations) == {"LIVE-01", "LIVE-02"}
    assert {s.ocpp_version for s in stations.values()} == {"1.6", "2.0.1"}
    assert all(s.vendor and s.last_boot_at for s in stations.values())
    assert not any(s.is_online for s in stations.values()), "stations went offline when the simulator stopped"

    for station in stations.values():
        completed = ChargingSession.objects.filter(station=station, status="Completed")
        assert completed.exists(), f"{station.station_id} ({station.ocpp_version}) completed no session"
        for session in completed:
            assert session.driver is not None
            assert session.energy_wh == session.meter_stop_wh - session.meter_start_wh
        # A session cut short when the simulator stops may have delivered nothing yet.
        charged = [s for s in completed if s.energy_wh > 0]
        assert charged, [(s.transaction_id, s.meter_start_wh, s.meter_stop_wh) for s in completed]
        assert MeterSample.objects.filter(session=charged[0]).exists()

    # And the REST API shows it, served by the same daphne process.
    user = User.objects.create_superuser("live-admin", "a@example.com", "x")
    token = Token.objects.create(user=user)
    request = urllib.request.Request(
        f"{server.http}/api/v1/sessions/?station=LIVE-01&status=Completed",
        headers={"Authorization": f"Token {token.key}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = json.load(response)
    assert body["count"] >= 1
    assert any(result["energy_wh"] > 0 for result in body["results"])
