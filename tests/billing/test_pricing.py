"""The pricing engine against OCPI 2.2.1's tariff rules and worked examples.

Amounts are computed by hand in each test's docstring or comments; examples marked "OCPI" are
the spec's own (mod_tariffs.asciidoc), with the spec's stated totals.
"""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from billing.pricing import (
    PriceBreakdown,
    Reading,
    SessionTimeline,
    TariffError,
    TimelineError,
    price_session,
)

BERLIN = "Europe/Berlin"
WEEKDAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"]


def local(*args: int, zone: str = BERLIN) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))


def component(kind: str, price, vat=None, step_size: int = 1) -> dict:
    return {"type": kind, "price": price, "vat": vat, "step_size": step_size}


def element(*components: dict, **restrictions) -> dict:
    result = {"price_components": list(components)}
    if restrictions:
        result["restrictions"] = restrictions
    return result


def tariff(*elements: dict, currency: str = "EUR", **fields) -> dict:
    return {
        "country_code": "DE",
        "party_id": "CNT",
        "id": "T-1",
        "currency": currency,
        "elements": list(elements),
        "last_updated": "2024-01-01T00:00:00Z",
        **fields,
    }


def timeline(*points, start: datetime | None = None, end: datetime | None = None, **kwargs) -> SessionTimeline:
    """Readings from (timestamp, energy_wh[, power_w[, current_a]]) tuples."""
    readings = [Reading(*point) for point in points]
    return SessionTimeline(
        start=start or readings[0].timestamp, end=end or readings[-1].timestamp, readings=readings, **kwargs
    )


def price(tariff_: dict, timeline_: SessionTimeline, time_zone: str = BERLIN) -> PriceBreakdown:
    return price_session(tariff=tariff_, timeline=timeline_, time_zone=time_zone)


def money(breakdown: PriceBreakdown) -> tuple[str, str]:
    return str(breakdown.total_excl_vat), str(breakdown.total_incl_vat)


def line_amounts(breakdown: PriceBreakdown) -> list[tuple]:
    return [(x.element_index, x.component, str(x.amount_excl_vat)) for x in breakdown.lines]


# ---------------------------------------------------------------------------------------------
# The brief's tariff: 0.39 EUR/kWh, 0.49 EUR/kWh 17:00-21:00 on weekdays, 0.10 EUR/min parking
# after 2 h, 19 % VAT.

BRIEF_TARIFF = tariff(
    element(component("ENERGY", "0.49", 19.0), start_time="17:00", end_time="21:00", day_of_week=WEEKDAYS),
    element(component("ENERGY", "0.39", 19.0)),
    element(component("PARKING_TIME", "6.00", 19.0, step_size=60), min_duration=7200),
)


def brief_session(day: int) -> SessionTimeline:
    """June 2024, Berlin: plugged in 15:30, 11 kWh by 16:30, 16.5 kWh when charging stops at
    17:10, unplugged 19:15."""
    return timeline(
        (local(2024, 6, day, 15, 30), 0),
        (local(2024, 6, day, 16, 30), 11000),
        (local(2024, 6, day, 17, 10), 16500),
        (local(2024, 6, day, 19, 15), 16500),
    )


def test_brief_tariff_on_a_weekday_worked_by_hand():
    """Wednesday 12 June 2024.
    Energy before 17:00: 11 kWh + 30/40 of the 5.5 kWh charged 16:30-17:10 = 15.125 kWh x 0.39
    = 5.89875 -> 5.90. Energy 17:00-17:10: 1.375 kWh x 0.49 = 0.67375 -> 0.67.
    Parking 17:10-19:15, paid only from 17:30 (2 h after plug-in): 105 min x 0.10 = 10.50.
    VAT 19 %: 1.121 -> 1.12, 0.1273 -> 0.13, 1.995 -> 2.00 (half up). 17.07 + 3.25 = 20.32."""
    breakdown = price(BRIEF_TARIFF, brief_session(12))

    assert line_amounts(breakdown) == [(0, "ENERGY", "0.67"), (1, "ENERGY", "5.90"), (2, "PARKING_TIME", "10.50")]
    assert [str(x.amount_incl_vat) for x in breakdown.lines] == ["0.80", "7.02", "12.50"]
    assert (breakdown.total_excl_vat, breakdown.total_vat, breakdown.total_incl_vat) == (
        Decimal("17.07"),
        Decimal("3.25"),
        Decimal("20.32"),
    )
    assert breakdown.vat_summary == {Decimal("19.0"): (Decimal("17.07"), Decimal("3.25"))}
    assert breakdown.total_energy_kwh == Decimal("16.5")
    assert breakdown.total_time_h == Decimal("3.75")
    assert breakdown.lines[2].volume == Decimal("1.75")


def test_brief_tariff_on_a_saturday_has_no_peak_price():
    """Saturday 15 June: all 16.5 kWh at 0.39 = 6.435 -> 6.44; parking 10.50 as on a weekday."""
    breakdown = price(BRIEF_TARIFF, brief_session(15))

    assert line_amounts(breakdown) == [(1, "ENERGY", "6.44"), (2, "PARKING_TIME", "10.50")]
    assert money(breakdown) == ("16.94", "20.16")  # VAT 1.2236 -> 1.22 and 1.995 -> 2.00


