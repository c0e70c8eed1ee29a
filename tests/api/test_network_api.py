"""The REST API for running the network: stations, sites, tokens, commands, and roles."""

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from stations import credentials
from stations.models import ChargingStation, CommandLog, IdToken, Organization, Site
from stations.selectors import OPERATORS_GROUP
from stations.services.meter_values import make_sample
from stations.services.registry import register_id_token, register_station
from stations.services.sessions import record_meter_values, start_session

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def roles():
    acme = Organization.objects.create(name="Acme")
    other = Organization.objects.create(name="Other")
    acme_site = Site.objects.create(organization=acme, name="Acme Yard")
    other_site = Site.objects.create(organization=other, name="Other Yard")
    register_station(station_id="ACME-1", password="p" * 20, site=acme_site)
    register_station(station_id="OTHER-1", password="p" * 20, site=other_site)
    operator = User.objects.create_user("op")
    operator.groups.add(Group.objects.get_or_create(name=OPERATORS_GROUP)[0])
    owner = User.objects.create_user("owner")
    acme.members.add(owner)
    driver_user = User.objects.create_user("alice")
    token = register_id_token(value="ALICE-CARD", driver_email="alice@example.com")
    token.driver.user = driver_user
    token.driver.save()
    register_id_token(value="BOB-CARD", driver_email="bob@example.com")
    return {
        "operator": client_for(operator), "owner": client_for(owner), "driver": client_for(driver_user),
        "nobody": client_for(User.objects.create_user("nobody")), "acme_site": acme_site, "other_site": other_site,
    }


def test_operator_registers_a_station_and_gets_its_password_once(roles):
    response = roles["operator"].post(
        "/api/v1/stations/", {"station_id": "NEW-1", "site": roles["acme_site"].pk}, format="json"
    )
    assert response.status_code == 201, response.json()
    password = response.json()["password"]
    assert 16 <= len(password) <= 40
    station = ChargingStation.objects.get(station_id="NEW-1")
    assert credentials.check_password(password, station.password_hash)
    assert "password" not in roles["operator"].get("/api/v1/stations/NEW-1/").json()


