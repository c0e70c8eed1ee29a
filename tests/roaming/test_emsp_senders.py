"""ChargeNet as eMSP, sending: we register with a CPO (handshake as the registering party),
pull its locations and tariffs page by page, offer our drivers' tokens (pull, push on change,
real-time authorization), and send commands and charging profiles whose results come back to
our response_url."""

import base64

import pytest

from roaming import remote
from roaming.credentials import register_with, version_details
from roaming.models import Partner, PartnerRole, PartnerStatus, RemoteCommand, RoamingLocation, RoamingTariff
from roaming.tasks import pull_all
from stations.models import IdToken, IdTokenStatus
from tests.roaming import ocpi_objects as ocpi
from tests.roaming.cpo import TestCpo

pytestmark = pytest.mark.django_db(transaction=True)

E = "/ocpi/2.2.1/emsp"


@pytest.fixture
def cpo(live_server, settings):
    settings.OCPI_BASE_URL = live_server.url
    server = TestCpo(locations=[ocpi.location(f"LOC{n}") for n in range(1, 6)],
                     tariffs=[ocpi.tariff("T1"), ocpi.tariff("T2", kwh_price=0.5)])
    yield server
    server.stop()


@pytest.fixture
def registered_cpo(cpo):
    partner = register_with(name="Test CPO", versions_url=cpo.versions_url, token_a=cpo.token_a)
    return cpo, partner


def _as_cpo(client, cpo, method, path, data=None):
    header = "Token " + base64.b64encode(cpo.our_token.encode()).decode()
    return getattr(client, method)(path, data=data, content_type="application/json", HTTP_AUTHORIZATION=header)


def test_we_advertise_the_module_roles_of_both_our_roles(settings):
    settings.OCPI_ROLES = ["CPO", "EMSP"]
    pairs = {(e["identifier"], e["role"]) for e in version_details()["endpoints"]}
    for module in ("locations", "sessions", "cdrs", "tariffs"):
        assert {(module, "SENDER"), (module, "RECEIVER")} <= pairs
    for module in ("tokens", "commands", "chargingprofiles"):
        assert {(module, "SENDER"), (module, "RECEIVER")} <= pairs
    assert ("hubclientinfo", "RECEIVER") in pairs
    settings.OCPI_ROLES = ["EMSP"]
    pairs = {(e["identifier"], e["role"]) for e in version_details()["endpoints"]}
    assert ("locations", "SENDER") not in pairs and ("tokens", "RECEIVER") not in pairs
    assert ("tokens", "SENDER") in pairs and ("locations", "RECEIVER") in pairs


def test_registering_with_a_cpo_pulls_all_its_locations_and_tariffs_page_by_page(registered_cpo):
    cpo, partner = registered_cpo
    assert (partner.status, partner.role, partner.country_code) == (PartnerStatus.REGISTERED, PartnerRole.CPO, "NL")
    credentials = cpo.requests_to("/credentials$", "POST")[0]["body"]
    assert {r["role"] for r in credentials["roles"]} == {"CPO", "EMSP"}
    assert sorted(RoamingLocation.objects.values_list("ocpi_id", flat=True)) == [f"LOC{n}" for n in range(1, 6)]
    assert sorted(RoamingTariff.objects.values_list("ocpi_id", flat=True)) == ["T1", "T2"]
    assert [r["path"] for r in cpo.requests_to("/locations")] == [
        "/ocpi/2.2.1/locations", "/ocpi/2.2.1/locations?offset=2", "/ocpi/2.2.1/locations?offset=4"]


def test_the_scheduled_pull_skips_a_malformed_location_and_a_partner_that_is_down(registered_cpo):
    cpo, partner = registered_cpo
    cpo.locations.append({**ocpi.location("BAD"), "coordinates": None})
    cpo.locations[0]["name"] = "Renamed"
    assert pull_all() == 1
    assert RoamingLocation.objects.get(ocpi_id="LOC1").name == "Renamed"
    assert not RoamingLocation.objects.filter(ocpi_id="BAD").exists()
    cpo.down = True
    assert pull_all() == 1  # logged, not raised
    assert partner.log.filter(direction="out", http_status=503).exists()