def test_brief_tariff_charges_no_parking_when_unplugged_within_two_hours():
    session = timeline(
        (local(2024, 6, 12, 10, 0), 0), (local(2024, 6, 12, 10, 40), 7000), end=local(2024, 6, 12, 11, 59)
    )
    breakdown = price(BRIEF_TARIFF, session)

    assert line_amounts(breakdown) == [(1, "ENERGY", "2.73")]  # 7 kWh x 0.39


# ---------------------------------------------------------------------------------------------
# Price components


def test_energy_is_billed_per_kwh():
    """OCPI: 0.25 EUR/kWh, 10 % VAT, 20 kWh -> 5.00 excl. / 5.50 incl."""
    session = timeline((local(2024, 6, 12, 10), 0), (local(2024, 6, 12, 12), 20000))
    assert money(price(tariff(element(component("ENERGY", 0.25, 10.0))), session)) == ("5.00", "5.50")


def test_flat_fee_is_billed_once_per_session():
    """OCPI: 0.50 EUR start fee (20 % VAT) + 0.25 EUR/kWh (10 %), 20 kWh -> 5.50 / 6.10."""
    session = timeline(*[(local(2024, 6, 12, 10) + timedelta(minutes=10 * n), 2000 * n) for n in range(11)])
    breakdown = price(tariff(element(component("FLAT", 0.50, 20.0), component("ENERGY", 0.25, 10.0))), session)

    assert money(breakdown) == ("5.50", "6.10")
    assert [x.component for x in breakdown.lines] == ["FLAT", "ENERGY"]


def test_time_is_billed_for_charging_time_only():
    """OCPI: 2.00 EUR/h charging, 10 % VAT, per minute; 2.5 h charging -> 5.00 / 5.50. The hour
    parked afterwards is free: "the driver will not be billed for time they are not charging"."""
    session = timeline((local(2024, 6, 12, 10), 0), (local(2024, 6, 12, 12, 30), 20000), end=local(2024, 6, 12, 13, 30))
    breakdown = price(tariff(element(component("TIME", 2.00, 10.0, step_size=60))), session)

    assert money(breakdown) == ("5.00", "5.50")
    assert breakdown.total_charging_time_h == Decimal("2.5")
    assert breakdown.total_parking_time_h == Decimal("1")


def test_parking_time_is_billed_for_time_not_charging():
    """OCPI: 3 EUR/h charging (10 %, per minute), 5 EUR/h parking (20 %, per 5 min); 150 min
    charging + 42 min parking -> 7.50 + 45 min x 5/h = 3.75 -> 11.25 / 12.75."""
    session = timeline((local(2024, 6, 12, 10), 0), (local(2024, 6, 12, 12, 30), 20000), end=local(2024, 6, 12, 13, 12))
    breakdown = price(
        tariff(element(component("TIME", 3.00, 10.0, step_size=60), component("PARKING_TIME", 5.00, 20.0, 300))),
        session,
    )
    assert money(breakdown) == ("11.25", "12.75")
    assert breakdown.lines[1].volume == Decimal("0.7") and breakdown.lines[1].billed_volume == Decimal("0.75")


def test_reported_power_marks_a_period_as_charging_even_if_the_register_has_not_moved():
    """A coarse register (whole kWh) that has not ticked yet: power_w > 0 says the EV charges."""
    session = timeline(
        (local(2024, 6, 12, 10), 1000, 3000.0),
        (local(2024, 6, 12, 10, 15), 1000, 3000.0),
        (local(2024, 6, 12, 10, 30), 2000, 0.0),
        end=local(2024, 6, 12, 11),
    )
    breakdown = price(tariff(element(component("TIME", 1.20, step_size=1), component("PARKING_TIME", 2.40))), session)

    assert line_amounts(breakdown) == [(0, "TIME", "0.60"), (0, "PARKING_TIME", "1.20")]


def test_unsorted_readings_price_like_sorted_ones():
    points = [
        (local(2024, 6, 12, 17, 10), 16500),
        (local(2024, 6, 12, 15, 30), 0),
        (local(2024, 6, 12, 19, 15), 16500),
        (local(2024, 6, 12, 16, 30), 11000),
    ]
    shuffled = SessionTimeline(
        start=local(2024, 6, 12, 15, 30), end=local(2024, 6, 12, 19, 15), readings=[Reading(*p) for p in points]
    )
    assert price(BRIEF_TARIFF, shuffled) == price(BRIEF_TARIFF, brief_session(12))


# ---------------------------------------------------------------------------------------------
# Time of day, midnight, DST, dates, days of the week

NIGHT_AND_DAY = tariff(
    element(component("ENERGY", "0.20"), start_time="22:00", end_time="06:00"),
    element(component("ENERGY", "0.40")),
)


def steady_session(start: datetime, end: datetime, kw: float = 1.0) -> SessionTimeline:
    hours = (end - start) / timedelta(hours=1)
    return timeline((start, 0), (end, kw * 1000 * hours))


def test_time_window_with_end_before_start_wraps_midnight():
    """21:00-07:00 at 1 kW: 8 kWh in 22:00-06:00 at 0.20, 2 kWh at 0.40 -> 1.60 + 0.80."""
    breakdown = price(NIGHT_AND_DAY, steady_session(local(2024, 6, 12, 21), local(2024, 6, 13, 7)))
    assert line_amounts(breakdown) == [(0, "ENERGY", "1.60"), (1, "ENERGY", "0.80")]


