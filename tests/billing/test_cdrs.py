"""CDRs: a completed session priced once, against the tariff it started with, and who sees them.

Hand computations use one tariff, 19 % VAT on every component, VAT rounded per line:
    FLAT 0.50 / ENERGY 0.30 per kWh / TIME 1.20 per h / PARKING_TIME 2.00 per h (per minute).
"""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import connections

from billing.cdrs import create_cdr, session_timeline
from billing.models import ChargeDetailRecord, DriverGroup, ImmutableError, SessionTariff
from billing.tariffs import assign_tariff, check_ocpi_tariff, update_tariff
from stations.models import ChargingSession, Site
from stations.services.meter_values import make_sample
from stations.services.registry import register_id_token, register_station
from stations.services.sessions import (
    TransactionEvent,
    apply_transaction_event,
    record_meter_values,
    start_session,
    stop_session,
)
from stations.signals import session_completed
from tests.billing.tariff_data import client_for, component, make_roles, make_tariff, ocpi_tariff
from tests.conftest import adb

pytestmark = pytest.mark.django_db

T0, T1, T2 = (datetime(2025, 3, 3, hour, minute, tzinfo=UTC) for hour, minute in ((10, 0), (10, 30), (11, 0)))



@pytest.fixture(autouse=True)
def _pricing_runs_in_process(monkeypatch):
    """With REDIS_URL (CI) the pricing task would go to a broker that no worker serves during
    the tests: run it in-process, as it runs without REDIS_URL."""
    from chargenet.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)
    monkeypatch.setitem(app.conf, "task_eager_propagates", True)


FOUR_DIMENSIONS = {
    "price_components": [
        component("FLAT", 0.50), component("ENERGY", 0.30), component("TIME", 1.20, step_size=60),
        component("PARKING_TIME", 2.00, step_size=60),
    ]
}


def energy(wh: float, at: datetime, **kwargs):
    return make_sample(timestamp=at, value=wh, measurand="Energy.Active.Import.Register", unit="Wh", **kwargs)


def power(w: float, at: datetime, phase: str | None = None):
    return make_sample(timestamp=at, value=w, measurand="Power.Active.Import", unit="W", phase=phase)


@pytest.fixture
def station(db):
    site = Site.objects.create(name="Yard", time_zone="Europe/Berlin")
    register_id_token(value="CARD", driver_email="d@example.com")
    return register_station(station_id="CP-1", password="p" * 20, site=site).station


def charge(station, *readings, meter_start=1000, meter_stop=11000, stopped_at=T2, token="CARD") -> ChargingSession:
    """A 1.6-style session through the services: start at T0, the readings, stop."""
    session = start_session(station_pk=station.pk, evse_id=1, connector_id=1, id_token_value=token,
                            meter_start_wh=meter_start, started_at=T0).session
    if readings:
        record_meter_values(station_pk=station.pk, evse_id=1, samples=list(readings),
                            transaction_id=session.transaction_id)
    return stop_session(station_pk=station.pk, transaction_id=session.transaction_id, meter_stop_wh=meter_stop,
                        stopped_at=stopped_at).session


def totals(cdr: ChargeDetailRecord) -> tuple[str, str, str]:
    return str(cdr.total_cost_excl_vat), str(cdr.total_vat), str(cdr.total_cost_incl_vat)


# --- pricing a completed session ------------------------------------------------------------


