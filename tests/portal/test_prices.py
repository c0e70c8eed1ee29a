"""Drivers see prices: the start page's price, the running cost on the live session page and the
final cost with its breakdown on a finished session."""

from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse

from billing.cdrs import create_cdr
from billing.tariffs import assign_tariff
from portal import live
from stations.models import ChargingSession, Measurand, MeterSample
from tests.billing.tariff_data import component, make_tariff

pytestmark = pytest.mark.django_db


def client_for(user, **headers) -> Client:
    client = Client(**headers)
    client.force_login(user)
    return client


@pytest.fixture
def priced(network):
    assign_tariff(tariff=make_tariff("PUB", {"price_components": [component("ENERGY", 0.327731, vat=19)]}),
                  place=network.site_a)
    return network


def test_the_start_page_shows_the_stations_price(priced):
    driver = client_for(priced.driver_a)
    page = driver.get(reverse("portal:start") + "?station=CP-A")
    assert "Price at CP-A: <strong>0.39 EUR/kWh</strong>" in page.text
    answer = driver.get(reverse("portal:station_price"), {"station": "CP-A"}, HTTP_ACCEPT_LANGUAGE="de")
    assert answer.json() == {"station": "CP-A", "tariff": "PUB", "text": "0,39 EUR/kWh", "currency": "EUR"}
    assert driver.get(reverse("portal:station_price"), {"station": "CP-B"}).status_code == 404  # no tariff there
    assert driver.get(reverse("portal:station_price"), {"station": "NOPE"}).json() == {
        "error": "no price for this station"}
    assert driver.get(reverse("portal:station_price"), {"station": "CP-A", "evse": "x"}).status_code == 400
    assert client_for(priced.owner_a).get(reverse("portal:station_price"), {"station": "CP-A"}).status_code == 403


def test_the_live_page_shows_the_running_cost_and_its_json_follows_meter_values(priced):
    session = priced.session_a
    ChargingSession.objects.filter(pk=session.pk).update(
        status="Active", stopped_at=None, meter_stop_wh=None, meter_last_wh=3000,
        meter_last_at=datetime(2026, 11, 2, 10, 30, tzinfo=UTC))
    MeterSample.objects.create(session=session, station=session.station, timestamp=datetime(2026, 11, 2, 10, 30,
                               tzinfo=UTC), measurand=Measurand.ENERGY_ACTIVE_IMPORT_REGISTER, value=3000)
    driver = client_for(priced.driver_a)
    page = driver.get(reverse("portal:session", args=[session.pk]))
    # 3 kWh x 0.327731 = 0.98 + 19 % VAT (0.19) = 1.17
    assert '<span id="cost-label">Cost so far</span><strong id="session-cost">1.17 EUR</strong>' in page.text
    assert "cost-breakdown" not in page.text
    event = driver.get(reverse("portal:session_live", args=[session.pk])).json()
    assert event["cost"] == {"total_incl_vat": "1.17", "total_excl_vat": "0.98", "currency": "EUR", "final": False,
                             "text": "1.17 EUR"}
    assert live.session_event(ChargingSession.objects.get(pk=session.pk))["cost"]["text"] == "1.17 EUR"


def test_a_finished_session_shows_its_final_cost_and_breakdown(priced):
    cdr = create_cdr(session_id=priced.session_a.pk)  # 5 kWh: 1.64 + 0.31 VAT
    page = client_for(priced.driver_a).get(reverse("portal:session", args=[priced.session_a.pk]))
    assert '<span id="cost-label">Cost</span><strong id="session-cost">1.95 EUR</strong>' in page.text
    assert str(cdr.total_cost_incl_vat) == "1.95"
    assert 'id="cost-breakdown"' in page.text and "<td>Energy</td><td>5.000 kWh</td>" in page.text
    assert '<th id="cost-total">1.95 EUR</th>' in page.text