def test_cpos_pull_our_drivers_tokens_with_pagination(registered_cpo, client, make_token):
    cpo, partner = registered_cpo
    for n in range(3):
        make_token(f"CARD-{n}", driver_email=f"d{n}@example.com")
    first = _as_cpo(client, cpo, "get", f"{E}/tokens?limit=2")
    assert first.json()["status_code"] == 1000 and first["X-Total-Count"] == "3"
    assert 'rel="next"' in first["Link"]
    token = first.json()["data"][0]
    assert {k: token[k] for k in ("country_code", "party_id", "uid", "type", "valid", "whitelist")} == {
        "country_code": "DE", "party_id": "CNT", "uid": "CARD-0", "type": "RFID", "valid": True,
        "whitelist": "ALLOWED"}
    assert token["contract_id"].startswith("DE-CNT-C") and token["issuer"] and token["last_updated"]
    second = _as_cpo(client, cpo, "get", first["Link"].split(">")[0].strip("<"))
    assert [t["uid"] for t in second.json()["data"]] == ["CARD-2"]


def test_a_token_change_is_pushed_to_the_cpo_through_the_outbox(registered_cpo, make_token):
    cpo, partner = registered_cpo
    token = make_token("CARD-9")
    token.status = IdTokenStatus.BLOCKED
    token.save()
    pushes = cpo.requests_to("/tokens/DE/CNT/CARD-9", "PUT")
    assert [p["body"]["valid"] for p in pushes] == [True, False]
    assert pushes[0]["path"].endswith("?type=RFID")


@pytest.mark.parametrize("status, expires, allowed", [
    (IdTokenStatus.ACCEPTED, None, "ALLOWED"), (IdTokenStatus.BLOCKED, None, "BLOCKED"),
    (IdTokenStatus.ACCEPTED, "2020-01-01T00:00:00Z", "EXPIRED"), (IdTokenStatus.INVALID, None, "NOT_ALLOWED"),
])
def test_real_time_authorization_is_answered_from_our_token_database(registered_cpo, client, make_token, status,
                                                                     expires, allowed):
    cpo, _ = registered_cpo
    make_token("CARD-1")
    IdToken.objects.filter(value="CARD-1").update(status=status, expires_at=expires)
    response = _as_cpo(client, cpo, "post", f"{E}/tokens/CARD-1/authorize?type=RFID",
                       {"location_id": "LOC1", "evse_uids": ["EVSE-1"]})
    info = response.json()["data"]
    assert (info["allowed"], info["token"]["uid"]) == (allowed, "CARD-1")
    assert info["authorization_reference"]
    if allowed == "ALLOWED":
        assert info["location"] == {"location_id": "LOC1", "evse_uids": ["EVSE-1"]}


def test_real_time_authorization_refuses_unknown_tokens_and_closed_locations(registered_cpo, client, make_token):
    cpo, _ = registered_cpo
    unknown = _as_cpo(client, cpo, "post", f"{E}/tokens/NOBODY/authorize")
    assert (unknown.status_code, unknown.json()["status_code"]) == (404, 2004)
    make_token("CARD-1")
    RoamingLocation.objects.filter(ocpi_id="LOC1").update(roaming_allowed=False)
    info = _as_cpo(client, cpo, "post", f"{E}/tokens/CARD-1/authorize", {"location_id": "LOC1"}).json()["data"]
    assert info["allowed"] == "NOT_ALLOWED" and "location" not in info


