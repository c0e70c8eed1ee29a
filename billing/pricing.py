"""Price a charging session against an OCPI 2.2.1 Tariff.

Pure functions over plain data: no models, no database. The input is the Tariff object as
OCPI sends it (a JSON-like dict, snapshotted at session start) and the session's meter readings;
the output is a `PriceBreakdown` that an immutable CDR can embed (`PriceBreakdown.as_dict`).

Quotes below are from the OCPI 2.2.1 tariffs module (``mod_tariffs.asciidoc``) unless marked
otherwise. Where 2.2.1 is silent, the choice made here is marked **Decision**.

Periods
    The session is cut at every meter reading and at every instant where a restriction can change
    its verdict: local HH:MM of each ``start_time``/``end_time`` and local midnight (dates, day of
    week), each computed per local date with zoneinfo (both folds) plus the instants of UTC-offset
    changes, so DST is right; ``start + min/max_duration``; the instants where the session's energy
    reaches each ``min/max_kwh`` (linear interpolation between readings). Restrictions are then
    evaluated at each period's start, which is exact because nothing changes inside a period.
    "These restrictions are not for the entire Charging Session. They only describe if and when a
    TariffElement becomes active or inactive during a Charging Session."

Restriction semantics (lower bounds inclusive, upper bounds exclusive)
    - start_time/end_time: local wall-clock time of the Location's ``time_zone``; "valid from this
      time of the day" / "valid until this time of the day". ``end_time`` < ``start_time`` wraps
      midnight (22:00-06:00 is the night). **Decision:** ``start_time == end_time`` is a 24 h window.
      A time that does not exist on a spring-forward day starts/ends the window at the transition.
    - start_date (inclusive) / end_date: "valid until this day (exclusive)", local dates.
    - day_of_week: the local weekday of the instant (a Friday-only 22:00-06:00 element stops at
      Saturday 00:00; OCPI has no notion of "the day the session started").
    - min_kwh: "valid from this amount of energy being used"; max_kwh: "valid until this amount".
      Energy is the session's energy so far (register minus the register at session start).
    - min_duration: "Minimum duration in seconds the Charging Session MUST last (inclusive)";
      max_duration: "(exclusive)". Duration is time since session start, charging or not.
    - min/max_power (kW), min/max_current (A): "When the EV is charging with more than the defined
      amount ... this TariffElement is/becomes active. If the charging power is or becomes lower,
      this TariffElement is not or no longer valid". Min inclusive, max exclusive, as in the
      spec's max_power example (16 kW belongs to the 16-32 kW element). A reading's ``power_w``
      and ``current_a`` hold until the next reading (sample and hold); without ``power_w`` the
      period's average power from the energy register is used. **Decision:** an unknown current
      does not exclude an element (as the ``ocpi-tariffs`` checker does for absent dimensions).
    - reservation: "When this field is present, the TariffElement describes reservation costs."
      Such elements never price the charging session. With ``SessionTimeline.reservation`` the
      FLAT of the first ``RESERVATION`` element is billed as a reservation fee. Reservation TIME
      (the time between reserving and plugging in) is not in the timeline and is not priced.

Dimensions
    "TIME | Time charging", "PARKING_TIME | Time not charging". A period is charging when the energy
    register rises in it or the held ``power_w`` is > 0. "When the list of Tariff Elements contains
    more than one Element with the same Tariff Dimension (ENERGY/FLAT/TIME etc.), than the first
    Tariff Element with that Dimension in the list with matching Tariff Restrictions will be used."
    "When no Tariff Element with a specific Dimension is found for which the Restrictions match ...
    there will be no costs for that Tariff Dimension." FLAT is billed once per session, from the
    first element with a FLAT component that matches at session start. **Decision:** if none
    matches at the start, the first period in which one matches provides it (a FLAT element with
    ``min_duration`` is then an "overstay fee"); at most one FLAT either way.

step_size
    "Minimum amount to be billed. This unit will be billed in this step_size blocks." "`step_size`
    SHALL only be taken into account for the last TariffElement and when switching to another
    TariffElement for the PriceComponents that is not in the new TariffElement." And from the
    worked example: "As the Price Component of the last Tariff Element being used has a step_size
    of 15 minutes, we bill a total charging duration of 15 minutes. When considering the already
    billed 5 minutes of charging time before 17:00, we are left with 10 minutes to bill after 17:00."
    So, per dimension, a *run* is a maximal stretch of periods in which some element prices that
    dimension. At the end of a run (the session ends, or no matching element has the dimension any
    more) the run's total volume is rounded up to a multiple of the ``step_size`` of the last
    element that billed volume in the run, and the extra volume is billed at that element's price.
    Switching between elements that both price the dimension does not round. Dimensions round
    independently: a later errata of the same example lets step-rounded charging time absorb the
    following parking minutes (0.50 EUR instead of 2.2.1's 0.75 EUR); we follow the 2.2.1 text.
    Consequence (inherent to the rule): when the last element is dearer than earlier ones, a little
    more volume earlier can lower the rounding extra and the total (see the tests).

VAT
    "vat: Applicable VAT percentage for this tariff dimension. If omitted, no VAT is applicable. Not
    providing a VAT is different from 0% VAT". A line without VAT has incl = excl and
    ``vat_rate`` None; ``vat_summary`` keeps None and 0 apart.

Rounding
    Each line's amount excl. VAT is computed exactly in Decimal (volume in Wh or microseconds times
    the price, divided once) and rounded to the currency's minor unit with ROUND_HALF_UP (2
    decimals; 0 for ISO 4217 zero-decimal currencies such as JPY; 3 for BHD, KWD, ...). The line's
    VAT is the rounded excl amount times the rate, rounded the same way; incl = excl + VAT. Totals
    are sums of rounded lines, so an invoice always adds up. (OCPI's own complex example rounds
    only its total and says 10.00 EUR where per-line VAT gives 10.01 EUR; see the tests.)

min_price / max_price
    "they both apply: The total cost of a Charging Session excluding VAT can never be lower than the
    min_price excluding VAT. The total cost ... including VAT can never be lower than the min_price
    including VAT" (max_price likewise). The excl-VAT bound drives: the difference becomes
    ``MIN_PRICE``/``MAX_PRICE`` adjustment lines, split over the session's VAT rates in proportion
    to their bases (with no base: the tariff's VAT rate if it has a single one). An adjustment
    line's VAT makes its rate's VAT round(base x rate) on the clamped base, so the clamped total is
    taxed as a whole (OCPI's example: min 0.50/0.55 at 10 % gives 0.55, not 0.56). If the incl-VAT
    bound still binds afterwards (only when the tariff's incl_vat does not match its excl_vat and
    VAT rates), the rest is a VAT-only adjustment line (vat_rate None, amount excl 0).
    ``min_max_applied`` is "MIN_PRICE", "MAX_PRICE", or "MIN_PRICE+MAX_PRICE" when the excl bound
    of one and the incl bound of the other both bind.

Tariff validity
    "When charging at a Charge Point, a driver accepts the tariff which is valid when they start
    their charging session." A tariff whose start/end_date_time excludes the session start raises
    `TariffError`; it is never switched mid-session.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "ENERGY",
    "FLAT",
    "OfferedPrice",
    "PARKING_TIME",
    "TIME",
    "PriceBreakdown",
    "PriceLine",
    "PricingError",
    "Reading",
    "SessionTimeline",
    "TariffError",
    "TimelineError",
    "currency_exponent",
    "price_session",
    "prices_in_force",
]

ENERGY = "ENERGY"
FLAT = "FLAT"
TIME = "TIME"
PARKING_TIME = "PARKING_TIME"
MIN_PRICE = "MIN_PRICE"
MAX_PRICE = "MAX_PRICE"
_DIMENSIONS = (FLAT, ENERGY, TIME, PARKING_TIME)
_METERED = (ENERGY, TIME, PARKING_TIME)
_LINE_ORDER = {FLAT: 0, ENERGY: 1, TIME: 2, PARKING_TIME: 3, MIN_PRICE: 4, MAX_PRICE: 4}

DAYS_OF_WEEK = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
_RESERVATION_TYPES = ("RESERVATION", "RESERVATION_EXPIRES")

_US_PER_S = 1_000_000
_US_PER_H = 3_600 * _US_PER_S
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_VOLUME_QUANTUM = Decimal("0.000001")  # kWh and hours shown with 6 decimals
_READING_QUANTUM = Decimal("0.001")  # kW and A in charging periods

_TIME_RE = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_DATE_RE = re.compile(r"[12][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])")
_CURRENCY_RE = re.compile(r"[A-Z]{3}")

# ISO 4217 currencies whose minor unit is not 2 decimals.
_ZERO_DECIMAL_CURRENCIES = frozenset(
    {
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "ISK",
        "JPY",
        "KMF",
        "KRW",
        "PYG",
        "RWF",
        "UGX",
        "UYI",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    }
)
_THREE_DECIMAL_CURRENCIES = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})


class PricingError(ValueError):
    """A session could not be priced."""


class TariffError(PricingError):
    """The tariff is malformed, or not valid for the session."""


class TimelineError(PricingError):
    """The session timeline or the time zone is unusable."""


@dataclass(frozen=True)
class Reading:
    """One reading of the session's energy register (cumulative, Wh)."""

    timestamp: datetime
    energy_wh: float | int | Decimal
    power_w: float | int | Decimal | None = None
    current_a: float | int | Decimal | None = None


