"""A driver starts and stops a charge from the portal: the command reaches the station and
the portal reports its answer; another driver's session cannot be stopped."""

import asyncio

import pytest
from django.test import Client

from stations.models import ChargingSession, CommandLog
from tests.conftest import adb
from tests.stations.test_admin import in_request_thread

pytestmark = pytest.mark.django_db(transaction=True)


def driver_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


async def test_driver_starts_a_charge_with_own_card(network, ocpp):
    client = await adb(driver_client)(network.driver_a)
    async with ocpp("CP-A") as station:
        posting = asyncio.create_task(in_request_thread(client.post)(
            "/portal/start/", {"station_id": "CP-A", "evse_id": "1", "token": str(network.token_a.pk)}, follow=True))
        request = await station.expect_call("RemoteStartTransaction", {"status": "Accepted"})
        page = await posting
    assert request["idTag"] == "TOKEN-A" and request["connectorId"] == 1
    assert "Start requested: the station accepted." in page.content.decode()
    log = await CommandLog.objects.select_related("requested_by").aget()
    assert log.source == "portal" and log.requested_by.username == "driver-a"


async def test_driver_cannot_start_with_another_drivers_card(network):
    client = await adb(driver_client)(network.driver_a)
    page = await in_request_thread(client.post)(
        "/portal/start/", {"station_id": "CP-A", "token": str(network.token_b.pk)})
    assert page.status_code == 200 and "Select a valid choice" in page.content.decode()
    assert not await CommandLog.objects.aexists()


async def test_driver_stops_own_session_and_not_anothers(network, ocpp):
    session = network.session_a
    session.status = "Active"
    session.stopped_at = None
    await adb(session.save)()
    client = await adb(driver_client)(network.driver_a)
    async with ocpp("CP-A") as station:
        posting = asyncio.create_task(in_request_thread(client.post)(f"/portal/sessions/{session.pk}/stop/",
                                                                     follow=True))
        request = await station.expect_call("RemoteStopTransaction", {"status": "Accepted"})
        page = await posting
    assert request == {"transactionId": int(session.transaction_id)}
    assert "Stop requested: the station accepted." in page.content.decode()
    refused = await in_request_thread(client.post)(f"/portal/sessions/{network.session_b.pk}/stop/")
    assert refused.status_code == 404
    assert await ChargingSession.objects.filter(pk=network.session_b.pk, status="Completed").aexists()
