"""OCPP 2.0.1 messages a station sends outside transactions, as real frames through the
ASGI stack: what the CSMS answers and what it keeps."""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings

from stations.models import (
    ChargingSession,
    ChargingStation,
    Connector,
    ConnectorStatusChange,
    DeviceModelVariable,
    IdTokenStatus,
    Measurand,
    MeterSample,
    Phase,
    StationEvent,
)
from tests.conftest import adb

pytestmark = pytest.mark.django_db(transaction=True)

T0 = "2025-03-01T10:00:00Z"


def utc(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def assert_is_now(value: str) -> None:
    assert value.endswith("Z"), value
    assert abs(utc(value) - datetime.now(UTC)) < timedelta(seconds=5)


@pytest.fixture
async def station(make_station):
    return await adb(make_station)("CS-1")


@pytest.fixture
def ocpp201(ocpp):
    def connect(station_id: str = "CS-1"):
        return ocpp(station_id, version="2.0.1")

    return connect


# --- BootNotification ---------------------------------------------------------------


async def test_boot_notification_is_accepted_with_interval_and_current_time(station, ocpp201):
    async with ocpp201() as client:
        answer = await client.result(
            "BootNotification",
            {"chargingStation": {"model": "Wallbox-22", "vendorName": "ChargeCo"}, "reason": "PowerUp"},
        )
    assert set(answer) == {"status", "interval", "currentTime"}
    assert answer["status"] == "Accepted"
    assert answer["interval"] == settings.OCPP_HEARTBEAT_INTERVAL
    assert_is_now(answer["currentTime"])


async def test_boot_notification_stores_the_charging_station_and_reason(station, ocpp201):
    async with ocpp201() as client:
        await client.result(
            "BootNotification",
            {
                "chargingStation": {
                    "model": "Wallbox-22",
                    "vendorName": "ChargeCo Industries",
                    "serialNumber": "SN-2001",
                    "firmwareVersion": "2.0.1-r5",
                    "modem": {"iccid": "89310410106543789301", "imsi": "310150123456789"},
                },
                "reason": "FirmwareUpdate",
            },
        )
    stored = await ChargingStation.objects.aget(pk=station.pk)
    assert (stored.vendor, stored.model, stored.serial_number, stored.firmware_version) == (
        "ChargeCo Industries", "Wallbox-22", "SN-2001", "2.0.1-r5",
    )
    assert (stored.iccid, stored.imsi) == ("89310410106543789301", "310150123456789")
    assert stored.boot_reason == "FirmwareUpdate"


# --- Heartbeat ----------------------------------------------------------------------


async def test_heartbeat_answers_with_current_time_only(station, ocpp201):
    async with ocpp201() as client:
        answer = await client.result("Heartbeat", {})
    assert list(answer) == ["currentTime"]
    assert_is_now(answer["currentTime"])


# --- StatusNotification -------------------------------------------------------------


async def test_status_notification_sets_status_of_the_evse_connector(station, ocpp201):
    async with ocpp201() as client:
        answer = await client.result(
            "StatusNotification", {"timestamp": T0, "connectorStatus": "Occupied", "evseId": 2, "connectorId": 3}
        )
    assert answer == {}
    connector = await Connector.objects.aget(evse__station=station, evse__evse_id=2, connector_id=3)
    assert connector.status == "Occupied"
    assert connector.status_at == utc("2025-03-01T10:00:00+00:00")
    assert await ConnectorStatusChange.objects.filter(connector=connector, status="Occupied").acount() == 1


async def test_status_notifications_of_two_connectors_on_one_evse_stay_apart(station, ocpp201):
    async with ocpp201() as client:
        for connector_id, status in [(1, "Occupied"), (2, "Unavailable")]:
            await client.result(
                "StatusNotification",
                {"timestamp": T0, "connectorStatus": status, "evseId": 1, "connectorId": connector_id},
            )
    statuses = {
        c.connector_id: c.status async for c in Connector.objects.filter(evse__station=station, evse__evse_id=1)
    }
    assert statuses == {1: "Occupied", 2: "Unavailable"}


async def test_older_status_notification_does_not_overwrite_the_current_state(station, ocpp201):
    async with ocpp201() as client:
        for status, at in [("Faulted", "10:05"), ("Available", "10:00")]:
            await client.result(
                "StatusNotification",
                {"timestamp": f"2025-03-01T{at}:00Z", "connectorStatus": status, "evseId": 1, "connectorId": 1},
            )
    connector = await Connector.objects.aget(evse__station=station, evse__evse_id=1, connector_id=1)
    assert connector.status == "Faulted"
    assert await ConnectorStatusChange.objects.filter(connector=connector).acount() == 2


# --- Authorize ----------------------------------------------------------------------


async def test_authorize_accepts_a_known_id_token(station, make_token, ocpp201):
    await adb(make_token)("TOKEN-1")
    async with ocpp201() as client:
        answer = await client.result("Authorize", {"idToken": {"idToken": "TOKEN-1", "type": "ISO14443"}})
    assert answer == {"idTokenInfo": {"status": "Accepted"}}


async def test_authorize_accepts_no_authorization_type_without_a_token(station, ocpp201):
    async with ocpp201() as client:
        answer = await client.result("Authorize", {"idToken": {"idToken": "", "type": "NoAuthorization"}})
    assert answer == {"idTokenInfo": {"status": "Accepted"}}


async def test_authorize_answers_invalid_for_an_unknown_id_token(station, ocpp201):
    async with ocpp201() as client:
        answer = await client.result("Authorize", {"idToken": {"idToken": "NOBODY", "type": "ISO14443"}})
    assert answer == {"idTokenInfo": {"status": "Invalid"}}


async def test_authorize_answers_blocked_for_a_blocked_id_token(station, make_token, ocpp201):
    await adb(make_token)("TOKEN-1", status=IdTokenStatus.BLOCKED)
    async with ocpp201() as client:
        answer = await client.result("Authorize", {"idToken": {"idToken": "TOKEN-1", "type": "ISO14443"}})
    assert answer == {"idTokenInfo": {"status": "Blocked"}}


async def test_authorize_answers_expired_with_the_expiry_time(station, make_token, ocpp201):
    expired = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    await adb(make_token)("TOKEN-1", expires_at=expired)
    async with ocpp201() as client:
        answer = await client.result("Authorize", {"idToken": {"idToken": "TOKEN-1", "type": "ISO14443"}})
    assert answer["idTokenInfo"]["status"] == "Expired"
    assert utc(answer["idTokenInfo"]["cacheExpiryDateTime"]) == expired


# --- NotifyReport -------------------------------------------------------------------


def report_item(component: dict, variable: str, *attributes: dict, characteristics: dict | None = None) -> dict:
    item = {"component": component, "variable": {"name": variable}, "variableAttribute": list(attributes)}
    if characteristics is not None:
        item["variableCharacteristics"] = characteristics
    return item


async def test_notify_report_stores_one_row_per_variable_attribute(station, ocpp201):
    async with ocpp201() as client:
        answer = await client.result(
            "NotifyReport",
            {
                "requestId": 1,
                "generatedAt": T0,
                "seqNo": 0,
                "reportData": [
                    report_item(
                        {"name": "EVSE", "evse": {"id": 1}},
                        "Power",
                        {"type": "Actual", "value": "0", "mutability": "ReadOnly"},
                        {"type": "MaxSet", "value": "22000", "mutability": "ReadOnly", "persistent": True,
                         "constant": True},
                        characteristics={"unit": "W", "dataType": "decimal", "maxLimit": 22000,
                                         "supportsMonitoring": True},
                    ),
                    report_item(
                        {"name": "Connector", "evse": {"id": 1, "connectorId": 2}},
                        "ConnectorType",
                        {"value": "cType2"},  # type defaults to Actual
                    ),
                ],
            },
        )
    assert answer == {}
    rows = {
        (v.component, v.evse_id, v.connector_id, v.variable, v.attribute_type): v
        async for v in DeviceModelVariable.objects.filter(station=station)
    }
    assert set(rows) == {
        ("EVSE", 1, 0, "Power", "Actual"),
        ("EVSE", 1, 0, "Power", "MaxSet"),
        ("Connector", 1, 2, "ConnectorType", "Actual"),
    }
    max_power = rows[("EVSE", 1, 0, "Power", "MaxSet")]
    assert (max_power.value, max_power.mutability, max_power.persistent, max_power.constant) == (
        "22000", "ReadOnly", True, True,
    )
    assert max_power.characteristics == {
        "unit": "W", "dataType": "decimal", "maxLimit": 22000, "supportsMonitoring": True,
    }
    assert max_power.reported_at == utc("2025-03-01T10:00:00+00:00")


async def test_multi_part_notify_report_stores_every_part(station, ocpp201):
    async with ocpp201() as client:
        for seq_no, (component, tbc) in enumerate([("OCPPCommCtrlr", True), ("SecurityCtrlr", True),
                                                   ("AuthCtrlr", False)]):
            payload = {
                "requestId": 7,
                "generatedAt": T0,
                "seqNo": seq_no,
                "tbc": tbc,
                "reportData": [report_item({"name": component}, "Enabled", {"value": "true"})],
            }
            assert await client.result("NotifyReport", payload) == {}
    components = [v.component async for v in DeviceModelVariable.objects.filter(station=station).order_by("component")]
    assert components == ["AuthCtrlr", "OCPPCommCtrlr", "SecurityCtrlr"]


async def test_later_notify_report_overwrites_the_stored_value(station, ocpp201):
    async with ocpp201() as client:
        for request_id, (value, at) in enumerate([("300", T0), ("60", "2025-03-02T10:00:00Z")], start=1):
            await client.result(
                "NotifyReport",
                {
                    "requestId": request_id,
                    "generatedAt": at,
                    "seqNo": 0,
                    "reportData": [report_item({"name": "OCPPCommCtrlr"}, "HeartbeatInterval",
                                               {"type": "Actual", "value": value, "mutability": "ReadWrite"})],
                },
            )
    row = await DeviceModelVariable.objects.aget(station=station, variable="HeartbeatInterval")
    assert row.value == "60"
    assert row.reported_at == utc("2025-03-02T10:00:00+00:00")


async def test_notify_report_without_report_data_is_answered(station, ocpp201):
    async with ocpp201() as client:
        assert await client.result("NotifyReport", {"requestId": 1, "generatedAt": T0, "seqNo": 0}) == {}
    assert await DeviceModelVariable.objects.acount() == 0


# --- NotifyEvent and SecurityEventNotification --------------------------------------


async def test_notify_event_is_recorded_with_a_summary_and_the_raw_payload(station, ocpp201):
    payload = {
        "generatedAt": T0,
        "seqNo": 0,
        "eventData": [
            {
                "eventId": 17,
                "timestamp": T0,
                "trigger": "Delta",
                "actualValue": "Faulted",
                "techCode": "GF-3",
                "eventNotificationType": "HardWiredNotification",
                "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
                "variable": {"name": "AvailabilityState"},
            }
        ],
    }
    async with ocpp201() as client:
        assert await client.result("NotifyEvent", payload) == {}
    event = await StationEvent.objects.aget(station=station)
    assert event.kind == StationEvent.Kind.NOTIFY_EVENT
    assert event.summary == "Connector.AvailabilityState=Faulted"
    assert event.timestamp == utc("2025-03-01T10:00:00+00:00")
    assert event.payload == payload


async def test_security_event_notification_is_recorded(station, ocpp201):
    payload = {"type": "SettingSystemTime", "timestamp": T0, "techInfo": "NTP drift 4s"}
    async with ocpp201() as client:
        assert await client.result("SecurityEventNotification", payload) == {}
    event = await StationEvent.objects.aget(station=station)
    assert event.kind == StationEvent.Kind.SECURITY_EVENT
    assert event.summary == "SettingSystemTime"
    assert event.timestamp == utc("2025-03-01T10:00:00+00:00")
    assert event.payload == payload


# --- Firmware and log status --------------------------------------------------------


async def test_firmware_status_notification_is_stored_on_the_station(station, ocpp201):
    async with ocpp201() as client:
        assert await client.result("FirmwareStatusNotification", {"status": "Installing", "requestId": 4}) == {}
    stored = await ChargingStation.objects.aget(pk=station.pk)
    assert stored.firmware_status == "Installing"
    assert stored.firmware_status_at is not None


async def test_log_status_notification_is_stored_on_the_station(station, ocpp201):
    async with ocpp201() as client:
        assert await client.result("LogStatusNotification", {"status": "Uploading", "requestId": 9}) == {}
    stored = await ChargingStation.objects.aget(pk=station.pk)
    assert stored.diagnostics_status == "Uploading"
    assert stored.diagnostics_status_at is not None


# --- DataTransfer -------------------------------------------------------------------


async def test_data_transfer_keeps_a_json_object_raw_with_its_key_casing(station, ocpp201):
    payload = {
        "vendorId": "com.acme",
        "messageId": "Telemetry",
        "data": {"cableTempC": 41, "InletState": "OK", "nested": {"someKey": [1, {"innerCamelCase": True}]}},
    }
    async with ocpp201() as client:
        answer = await client.result("DataTransfer", payload)
    assert answer == {"status": "UnknownVendorId"}
    event = await StationEvent.objects.aget(station=station)
    assert event.kind == StationEvent.Kind.DATA_TRANSFER
    assert event.summary == "com.acme Telemetry"
    assert event.payload == payload


async def test_data_transfer_without_data_is_recorded(station, ocpp201):
    async with ocpp201() as client:
        assert await client.result("DataTransfer", {"vendorId": "com.acme"}) == {"status": "UnknownVendorId"}
    event = await StationEvent.objects.aget(station=station)
    assert (event.summary, event.payload) == ("com.acme", {"vendorId": "com.acme"})


# --- MeterValues --------------------------------------------------------------------


async def test_meter_values_apply_unit_of_measure_and_multiplier(station, ocpp201):
    async with ocpp201() as client:
        answer = await client.result(
            "MeterValues",
            {
                "evseId": 2,
                "meterValue": [
                    {
                        "timestamp": T0,
                        "sampledValue": [
                            {"value": 12.5, "measurand": "Energy.Active.Import.Register",
                             "unitOfMeasure": {"unit": "kWh"}},
                            {"value": 7.4, "measurand": "Power.Active.Import",
                             "unitOfMeasure": {"unit": "W", "multiplier": 3}},
                            {"value": 2305, "measurand": "Voltage", "phase": "L1-N",
                             "unitOfMeasure": {"unit": "V", "multiplier": -1}},
                            {"value": 64, "measurand": "SoC", "location": "EV",
                             "unitOfMeasure": {"unit": "Percent"}},
                        ],
                    }
                ],
            },
        )
    assert answer == {}
    values = {
        (s.measurand, s.phase): s.value
        async for s in MeterSample.objects.filter(station=station, evse_id=2, timestamp=utc(T0))
    }
    assert values == {
        (Measurand.ENERGY_ACTIVE_IMPORT_REGISTER, Phase.NONE): 12500.0,
        (Measurand.POWER_ACTIVE_IMPORT, Phase.NONE): pytest.approx(7400.0),
        (Measurand.VOLTAGE, Phase.L1_N): pytest.approx(230.5),
        (Measurand.SOC, Phase.NONE): 64.0,
    }


async def test_meter_values_without_unit_default_to_wh(station, ocpp201):
    async with ocpp201() as client:
        await client.result(
            "MeterValues",
            {"evseId": 1, "meterValue": [{"timestamp": T0, "sampledValue": [{"value": 1234}]}]},
        )
    sample = await MeterSample.objects.aget(station=station)
    assert (sample.measurand, sample.value) == (Measurand.ENERGY_ACTIVE_IMPORT_REGISTER, 1234.0)


async def test_meter_values_belong_to_the_transaction_active_on_that_evse(station, ocpp201):
    async with ocpp201() as client:
        await client.result(
            "TransactionEvent",
            {
                "eventType": "Started",
                "timestamp": T0,
                "triggerReason": "CablePluggedIn",
                "seqNo": 0,
                "transactionInfo": {"transactionId": "TX-1"},
                "evse": {"id": 1, "connectorId": 1},
                "meterValue": [{"timestamp": T0, "sampledValue": [
                    {"value": 1000, "context": "Transaction.Begin"}]}],
            },
        )
        await client.result(
            "MeterValues",
            {"evseId": 1, "meterValue": [{"timestamp": "2025-03-01T10:30:00Z", "sampledValue": [
                {"value": 3.5, "unitOfMeasure": {"unit": "kWh"}}]}]},
        )
    session = await ChargingSession.objects.aget(transaction_id="TX-1")
    assert session.energy_wh == 2500
    assert await MeterSample.objects.filter(session=session).acount() == 2
