"""WebSocket handshakes for paths no station can have are refused (daphne: 403), never a 500.
The live variant with a real client is in tests/live/test_live_hostile_clients.py."""

import pytest
from channels.testing import WebsocketCommunicator

from stations.models import ChargingStation
from tests.conftest import PASSWORD, adb, basic_auth

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("path", [
    "/ocpp/%2F", "/ocpp/%2Fetc%2Fpasswd", "/ocpp/", "/ocpp", "/ocpp//", "/ocpp/..", "/ocpp/.", "/ocpp/%00",
    "/ocpp/CP%00-1", "/ocpp/" + "X" * 49, "/ocpp/CP 1", "/nowhere", "/ocpp/CP-1/extra",
])
async def test_handshake_for_a_path_no_station_can_have_is_refused(make_station, settings, path):
    settings.CHARGENET_AUTO_REGISTER = True  # even then, no station is created for such a path
    await adb(make_station)("CP-1")
    from chargenet.asgi import application

    communicator = WebsocketCommunicator(application, path, subprotocols=["ocpp1.6"],
                                         headers=[(b"authorization", basic_auth("CP-1", PASSWORD))])
    connected, _ = await communicator.connect(timeout=5)
    assert not connected
    await communicator.disconnect()
    assert await ChargingStation.objects.acount() == 1


async def test_a_48_character_station_id_still_connects(make_station):
    station_id = "S" * 48
    await adb(make_station)(station_id)
    from chargenet.asgi import application

    communicator = WebsocketCommunicator(application, f"/ocpp/{station_id}", subprotocols=["ocpp1.6"],
                                         headers=[(b"authorization", basic_auth(station_id, PASSWORD))])
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    await communicator.disconnect()
