"""Two ChargeNet networks roam with each other, each a daphne with its own database.

Network A (the test database) runs a charger; network B (a sibling database) issues a card
to its driver Bob. B registers with A by the OCPI credentials handshake (``ocpi_add_partner``
at A, ``ocpi_register`` at B) and pulls A's locations. Bob's card at A's simulated charger is
authorised in real time by B, the session shows at B while it runs, the CDR arrives at B and
B's monthly invoice bills it to Bob at B's roaming price; A's settlement report lists it as
owed by B. Then Bob starts A's charger from B's API (START_SESSION crosses, the result comes
back to B's response_url).

The charger's clock runs in the previous month, so that month's invoicing can run now."""

import asyncio
import csv
import io
import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from rest_framework.authtoken.models import Token

import stations.simulator as simulator
from billing.invoice_selectors import FINANCE_GROUP
from billing.models import ChargeDetailRecord
from billing.tariffs import assign_tariff
from roaming.credentials import add_partner
from roaming.models import PartnerToken, RequestLog
from roaming.tasks import deliver_all
from stations.models import ChargingSession, ChargingStation, Connector, Evse, Site
from tests.billing.tariff_data import make_tariff
from tests.conftest import PASSWORD
from tests.live.conftest import ROOT, LiveServer, child_env, free_port

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

BOB_CARD = "B-CARD-1"


@pytest.fixture
def network_b_database():
    """A database of its own for network B, beside the test database, migrated."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        path = Path(settings["NAME"]).with_name(Path(settings["NAME"]).stem + "-network-b.sqlite3")
        for leftover in path.parent.glob(path.name + "*"):
            leftover.unlink()
        url = f"sqlite:///{path}"
    else:
        import psycopg

        name = f"{settings['NAME']}_network_b"
        admin = psycopg.connect(host=settings.get("HOST") or "127.0.0.1", port=settings.get("PORT") or 5432,
                                user=settings.get("USER") or "postgres", password=settings.get("PASSWORD") or None,
                                dbname="postgres", autocommit=True)
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
        url = child_env()["DATABASE_URL"].rsplit("/", 1)[0] + f"/{name}"
    manage(url, "migrate", "--noinput")
    yield url
    if connection.vendor == "sqlite":
        for leftover in path.parent.glob(path.name + "*"):
            leftover.unlink()
    else:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def manage(database_url: str, *args: str, **env) -> str:
    run = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=180,
                         env=child_env(DATABASE_URL=database_url, **env))
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def query_b(database_url: str, code: str):
    """Run ``code`` (which sets ``result``) against network B's database; its JSON back."""
    printed = "\nimport json; print('RESULT=' + json.dumps(result, default=str))"
    out = manage(database_url, "shell", "-c", code + printed)
    return json.loads(out.rsplit("RESULT=", 1)[1])


def wait_for(what: str, check, timeout_s: float = 40, every_s: float = 0.5):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        deliver_all()  # network A's beat: pushes that found the outbox busy go out now
        value = check()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"timed out waiting for {what}")


def network_a() -> Site:
    site = Site.objects.create(name="A Harbour", address="Kade 1", city="Hamburg", postal_code="20457", country="DE",
                               time_zone="Europe/Berlin", latitude=Decimal("53.541"), longitude=Decimal("9.984"))
    from stations.services.registry import register_station

    station = register_station(station_id="A-CP-1", password=PASSWORD, site=site).station
    ChargingStation.objects.filter(pk=station.pk).update(registration_status="Accepted")
    evse = Evse.objects.create(station=station, evse_id=1)
    # Known before the charger first reports (its clock runs a month behind: no status time yet).
    Connector.objects.create(evse=evse, connector_id=1, standard="IEC_62196_T2", max_power_w=11000,
                             status="Available")
    assign_tariff(tariff=make_tariff("A-ROAM", {"price_components": [
        {"type": "ENERGY", "price": 0.30, "vat": 19, "step_size": 1}]}), place=site)
    return site


