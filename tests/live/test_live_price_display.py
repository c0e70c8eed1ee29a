"""A simulated OCPP 2.0.1 charger against a live daphne shows the price at the start, the running
cost while it charges and the final cost at the end, and that final cost is the CDR's total."""

import json
import re
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token

from billing.models import ChargeDetailRecord
from billing.tariffs import set_default_tariff
from stations.models import ChargingStation
from tests.billing.tariff_data import component, make_tariff
from tests.live.conftest import ROOT, child_env

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

SHOWED = re.compile(r"(\S+) showed for transaction (\S+): price (.*), (\d+) running costs \(last (\S+)\), "
                    r"final cost (\S+)")


def test_a_simulated_charger_shows_price_running_cost_and_the_cdr_total(start_server):
    set_default_tariff(tariff=make_tariff("LIVE", {"price_components": [component("ENERGY", 0.327731, vat=19)]}))
    server = start_server(OCPP_COST_UPDATE_INTERVAL_S="1")
    simulation = subprocess.Popen(
        [sys.executable, "manage.py", "simulate", "--stations", "1", "--version", "2.0.1", "--url", server.ws,
         "--duration", "14", "--session-seconds", "4", "--pause-seconds", "0.5", "--meter-interval", "0.5",
         "--power-kw", "50", "--prefix", "LIVEP-"],
        cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not ChargingStation.objects.filter(station_id="LIVEP-01", is_online=True).exists():
            assert time.monotonic() < deadline, "the simulated station did not connect"
            time.sleep(0.2)
        # The operator reads the device model: the station says its display shows tariffs and costs.
        token = Token.objects.create(user=User.objects.create_superuser("ops", "o@example.com", "x"))
        request = urllib.request.Request(
            f"{server.http}/api/v1/stations/LIVEP-01/commands/",
            data=json.dumps({"command": "get_base_report"}).encode(),
            headers={"Authorization": f"Token {token.key}", "Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.load(response)["outcome"] == "accepted"
        output, _ = simulation.communicate(timeout=90)
    finally:
        if simulation.poll() is None:
            simulation.kill()
    assert simulation.returncode == 0, output

    shown = {m[2]: m for m in SHOWED.finditer(output)}
    finished = [m for m in shown.values() if m[6] != "None" and int(m[4]) > 0]
    assert finished, output
    for match in finished:
        cdr = ChargeDetailRecord.objects.get(session__station__station_id="LIVEP-01",
                                             session__transaction_id=match[2])
        assert Decimal(match[6]) == cdr.total_cost_incl_vat  # the final cost on the display is the CDR's
        assert 0 <= Decimal(match[5]) <= cdr.total_cost_incl_vat  # the running cost grew towards it
        assert cdr.total_cost_incl_vat > 0
    assert any(m[3] == "'0.39 EUR/kWh'" for m in shown.values()), output  # the price at the start