def test_a_completed_session_gets_a_cdr_matching_the_hand_computation(station, django_capture_on_commit_callbacks):
    assign_tariff(tariff=make_tariff("T-1", FOUR_DIMENSIONS), place=station)
    with django_capture_on_commit_callbacks(execute=True):
        session = charge(station, energy(6000, T1))
    cdr = ChargeDetailRecord.objects.get(session=session)
    # 10 kWh charged over the whole hour, no parking:
    # FLAT 0.50 (VAT 0.095 -> 0.10), ENERGY 10 x 0.30 = 3.00 (0.57), TIME 1 h x 1.20 = 1.20 (0.228 -> 0.23).
    assert totals(cdr) == ("4.70", "0.90", "5.60")  # VAT per line: 0.90, not round(4.70 x 19 %) = 0.89
    assert cdr.cdr_id == f"CNT{session.pk:012d}"
    assert (cdr.total_energy_kwh, cdr.total_time_h, cdr.total_parking_time_h) == (
        Decimal("10.000"), Decimal("1.0000"), Decimal("0.0000"))
    assert (cdr.currency, cdr.time_zone, cdr.station_id_text, cdr.site_name) == ("EUR", "Europe/Berlin", "CP-1", "Yard")
    assert cdr.driver.email == "d@example.com" and cdr.id_token_value == "CARD"
    assert cdr.tariff == SessionTariff.objects.get(session=session).snapshot
    assert [(line.vat_rate, line.base, line.vat) for line in cdr.vat_lines.all()] == [
        (Decimal("19.00"), Decimal("4.70"), Decimal("0.90"))]
    assert [line["component"] for line in cdr.breakdown["lines"]] == ["FLAT", "ENERGY", "TIME"]


def test_time_without_energy_is_parking(station):
    assign_tariff(tariff=make_tariff("T-1", FOUR_DIMENSIONS), place=station)
    session = charge(station, energy(6000, T1), meter_stop=6000)
    # 5 kWh in the first half hour, then parked: FLAT 0.50 (0.10), ENERGY 1.50 (0.285 -> 0.29),
    # TIME 0.5 h = 0.60 (0.114 -> 0.11), PARKING_TIME 0.5 h = 1.00 (0.19).
    assert totals(create_cdr(session_id=session.pk)) == ("3.60", "0.69", "4.29")


def test_power_samples_choose_the_power_restricted_element(station):
    fast = {"price_components": [component("ENERGY", 0.50, vat=None)], "restrictions": {"min_power": 11}}
    slow = {"price_components": [component("ENERGY", 0.30, vat=None)]}
    assign_tariff(tariff=make_tariff("T-1", fast, slow), place=station)
    # 11 kWh in the first half hour (22 kW on average); 3 kWh in the second, reported at 22 kW.
    # Power is held from the 10:30 reading, so the second half hour is fast too: 14 x 0.50.
    # (From the average power alone it would be 11 x 0.50 + 3 x 0.30 = 6.40.)
    session = charge(station, energy(11000, T1), power(22000, T1), meter_start=0, meter_stop=14000)
    assert totals(create_cdr(session_id=session.pk)) == ("7.00", "0.00", "7.00")


def test_a_session_without_energy_still_gets_a_cdr_with_its_flat_fee(station):
    assign_tariff(tariff=make_tariff("T-1", {"price_components": [component("FLAT", 1.00), component("ENERGY", 0.3)]}),
                  place=station)
    cdr = create_cdr(session_id=charge(station, meter_start=500, meter_stop=500).pk)
    assert totals(cdr) == ("1.00", "0.19", "1.19")
    assert cdr.total_energy_kwh == 0


def test_no_tariff_means_no_cdr_and_a_log_line(station, caplog):
    caplog.set_level("INFO", logger="billing.cdrs")
    session = charge(station)
    assert create_cdr(session_id=session.pk) is None
    assert not ChargeDetailRecord.objects.exists()
    assert f"no tariff applies to session {session.pk}" in caplog.text


def test_a_session_that_started_before_any_tariff_is_priced_with_what_applies_at_the_end(station):
    session = charge(station)
    assert not SessionTariff.objects.exists()
    assign_tariff(tariff=make_tariff("LATE"), place=station.site)
    assert totals(create_cdr(session_id=session.pk)) == ("3.00", "0.57", "3.57")