def test_time_of_day_follows_summer_time_on_the_night_it_starts():
    """31 March 2024, 03:00-05:00 UTC = 05:00-07:00 CEST at 10 kW. The night ends at 06:00 CEST =
    04:00 UTC: 10 kWh at 0.20 + 10 kWh at 0.40 = 6.00 (a fixed +01:00 would say 4.00)."""
    session = steady_session(datetime(2024, 3, 31, 3, tzinfo=UTC), datetime(2024, 3, 31, 5, tzinfo=UTC), kw=10)
    assert money(price(NIGHT_AND_DAY, session)) == ("6.00", "6.00")


def test_a_window_starting_in_the_skipped_spring_hour_starts_when_clocks_jump():
    """02:30 does not exist on 31 March 2024 in Berlin: the clock jumps from 02:00 CET to 03:00
    CEST at 01:00 UTC, already past 02:30. So 02:30-04:00 covers 01:00-02:00 UTC: one hour."""
    session = steady_session(datetime(2024, 3, 31, 0, tzinfo=UTC), datetime(2024, 3, 31, 3, tzinfo=UTC), kw=5)
    t = tariff(element(component("TIME", "1.00"), start_time="02:30", end_time="04:00"))
    breakdown = price(t, session)

    assert breakdown.lines[0].volume == Decimal("1")
    assert money(breakdown) == ("1.00", "1.00")


def test_the_repeated_autumn_hour_is_in_the_window_twice():
    """27 October 2024: 03:00 CEST becomes 02:00 CET at 01:00 UTC, so local 02:00-03:00 lasts from
    00:00 to 02:00 UTC. A 3 h session 01:30 CEST - 03:30 CET pays two hours of 02:00-03:00."""
    session = steady_session(datetime(2024, 10, 26, 23, 30, tzinfo=UTC), datetime(2024, 10, 27, 2, 30, tzinfo=UTC))
    t = tariff(element(component("TIME", "1.00"), start_time="02:00", end_time="03:00"))
    breakdown = price(t, session)

    assert breakdown.total_time_h == Decimal("3")
    assert breakdown.lines[0].volume == Decimal("2")
    assert money(breakdown) == ("2.00", "2.00")


def test_a_window_edge_inside_the_repeated_autumn_hour_counts_on_both_passes():
    """02:30-03:00 on 27 October 2024 happens twice: 00:30-01:00 UTC (CEST) and 01:30-02:00 UTC
    (CET). A session 00:00-02:00 UTC pays both half hours."""
    session = steady_session(datetime(2024, 10, 27, 0, tzinfo=UTC), datetime(2024, 10, 27, 2, tzinfo=UTC))
    t = tariff(element(component("TIME", "1.00"), start_time="02:30", end_time="03:00"))
    breakdown = price(t, session)

    assert breakdown.lines[0].volume == Decimal("1")
    assert [p["start_date_time"] for p in breakdown.charging_periods] == [
        "2024-10-27T00:00:00Z",
        "2024-10-27T00:30:00Z",
        "2024-10-27T01:00:00Z",
        "2024-10-27T01:30:00Z",
    ]


def test_day_of_week_is_the_local_weekday_of_each_instant():
    """A Friday-night price (22:00-06:00, FRIDAY) ends at Saturday 00:00: of a Friday 21:00 -
    Saturday 07:00 session at 1 kW, 2 kWh pay 0.20 and 8 kWh pay 0.40 -> 0.40 + 3.20."""
    t = tariff(
        element(component("ENERGY", "0.20"), start_time="22:00", end_time="06:00", day_of_week=["FRIDAY"]),
        element(component("ENERGY", "0.40")),
    )
    breakdown = price(t, steady_session(local(2024, 6, 14, 21), local(2024, 6, 15, 7)))
    assert line_amounts(breakdown) == [(0, "ENERGY", "0.40"), (1, "ENERGY", "3.20")]


def test_start_date_is_inclusive_and_end_date_exclusive_in_local_time():
    """Free on 25 December (start_date 2024-12-25, end_date 2024-12-26): of 24 Dec 23:00 - 26 Dec
    01:00 at 1 kW, 24 kWh are free and 2 kWh pay 0.40."""
    t = tariff(
        element(component("ENERGY", "0.00"), start_date="2024-12-25", end_date="2024-12-26"),
        element(component("ENERGY", "0.40")),
    )
    breakdown = price(t, steady_session(local(2024, 12, 24, 23), local(2024, 12, 26, 1)))
    assert [(x.element_index, x.volume) for x in breakdown.lines] == [(0, Decimal("24")), (1, Decimal("2"))]
    assert money(breakdown) == ("0.80", "0.80")


# ---------------------------------------------------------------------------------------------
# Energy, duration, power and current restrictions


def test_kwh_thresholds_split_between_readings_by_linear_interpolation():
    """10 kWh in one hour, one reading at each end: the first 4 kWh (max_kwh 4) at 0.50, the
    other 6 at 0.30 -> 3.80; the threshold is reached at 10:24."""
    t = tariff(element(component("ENERGY", "0.50"), max_kwh=4), element(component("ENERGY", "0.30")))
    breakdown = price(t, steady_session(local(2024, 6, 12, 10), local(2024, 6, 12, 11), kw=10))

    assert line_amounts(breakdown) == [(0, "ENERGY", "2.00"), (1, "ENERGY", "1.80")]
    assert [p["start_date_time"] for p in breakdown.charging_periods] == [
        "2024-06-12T08:00:00Z",
        "2024-06-12T08:24:00Z",
    ]


