"""The REST API applies the same scoping: guessing another tenant's id is a 404."""

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_driver_cannot_read_another_drivers_session_or_token(network):
    driver = api_for(network.driver_a)
    assert driver.get(f"/api/v1/sessions/{network.session_a.pk}/").status_code == 200
    assert driver.get(f"/api/v1/sessions/{network.session_b.pk}/").status_code == 404
    assert driver.get(f"/api/v1/id-tokens/{network.token_b.pk}/").status_code == 404
    assert [s["id"] for s in driver.get("/api/v1/sessions/").json()["results"]] == [network.session_a.pk]


def test_site_owner_cannot_read_or_change_another_organisations_station(network):
    owner = api_for(network.owner_b)
    assert owner.get("/api/v1/stations/CP-A/").status_code == 404
    assert owner.patch("/api/v1/stations/CP-A/", {"security_profile": 0}, format="json").status_code == 404
    assert owner.post("/api/v1/stations/CP-A/commands/", {"command": "reset", "type": "hard"},
                      format="json").status_code == 404
    network.station_a.refresh_from_db()
    assert network.station_a.security_profile == 1
    assert [s["station_id"] for s in owner.get("/api/v1/stations/").json()["results"]] == ["CP-B"]


def test_finance_sees_no_stations_or_sessions_through_the_api(network):
    finance = api_for(network.finance)
    assert finance.get("/api/v1/stations/").json()["results"] == []
    assert finance.get("/api/v1/sessions/").json()["results"] == []
    assert finance.get("/api/v1/invoices/").status_code == 200
