"""ChargeNet as eMSP, receiving: a CPO partner pushes Locations (whole and status PATCHes),
Tariffs, our drivers' Sessions and CDRs to our eMSP endpoints, through the whole Django stack
with its OCPI token."""

import base64

import pytest

from roaming.credentials import add_partner
from roaming.models import Partner, PartnerRole, PartnerStatus, RequestLog, RoamingCdr, RoamingLocation, RoamingSession
from roaming.partner_data import availability
from tests.roaming import ocpi_objects as ocpi

pytestmark = pytest.mark.django_db

E = "/ocpi/2.2.1/emsp"


@pytest.fixture
def cpo_client(client):
    """A registered CPO partner (NL*CPO) calling our eMSP endpoints with its token."""
    partner, token = add_partner(name="Partner CPO", role=PartnerRole.CPO)
    Partner.objects.filter(pk=partner.pk).update(status=PartnerStatus.REGISTERED, country_code="NL", party_id="CPO")

    def call(method, path, data=None, token_value=token, **extra):
        header = "Token " + base64.b64encode(token_value.encode()).decode()
        return getattr(client, method)(path, data=data, content_type="application/json",
                                       HTTP_AUTHORIZATION=header, **extra)

    call.partner = Partner.objects.get(pk=partner.pk)
    return call


def test_a_pushed_location_is_stored_and_status_patches_change_its_availability(cpo_client):
    response = cpo_client("put", f"{E}/locations/NL/CPO/LOC1", ocpi.location())
    assert response.status_code == 200 and response.json()["status_code"] == 1000, response.json()
    location = RoamingLocation.objects.get(ocpi_id="LOC1")
    assert (location.name, location.city, str(location.latitude)) == ("Gent Zuid LOC1", "Gent", "51.047599")
    assert availability(location) == {"available": 1, "total": 1, "by_status": {"AVAILABLE": 1}}

    patch = cpo_client("patch", f"{E}/locations/NL/CPO/LOC1/EVSE-1",
                       {"status": "CHARGING", "last_updated": "2026-11-03T10:00:00Z"})
    assert patch.json()["status_code"] == 1000
    location.refresh_from_db()
    assert availability(location)["by_status"] == {"CHARGING": 1}
    assert location.data["evses"][0]["last_updated"] == "2026-11-03T10:00:00Z"

    new_evse = {**ocpi.location()["evses"][0], "uid": "EVSE-2", "status": "AVAILABLE"}
    assert cpo_client("put", f"{E}/locations/NL/CPO/LOC1/EVSE-2", new_evse).json()["status_code"] == 1000
    location.refresh_from_db()
    assert availability(location) == {"available": 1, "total": 2, "by_status": {"CHARGING": 1, "AVAILABLE": 1}}


@pytest.mark.parametrize("path, body, http, code", [
    (f"{E}/locations/NL/CPO/LOC1", {**ocpi.location(), "coordinates": "here"}, 400, 2001),
    (f"{E}/locations/NL/CPO/LOC1", {**ocpi.location(), "time_zone": None}, 400, 2001),
    (f"{E}/locations/NL/CPO/OTHER", ocpi.location(), 400, 2001),  # id differs from the URL
    (f"{E}/locations/DE/XXX/LOC1", ocpi.location(), 400, 2001),  # not its party
    (f"{E}/locations/NL/CPO/NOPE/EVSE-1", ocpi.location()["evses"][0], 404, 2003),
    (f"{E}/locations", ocpi.location(), 404, 2001),
])
def test_malformed_locations_get_an_ocpi_error_and_nothing_is_stored(cpo_client, path, body, http, code):
    response = cpo_client("put", path, body)
    assert (response.status_code, response.json()["status_code"]) == (http, code), response.json()
    assert response.json()["data"] is None and response.json()["status_message"]
    assert not RoamingLocation.objects.exists()
    logged = RequestLog.objects.get(partner=cpo_client.partner, direction="in")
    assert (logged.http_status, logged.ocpi_status) == (http, code)


def test_a_body_that_is_not_json_is_2001_not_a_500(cpo_client, client):
    response = cpo_client("put", f"{E}/locations/NL/CPO/LOC1", "{not json")
    assert (response.status_code, response.json()["status_code"]) == (400, 2001)


def test_an_unknown_token_is_401_with_an_envelope(cpo_client):
    response = cpo_client("put", f"{E}/locations/NL/CPO/LOC1", ocpi.location(), token_value="nobody")
    assert response.status_code == 401 and response.json()["status_code"] == 2000


def test_tariffs_are_stored_checked_and_deleted(cpo_client):
    assert cpo_client("put", f"{E}/tariffs/NL/CPO/T1", ocpi.tariff()).json()["status_code"] == 1000
    broken = {**ocpi.tariff("T2"), "elements": [{"price_components": [{"type": "NOPE", "price": 1}]}]}
    refused = cpo_client("put", f"{E}/tariffs/NL/CPO/T2", broken)
    assert (refused.status_code, refused.json()["status_code"]) == (400, 2001)
    assert list(cpo_client.partner.roamingtariff_set.values_list("ocpi_id", flat=True)) == ["T1"]
    assert cpo_client("delete", f"{E}/tariffs/NL/CPO/T1").json()["status_code"] == 1000
    assert not cpo_client.partner.roamingtariff_set.exists()


