"""V2X in the driver portal: a driver allows or forbids discharge for their cars, and a V2G
session shows energy in and energy fed back."""

import pytest
from django.test import Client
from django.urls import reverse

from stations.models import ChargingSession, Driver

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_driver_allows_and_forbids_discharge_for_their_own_cars_only(network):
    driver = client_for(network.driver_a)
    page = driver.get(reverse("portal:vehicles"))
    assert 'name="allow_discharge"' in page.text and "checked" not in page.text.split('name="allow_discharge"')[1][:20]
    response = driver.post(reverse("portal:vehicle_discharge"), {"allow_discharge": "on"})
    assert response.status_code == 302
    assert Driver.objects.get(user=network.driver_a).allow_discharge is True
    assert Driver.objects.get(user=network.driver_b).allow_discharge is False
    assert 'name="allow_discharge" checked' in driver.get(reverse("portal:vehicles")).text
    driver.post(reverse("portal:vehicle_discharge"), {})
    assert Driver.objects.get(user=network.driver_a).allow_discharge is False


def test_only_a_signed_in_driver_may_change_it(network):
    assert Client().post(reverse("portal:vehicle_discharge"), {"allow_discharge": "on"}).status_code == 302
    assert client_for(network.owner_a).post(reverse("portal:vehicle_discharge"), {"allow_discharge": "on"}) \
        .status_code == 403
    assert not Driver.objects.filter(allow_discharge=True).exists()
    assert client_for(network.driver_a).get(reverse("portal:vehicle_discharge")).status_code == 405


def test_session_page_shows_energy_fed_back(network):
    ChargingSession.objects.filter(pk=network.session_a.pk).update(energy_exported_wh=2500)
    page = client_for(network.driver_a).get(reverse("portal:session", args=[network.session_a.pk]))
    assert "Fed back (kWh)" in page.text and 'id="exported-kwh"' in page.text
    other = client_for(network.driver_b).get(reverse("portal:session", args=[network.session_b.pk]))
    assert "Fed back" not in other.text