def test_durations_count_from_session_start_not_from_when_parking_starts():
    """OCPI's "first hour free" tariff: parking free below 1 h, 2.00/h from 1 h to 3 h, 3.00/h
    after 3 h; first kWh free, then 0.20/kWh. The spec's 7.30 EUR assumes parking hours counted
    from the end of charging; min/max_duration are about the Charging Session, so with one hour of
    charging (20 kWh) and 2.75 h parking: 19 x 0.20 = 3.80, 2 h x 2.00 = 4.00, 0.75 h x 3.00 = 2.25."""
    t = tariff(
        element(component("PARKING_TIME", 0.0, step_size=60), min_duration=0, max_duration=3600),
        element(component("PARKING_TIME", 2.0, step_size=60), min_duration=3600, max_duration=10800),
        element(component("PARKING_TIME", 3.0, step_size=60), min_duration=10800),
        element(component("ENERGY", 0.0), max_kwh=1.0),
        element(component("ENERGY", 0.2), min_kwh=1.0),
    )
    session = timeline((local(2024, 6, 12, 9), 0), (local(2024, 6, 12, 10), 20000), end=local(2024, 6, 12, 12, 45))
    breakdown = price(t, session)

    assert line_amounts(breakdown) == [
        (3, "ENERGY", "0.00"),
        (4, "ENERGY", "3.80"),
        (1, "PARKING_TIME", "4.00"),
        (2, "PARKING_TIME", "2.25"),
    ]
    assert money(breakdown) == ("10.05", "10.05")


def test_max_duration_is_exclusive_and_switches_the_price_mid_session():
    """OCPI's supermarket: free for 30 min, 0.25/kWh until 60 min, then 0.40. 40 min session,
    5 kWh in the first 30 min and 1.2 kWh in the next 10 -> 0.30."""
    t = tariff(
        element(component("ENERGY", 0.00, 20.0), max_duration=1800),
        element(component("ENERGY", 0.25, 20.0), max_duration=3600),
        element(component("ENERGY", 0.40, 20.0)),
    )
    start = local(2024, 6, 12, 10)
    session = timeline((start, 0), (start + timedelta(minutes=30), 5000), (start + timedelta(minutes=40), 6200))
    assert money(price(t, session)) == ("0.30", "0.36")


MAX_POWER_TARIFF = tariff(
    element(component("ENERGY", "0.20"), max_power=16.00),
    element(component("ENERGY", "0.35"), min_power=16.00, max_power=32.00),
    element(component("ENERGY", "0.50")),
)


def test_power_restrictions_from_the_average_power_between_readings():
    """OCPI's max_power example: 1 kWh at 6 kW, 40 kWh at 48 kW, 0.5 kWh at 4 kW ->
    0.20 + 20.00 + 0.10 = 20.30."""
    start = local(2024, 6, 12, 10)
    session = timeline(
        (start, 0),
        (start + timedelta(minutes=10), 1000),
        (start + timedelta(minutes=60), 41000),
        (start + timedelta(minutes=67, seconds=30), 41500),
    )
    breakdown = price(MAX_POWER_TARIFF, session)

    assert line_amounts(breakdown) == [(0, "ENERGY", "0.30"), (2, "ENERGY", "20.00")]
    assert money(breakdown) == ("20.30", "20.30")


def test_power_restrictions_from_reported_power_which_holds_until_the_next_reading():
    start = local(2024, 6, 12, 10)
    session = timeline(
        (start, 0, 6000),
        (start + timedelta(minutes=10), 1000, 48000),
        (start + timedelta(minutes=60), 41000, 4000),
        (start + timedelta(minutes=67, seconds=30), 41500, 0),
    )
    assert money(price(MAX_POWER_TARIFF, session)) == ("20.30", "20.30")


def test_min_power_is_inclusive_and_max_power_exclusive():
    """Exactly 16 kW belongs to the 16-32 kW element."""
    session = steady_session(local(2024, 6, 12, 10), local(2024, 6, 12, 11), kw=16)
    assert line_amounts(price(MAX_POWER_TARIFF, session)) == [(1, "ENERGY", "5.60")]


COMPLEX_TARIFF = tariff(  # OCPI tariff_4_complex.json
    element(component("FLAT", 2.50, 15.0)),
    element(component("TIME", 1.00, 20.0, 900), max_current=32.00),
    element(component("TIME", 2.00, 20.0, 600), min_current=32.00, day_of_week=WEEKDAYS),
    element(component("TIME", 1.25, 20.0, 600), min_current=32.00, day_of_week=["SATURDAY", "SUNDAY"]),
    element(component("PARKING_TIME", 5.00, 10.0, 300), start_time="09:00", end_time="18:00", day_of_week=WEEKDAYS),
    element(component("PARKING_TIME", 6.00, 10.0, 300), start_time="10:00", end_time="17:00", day_of_week=["SATURDAY"]),
)


def charge_then_park(start: datetime, charging: timedelta, parking: timedelta, amps: float | None) -> SessionTimeline:
    return timeline(
        (start, 0, None, amps),
        (start + charging, 25000, None, None if amps is None else 0),
        end=start + charging + parking,
    )