def test_a_session_of_our_driver_is_stored_and_linked_to_the_driver(cpo_client, make_token):
    token = make_token("CARD-1")
    assert cpo_client("put", f"{E}/sessions/NL/CPO/S1", ocpi.session()).json()["status_code"] == 1000
    session = RoamingSession.objects.get(ocpi_id="S1")
    assert (session.driver, session.id_token, session.status) == (token.driver, token, "ACTIVE")
    patch = cpo_client("patch", f"{E}/sessions/NL/CPO/S1",
                       {"kwh": 12.5, "total_cost": {"excl_vat": 5.0, "incl_vat": 6.05},
                        "last_updated": "2026-11-03T10:30:00Z"})
    assert patch.json()["status_code"] == 1000
    session.refresh_from_db()
    assert (session.kwh, str(session.total_cost_incl_vat)) == (12.5, "6.05")


def test_a_session_of_a_token_we_do_not_issue_is_refused_with_2004(cpo_client):
    response = cpo_client("put", f"{E}/sessions/NL/CPO/S1", ocpi.session(uid="STRANGER"))
    assert (response.status_code, response.json()["status_code"]) == (404, 2004)
    assert not RoamingSession.objects.exists()


def test_a_cdr_is_stored_checked_against_the_published_tariff_and_resold_to_our_driver(cpo_client, make_token,
                                                                                      settings):
    settings.OCPI_ROAMING_MARGIN_PERCENT, settings.OCPI_ROAMING_VAT_PERCENT = 15, "19"
    token = make_token("CARD-1")
    cpo_client("put", f"{E}/locations/NL/CPO/LOC1", ocpi.location())
    cpo_client("put", f"{E}/tariffs/NL/CPO/T1", ocpi.tariff(kwh_price=0.40))
    response = cpo_client("post", f"{E}/cdrs", ocpi.cdr(kwh=20, excl=8.00))
    assert response.status_code == 200 and response.json()["status_code"] == 1000, response.json()
    cdr = RoamingCdr.objects.get(ocpi_id="CDR1")
    assert response["Location"].endswith(f"{E}/cdrs/{cdr.pk}")
    assert cpo_client("get", f"{E}/cdrs/{cdr.pk}").json()["data"]["id"] == "CDR1"
    assert (cdr.driver, cdr.tariff_check, str(cdr.expected_cost_excl_vat)) == (token.driver, "match", "8.00")
    billed = cdr.billed_cdr
    assert (billed.driver, billed.session, str(billed.total_cost_excl_vat)) == (token.driver, None, "9.20")
    assert (str(billed.total_vat), str(billed.total_cost_incl_vat)) == ("1.75", "10.95")
    # The partner sends it again: stored once, resold once.
    assert cpo_client("post", f"{E}/cdrs", ocpi.cdr(kwh=20, excl=8.00)).json()["status_code"] == 1000
    assert RoamingCdr.objects.count() == 1 and billed.__class__.objects.count() == 1


def test_a_cdr_that_does_not_match_the_published_tariff_is_flagged(cpo_client, make_token):
    make_token("CARD-1")
    cpo_client("put", f"{E}/locations/NL/CPO/LOC1", ocpi.location())
    cpo_client("put", f"{E}/tariffs/NL/CPO/T1", ocpi.tariff(kwh_price=0.40))
    cpo_client("post", f"{E}/cdrs", ocpi.cdr(kwh=20, excl=11.00))
    cdr = RoamingCdr.objects.get()
    assert (cdr.tariff_check, str(cdr.expected_cost_excl_vat)) == ("mismatch", "8.00")


def test_a_malformed_cdr_is_refused_and_nothing_is_billed(cpo_client, make_token):
    make_token("CARD-1")
    broken = {**ocpi.cdr(), "total_cost": 8}
    response = cpo_client("post", f"{E}/cdrs", broken)
    assert (response.status_code, response.json()["status_code"]) == (400, 2001)
    assert not RoamingCdr.objects.exists()


def test_hub_client_info_is_received_from_a_hub_only(cpo_client, client):
    info = {"party_id": "ABC", "country_code": "FR", "role": "CPO", "status": "CONNECTED",
            "last_updated": "2026-11-01T00:00:00Z"}
    refused = cpo_client("put", "/ocpi/2.2.1/hubclientinfo/FR/ABC", info)
    assert (refused.status_code, refused.json()["status_code"]) == (403, 2001)
    Partner.objects.filter(pk=cpo_client.partner.pk).update(role=PartnerRole.HUB)
    assert cpo_client("put", "/ocpi/2.2.1/hubclientinfo/FR/ABC", info).json()["status_code"] == 1000
    assert [(c.country_code, c.party_id, c.status) for c in cpo_client.partner.hub_clients.all()] == [
        ("FR", "ABC", "CONNECTED")]


def test_an_emsp_partner_cannot_use_our_emsp_endpoints(cpo_client, make_token):
    Partner.objects.filter(pk=cpo_client.partner.pk).update(role=PartnerRole.EMSP)
    make_token("CARD-1")
    for method, path, body in (("put", f"{E}/locations/NL/CPO/LOC1", ocpi.location()),
                               ("post", f"{E}/cdrs", ocpi.cdr()), ("get", f"{E}/tokens", None),
                               ("post", f"{E}/tokens/CARD-1/authorize", None)):
        response = cpo_client(method, path, body)
        assert (response.status_code, response.json()["status_code"]) == (403, 2000), path
    assert not RoamingLocation.objects.exists() and not RoamingCdr.objects.exists()
