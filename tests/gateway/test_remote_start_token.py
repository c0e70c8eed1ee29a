"""A remote-started 2.0.1 session keeps its driver: a TransactionEvent Started that carries
the remoteStartId but no idToken (a widely used simulator sends that) takes the token from
the RequestStartTransaction ChargeNet sent with that remoteStartId. RequestStartTransaction
names the token's registered type, not ``Central``, when the token is known."""

import asyncio

import pytest

from stations.commands.service import send_command_async
from stations.models import ChargingSession
from tests.conftest import adb

pytestmark = pytest.mark.django_db(transaction=True)

T0 = "2025-03-01T10:00:00Z"


async def remote_start(client, token: str) -> dict:
    sending = asyncio.create_task(send_command_async(
        station_id="CP-1", command="start_session", params={"id_token": token, "evse_id": 1}))
    request = await client.expect_call("RequestStartTransaction", {"status": "Accepted"})
    assert (await asyncio.wait_for(sending, 5)).outcome == "accepted"
    return request


def started_without_token(remote_start_id: int, transaction_id: str = "TX-R1") -> dict:
    return {
        "eventType": "Started", "timestamp": T0, "triggerReason": "RemoteStart", "seqNo": 0,
        "transactionInfo": {"transactionId": transaction_id, "remoteStartId": remote_start_id},
        "evse": {"id": 1, "connectorId": 1},
    }


async def test_started_event_without_id_token_takes_the_remote_start_token(make_station, make_token, ocpp):
    await adb(make_station)("CP-1")
    token = await adb(make_token)("04A2B3", driver_email="alice@example.com", type="ISO14443")
    async with ocpp(version="2.0.1") as client:
        request = await remote_start(client, "04A2B3")
        assert request["idToken"] == {"idToken": "04A2B3", "type": "ISO14443"}  # the registered type
        answer = await client.result("TransactionEvent", started_without_token(request["remoteStartId"]))
        assert "idTokenInfo" not in answer  # the station sent no idToken to report on

    session = await ChargingSession.objects.select_related("driver").aget(transaction_id="TX-R1")
    assert session.id_token_value == "04A2B3"
    assert session.id_token_id == token.pk
    assert session.driver is not None and session.driver.email == "alice@example.com"
    assert session.remote_start_id == request["remoteStartId"]


async def test_an_unknown_remote_start_id_leaves_the_session_without_token(make_station, make_token, ocpp):
    await adb(make_station)("CP-1")
    await adb(make_token)("04A2B3")
    async with ocpp(version="2.0.1") as client:
        request = await remote_start(client, "04A2B3")
        await client.result("TransactionEvent", started_without_token(request["remoteStartId"] + 1))
    session = await ChargingSession.objects.aget(transaction_id="TX-R1")
    assert not session.id_token_value and session.driver_id is None


async def test_an_unknown_token_is_sent_as_central(make_station, ocpp, db):
    await adb(make_station)("CP-1")
    async with ocpp(version="2.0.1") as client:
        request = await remote_start(client, "NOT-REGISTERED")
    assert request["idToken"] == {"idToken": "NOT-REGISTERED", "type": "Central"}


async def test_an_explicit_type_is_kept(make_station, make_token, ocpp):
    await adb(make_station)("CP-1")
    await adb(make_token)("04A2B3", type="ISO14443")
    async with ocpp(version="2.0.1") as client:
        sending = asyncio.create_task(send_command_async(
            station_id="CP-1", command="start_session",
            params={"id_token": "04A2B3", "id_token_type": "eMAID", "evse_id": 1}))
        request = await client.expect_call("RequestStartTransaction", {"status": "Accepted"})
        await sending
    assert request["idToken"]["type"] == "eMAID"
