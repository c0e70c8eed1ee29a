"""Operators run stations from the admin: live state, commands with their outcome."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import connections
from django.test import Client

from stations.models import ChargingStation, CommandLog, Reservation
from tests.conftest import adb

pytestmark = pytest.mark.django_db(transaction=True)


def in_request_thread(func):
    """Run a sync view call as daphne does: in a thread of its own. (The shared sync
    thread belongs to the consumers; a view blocking it would stall their events.)"""

    def run(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        finally:
            connections.close_all()  # the test client keeps them open; this thread is done

    return sync_to_async(run, thread_sensitive=False)


def messages_of(page) -> str:
    html = page.content.decode()
    start = html.find('<ul class="messagelist">')
    return html[start:html.find("</ul>", start)] if start >= 0 else ""


def admin_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("ops", "ops@example.com", "x"))
    return client


async def test_station_page_shows_live_state_and_last_messages(make_station, ocpp):
    station = await adb(make_station)("CP-1")
    client = await adb(admin_client)()
    async with ocpp(version="1.6") as cp:
        await cp.result("BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "Wallbox"})
        await cp.result("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Charging"})
        page = await in_request_thread(client.get)(f"/admin/stations/chargingstation/{station.pk}/change/")
        html = page.content.decode()
    assert page.status_code == 200
    assert "Online" in html and "OCPP 1.6" in html
    assert "<td>Charging</td>" in html
    assert "BootNotification" in html  # the last frames, asked from the connection itself


async def test_command_form_sends_and_shows_the_outcome(make_station, ocpp):
    station = await adb(make_station)("CP-1")
    client = await adb(admin_client)()
    async with ocpp(version="2.0.1") as cp:
        posting = asyncio.create_task(in_request_thread(client.post)(
            f"/admin/stations/chargingstation/{station.pk}/command/",
            {"command": "unlock_connector", "params": "evse_id=2\nconnector_id=1"}, follow=True,
        ))
        request = await cp.expect_call("UnlockConnector", {"status": "Unlocked"})
        page = await posting
    assert request == {"evseId": 2, "connectorId": 1}
    assert "CP-1: unlock_connector → accepted (Unlocked)" in messages_of(page)
    log = await CommandLog.objects.select_related("requested_by").aget()
    assert log.source == "admin" and log.requested_by.username == "ops"


async def test_admin_action_resets_selected_stations(make_station, ocpp):
    station = await adb(make_station)("CP-1")
    client = await adb(admin_client)()
    async with ocpp(version="1.6") as cp:
        posting = asyncio.create_task(in_request_thread(client.post)(
            "/admin/stations/chargingstation/",
            {"action": "command_reset_hard", "_selected_action": [station.pk]}, follow=True,
        ))
        assert await cp.expect_call("Reset", {"status": "Accepted"}) == {"type": "Hard"}
        page = await posting
    assert "CP-1: reset → accepted (Accepted)" in messages_of(page)


def test_command_to_offline_station_shows_offline(make_station):
    station = make_station("CP-1")
    page = admin_client().post(
        f"/admin/stations/chargingstation/{station.pk}/command/", {"command": "reset", "params": ""}, follow=True
    )
    assert "CP-1: reset → offline" in messages_of(page)


def test_bad_parameters_are_shown_not_sent(make_station):
    station = make_station("CP-1")
    page = admin_client().post(
        f"/admin/stations/chargingstation/{station.pk}/command/",
        {"command": "start_session", "params": "evse_id=1"}, follow=True,
    )
    assert "invalid parameters" in messages_of(page).lower() and "id_token" in messages_of(page)
    assert not CommandLog.objects.exists()


async def test_reservation_status_update_expires_the_reservation(make_station, ocpp):
    station = await adb(make_station)("CP-1")
    reservation = await Reservation.objects.acreate(
        station=station, evse_id=1, id_token_value="X", expires_at="2030-01-01T00:00:00Z", status="Accepted"
    )
    async with ocpp(version="2.0.1") as cp:
        await cp.result("ReservationStatusUpdate", {"reservationId": reservation.pk,
                                                    "reservationUpdateStatus": "Expired"})
    assert (await Reservation.objects.aget(pk=reservation.pk)).status == "Expired"
    assert await ChargingStation.objects.filter(pk=station.pk).aexists()


async def test_starting_on_a_reservation_uses_it(make_station, make_token, ocpp):
    station = await adb(make_station)("CP-1")
    await adb(make_token)("TOKEN-1")
    reservation = await Reservation.objects.acreate(
        station=station, evse_id=1, id_token_value="TOKEN-1", expires_at="2030-01-01T00:00:00Z", status="Accepted"
    )
    async with ocpp(version="1.6") as cp:
        await cp.result("StartTransaction", {"connectorId": 1, "idTag": "TOKEN-1", "meterStart": 0,
                                             "timestamp": "2026-11-27T10:00:00Z", "reservationId": reservation.pk})
    assert (await Reservation.objects.aget(pk=reservation.pk)).status == "Used"
