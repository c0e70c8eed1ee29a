"""Money adds up: invariants of the pricing engine over generated tariffs and sessions.

Sessions start near the 2024 DST changes, on an ordinary Wednesday or on Christmas Eve, last
up to 30 hours, and alternate charging (the register rises) with parking (it does not).
Tariffs are drawn from families that say which restrictions they may use, because some
invariants only hold for some tariffs: a tariff cheaper per kWh at high power, or with free
charging time after 20 kWh, really does make more energy cost less.
"""

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext

from hypothesis import given, settings
from hypothesis import strategies as st

from billing.pricing import PriceBreakdown, Reading, SessionTimeline, price_session

ZONE = "Europe/Berlin"
ANCHORS = [
    datetime(2024, 3, 30, 20, tzinfo=UTC),  # the night clocks go forward
    datetime(2024, 6, 12, 6, tzinfo=UTC),
    datetime(2024, 10, 26, 20, tzinfo=UTC),  # the night clocks go back
    datetime(2024, 12, 24, 18, tzinfo=UTC),
]
PRICES = ["0", "0.05", "0.25", "0.39", "1.00", "2.40", "6.00"]
VATS = [None, 0, 7.0, 19.0]
STEPS = {"ENERGY": [1, 100, 1000], "TIME": [1, 60, 900], "PARKING_TIME": [1, 60, 300], "FLAT": [1]}
UNIT_STEPS = {"ENERGY": [1], "TIME": [1], "PARKING_TIME": [1], "FLAT": [1]}
TIMES = ["00:00", "02:30", "06:00", "17:00", "21:00", "22:00"]
DAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
CALENDAR = ["time", "day", "date"]  # restrictions that depend only on the instant
SESSION_WIDE = ["duration", "kwh", "power", "current"]  # restrictions that depend on the session so far
CENT = Decimal("0.01")
HALF_CENT = Decimal("0.005")


def price(tariff: dict, timeline: SessionTimeline) -> PriceBreakdown:
    return price_session(tariff=tariff, timeline=timeline, time_zone=ZONE)


@st.composite
def sessions(draw, max_hours: int = 30, with_current: bool = False) -> SessionTimeline:
    """Readings at whole seconds at both ends and in between; each stretch charges or parks."""
    start = draw(st.sampled_from(ANCHORS)) + timedelta(seconds=draw(st.integers(0, 36 * 3600)))
    duration = draw(st.integers(1, max_hours * 3600))
    inner = draw(st.lists(st.integers(1, duration - 1), max_size=6, unique=True)) if duration > 1 else []
    energy, readings = 0, []
    for n, offset in enumerate([0, *sorted(inner), duration]):
        if n:
            energy += draw(st.one_of(st.just(0), st.integers(1, 40_000)))
        current = draw(st.sampled_from([None, 0, 10, 32, 48])) if with_current else None
        readings.append(Reading(start + timedelta(seconds=offset), energy, None, current))
    return SessionTimeline(start=start, end=start + timedelta(seconds=duration), readings=readings)


@st.composite
def restrictions(draw, kinds: list[str]) -> dict:
    result: dict = {}
    for kind in draw(st.lists(st.sampled_from(kinds), max_size=3, unique=True)):
        if kind == "time":
            for key in draw(st.sampled_from([["start_time"], ["end_time"], ["start_time", "end_time"]])):
                result[key] = draw(st.sampled_from(TIMES))
        elif kind == "day":
            result["day_of_week"] = draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=5, unique=True))
        elif kind == "date":
            anchor = draw(st.sampled_from(ANCHORS)).date() + timedelta(days=draw(st.integers(0, 2)))
            result[draw(st.sampled_from(["start_date", "end_date"]))] = anchor.isoformat()
        elif kind == "duration":
            low = draw(st.sampled_from([None, 900, 3600, 7200]))
            high = draw(st.sampled_from([None, 1800, 3600 * 3, 3600 * 12]))
            if low is not None:
                result["min_duration"] = low
            if high is not None and (low is None or high >= low):
                result["max_duration"] = high
        elif kind == "kwh":
            result[draw(st.sampled_from(["min_kwh", "max_kwh"]))] = draw(st.sampled_from([1, 5.5, 20, 50]))
        elif kind == "power":
            result[draw(st.sampled_from(["min_power", "max_power"]))] = draw(st.sampled_from([3.7, 11, 22, 50]))
        elif kind == "current":
            result[draw(st.sampled_from(["min_current", "max_current"]))] = draw(st.sampled_from([16, 32]))
    return result


