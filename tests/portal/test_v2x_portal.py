"""V2X in the driver portal: on the Cars page a driver allows or forbids discharge per car, sets
its minimum charge and the cards that charge it, for their own cars only; a V2G session shows
energy in and energy fed back."""

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from pki.models import Vehicle
from pki.services.vehicles import register_vehicle
from stations.models import Car, ChargingSession, Driver, IdToken
from stations.services.cars import create_car

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def car_form(car: Car, **values) -> dict:
    """The fields of the car's form on the Cars page, as the browser posts them."""
    data = {"name": car.name, **values}
    return {f"car-{car.pk}-{name}": value for name, value in data.items()}


@pytest.fixture
def cars(network):
    driver_a = Driver.objects.get(user=network.driver_a)
    driver_b = Driver.objects.get(user=network.driver_b)
    return (create_car(driver=driver_a, name="Family car"), create_car(driver=driver_a, name="Commuter"),
            create_car(driver=driver_b, name="B's car"))


def test_driver_allows_discharge_and_sets_a_minimum_for_one_car(network, cars):
    family, commuter, other = cars
    driver = client_for(network.driver_a)
    page = driver.get(reverse("portal:vehicles")).text
    assert "Family car" in page and "Commuter" in page and "B&#x27;s car" not in page and "B's car" not in page
    assert f'name="car-{family.pk}-allow_discharge"' in page
    response = driver.post(reverse("portal:car_update", args=[family.pk]), car_form(
        family, allow_discharge="on", min_soc_percent="40", min_energy_kwh="12.5", battery_capacity_kwh="64",
        cards=[network.token_a.pk]))
    assert response.status_code == 302
    family.refresh_from_db()
    assert (family.allow_discharge, family.min_soc_percent, family.min_energy_kwh, family.battery_capacity_kwh) == (
        True, 40, Decimal("12.5"), Decimal("64.0"))
    assert IdToken.objects.get(pk=network.token_a.pk).car == family
    commuter.refresh_from_db()
    assert commuter.allow_discharge is False  # the driver's other car is not touched
    page = driver.get(reverse("portal:vehicles")).text
    assert "Family car is saved: it may feed the site" in page
    assert f'id="id_car-{family.pk}-allow_discharge" checked' in page
    assert f'name="car-{family.pk}-min_soc_percent" value="40"' in page
    assert f'id="id_car-{commuter.pk}-allow_discharge" checked' not in page
    # Moving the card to the other car takes it off the first; forbidding discharge sticks.
    driver.post(reverse("portal:car_update", args=[commuter.pk]), car_form(commuter, cards=[network.token_a.pk]))
    driver.post(reverse("portal:car_update", args=[family.pk]), car_form(family, min_soc_percent="40"))
    family.refresh_from_db()
    assert family.allow_discharge is False and IdToken.objects.get(pk=network.token_a.pk).car == commuter


def test_another_drivers_car_cannot_be_seen_or_changed(network, cars):
    _, _, other = cars
    driver = client_for(network.driver_a)
    response = driver.post(reverse("portal:car_update", args=[other.pk]), car_form(other, allow_discharge="on"))
    assert response.status_code == 404
    assert driver.post(reverse("portal:vehicle_remove", args=[other.pk])).status_code == 404
    other.refresh_from_db()
    assert other.allow_discharge is False and Car.objects.filter(pk=other.pk).exists()


def test_another_drivers_card_cannot_be_put_on_ones_car(network, cars):
    family, _, _ = cars
    response = client_for(network.driver_a).post(reverse("portal:car_update", args=[family.pk]), car_form(
        family, allow_discharge="on", cards=[network.token_b.pk]))
    assert response.status_code == 400 and "is not one of the available choices" in response.text
    family.refresh_from_db()
    assert family.allow_discharge is False and IdToken.objects.get(pk=network.token_b.pk).car is None


