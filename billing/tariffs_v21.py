"""OCPI 2.2.1 Tariff -> OCPP 2.1 TariffType (SetDefaultTariff, ChangeTransactionTariff).

Pure conversion for the OCPP 2.1 work (sending tariffs to stations that calculate cost
locally). Both models are "first matching price per dimension": OCPI elements in order become,
per dimension, 2.1 price lists in the same order with the same restrictions as conditions.

Mapping: ENERGY -> ``energy`` (priceKwh), TIME -> ``chargingTime`` and PARKING_TIME ->
``idleTime`` (per hour in OCPI, ``priceMinute`` in 2.1), FLAT -> ``fixedFee``; FLAT of a
``RESERVATION`` element -> ``reservationFixed``, its TIME -> ``reservationTime``;
min/max_price -> minCost/maxCost; tariff_alt_text -> description; start_date_time -> validFrom.
Conditions: start/end_time -> start/endTimeOfDay, day_of_week (MONDAY -> Monday),
start/end_date -> validFrom/ToDate (both: end exclusive), min/max_kwh (kWh) -> min/maxEnergy
(Wh), min/max_power (kW) -> min/maxPower (W), min/max_current, min/max_duration -> min/maxTime.

What 2.1 cannot say raises `TariffConversionError` rather than sending a station a different
price: a dimension whose components carry different VAT rates (2.1 has one taxRates list per
dimension), FLAT conditions on energy/power/current/duration (TariffConditionsFixedType has
none), an id over 60 characters. ``step_size`` has no 2.1 counterpart: stations price
continuously, so a step_size above 1 is returned as a warning (their cost can differ from the
CDR's by up to one step).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from billing.pricing import validate_tariff

_DIMENSION_FIELD = {"ENERGY": "energy", "TIME": "chargingTime", "PARKING_TIME": "idleTime", "FLAT": "fixedFee"}
_RESERVATION_FIELD = {"FLAT": "reservationFixed", "TIME": "reservationTime"}
_CONDITIONS = {
    "start_time": ("startTimeOfDay", 1), "end_time": ("endTimeOfDay", 1), "start_date": ("validFromDate", 1),
    "end_date": ("validToDate", 1), "min_kwh": ("minEnergy", 1000), "max_kwh": ("maxEnergy", 1000),
    "min_power": ("minPower", 1000), "max_power": ("maxPower", 1000), "min_current": ("minCurrent", 1),
    "max_current": ("maxCurrent", 1), "min_duration": ("minTime", 1), "max_duration": ("maxTime", 1),
}
_FIXED_CONDITIONS = {"start_time", "end_time", "start_date", "end_date", "day_of_week"}


class TariffConversionError(ValueError):
    """The OCPI tariff cannot be said in OCPP 2.1 without changing its price."""


@dataclass(frozen=True)
class ConvertedTariff:
    tariff: dict[str, Any]  # the 2.1 TariffType, camelCase, as it goes in the payload
    warnings: list[str] = field(default_factory=list)


def _number(value: Any, scale: int = 1) -> float | int:
    result = Decimal(str(value)) * scale
    return int(result) if result == result.to_integral_value() else float(result)


def _conditions(restrictions: Mapping[str, Any] | None, *, fixed: bool, where: str) -> dict[str, Any]:
    restrictions = restrictions or {}
    conditions: dict[str, Any] = {}
    for key, value in restrictions.items():
        if value is None or key == "reservation":
            continue
        if fixed and key not in _FIXED_CONDITIONS:
            raise TariffConversionError(f"{where}: a fixed fee cannot depend on {key} in OCPP 2.1")
        if key == "day_of_week":
            if value:
                conditions["dayOfWeek"] = [day.capitalize() for day in value]
            continue
        name, scale = _CONDITIONS[key]
        conditions[name] = value if scale == 1 and isinstance(value, str) else _number(value, scale)
    return conditions


def ocpi_to_v21(ocpi: Mapping[str, Any]) -> ConvertedTariff:
    """The 2.1 TariffType of an OCPI tariff (validated first, as the pricing engine takes it)."""
    validate_tariff(ocpi)
    tariff_id = str(ocpi["id"])
    if len(tariff_id) > 60:
        raise TariffConversionError("the tariff id is longer than OCPP 2.1's 60 characters")
    result: dict[str, Any] = {"tariffId": tariff_id, "currency": ocpi["currency"]}
    warnings: list[str] = []
    vats: dict[str, set] = {}
    for n, element in enumerate(ocpi["elements"]):
        restrictions = element.get("restrictions") or {}
        reserved = restrictions.get("reservation") is not None
        seen: set[str] = set()
        for component in element["price_components"]:
            kind = component["type"]
            if kind in seen:
                continue  # OCPI: the first component of a type in an element counts
            seen.add(kind)
            where = f"elements[{n}].{kind}"
            target = (_RESERVATION_FIELD if reserved else _DIMENSION_FIELD).get(kind)
            if target is None:
                warnings.append(f"{where}: reservation {kind} has no OCPP 2.1 counterpart; left out")
                continue
            price = Decimal(str(component["price"]))
            if kind == "FLAT":
                entry: dict[str, Any] = {"priceFixed": _number(price)}
                conditions = _conditions(restrictions, fixed=True, where=where)
            elif kind == "ENERGY":
                entry = {"priceKwh": _number(price)}
                conditions = _conditions(restrictions, fixed=False, where=where)
            else:  # per hour in OCPI, per minute in 2.1
                entry = {"priceMinute": float(price / 60)}
                conditions = _conditions(restrictions, fixed=False, where=where)
            if conditions:
                entry["conditions"] = conditions
            result.setdefault(target, {"prices": []})["prices"].append(entry)
            vats.setdefault(target, set()).add(None if component.get("vat") is None else Decimal(str(component["vat"])))
            if kind != "FLAT" and (component.get("step_size") or 1) > 1:
                warnings.append(f"{where}: step_size {component['step_size']} is not carried by OCPP 2.1")
    for target, rates in vats.items():
        if len(rates) > 1:
            raise TariffConversionError(f"{target}: components with different VAT rates cannot share OCPP 2.1's "
                                        "one taxRates list per dimension")
        rate = next(iter(rates))
        if rate is not None:
            result[target]["taxRates"] = [{"type": "VAT", "tax": _number(rate)}]
    for ocpi_key, key in (("min_price", "minCost"), ("max_price", "maxCost")):
        bound = ocpi.get(ocpi_key)
        if bound:
            result[key] = {"exclTax": _number(bound["excl_vat"])}
            if bound.get("incl_vat") is not None:
                result[key]["inclTax"] = _number(bound["incl_vat"])
    texts = [{"format": "UTF8", "language": t["language"], "content": t["text"][:1024]}
             for t in ocpi.get("tariff_alt_text") or []]
    if texts:
        result["description"] = texts
    if ocpi.get("start_date_time"):
        result["validFrom"] = str(ocpi["start_date_time"])
    return ConvertedTariff(tariff=result, warnings=warnings)