@st.composite
def elements(draw, kinds: list[str], restriction_kinds: list[str], steps: dict) -> dict:
    chosen = draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=3, unique=True))
    components = [
        {
            "type": kind,
            "price": draw(st.sampled_from(PRICES)),
            "vat": draw(st.sampled_from(VATS)),
            "step_size": draw(st.sampled_from(steps[kind])),
        }
        for kind in chosen
    ]
    result = {"price_components": components}
    restricted = draw(restrictions(restriction_kinds)) if restriction_kinds else {}
    if restricted:
        result["restrictions"] = restricted
    return result


@st.composite
def price_bounds(draw) -> dict:
    bounds: dict = {}
    low = draw(st.sampled_from([None, "0.50", "5.00"]))
    high = draw(st.sampled_from([None, "8.00", "30.00"]))
    if low is not None:  # incl_vat bounds that fit the VAT rates, and some that do not
        bounds["min_price"] = {"excl_vat": low, "incl_vat": draw(st.sampled_from([None, low, str(Decimal(low) * 2)]))}
    if high is not None:
        bounds["max_price"] = {
            "excl_vat": high,
            "incl_vat": draw(st.sampled_from([None, high, str(Decimal(high) * 2)])),
        }
    if low and high and bounds["min_price"]["incl_vat"] and bounds["max_price"]["incl_vat"]:
        if Decimal(bounds["min_price"]["incl_vat"]) > Decimal(bounds["max_price"]["incl_vat"]):
            bounds["min_price"]["incl_vat"] = None
    return bounds


@st.composite
def tariffs(
    draw,
    restriction_kinds: list[str],
    steps: dict = STEPS,
    bounds: bool = False,
    kinds: tuple[str, ...] = ("ENERGY", "TIME", "PARKING_TIME", "FLAT"),
) -> dict:
    listed = draw(st.lists(elements(list(kinds), restriction_kinds, steps), min_size=1, max_size=4))
    return {"id": "P-1", "currency": "EUR", "elements": listed, **(draw(price_bounds()) if bounds else {})}


@st.composite
def tariffs_with_one_energy_price(draw, restriction_kinds: list[str], steps: dict = STEPS) -> dict:
    """One unrestricted ENERGY element (any step size); the other elements price time and flat fees."""
    tariff = draw(tariffs(restriction_kinds, steps, bounds=True, kinds=("TIME", "PARKING_TIME", "FLAT")))
    energy = {
        "type": "ENERGY",
        "price": draw(st.sampled_from(PRICES)),
        "vat": draw(st.sampled_from(VATS)),
        "step_size": draw(st.sampled_from(STEPS["ENERGY"])),
    }
    position = draw(st.integers(0, len(tariff["elements"])))
    tariff["elements"].insert(position, {"price_components": [energy]})
    return tariff


def non_flat_excl(breakdown: PriceBreakdown) -> Decimal:
    return sum((x.amount_excl_vat for x in breakdown.lines if x.component != "FLAT"), Decimal(0))


