"""Market (day-ahead) prices: import from CSV and HTTP JSON, dynamic tariffs priced part by
part, the price text, the scheduled import and the load manager's curve."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import httpx
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from billing.cdrs import create_cdr
from billing.market import MarketImportError, follow_market, import_feed, points_between
from billing.models import MarketPrice, MarketPriceFeed, SessionTariff
from billing.prices import quote, running_cost
from billing.pricing import Reading, SessionTimeline, price_session
from billing.tariffs import assign_tariff
from stations.models import Site
from stations.services.meter_values import make_sample
from stations.services.registry import register_id_token, register_station
from stations.services.sessions import record_meter_values, start_session, stop_session
from stations.smart_charging.models import SiteLoadLimit
from tests.billing.tariff_data import component, make_tariff

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)  # 11:00 in Berlin
ZONE = "Europe/Berlin"

CSV = """start;end;price
2025-03-03T10:00:00Z;2025-03-03T11:00:00Z;80,00
2025-03-03T11:00:00Z;2025-03-03T12:00:00Z;120,00
2025-03-03T12:00:00Z;2025-03-03T13:00:00Z;-5,00
"""


@pytest.fixture
def feed(db):
    return MarketPriceFeed.objects.create(name="EPEX DE", kind="csv", source="/nonexistent.csv",
                                          margin_per_kwh=Decimal("0.15"), vat=Decimal("19"))


@pytest.fixture
def station(db):
    site = Site.objects.create(name="Yard", time_zone=ZONE)
    register_id_token(value="CARD", driver_email="d@example.com")
    return register_station(station_id="CP-1", password="p" * 20, site=site).station


def stored(feed) -> list[tuple[str, str, Decimal]]:
    return [(p.starts_at.strftime("%H:%M"), p.ends_at.strftime("%H:%M"), p.price_per_kwh)
            for p in MarketPrice.objects.filter(feed=feed)]


# --- import ------------------------------------------------------------------------------------


def test_a_csv_file_in_eur_per_mwh_is_stored_per_kwh(feed, tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text(CSV)
    feed.source = str(path)
    feed.save()
    assert import_feed(feed=feed) == 3
    assert stored(feed) == [("10:00", "11:00", Decimal("0.080000")), ("11:00", "12:00", Decimal("0.120000")),
                            ("12:00", "13:00", Decimal("-0.005000"))]
    feed.refresh_from_db()
    assert feed.last_imported_at is not None and feed.last_error == ""


def test_a_json_feed_over_http_with_quarter_hours_and_no_end(feed):
    feed.kind, feed.source = "json", "https://prices.example/day-ahead"
    feed.json_items, feed.unit = "data.prices", "kWh"
    feed.resolution_minutes, feed.start_field, feed.price_field = 15, "from", "value"
    feed.save()
    body = {"data": {"prices": [{"from": "2025-03-03T11:00:00+01:00", "value": 0.1},
                                {"from": "2025-03-03T11:15:00+01:00", "value": "0.2"}]}}
    seen = []

    def handler(request):
        seen.append(str(request.url))
        return httpx.Response(200, json=body)

    assert import_feed(feed=feed, transport=httpx.MockTransport(handler)) == 2
    assert seen == ["https://prices.example/day-ahead"]
    assert stored(feed) == [("10:00", "10:15", Decimal("0.100000")), ("10:15", "10:30", Decimal("0.200000"))]


def test_a_new_import_replaces_the_points_it_covers(feed):
    import_feed(feed=feed, text=CSV)
    import_feed(feed=feed, text="start,end,price\n2025-03-03T11:00:00Z,2025-03-03T12:00:00Z,100\n")
    assert stored(feed) == [("10:00", "11:00", Decimal("0.080000")), ("11:00", "12:00", Decimal("0.100000")),
                            ("12:00", "13:00", Decimal("-0.005000"))]


@pytest.mark.parametrize(("text", "message"), [
    ("start,end,price\n2025-03-03T10:00:00Z,2025-03-03T11:00:00Z,abc\n", "row 1 price: expected a number"),
    ("start,end,price\nyesterday,2025-03-03T11:00:00Z,1\n", "row 1 start: expected an ISO 8601 date-time"),
    ("start,end,price\n2025-03-03T10:00:00Z,2025-03-03T09:00:00Z,1\n", "not after its start"),
    ("start,end,price\n2025-03-03T10:00:00Z,2025-03-03T11:00:00Z,1\n2025-03-03T10:30:00Z,,2\n", "overlap"),
    ("start,end,price\n", "no price points"),
])
def test_a_bad_feed_stores_nothing_and_says_why(feed, text, message):
    import_feed(feed=feed, text=CSV)
    with pytest.raises(MarketImportError, match=message):
        import_feed(feed=feed, text=text)
    assert len(stored(feed)) == 3
    feed.refresh_from_db()
    assert message in feed.last_error


def test_an_unreachable_feed_is_an_import_error(feed):
    feed.kind, feed.source = "json", "https://prices.example/x"
    with pytest.raises(MarketImportError, match="fetching https://prices.example/x failed"):
        import_feed(feed=feed, transport=httpx.MockTransport(lambda request: httpx.Response(503)))


def test_the_command_and_the_beat_entry(feed, tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text(CSV)
    out = StringIO()
    call_command("import_market_prices", "--feed", "EPEX DE", "--file", str(path), stdout=out)
    assert out.getvalue() == "EPEX DE: 3 prices\n"
    out = StringIO()
    call_command("import_market_prices", stdout=out)  # every enabled feed, from its source (missing here)
    assert out.getvalue().startswith("EPEX DE: error: reading /nonexistent.csv failed")
    with pytest.raises(CommandError, match="no market price feed named 'nope'"):
        call_command("import_market_prices", "--feed", "nope")
    assert settings.CELERY_BEAT_SCHEDULE["market-prices-import"]["task"] == "billing.import_market_prices"


def test_the_load_manager_of_the_feeds_sites_plans_on_the_curve(feed, station, monkeypatch,
                                                                 django_capture_on_commit_callbacks):
    monkeypatch.setattr("billing.receivers.timezone.now", lambda: T0 + timedelta(minutes=90))
    limit = SiteLoadLimit.objects.create(site=station.site, max_power_w=50000, optimise_for="price")
    other = SiteLoadLimit.objects.create(site=Site.objects.create(name="Elsewhere"), max_power_w=50000)
    feed.load_sites.add(station.site)
    with django_capture_on_commit_callbacks(execute=True):
        import_feed(feed=feed, text=CSV)
    limit.refresh_from_db()
    other.refresh_from_db()
    # From the point valid now (11:30 UTC) on; (market + 0.15 margin) x 1.19 VAT.
    assert limit.curve == [["2025-03-03T11:00:00Z", 0.3213], ["2025-03-03T12:00:00Z", 0.17255]]
    assert other.curve == []


# --- pricing with the curve -----------------------------------------------------------------------


def test_a_price_change_during_a_session_prices_each_part_at_its_own_price(feed, station):
    import_feed(feed=feed, text=CSV)
    # The tariff's own ENERGY price (0.50) applies only where no market price is stored.
    tariff = make_tariff("DYN", {"price_components": [component("ENERGY", 0.50, vat=19)]})
    tariff.market_feed = feed
    tariff.save()
    assign_tariff(tariff=tariff, place=station)
    session = start_session(station_pk=station.pk, evse_id=1, connector_id=1, id_token_value="CARD",
                            meter_start_wh=0, started_at=T0 + timedelta(minutes=30)).session
    assert SessionTariff.objects.get(session=session).market_feed == feed
    samples = [make_sample(timestamp=T0 + timedelta(minutes=m), value=wh, measurand="Energy.Active.Import.Register",
                           unit="Wh") for m, wh in ((60, 10000), (120, 20000), (180, 25000))]
    record_meter_values(station_pk=station.pk, evse_id=1, samples=samples, transaction_id=session.transaction_id)
    session.refresh_from_db()
    running = running_cost(session=session, at=T0 + timedelta(minutes=180))
    stop_session(station_pk=station.pk, transaction_id=session.transaction_id, meter_stop_wh=25000,
                 stopped_at=T0 + timedelta(minutes=180))
    cdr = create_cdr(session_id=session.pk)
    # 10:30-11:00 10 kWh at 0.08+0.15, 11-12 10 kWh at 0.27, 12-13 5 kWh at max(0, -0.005+0.15).
    energy = [(line["volume"], line["unit_price"], line["amount_excl_vat"]) for line in cdr.breakdown["lines"]]
    assert energy == [("10.000000", "0.23", "2.30"), ("10.000000", "0.27", "2.70"),
                      ("5.000000", "0.145", "0.73")]
    assert cdr.total_cost_excl_vat == Decimal("5.73") and cdr.total_cost_incl_vat == running.total_incl_vat
    assert len(cdr.tariff["elements"]) == 4  # the CDR embeds the market prices it used


def test_without_market_prices_the_tariffs_own_energy_price_applies(feed, station):
    tariff = make_tariff("DYN", {"price_components": [component("ENERGY", 0.50, vat=None)]})
    tariff.market_feed = feed
    tariff.save()
    assign_tariff(tariff=tariff, place=station)
    assert quote(station=station, at=T0).text == "0.50 EUR/kWh"
    import_feed(feed=feed, text=CSV)
    # (0.12 + 0.15) x 1.19: the exact price per kWh, not rounded to cents
    assert quote(station=station, at=T0 + timedelta(minutes=70)).text == "0.3213 EUR/kWh"


def test_the_autumn_clock_change_never_lets_a_point_cover_the_rest_of_the_day(feed):
    """27 Oct 2024, Berlin: 02:00-03:00 happens twice. Quarter-hours through the fold keep their
    15 minutes; the repeated quarter-hours take the first occurrence's price."""
    start = datetime(2024, 10, 26, 23, 0, tzinfo=UTC)  # 01:00 CEST
    points = [(start + timedelta(minutes=15 * n), Decimal(n) / 100) for n in range(16)]  # to 04:00 UTC
    from billing.market import PricePoint

    curve = [PricePoint(s, s + timedelta(minutes=15), p) for s, p in points]
    feed.margin_per_kwh, feed.vat = Decimal(0), None
    tariff = follow_market({"id": "D", "currency": "EUR", "elements": [
        {"price_components": [component("ENERGY", 9, vat=None)]}]}, feed=feed, points=curve, time_zone=ZONE)
    windows = [(e["restrictions"]["start_time"], e["restrictions"]["end_time"]) for e in tariff["elements"][:-1]]
    assert windows[4:8] == [("02:00", "02:15"), ("02:15", "02:30"), ("02:30", "02:45"), ("02:45", "03:00")]
    assert len(windows) == 12  # 16 points, 4 repeated wall-clock quarter-hours
    # 1 kWh per quarter-hour from 03:00 to 04:00 CET (UTC 02:00-03:00): priced 0.12 ... 0.15.
    begin = datetime(2024, 10, 27, 2, 0, tzinfo=UTC)
    readings = [Reading(begin + timedelta(minutes=15 * n), 1000 * n) for n in range(5)]
    breakdown = price_session(tariff=tariff, timeline=SessionTimeline(begin, readings[-1].timestamp, readings),
                              time_zone=ZONE)
    assert breakdown.total_excl_vat == Decimal("0.54")


def test_points_between_reads_only_the_span(feed):
    import_feed(feed=feed, text=CSV)
    assert [p.price_per_kwh for p in points_between(feed.pk, T0 + timedelta(minutes=59), T0 + timedelta(minutes=61))
            ] == [Decimal("0.080000"), Decimal("0.120000")]
    assert json.dumps([str(p.starts_at) for p in points_between(feed.pk, T0 - timedelta(hours=2), T0)]) == "[]"