class ShiftedCharger:
    """A simulated 1.6 charger of network A, in a thread of its own, whose clock reads ``at``."""

    def __init__(self, ws_url: str, at: datetime, monkeypatch):
        offset = datetime.now(UTC) - at
        monkeypatch.setattr(simulator, "now_iso", lambda: (datetime.now(UTC) - offset).isoformat(
            timespec="milliseconds").replace("+00:00", "Z"))
        self.station = simulator.SimulatedStation(
            "A-CP-1", PASSWORD, url=ws_url, version="1.6", id_token=BOB_CARD, power_w=22_000,
            timing=simulator.Timing(meter_interval_s=1, session_s=6, pause_s=3600, heartbeat_interval_s=300))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self.station.run(),), daemon=True)
        self.thread.start()

    def stop(self):
        self.loop.call_soon_threadsafe(self.station.close)
        self.thread.join(timeout=30)


def previous_month_noon() -> tuple[datetime, str]:
    first = datetime.now(UTC).replace(day=1, hour=12, minute=0, second=0, microsecond=0)
    moment = (first - timedelta(days=20))
    return moment, f"{moment.year:04d}-{moment.month:02d}"


def test_a_driver_of_network_b_charges_at_network_a(network_b_database, tmp_path, monkeypatch, settings):
    db_b = network_b_database
    port_a, port_b = free_port(), free_port()
    url_a, url_b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    env_a = {"OCPI_BASE_URL": url_a, "OCPI_COUNTRY_CODE": "DE", "OCPI_PARTY_ID": "AAA",
             "OCPI_BUSINESS_NAME": "Network A", "OCPI_SESSION_UPDATE_INTERVAL_S": "1", "OCPI_AUTHORIZE_TIMEOUT_S": "15"}
    env_b = {"OCPI_BASE_URL": url_b, "OCPI_COUNTRY_CODE": "DE", "OCPI_PARTY_ID": "BBB",
             "OCPI_BUSINESS_NAME": "Network B", "OCPI_ROAMING_MARGIN_PERCENT": "20", "OCPI_ROAMING_VAT_PERCENT": "19"}
    settings.OCPI_BASE_URL, settings.OCPI_COUNTRY_CODE, settings.OCPI_PARTY_ID = url_a, "DE", "AAA"

    # Network B: Bob, his card, his API token.
    bob_key = query_b(db_b, (
        "from django.contrib.auth.models import User\nfrom rest_framework.authtoken.models import Token\n"
        "from stations.models import Driver, IdToken\n"
        "user = User.objects.create_user('bob', 'bob@b.example', 'pw-bob')\n"
        "driver = Driver.objects.create(user=user, email='bob@b.example', name='Bob')\n"
        f"IdToken.objects.create(value='{BOB_CARD}', driver=driver)\n"
        "result = Token.objects.create(user=user).key"))
    bob = {"Authorization": f"Token {bob_key}"}

    # Network A: a published site with a charger and its tariff; B may register.
    network_a()
    partner_b, token_a = add_partner(name="Network B")
    server_a = LiveServer(port_a, child_env(**env_a), tmp_path / "network-a.log")
    server_b = LiveServer(port_b, child_env(DATABASE_URL=db_b, **env_b), tmp_path / "network-b.log")
    charger = None
    try:
        # The credentials handshake: B registers with A, and pulls A's locations and tariffs.
        out = manage(db_b, "ocpi_register", f"{url_a}/ocpi/versions", token_a, "--name", "Network A", **env_b)
        assert "registered with Network A (DE*AAA) (CPO_EMSP)" in out, out
        partner_b.refresh_from_db()
        assert (partner_b.status, partner_b.role, partner_b.party_id) == ("registered", "CPO_EMSP", "BBB")
        locations = httpx.get(f"{url_b}/api/v1/roaming/locations/", headers=bob, timeout=30).json()
        assert [(loc["name"], loc["partner"]) for loc in locations] == [("A Harbour", "Network A")]
        assert locations[0]["price"] == "0.36 EUR/kWh excl. VAT"  # A's 0.30 + B's 20 %

        # Bob's card at A's charger: A asks B in real time; the session shows at B while it runs.
        at, period = previous_month_noon()
        charger = ShiftedCharger(f"ws://127.0.0.1:{port_a}/ocpp", at, monkeypatch)
        running = wait_for("the running session at B", lambda: [
            s for s in httpx.get(f"{url_b}/api/v1/roaming/sessions/", headers=bob, timeout=30).json()
            if s["status"] == "ACTIVE"])
        assert running[0]["partner"] == "Network A" and running[0]["evse_uid"] == "A-CP-1-1"
        authorize = RequestLog.objects.filter(partner=partner_b, direction="out", url__contains="/authorize")
        assert authorize.get().http_status == 200
        assert PartnerToken.objects.get(uid=BOB_CARD).partner_id == partner_b.pk

        # The session ends; A prices it and its CDR reaches B, who resells it to Bob.
        cdr_a = wait_for("A's CDR", lambda: ChargeDetailRecord.objects.filter(session__id_token__value=BOB_CARD)
                         .first())
        assert cdr_a.end_date_time.strftime("%Y-%m") == period and cdr_a.total_energy_kwh > 0
        at_b = wait_for("the CDR at B", lambda: query_b(db_b, (
            "from roaming.models import RoamingCdr\n"
            "result = [dict(id=c.ocpi_id, excl=str(c.total_cost_excl_vat), check=c.tariff_check, "
            "billed=str(c.billed_cdr.total_cost_excl_vat), driver=c.driver.email) "
            "for c in RoamingCdr.objects.select_related('billed_cdr', 'driver')]")), timeout_s=60, every_s=2)
        roaming_price = (cdr_a.total_cost_excl_vat * Decimal("1.2")).quantize(Decimal("0.01"))
        assert at_b == [{"id": cdr_a.cdr_id, "excl": str(cdr_a.total_cost_excl_vat), "check": "match",
                         "billed": str(roaming_price), "driver": "bob@b.example"}]
        sessions_b = httpx.get(f"{url_b}/api/v1/roaming/sessions/", headers=bob, timeout=30).json()
        assert [s["status"] for s in sessions_b] == ["COMPLETED"]
        # A's EVSE status pushes gave B live availability: charging meanwhile, free again now.
        assert query_b(db_b, "from roaming.models import RequestLog\nresult = RequestLog.objects.filter("
                             "direction='in', method='PATCH', request_body__contains='CHARGING').exists()")
        evse_b = httpx.get(f"{url_b}/api/v1/roaming/locations/", headers=bob, timeout=30).json()[0]["evses"][0]
        assert evse_b == {"uid": "A-CP-1-1", "evse_id": "DE*AAA*EACP1*1", "status": "AVAILABLE"}

        # B's monthly invoicing bills it to Bob at B's roaming price.
        assert '"invoices_created": 1' in manage(db_b, "run_invoicing", "--period", period, **env_b)
        invoices = httpx.get(f"{url_b}/api/v1/invoices/", headers=bob, timeout=30).json()["results"]
        lines = invoices[0]["lines"]
        assert invoices[0]["period"] == period and len(lines) == 1
        assert Decimal(lines[0]["amount_excl_vat"]) == roaming_price
        assert lines[0]["site_name"] == "Network A: A Harbour"

        # A's settlement report lists it as owed by network B.
        finance = User.objects.create_user("finance")
        finance.groups.add(Group.objects.get_or_create(name=FINANCE_GROUP)[0])
        report = httpx.get(f"{url_a}/api/v1/roaming/settlement.csv?period={period}", timeout=30,
                           headers={"Authorization": f"Token {Token.objects.create(user=finance).key}"})
        rows = list(csv.DictReader(io.StringIO(report.text)))
        assert [(r["partner"], r["direction"], r["cdr_id"], r["amount_excl_vat"]) for r in rows if r["row"] == "cdr"] \
            == [("Network B", "emsp_owes_us", cdr_a.cdr_id, str(cdr_a.total_cost_excl_vat))]

        # Bob starts A's charger from B's API: START_SESSION crosses, the result comes back to B.
        location_pk = locations[0]["id"]
        started = httpx.post(f"{url_b}/api/v1/roaming/locations/{location_pk}/start/", headers=bob, timeout=60,
                             json={"evse_uid": "A-CP-1-1"})
        assert started.status_code == 202, started.text
        wait_for("the remote session at A", lambda: ChargingSession.objects.filter(
            id_token__value=BOB_CARD).count() == 2)
        result = wait_for("the command result at B", lambda: query_b(db_b, (
            "from roaming.models import RemoteCommand\n"
            "result = [(c.command, c.response, c.result) for c in RemoteCommand.objects.all()]"))[0][2],
            timeout_s=60, every_s=2)
        assert result == "ACCEPTED"
        wait_for("the remote session at B", lambda: len(httpx.get(
            f"{url_b}/api/v1/roaming/sessions/", headers=bob, timeout=30).json()) == 2)
    finally:
        if charger is not None:
            charger.stop()
        server_a.stop()
        server_b.stop()