def test_current_restrictions_on_a_monday_complex_example():
    """OCPI: Monday 09:30, 147 min at 16 A, then 42 min parked. 2.50 flat + 150 min x 1.00/h +
    45 min x 5.00/h = 8.75. The spec says 10.00 incl. VAT, rounding only its total
    (2.875 + 3.00 + 4.125); VAT rounded per line gives 2.88 + 3.00 + 4.13 = 10.01."""
    breakdown = price(
        COMPLEX_TARIFF,
        charge_then_park(local(2024, 6, 10, 9, 30), timedelta(minutes=147), timedelta(minutes=42), amps=16),
    )
    assert line_amounts(breakdown) == [(0, "FLAT", "2.50"), (1, "TIME", "2.50"), (4, "PARKING_TIME", "3.75")]
    assert money(breakdown) == ("8.75", "10.01")


def test_current_restrictions_on_a_saturday_complex_example():
    """OCPI: Saturday 13:30, 114 min at 43 A, then 71 min parked. 2.50 + 120 min x 1.25/h +
    75 min x 6.00/h = 12.50 excl., 14.13 incl. (as the spec says)."""
    breakdown = price(
        COMPLEX_TARIFF,
        charge_then_park(local(2024, 6, 15, 13, 30), timedelta(minutes=114), timedelta(minutes=71), amps=43),
    )
    assert line_amounts(breakdown) == [(0, "FLAT", "2.50"), (3, "TIME", "2.50"), (5, "PARKING_TIME", "7.50")]
    assert money(breakdown) == ("12.50", "14.13")


def test_an_unknown_current_does_not_exclude_an_element():
    breakdown = price(
        COMPLEX_TARIFF,
        charge_then_park(local(2024, 6, 10, 9, 30), timedelta(minutes=147), timedelta(minutes=42), amps=None),
    )
    assert [x.element_index for x in breakdown.lines if x.component == "TIME"] == [1]


RESERVATION_TARIFF = tariff(  # OCPI tariff_16: 2.00 fee + 5.00/h for the reservation
    element(component("FLAT", 2.00, 20.0), component("TIME", 5.00, 20.0, 300), reservation="RESERVATION"),
    element(component("FLAT", 0.50, 20.0), component("ENERGY", 0.25, 10.0)),
)


def test_reservation_elements_do_not_price_the_charging_session():
    session = timeline((local(2024, 6, 12, 10), 0), (local(2024, 6, 12, 12), 20000))
    breakdown = price(RESERVATION_TARIFF, session)

    assert line_amounts(breakdown) == [(1, "FLAT", "0.50"), (1, "ENERGY", "5.00")]


def test_a_reserved_session_pays_the_reservation_fee():
    """The 2.00 fee of the RESERVATION element on top; reservation time is not in the timeline."""
    session = timeline((local(2024, 6, 12, 10), 0), (local(2024, 6, 12, 12), 20000), reservation=True)
    breakdown = price(RESERVATION_TARIFF, session)

    assert line_amounts(breakdown) == [(0, "FLAT", "2.00"), (1, "FLAT", "0.50"), (1, "ENERGY", "5.00")]
    assert money(breakdown) == ("7.50", "8.50")  # 2.40 + 0.60 + 5.50


def test_flat_comes_from_the_first_matching_element_at_session_start():
    t = tariff(
        element(component("FLAT", "1.00"), start_time="18:00", end_time="22:00"),
        element(component("FLAT", "0.50"), component("ENERGY", "0.30")),
    )
    session = steady_session(local(2024, 6, 12, 17), local(2024, 6, 12, 19))
    assert line_amounts(price(t, session)) == [(1, "FLAT", "0.50"), (1, "ENERGY", "0.60")]


def test_a_flat_element_that_becomes_active_later_is_billed_once():
    """An overstay fee: 5.00 once the session has lasted 3 h."""
    t = tariff(element(component("FLAT", "5.00"), min_duration=3 * 3600), element(component("ENERGY", "0.30")))
    short = steady_session(local(2024, 6, 12, 10), local(2024, 6, 12, 12, 59))
    long = steady_session(local(2024, 6, 12, 10), local(2024, 6, 12, 16))

    assert [x.component for x in price(t, short).lines] == ["ENERGY"]
    assert line_amounts(price(t, long)) == [(0, "FLAT", "5.00"), (1, "ENERGY", "1.80")]


# ---------------------------------------------------------------------------------------------
# step_size

STEP_SIZE_TARIFF = tariff(  # OCPI tariff_14_step_size.json
    element(
        component("TIME", 1.20, step_size=1800),
        component("PARKING_TIME", 1.00, step_size=900),
        start_time="00:00",
        end_time="17:00",
    ),
    element(
        component("TIME", 2.40, step_size=900),
        component("PARKING_TIME", 1.00, step_size=900),
        start_time="17:00",
        end_time="20:00",
    ),
    element(component("TIME", 2.40, step_size=900), start_time="20:00", end_time="23:59"),
)


def charge_and_park(start: datetime, charge_minutes: int, park_minutes: int) -> SessionTimeline:
    stop = start + timedelta(minutes=charge_minutes)
    return timeline((start, 0), (stop, 1000 * charge_minutes), end=stop + timedelta(minutes=park_minutes))


