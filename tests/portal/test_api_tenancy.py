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


def test_drivers_register_their_own_cars_for_plug_and_charge(network):
    from pki.models import Vehicle

    driver_a, driver_b = api_for(network.driver_a), api_for(network.driver_b)
    created = driver_a.post("/api/v1/vehicles/", {"pcid": "wmiv1234567890abc", "name": "Blue car"}, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["pcid"] == "WMIV1234567890ABC"
    assert created.json()["driver_email"] == "driver-a@example.com" and created.json()["emaid"] == ""
    vehicle_id = created.json()["id"]
    # Another driver neither sees it nor takes it over; nobody registers a car for someone else.
    assert driver_b.get(f"/api/v1/vehicles/{vehicle_id}/").status_code == 404
    assert driver_b.get("/api/v1/vehicles/").json()["results"] == []
    stolen = driver_b.post("/api/v1/vehicles/", {"pcid": "WMIV0000000000XYZ",
                                                 "driver": network.driver_a.driver.pk}, format="json")
    assert stolen.status_code == 403
    duplicate = driver_b.post("/api/v1/vehicles/", {"pcid": "WMIV1234567890ABC"}, format="json")
    assert duplicate.status_code == 400 and "pcid" in duplicate.json()
    bad = driver_a.post("/api/v1/vehicles/", {"pcid": "not a pcid!"}, format="json")
    assert bad.status_code == 400 and "PCID" in bad.json()["pcid"][0]
    # Site owners and finance have no business here; operators see every car.
    assert api_for(network.owner_a).get("/api/v1/vehicles/").status_code == 403
    assert api_for(network.finance).get("/api/v1/vehicles/").status_code == 403
    assert [v["id"] for v in api_for(network.operator).get("/api/v1/vehicles/").json()["results"]] == [vehicle_id]
    assert driver_a.delete(f"/api/v1/vehicles/{vehicle_id}/").status_code == 204
    assert not Vehicle.objects.exists()
