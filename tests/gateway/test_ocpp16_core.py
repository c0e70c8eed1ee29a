"""OCPP 1.6J core messages a station sends, as real frames through the ASGI stack:
what the CSMS answers and what it keeps."""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings

from stations.models import (
    ChargingStation,
    Connector,
    ConnectorStatusChange,
    Evse,
    IdTokenStatus,
    StationEvent,
)
from tests.conftest import adb

pytestmark = pytest.mark.django_db(transaction=True)


def utc(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def assert_is_now(value: str) -> None:
    """An OCPP timestamp the CSMS just produced: RFC 3339 in UTC, within a few seconds."""
    assert value.endswith("Z"), value
    assert abs(utc(value) - datetime.now(UTC)) < timedelta(seconds=5)


@pytest.fixture
async def station(make_station):
    return await adb(make_station)("CP-1")


# --- BootNotification ---------------------------------------------------------------


async def test_boot_notification_is_accepted_with_interval_and_current_time(station, ocpp):
    async with ocpp("CP-1") as client:
        answer = await client.result(
            "BootNotification", {"chargePointVendor": "ChargeCo", "chargePointModel": "Wallbox-22"}
        )
    assert set(answer) == {"status", "interval", "currentTime"}
    assert answer["status"] == "Accepted"
    assert answer["interval"] == settings.OCPP_HEARTBEAT_INTERVAL
    assert_is_now(answer["currentTime"])


async def test_boot_notification_stores_vendor_model_serial_and_firmware(station, ocpp):
    async with ocpp("CP-1") as client:
        await client.result(
            "BootNotification",
            {
                "chargePointVendor": "ChargeCo",
                "chargePointModel": "Wallbox-22",
                "chargePointSerialNumber": "SN-0001",
                "firmwareVersion": "1.2.3",
                "iccid": "89310410106543789301",
                "imsi": "310150123456789",
            },
        )
    stored = await ChargingStation.objects.aget(station_id="CP-1")
    assert (stored.vendor, stored.model, stored.serial_number, stored.firmware_version) == (
        "ChargeCo", "Wallbox-22", "SN-0001", "1.2.3",
    )
    assert (stored.iccid, stored.imsi) == ("89310410106543789301", "310150123456789")
    assert stored.last_boot_at is not None


async def test_boot_notification_falls_back_to_charge_box_serial_number(station, ocpp):
    async with ocpp("CP-1") as client:
        await client.result(
            "BootNotification",
            {"chargePointVendor": "ChargeCo", "chargePointModel": "Wallbox-22", "chargeBoxSerialNumber": "BOX-7"},
        )
    stored = await ChargingStation.objects.aget(station_id="CP-1")
    assert stored.serial_number == "BOX-7"


async def test_new_boot_notification_overwrites_the_previous_identity(station, ocpp):
    async with ocpp("CP-1") as client:
        first = {"chargePointVendor": "ChargeCo", "chargePointModel": "Wallbox-22", "firmwareVersion": "1.0"}
        await client.result("BootNotification", first)
        await client.result("BootNotification", {**first, "firmwareVersion": "1.1"})
    stored = await ChargingStation.objects.aget(station_id="CP-1")
    assert stored.firmware_version == "1.1"


# --- Heartbeat ----------------------------------------------------------------------


async def test_heartbeat_answers_with_current_time_only(station, ocpp):
    async with ocpp("CP-1") as client:
        answer = await client.result("Heartbeat", {})
    assert list(answer) == ["currentTime"]
    assert_is_now(answer["currentTime"])


# --- StatusNotification -------------------------------------------------------------


async def test_status_notification_sets_connector_status_and_history(station, ocpp):
    async with ocpp("CP-1") as client:
        answer = await client.result(
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": "2025-03-01T10:00:00Z"},
        )
    assert answer == {}
    connector = await Connector.objects.aget(evse__station=station, evse__evse_id=1, connector_id=1)
    assert connector.status == "Charging"
    assert connector.error_code == ""  # NoError is the absence of an error
    assert connector.status_at == utc("2025-03-01T10:00:00+00:00")
    history = [row async for row in ConnectorStatusChange.objects.filter(connector=connector)]
    assert [(h.status, h.timestamp) for h in history] == [("Charging", utc("2025-03-01T10:00:00+00:00"))]


async def test_status_notification_keeps_error_code_info_and_vendor_error(station, ocpp):
    async with ocpp("CP-1") as client:
        await client.result(
            "StatusNotification",
            {
                "connectorId": 2,
                "errorCode": "GroundFailure",
                "status": "Faulted",
                "info": "RCD tripped",
                "vendorErrorCode": "E-42",
                "timestamp": "2025-03-01T10:00:00Z",
            },
        )
    connector = await Connector.objects.aget(evse__station=station, evse__evse_id=2, connector_id=1)
    assert (connector.status, connector.error_code, connector.info, connector.vendor_error_code) == (
        "Faulted", "GroundFailure", "RCD tripped", "E-42",
    )


async def test_status_notification_for_connector_0_sets_the_station_status(station, ocpp):
    async with ocpp("CP-1") as client:
        await client.result(
            "StatusNotification",
            {"connectorId": 0, "errorCode": "NoError", "status": "Unavailable", "timestamp": "2025-03-01T10:00:00Z"},
        )
    stored = await ChargingStation.objects.aget(pk=station.pk)
    assert stored.status == "Unavailable"
    assert await Evse.objects.filter(station=station).acount() == 0  # connector 0 is not an EVSE


async def test_older_station_status_does_not_overwrite_a_newer_one(station, ocpp):
    async with ocpp("CP-1") as client:
        for status, at in [("Unavailable", "2025-03-01T10:00:00Z"), ("Available", "2025-03-01T09:00:00Z")]:
            await client.result(
                "StatusNotification", {"connectorId": 0, "errorCode": "NoError", "status": status, "timestamp": at}
            )
    assert (await ChargingStation.objects.aget(pk=station.pk)).status == "Unavailable"


async def test_older_status_notification_goes_to_history_without_overwriting(station, ocpp):
    async with ocpp("CP-1") as client:
        await client.result(
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": "2025-03-01T10:05:00Z"},
        )
        # A station replaying its queue after an outage: an earlier report arrives later.
        await client.result(
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Preparing", "timestamp": "2025-03-01T10:00:00Z"},
        )
    connector = await Connector.objects.aget(evse__station=station, evse__evse_id=1, connector_id=1)
    assert connector.status == "Charging"
    assert connector.status_at == utc("2025-03-01T10:05:00+00:00")
    history = [row.status async for row in ConnectorStatusChange.objects.filter(connector=connector)]
    assert history == ["Charging", "Preparing"]  # newest first


async def test_newer_status_notification_replaces_the_current_state(station, ocpp):
    async with ocpp("CP-1") as client:
        for status, at in [("Preparing", "10:00"), ("Charging", "10:01"), ("Finishing", "10:30")]:
            await client.result(
                "StatusNotification",
                {"connectorId": 1, "errorCode": "NoError", "status": status, "timestamp": f"2025-03-01T{at}:00Z"},
            )
    connector = await Connector.objects.aget(evse__station=station, evse__evse_id=1, connector_id=1)
    assert connector.status == "Finishing"
    assert await ConnectorStatusChange.objects.filter(connector=connector).acount() == 3


# --- Authorize ----------------------------------------------------------------------


async def test_authorize_accepts_a_known_token(station, make_token, ocpp):
    await adb(make_token)("TOKEN-1")
    async with ocpp("CP-1") as client:
        answer = await client.result("Authorize", {"idTag": "TOKEN-1"})
    assert answer == {"idTagInfo": {"status": "Accepted"}}


async def test_authorize_reports_the_expiry_date_of_an_accepted_token(station, make_token, ocpp):
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    await adb(make_token)("TOKEN-1", expires_at=expires)
    async with ocpp("CP-1") as client:
        answer = await client.result("Authorize", {"idTag": "TOKEN-1"})
    assert answer["idTagInfo"]["status"] == "Accepted"
    assert utc(answer["idTagInfo"]["expiryDate"]) == expires


async def test_authorize_answers_invalid_for_an_unknown_token(station, ocpp):
    async with ocpp("CP-1") as client:
        answer = await client.result("Authorize", {"idTag": "NOBODY"})
    assert answer == {"idTagInfo": {"status": "Invalid"}}


async def test_authorize_answers_blocked_for_a_blocked_token(station, make_token, ocpp):
    await adb(make_token)("TOKEN-1", status=IdTokenStatus.BLOCKED)
    async with ocpp("CP-1") as client:
        answer = await client.result("Authorize", {"idTag": "TOKEN-1"})
    assert answer == {"idTagInfo": {"status": "Blocked"}}


async def test_authorize_answers_expired_for_a_token_past_its_expiry(station, make_token, ocpp):
    await adb(make_token)("TOKEN-1", expires_at=datetime.now(UTC) - timedelta(minutes=1))
    async with ocpp("CP-1") as client:
        answer = await client.result("Authorize", {"idTag": "TOKEN-1"})
    assert answer["idTagInfo"]["status"] == "Expired"


# --- DataTransfer -------------------------------------------------------------------


async def test_data_transfer_is_recorded_raw_and_answered_unknown_vendor(station, ocpp):
    payload = {"vendorId": "com.acme", "messageId": "CableTemp", "data": '{"cableTempC": 41, "inletOK": true}'}
    async with ocpp("CP-1") as client:
        answer = await client.result("DataTransfer", payload)
    assert answer == {"status": "UnknownVendorId"}
    event = await StationEvent.objects.aget(station=station)
    assert event.kind == StationEvent.Kind.DATA_TRANSFER
    assert event.summary == "com.acme CableTemp"
    assert event.payload == payload


# --- Firmware and diagnostics status ------------------------------------------------


async def test_firmware_status_notification_is_stored_on_the_station(station, ocpp):
    async with ocpp("CP-1") as client:
        assert await client.result("FirmwareStatusNotification", {"status": "Downloading"}) == {}
        assert await client.result("FirmwareStatusNotification", {"status": "Installed"}) == {}
    stored = await ChargingStation.objects.aget(pk=station.pk)
    assert stored.firmware_status == "Installed"
    assert stored.firmware_status_at is not None


async def test_diagnostics_status_notification_is_stored_on_the_station(station, ocpp):
    async with ocpp("CP-1") as client:
        assert await client.result("DiagnosticsStatusNotification", {"status": "Uploaded"}) == {}
    stored = await ChargingStation.objects.aget(pk=station.pk)
    assert stored.diagnostics_status == "Uploaded"
    assert stored.diagnostics_status_at is not None