@pytest.mark.parametrize(
    ("start", "charge", "park", "lines", "total"),
    [
        # Switching #1: 5 min before 17:00 (0.10), 10 min after (rounded to 15 in total: 0.40);
        # 2 min parking rounded to 15 min (0.25) as in the 2.2.1 text: 0.75.
        ((16, 55), 10, 2, [(0, "TIME", "0.10"), (1, "TIME", "0.40"), (1, "PARKING_TIME", "0.25")], "0.75"),
        # Switching #2: 25 min before 17:00 (0.50), 35 min rounded to 45: 20 min after (0.80).
        ((16, 35), 35, 0, [(0, "TIME", "0.50"), (1, "TIME", "0.80")], "1.30"),
        # Switching to free parking: 5 + 5 min charging rounded to 15 (0.20 + 0.40); the 2 min
        # parked after 20:00 are free, and no parking was billed before 20:00.
        ((19, 55), 10, 2, [(1, "TIME", "0.20"), (2, "TIME", "0.40")], "0.60"),
    ],
)
def test_step_size_applies_to_the_run_total_with_the_last_elements_step(start, charge, park, lines, total):
    breakdown = price(STEP_SIZE_TARIFF, charge_and_park(local(2024, 6, 12, *start), charge, park))
    assert line_amounts(breakdown) == lines
    assert str(breakdown.total_excl_vat) == total


@pytest.mark.parametrize(
    ("step_size", "billed_kwh", "excl"), [(1, "0.116", "0.03"), (25, "0.125", "0.03"), (500, "0.5", "0.13")]
)
def test_energy_step_size_rounds_the_billed_energy_up(step_size, billed_kwh, excl):
    """OCPI: 115.2 Wh at 0.25/kWh is billed as 116 Wh (0.029), 125 Wh (0.031) or 500 Wh (0.125)."""
    session = timeline((local(2024, 6, 12, 10), 0), (local(2024, 6, 12, 10, 5), 115.2))
    line = price(tariff(element(component("ENERGY", 0.25, step_size=step_size))), session).lines[0]

    assert (line.volume, line.billed_volume, str(line.amount_excl_vat)) == (
        Decimal("0.1152"),
        Decimal(billed_kwh),
        excl,
    )


def test_each_priced_run_is_rounded_when_the_dimension_stops_being_priced():
    """Energy at 0.30/kWh per whole kWh in 08:00-08:30 and 09:00-09:30, free otherwise: 0.5 kWh in
    each window is billed as 1 kWh twice."""
    t = tariff(
        element(component("ENERGY", "0.30", step_size=1000), start_time="08:00", end_time="08:30"),
        element(component("ENERGY", "0.30", step_size=1000), start_time="09:00", end_time="09:30"),
    )
    breakdown = price(t, steady_session(local(2024, 6, 12, 7, 30), local(2024, 6, 12, 10)))
    assert [(x.volume, x.billed_volume) for x in breakdown.lines] == [(Decimal("0.5"), Decimal("1"))] * 2
    assert money(breakdown) == ("0.60", "0.60")


def test_more_energy_before_a_price_rise_can_cost_less_because_of_step_size():
    """A consequence of "step_size SHALL only be taken into account for the last TariffElement":
    the rounding extra is billed at the last element's price. 0.3 + 0.5 kWh round to 1 kWh with
    0.7 kWh at 1.00 (0.73); 0.5 + 0.5 kWh need no rounding (0.55)."""
    t = tariff(
        element(component("ENERGY", "0.10", step_size=1000), end_time="12:00"),
        element(component("ENERGY", "1.00", step_size=1000)),
    )

    def session(before_noon_wh: int) -> SessionTimeline:
        return timeline(
            (local(2024, 6, 12, 11), 0),
            (local(2024, 6, 12, 12), before_noon_wh),
            (local(2024, 6, 12, 13), before_noon_wh + 500),
        )

    assert money(price(t, session(300))) == ("0.73", "0.73")
    assert money(price(t, session(500))) == ("0.55", "0.55")


# ---------------------------------------------------------------------------------------------
# VAT, rounding, min/max price


def test_vat_null_means_no_vat_and_differs_from_zero_percent():
    t = tariff(element(component("ENERGY", "0.30", None), component("PARKING_TIME", "1.00", 0)))
    session = timeline((local(2024, 6, 12, 10), 0), (local(2024, 6, 12, 11), 10000), end=local(2024, 6, 12, 12))
    breakdown = price(t, session)

    assert [(x.vat_rate, x.amount_excl_vat, x.amount_incl_vat) for x in breakdown.lines] == [
        (None, Decimal("3.00"), Decimal("3.00")),
        (Decimal("0"), Decimal("1.00"), Decimal("1.00")),
    ]
    assert breakdown.vat_summary == {
        None: (Decimal("3.00"), Decimal("0.00")),
        Decimal(0): (Decimal("1.00"), Decimal("0.00")),
    }
    assert [x["vat_rate"] for x in breakdown.as_dict()["vat_summary"]] == [None, "0"]


def test_vat_is_summarised_per_rate():
    t = tariff(element(component("FLAT", "0.50", 20), component("ENERGY", "0.25", 10), component("TIME", "1.00", 20)))
    breakdown = price(t, steady_session(local(2024, 6, 12, 10), local(2024, 6, 12, 12), kw=10))

    assert breakdown.vat_summary == {
        Decimal(10): (Decimal("5.00"), Decimal("0.50")),
        Decimal(20): (Decimal("2.50"), Decimal("0.50")),
    }
    assert money(breakdown) == ("7.50", "8.50")