@dataclass(frozen=True)
class SessionTimeline:
    """What happened in one session. Readings may come in any order; the energy register is
    interpolated linearly between readings and held flat before the first and after the last."""

    start: datetime
    end: datetime
    readings: Sequence[Reading]
    reservation: bool = False


@dataclass(frozen=True)
class PriceLine:
    """One invoice line: a tariff element's price component and what it billed.

    ``volume`` is what was used (kWh, hours, or 1 for FLAT), ``billed_volume`` the volume after
    step_size rounding. Adjustment lines (MIN_PRICE, MAX_PRICE) have no element."""

    element_index: int | None
    component: str
    volume: Decimal
    billed_volume: Decimal
    unit_price: Decimal
    vat_rate: Decimal | None
    amount_excl_vat: Decimal
    amount_incl_vat: Decimal

    @property
    def vat_amount(self) -> Decimal:
        return self.amount_incl_vat - self.amount_excl_vat

    def as_dict(self) -> dict[str, Any]:
        return {
            "element_index": self.element_index,
            "component": self.component,
            "volume": str(self.volume),
            "billed_volume": str(self.billed_volume),
            "unit_price": str(self.unit_price),
            "vat_rate": None if self.vat_rate is None else str(self.vat_rate),
            "amount_excl_vat": str(self.amount_excl_vat),
            "amount_incl_vat": str(self.amount_incl_vat),
        }


