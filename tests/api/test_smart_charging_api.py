"""The smart-charging API: a site's load limit, its power chart, a station's profiles, by role."""

from datetime import timedelta

import pytest
from django.utils import timezone

from stations.models import ChargingProfile, ProfileStatus, SiteLoadLimit, SiteLoadSample
from tests.api.test_network_api import roles  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def limit_url(site) -> str:
    return f"/api/v1/sites/{site.pk}/load-limit/"


def test_site_owner_sets_the_grid_connection_of_their_site(roles):  # noqa: F811
    site = roles["acme_site"]
    start = (timezone.now() + timedelta(hours=1)).replace(microsecond=0)
    response = roles["owner"].put(limit_url(site), {
        "max_current_a": 160, "periods": [{"start": start.isoformat(), "max_current_a": 100}],
    }, format="json")
    assert response.status_code == 200, response.json()
    config = SiteLoadLimit.objects.get(site=site)
    assert (config.max_current_a, config.max_power_w, config.enabled) == (160, None, True)
    assert [(p.start, p.max_current_a) for p in config.periods.all()] == [(start, 100)]
    assert roles["owner"].get(limit_url(site)).json()["max_current_a"] == 160

    response = roles["owner"].patch(limit_url(site), {"max_power_w": 110000}, format="json")
    assert response.status_code == 200
    config.refresh_from_db()
    assert (config.max_current_a, config.max_power_w, config.periods.count()) == (160, 110000, 1)


def test_a_limit_needs_a_connection_size_and_periods_need_a_limit(roles):  # noqa: F811
    site = roles["acme_site"]
    response = roles["operator"].put(limit_url(site), {"voltage_v": 230}, format="json")
    assert response.status_code == 400
    assert "max_power_w and/or max_current_a" in str(response.json())
    response = roles["operator"].put(limit_url(site), {
        "max_power_w": 50000, "periods": [{"start": "2026-01-01T00:00:00Z"}]}, format="json")
    assert response.status_code == 400 and "periods" in response.json()
    response = roles["operator"].put(limit_url(site), {"max_power_w": 50000, "optimise_for": "price"}, format="json")
    assert response.status_code == 400 and "curve" in response.json()
    assert not SiteLoadLimit.objects.exists()


def test_nobody_else_sees_or_changes_a_sites_limit(roles):  # noqa: F811
    other = roles["other_site"]
    SiteLoadLimit.objects.create(site=other, max_power_w=40000)
    for who in ("owner", "driver", "nobody"):
        assert roles[who].get(limit_url(other)).status_code == 404, who
        assert roles[who].put(limit_url(other), {"max_power_w": 1}, format="json").status_code == 404, who
        assert roles[who].get(f"/api/v1/sites/{other.pk}/power/").status_code == 404, who
    assert SiteLoadLimit.objects.get(site=other).max_power_w == 40000


def test_power_series_and_svg_chart(roles):  # noqa: F811
    site = roles["acme_site"]
    SiteLoadLimit.objects.create(site=site, max_power_w=50000)
    now = timezone.now()
    for minutes, allocated, measured in [(30, 22000, 20000), (20, 44000, 30000), (10, 50000, 47000)]:
        SiteLoadSample.objects.create(site=site, at=now - timedelta(minutes=minutes), limit_w=50000,
                                      allocated_w=allocated, measured_w=measured, sessions=2)
    SiteLoadSample.objects.create(site=site, at=now - timedelta(days=3), limit_w=50000, allocated_w=1, measured_w=1)
    body = roles["owner"].get(f"/api/v1/sites/{site.pk}/power/?hours=24").json()
    assert [s["allocated_w"] for s in body["samples"]] == [22000, 44000, 50000]
    chart = roles["owner"].get(f"/api/v1/sites/{site.pk}/power.svg")
    assert chart.status_code == 200 and chart["Content-Type"] == "image/svg+xml"
    svg = chart.content.decode()
    assert svg.startswith("<svg") and 'data-series="allocated_w"' in svg and 'data-series="measured_w"' in svg
    assert "50 kW" in svg  # the axis reaches the site limit


@pytest.mark.django_db(transaction=True)  # the re-balance runs on threads of its own
def test_rebalance_needs_a_limit(roles):  # noqa: F811
    site = roles["acme_site"]
    assert roles["owner"].post(f"/api/v1/sites/{site.pk}/rebalance/").status_code == 409
    SiteLoadLimit.objects.create(site=site, max_power_w=50000)
    assert roles["owner"].post(f"/api/v1/sites/{site.pk}/rebalance/").status_code == 202
    assert SiteLoadSample.objects.filter(site=site).count() == 1  # ran: no sessions, one chart point


def test_station_profiles_through_the_api(roles):  # noqa: F811
    profile = {"purpose": "ChargingStationMaxProfile", "charging_rate_unit": "A",
               "periods": [{"start_period_s": 0, "limit": 16}]}
    response = roles["owner"].post("/api/v1/stations/ACME-1/charging-profiles/", profile, format="json")
    assert response.status_code == 409  # the station is not connected
    assert response.json()["profile"]["status"] == ProfileStatus.FAILED
    listed = roles["owner"].get("/api/v1/stations/ACME-1/charging-profiles/").json()
    assert [p["purpose"] for p in listed] == ["ChargingStationMaxProfile"]

    bad = roles["owner"].post("/api/v1/stations/ACME-1/charging-profiles/", {**profile, "periods": []}, format="json")
    assert bad.status_code == 400 and "periods" in str(bad.json())
    assert roles["owner"].delete("/api/v1/stations/ACME-1/charging-profiles/1/").status_code == 404

    for who in ("driver", "nobody"):
        assert roles[who].post("/api/v1/stations/OTHER-1/charging-profiles/", profile, format="json").status_code in (
            403, 404,
        ), who
    assert roles["owner"].get("/api/v1/stations/OTHER-1/charging-profiles/").status_code == 404
    assert ChargingProfile.objects.filter(station__station_id="OTHER-1").count() == 0


def test_openapi_schema_lists_the_smart_charging_endpoints():
    import io
    import json

    from django.core.management import call_command

    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out)
    paths = set(json.loads(out.getvalue())["paths"])
    assert {
        "/api/v1/sites/{id}/load-limit/", "/api/v1/sites/{id}/power/", "/api/v1/sites/{id}/power.svg",
        "/api/v1/sites/{id}/rebalance/", "/api/v1/stations/{station_id}/charging-profiles/",
        "/api/v1/stations/{station_id}/charging-profiles/{profile_id}/",
        "/api/v1/stations/{station_id}/composite-schedule/",
    } <= paths


def test_power_chart_history_is_kept_for_90_days(roles):  # noqa: F811
    from stations.smart_charging.tasks import prune_load_samples

    site = roles["acme_site"]
    now = timezone.now()
    for days in (1, 89, 91, 400):
        SiteLoadSample.objects.create(site=site, at=now - timedelta(days=days), limit_w=1, allocated_w=1, measured_w=1)
    assert prune_load_samples() == 2
    assert SiteLoadSample.objects.count() == 2
