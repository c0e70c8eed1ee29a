"""OCPI tariffs as OCPP 2.1 TariffType: valid against the 2.1 schema, same prices and conditions,
and what 2.1 cannot say is refused rather than changed."""

import pytest
from ocpp.messages import Call, _validate_payload

from billing.tariffs_v21 import TariffConversionError, ocpi_to_v21
from tests.billing.tariff_data import component, full_tariff, ocpi_tariff


def assert_valid_21(tariff: dict) -> None:
    _validate_payload(Call("1", "SetDefaultTariff", {"evseId": 0, "tariff": tariff}), "2.1")


def test_the_full_ocpi_tariff_becomes_a_valid_21_tariff():
    ocpi = full_tariff()
    for element in ocpi["elements"]:  # one VAT rate per dimension, as 2.1 needs
        for c in element["price_components"]:
            c["vat"] = 19
    # 2.1's fixed fees take calendar conditions only: the daytime session fee as its own element.
    ocpi["elements"][0]["price_components"].pop(0)
    ocpi["elements"].append({"price_components": [component("FLAT", 0.5)],
                             "restrictions": {"start_time": "07:00", "end_time": "22:00"}})
    converted = ocpi_to_v21(ocpi)
    tariff = converted.tariff
    assert_valid_21(tariff)
    assert (tariff["tariffId"], tariff["currency"], tariff["validFrom"]) == ("FULL-1", "EUR", "2025-01-01T00:00:00Z")
    assert tariff["energy"]["prices"][0] == {"priceKwh": 0.25, "conditions": {
        "startTimeOfDay": "07:00", "endTimeOfDay": "22:00", "validFromDate": "2025-01-01",
        "validToDate": "2031-01-01", "minEnergy": 0, "maxEnergy": 500500, "minCurrent": 6, "maxCurrent": 63,
        "minPower": 0, "maxPower": 350000, "minTime": 0, "maxTime": 86400,
        "dayOfWeek": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]}}
    assert tariff["energy"]["prices"][1] == {"priceKwh": 0.2}
    assert tariff["energy"]["taxRates"] == [{"type": "VAT", "tax": 19}]
    assert tariff["idleTime"]["prices"] == [{"priceMinute": pytest.approx(2 / 60), "conditions": {"minTime": 7200}}]
    assert tariff["fixedFee"]["prices"] == [
        {"priceFixed": 0.5, "conditions": {"startTimeOfDay": "07:00", "endTimeOfDay": "22:00"}}]
    assert tariff["reservationFixed"]["prices"] == [{"priceFixed": 5}]
    assert tariff["minCost"] == {"exclTax": 0.5, "inclTax": 0.6}
    assert tariff["maxCost"] == {"exclTax": 80, "inclTax": 95.2}
    assert tariff["description"][1] == {"format": "UTF8", "language": "de", "content": "0,25/kWh"}
    assert converted.warnings == ["elements[0].ENERGY: step_size 100 is not carried by OCPP 2.1",
                                  "elements[2].PARKING_TIME: step_size 60 is not carried by OCPP 2.1"]


def test_time_is_per_minute_and_a_simple_tariff_has_no_warnings():
    converted = ocpi_to_v21(ocpi_tariff("T", {"price_components": [component("TIME", 6.0, vat=None)]}))
    assert_valid_21(converted.tariff)
    assert converted.tariff["chargingTime"] == {"prices": [{"priceMinute": 0.1}]}
    assert converted.warnings == []


@pytest.mark.parametrize(("elements", "message"), [
    (({"price_components": [component("ENERGY", 0.3, vat=19)]},
      {"price_components": [component("ENERGY", 0.2, vat=7)]}), "different VAT rates"),
    (({"price_components": [component("FLAT", 1.0)], "restrictions": {"min_kwh": 5}},), "fixed fee cannot depend"),
])
def test_what_21_cannot_say_is_refused(elements, message):
    with pytest.raises(TariffConversionError, match=message):
        ocpi_to_v21(ocpi_tariff("T", *elements))