@dataclass(frozen=True)
class PriceBreakdown:
    """The priced session. Totals are sums of the rounded lines; ``total_incl_vat`` equals
    ``total_excl_vat + total_vat``. ``total_time_h`` is the whole session (OCPI CDR ``total_time``),
    ``total_charging_time_h + total_parking_time_h == total_time_h`` up to display rounding."""

    currency: str
    total_excl_vat: Decimal
    total_vat: Decimal
    total_incl_vat: Decimal
    total_energy_kwh: Decimal
    total_time_h: Decimal
    total_charging_time_h: Decimal
    total_parking_time_h: Decimal
    lines: list[PriceLine]
    vat_summary: dict[Decimal | None, tuple[Decimal, Decimal]]
    charging_periods: list[dict[str, Any]]
    min_max_applied: str | None = None
    tariff_id: str | None = None

    def cost_of(self, component: str) -> tuple[Decimal, Decimal]:
        """(excl, incl) billed for one component type, e.g. for CDR ``total_energy_cost``."""
        picked = [line for line in self.lines if line.component == component]
        excl = sum((line.amount_excl_vat for line in picked), Decimal(0))
        return excl, sum((line.amount_incl_vat for line in picked), Decimal(0))

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, Decimals as strings."""
        return {
            "currency": self.currency,
            "tariff_id": self.tariff_id,
            "total_excl_vat": str(self.total_excl_vat),
            "total_vat": str(self.total_vat),
            "total_incl_vat": str(self.total_incl_vat),
            "total_energy_kwh": str(self.total_energy_kwh),
            "total_time_h": str(self.total_time_h),
            "total_charging_time_h": str(self.total_charging_time_h),
            "total_parking_time_h": str(self.total_parking_time_h),
            "lines": [line.as_dict() for line in self.lines],
            "vat_summary": [
                {"vat_rate": None if rate is None else str(rate), "base": str(base), "vat": str(vat)}
                for rate, (base, vat) in self.vat_summary.items()
            ],
            "charging_periods": [
                {
                    "start_date_time": period["start_date_time"],
                    "dimensions": [{"type": d["type"], "volume": str(d["volume"])} for d in period["dimensions"]],
                    **({"tariff_id": period["tariff_id"]} if "tariff_id" in period else {}),
                }
                for period in self.charging_periods
            ],
            "min_max_applied": self.min_max_applied,
        }


def currency_exponent(currency: str) -> int:
    """Decimals of the currency's minor unit (ISO 4217)."""
    if currency in _ZERO_DECIMAL_CURRENCIES:
        return 0
    if currency in _THREE_DECIMAL_CURRENCIES:
        return 3
    return 2


# --------------------------------------------------------------------------------------------
# The tariff, parsed and checked


@dataclass(frozen=True)
class _Component:
    type: str
    price: Decimal
    vat: Decimal | None
    step_size: int


@dataclass(frozen=True)
class _Restrictions:
    start_minute: int | None = None
    end_minute: int | None = None
    start_date: date | None = None
    end_date: date | None = None
    min_wh: Decimal | None = None
    max_wh: Decimal | None = None
    min_current_a: Decimal | None = None
    max_current_a: Decimal | None = None
    min_power_kw: Decimal | None = None
    max_power_kw: Decimal | None = None
    min_duration_us: int | None = None
    max_duration_us: int | None = None
    weekdays: frozenset[int] | None = None
    reservation: str | None = None


@dataclass(frozen=True)
class _Element:
    index: int
    components: dict[str, _Component]  # the first component of each type in the element
    restrictions: _Restrictions


@dataclass(frozen=True)
class _Price:
    excl_vat: Decimal
    incl_vat: Decimal | None


@dataclass(frozen=True)
class _Tariff:
    id: str | None
    currency: str
    elements: list[_Element]
    min_price: _Price | None
    max_price: _Price | None
    start_us: int | None
    end_us: int | None


