"""Commands from the partner: answered at once, carried out over OCPP, reported to response_url."""

import asyncio
import base64
from datetime import timedelta

import pytest
from django.test import AsyncClient
from django.utils import timezone

from roaming.models import PartnerReservation
from stations.models import CommandLog, Site
from tests.conftest import adb

pytestmark = pytest.mark.django_db(transaction=True)


def station_on_site(make_station):
    site = Site.objects.create(name="Depot", country="DE")
    make_station("CP-C1", site=site)
    return site


async def command(partner_token: str, kind: str, body: dict):
    header = "Token " + base64.b64encode(partner_token.encode()).decode()
    return await AsyncClient().post(f"/ocpi/2.2.1/commands/{kind}", body, content_type="application/json",
                                    headers={"Authorization": header})


async def test_start_session_is_accepted_sent_to_the_station_and_reported(registered_emsp, make_station, ocpp):
    emsp, partner = registered_emsp
    site = await adb(station_on_site)(make_station)
    async with ocpp("CP-C1", version="1.6") as cp:
        await cp.result("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"})
        token = {"uid": "APP-USER-9", "type": "APP_USER", "country_code": "NL", "party_id": "EMS",
                 "contract_id": "NL-EMS-9", "issuer": "Test eMSP", "valid": True, "whitelist": "ALLOWED",
                 "last_updated": "2025-03-01T00:00:00Z"}
        body = {"response_url": f"{emsp.base}/2.2.1/commands/START_SESSION/42", "location_id": str(site.pk),
                "evse_uid": "CP-C1-1", "token": token, "authorization_reference": "REF-9"}
        response, call = await asyncio.gather(
            command(emsp.cpo_token, "START_SESSION", body),
            cp.expect_call("RemoteStartTransaction", {"status": "Accepted"}),
        )
        # The station starts with the token the command carried: known, no real-time request.
        started = await cp.result("StartTransaction", {"connectorId": 1, "idTag": "APP-USER-9", "meterStart": 0,
                                                       "timestamp": "2025-03-03T10:00:00Z"})
        assert started["idTagInfo"]["status"] == "Accepted"
    assert call == {"connectorId": 1, "idTag": "APP-USER-9"}
    assert not emsp.requests_to(r"/authorize")
    session = emsp.requests_to(r"/sessions/DE/CNT/\d+$", "PUT")[0]["body"]
    assert session["cdr_token"]["contract_id"] == "NL-EMS-9" and session["authorization_reference"] == "REF-9"
    assert response.status_code == 200
    assert response.json()["data"] == {"result": "ACCEPTED", "timeout": 60}
    result = emsp.requests_to(r"/commands/START_SESSION/42$", "POST")
    assert [r["body"] for r in result] == [{"result": "ACCEPTED"}]
    log = await CommandLog.objects.aget()
    assert (log.source, log.command, log.outcome) == ("ocpi", "start_session", "accepted")


async def test_a_command_to_an_offline_station_reports_evse_inoperative(registered_emsp, make_station):
    emsp, partner = registered_emsp
    site = await adb(station_on_site)(make_station)
    body = {"response_url": f"{emsp.base}/2.2.1/commands/UNLOCK/1", "location_id": str(site.pk),
            "evse_uid": "CP-C1-1", "connector_id": "1"}
    await adb(_make_evse)()
    response = await command(emsp.cpo_token, "UNLOCK_CONNECTOR", body)
    assert response.json()["data"]["result"] == "ACCEPTED"
    result = emsp.requests_to(r"/commands/UNLOCK/1$", "POST")[0]["body"]
    assert result["result"] == "EVSE_INOPERATIVE"


def _make_evse():
    from stations.models import ChargingStation, Connector, Evse

    evse = Evse.objects.create(station=ChargingStation.objects.get(station_id="CP-C1"), evse_id=1)
    Connector.objects.create(evse=evse, connector_id=1)


async def test_reserve_now_then_cancel_by_the_partners_reservation_id(registered_emsp, make_station, ocpp):
    emsp, partner = registered_emsp
    site = await adb(station_on_site)(make_station)
    expiry = (timezone.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    async with ocpp("CP-C1", version="1.6") as cp:
        await cp.result("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"})
        reserve = {"response_url": f"{emsp.base}/r/1", "location_id": str(site.pk), "evse_uid": "CP-C1-1",
                   "reservation_id": "EMSP-RES-1", "expiry_date": expiry,
                   "token": {"uid": "CARD-5", "type": "RFID"}}
        _, reserved = await asyncio.gather(command(emsp.cpo_token, "RESERVE_NOW", reserve),
                                           cp.expect_call("ReserveNow", {"status": "Accepted"}))
        mapping = await PartnerReservation.objects.aget(ocpi_id="EMSP-RES-1")
        assert reserved["reservationId"] == mapping.reservation_id
        cancel = {"response_url": f"{emsp.base}/r/2", "reservation_id": "EMSP-RES-1"}
        _, cancelled = await asyncio.gather(command(emsp.cpo_token, "CANCEL_RESERVATION", cancel),
                                            cp.expect_call("CancelReservation", {"status": "Accepted"}))
    assert cancelled == {"reservationId": mapping.reservation_id}
    assert [r["body"]["result"] for r in emsp.requests_to(r"/r/\d$")] == ["ACCEPTED", "ACCEPTED"]


@pytest.mark.parametrize("kind, body, status", [
    ("START_SESSION", {"location_id": "1", "token": {"uid": "X"}}, 2001),  # no response_url
    ("STOP_SESSION", {"response_url": "http://x/1", "session_id": "404"}, 2001),
    ("START_SESSION", {"response_url": "http://x/1", "location_id": "999", "token": {"uid": "X"}}, 2003),
    ("EXPLODE", {"response_url": "http://x/1"}, 2001),
])
async def test_bad_commands_are_refused_at_once_and_nothing_is_sent(registered_emsp, make_station, kind, body,
                                                                    status):
    emsp, partner = registered_emsp
    await adb(station_on_site)(make_station)
    response = await command(emsp.cpo_token, kind, body)
    assert response.json()["status_code"] == status and response.status_code in (400, 404)
    assert not await CommandLog.objects.aexists()


async def test_stop_session_stops_the_partners_session_by_its_ocpi_id(registered_emsp, make_station, ocpp, cpo):
    emsp, partner = registered_emsp
    site = await adb(station_on_site)(make_station)
    emsp.authorizations["CARD-S"] = "ALLOWED"
    async with ocpp("CP-C1", version="1.6") as cp:
        started = await cp.result("StartTransaction", {"connectorId": 1, "idTag": "CARD-S", "meterStart": 0,
                                                       "timestamp": "2025-03-03T10:00:00Z"})
        session_id = emsp.requests_to(r"/sessions/DE/CNT/\d+$", "PUT")[0]["body"]["id"]
        body = {"response_url": f"{emsp.base}/stop/1", "session_id": session_id}
        response, call = await asyncio.gather(command(emsp.cpo_token, "STOP_SESSION", body),
                                              cp.expect_call("RemoteStopTransaction", {"status": "Accepted"}))
    assert site.pk and call == {"transactionId": started["transactionId"]}
    assert response.json()["data"]["result"] == "ACCEPTED"
    assert emsp.requests_to(r"/stop/1$")[0]["body"] == {"result": "ACCEPTED"}
