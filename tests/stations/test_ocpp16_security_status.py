"""OCPP 1.6 security extension: the signed-firmware and log status notifications update the
station like their plain 1.6 counterparts (and a campaign's or log request's state)."""

import pytest

from stations.models import ChargingStation
from tests.conftest import adb

pytestmark = pytest.mark.django_db(transaction=True)


async def test_signed_firmware_and_log_status_notifications_are_recorded(make_station, ocpp):
    await adb(make_station)("CP-1")
    async with ocpp("CP-1", version="1.6") as station:
        assert await station.result("SignedFirmwareStatusNotification", {"status": "Downloading", "requestId": 4}) == {}
        assert await station.result("LogStatusNotification", {"status": "Uploading", "requestId": 5}) == {}
    recorded = await ChargingStation.objects.aget(station_id="CP-1")
    assert (recorded.firmware_status, recorded.diagnostics_status) == ("Downloading", "Uploading")