def test_a_tariff_changed_during_the_session_does_not_change_its_price(station):
    tariff = make_tariff("T-1")
    assign_tariff(tariff=tariff, place=station)
    session = start_session(station_pk=station.pk, evse_id=1, connector_id=1, id_token_value="CARD",
                            meter_start_wh=1000, started_at=T0).session
    update_tariff(tariff=tariff, ocpi=check_ocpi_tariff(
        ocpi_tariff("T-1", {"price_components": [component("ENERGY", 0.99)]}), instance=tariff))
    stop_session(station_pk=station.pk, transaction_id=session.transaction_id, meter_stop_wh=11000, stopped_at=T2)
    assert totals(create_cdr(session_id=session.pk)) == ("3.00", "0.57", "3.57")  # 10 kWh x 0.30, not 0.99


def test_an_active_session_is_not_priced(station):
    assign_tariff(tariff=make_tariff("T-1"), place=station)
    session = start_session(station_pk=station.pk, evse_id=1, connector_id=1, id_token_value="CARD",
                            meter_start_wh=0, started_at=T0).session
    assert create_cdr(session_id=session.pk) is None


def test_a_driver_identified_after_the_201_start_gets_their_groups_tariff(station):
    assign_tariff(tariff=make_tariff("PUBLIC"), place=station.site)
    staff = DriverGroup.objects.create(name="Staff")
    staff.drivers.add(register_id_token(value="CARD", driver_email="d@example.com").driver)
    assign_tariff(tariff=make_tariff("STAFF", {"price_components": [component("ENERGY", 0.10)]}),
                  place=station, driver_group=staff)

    def event(kind, seq_no, at, wh, context, **extra):
        return TransactionEvent(event_type=kind, transaction_id="TX-9", seq_no=seq_no, timestamp=at,
                                trigger_reason="CablePluggedIn", evse_id=1, connector_id=1,
                                samples=[energy(wh, at, context=context)], **extra)

    apply_transaction_event(station_pk=station.pk, event=event("Started", 0, T0, 1000, "Transaction.Begin"))
    assert SessionTariff.objects.get().tariff.tariff_id == "PUBLIC"  # nobody known yet
    apply_transaction_event(station_pk=station.pk, event=event("Updated", 1, T1, 6000, "Sample.Periodic",
                                                               id_token_value="CARD", id_token_type="ISO14443"))
    session = apply_transaction_event(station_pk=station.pk,
                                      event=event("Ended", 2, T2, 11000, "Transaction.End")).session
    cdr = create_cdr(session_id=session.pk)
    assert cdr.tariff["id"] == "STAFF"
    assert totals(cdr) == ("1.00", "0.19", "1.19")  # 10 kWh x 0.10


def test_the_timeline_holds_a_register_that_steps_back_and_sums_phase_power(station):
    session = charge(
        station, energy(5000, T1), energy(4000, datetime(2025, 3, 3, 10, 45, tzinfo=UTC)),
        power(3000, T1, "L1"), power(3000, T1, "L2"), power(2000, T1, "L3"),
    )
    readings = {r.timestamp.strftime("%H:%M"): (r.energy_wh, r.power_w) for r in session_timeline(session).readings}
    assert readings == {"10:00": (1000, None), "10:30": (5000, 8000.0), "10:45": (5000, None), "11:00": (11000, None)}


# --- once only, never changed ----------------------------------------------------------------


def test_completion_announced_twice_makes_one_cdr(station, django_capture_on_commit_callbacks):
    assign_tariff(tariff=make_tariff("T-1"), place=station)
    with django_capture_on_commit_callbacks(execute=True):
        session = charge(station)
    with django_capture_on_commit_callbacks(execute=True):
        session_completed.send(sender=ChargingSession, session_id=session.pk)
        session_completed.send(sender=ChargingSession, session_id=session.pk)
    assert ChargeDetailRecord.objects.count() == 1
    assert create_cdr(session_id=session.pk).pk == ChargeDetailRecord.objects.get().pk


