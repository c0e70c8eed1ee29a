"""V2X in the API: a site's export limit (default 0: no export) and V2X commands to a
station, passed through as 2.1 messages (refused with a clear 400 for older stations)."""

import pytest

from stations.models import ChargingStation, SiteLoadLimit
from tests.api.test_network_api import roles  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def test_export_limit_defaults_to_none_and_is_set_by_the_site_owner(roles):  # noqa: F811
    site = roles["acme_site"]
    url = f"/api/v1/sites/{site.pk}/load-limit/"
    response = roles["owner"].put(url, {"max_power_w": 110_000}, format="json")
    assert response.status_code == 200 and response.json()["max_export_power_w"] == 0
    response = roles["owner"].patch(url, {"max_export_power_w": 30_000}, format="json")
    assert response.status_code == 200
    assert SiteLoadLimit.objects.get(site=site).max_export_power_w == 30_000
    assert roles["owner"].patch(url, {"max_export_power_w": -1}, format="json").status_code == 400


def test_afrr_signal_for_an_older_station_is_a_clear_400(roles):  # noqa: F811
    station = ChargingStation.objects.filter(site=roles["acme_site"]).first()
    ChargingStation.objects.filter(pk=station.pk).update(ocpp_version="2.0.1")
    response = roles["operator"].post(f"/api/v1/stations/{station.station_id}/commands/",
                                      {"command": "afrr_signal", "signal": -20}, format="json")
    assert response.status_code == 400
    assert "2.1" in str(response.json())


def test_power_series_shows_what_discharging_cars_fed(roles):  # noqa: F811
    from django.utils import timezone

    from stations.models import SiteLoadSample

    site = roles["acme_site"]
    SiteLoadLimit.objects.create(site=site, max_power_w=0)
    SiteLoadSample.objects.create(site=site, at=timezone.now(), limit_w=0, allocated_w=7000, measured_w=6900,
                                  discharge_w=7000, sessions=2)
    body = roles["owner"].get(f"/api/v1/sites/{site.pk}/power/").json()
    assert [(s["limit_w"], s["allocated_w"], s["discharge_w"]) for s in body["samples"]] == [(0, 7000, 7000)]
