"""V2X sessions on the CDR: energy in is priced by the tariff, energy fed back is credited at
the tariff's feed-in price (no VAT), and the CDR shows both."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing import feed_in
from billing.cdrs import create_cdr
from billing.models import SessionTariff, Tariff
from billing.pricing import PriceBreakdown
from billing.tariffs import assign_tariff
from stations.models import Site
from stations.services.meter_values import make_sample
from stations.services.registry import register_id_token, register_station
from stations.services.sessions import record_meter_values, start_session, stop_session
from tests.billing.tariff_data import component, make_tariff

pytestmark = pytest.mark.django_db

T0, T1, T2 = (datetime(2025, 3, 3, hour, minute, tzinfo=UTC) for hour, minute in ((10, 0), (10, 30), (11, 0)))
ENERGY_ONLY = {"price_components": [component("ENERGY", 0.30)]}  # 19 % VAT


@pytest.fixture(autouse=True)
def _pricing_runs_in_process(monkeypatch):
    from chargenet.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)


@pytest.fixture
def station(db):
    site = Site.objects.create(name="Yard", time_zone="Europe/Berlin")
    register_id_token(value="CARD", driver_email="d@example.com")
    return register_station(station_id="CP-1", password="p" * 20, site=site).station


def export(wh: float, at: datetime):
    return make_sample(timestamp=at, value=wh, measurand="Energy.Active.Export.Register", unit="Wh")


def v2g_session(station, *, exported_wh: int):
    """10 kWh in (meter 1000 -> 11000), ``exported_wh`` out (export register 500 -> 500 + x)."""
    session = start_session(station_pk=station.pk, evse_id=1, connector_id=1, id_token_value="CARD",
                            meter_start_wh=1000, started_at=T0).session
    record_meter_values(station_pk=station.pk, evse_id=1, transaction_id=session.transaction_id,
                        samples=[export(500, T0), export(500 + exported_wh, T1)])
    return stop_session(station_pk=station.pk, transaction_id=session.transaction_id, meter_stop_wh=11000,
                        stopped_at=T2).session


def test_exported_energy_is_credited_at_the_feed_in_price_without_vat(station):
    tariff = make_tariff("T-1", ENERGY_ONLY)
    Tariff.objects.filter(pk=tariff.pk).update(feed_in_price=Decimal("0.12"))
    assign_tariff(tariff=Tariff.objects.get(pk=tariff.pk), place=station)
    session = v2g_session(station, exported_wh=4000)
    cdr = create_cdr(session_id=session.pk)
    # Energy in: 10 kWh x 0.30 = 3.00 + 0.57 VAT. Energy out: 4 kWh x 0.12 = 0.48 credit, no VAT.
    assert (cdr.total_energy_kwh, cdr.total_energy_exported_kwh) == (Decimal("10.000"), Decimal("4.000"))
    assert (cdr.total_cost_excl_vat, cdr.total_vat, cdr.total_cost_incl_vat) == (
        Decimal("2.52"), Decimal("0.57"), Decimal("3.09"))
    credit = cdr.breakdown["lines"][-1]
    assert (credit["component"], credit["volume"], credit["unit_price"], credit["amount_incl_vat"]) == (
        "FEED_IN", "4.000", "-0.1200", "-0.48")
    assert sorted((str(v.vat_rate), v.base, v.vat) for v in cdr.vat_lines.all()) == [
        ("19.00", Decimal("3.00"), Decimal("0.57")), ("None", Decimal("-0.48"), Decimal("0.00"))]


def test_the_feed_in_price_is_the_one_at_session_start(station):
    tariff = make_tariff("T-1", ENERGY_ONLY)
    Tariff.objects.filter(pk=tariff.pk).update(feed_in_price=Decimal("0.10"))
    assign_tariff(tariff=Tariff.objects.get(pk=tariff.pk), place=station)
    session = start_session(station_pk=station.pk, evse_id=1, connector_id=1, id_token_value="CARD",
                            meter_start_wh=1000, started_at=T0).session
    assert SessionTariff.objects.get(session=session).feed_in_price == Decimal("0.10")
    Tariff.objects.filter(pk=tariff.pk).update(feed_in_price=Decimal("0.50"))
    record_meter_values(station_pk=station.pk, evse_id=1, transaction_id=session.transaction_id,
                        samples=[export(0, T0), export(2000, T1)])
    stop_session(station_pk=station.pk, transaction_id=session.transaction_id, meter_stop_wh=1000, stopped_at=T2)
    cdr = create_cdr(session_id=session.pk)
    assert cdr.total_cost_incl_vat == Decimal("-0.20")  # 2 kWh x 0.10; nothing drawn


def test_without_a_feed_in_price_export_is_shown_but_not_credited(station):
    assign_tariff(tariff=make_tariff("T-1", ENERGY_ONLY), place=station)
    cdr = create_cdr(session_id=v2g_session(station, exported_wh=4000).pk)
    assert cdr.total_energy_exported_kwh == Decimal("4.000")
    assert cdr.total_cost_incl_vat == Decimal("3.57")
    assert [line["component"] for line in cdr.breakdown["lines"]] == ["ENERGY"]


def test_credit_line_rounds_to_the_currency_and_skips_nothing_to_credit():
    line = feed_in.credit_line(exported_wh=1234, price_per_kwh=Decimal("0.137"), currency="EUR")
    assert (line.volume, line.amount_excl_vat, line.vat_rate) == (Decimal("1.234"), Decimal("-0.17"), None)
    assert feed_in.credit_line(exported_wh=0, price_per_kwh=Decimal("0.1"), currency="EUR") is None
    assert feed_in.credit_line(exported_wh=500, price_per_kwh=None, currency="EUR") is None


def test_with_credit_keeps_totals_equal_to_the_sum_of_lines():
    base = PriceBreakdown(
        currency="EUR", total_excl_vat=Decimal("3.00"), total_vat=Decimal("0.57"), total_incl_vat=Decimal("3.57"),
        total_energy_kwh=Decimal("10"), total_time_h=Decimal("1"), total_charging_time_h=Decimal("1"),
        total_parking_time_h=Decimal("0"), lines=[], vat_summary={Decimal("19"): (Decimal("3.00"), Decimal("0.57"))},
        charging_periods=[],
    )
    credited = feed_in.with_credit(base, feed_in.credit_line(exported_wh=2500, price_per_kwh=Decimal("0.2"),
                                                               currency="EUR"))
    assert (credited.total_excl_vat, credited.total_vat, credited.total_incl_vat) == (
        Decimal("2.50"), Decimal("0.57"), Decimal("3.07"))
    assert credited.total_incl_vat == credited.total_excl_vat + credited.total_vat
    assert sum(b for b, _ in credited.vat_summary.values()) == credited.total_excl_vat