def test_station_with_a_bad_id_or_password_is_a_400_with_reasons(roles):
    response = roles["operator"].post("/api/v1/stations/", {"station_id": "a/b", "password": "short"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"station_id", "password"}
    response = roles["operator"].post("/api/v1/stations/", {"station_id": "ACME-1"}, format="json")
    assert response.status_code == 400 and "exists" in response.json()["station_id"][0]


def test_site_owner_registers_stations_only_on_their_sites(roles):
    owner = roles["owner"]
    assert owner.post("/api/v1/stations/", {"station_id": "O-1", "site": roles["other_site"].pk},
                      format="json").status_code == 400
    assert owner.post("/api/v1/stations/", {"station_id": "O-1"}, format="json").status_code == 400
    assert owner.post("/api/v1/stations/", {"station_id": "O-1", "site": roles["acme_site"].pk},
                      format="json").status_code == 201


def test_site_owner_cannot_touch_another_organisations_station(roles):
    owner = roles["owner"]
    assert owner.patch("/api/v1/stations/OTHER-1/", {"security_profile": 0}, format="json").status_code == 404
    assert owner.post("/api/v1/stations/OTHER-1/commands/", {"command": "reset"}, format="json").status_code == 404
    assert owner.delete("/api/v1/stations/OTHER-1/").status_code == 404
    assert ChargingStation.objects.get(station_id="OTHER-1").security_profile == 1


def test_pending_station_is_approved_through_the_api(roles):
    ChargingStation.objects.filter(station_id="ACME-1").update(registration_status="Pending")
    response = roles["owner"].post("/api/v1/stations/ACME-1/approve/")
    assert response.status_code == 200 and response.json()["registration_status"] == "Accepted"
    assert roles["driver"].post("/api/v1/stations/ACME-1/reject/").status_code == 403


def test_password_change_through_patch_is_hashed(roles):
    response = roles["operator"].patch("/api/v1/stations/ACME-1/", {"password": "n" * 24}, format="json")
    assert response.status_code == 200
    assert credentials.check_password("n" * 24, ChargingStation.objects.get(station_id="ACME-1").password_hash)


@pytest.mark.parametrize("role", ["driver", "nobody"])
def test_token_without_rights_gets_403_on_writes(roles, role):
    client = roles[role]
    assert client.post("/api/v1/stations/", {"station_id": "X-1"}, format="json").status_code == 403
    assert client.post("/api/v1/id-tokens/", {"value": "X"}, format="json").status_code == 403
    assert client.post("/api/v1/drivers/", {"email": "x@example.com"}, format="json").status_code == 403
    assert client.post("/api/v1/sites/", {"name": "X"}, format="json").status_code == 403


def test_driver_cannot_command_a_station_even_by_guessing_its_url(roles):
    assert roles["driver"].post("/api/v1/stations/ACME-1/commands/", {"command": "reset"},
                                format="json").status_code == 403
    assert not CommandLog.objects.exists()


def test_command_to_an_offline_station_is_409_and_logged(roles):
    response = roles["owner"].post("/api/v1/stations/ACME-1/commands/", {"command": "reset", "type": "hard"},
                                   format="json")
    assert response.status_code == 409
    assert response.json()["outcome"] == "offline"
    log = roles["owner"].get("/api/v1/commands/").json()["results"][0]
    assert log["command"] == "reset" and log["requested_by"] == "owner" and log["outcome"] == "offline"
    assert log["params"] == {"type": "hard"}
    assert roles["owner"].get("/api/v1/stations/ACME-1/commands/").json()["count"] == 1


@pytest.mark.parametrize(
    "body, field",
    [({"command": "explode"}, "unknown command"), ({"command": "unlock_connector"}, "evse_id"), ([1, 2], "JSON")],
)
def test_bad_command_is_400_with_a_message(roles, body, field):
    response = roles["operator"].post("/api/v1/stations/ACME-1/commands/", body, format="json")
    assert response.status_code == 400
    assert field in str(response.json())
    assert not CommandLog.objects.exists()


def test_id_tokens_are_managed_by_operators_and_read_by_their_driver(roles):
    response = roles["operator"].post("/api/v1/id-tokens/", {"value": "NEW-CARD", "type": "ISO14443"}, format="json")
    assert response.status_code == 201
    assert roles["operator"].patch(f"/api/v1/id-tokens/{response.json()['id']}/", {"status": "Blocked"},
                                   format="json").status_code == 200
    assert IdToken.objects.get(value="NEW-CARD").status == "Blocked"
    own = roles["driver"].get("/api/v1/id-tokens/").json()["results"]
    assert [t["value"] for t in own] == ["ALICE-CARD"]
    bob = IdToken.objects.get(value="BOB-CARD")
    assert roles["driver"].get(f"/api/v1/id-tokens/{bob.pk}/").status_code == 404


def test_session_meter_values_are_listed_with_names(roles):
    station = ChargingStation.objects.get(station_id="ACME-1")
    t0 = datetime(2026, 11, 2, 8, tzinfo=UTC)
    session = start_session(station_pk=station.pk, evse_id=1, connector_id=1, id_token_value="ALICE-CARD",
                            meter_start_wh=0, started_at=t0).session
    record_meter_values(station_pk=station.pk, evse_id=1, transaction_id=session.transaction_id, samples=[
        make_sample(timestamp=t0, value="1.5", measurand="Energy.Active.Import.Register", unit="kWh"),
        make_sample(timestamp=t0, value="230.1", measurand="Voltage", unit="V", phase="L1-N"),
    ])
    response = roles["driver"].get(f"/api/v1/sessions/{session.pk}/meter-values/")
    assert response.status_code == 200
    rows = {(r["measurand"], r["phase"]): r["value"] for r in response.json()["results"]}
    assert rows == {("Energy.Active.Import.Register", ""): 1500.0, ("Voltage", "L1-N"): 230.1}
    assert roles["nobody"].get(f"/api/v1/sessions/{session.pk}/meter-values/").status_code == 404


def test_stations_filter_by_online_and_site(roles):
    ChargingStation.objects.filter(station_id="ACME-1").update(is_online=True)
    client = roles["operator"]
    assert [s["station_id"] for s in client.get("/api/v1/stations/?online=true").json()["results"]] == ["ACME-1"]
    other = client.get(f"/api/v1/stations/?site={roles['other_site'].pk}").json()["results"]
    assert [s["station_id"] for s in other] == ["OTHER-1"]


def test_openapi_schema_builds_without_warnings_and_lists_every_endpoint():
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out)
    import json

    paths = set(json.loads(out.getvalue())["paths"])
    for path in [
        "/api/v1/sites/", "/api/v1/stations/", "/api/v1/stations/{station_id}/",
        "/api/v1/stations/{station_id}/commands/", "/api/v1/stations/{station_id}/approve/",
        "/api/v1/stations/{station_id}/device-model/", "/api/v1/evses/", "/api/v1/drivers/", "/api/v1/id-tokens/",
        "/api/v1/sessions/", "/api/v1/sessions/{id}/meter-values/", "/api/v1/commands/",
    ]:
        assert path in paths, path
