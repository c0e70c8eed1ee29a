"""The console's new pages keep tenancy: another organisation's station or site is a 404."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_another_organisations_station_and_site_pages_are_404(network):
    owner = Client()
    assert owner.login(username="owner-a", password="pw-owner-a")
    station_b, site_b = network.station_b.pk, network.site_b.pk
    for url in (f"/admin/stations/chargingstation/{station_b}/command/?command=reset",
                f"/admin/stations/chargingstation/{station_b}/state.json",
                f"/admin/stations/site/{site_b}/power/"):
        assert owner.get(url).status_code == 404, url
    assert owner.get(f"/admin/stations/chargingstation/{network.station_a.pk}/state.json").json()["online"] is False
    assert owner.get(f"/admin/stations/site/{network.site_a.pk}/power/").status_code == 200
    finance = Client()
    assert finance.login(username="fin", password="pw-fin")
    assert finance.get(f"/admin/stations/chargingstation/{network.station_a.pk}/state.json").status_code in (403, 404)