def test_a_driver_starts_and_stops_a_session_at_a_partner_charger_and_the_results_come_back(registered_cpo,
                                                                                          make_token, client):
    cpo, partner = registered_cpo
    token = make_token("CARD-1")
    location = RoamingLocation.objects.get(ocpi_id="LOC1")
    command = remote.start_session(driver=token.driver, location=location, evse_uid="EVSE-1")
    sent = cpo.requests_to("/commands/START_SESSION", "POST")[0]
    assert sent["body"]["token"]["uid"] == "CARD-1" and sent["body"]["location_id"] == "LOC1"
    assert sent["body"]["evse_uid"] == "EVSE-1"
    assert (sent["headers"]["OCPI-to-country-code"], sent["headers"]["OCPI-to-party-id"]) == ("NL", "CPO")
    assert command.response == "ACCEPTED" and command.result == ""
    answer = cpo.post_result(sent["body"]["response_url"], {"result": "ACCEPTED"})
    assert answer.json()["status_code"] == 1000
    command.refresh_from_db()
    assert command.result == "ACCEPTED"
    bad = cpo.post_result(sent["body"]["response_url"], {"result": "MAYBE"})
    assert (bad.status_code, bad.json()["status_code"]) == (400, 2001)

    cpo.command_answer = "REJECTED"
    with pytest.raises(remote.RemoteError, match="REJECTED"):
        remote.start_session(driver=token.driver, location=location)
    assert RemoteCommand.objects.filter(response="REJECTED").count() == 1


def test_a_charging_profile_is_sent_for_our_drivers_session(registered_cpo, make_token, client):
    cpo, partner = registered_cpo
    make_token("CARD-1")
    assert _as_cpo(client, cpo, "put", f"{E}/sessions/NL/CPO/S1", ocpi.session()).json()["status_code"] == 1000
    session = partner.roamingsession_set.get()
    remote.set_charging_profile(session=session, limit_w=7400)
    sent = cpo.requests_to("/chargingprofiles/S1", "PUT")[0]["body"]
    assert sent["charging_profile"] == {"charging_rate_unit": "W",
                                        "charging_profile_period": [{"start_period": 0, "limit": 7400}]}
    assert cpo.post_result(sent["response_url"], {"result": "ACCEPTED"}).json()["status_code"] == 1000
    assert RemoteCommand.objects.get(module="chargingprofiles").result == "ACCEPTED"


def test_through_a_hub_a_party_that_is_not_connected_is_not_asked(registered_cpo, make_token):
    cpo, partner = registered_cpo
    Partner.objects.filter(pk=partner.pk).update(role=PartnerRole.HUB)
    partner.refresh_from_db()
    partner.hub_clients.create(country_code="NL", party_id="CPO", role="CPO", status="OFFLINE",
                               last_updated="2026-11-01T00:00:00Z")
    token = make_token("CARD-1")
    with pytest.raises(remote.RemoteError, match="offline"):
        remote.start_session(driver=token.driver, location=RoamingLocation.objects.get(ocpi_id="LOC1"))
    assert not cpo.requests_to("/commands/")


def test_a_driver_stops_their_partner_session_over_the_api_and_nobody_elses(registered_cpo, client, make_token):
    from django.contrib.auth.models import User
    from rest_framework.test import APIClient

    cpo, partner = registered_cpo
    token = make_token("CARD-1")
    other = make_token("CARD-2", driver_email="other@example.com")
    for uid, sid in (("CARD-1", "S1"), ("CARD-2", "S2")):
        assert _as_cpo(client, cpo, "put", f"{E}/sessions/NL/CPO/{sid}",
                       ocpi.session(sid, uid)).json()["status_code"] == 1000
    user = User.objects.create_user("driver")
    token.driver.user = user
    token.driver.save()
    api = APIClient()
    api.force_authenticate(user)
    mine = api.get("/api/v1/roaming/sessions/").json()
    assert [s["id"] for s in mine] == ["S1"]
    theirs = partner.roamingsession_set.get(driver=other.driver)
    assert api.post(f"/api/v1/roaming/sessions/{theirs.pk}/stop/").status_code == 404
    stopped = api.post(f"/api/v1/roaming/sessions/{mine[0]['pk']}/stop/")
    assert stopped.status_code == 202, stopped.content
    sent = cpo.requests_to("/commands/STOP_SESSION", "POST")
    assert [r["body"]["session_id"] for r in sent] == ["S1"]
    assert sent[0]["body"]["response_url"].endswith(f"/ocpi/2.2.1/emsp/commands/results/{stopped.json()['command']}")
