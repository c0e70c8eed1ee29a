"""The price service: what a driver pays here, now, and what a session costs so far.

One place answers every price question (portal, OCPP displays, OCPI session updates): the
tariff that applies (the same resolution the session snapshot uses), a short price text in
the driver's language, the running cost of a session and its final cost. Costs go through
`billing.cdrs.price_timeline`, the function the CDR is written with, so the running cost at
the session's end is the CDR's total.

Price texts show prices incl. VAT (what a driver pays), the currency as its ISO code, time
prices per minute when that is a whole number of minor units (6.00/h is "0.10 EUR/min"),
otherwise per hour. Zero prices are left out; a tariff that is free says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils import timezone

from billing.cdrs import price_timeline, session_tariff, session_timeline
from billing.market import follow_market, points_between
from billing.models import ChargeDetailRecord, Tariff
from billing.pricing import (
    ENERGY,
    FLAT,
    PARKING_TIME,
    TIME,
    OfferedPrice,
    PricingError,
    currency_exponent,
    prices_in_force,
)
from billing.tariffs import tariff_at, tariff_to_ocpi
from stations.models import ChargingSession, ChargingStation, Evse, SessionStatus

__all__ = ["Cost", "PriceQuote", "final_cost", "price_text", "quote", "running_cost", "session_cost"]

_PHRASES: dict[str, dict[str, str]] = {
    "en": {
        "flat": "{p} per session", "energy": "{p}/kWh", "time": "{p}/{u} charging", "parking": "{p}/{u} parking",
        "min_duration": "after {v}", "max_duration": "for the first {v}", "min_kwh": "from {v} kWh",
        "max_kwh": "up to {v} kWh", "min_power": "from {v} kW", "max_power": "below {v} kW",
        "min_current": "from {v} A", "max_current": "below {v} A", "min_price": "at least {p}",
        "max_price": "at most {p}", "free": "free of charge", "sep": ", ",
    },
    "de": {
        "flat": "{p} pro Ladevorgang", "energy": "{p}/kWh", "time": "{p}/{u} Laden", "parking": "{p}/{u} Parken",
        "min_duration": "nach {v}", "max_duration": "in den ersten {v}", "min_kwh": "ab {v} kWh",
        "max_kwh": "bis {v} kWh", "min_power": "ab {v} kW", "max_power": "unter {v} kW",
        "min_current": "ab {v} A", "max_current": "unter {v} A", "min_price": "mindestens {p}",
        "max_price": "höchstens {p}", "free": "kostenlos", "sep": ", ",
    },
    "fr": {
        "flat": "{p} par session", "energy": "{p}/kWh", "time": "{p}/{u} de charge",
        "parking": "{p}/{u} de stationnement", "min_duration": "après {v}", "max_duration": "pendant les premières {v}",
        "min_kwh": "à partir de {v} kWh", "max_kwh": "jusqu'à {v} kWh", "min_power": "à partir de {v} kW",
        "max_power": "sous {v} kW", "min_current": "à partir de {v} A", "max_current": "sous {v} A",
        "min_price": "au moins {p}", "max_price": "au plus {p}", "free": "gratuit", "sep": ", ",
    },
    "nl": {
        "flat": "{p} per sessie", "energy": "{p}/kWh", "time": "{p}/{u} laden", "parking": "{p}/{u} parkeren",
        "min_duration": "na {v}", "max_duration": "de eerste {v}", "min_kwh": "vanaf {v} kWh",
        "max_kwh": "tot {v} kWh", "min_power": "vanaf {v} kW", "max_power": "onder {v} kW",
        "min_current": "vanaf {v} A", "max_current": "onder {v} A", "min_price": "minimaal {p}",
        "max_price": "maximaal {p}", "free": "gratis", "sep": ", ",
    },
}
_DECIMAL_COMMA = frozenset({"de", "fr", "nl"})
_KEY = {FLAT: "flat", ENERGY: "energy", TIME: "time", PARKING_TIME: "parking"}


@dataclass(frozen=True)
class PriceQuote:
    """What a driver would pay at a place, now: the tariff, as priced (a dynamic tariff with
    the market prices around ``at``), and its text."""

    tariff: Tariff
    ocpi: dict[str, Any]
    time_zone: str
    currency: str
    text: str


@dataclass(frozen=True)
class Cost:
    """A session's cost so far (``final`` False) or its final cost. Amounts incl. and excl. VAT
    in the currency's minor unit; ``lines`` as in `PriceBreakdown.as_dict` (the CDR's)."""

    currency: str
    total_excl_vat: Decimal
    total_incl_vat: Decimal
    energy_kwh: Decimal
    final: bool
    at: datetime
    lines: list[dict[str, Any]] = field(default_factory=list)
    tariff_id: str | None = None

    @property
    def total_vat(self) -> Decimal:
        return self.total_incl_vat - self.total_excl_vat

    def as_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency, "total_excl_vat": str(self.total_excl_vat), "total_vat": str(self.total_vat),
            "total_incl_vat": str(self.total_incl_vat), "energy_kwh": str(self.energy_kwh), "final": self.final,
            "at": self.at.isoformat(), "tariff_id": self.tariff_id, "lines": self.lines,
        }


# --------------------------------------------------------------------------------------------
# Before a session: the price here


def quote(*, station: ChargingStation, evse: Evse | None = None, driver_pk: int | None = None,
          at: datetime | None = None, language: str = "en") -> PriceQuote | None:
    """The price a session started at ``at`` (default now) would get; None: no tariff applies."""
    at = at or timezone.now()
    tariff = tariff_at(station=station, evse=evse, driver_pk=driver_pk, at=at)
    if tariff is None:
        return None
    time_zone = station.site.time_zone if station.site_id and station.site.time_zone else "UTC"
    ocpi = tariff_to_ocpi(tariff)
    if tariff.market_feed_id is not None:
        ocpi = follow_market(ocpi, feed=tariff.market_feed, time_zone=time_zone,
                             points=points_between(tariff.market_feed_id, at, at + timedelta(seconds=1)))
    return PriceQuote(tariff=tariff, ocpi=ocpi, time_zone=time_zone, currency=tariff.currency,
                      text=price_text(tariff=ocpi, at=at, time_zone=time_zone, language=language))


def _language(code: str | None) -> str:
    base = (code or "en").replace("_", "-").split("-")[0].lower()
    return base if base in _PHRASES else "en"


def _money(amount: Decimal, currency: str, language: str) -> str:
    """Minor units, more decimals only where they carry a value (0.2837 stays 0.2837)."""
    places = Decimal(1).scaleb(-currency_exponent(currency))
    shown = amount.quantize(places, ROUND_HALF_UP)
    if shown != amount:
        shown = amount.quantize(Decimal("0.0001"), ROUND_HALF_UP).normalize()
        if shown.as_tuple().exponent > places.as_tuple().exponent:
            shown = shown.quantize(places)
    text = f"{shown:f}"
    return f"{text.replace('.', ',') if language in _DECIMAL_COMMA else text} {currency}"


def _number(value: Any, language: str) -> str:
    text = f"{Decimal(str(value)).normalize():f}"
    return text.replace(".", ",") if language in _DECIMAL_COMMA else text


def _duration(seconds: int) -> str:
    hours, minutes = divmod(int(seconds) // 60, 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} h" if hours else f"{minutes} min"


def _incl_vat(price: OfferedPrice) -> Decimal:
    # 4 decimals: a net price chosen to give a round gross price (0.327731 + 19 %) shows as 0.39.
    return (price.price * (1 + (price.vat_rate or Decimal(0)) / 100)).quantize(Decimal("0.0001"), ROUND_HALF_UP)


def _phrase(price: OfferedPrice, currency: str, language: str) -> str:
    words = _PHRASES[language]
    amount = _incl_vat(price)
    unit = ""
    if price.dimension in (TIME, PARKING_TIME):
        per_minute = amount / 60
        places = Decimal(1).scaleb(-currency_exponent(currency))
        if per_minute == per_minute.quantize(places):
            amount, unit = per_minute, "min"
        else:
            unit = "h"
    text = words[_KEY[price.dimension]].format(p=_money(amount, currency, language), u=unit)
    for key, value in price.conditions.items():
        shown = _duration(value) if key.endswith("duration") else _number(value, language)
        text += " " + words[key].format(v=shown)
    return text


def price_text(*, tariff: Mapping[str, Any], at: datetime, time_zone: str, language: str = "en") -> str:
    """"0.39 EUR/kWh, 0.10 EUR/min parking after 2 h": the prices of ``tariff`` (an OCPI tariff,
    a dynamic one already following the market) that a session starting at ``at`` can meet."""
    language = _language(language)
    words = _PHRASES[language]
    currency = tariff["currency"]
    offered = [p for p in prices_in_force(tariff=tariff, at=at, time_zone=time_zone) if p.price > 0]
    order = {ENERGY: 0, TIME: 1, PARKING_TIME: 2, FLAT: 3}
    offered.sort(key=lambda p: (order[p.dimension], p.element_index))
    parts = [_phrase(p, currency, language) for p in offered]
    for bound in ("min_price", "max_price"):
        value = tariff.get(bound)
        if value:
            amount = Decimal(str(value["incl_vat"] if value.get("incl_vat") is not None else value["excl_vat"]))
            parts.append(words[bound].format(p=_money(amount, currency, language)))
    return words["sep"].join(parts) if offered else words["free"]


PUBLISHED_MARKET_HORIZON = timedelta(hours=48)  # day-ahead prices reach at most into tomorrow


def published_tariff(tariff: Tariff, *, now: datetime | None = None) -> dict[str, Any]:
    """The OCPI tariff as partners (and their drivers) see it: a dynamic tariff with the market
    prices stored from now on (local times of the first place it is assigned to), so what the
    Tariffs module publishes is what a session started now is priced with."""
    ocpi = tariff_to_ocpi(tariff)
    if tariff.market_feed_id is None:
        return ocpi
    now = now or timezone.now()
    return follow_market(ocpi, feed=tariff.market_feed, time_zone=_time_zone_of(tariff),
                         points=points_between(tariff.market_feed_id, now, now + PUBLISHED_MARKET_HORIZON))


def _time_zone_of(tariff: Tariff) -> str:
    assignment = tariff.assignments.select_related("site", "station__site", "evse__station__site").first()
    site = None
    if assignment is not None:
        site = assignment.site or (assignment.station.site if assignment.station_id else None) or (
            assignment.evse.station.site if assignment.evse_id else None)
    return site.time_zone if site is not None and site.time_zone else "UTC"


# --------------------------------------------------------------------------------------------
# During and after a session


def running_cost(*, session: ChargingSession, at: datetime | None = None) -> Cost | None:
    """The cost of a session up to ``at`` (default: now; never before its last meter reading;
    a completed session: up to its stop), priced exactly as its CDR will be. None: no tariff
    applies or the data cannot be priced."""
    if session.started_at is None:
        return None
    if session.status == SessionStatus.COMPLETED and session.stopped_at is not None:
        at = session.stopped_at
    else:
        at = max(filter(None, [at or timezone.now(), session.meter_last_at, session.started_at]))
    tariff, time_zone, feed = session_tariff(session)
    if tariff is None:
        return None
    try:
        _, breakdown = price_timeline(tariff=tariff, time_zone=time_zone, feed=feed,
                                      timeline=session_timeline(session, end=at), session=session)
    except PricingError:
        return None
    data = breakdown.as_dict()
    # A completed session priced up to its stop is its final cost (the CDR's, which may still be queued).
    return Cost(currency=breakdown.currency, total_excl_vat=breakdown.total_excl_vat,
                total_incl_vat=breakdown.total_incl_vat, energy_kwh=breakdown.total_energy_kwh,
                final=session.status == SessionStatus.COMPLETED, at=at, lines=data["lines"],
                tariff_id=breakdown.tariff_id)


def final_cost(*, session: ChargingSession) -> Cost | None:
    """The CDR's cost of a completed session; None until the CDR is written."""
    cdr = ChargeDetailRecord.objects.filter(session=session).first()
    if cdr is None:
        return None
    return Cost(currency=cdr.currency, total_excl_vat=cdr.total_cost_excl_vat, total_incl_vat=cdr.total_cost_incl_vat,
                energy_kwh=cdr.total_energy_kwh, final=True, at=cdr.end_date_time,
                lines=cdr.breakdown.get("lines", []), tariff_id=cdr.tariff.get("id"))


def session_cost(*, session: ChargingSession, at: datetime | None = None) -> Cost | None:
    """The final cost once there is a CDR, the running cost before."""
    if session.status == SessionStatus.COMPLETED:
        cost = final_cost(session=session)
        if cost is not None:
            return cost
    return running_cost(session=session, at=at)
