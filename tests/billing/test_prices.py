"""The price service: the price text before a session, the running cost during it and the final
cost after it, all through the CDR's pricing; the running cost at the end is the CDR total."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.cdrs import create_cdr
from billing.models import ChargeDetailRecord
from billing.prices import final_cost, price_text, quote, running_cost, session_cost
from billing.tariffs import assign_tariff
from stations.models import Site
from stations.services.meter_values import make_sample
from stations.services.registry import register_id_token, register_station
from stations.services.sessions import record_meter_values, start_session, stop_session
from tests.billing.tariff_data import component, make_tariff

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)  # a Monday, 11:00 in Berlin
ZONE = "Europe/Berlin"


@pytest.fixture(autouse=True)
def _pricing_runs_in_process(monkeypatch):
    from chargenet.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)
    monkeypatch.setitem(app.conf, "task_eager_propagates", True)


@pytest.fixture
def station(db):
    site = Site.objects.create(name="Yard", time_zone=ZONE)
    register_id_token(value="CARD", driver_email="d@example.com")
    return register_station(station_id="CP-1", password="p" * 20, site=site).station


def energy(wh: float, at: datetime):
    return make_sample(timestamp=at, value=wh, measurand="Energy.Active.Import.Register", unit="Wh")


def ocpi(*elements, **fields) -> dict:
    return {"id": "T", "currency": fields.pop("currency", "EUR"), "elements": list(elements), **fields}


ENERGY_AND_PARKING = (
    {"price_components": [component("ENERGY", "0.327731", vat=19)]},  # 0.39 incl. VAT
    {"price_components": [component("PARKING_TIME", "5.042017", vat=19, step_size=60)],  # 6.00/h = 0.10/min incl.
     "restrictions": {"min_duration": 7200}},
)


# --- price texts ------------------------------------------------------------------------------


def test_the_price_text_shows_prices_incl_vat_with_their_conditions():
    text = price_text(tariff=ocpi(*ENERGY_AND_PARKING), at=T0, time_zone=ZONE)
    assert text == "0.39 EUR/kWh, 0.10 EUR/min parking after 2 h"


def test_the_price_text_is_in_the_drivers_language():
    text = price_text(tariff=ocpi(*ENERGY_AND_PARKING), at=T0, time_zone=ZONE, language="de-DE")
    assert text == "0,39 EUR/kWh, 0,10 EUR/min Parken nach 2 h"
    assert price_text(tariff=ocpi(*ENERGY_AND_PARKING), at=T0, time_zone=ZONE, language="xx") == (
        "0.39 EUR/kWh, 0.10 EUR/min parking after 2 h")  # unknown languages fall back to English


def test_the_price_text_shows_what_applies_at_that_moment():
    night = {"price_components": [component("ENERGY", "0.20", vat=None)],
             "restrictions": {"start_time": "22:00", "end_time": "06:00"}}
    day = {"price_components": [component("ENERGY", "0.40", vat=None), component("FLAT", "1.5", vat=None),
                                component("TIME", "1.00", vat=None)]}
    tariff = ocpi(night, day, min_price={"excl_vat": 2, "incl_vat": None})
    assert price_text(tariff=tariff, at=T0, time_zone=ZONE) == (
        "0.40 EUR/kWh, 1.00 EUR/h charging, 1.50 EUR per session, at least 2.00 EUR")
    at_night = datetime(2025, 3, 3, 22, 30, tzinfo=UTC)
    assert price_text(tariff=tariff, at=at_night, time_zone=ZONE).startswith("0.20 EUR/kWh, 1.00 EUR/h charging")


def test_a_free_tariff_says_so_and_zero_decimal_currencies_have_no_decimals():
    assert price_text(tariff=ocpi({"price_components": [component("ENERGY", 0)]}), at=T0, time_zone=ZONE) == (
        "free of charge")
    yen = ocpi({"price_components": [component("ENERGY", 45, vat=None)]}, currency="JPY")
    assert price_text(tariff=yen, at=T0, time_zone=ZONE, language="fr") == "45 JPY/kWh"


def test_a_quote_uses_the_tariff_resolution_of_sessions(station):
    assign_tariff(tariff=make_tariff("SITE", {"price_components": [component("ENERGY", 0.50, vat=None)]}),
                  place=station.site)
    evse = station.evses.get(evse_id=1) if station.evses.exists() else None
    assert quote(station=station, evse=evse, at=T0).text == "0.50 EUR/kWh"
    assign_tariff(tariff=make_tariff("HERE", {"price_components": [component("ENERGY", 0.25, vat=None)]}),
                  place=station)
    found = quote(station=station, at=T0, language="de")
    assert (found.tariff.tariff_id, found.text, found.time_zone) == ("HERE", "0,25 EUR/kWh", ZONE)


def test_no_tariff_no_quote(station):
    assert quote(station=station, at=T0) is None


# --- running and final cost -----------------------------------------------------------------------


def test_the_running_cost_follows_the_meter_values(station):
    assign_tariff(tariff=make_tariff("T-1", {"price_components": [component("ENERGY", 0.30, vat=19)]}),
                  place=station)
    session = start_session(station_pk=station.pk, evse_id=1, connector_id=1, id_token_value="CARD",
                            meter_start_wh=1000, started_at=T0).session
    assert running_cost(session=session, at=T0).total_incl_vat == Decimal("0.00")
    record_meter_values(station_pk=station.pk, evse_id=1, samples=[energy(6000, T0 + timedelta(minutes=30))],
                        transaction_id=session.transaction_id)
    session.refresh_from_db()
    cost = running_cost(session=session, at=T0 + timedelta(minutes=40))
    # 5 kWh x 0.30 = 1.50 + 19 % (0.285 -> 0.29); held flat after the last reading.
    assert (cost.total_excl_vat, cost.total_incl_vat, cost.energy_kwh, cost.final) == (
        Decimal("1.50"), Decimal("1.79"), Decimal("5.000000"), False)
    assert [line["component"] for line in cost.lines] == ["ENERGY"]
    # Asked for a moment before the last reading: priced up to that reading, never less.
    assert running_cost(session=session, at=T0 + timedelta(minutes=1)).total_excl_vat == Decimal("1.50")


def test_a_session_without_a_tariff_has_no_cost(station):
    session = start_session(station_pk=station.pk, evse_id=1, connector_id=1, id_token_value="CARD",
                            meter_start_wh=0, started_at=T0).session
    assert running_cost(session=session) is None and session_cost(session=session) is None


def test_the_final_cost_is_the_cdrs(station, django_capture_on_commit_callbacks):
    assign_tariff(tariff=make_tariff("T-1"), place=station)
    session = start_session(station_pk=station.pk, evse_id=1, connector_id=1, id_token_value="CARD",
                            meter_start_wh=1000, started_at=T0).session
    with django_capture_on_commit_callbacks(execute=True):
        session = stop_session(station_pk=station.pk, transaction_id=session.transaction_id, meter_stop_wh=11000,
                               stopped_at=T0 + timedelta(hours=1)).session
    cdr = ChargeDetailRecord.objects.get(session=session)
    cost = session_cost(session=session)
    assert cost == final_cost(session=session)
    assert (cost.final, cost.total_incl_vat, cost.tariff_id) == (True, cdr.total_cost_incl_vat, "T-1")
    assert cost.lines == cdr.breakdown["lines"]


TARIFF_FAMILY = [
    ({"price_components": [component("ENERGY", 0.39, step_size=100), component("FLAT", 0.5)]},),
    ({"price_components": [component("ENERGY", 0.30), component("TIME", 1.2, step_size=60)]},
     {"price_components": [component("PARKING_TIME", 6, step_size=300)], "restrictions": {"min_duration": 3600}}),
    ({"price_components": [component("ENERGY", 0.55, vat=7)], "restrictions": {"start_time": "11:30",
                                                                                "end_time": "12:15"}},
     {"price_components": [component("ENERGY", 0.25, vat=19, step_size=1000)]}),
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    tariff=st.sampled_from(TARIFF_FAMILY),
    steps=st.lists(st.tuples(st.integers(1, 1800), st.integers(0, 9000)), min_size=0, max_size=6),
    tail_s=st.integers(0, 3600),
)
def test_the_running_cost_at_the_end_is_the_cdr_total(station, tariff, steps, tail_s):
    """Random sessions (readings at random times with random energy, then a random wait before
    the stop): the running cost asked for at the stop instant equals the CDR the stop writes."""
    with transaction.atomic():
        assign_tariff(tariff=make_tariff("P", *tariff), place=station)
        session = start_session(station_pk=station.pk, evse_id=1, connector_id=1, id_token_value="CARD",
                                meter_start_wh=1000, started_at=T0).session
        at, wh = T0, 1000
        for seconds, added in steps:
            at, wh = at + timedelta(seconds=seconds), wh + added
            record_meter_values(station_pk=station.pk, evse_id=1, samples=[energy(wh, at)],
                                transaction_id=session.transaction_id)
        end = at + timedelta(seconds=tail_s)
        session.refresh_from_db()
        running = running_cost(session=session, at=end)
        stopped = stop_session(station_pk=station.pk, transaction_id=session.transaction_id, meter_stop_wh=wh,
                               stopped_at=end).session
        cdr = create_cdr(session_id=stopped.pk)
        assert (running.total_excl_vat, running.total_incl_vat) == (cdr.total_cost_excl_vat, cdr.total_cost_incl_vat)
        assert running.lines == cdr.breakdown["lines"]
        transaction.set_rollback(True)


def test_a_completed_session_whose_cdr_is_still_queued_shows_the_same_final_cost(station):
    assign_tariff(tariff=make_tariff("T-1"), place=station)
    session = start_session(station_pk=station.pk, evse_id=1, connector_id=1, id_token_value="CARD",
                            meter_start_wh=1000, started_at=T0).session
    session = stop_session(station_pk=station.pk, transaction_id=session.transaction_id, meter_stop_wh=11000,
                           stopped_at=T0 + timedelta(hours=1)).session  # no on_commit here: no CDR yet
    assert not ChargeDetailRecord.objects.exists()
    before = session_cost(session=session, at=T0 + timedelta(days=3))  # "now" does not move a finished session
    cdr = create_cdr(session_id=session.pk)
    after = session_cost(session=session)
    assert (before.final, after.final) == (True, True)
    assert before.total_incl_vat == after.total_incl_vat == cdr.total_cost_incl_vat == Decimal("3.57")