def test_lines_round_half_up_and_totals_are_their_sum():
    """0.125 EUR exactly (0.5 kWh at 0.25) rounds up to 0.13; three such lines total 0.39, not 0.38."""
    t = tariff(
        element(component("ENERGY", "0.25"), end_time="10:30"),
        element(component("ENERGY", "0.25"), end_time="11:00"),
        element(component("ENERGY", "0.25")),
    )
    breakdown = price(t, steady_session(local(2024, 6, 12, 10), local(2024, 6, 12, 11, 30)))
    assert [str(x.amount_excl_vat) for x in breakdown.lines] == ["0.13", "0.13", "0.13"]
    assert money(breakdown) == ("0.39", "0.39")


def test_zero_decimal_currencies_round_to_whole_units():
    """12.345 kWh x 35 JPY = 432.075 -> 432; 10 % VAT 43.2 -> 43."""
    session = timeline(
        (local(2024, 6, 12, 10, zone="Asia/Tokyo"), 0), (local(2024, 6, 12, 11, zone="Asia/Tokyo"), 12345)
    )
    breakdown = price(tariff(element(component("ENERGY", 35, 10)), currency="JPY"), session, "Asia/Tokyo")
    assert money(breakdown) == ("432", "475")


MIN_PRICE_TARIFF = tariff(  # OCPI tariff_12_025kwh_min_price.json
    element(component("ENERGY", 0.25, 10.0)), min_price={"excl_vat": 0.50, "incl_vat": 0.55}
)


def test_min_price_lifts_a_cheap_session():
    """OCPI: below 2 kWh the session costs 0.50 / 0.55."""
    breakdown = price(MIN_PRICE_TARIFF, steady_session(local(2024, 6, 12, 10), local(2024, 6, 12, 11)))

    assert money(breakdown) == ("0.50", "0.55")
    assert breakdown.min_max_applied == "MIN_PRICE"
    assert line_amounts(breakdown) == [(0, "ENERGY", "0.25"), (None, "MIN_PRICE", "0.25")]


def test_min_price_leaves_an_expensive_session_alone():
    breakdown = price(MIN_PRICE_TARIFF, steady_session(local(2024, 6, 12, 10), local(2024, 6, 12, 12), kw=10))
    assert money(breakdown) == ("5.00", "5.50")
    assert breakdown.min_max_applied is None


def test_min_price_applies_to_a_session_without_energy():
    session = timeline((local(2024, 6, 12, 10), 500), (local(2024, 6, 12, 10, 5), 500))
    assert money(price(MIN_PRICE_TARIFF, session)) == ("0.50", "0.55")


MAX_PRICE_TARIFF = tariff(  # OCPI tariff_6_025kwh_start_max_price.json
    element(component("FLAT", 0.50, 20.0), component("ENERGY", 0.25, 10.0)),
    max_price={"excl_vat": 10.00, "incl_vat": 11.00},
)


def test_max_price_caps_both_totals():
    """OCPI: 50 kWh -> 10.00 / 11.00 "due to the price limit"."""
    breakdown = price(MAX_PRICE_TARIFF, steady_session(local(2024, 6, 12, 10), local(2024, 6, 12, 15), kw=10))

    assert money(breakdown) == ("10.00", "11.00")
    assert breakdown.min_max_applied == "MAX_PRICE"
    assert sum(x.amount_incl_vat for x in breakdown.lines) == breakdown.total_incl_vat


def test_max_price_leaves_a_cheaper_session_alone():
    """OCPI: 30 kWh -> 8.00 / 8.85."""
    breakdown = price(MAX_PRICE_TARIFF, steady_session(local(2024, 6, 12, 10), local(2024, 6, 12, 13), kw=10))
    assert money(breakdown) == ("8.00", "8.85")
    assert breakdown.min_max_applied is None


# ---------------------------------------------------------------------------------------------
# Output


def test_breakdown_serialises_to_json_with_decimals_as_strings():
    data = price(BRIEF_TARIFF, brief_session(12)).as_dict()

    assert json.loads(json.dumps(data)) == data
    assert data["total_incl_vat"] == "20.32"
    assert data["lines"][0]["unit_price"] == "0.49"
    first = data["charging_periods"][0]
    assert first["tariff_id"] == "T-1"
    assert first["start_date_time"] == "2024-06-12T13:30:00Z"
    assert {"type": "ENERGY", "volume": "15.125000"} in first["dimensions"]
    assert [p["dimensions"][0]["type"] for p in data["charging_periods"]] == [
        "ENERGY",
        "ENERGY",
        "PARKING_TIME",
        "PARKING_TIME",
    ]


def test_cost_of_a_component_type_gives_cdr_style_subtotals():
    breakdown = price(BRIEF_TARIFF, brief_session(12))
    assert breakdown.cost_of("ENERGY") == (Decimal("6.57"), Decimal("7.82"))
    assert breakdown.cost_of("PARKING_TIME") == (Decimal("10.50"), Decimal("12.50"))
    assert breakdown.cost_of("FLAT") == (Decimal(0), Decimal(0))


def test_charging_periods_add_up_to_the_session():
    breakdown = price(BRIEF_TARIFF, brief_session(12))
    volumes: dict[str, Decimal] = {}
    for period in breakdown.charging_periods:
        for dimension in period["dimensions"]:
            volumes[dimension["type"]] = volumes.get(dimension["type"], Decimal(0)) + dimension["volume"]

    assert volumes["ENERGY"] == breakdown.total_energy_kwh
    assert abs(volumes["TIME"] + volumes["PARKING_TIME"] - breakdown.total_time_h) <= Decimal("0.000002")