def step_slack(tariff: dict) -> Decimal:
    """Per dimension, twice the dearest step: what one extra (or one fewer) step rounding can move."""
    dearest: dict[str, Decimal] = {}
    for element in tariff["elements"]:
        for c in element["price_components"]:
            unit = {"ENERGY": 1000, "TIME": 3600, "PARKING_TIME": 3600}.get(c["type"])
            if unit:
                step = Decimal(c["step_size"]) * Decimal(str(c["price"])) / unit
                dearest[c["type"]] = max(dearest.get(c["type"], Decimal(0)), step)
    return 2 * sum(dearest.values(), Decimal(0))


def split(timeline: SessionTimeline, at: datetime) -> tuple[SessionTimeline, SessionTimeline]:
    """The same session as two sessions meeting at ``at``, with an interpolated reading there."""
    readings = sorted(timeline.readings, key=lambda r: r.timestamp)
    before = [r for r in readings if r.timestamp < at]
    after = [r for r in readings if r.timestamp > at]
    a, b = before[-1], after[0]
    with localcontext() as context:
        context.prec = 50
        fraction = Decimal((at - a.timestamp) // timedelta(microseconds=1)) / (
            (b.timestamp - a.timestamp) // timedelta(microseconds=1)
        )
        energy = Decimal(a.energy_wh) + (Decimal(b.energy_wh) - Decimal(a.energy_wh)) * fraction
    middle = Reading(at, energy)
    return (SessionTimeline(timeline.start, at, [*before, middle]), SessionTimeline(at, timeline.end, [middle, *after]))


@settings(max_examples=200, deadline=None)
@given(tariffs(CALENDAR), sessions(), st.data())
def test_splitting_a_session_neither_creates_nor_loses_money(tariff, timeline, data):
    """Priced as one session or as two sessions meeting at any instant, the non-FLAT money differs
    by at most what rounding can explain: half a cent per rounded line (of all three breakdowns)
    plus, per dimension, two of its dearest step_size blocks (the run cut at the split is rounded
    up twice instead of once). FLAT fees are per session, so the second part may add one.
    Restrictions are calendar-only: durations and kWh count from each session's own start."""
    span_us = (timeline.end - timeline.start) // timedelta(microseconds=1)
    if span_us < 2:
        return
    at = timeline.start + timedelta(microseconds=data.draw(st.integers(1, span_us - 1), label="split_us"))
    if any(r.timestamp == at for r in timeline.readings):
        at += timedelta(microseconds=1) if at + timedelta(microseconds=1) < timeline.end else -timedelta(microseconds=1)
    first, second = split(timeline, at)

    whole, a, b = price(tariff, timeline), price(tariff, first), price(tariff, second)

    lines = sum(1 for x in (*whole.lines, *a.lines, *b.lines) if x.component != "FLAT")
    bound = lines * HALF_CENT + step_slack(tariff)
    assert abs(non_flat_excl(a) + non_flat_excl(b) - non_flat_excl(whole)) <= bound
    flats = [x for x in whole.lines if x.component == "FLAT"]
    assert len(flats) <= 1
    assert sum(x.amount_excl_vat for x in flats) <= sum(
        x.amount_excl_vat for x in (*a.lines, *b.lines) if x.component == "FLAT"
    )
    assert a.total_energy_kwh + b.total_energy_kwh - whole.total_energy_kwh <= Decimal("0.000001")


def with_more_energy(timeline: SessionTimeline, factor: int, extra_wh: int, segment: int) -> SessionTimeline:
    """Same readings times; every rising stretch rises ``factor`` times as much, one by ``extra_wh`` more."""
    readings = sorted(timeline.readings, key=lambda r: r.timestamp)
    rising = [n for n in range(1, len(readings)) if readings[n].energy_wh > readings[n - 1].energy_wh]
    boosted = rising[segment % len(rising)] if rising else None
    energy, result = 0, [replace(readings[0], energy_wh=0)]
    for n in range(1, len(readings)):
        increase = readings[n].energy_wh - readings[n - 1].energy_wh
        energy += increase * factor + (extra_wh if n == boosted else 0)
        result.append(replace(readings[n], energy_wh=energy))
    return replace(timeline, readings=result)


