"""The credentials handshake over real HTTP, both ways, and its 401/405 rules."""

import pytest
from django.core.management import call_command

from roaming.credentials import add_partner
from roaming.models import Partner, PartnerStatus
from tests.roaming.emsp import token_header

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_emsp_registers_with_token_a_and_gets_token_c(cpo, emsp):
    partner, token_a = add_partner(name="Test eMSP")
    answer = emsp.register_with(f"{cpo}/ocpi/versions", token_a)

    assert answer["status_code"] == 1000
    token_c = answer["data"]["token"]
    assert token_c != token_a
    assert answer["data"]["url"] == f"{cpo}/ocpi/versions"
    assert answer["data"]["roles"][0] == {"role": "CPO", "party_id": "CNT", "country_code": "DE",
                                          "business_details": {"name": "ChargeNet"}}
    partner.refresh_from_db()
    assert partner.status == PartnerStatus.REGISTERED
    assert (partner.role, partner.country_code, partner.party_id) == ("EMSP", "NL", "EMS")
    assert partner.endpoint("cdrs", "RECEIVER") == f"{emsp.base}/2.2.1/cdrs"
    # We read its versions and details with its token B, base64-encoded.
    assert [r["path"] for r in emsp.received[:2]] == ["/ocpi/versions", "/ocpi/2.2.1"]
    assert emsp.received[0]["token"] == partner.outgoing_token
    # Token A is dead; C works.
    dead = emsp.call_cpo("GET", f"{cpo}/ocpi/versions", token=token_a)
    assert dead.status_code == 401 and dead.json()["status_code"] == 2000
    assert emsp.call_cpo("GET", f"{cpo}/ocpi/2.2.1/credentials").json()["data"]["token"] == token_c


def test_a_second_post_is_405_and_put_renews_the_token(registered_emsp, cpo):
    emsp, partner = registered_emsp
    url = f"{cpo}/ocpi/2.2.1/credentials"
    again = emsp.call_cpo("POST", url, json=emsp.credentials(emsp.issue_token()))
    assert again.status_code == 405 and again.json()["status_code"] == 2000

    old = emsp.cpo_token
    renewed = emsp.call_cpo("PUT", url, json=emsp.credentials(emsp.issue_token()))
    assert renewed.status_code == 200
    emsp.cpo_token = renewed.json()["data"]["token"]
    assert emsp.cpo_token != old
    assert emsp.call_cpo("GET", f"{cpo}/ocpi/versions", token=old).status_code == 401
    assert emsp.call_cpo("GET", f"{cpo}/ocpi/versions").status_code == 200


def test_delete_unregisters_and_the_token_stops_working(registered_emsp, cpo):
    emsp, partner = registered_emsp
    assert emsp.call_cpo("DELETE", f"{cpo}/ocpi/2.2.1/credentials").json()["status_code"] == 1000
    partner.refresh_from_db()
    assert partner.status == PartnerStatus.UNREGISTERED
    assert emsp.call_cpo("GET", f"{cpo}/ocpi/versions").status_code == 401


def test_put_and_delete_before_registering_are_405(cpo, emsp):
    _, token_a = add_partner(name="Early")
    for method in ("PUT", "DELETE", "GET"):
        response = emsp.call_cpo(method, f"{cpo}/ocpi/2.2.1/credentials", token=token_a,
                                 json=emsp.credentials("x") if method == "PUT" else None)
        assert response.status_code == 405, method
        assert response.json()["data"] is None and response.json()["status_code"] == 2000


def test_token_a_cannot_reach_the_modules(cpo, emsp):
    _, token_a = add_partner(name="Early")
    response = emsp.call_cpo("GET", f"{cpo}/ocpi/2.2.1/locations", token=token_a)
    assert response.status_code == 401 and response.json()["status_code"] == 2000


def test_we_register_with_an_emsp_and_it_can_call_us_back_with_token_b(cpo, emsp):
    token_a = emsp.issue_token()
    call_command("ocpi_register", emsp.versions_url, token_a, "--name", "Their eMSP")

    partner = Partner.objects.get(name="Their eMSP")
    assert partner.status == PartnerStatus.REGISTERED
    assert (partner.country_code, partner.party_id, partner.role) == ("NL", "EMS", "EMSP")
    # It called our versions with our token B while answering our POST, and that worked.
    assert emsp.callback_checks == [200]
    # We now call it with its token C, and token A is dead at the eMSP.
    assert partner.outgoing_token == emsp.our_token_at_cpo != token_a
    assert token_a not in emsp.valid_tokens
    post = emsp.requests_to(r"/credentials$", "POST")[0]
    assert post["token"] == token_a and post["body"]["roles"][0]["role"] == "CPO"
    # Its token B works on our side for the modules.
    assert emsp.call_cpo("GET", f"{cpo}/ocpi/2.2.1/locations").status_code == 200


def test_registering_with_a_wrong_token_a_fails_clearly_and_stays_pending(cpo, emsp):
    token_a = emsp.issue_token()
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="cannot read your versions|401"):
        call_command("ocpi_register", emsp.versions_url, "wrong-token", "--name", "X")
    assert Partner.objects.get(name="X").status == PartnerStatus.PENDING
    assert token_a in emsp.valid_tokens


@pytest.mark.parametrize("header", [None, "Token", "Bearer abc", token_header("nobody-has-this"), "Token nobody"])
def test_bad_tokens_get_401_with_the_ocpi_envelope(client, header):
    headers = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.get("/ocpi/versions", **headers)
    assert response.status_code == 401
    body = response.json()
    assert body["status_code"] == 2000 and body["data"] is None and "token" in body["status_message"]
    assert body["timestamp"].endswith("Z")


def test_a_partner_without_221_gets_3002_and_stays_pending(cpo, emsp):
    emsp.versions = ["2.1.1"]
    partner, token_a = add_partner(name="Old eMSP")
    answer = emsp.register_with(f"{cpo}/ocpi/versions", token_a)
    assert (answer["http"], answer["status_code"], answer["data"]) == (400, 3002, None)
    partner.refresh_from_db()
    assert partner.status == PartnerStatus.PENDING
    assert emsp.call_cpo("GET", f"{cpo}/ocpi/versions", token=token_a).status_code == 200  # A still valid


def test_answers_through_a_hub_are_routed_back_to_the_sender(client):
    from tests.roaming.emsp import token_header as header

    partner, token = add_partner(name="Hub")
    response = client.get("/ocpi/versions", HTTP_AUTHORIZATION=header(token), HTTP_OCPI_FROM_COUNTRY_CODE="NL",
                          HTTP_OCPI_FROM_PARTY_ID="EMS", HTTP_X_REQUEST_ID="r-1", HTTP_X_CORRELATION_ID="c-1")
    assert (response["OCPI-to-country-code"], response["OCPI-to-party-id"]) == ("NL", "EMS")
    assert (response["OCPI-from-country-code"], response["OCPI-from-party-id"]) == ("DE", "CNT")
    assert (response["X-Request-ID"], response["X-Correlation-ID"]) == ("r-1", "c-1")