def test_a_zero_length_session_pays_only_its_flat_fee():
    at = local(2024, 6, 12, 10)
    breakdown = price(
        tariff(element(component("FLAT", "1.00", 19), component("ENERGY", "0.30"))),
        SessionTimeline(start=at, end=at, readings=[]),
    )
    assert money(breakdown) == ("1.00", "1.19")
    assert breakdown.charging_periods == []


# ---------------------------------------------------------------------------------------------
# Malformed input

GOOD_ELEMENT = element(component("ENERGY", "0.30", 19))


@pytest.mark.parametrize(
    ("bad_tariff", "message"),
    [
        ("not a tariff", "must be an object"),
        ({"elements": [GOOD_ELEMENT]}, "currency"),
        (tariff(GOOD_ELEMENT, currency="euro"), "currency"),
        (tariff(), "non-empty list"),
        (tariff({"restrictions": {}}), "price_components"),
        (tariff(element(component("KWH", "0.30"))), "type must be one of"),
        (tariff(element(component("ENERGY", "-0.30"))), "must not be negative"),
        (tariff(element(component("ENERGY", "abc"))), "must be a number"),
        (tariff(element(component("ENERGY", float("nan")))), "finite"),
        (tariff(element(component("ENERGY", True))), "must be a number"),
        (tariff(element({"type": "ENERGY", "step_size": 1})), "price is missing"),
        (tariff(element(component("ENERGY", "0.30", vat=-19))), "vat must not be negative"),
        (tariff(element(component("ENERGY", "0.30", step_size=0))), "step_size must be at least 1"),
        (tariff(element({"type": "TIME", "price": 1})), "step_size is missing"),
        (tariff(element(component("TIME", "1", step_size=1.5))), "step_size must be an integer"),
        (tariff(element(component("ENERGY", "0.30"), start_time="7:00")), "HH:MM"),
        (tariff(element(component("ENERGY", "0.30"), end_time="24:00")), "HH:MM"),
        (tariff(element(component("ENERGY", "0.30"), start_date="2024-02-30")), "not a calendar date"),
        (tariff(element(component("ENERGY", "0.30"), end_date="24-12-01")), "YYYY-MM-DD"),
        (tariff(element(component("ENERGY", "0.30"), day_of_week=["MON"])), "day_of_week"),
        (tariff(element(component("ENERGY", "0.30"), min_kwh=20, max_kwh=10)), "min_kwh is above max_kwh"),
        (tariff(element(component("ENERGY", "0.30"), min_duration=-1)), "min_duration must be at least 0"),
        (tariff(element(component("ENERGY", "0.30"), max_power="lots")), "max_power must be a number"),
        (tariff(element(component("ENERGY", "0.30"), reservation="YES")), "reservation"),
        (tariff(GOOD_ELEMENT, min_price={"excl_vat": 5}, max_price={"excl_vat": 1}), "min_price.excl_vat is above"),
        (tariff(GOOD_ELEMENT, min_price={"incl_vat": 5}), "Price object"),
        (tariff(GOOD_ELEMENT, start_date_time="yesterday"), "RFC 3339"),
    ],
)
def test_malformed_tariffs_raise_tariff_error(bad_tariff, message):
    session = steady_session(local(2024, 6, 12, 10), local(2024, 6, 12, 11))
    with pytest.raises(TariffError, match=message):
        price(bad_tariff, session)


def test_prices_may_be_strings_ints_floats_or_decimals():
    session = steady_session(local(2024, 6, 12, 10), local(2024, 6, 12, 11), kw=10)
    amounts = {
        money(price(tariff(element(component("ENERGY", value))), session)) for value in ("0.3", 0.3, Decimal("0.30"))
    }
    assert amounts == {("3.00", "3.00")}
    assert money(price(tariff(element(component("ENERGY", 1))), session)) == ("10.00", "10.00")


@pytest.mark.parametrize(
    ("window", "active"),
    [
        ({"start_date_time": "2024-06-12T08:00:00Z"}, True),
        ({"start_date_time": "2024-06-12T08:00:01Z"}, False),
        ({"end_date_time": "2024-06-12T08:00:00Z"}, False),
        ({"end_date_time": "2024-06-12T08:30:00"}, True),
    ],
)
def test_a_tariff_is_only_usable_for_sessions_starting_while_it_is_active(window, active):
    session = steady_session(local(2024, 6, 12, 10), local(2024, 6, 12, 11))  # 08:00 UTC
    t = tariff(GOOD_ELEMENT, **window)
    if active:
        assert money(price(t, session)) == ("0.30", "0.36")
    else:
        with pytest.raises(TariffError, match="active"):
            price(t, session)


@pytest.mark.parametrize(
    ("bad_timeline", "time_zone", "message"),
    [
        (SessionTimeline(datetime(2024, 6, 12, 10), datetime(2024, 6, 12, 11), []), BERLIN, "timezone-aware"),
        (SessionTimeline(local(2024, 6, 12, 11), local(2024, 6, 12, 10), []), BERLIN, "before it starts"),
        (timeline((local(2024, 6, 12, 10), 500), (local(2024, 6, 12, 11), 400)), BERLIN, "decreases"),
        (steady_session(local(2024, 6, 12, 10), local(2024, 6, 12, 11)), "Europe/Atlantis", "unknown time zone"),
    ],
)
def test_unusable_timelines_raise_timeline_error(bad_timeline, time_zone, message):
    with pytest.raises(TimelineError, match=message):
        price(tariff(GOOD_ELEMENT), bad_timeline, time_zone)
