"""Charging profiles from the partner for its driver's session (OCPI chargingprofiles module):
answered at once, carried out over OCPP or through the site's load manager, the result
POSTed to response_url."""

import asyncio
import base64

import pytest
from django.test import AsyncClient

from roaming.tokens import store_token
from stations.models import ChargingSession, Evse, SessionLoadState, Site, SiteLoadLimit
from tests.conftest import adb

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = {"uid": "04AABBCC", "type": "RFID", "country_code": "NL", "party_id": "EMS", "contract_id": "NL-EMS-1",
         "issuer": "Test eMSP", "valid": True, "whitelist": "ALLOWED", "last_updated": "2025-03-01T00:00:00Z"}
PROFILE = {"charging_rate_unit": "A", "charging_profile_period": [{"start_period": 0, "limit": 10},
                                                                    {"start_period": 1800, "limit": 16}]}


async def call(partner_token: str, method: str, path: str, body=None):
    header = "Token " + base64.b64encode(partner_token.encode()).decode()
    client = AsyncClient()
    url = f"/ocpi/2.2.1/chargingprofiles/{path}"
    if method == "PUT":
        return await client.put(url, body, content_type="application/json", headers={"Authorization": header})
    if method == "GET":
        return await client.get(url, headers={"Authorization": header})
    return await client.delete(url, headers={"Authorization": header})


@pytest.fixture
def station_on_site(make_station):
    def make(managed: bool):
        site = Site.objects.create(name="Depot", country="DE")
        if managed:
            SiteLoadLimit.objects.create(site=site, max_current_a=32, min_interval_s=0)
        station = make_station("CP-P1", site=site)
        Evse.objects.create(station=station, evse_id=1)
        return site

    return make


async def start(cp) -> ChargingSession:
    await cp.result("StartTransaction", {"connectorId": 1, "idTag": "04AABBCC", "meterStart": 0,
                                         "timestamp": "2025-03-03T10:00:00Z"})
    return await ChargingSession.objects.aget(id_token_value="04AABBCC")


async def test_partner_profile_becomes_a_tx_profile_on_an_unmanaged_site(registered_emsp, station_on_site, ocpp):
    emsp, partner = registered_emsp
    await adb(station_on_site)(False)
    await adb(store_token)(partner=partner, token=TOKEN)
    async with ocpp("CP-P1", version="1.6") as cp:
        session = await start(cp)
        url = f"{emsp.base}/2.2.1/chargingprofiles/result/1"
        response, sent = await asyncio.gather(
            call(emsp.cpo_token, "PUT", str(session.pk), {"charging_profile": PROFILE, "response_url": url}),
            cp.expect_call("SetChargingProfile", {"status": "Accepted"}),
        )
        assert response.json()["data"] == {"result": "ACCEPTED", "timeout": 60}
        body = sent["csChargingProfiles"]
        assert (body["chargingProfilePurpose"], body["stackLevel"], body["transactionId"]) == (
            "TxProfile", 2, int(session.transaction_id),
        )
        assert body["chargingSchedule"]["chargingSchedulePeriod"] == [
            {"startPeriod": 0, "limit": 10.0}, {"startPeriod": 1800, "limit": 16.0},
        ]
        active_url = f"{emsp.base}/2.2.1/chargingprofiles/result/2"
        composite = {"status": "Accepted", "connectorId": 1, "scheduleStart": "2025-03-03T10:05:00Z",
                     "chargingSchedule": {"chargingRateUnit": "A", "duration": 600,
                                          "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}]}}
        response, asked = await asyncio.gather(
            call(emsp.cpo_token, "GET", f"{session.pk}?duration=600&response_url={active_url}"),
            cp.expect_call("GetCompositeSchedule", composite),
        )
        assert asked == {"connectorId": 1, "duration": 600}
    assert [r["body"] for r in emsp.requests_to(r"/chargingprofiles/result/1$", "POST")] == [{"result": "ACCEPTED"}]
    active = emsp.requests_to(r"/chargingprofiles/result/2$", "POST")[0]["body"]
    assert active == {"result": "ACCEPTED", "profile": {"start_date_time": "2025-03-03T10:05:00Z", "charging_profile": {
        "charging_rate_unit": "A", "duration": 600, "charging_profile_period": [{"start_period": 0, "limit": 10.0}]}}}


async def test_on_a_managed_site_the_partner_profile_caps_the_load_managers_share(
    registered_emsp, station_on_site, ocpp
):
    emsp, partner = registered_emsp
    await adb(station_on_site)(True)
    await adb(store_token)(partner=partner, token=TOKEN)
    async with ocpp("CP-P1", version="1.6") as cp:
        session = await start(cp)
        first = await cp.expect_call("SetChargingProfile", {"status": "Accepted"})
        assert first["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 32.0
        url = f"{emsp.base}/2.2.1/chargingprofiles/result/3"
        response, capped = await asyncio.gather(
            call(emsp.cpo_token, "PUT", str(session.pk), {"charging_profile": PROFILE, "response_url": url}),
            cp.expect_call("SetChargingProfile", {"status": "Accepted"}),
        )
        # Still the load manager's own profile (stack level 1), now at the partner's lowest limit.
        body = capped["csChargingProfiles"]
        assert body["stackLevel"] == 1
        assert body["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 10.0
        assert (await SessionLoadState.objects.aget(session=session)).partner_limit_w == 10 * 230 * 3
    assert [r["body"] for r in emsp.requests_to(r"/chargingprofiles/result/3$", "POST")] == [{"result": "ACCEPTED"}]


async def test_unknown_session_and_bad_profiles(registered_emsp, station_on_site):
    emsp, _ = registered_emsp
    url = f"{emsp.base}/2.2.1/chargingprofiles/result/9"
    unknown = await call(emsp.cpo_token, "PUT", "999", {"charging_profile": PROFILE, "response_url": url})
    assert unknown.status_code == 200 and unknown.json()["data"] == {"result": "UNKNOWN_SESSION", "timeout": 0}
    bad = await call(emsp.cpo_token, "PUT", "999", {"charging_profile": {"charging_rate_unit": "kW"},
                                                    "response_url": url})
    assert bad.status_code == 400 and bad.json()["status_code"] == 2001
    missing = await call(emsp.cpo_token, "GET", f"999?response_url={url}")
    assert missing.json()["status_code"] == 2001 and "duration" in missing.json()["status_message"]
    stranger = await AsyncClient().put("/ocpi/2.2.1/chargingprofiles/1", {}, content_type="application/json",
                                       headers={"Authorization": "Token bm9wZQ=="})
    assert stranger.status_code == 401