def _number(value: Any, what: str, *, allow_negative: bool = False) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise TariffError(f"{what} must be a number, got {value!r}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise TariffError(f"{what} must be a number, got {value!r}") from None
    if not number.is_finite():
        raise TariffError(f"{what} must be finite, got {value!r}")
    if number < 0 and not allow_negative:
        raise TariffError(f"{what} must not be negative, got {value!r}")
    return number


def _integer(value: Any, what: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TariffError(f"{what} must be an integer, got {value!r}")
    if value < minimum:
        raise TariffError(f"{what} must be at least {minimum}, got {value!r}")
    return value


def _minute_of_day(value: Any, what: str) -> int:
    match = _TIME_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise TariffError(f"{what} must be HH:MM (24 h, leading zeros), got {value!r}")
    return int(match[1]) * 60 + int(match[2])


def _local_date(value: Any, what: str) -> date:
    if not isinstance(value, str) or _DATE_RE.fullmatch(value) is None:
        raise TariffError(f"{what} must be YYYY-MM-DD, got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise TariffError(f"{what} is not a calendar date: {value!r}") from None


def _utc_instant(value: Any, what: str) -> int:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise TariffError(f"{what} must be an RFC 3339 date-time, got {value!r}") from None
    else:
        raise TariffError(f"{what} must be an RFC 3339 date-time, got {value!r}")
    if moment.tzinfo is None:  # OCPI DateTime is UTC; "Z" is often left out
        moment = moment.replace(tzinfo=UTC)
    return _to_us(moment)


def _parse_price(value: Any, what: str) -> _Price | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or "excl_vat" not in value:
        raise TariffError(f"{what} must be a Price object with excl_vat, got {value!r}")
    incl = value.get("incl_vat")
    return _Price(
        excl_vat=_number(value["excl_vat"], f"{what}.excl_vat"),
        incl_vat=None if incl is None else _number(incl, f"{what}.incl_vat"),
    )


def _bounds(raw: Mapping[str, Any], low: str, high: str, where: str, scale: Decimal = Decimal(1)):
    lo = None if raw.get(low) is None else _number(raw[low], f"{where}.{low}") * scale
    hi = None if raw.get(high) is None else _number(raw[high], f"{where}.{high}") * scale
    if lo is not None and hi is not None and lo > hi:
        raise TariffError(f"{where}: {low} is above {high}, the element could never apply")
    return lo, hi


def _parse_restrictions(raw: Any, where: str) -> _Restrictions:
    if raw is None:
        return _Restrictions()
    if not isinstance(raw, Mapping):
        raise TariffError(f"{where} must be an object, got {raw!r}")
    start_minute = None if raw.get("start_time") is None else _minute_of_day(raw["start_time"], f"{where}.start_time")
    end_minute = None if raw.get("end_time") is None else _minute_of_day(raw["end_time"], f"{where}.end_time")
    start_date = None if raw.get("start_date") is None else _local_date(raw["start_date"], f"{where}.start_date")
    end_date = None if raw.get("end_date") is None else _local_date(raw["end_date"], f"{where}.end_date")
    min_wh, max_wh = _bounds(raw, "min_kwh", "max_kwh", where, Decimal(1000))
    min_current, max_current = _bounds(raw, "min_current", "max_current", where)
    min_power, max_power = _bounds(raw, "min_power", "max_power", where)
    durations = []
    for key in ("min_duration", "max_duration"):
        seconds = raw.get(key)
        durations.append(None if seconds is None else _integer(seconds, f"{where}.{key}", minimum=0) * _US_PER_S)
    if durations[0] is not None and durations[1] is not None and durations[0] > durations[1]:
        raise TariffError(f"{where}: min_duration is above max_duration, the element could never apply")
    weekdays = None
    days = raw.get("day_of_week")
    if days is not None:
        if not isinstance(days, list | tuple) or any(day not in DAYS_OF_WEEK for day in days):
            raise TariffError(f"{where}.day_of_week must be a list of {'/'.join(DAYS_OF_WEEK)}, got {days!r}")
        weekdays = frozenset(DAYS_OF_WEEK.index(day) for day in days) or None  # [] means every day
    reservation = raw.get("reservation")
    if reservation is not None and reservation not in _RESERVATION_TYPES:
        raise TariffError(f"{where}.reservation must be one of {_RESERVATION_TYPES}, got {reservation!r}")
    return _Restrictions(
        start_minute=start_minute,
        end_minute=end_minute,
        start_date=start_date,
        end_date=end_date,
        min_wh=min_wh,
        max_wh=max_wh,
        min_current_a=min_current,
        max_current_a=max_current,
        min_power_kw=min_power,
        max_power_kw=max_power,
        min_duration_us=durations[0],
        max_duration_us=durations[1],
        weekdays=weekdays,
        reservation=reservation,
    )


def _parse_component(raw: Any, where: str) -> _Component:
    if not isinstance(raw, Mapping):
        raise TariffError(f"{where} must be an object, got {raw!r}")
    kind = raw.get("type")
    if kind not in _DIMENSIONS:
        raise TariffError(f"{where}.type must be one of {'/'.join(_DIMENSIONS)}, got {kind!r}")
    if "price" not in raw:
        raise TariffError(f"{where}.price is missing")
    price = _number(raw["price"], f"{where}.price")
    vat = None if raw.get("vat") is None else _number(raw["vat"], f"{where}.vat")
    if kind == FLAT:  # "Flat fee without unit for step_size": any value, or none, is harmless
        step = raw.get("step_size", 1)
        _integer(step, f"{where}.step_size", minimum=0)
        step = 1
    elif "step_size" not in raw:
        raise TariffError(f"{where}.step_size is missing (required for {kind})")
    else:
        step = _integer(raw["step_size"], f"{where}.step_size", minimum=1)
    return _Component(type=kind, price=price, vat=vat, step_size=step)


def _parse_tariff(raw: Any) -> _Tariff:
    if not isinstance(raw, Mapping):
        raise TariffError(f"a tariff must be an object, got {type(raw).__name__}")
    currency = raw.get("currency")
    if not isinstance(currency, str) or _CURRENCY_RE.fullmatch(currency) is None:
        raise TariffError(f"currency must be an ISO 4217 code such as 'EUR', got {currency!r}")
    raw_elements = raw.get("elements")
    if not isinstance(raw_elements, list | tuple) or not raw_elements:
        raise TariffError("elements must be a non-empty list of tariff elements")
    elements = []
    for index, raw_element in enumerate(raw_elements):
        where = f"elements[{index}]"
        if not isinstance(raw_element, Mapping):
            raise TariffError(f"{where} must be an object, got {raw_element!r}")
        raw_components = raw_element.get("price_components")
        if not isinstance(raw_components, list | tuple) or not raw_components:
            raise TariffError(f"{where}.price_components must be a non-empty list")
        components: dict[str, _Component] = {}
        for position, raw_component in enumerate(raw_components):
            component = _parse_component(raw_component, f"{where}.price_components[{position}]")
            components.setdefault(component.type, component)
        restrictions = _parse_restrictions(raw_element.get("restrictions"), f"{where}.restrictions")
        elements.append(_Element(index=index, components=components, restrictions=restrictions))
    min_price = _parse_price(raw.get("min_price"), "min_price")
    max_price = _parse_price(raw.get("max_price"), "max_price")
    if min_price and max_price:
        if min_price.excl_vat > max_price.excl_vat:
            raise TariffError("min_price.excl_vat is above max_price.excl_vat")
        if (
            min_price.incl_vat is not None
            and max_price.incl_vat is not None
            and min_price.incl_vat > max_price.incl_vat
        ):
            raise TariffError("min_price.incl_vat is above max_price.incl_vat")
    start = raw.get("start_date_time")
    end = raw.get("end_date_time")
    tariff_id = raw.get("id")
    return _Tariff(
        id=None if tariff_id is None else str(tariff_id),
        currency=currency,
        elements=elements,
        min_price=min_price,
        max_price=max_price,
        start_us=None if start is None else _utc_instant(start, "start_date_time"),
        end_us=None if end is None else _utc_instant(end, "end_date_time"),
    )


# --------------------------------------------------------------------------------------------
# Time and energy along the session


def _to_us(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _from_us(instant: int) -> datetime:
    return _EPOCH + timedelta(microseconds=instant)


def _iso(instant: int) -> str:
    moment = _from_us(instant)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def _decimal(value: Any, what: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise TimelineError(f"{what} must be a number, got {value!r}") from None
    if not number.is_finite():
        raise TimelineError(f"{what} must be finite, got {value!r}")
    return number


def _aware_us(moment: Any, what: str) -> int:
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise TimelineError(f"{what} must be a timezone-aware datetime, got {moment!r}")
    return _to_us(moment)


class _Register:
    """The energy register as a function of time: piecewise linear through the readings."""

    def __init__(self, readings: Sequence[Reading]):
        by_time: dict[int, tuple[Decimal, Decimal | None, Decimal | None]] = {}
        for n, reading in enumerate(readings):
            at = _aware_us(reading.timestamp, f"readings[{n}].timestamp")
            power = None if reading.power_w is None else _decimal(reading.power_w, f"readings[{n}].power_w")
            current = None if reading.current_a is None else _decimal(reading.current_a, f"readings[{n}].current_a")
            by_time[at] = (_decimal(reading.energy_wh, f"readings[{n}].energy_wh"), power, current)  # last wins
        self.times = sorted(by_time)
        self.energy = [by_time[t][0] for t in self.times]
        self.power_w = [by_time[t][1] for t in self.times]
        self.current_a = [by_time[t][2] for t in self.times]
        for before, after, at in zip(self.energy, self.energy[1:], self.times[1:], strict=False):
            if after < before:
                raise TimelineError(f"the energy register decreases at {_iso(at)} ({before} Wh -> {after} Wh)")

    def at(self, instant: int) -> Decimal:
        if not self.times:
            return Decimal(0)
        i = bisect.bisect_right(self.times, instant)
        if i == 0:
            return self.energy[0]
        if i == len(self.times):
            return self.energy[-1]
        t0, t1, e0, e1 = self.times[i - 1], self.times[i], self.energy[i - 1], self.energy[i]
        return e0 + (e1 - e0) * (instant - t0) / (t1 - t0)

    def held(self, instant: int) -> tuple[Decimal | None, Decimal | None]:
        """(power_w, current_a) of the latest reading at or before the instant."""
        i = bisect.bisect_right(self.times, instant) - 1
        return (None, None) if i < 0 else (self.power_w[i], self.current_a[i])

    def first_reaching(self, energy: Decimal, start: int, end: int) -> int | None:
        """First instant in (start, end) at which the register reaches ``energy``, rounded up to
        the microsecond (so the register is at least ``energy`` there)."""
        knots = [start] + [t for t in self.times if start < t < end] + [end]
        values = [self.at(t) for t in knots]
        if values[0] >= energy:
            return None
        for i in range(1, len(knots)):
            t0, t1, e0, e1 = knots[i - 1], knots[i], values[i - 1], values[i]
            if e0 < energy <= e1:
                offset = ((energy - e0) * (t1 - t0) / (e1 - e0)).to_integral_value(ROUND_CEILING)
                instant = min(max(t0 + int(offset), t0 + 1), t1)
                return instant if instant < end else None
        return None


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise TimelineError(f"unknown time zone {name!r}") from None


def _offset_changes(zone: ZoneInfo, start: int, end: int) -> list[int]:
    """Instants in (start - 6 h, end + 6 h) where the zone's UTC offset changes (DST)."""

    def offset(instant: int) -> timedelta:
        return _from_us(instant).astimezone(zone).utcoffset()

    changes = []
    step = 6 * _US_PER_H  # no zone changes its offset twice within 6 h
    low = start - step
    while low < end:
        high = low + step
        if offset(low) != offset(high):
            a, b = low, high  # invariant: offset(a) == offset(low) != offset(b)
            while b - a > 1:
                mid = (a + b) // 2
                a, b = (mid, b) if offset(mid) == offset(low) else (a, mid)
            changes.append(b)
        low = high
    return changes


def _wall_clock_boundaries(zone: ZoneInfo, start: int, end: int, minutes: set[int]) -> set[int]:
    """UTC instants of each local HH:MM (and both folds of repeated ones) around the session."""
    first = _from_us(start).astimezone(zone).date() - timedelta(days=1)
    last = _from_us(end).astimezone(zone).date() + timedelta(days=1)
    instants = set()
    day = first
    while day <= last:
        for minute in minutes:
            wall = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)
            for fold in (0, 1):
                instants.add(_to_us(wall.replace(fold=fold)))
        day += timedelta(days=1)
    return instants


@dataclass(frozen=True)
class _Period:
    start: int
    end: int
    energy_before_wh: Decimal  # session energy at the period's start
    energy_wh: Decimal  # energy in the period
    power_kw: Decimal
    current_a: Decimal | None
    charging: bool
    local: datetime  # the period's start in local time

    @property
    def duration_us(self) -> int:
        return self.end - self.start


def _periods(tariff: _Tariff, timeline: SessionTimeline, zone: ZoneInfo, register: _Register) -> list[_Period]:
    start, end = _aware_us(timeline.start, "start"), _aware_us(timeline.end, "end")
    cuts = {start, end}
    cuts.update(t for t in register.times if start < t < end)
    minutes = {0}  # local midnight: dates and days of the week
    energy_overrides: dict[int, Decimal] = {}
    start_energy = register.at(start)
    for element in tariff.elements:
        r = element.restrictions
        minutes.update(m for m in (r.start_minute, r.end_minute) if m is not None)
        cuts.update(start + d for d in (r.min_duration_us, r.max_duration_us) if d is not None)
        for threshold in (r.min_wh, r.max_wh):
            if threshold is not None and threshold > 0:
                target = start_energy + threshold
                instant = register.first_reaching(target, start, end)
                if instant is not None:
                    cuts.add(instant)
                    if instant not in register.times:
                        energy_overrides[instant] = target
    cuts.update(_wall_clock_boundaries(zone, start, end, minutes))
    cuts.update(_offset_changes(zone, start, end))
    instants = sorted(t for t in cuts if start <= t <= end)

    energies = []
    for instant in instants:  # never decreasing, even where an interpolated cut and a threshold are 1 us apart
        value = energy_overrides.get(instant, register.at(instant))
        energies.append(max(value, energies[-1]) if energies else value)
    energies[-1] = max(register.at(end), energies[-1])

    periods = []
    for i in range(1, len(instants)):
        a, b, ea = instants[i - 1], instants[i], energies[i - 1]
        power_w, current_a = register.held(a)
        delta = energies[i] - ea
        power_kw = power_w / 1000 if power_w is not None else delta * _US_PER_H / (b - a) / 1000
        periods.append(
            _Period(
                start=a,
                end=b,
                energy_before_wh=ea - start_energy,
                energy_wh=delta,
                power_kw=power_kw,
                current_a=current_a,
                charging=delta > 0 or (power_w is not None and power_w > 0),
                local=_from_us(a).astimezone(zone),
            )
        )
    return periods


def _matches(r: _Restrictions, period: _Period, session_start: int) -> bool:
    if r.reservation is not None:
        return False  # reservation costs are not charging-session costs
    local = period.local
    if r.start_minute is not None or r.end_minute is not None:
        now = (local.hour * 3600 + local.minute * 60 + local.second) * _US_PER_S + local.microsecond
        lo = None if r.start_minute is None else r.start_minute * 60 * _US_PER_S
        hi = None if r.end_minute is None else r.end_minute * 60 * _US_PER_S
        if lo is not None and hi is not None:
            if lo < hi and not lo <= now < hi:
                return False
            if lo > hi and hi <= now < lo:  # wraps midnight
                return False
        elif lo is not None and now < lo:
            return False
        elif hi is not None and now >= hi:
            return False
    today = local.date()
    if r.start_date is not None and today < r.start_date:
        return False
    if r.end_date is not None and today >= r.end_date:
        return False
    if r.weekdays is not None and local.weekday() not in r.weekdays:
        return False
    if r.min_wh is not None and period.energy_before_wh < r.min_wh:
        return False
    if r.max_wh is not None and period.energy_before_wh >= r.max_wh:
        return False
    elapsed = period.start - session_start
    if r.min_duration_us is not None and elapsed < r.min_duration_us:
        return False
    if r.max_duration_us is not None and elapsed >= r.max_duration_us:
        return False
    if r.min_power_kw is not None and period.power_kw < r.min_power_kw:
        return False
    if r.max_power_kw is not None and period.power_kw >= r.max_power_kw:
        return False
    if period.current_a is not None:
        if r.min_current_a is not None and period.current_a < r.min_current_a:
            return False
        if r.max_current_a is not None and period.current_a >= r.max_current_a:
            return False
    return True


# --------------------------------------------------------------------------------------------
# Pricing


@dataclass
class _Tally:
    """What one (element, component) billed: raw and step-rounded volume, in Wh or microseconds."""

    component: _Component
    volume: Decimal = Decimal(0)
    extra: Decimal = Decimal(0)


def _volume(period: _Period, dimension: str) -> Decimal:
    if dimension == ENERGY:
        return period.energy_wh
    if dimension == TIME:
        return Decimal(period.duration_us if period.charging else 0)
    return Decimal(0 if period.charging else period.duration_us)


def _step_unit(component: _Component) -> Decimal:
    return Decimal(component.step_size) if component.type == ENERGY else Decimal(component.step_size * _US_PER_S)


def _close_run(tallies: dict[tuple[int, str], _Tally], dimension: str, volume: Decimal, last: _Element | None) -> None:
    """Round a run's volume up to the step_size of the last element that billed in it."""
    if last is None or volume <= 0:
        return
    unit = _step_unit(last.components[dimension])
    billed = (volume / unit).to_integral_value(ROUND_CEILING) * unit
    tallies[last.index, dimension].extra += billed - volume


def _bill_metered(
    periods: list[_Period], selections: list[dict[str, _Element | None]]
) -> dict[tuple[int, str], _Tally]:
    tallies: dict[tuple[int, str], _Tally] = {}
    for dimension in _METERED:
        run_volume, last_billing = Decimal(0), None
        for period, selected in zip(periods, selections, strict=True):
            element = selected[dimension]
            if element is None:  # "switching to another TariffElement ... that is not in the new" one
                _close_run(tallies, dimension, run_volume, last_billing)
                run_volume, last_billing = Decimal(0), None
                continue
            volume = _volume(period, dimension)
            if volume > 0:
                tally = tallies.setdefault((element.index, dimension), _Tally(element.components[dimension]))
                tally.volume += volume
                run_volume += volume
                last_billing = element
        _close_run(tallies, dimension, run_volume, last_billing)
    return tallies


def _select(elements: list[_Element], dimension: str, period: _Period, session_start: int) -> _Element | None:
    for element in elements:
        if dimension in element.components and _matches(element.restrictions, period, session_start):
            return element
    return None


def _line(element_index: int | None, component: _Component, volume: Decimal, billed: Decimal, q: Decimal) -> PriceLine:
    """``volume`` and ``billed`` in Wh, microseconds, or 1 for FLAT."""
    if component.type == ENERGY:
        exact = billed * component.price / 1000
        shown, shown_billed = volume / 1000, billed / 1000
    elif component.type in (TIME, PARKING_TIME):
        exact = billed * component.price / _US_PER_H
        shown, shown_billed = volume / _US_PER_H, billed / _US_PER_H
    else:
        exact, shown, shown_billed = component.price, Decimal(1), Decimal(1)
    return _money_line(
        element_index,
        component.type,
        exact,
        component.vat,
        q,
        volume=shown.quantize(_VOLUME_QUANTUM, ROUND_HALF_UP),
        billed_volume=shown_billed.quantize(_VOLUME_QUANTUM, ROUND_HALF_UP),
        unit_price=component.price,
    )


def _money_line(element_index, kind, exact_excl, vat, q, *, volume, billed_volume, unit_price) -> PriceLine:
    excl = exact_excl.quantize(q, ROUND_HALF_UP)
    vat_amount = Decimal(0).quantize(q) if vat is None else (excl * vat / 100).quantize(q, ROUND_HALF_UP)
    return PriceLine(
        element_index=element_index,
        component=kind,
        volume=volume,
        billed_volume=billed_volume,
        unit_price=unit_price,
        vat_rate=vat,
        amount_excl_vat=excl,
        amount_incl_vat=excl + vat_amount,
    )


def _vat_key(rate: Decimal | None) -> tuple[int, Decimal]:
    return (0, Decimal(0)) if rate is None else (1, rate)


def _clamp(value: Decimal, low: Decimal | None, high: Decimal | None) -> Decimal:
    if low is not None and value < low:
        return low
    if high is not None and value > high:
        return high
    return value


def _adjustments(tariff: _Tariff, lines: list[PriceLine], q: Decimal) -> tuple[list[PriceLine], str | None]:
    """MIN_PRICE / MAX_PRICE lines bringing the totals within the tariff's bounds: first the
    excl-VAT total (the adjustment carries VAT), then, if still needed, the incl-VAT total."""
    low, high = tariff.min_price, tariff.max_price
    # A bound finer than the minor unit is rounded towards the inside of the allowed range.
    low_excl = low.excl_vat.quantize(q, ROUND_CEILING) if low else None
    low_incl = low.incl_vat.quantize(q, ROUND_CEILING) if low and low.incl_vat is not None else None
    high_excl = high.excl_vat.quantize(q, ROUND_FLOOR) if high else None
    high_incl = high.incl_vat.quantize(q, ROUND_FLOOR) if high and high.incl_vat is not None else None

    excl = sum((line.amount_excl_vat for line in lines), Decimal(0))
    incl = sum((line.amount_incl_vat for line in lines), Decimal(0))
    adjustments: list[PriceLine] = []
    applied: list[str] = []
    difference = _clamp(excl, low_excl, high_excl) - excl
    if difference:
        kind = MIN_PRICE if difference > 0 else MAX_PRICE
        applied.append(kind)
        groups: dict[Decimal | None, tuple[Decimal, Decimal]] = {}  # VAT rate -> (base, VAT) so far
        for line in lines:
            base, vat = groups.get(line.vat_rate, (Decimal(0), Decimal(0)))
            groups[line.vat_rate] = (base + line.amount_excl_vat, vat + line.vat_amount)
        shares = {rate: base for rate, (base, _) in groups.items() if base > 0}
        if not shares:
            session_elements = [e for e in tariff.elements if e.restrictions.reservation is None]
            rates = {c.vat for e in session_elements for c in e.components.values()}
            shares = {rates.pop() if len(rates) == 1 else None: Decimal(1)}
        total_share = sum(shares.values(), Decimal(0))
        remaining = difference
        ordered = sorted(shares, key=_vat_key)
        for n, rate in enumerate(ordered):
            share = (difference * shares[rate] / total_share).quantize(q, ROUND_HALF_UP)
            part = remaining if n == len(ordered) - 1 else share
            remaining -= part
            # The clamped total is taxed as a whole: this rate's VAT becomes round(its base x rate).
            base, vat = groups.get(rate, (Decimal(0), Decimal(0)))
            vat_after = Decimal(0) if rate is None else ((base + part) * rate / 100).quantize(q, ROUND_HALF_UP)
            adjustments.append(PriceLine(None, kind, Decimal(1), Decimal(1), part, rate, part, part + vat_after - vat))
    incl += sum((line.amount_incl_vat for line in adjustments), Decimal(0))
    rest = _clamp(incl, low_incl, high_incl) - incl
    if rest:  # only when the tariff's incl_vat does not match its excl_vat and VAT rates
        kind = MIN_PRICE if rest > 0 else MAX_PRICE
        if kind not in applied:
            applied.append(kind)
        zero = Decimal(0).quantize(q)
        adjustments.append(PriceLine(None, kind, Decimal(1), Decimal(1), zero, None, zero, rest))
    return adjustments, "+".join(applied) or None


def _charging_periods(periods: list[_Period], selections: list[dict[str, _Element | None]], tariff_id: str | None):
    """OCPI CDR ChargingPeriods: consecutive periods with the same state and elements merged."""
    merged: list[tuple[tuple, list[_Period]]] = []
    for period, selected in zip(periods, selections, strict=True):
        key = (period.charging, tuple(None if selected[d] is None else selected[d].index for d in _METERED))
        if merged and merged[-1][0] == key:
            merged[-1][1].append(period)
        else:
            merged.append((key, [period]))
    result = []
    for (charging, _), group in merged:
        duration = sum(p.duration_us for p in group)
        dimensions = []
        if charging:
            energy = sum((p.energy_wh for p in group), Decimal(0)) / 1000
            dimensions.append({"type": ENERGY, "volume": energy.quantize(_VOLUME_QUANTUM, ROUND_HALF_UP)})
        hours = (Decimal(duration) / _US_PER_H).quantize(_VOLUME_QUANTUM, ROUND_HALF_UP)
        dimensions.append({"type": TIME if charging else PARKING_TIME, "volume": hours})
        readings = [("POWER", [p.power_kw for p in group]), ("CURRENT", [p.current_a for p in group])]
        for name, values in readings:
            if all(value is not None for value in values):
                for bound, value in (("MIN", min(values)), ("MAX", max(values))):
                    dimensions.append(
                        {"type": f"{bound}_{name}", "volume": value.quantize(_READING_QUANTUM, ROUND_HALF_UP)}
                    )
        entry: dict[str, Any] = {"start_date_time": _iso(group[0].start), "dimensions": dimensions}
        if tariff_id is not None:
            entry["tariff_id"] = tariff_id
        result.append(entry)
    return result


def price_session(*, tariff: Mapping[str, Any], timeline: SessionTimeline, time_zone: str) -> PriceBreakdown:
    """Price one session against an OCPI 2.2.1 Tariff, in the Location's ``time_zone``.

    Raises `TariffError` for a malformed tariff (or one not valid at session start) and
    `TimelineError` for unusable session data (naive datetimes, end before start, a register that
    runs backwards, an unknown time zone)."""
    with localcontext() as context:
        context.prec = 50
        return _price(tariff, timeline, time_zone)


def _price(raw_tariff: Mapping[str, Any], timeline: SessionTimeline, time_zone: str) -> PriceBreakdown:
    tariff = _parse_tariff(raw_tariff)
    zone = _zone(time_zone)
    start, end = _aware_us(timeline.start, "start"), _aware_us(timeline.end, "end")
    if end < start:
        raise TimelineError(f"the session ends ({_iso(end)}) before it starts ({_iso(start)})")
    if tariff.start_us is not None and start < tariff.start_us:
        raise TariffError(f"tariff {tariff.id!r} is not active yet at session start {_iso(start)}")
    if tariff.end_us is not None and start >= tariff.end_us:
        raise TariffError(f"tariff {tariff.id!r} is no longer active at session start {_iso(start)}")
    register = _Register(timeline.readings)
    q = Decimal(1).scaleb(-currency_exponent(tariff.currency))

    periods = _periods(tariff, timeline, zone, register)
    selections = [{d: _select(tariff.elements, d, p, start) for d in _METERED} for p in periods]
    tallies = _bill_metered(periods, selections)

    lines: list[PriceLine] = []
    probes = periods or [
        _Period(start, end, Decimal(0), Decimal(0), Decimal(0), None, False, _from_us(start).astimezone(zone))
    ]
    flat = next((e for p in probes if (e := _select(tariff.elements, FLAT, p, start)) is not None), None)
    if flat is not None:
        lines.append(_line(flat.index, flat.components[FLAT], Decimal(1), Decimal(1), q))
    if timeline.reservation:
        booked = next(
            (e for e in tariff.elements if e.restrictions.reservation == "RESERVATION" and FLAT in e.components), None
        )
        if booked is not None:
            lines.append(_line(booked.index, booked.components[FLAT], Decimal(1), Decimal(1), q))
    for (index, _dimension), tally in tallies.items():
        lines.append(_line(index, tally.component, tally.volume, tally.volume + tally.extra, q))
    lines.sort(key=lambda line: (_LINE_ORDER[line.component], line.element_index))

    adjustments, applied = _adjustments(tariff, lines, q)
    lines.extend(adjustments)

    total_excl = sum((line.amount_excl_vat for line in lines), Decimal(0).quantize(q))
    total_incl = sum((line.amount_incl_vat for line in lines), Decimal(0).quantize(q))
    vat_summary: dict[Decimal | None, tuple[Decimal, Decimal]] = {}
    for line in sorted(lines, key=lambda x: _vat_key(x.vat_rate)):
        base, vat = vat_summary.get(line.vat_rate, (Decimal(0).quantize(q), Decimal(0).quantize(q)))
        vat_summary[line.vat_rate] = (base + line.amount_excl_vat, vat + line.vat_amount)

    charging_us = sum(p.duration_us for p in periods if p.charging)
    return PriceBreakdown(
        currency=tariff.currency,
        total_excl_vat=total_excl,
        total_vat=total_incl - total_excl,
        total_incl_vat=total_incl,
        total_energy_kwh=((register.at(end) - register.at(start)) / 1000).quantize(_VOLUME_QUANTUM, ROUND_HALF_UP),
        total_time_h=(Decimal(end - start) / _US_PER_H).quantize(_VOLUME_QUANTUM, ROUND_HALF_UP),
        total_charging_time_h=(Decimal(charging_us) / _US_PER_H).quantize(_VOLUME_QUANTUM, ROUND_HALF_UP),
        total_parking_time_h=(Decimal(end - start - charging_us) / _US_PER_H).quantize(_VOLUME_QUANTUM, ROUND_HALF_UP),
        lines=lines,
        vat_summary=vat_summary,
        charging_periods=_charging_periods(periods, selections, tariff.id),
        min_max_applied=applied,
        tariff_id=tariff.id,
    )


@dataclass(frozen=True)
class OfferedPrice:
    """One price a session starting now may meet (for price displays, not for billing).

    ``conditions`` are the element's session-wide restrictions (min/max_duration in seconds,
    min/max_kwh, min/max_power, min/max_current) as OCPI writes them; calendar restrictions are
    already decided for the instant asked about."""

    dimension: str
    element_index: int
    price: Decimal  # excl. VAT, per kWh / hour / session
    vat_rate: Decimal | None
    step_size: int
    conditions: dict[str, Any]


_SESSION_WIDE = ("min_duration", "max_duration", "min_kwh", "max_kwh", "min_power", "max_power",
                 "min_current", "max_current")


def prices_in_force(*, tariff: Mapping[str, Any], at: datetime, time_zone: str) -> list[OfferedPrice]:
    """The prices of each dimension that apply around ``at``, in the order the engine would try
    them: elements whose time, date and weekday restrictions hold at ``at``. A dimension's list
    ends with its first element without session-wide conditions (later ones are never picked)."""
    with localcontext() as context:
        context.prec = 50
        parsed = _parse_tariff(tariff)
        zone = _zone(time_zone)
        instant = _aware_us(at, "at")
        probe = _Period(instant, instant, Decimal(0), Decimal(0), Decimal(0), None, False, at.astimezone(zone))
        calendar_only = {
            "min_wh": None, "max_wh": None, "min_current_a": None, "max_current_a": None, "min_power_kw": None,
            "max_power_kw": None, "min_duration_us": None, "max_duration_us": None,
        }
        offered: list[OfferedPrice] = []
        closed: set[str] = set()
        for element in parsed.elements:
            if not _matches(replace(element.restrictions, **calendar_only), probe, instant):
                continue
            raw_restrictions = tariff["elements"][element.index].get("restrictions") or {}
            conditions = {k: raw_restrictions[k] for k in _SESSION_WIDE if raw_restrictions.get(k) is not None}
            for dimension in _DIMENSIONS:
                component = element.components.get(dimension)
                if component is None or dimension in closed:
                    continue
                offered.append(OfferedPrice(dimension, element.index, component.price, component.vat,
                                            component.step_size, conditions))
                if not conditions:
                    closed.add(dimension)
        return offered


def validate_tariff(raw: Any) -> None:
    """Check that the engine can price with this OCPI Tariff; raises `TariffError` saying why not.

    The same checks `price_session` makes before pricing, without a session: forms and the API
    call it so that a tariff that could never be priced is refused when it is written."""
    with localcontext() as context:
        context.prec = 50
        _parse_tariff(raw)
