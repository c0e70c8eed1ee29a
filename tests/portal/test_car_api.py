"""/api/v1/cars/: each car's V2X permission and minimum charge. A driver sees and changes their
own cars only (another's is a 404), operators all of them; site owners and finance none. The
tokens that charge a car are the driver's own; Plug & Charge vehicles name their car."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from stations.models import Car, Driver, IdToken
from stations.services.cars import create_car

pytestmark = pytest.mark.django_db


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def cars(network):
    driver_a = Driver.objects.get(user=network.driver_a)
    driver_b = Driver.objects.get(user=network.driver_b)
    return create_car(driver=driver_a, name="Family car"), create_car(driver=driver_b, name="B's car")


def test_driver_sets_permission_minimum_and_cards_of_their_own_car(network, cars):
    family, _ = cars
    driver = api_for(network.driver_a)
    listed = driver.get("/api/v1/cars/").json()["results"]
    assert [c["name"] for c in listed] == ["Family car"]
    changed = driver.patch(f"/api/v1/cars/{family.pk}/", {
        "allow_discharge": True, "min_soc_percent": 40, "min_energy_kwh": "10.5", "battery_capacity_kwh": "64",
        "id_tokens": [network.token_a.pk]}, format="json")
    assert changed.status_code == 200, changed.json()
    body = changed.json()
    assert (body["allow_discharge"], body["min_soc_percent"], body["min_energy_kwh"], body["id_tokens"]) == (
        True, 40, "10.5", [network.token_a.pk])
    family.refresh_from_db()
    assert family.allow_discharge and family.min_energy_kwh == Decimal("10.5")
    assert IdToken.objects.get(pk=network.token_a.pk).car == family
    created = driver.post("/api/v1/cars/", {"name": "Van", "allow_discharge": False}, format="json")
    assert created.status_code == 201 and created.json()["driver"] == family.driver_id
    assert driver.delete(f"/api/v1/cars/{created.json()['id']}/").status_code == 204


def test_another_drivers_car_and_tokens_are_out_of_reach(network, cars):
    family, other = cars
    driver = api_for(network.driver_a)
    assert driver.get(f"/api/v1/cars/{other.pk}/").status_code == 404
    assert driver.patch(f"/api/v1/cars/{other.pk}/", {"allow_discharge": True}, format="json").status_code == 404
    assert driver.delete(f"/api/v1/cars/{other.pk}/").status_code == 404
    stolen = driver.patch(f"/api/v1/cars/{family.pk}/", {"id_tokens": [network.token_b.pk]}, format="json")
    assert stolen.status_code == 400 and "driver only" in str(stolen.json())
    foreign = driver.post("/api/v1/cars/", {"name": "Theirs", "driver": other.driver_id}, format="json")
    assert foreign.status_code == 403
    other.refresh_from_db()
    assert other.allow_discharge is False and IdToken.objects.get(pk=network.token_b.pk).car is None
    assert not Car.objects.filter(name="Theirs").exists()


@pytest.mark.parametrize("values", [
    {"min_soc_percent": 120}, {"min_energy_kwh": "-1"}, {"battery_capacity_kwh": "0"}, {"name": ""},
    {"min_energy_kwh": "80", "battery_capacity_kwh": "60"},
])
def test_bad_values_are_a_400_and_change_nothing(network, cars, values):
    family, _ = cars
    response = api_for(network.driver_a).patch(f"/api/v1/cars/{family.pk}/", {"allow_discharge": True, **values},
                                                format="json")
    assert response.status_code == 400, response.json()
    family.refresh_from_db()
    assert family.allow_discharge is False


def test_operators_see_and_change_every_car_site_owners_and_finance_none(network, cars):
    family, other = cars
    operator = api_for(network.operator)
    assert {c["name"] for c in operator.get("/api/v1/cars/").json()["results"]} == {"Family car", "B's car"}
    assert operator.patch(f"/api/v1/cars/{other.pk}/", {"allow_discharge": True}, format="json").status_code == 200
    assert operator.post("/api/v1/cars/", {"name": "Nobody's"}, format="json").status_code == 400  # needs a driver
    for user in (network.owner_a, network.finance):
        assert api_for(user).get("/api/v1/cars/").status_code == 403
        assert api_for(user).get(f"/api/v1/cars/{family.pk}/").status_code == 403


def test_tokens_name_their_car_and_an_operator_assigns_one_of_the_drivers_cars_only(network, cars):
    family, other = cars
    operator = api_for(network.operator)
    assert operator.patch(f"/api/v1/id-tokens/{network.token_a.pk}/", {"car": family.pk},
                          format="json").json()["car"] == family.pk
    wrong = operator.patch(f"/api/v1/id-tokens/{network.token_a.pk}/", {"car": other.pk}, format="json")
    assert wrong.status_code == 400
    assert api_for(network.driver_a).get(f"/api/v1/id-tokens/{network.token_a.pk}/").json()["car"] == family.pk
    # A token given to another driver leaves the old driver's car.
    moved = operator.patch(f"/api/v1/id-tokens/{network.token_a.pk}/", {"driver": other.driver_id}, format="json")
    assert moved.status_code == 200 and moved.json()["car"] is None


def test_a_plug_and_charge_vehicle_is_one_of_the_drivers_cars(network, cars):
    family, other = cars
    driver = api_for(network.driver_a)
    on_family = driver.post("/api/v1/vehicles/", {"pcid": "WMIV1234567890ABC", "car": family.pk}, format="json")
    assert on_family.status_code == 201 and on_family.json()["car"] == family.pk
    new_car = driver.post("/api/v1/vehicles/", {"pcid": "WMIV1234567890ABD", "name": "Red car"}, format="json")
    assert new_car.status_code == 201 and Car.objects.get(pk=new_car.json()["car"]).name == "Red car"
    twice = driver.post("/api/v1/vehicles/", {"pcid": "WMIV1234567890ABE", "car": family.pk}, format="json")
    assert twice.status_code == 400
    theirs = driver.post("/api/v1/vehicles/", {"pcid": "WMIV1234567890ABF", "car": other.pk}, format="json")
    assert theirs.status_code == 400


def test_the_cars_endpoint_is_in_the_openapi_schema():
    import io
    import json

    from django.core.management import call_command

    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out)
    schema = json.loads(out.getvalue())
    assert "/api/v1/cars/" in schema["paths"] and "/api/v1/cars/{id}/" in schema["paths"]
    assert "allow_discharge" in schema["components"]["schemas"]["Car"]["properties"]
