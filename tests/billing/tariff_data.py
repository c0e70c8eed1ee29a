"""Small builders for tariff, assignment and CDR tests (not fixtures: each test states what it uses)."""

import copy

from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from billing.selectors import FINANCE_GROUP
from billing.tariffs import check_ocpi_tariff, create_tariff
from stations.models import Organization, Site
from stations.selectors import OPERATORS_GROUP
from stations.services.registry import register_id_token, register_station


def component(kind: str, price, vat=19, step_size: int = 1) -> dict:
    return {"type": kind, "price": price, "vat": vat, "step_size": step_size}


def ocpi_tariff(tariff_id: str = "T-1", *elements: dict, currency: str = "EUR", **fields) -> dict:
    """A minimal OCPI Tariff: 0.30 EUR/kWh + 19 % VAT unless elements are given."""
    return {
        "country_code": "DE",
        "party_id": "CNT",
        "id": tariff_id,
        "currency": currency,
        "elements": list(elements) or [{"price_components": [component("ENERGY", 0.30)]}],
        **fields,
    }


# Every field of OCPI 2.2.1's Tariff and its classes, set: the round-trip reference.
FULL_TARIFF = {
    "country_code": "DE",
    "party_id": "CNT",
    "id": "FULL-1",
    "currency": "EUR",
    "type": "REGULAR",
    "tariff_alt_text": [{"language": "en", "text": "0.25/kWh, 2.00/h parking after 2 h"},
                        {"language": "de", "text": "0,25/kWh"}],
    "tariff_alt_url": "https://example.com/tariffs/full-1",
    "min_price": {"excl_vat": 0.5, "incl_vat": 0.6},
    "max_price": {"excl_vat": 80, "incl_vat": 95.2},
    "elements": [
        {
            "price_components": [
                {"type": "FLAT", "price": 0.5, "vat": 19, "step_size": 1},
                {"type": "ENERGY", "price": 0.25, "vat": 19, "step_size": 100},
            ],
            "restrictions": {
                "start_time": "07:00", "end_time": "22:00", "start_date": "2025-01-01", "end_date": "2031-01-01",
                "min_kwh": 0, "max_kwh": 500.5, "min_current": 6, "max_current": 63, "min_power": 0,
                "max_power": 350, "min_duration": 0, "max_duration": 86400,
                "day_of_week": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"],
            },
        },
        {"price_components": [{"type": "ENERGY", "price": 0.2, "vat": None, "step_size": 1}], "restrictions": None},
        {"price_components": [{"type": "PARKING_TIME", "price": 2, "vat": 19, "step_size": 60}],
         "restrictions": {"min_duration": 7200}},
        {"price_components": [{"type": "FLAT", "price": 5, "vat": 19, "step_size": 1}],
         "restrictions": {"reservation": "RESERVATION"}},
    ],
    "energy_mix": {
        "is_green_energy": False,
        "energy_sources": [{"source": "GENERAL_GREEN", "percentage": 35.9}, {"source": "GAS", "percentage": 64.1}],
        "environ_impact": [{"category": "CARBON_DIOXIDE", "amount": 372}],
        "supplier_name": "Stadtwerke Musterstadt",
        "energy_product_name": "Mix 2025",
    },
    "start_date_time": "2025-01-01T00:00:00Z",
    "end_date_time": "2030-12-31T23:00:00Z",
}


def full_tariff(**changes) -> dict:
    return {**copy.deepcopy(FULL_TARIFF), **changes}


def make_tariff(tariff_id: str = "T-1", *elements: dict, organization=None, **fields):
    return create_tariff(ocpi=check_ocpi_tariff(ocpi_tariff(tariff_id, *elements, **fields)),
                         organization=organization)


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def make_roles() -> dict:
    """Acme and Other each own a site with a station; an operator, an Acme owner, a finance
    clerk, a driver (alice, ALICE-CARD) and a signed-in nobody."""
    acme = Organization.objects.create(name="Acme")
    other = Organization.objects.create(name="Other")
    acme_site = Site.objects.create(organization=acme, name="Acme Yard", time_zone="Europe/Berlin")
    other_site = Site.objects.create(organization=other, name="Other Yard")
    acme_station = register_station(station_id="ACME-1", password="p" * 20, site=acme_site).station
    other_station = register_station(station_id="OTHER-1", password="p" * 20, site=other_site).station
    operator = User.objects.create_user("op")
    operator.groups.add(Group.objects.get_or_create(name=OPERATORS_GROUP)[0])
    owner = User.objects.create_user("owner")
    acme.members.add(owner)
    finance = User.objects.create_user("finance")
    finance.groups.add(Group.objects.get_or_create(name=FINANCE_GROUP)[0])
    driver_user = User.objects.create_user("alice")
    token = register_id_token(value="ALICE-CARD", driver_email="alice@example.com")
    token.driver.user = driver_user
    token.driver.save()
    register_id_token(value="BOB-CARD", driver_email="bob@example.com")
    return {
        "operator": client_for(operator), "owner": client_for(owner), "finance": client_for(finance),
        "driver": client_for(driver_user), "nobody": client_for(User.objects.create_user("nobody")),
        "acme": acme, "other": other, "acme_site": acme_site, "other_site": other_site,
        "acme_station": acme_station, "other_station": other_station, "alice": token.driver,
    }
