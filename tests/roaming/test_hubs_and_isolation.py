"""Hubs in both roles, and partners kept apart: one partner's bad input or outage never
stops another's traffic, and what is owed to a partner that is down waits in the outbox."""

import base64
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from roaming import push
from roaming.credentials import add_partner, register_with
from roaming.models import OutboxEntry, Partner, PartnerRole, PartnerStatus, PartnerToken, RoamingLocation
from roaming.tasks import deliver_all, pull_all
from stations.models import ChargingSession, Evse, IdToken, SessionStatus, Site
from tests.roaming import ocpi_objects as ocpi
from tests.roaming.cpo import TestCpo

pytestmark = pytest.mark.django_db(transaction=True)

E = "/ocpi/2.2.1/emsp"


def _caller(client, token):
    header = "Token " + base64.b64encode(token.encode()).decode()

    def call(method, path, data=None, **extra):
        return getattr(client, method)(path, data=data, content_type="application/json", HTTP_AUTHORIZATION=header,
                                       **extra)

    return call


def test_a_hub_pushes_locations_of_many_parties_and_a_plain_cpo_only_its_own(client):
    hub, hub_token = add_partner(name="Hub", role=PartnerRole.HUB)
    cpo, cpo_token = add_partner(name="CPO", role=PartnerRole.CPO)
    Partner.objects.filter(pk=hub.pk).update(status=PartnerStatus.REGISTERED, country_code="EU", party_id="HUB")
    Partner.objects.filter(pk=cpo.pk).update(status=PartnerStatus.REGISTERED, country_code="NL", party_id="CPO")
    via_hub = _caller(client, hub_token)
    for cc, party in (("FR", "ABC"), ("BE", "XYZ")):
        body = {**ocpi.location("L1"), "country_code": cc, "party_id": party}
        response = via_hub("put", f"{E}/locations/{cc}/{party}/L1", body, HTTP_OCPI_FROM_COUNTRY_CODE=cc,
                           HTTP_OCPI_FROM_PARTY_ID=party, HTTP_OCPI_TO_COUNTRY_CODE="DE", HTTP_OCPI_TO_PARTY_ID="CNT")
        assert response.json()["status_code"] == 1000
        # The answer is routed back to the party the request came from.
        assert (response["OCPI-to-country-code"], response["OCPI-to-party-id"]) == (cc, party)
    assert sorted(RoamingLocation.objects.filter(partner=hub).values_list("country_code", "party_id")) == [
        ("BE", "XYZ"), ("FR", "ABC")]
    refused = _caller(client, cpo_token)("put", f"{E}/locations/FR/ABC/L1",
                                         {**ocpi.location("L1"), "country_code": "FR", "party_id": "ABC"})
    assert (refused.status_code, refused.json()["status_code"]) == (400, 2001)


def test_as_cpo_a_session_of_a_hub_token_is_pushed_to_the_hub_for_the_issuing_party(registered_emsp, make_station):
    emsp, partner = registered_emsp
    Partner.objects.filter(pk=partner.pk).update(role=PartnerRole.HUB)
    token = IdToken.objects.create(value="HUB-CARD")
    PartnerToken.objects.create(partner=partner, id_token=token, country_code="FR", party_id="XYZ", uid="HUB-CARD",
                                type="RFID", contract_id="FR-XYZ-1", data={}, last_updated=datetime.now(UTC))
    station = make_station("CP-H1", site=Site.objects.create(name="Depot", country="DE"))
    session = ChargingSession.objects.create(station=station, evse=Evse.objects.create(station=station, evse_id=1),
                                             transaction_id="1", id_token=token, id_token_value="HUB-CARD",
                                             status=SessionStatus.ACTIVE, started_at=timezone.now())
    from roaming import partners

    partners.forget_partners()
    assert push.push_session(session_pk=session.pk)
    sent = emsp.requests_to(rf"/sessions/DE/CNT/{session.pk}$", "PUT")[0]
    assert (sent["headers"]["OCPI-to-country-code"], sent["headers"]["OCPI-to-party-id"]) == ("FR", "XYZ")
    assert (sent["headers"]["OCPI-from-country-code"], sent["headers"]["OCPI-from-party-id"]) == ("DE", "CNT")


@pytest.fixture
def two_cpos(live_server, settings):
    settings.OCPI_BASE_URL = live_server.url
    good, bad = TestCpo(), TestCpo(locations=[{**ocpi.location("X"), "coordinates": None}])
    yield good, bad
    good.stop()
    bad.stop()


def test_one_partners_outage_or_bad_data_does_not_stop_another(two_cpos, make_token):
    good, bad = two_cpos
    register_with(name="Good CPO", versions_url=good.versions_url, token_a=good.token_a)
    bad_partner = register_with(name="Bad CPO", versions_url=bad.versions_url, token_a=bad.token_a)
    assert list(RoamingLocation.objects.values_list("partner__name", flat=True)) == ["Good CPO"]
    assert bad_partner.log.filter(direction="out", url__contains="/locations").exists()

    # The bad one goes down: the pull goes on for the good one, our token pushes wait for the bad one.
    bad.down = True
    good.locations[0]["name"] = "Renamed while the other is down"
    assert pull_all() == 2
    assert RoamingLocation.objects.get(partner__name="Good CPO").name == "Renamed while the other is down"
    make_token("CARD-1")
    assert len(good.requests_to("/tokens/DE/CNT/CARD-1", "PUT")) == 1
    waiting = OutboxEntry.objects.get(partner=bad_partner, module="tokens")
    assert waiting.status == "pending" and waiting.attempts == 1 and "503" in waiting.last_error

    # Back up: the next sweep delivers what waited.
    bad.down = False
    OutboxEntry.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    deliver_all()
    waiting.refresh_from_db()
    assert waiting.status == "sent"
    assert bad.requests_to("/tokens/DE/CNT/CARD-1", "PUT")[-1]["body"]["uid"] == "CARD-1"


def test_a_request_routed_to_another_party_is_refused(client):
    hub, hub_token = add_partner(name="Hub", role=PartnerRole.HUB)
    Partner.objects.filter(pk=hub.pk).update(status=PartnerStatus.REGISTERED, country_code="EU", party_id="HUB")
    body = {**ocpi.location("L1"), "country_code": "FR", "party_id": "ABC"}
    response = _caller(client, hub_token)("put", f"{E}/locations/FR/ABC/L1", body, HTTP_OCPI_TO_COUNTRY_CODE="NL",
                                          HTTP_OCPI_TO_PARTY_ID="OTH", HTTP_OCPI_FROM_COUNTRY_CODE="FR",
                                          HTTP_OCPI_FROM_PARTY_ID="ABC")
    assert (response.status_code, response.json()["status_code"]) == (400, 2001)
    assert "addressed to NL*OTH" in response.json()["status_message"]
    assert not RoamingLocation.objects.exists()
