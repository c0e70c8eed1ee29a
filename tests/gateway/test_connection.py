"""Who may connect to /ocpp/<station_id>, and with which OCPP version."""

import pytest

from stations.models import ChargingStation
from tests.conftest import PASSWORD, adb, basic_auth, ocpp_connection

pytestmark = pytest.mark.django_db(transaction=True)


async def test_registered_station_connects_with_its_password(make_station):
    await adb(make_station)("CP-1")
    async with ocpp_connection("CP-1", PASSWORD) as (connected, client):
        assert connected
        assert client.subprotocol == "ocpp1.6"
        station = await ChargingStation.objects.aget(station_id="CP-1")
        assert station.is_online and station.ocpp_version == "1.6"
    station = await ChargingStation.objects.aget(station_id="CP-1")
    assert not station.is_online


async def test_server_prefers_201_when_station_offers_both(make_station):
    await adb(make_station)("CP-1")
    async with ocpp_connection("CP-1", PASSWORD, subprotocols=["ocpp1.6", "ocpp2.0.1"]) as (connected, client):
        assert connected and client.subprotocol == "ocpp2.0.1"


async def test_unknown_station_is_refused_at_handshake(make_station):
    async with ocpp_connection("NOPE", PASSWORD) as (connected, _client):
        assert not connected


async def test_wrong_password_is_refused(make_station):
    await adb(make_station)("CP-1")
    async with ocpp_connection("CP-1", "wrong-password-0123456789") as (connected, _client):
        assert not connected


async def test_missing_credentials_are_refused(make_station):
    await adb(make_station)("CP-1")
    async with ocpp_connection("CP-1", None) as (connected, _client):
        assert not connected


async def test_credentials_of_another_station_are_refused(make_station):
    await adb(make_station)("CP-1")
    await adb(make_station)("CP-2")
    headers = [(b"authorization", basic_auth("CP-2", PASSWORD))]
    async with ocpp_connection("CP-1", headers=headers) as (connected, _client):
        assert not connected


async def test_security_profile_0_station_connects_without_password(make_station):
    await adb(make_station)("OPEN-1", password=None, security_profile=0)
    async with ocpp_connection("OPEN-1", None) as (connected, _client):
        assert connected


async def test_station_without_password_at_profile_1_is_refused(make_station):
    await adb(make_station)("CP-1", password=None, security_profile=1)
    async with ocpp_connection("CP-1", None) as (connected, _client):
        assert not connected


async def test_no_supported_subprotocol_completes_handshake_then_closes(make_station):
    await adb(make_station)("CP-1")
    async with ocpp_connection("CP-1", PASSWORD, subprotocols=["ocpp1.5"]) as (connected, client):
        # OCPP-J: the upgrade completes without Sec-WebSocket-Protocol and is closed at once.
        assert connected and client.subprotocol is None
        closed = await client.communicator.receive_output(timeout=2)
        assert closed == {"type": "websocket.close", "code": 4002}
        station = await ChargingStation.objects.aget(station_id="CP-1")
        assert not station.is_online


async def test_no_subprotocol_offered_is_closed(make_station):
    await adb(make_station)("CP-1")
    async with ocpp_connection("CP-1", PASSWORD, subprotocols=[]) as (connected, client):
        assert client.subprotocol is None
        assert (await client.communicator.receive_output(timeout=2))["type"] == "websocket.close"


async def test_second_connection_replaces_the_first(make_station):
    await adb(make_station)("CP-1")
    async with ocpp_connection("CP-1", PASSWORD) as (connected1, first):
        assert connected1
        async with ocpp_connection("CP-1", PASSWORD) as (connected2, second):
            assert connected2
            closed = await first.communicator.receive_output(timeout=2)
            assert closed == {"type": "websocket.close", "code": 4000}
            # The new connection works and the station stays online after the old one went.
            answer = await second.result("Heartbeat", {})
            assert "currentTime" in answer
            station = await ChargingStation.objects.aget(station_id="CP-1")
            assert station.is_online


async def test_auto_register_holds_unknown_station_as_pending(settings, db):
    settings.CHARGENET_AUTO_REGISTER = True
    async with ocpp_connection("NEW-1", None) as (connected, client):
        assert connected
        boot = await client.result("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        assert boot["status"] == "Pending"
        refused = await client.call("Heartbeat", {})
        assert refused[0] == 3  # heartbeats are allowed while pending
        refused = await client.call("Authorize", {"idTag": "X"})
        assert refused[0] == 4 and refused[2] == "SecurityError"
    station = await ChargingStation.objects.aget(station_id="NEW-1")
    assert station.registration_status == "Pending"


async def test_a_slow_frame_holds_up_the_stations_next_frames_but_not_a_command_to_it(make_station, ocpp, monkeypatch):
    """A station's frames are handled one after another, in order; events from other
    processes (a command) are read beside them, so the CSMS reaches a station whose frame
    is still being handled."""
    import asyncio

    from gateway.v16 import StationHandler16
    from stations.commands.service import send_command_async

    await adb(make_station)("CP-1")
    release = asyncio.Event()
    original = StationHandler16.route_message

    async def slow_first(self, raw_msg):
        if '"slow-1"' in raw_msg:
            await release.wait()
        return await original(self, raw_msg)

    monkeypatch.setattr(StationHandler16, "route_message", slow_first)
    async with ocpp(version="1.6") as station:
        await station.send_frame([2, "slow-1", "Heartbeat", {}])
        await station.send_frame([2, "next-1", "Heartbeat", {}])
        sending = asyncio.create_task(send_command_async(station_id="CP-1", command="reset", params={"type": "hard"}))
        call = await station.receive_frame()
        assert call[0] == 2 and call[2] == "Reset" and not release.is_set()
        await station.send_frame([3, call[1], {"status": "Accepted"}])
        release.set()
        answers = [await station.receive_frame(), await station.receive_frame()]
        assert [(a[0], a[1]) for a in answers] == [(3, "slow-1"), (3, "next-1")]
        assert (await sending).outcome == "accepted"
