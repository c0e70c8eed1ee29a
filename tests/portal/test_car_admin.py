"""Cars in the operator console: each car's V2X permission and minimum charge are visible and
editable for operators (the car's page, the list, the driver's page); a car is a driver's
private setting, so site owners and finance get nothing, whatever URL they guess."""

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from stations.models import Car, Driver, IdToken
from stations.services.cars import create_car

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def family(network):
    car = create_car(driver=Driver.objects.get(user=network.driver_a), name="Family car")
    IdToken.objects.filter(pk=network.token_a.pk).update(car=car)
    return car


def test_operator_sees_and_changes_a_cars_permission_and_minimum(network, family):
    operator = client_for(network.operator)
    listing = operator.get(reverse("admin:stations_car_changelist"))
    assert listing.status_code == 200 and "Family car" in listing.text
    url = reverse("admin:stations_car_change", args=[family.pk])
    page = operator.get(url)
    assert page.status_code == 200 and "TOKEN-A" in page.text  # the tokens charging it
    saved = operator.post(url, {
        "driver": family.driver_id, "name": "Family car", "allow_discharge": "on", "min_soc_percent": "35",
        "min_energy_kwh": "8.0", "battery_capacity_kwh": "",
        "id_tokens-TOTAL_FORMS": "1", "id_tokens-INITIAL_FORMS": "1", "id_tokens-0-id": network.token_a.pk,
        "id_tokens-0-car": family.pk,
    })
    assert saved.status_code == 302, saved.text[:2000]
    family.refresh_from_db()
    assert (family.allow_discharge, family.min_soc_percent, family.min_energy_kwh) == (True, 35, Decimal("8.0"))
    bad = operator.post(url, {"driver": family.driver_id, "name": "Family car", "min_soc_percent": "150",
                              "id_tokens-TOTAL_FORMS": "0", "id_tokens-INITIAL_FORMS": "0"})
    assert bad.status_code == 200 and "less than or equal to 100" in bad.text
    too_much = operator.post(url, {"driver": family.driver_id, "name": "Family car", "min_energy_kwh": "70",
                                   "battery_capacity_kwh": "60", "id_tokens-TOTAL_FORMS": "0",
                                   "id_tokens-INITIAL_FORMS": "0"})
    assert too_much.status_code == 200 and "more than the battery holds" in too_much.text
    family.refresh_from_db()
    assert family.min_soc_percent == 35
    driver_page = operator.get(reverse("admin:stations_driver_change", args=[family.driver_id]))
    assert driver_page.status_code == 200 and "Family car" in driver_page.text


def test_operator_cannot_put_a_token_on_another_drivers_car(network, family):
    response = client_for(network.operator).post(reverse("admin:stations_idtoken_change", args=[network.token_b.pk]), {
        "value": "TOKEN-B", "type": "ISO14443", "status": "Accepted", "driver": network.token_b.driver_id,
        "car": family.pk, "group_id": "",
    })
    assert response.status_code == 200 and "a token charges one of its own driver&#x27;s cars" in response.text
    assert IdToken.objects.get(pk=network.token_b.pk).car is None


@pytest.mark.parametrize("who", ["owner_a", "finance", "driver_a"])
def test_no_one_else_sees_or_changes_a_car_in_the_admin(network, family, who):
    client = client_for(getattr(network, who))
    assert client.get(reverse("admin:stations_car_changelist")).status_code in (302, 403, 404)
    url = reverse("admin:stations_car_change", args=[family.pk])
    assert client.get(url).status_code in (302, 403, 404)
    assert client.post(url, {"driver": family.driver_id, "name": "x", "allow_discharge": "on"}).status_code in (
        302, 403, 404)
    family.refresh_from_db()
    assert family.allow_discharge is False and Car.objects.get(pk=family.pk).name == "Family car"


def test_a_vehicle_added_in_the_admin_without_a_car_gets_one_and_keeps_a_chosen_one(network, family):
    from pki.models import Vehicle

    operator = client_for(network.operator)
    add = reverse("admin:pki_vehicle_add")
    driver_a = family.driver_id
    assert operator.post(add, {"pcid": "WMIV1234567890ABC", "driver": driver_a, "name": "Red car",
                               "active": "on"}).status_code == 302
    assert Vehicle.objects.get(pcid="WMIV1234567890ABC").car.name == "Red car"
    assert operator.post(add, {"pcid": "WMIV1234567890ABD", "driver": driver_a, "car": family.pk,
                               "active": "on"}).status_code == 302
    assert Vehicle.objects.get(pcid="WMIV1234567890ABD").car == family
    other_driver = Driver.objects.get(user=network.driver_b)
    wrong = operator.post(add, {"pcid": "WMIV1234567890ABE", "driver": other_driver.pk,
                                "car": create_car(driver=Driver.objects.get(pk=driver_a), name="Van").pk,
                                "active": "on"})
    assert wrong.status_code == 200 and not Vehicle.objects.filter(pcid="WMIV1234567890ABE").exists()
