"""The read-only REST API: token auth, the contract's fields, and who sees what."""

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from stations.models import ChargingSession, Organization, Site
from stations.selectors import OPERATORS_GROUP
from stations.services.registry import register_id_token, register_station
from stations.services.sessions import start_session, stop_session

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def client_for(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def network():
    """Two organisations with a station each, two drivers with a session each."""
    acme = Organization.objects.create(name="Acme")
    other = Organization.objects.create(name="Other")
    acme_site = Site.objects.create(organization=acme, name="Acme Yard", time_zone="Europe/Berlin")
    other_site = Site.objects.create(organization=other, name="Other Yard")
    acme_station = register_station(station_id="ACME-1", password="p" * 20, site=acme_site).station
    other_station = register_station(station_id="OTHER-1", password="p" * 20, site=other_site).station
    register_id_token(value="ALICE", driver_email="alice@example.com")
    register_id_token(value="BOB", driver_email="bob@example.com")
    alice_session = start_session(
        station_pk=acme_station.pk, evse_id=1, connector_id=1, id_token_value="ALICE",
        meter_start_wh=1000, started_at=T0,
    ).session
    stop_session(station_pk=acme_station.pk, transaction_id=alice_session.transaction_id,
                 meter_stop_wh=8500, stopped_at=T1, reason="EVDisconnected")
    bob_session = start_session(
        station_pk=other_station.pk, evse_id=2, connector_id=1, id_token_value="BOB",
        meter_start_wh=0, started_at=T0,
    ).session

    operator = User.objects.create_user("op")
    operator.groups.add(Group.objects.get_or_create(name=OPERATORS_GROUP)[0])
    owner = User.objects.create_user("acme-owner")
    acme.members.add(owner)
    alice = User.objects.create_user("alice")
    alice_session.driver.user = alice
    alice_session.driver.save()
    return {
        "operator": operator, "owner": owner, "alice": alice,
        "alice_session": ChargingSession.objects.get(pk=alice_session.pk), "bob_session": bob_session,
    }


def test_anonymous_requests_are_refused(network):
    response = APIClient().get("/api/v1/stations/")
    assert response.status_code == 401


def test_operator_sees_every_station_with_live_state(network):
    response = client_for(network["operator"]).get("/api/v1/stations/")
    assert response.status_code == 200
    stations = {s["station_id"]: s for s in response.json()["results"]}
    assert set(stations) == {"ACME-1", "OTHER-1"}
    acme = stations["ACME-1"]
    for field in ("online", "last_seen", "vendor", "model", "firmware_version", "ocpp_version", "evses"):
        assert field in acme
    assert acme["site_name"] == "Acme Yard"
    assert acme["evses"][0]["evse_id"] == 1
    assert acme["evses"][0]["connectors"][0]["connector_id"] == 1


def test_site_owner_sees_only_their_organisations_stations(network):
    client = client_for(network["owner"])
    ids = [s["station_id"] for s in client.get("/api/v1/stations/").json()["results"]]
    assert ids == ["ACME-1"]
    assert client.get("/api/v1/stations/OTHER-1/").status_code == 404
    assert client.get("/api/v1/stations/ACME-1/").status_code == 200


def test_session_fields_follow_the_contract(network):
    response = client_for(network["operator"]).get(f"/api/v1/sessions/{network['alice_session'].pk}/")
    assert response.status_code == 200
    body = response.json()
    assert body["station"] == "ACME-1"
    assert body["evse_id"] == 1 and body["connector_id"] == 1
    assert body["id_token"] == "ALICE"
    assert body["meter_start_wh"] == 1000 and body["meter_stop_wh"] == 8500
    assert body["energy_wh"] == 7500
    assert body["status"] == "Completed"
    assert body["started_at"].startswith("2026-11-02T08:00:00")
    assert body["stopped_at"].startswith("2026-11-02T09:00:00")
    assert "cost" in body and "currency" in body


def test_driver_sees_only_their_own_sessions(network):
    client = client_for(network["alice"])
    results = client.get("/api/v1/sessions/").json()["results"]
    assert [s["id"] for s in results] == [network["alice_session"].pk]
    assert client.get(f"/api/v1/sessions/{network['bob_session'].pk}/").status_code == 404
    assert client.get("/api/v1/stations/").json()["results"] == []


def test_sessions_filter_by_station_and_status(network):
    client = client_for(network["operator"])
    active = client.get("/api/v1/sessions/?status=Active").json()["results"]
    assert [s["station"] for s in active] == ["OTHER-1"]
    by_station = client.get("/api/v1/sessions/?station=ACME-1").json()["results"]
    assert [s["id"] for s in by_station] == [network["alice_session"].pk]


def test_sessions_cannot_be_written_through_the_api(network):
    response = client_for(network["operator"]).post("/api/v1/sessions/", {"station": "ACME-1"}, format="json")
    assert response.status_code == 405


def test_drf_create_token_command_issues_a_working_token(network, capsys):
    call_command("drf_create_token", "op")
    key = capsys.readouterr().out.strip().split()[2]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/sessions/").status_code == 200
