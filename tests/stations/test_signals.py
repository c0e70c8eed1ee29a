"""The signals other apps subscribe to (portals, roaming, smart charging) fire once the
OCPP message's transaction committed, with what changed."""

import asyncio

import pytest

from stations.models import ChargingSession
from stations.signals import connector_status_changed, meter_values_recorded, station_presence_changed
from tests.conftest import adb

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def heard():
    received: list[tuple[str, dict]] = []

    def listener(name):
        def receive(sender, signal, **kwargs):
            received.append((name, kwargs))

        return receive

    receivers = {
        connector_status_changed: listener("status"),
        station_presence_changed: listener("presence"),
        meter_values_recorded: listener("meter"),
    }
    for signal, receiver in receivers.items():
        signal.connect(receiver, weak=False)
    yield received
    for signal, receiver in receivers.items():
        signal.disconnect(receiver)


async def test_presence_and_status_and_meter_values_are_announced(make_station, make_token, ocpp, heard):
    station = await adb(make_station)("CP-1")
    await adb(make_token)("TOKEN-1")
    async with ocpp("CP-1") as client:
        await client.result(
            "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Charging"}
        )
        started = await client.result(
            "StartTransaction",
            {"connectorId": 1, "idTag": "TOKEN-1", "meterStart": 0, "timestamp": "2025-03-01T10:00:00Z"},
        )
        await client.result(
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": started["transactionId"],
                "meterValue": [
                    {
                        "timestamp": "2025-03-01T10:05:00Z",
                        "sampledValue": [{"value": "500", "measurand": "Energy.Active.Import.Register"}],
                    }
                ],
            },
        )
    for _ in range(50):  # the disconnect is handled after the socket closed
        if ("presence", {"station_pk": station.pk, "online": False}) in heard:
            break
        await asyncio.sleep(0.02)
    session = await ChargingSession.objects.aget(transaction_id=str(started["transactionId"]))
    assert heard[0] == ("presence", {"station_pk": station.pk, "online": True})
    assert (
        "status",
        {"station_pk": station.pk, "evse_id": 1, "connector_id": 1, "status": "Charging", "error_code": ""},
    ) in heard
    assert ("meter", {"station_pk": station.pk, "session_pks": [session.pk]}) in heard
    assert heard[-1] == ("presence", {"station_pk": station.pk, "online": False})