@settings(max_examples=200, deadline=None)
@given(
    tariffs_with_one_energy_price(CALENDAR + ["duration"]),
    sessions(),
    st.integers(1, 3),
    st.integers(0, 50_000),
    st.integers(0, 10),
)
def test_more_energy_at_the_same_times_never_costs_less(tariff, timeline, factor, extra_wh, segment):
    """Exact, for tariffs with one ENERGY price (any step size) and time or flat prices restricted
    by calendar or duration, with or without min/max_price. (With several ENERGY prices step_size
    rounding at the last element's price can make more energy cheaper: see test_pricing.py.)"""
    less, more = price(tariff, timeline), price(tariff, with_more_energy(timeline, factor, extra_wh, segment))

    assert more.total_excl_vat >= less.total_excl_vat
    if less.min_max_applied is None and more.min_max_applied is None:
        assert more.total_incl_vat >= less.total_incl_vat


@settings(max_examples=200, deadline=None)
@given(
    tariffs(CALENDAR + SESSION_WIDE, steps={**STEPS, "PARKING_TIME": [1]}, bounds=True),
    sessions(with_current=True),
    st.integers(1, 6 * 3600),
)
def test_staying_longer_never_costs_less(tariff, timeline, extra_seconds):
    """Staying plugged in longer without charging never lowers the price: exact for any
    restrictions, min/max_price and ENERGY/TIME step sizes, with PARKING_TIME billed per second.
    (A coarser parking step_size with a cheaper later element can lower it: the rounding extra
    is billed at the last element's price.)"""
    longer = replace(timeline, end=timeline.end + timedelta(seconds=extra_seconds))
    short, long = price(tariff, timeline), price(tariff, longer)

    assert long.total_excl_vat >= short.total_excl_vat
    if short.min_max_applied is None and long.min_max_applied is None:
        assert long.total_incl_vat >= short.total_incl_vat


@settings(max_examples=300, deadline=None)
@given(tariffs(CALENDAR + SESSION_WIDE, bounds=True), sessions(with_current=True), st.booleans())
def test_totals_are_the_sum_of_lines_and_incl_is_excl_plus_vat(tariff, timeline, reserved):
    breakdown = price(tariff, replace(timeline, reservation=reserved))

    assert breakdown.total_excl_vat == sum((x.amount_excl_vat for x in breakdown.lines), Decimal(0))
    assert breakdown.total_incl_vat == sum((x.amount_incl_vat for x in breakdown.lines), Decimal(0))
    assert breakdown.total_incl_vat == breakdown.total_excl_vat + breakdown.total_vat
    assert breakdown.total_excl_vat == sum((base for base, _ in breakdown.vat_summary.values()), Decimal(0))
    assert breakdown.total_vat == sum((vat for _, vat in breakdown.vat_summary.values()), Decimal(0))
    for line in breakdown.lines:
        assert line.amount_excl_vat == line.amount_excl_vat.quantize(CENT)
        assert line.amount_incl_vat == line.amount_incl_vat.quantize(CENT)
        if line.component not in ("MIN_PRICE", "MAX_PRICE"):
            assert line.billed_volume >= line.volume >= 0
            assert line.amount_excl_vat >= 0
            assert line.vat_rate is not None or line.amount_incl_vat == line.amount_excl_vat
    low, high = tariff.get("min_price"), tariff.get("max_price")
    if low:
        assert breakdown.total_excl_vat >= Decimal(low["excl_vat"])
        assert low["incl_vat"] is None or breakdown.total_incl_vat >= Decimal(low["incl_vat"])
    if high:
        assert breakdown.total_excl_vat <= Decimal(high["excl_vat"])
        assert high["incl_vat"] is None or breakdown.total_incl_vat <= Decimal(high["incl_vat"])
    assert json.loads(json.dumps(breakdown.as_dict())) == breakdown.as_dict()