def test_a_cdr_cannot_be_changed(station):
    assign_tariff(tariff=make_tariff("T-1"), place=station)
    cdr = create_cdr(session_id=charge(station).pk)
    cdr.total_cost_incl_vat = Decimal("0.01")
    with pytest.raises(ImmutableError):
        cdr.save()
    assert ChargeDetailRecord.objects.get().total_cost_incl_vat == Decimal("3.57")


def test_a_pricing_failure_is_logged_and_never_reaches_the_station(station, monkeypatch, caplog,
                                                                   django_capture_on_commit_callbacks):
    assign_tariff(tariff=make_tariff("T-1"), place=station)

    def broken(**kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr("billing.cdrs.create_cdr", broken)
    with django_capture_on_commit_callbacks(execute=True):
        session = charge(station)
    assert session.status == "Completed"
    assert f"pricing session {session.pk} failed" in caplog.text


# --- who sees CDRs ---------------------------------------------------------------------------


@pytest.fixture
def roles(db):
    roles = make_roles()
    tariff = make_tariff("NET")
    for station, token in [(roles["acme_station"], "ALICE-CARD"), (roles["other_station"], "BOB-CARD")]:
        assign_tariff(tariff=tariff, place=station)
        create_cdr(session_id=charge(station, token=token).pk)
    return roles


def cdr_stations(client) -> list[str]:
    response = client.get("/api/v1/cdrs/")
    assert response.status_code == 200, response.content
    return sorted(cdr["station"] for cdr in response.json()["results"])


def test_operators_and_finance_see_all_cdrs(roles):
    assert cdr_stations(roles["operator"]) == ["ACME-1", "OTHER-1"]
    assert cdr_stations(roles["finance"]) == ["ACME-1", "OTHER-1"]


def test_site_owners_see_their_sites_cdrs_and_drivers_their_own(roles):
    assert cdr_stations(roles["owner"]) == ["ACME-1"]
    assert cdr_stations(roles["driver"]) == ["ACME-1"]  # alice charged there
    assert cdr_stations(roles["nobody"]) == []
    bobs = ChargeDetailRecord.objects.get(station_id_text="OTHER-1").cdr_id
    assert roles["driver"].get(f"/api/v1/cdrs/{bobs}/").status_code == 404


def test_a_cdr_reads_with_its_totals_vat_lines_and_tariff(roles):
    cdr = ChargeDetailRecord.objects.get(station_id_text="ACME-1")
    data = roles["driver"].get(f"/api/v1/cdrs/{cdr.cdr_id}/").json()
    assert (data["total_cost_excl_vat"], data["total_vat"], data["total_cost_incl_vat"]) == ("3.00", "0.57", "3.57")
    assert data["vat_lines"] == [{"vat_rate": "19.00", "base": "3.00", "vat": "0.57"}]
    assert data["tariff"]["id"] == "NET" and data["driver_email"] == "alice@example.com"
    assert roles["operator"].post("/api/v1/cdrs/", {}, format="json").status_code == 405


def test_the_sessions_api_shows_cost_and_currency_once_priced(roles):
    sessions = roles["driver"].get("/api/v1/sessions/").json()["results"]
    assert [(s["cost"], s["currency"]) for s in sessions] == [("3.57", "EUR")]
    unpriced = start_session(station_pk=roles["acme_station"].pk, evse_id=2, connector_id=1,
                             id_token_value="ALICE-CARD", meter_start_wh=0, started_at=T2).session
    listed = {s["id"]: (s["cost"], s["currency"]) for s in roles["driver"].get("/api/v1/sessions/").json()["results"]}
    assert listed[unpriced.pk] == (None, None)


# --- whole OCPP flows through the ASGI stack ------------------------------------------------------


def in_request_thread(func):
    def run(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        finally:
            connections.close_all()

    return sync_to_async(run, thread_sensitive=False)


def _network_with_tariff(station_id: str, make_station, make_token):
    site = Site.objects.create(name=f"Site of {station_id}", time_zone="Europe/Berlin")
    station = make_station(station_id, site=site)
    make_token("TOKEN-1", driver_email="driver@example.com")
    assign_tariff(tariff=make_tariff("T-1", FOUR_DIMENSIONS), place=site)
    return client_for(User.objects.create_superuser("ops", "ops@example.com", "x")), station


def reading(wh: int, at: str, context: str = "Sample.Periodic", version: str = "1.6") -> dict:
    value = {"value": wh if version != "1.6" else str(wh), "context": context,
             "measurand": "Energy.Active.Import.Register"}
    value.update({"unit": "Wh"} if version == "1.6" else {"unitOfMeasure": {"unit": "Wh"}})
    return {"timestamp": at, "sampledValue": [value]}


@pytest.mark.django_db(transaction=True)
async def test_an_ocpp16_session_ends_with_a_cdr_and_a_cost(make_station, make_token, ocpp):
    api, _ = await adb(_network_with_tariff)("CP-16", make_station, make_token)
    async with ocpp("CP-16", version="1.6") as cp:
        started = await cp.result("StartTransaction", {"connectorId": 1, "idTag": "TOKEN-1", "meterStart": 1000,
                                                       "timestamp": "2025-03-03T10:00:00Z"})
        tx = started["transactionId"]
        await cp.result("MeterValues", {"connectorId": 1, "transactionId": tx,
                                        "meterValue": [reading(6000, "2025-03-03T10:30:00Z")]})
        await cp.result("StopTransaction", {"transactionId": tx, "meterStop": 11000,
                                            "timestamp": "2025-03-03T11:00:00Z"})
    cdr = await ChargeDetailRecord.objects.aget(session__transaction_id=str(tx))
    assert totals(cdr) == ("4.70", "0.90", "5.60")  # as in the first test of this module
    session = (await in_request_thread(api.get)(f"/api/v1/sessions/{cdr.session_id}/")).json()
    assert (session["cost"], session["currency"], session["energy_wh"]) == ("5.60", "EUR", 10000)


@pytest.mark.django_db(transaction=True)
async def test_an_ocpp201_session_ends_with_a_cdr_and_a_cost(make_station, make_token, ocpp):
    api, _ = await adb(_network_with_tariff)("CS-201", make_station, make_token)

    def event(kind, seq_no, at, trigger, meter, **extra):
        return {"eventType": kind, "timestamp": at, "triggerReason": trigger, "seqNo": seq_no,
                "transactionInfo": {"transactionId": "TX-1"}, "meterValue": [meter], **extra}

    async with ocpp("CS-201", version="2.0.1") as cs:
        await cs.result("TransactionEvent", event(
            "Started", 0, "2025-03-03T10:00:00Z", "Authorized",
            reading(1000, "2025-03-03T10:00:00Z", "Transaction.Begin", "2.0.1"),
            idToken={"idToken": "TOKEN-1", "type": "ISO14443"}, evse={"id": 1, "connectorId": 1}))
        await cs.result("TransactionEvent", event(
            "Updated", 1, "2025-03-03T10:30:00Z", "MeterValuePeriodic",
            reading(6000, "2025-03-03T10:30:00Z", version="2.0.1")))
        await cs.result("TransactionEvent", event(
            "Ended", 2, "2025-03-03T11:00:00Z", "EVDeparted",
            reading(6000, "2025-03-03T11:00:00Z", "Transaction.End", "2.0.1")))
    cdr = await ChargeDetailRecord.objects.aget(session__transaction_id="TX-1")
    assert totals(cdr) == ("3.60", "0.69", "4.29")  # as in test_time_without_energy_is_parking
    assert (cdr.total_parking_time_h, cdr.time_zone) == (Decimal("0.5000"), "Europe/Berlin")
    session = (await in_request_thread(api.get)(f"/api/v1/sessions/{cdr.session_id}/")).json()
    assert (session["cost"], session["currency"]) == ("4.29", "EUR")
