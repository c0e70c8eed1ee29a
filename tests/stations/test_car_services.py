"""Cars as a service: their settings are checked, a car's tokens are its driver's, a token
given to another driver leaves the old driver's car, and a change re-balances the sites
where the car charges. ``minimum_held_wh`` turns the minimum charge into the planner's terms."""

import math
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from stations.models import Car, ChargingSession, Driver, IdToken
from stations.services import cars as car_services
from stations.services.cars import CarError, create_car, set_car_tokens, update_car
from stations.smart_charging.car_minimum import Battery, minimum_held_wh

pytestmark = pytest.mark.django_db


@pytest.fixture
def driver(make_token):
    make_token("CARD-1", driver_email="d@example.com")
    make_token("CARD-2", driver_email="d@example.com")
    make_token("OTHER", driver_email="other@example.com")
    return Driver.objects.get(email="d@example.com")


@pytest.mark.parametrize("values, message", [
    ({"name": " "}, "1 to 100 characters"),
    ({"min_soc_percent": 101}, "0 to 100"),
    ({"min_soc_percent": "ten"}, "whole percentage"),
    ({"min_energy_kwh": "-0.1"}, "from 0"),
    ({"min_energy_kwh": "NaN"}, "number of kWh"),
    ({"battery_capacity_kwh": "0.5"}, "from 1"),
    ({"min_energy_kwh": 50, "battery_capacity_kwh": 40}, "more than the battery holds"),
])
def test_bad_settings_are_refused_and_nothing_is_saved(driver, values, message):
    with pytest.raises(CarError, match=message):
        create_car(driver=driver, **{"name": "Car", **values})
    assert not Car.objects.exists()
    car = create_car(driver=driver, name="Car")
    with pytest.raises(CarError, match=message):
        update_car(car=car, allow_discharge=True, **values)
    car.refresh_from_db()
    assert (car.name, car.allow_discharge, car.min_soc_percent) == ("Car", False, None)


def test_a_car_takes_its_drivers_cards_only_and_moves_them_between_cars(driver):
    family, commuter = create_car(driver=driver, name="Family"), create_car(driver=driver, name="Commuter")
    card_1, card_2, other = (IdToken.objects.get(value=v) for v in ("CARD-1", "CARD-2", "OTHER"))
    with pytest.raises(CarError, match="this car's driver only"):
        set_car_tokens(car=family, chosen=[other], offered=[other])
    set_car_tokens(car=family, chosen=[card_1, card_2], offered=[card_1, card_2])
    set_car_tokens(car=commuter, chosen=[card_2], offered=[card_1, card_2])  # card 1 is not commuter's: stays
    assert {t.value: t.car for t in IdToken.objects.filter(driver=driver)} == {"CARD-1": family, "CARD-2": commuter}
    assert IdToken.objects.get(value="OTHER").car is None


def test_a_token_given_to_another_driver_leaves_the_old_drivers_car(driver, make_token):
    car = create_car(driver=driver, name="Family")
    IdToken.objects.filter(value="CARD-1").update(car=car)
    make_token("CARD-1", driver_email="new-owner@example.com")
    assert IdToken.objects.get(value="CARD-1").car is None
    token = IdToken.objects.get(value="OTHER")
    token.car = car
    with pytest.raises(ValidationError):
        token.full_clean()


def test_changing_a_car_rebalances_the_sites_where_it_charges(driver, make_station, monkeypatch,
                                                             django_capture_on_commit_callbacks):
    from stations.models import Site

    site = Site.objects.create(name="Office")
    station = make_station("CS-1", site=site)
    car = create_car(driver=driver, name="Family")
    card = IdToken.objects.get(value="CARD-1")
    IdToken.objects.filter(pk=card.pk).update(car=car)
    ChargingSession.objects.create(station=station, transaction_id="1", id_token=card, driver=driver)
    asked = []
    monkeypatch.setattr(car_services, "request_rebalance", lambda **kw: asked.append(kw["site_pk"]))
    with django_capture_on_commit_callbacks(execute=True):
        update_car(car=car, allow_discharge=True)
    assert asked == [site.pk]


@pytest.mark.parametrize("min_soc, min_kwh, soc, capacity_wh, own_kwh, expected", [
    (None, None, 50, 60_000, None, None),  # no minimum of its own
    (40, None, 50, 60_000, None, 10_000 - 6_000),  # 6 kWh above 40 % of 60 kWh: held 10 kWh - 6
    (40, Decimal("30"), 60, 60_000, None, 10_000 - 6_000),  # 30 kWh is stricter than 24 (40 %)
    (40, None, 50, None, Decimal("80"), 10_000 - 8_000),  # the car's capacity when none is reported
    (40, None, 30, 60_000, None, 10_000 + 6_000),  # below: the minimum is above what it holds
    (40, None, None, 60_000, None, math.inf),  # no state of charge
    (40, None, 50, None, None, math.inf),  # no capacity
])
def test_minimum_held_wh(driver, min_soc, min_kwh, soc, capacity_wh, own_kwh, expected):
    car = Car(driver=driver, name="x", min_soc_percent=min_soc, min_energy_kwh=min_kwh, battery_capacity_kwh=own_kwh)
    got = minimum_held_wh(car, Battery(soc_percent=soc, capacity_wh=capacity_wh), held_wh=10_000)
    assert got == (pytest.approx(expected) if expected not in (None, math.inf) else expected)
    assert minimum_held_wh(None, Battery(soc_percent=soc, capacity_wh=capacity_wh), held_wh=10_000) is None