@pytest.mark.parametrize("values, message", [
    ({"min_soc_percent": "101"}, "less than or equal to 100"),
    ({"min_soc_percent": "-1"}, "greater than or equal to 0"),
    ({"min_energy_kwh": "abc"}, "Enter a number"),
    ({"battery_capacity_kwh": "0"}, "greater than or equal to 1"),
    ({"min_energy_kwh": "70", "battery_capacity_kwh": "60"}, "more than the battery holds"),
    ({"name": ""}, "This field is required"),
])
def test_bad_values_are_refused_with_a_message_and_nothing_is_saved(network, cars, values, message):
    family, _, _ = cars
    response = client_for(network.driver_a).post(reverse("portal:car_update", args=[family.pk]), {
        **car_form(family, allow_discharge="on", cards=[network.token_a.pk]),
        **{f"car-{family.pk}-{k}": v for k, v in values.items()}})
    assert response.status_code == 400 and message in response.text
    family.refresh_from_db()
    assert family.allow_discharge is False and family.min_soc_percent is None
    assert IdToken.objects.get(pk=network.token_a.pk).car is None


def test_only_a_signed_in_driver_may_change_a_car(network, cars):
    family, _, _ = cars
    url = reverse("portal:car_update", args=[family.pk])
    assert Client().post(url, car_form(family, allow_discharge="on")).status_code == 302  # to the login
    assert client_for(network.owner_a).post(url, car_form(family, allow_discharge="on")).status_code == 403
    assert client_for(network.driver_a).get(url).status_code == 405
    assert not Car.objects.filter(allow_discharge=True).exists()


def test_a_plug_and_charge_car_keeps_its_contract_and_a_car_can_be_added_without_one(network):
    driver_a = Driver.objects.get(user=network.driver_a)
    vehicle = register_vehicle(driver=driver_a, pcid="WMIV1234567890ABC", name="Blue car")
    contract = IdToken.objects.create(value="ZZCNGC12345678", type="eMAID", driver=driver_a, car=vehicle.car)
    Vehicle.objects.filter(pk=vehicle.pk).update(emaid=contract.value)  # as the contract installation does
    driver = client_for(network.driver_a)
    page = driver.get(reverse("portal:vehicles")).text
    assert "PCID WMIV1234567890ABC, contract (eMAID) ZZCNGC12345678" in page
    assert "ZZCNGC12345678" not in page.split("Cards used with this car")[1]  # not a card to move
    # Saving the car's cards leaves its contract on it.
    driver.post(reverse("portal:car_update", args=[vehicle.car_id]), car_form(vehicle.car, allow_discharge="on"))
    assert IdToken.objects.get(pk=contract.pk).car_id == vehicle.car_id
    assert driver.post(reverse("portal:vehicles"), {"name": "Van"}).status_code == 302
    assert Car.objects.filter(driver=driver_a, name="Van").exists()
    nameless = driver.post(reverse("portal:vehicles"), {"name": "", "pcid": ""})
    assert nameless.status_code == 400 and "Name the car" in nameless.text


def test_cards_page_names_the_car_a_card_charges(network, cars):
    family, _, _ = cars
    IdToken.objects.filter(pk=network.token_a.pk).update(car=family)
    page = client_for(network.driver_a).get(reverse("portal:tokens")).text
    assert "Family car" in page


def test_session_page_shows_energy_in_and_fed_back(network):
    ChargingSession.objects.filter(pk=network.session_a.pk).update(energy_wh=12_300, energy_exported_wh=2500)
    page = client_for(network.driver_a).get(reverse("portal:session", args=[network.session_a.pk]))
    assert 'id="energy-kwh"' in page.text and "12.3" in page.text.split('id="energy-kwh"')[1][:80]
    assert "Fed back (kWh)" in page.text and "2.5" in page.text.split('id="exported-kwh"')[1][:20]
    other = client_for(network.driver_b).get(reverse("portal:session", args=[network.session_b.pk]))
    assert "Fed back" not in other.text