# --- market-price (dynamic) tariffs ----------------------------------------------------------------

NO_FOLD_ANCHORS = [ANCHORS[1], ANCHORS[3]]  # the autumn fold's repeated hour is a documented exception


def energy_between(timeline: SessionTimeline, a: datetime, b: datetime) -> Decimal:
    """Energy of the linearly interpolated register between two instants (flat outside the readings)."""
    readings = sorted(timeline.readings, key=lambda r: r.timestamp)

    def at(moment: datetime) -> Decimal:
        if moment <= readings[0].timestamp:
            return Decimal(readings[0].energy_wh)
        for before, after in zip(readings, readings[1:], strict=False):
            if moment <= after.timestamp:
                fraction = Decimal((moment - before.timestamp) // timedelta(microseconds=1)) / (
                    (after.timestamp - before.timestamp) // timedelta(microseconds=1))
                return Decimal(before.energy_wh) + (Decimal(after.energy_wh) - Decimal(before.energy_wh)) * fraction
        return Decimal(readings[-1].energy_wh)

    with localcontext() as context:
        context.prec = 50
        return at(b) - at(a)


@st.composite
def market_sessions(draw):
    start = draw(st.sampled_from(NO_FOLD_ANCHORS)) + timedelta(minutes=draw(st.integers(0, 24 * 60)))
    duration = draw(st.integers(60, 10 * 3600))
    inner = draw(st.lists(st.integers(1, duration - 1), max_size=6, unique=True))
    energy, readings = 0, []
    for n, offset in enumerate([0, *sorted(inner), duration]):
        if n:
            energy += draw(st.one_of(st.just(0), st.integers(1, 40_000)))
        readings.append(Reading(start + timedelta(seconds=offset), energy))
    return SessionTimeline(start=start, end=start + timedelta(seconds=duration), readings=readings)


@settings(max_examples=200, deadline=None)
@given(market_sessions(), st.sampled_from([15, 60]), st.integers(-4, 4), st.integers(0, 48), st.data())
def test_a_market_price_tariff_prices_each_part_at_its_own_price(timeline, minutes, first_shift, count, data):
    """Energy in each price point's validity is billed at that point's price (market + margin,
    never below 0); outside the curve at the tariff's own ENERGY price. Exact up to half a cent
    per rounded line."""
    from billing.market import PricePoint, follow_market
    from billing.models import MarketPriceFeed

    feed = MarketPriceFeed(margin_per_kwh=Decimal(data.draw(st.sampled_from(["0", "0.12"]), label="margin")),
                           vat=Decimal(19))
    step = timedelta(minutes=minutes)
    first = timeline.start.replace(minute=0, second=0, microsecond=0) + first_shift * step
    prices = data.draw(st.lists(st.sampled_from(["-0.05", "0", "0.0731", "0.12", "0.30"]), min_size=count,
                                max_size=count), label="prices")
    curve = [PricePoint(first + n * step, first + (n + 1) * step, Decimal(p)) for n, p in enumerate(prices)]
    own = Decimal("0.45")
    tariff = follow_market({"id": "M", "currency": "EUR", "elements": [
        {"price_components": [{"type": "ENERGY", "price": str(own), "vat": 19, "step_size": 1}]}]},
        feed=feed, points=curve, time_zone=ZONE)

    breakdown = price(tariff, timeline)

    expected, covered = Decimal(0), Decimal(0)
    for point in curve:
        a, b = max(point.starts_at, timeline.start), min(point.ends_at, timeline.end)
        if a < b:
            wh = energy_between(timeline, a, b)
            covered += wh
            expected += wh / 1000 * max(point.price_per_kwh + feed.margin_per_kwh, Decimal(0))
    expected += (energy_between(timeline, timeline.start, timeline.end) - covered) / 1000 * own
    assert abs(breakdown.total_excl_vat - expected) <= len(breakdown.lines) * HALF_CENT
