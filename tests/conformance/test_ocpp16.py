"""OCPP 1.6J: the Central System test cases of the OCA Compliancy Testing Tool (test case
document, System Under Test: Central System) for Core, Firmware Management, Local Auth List
Management, Reservation, Smart Charging, Remote Trigger and the Security extension."""

from datetime import UTC, datetime, timedelta

import pytest

from stations.models import (
    ChargingSession,
    ChargingStation,
    CommandLog,
    Connector,
    DeviceModelVariable,
    Reservation,
    ReservationStatus,
    SessionStatus,
    StationEvent,
)
from tests.conformance.conftest import BLOCKED, EXPIRED, STATION_ID, UNKNOWN, VALID, now_iso
from tests.conftest import PASSWORD, adb, basic_auth, ocpp_connection

pytestmark = pytest.mark.django_db(transaction=True)

V = "1.6"
IN_AN_HOUR = datetime.now(UTC) + timedelta(hours=1)


async def start(cp, token: str = VALID, connector: int = 1, meter: int = 1000, **extra) -> dict:
    return await cp.result("StartTransaction", {
        "connectorId": connector, "idTag": token, "meterStart": meter, "timestamp": now_iso(), **extra})


async def stop(cp, transaction_id: int, meter: int = 5000, reason: str | None = None, **extra) -> dict:
    payload = {"transactionId": transaction_id, "meterStop": meter, "timestamp": now_iso(), **extra}
    if reason:
        payload["reason"] = reason
    return await cp.result("StopTransaction", payload)


async def charging(cp, token: str = VALID) -> int:
    """Reusable state Charging: Preparing, StartTransaction (Accepted), Charging."""
    await cp.status("Preparing")
    answer = await start(cp, token)
    assert answer["idTagInfo"]["status"] == "Accepted"
    await cp.status("Charging")
    return answer["transactionId"]


async def session(transaction_id) -> ChargingSession:
    return await ChargingSession.objects.select_related("driver", "connector").aget(transaction_id=str(transaction_id))


async def connector_status(connector: int = 1) -> Connector:
    return await Connector.objects.aget(evse__station__station_id=STATION_ID, evse__evse_id=connector)


# --- Core: booting, charging sessions -----------------------------------------------------


async def test_TC_001_CSMS_cold_boot_charge_point(station):
    """TC_001_CSMS — Cold Boot Charge Point."""
    async with station(V, boot=False) as cp:
        boot = await cp.boot()
        assert boot["status"] == "Accepted" and boot["interval"] > 0
        datetime.fromisoformat(boot["currentTime"])
        for connector in (0, 1):
            assert await cp.status("Available", connector) == {}
        assert "currentTime" in await cp.result("Heartbeat", {})
        registered = await ChargingStation.objects.aget(station_id=STATION_ID)
        assert registered.is_online and registered.vendor == "OCTT" and registered.model == "Virtual"
    assert (await connector_status()).status == "Available"


async def test_TC_003_CSMS_regular_charging_session_plugin_first(station):
    """TC_003_CSMS — Regular Charging Session – Plugin First."""
    async with station(V) as cp:
        await cp.status("Preparing")
        assert (await cp.authorize(VALID))["status"] == "Accepted"
        transaction_id = await charging(cp)
        assert isinstance(transaction_id, int)
        await stop(cp, transaction_id, reason="Local", idTag=VALID)
        await cp.status("Finishing")
        await cp.status("Available")
    recorded = await session(transaction_id)
    assert recorded.status == SessionStatus.COMPLETED and recorded.driver.email == "driver@example.com"
    assert recorded.energy_wh == 4000


async def test_TC_004_1_CSMS_regular_charging_session_identification_first(station):
    """TC_004_1_CSMS — Regular Charging Session – Identification First."""
    async with station(V) as cp:
        assert (await cp.authorize(VALID))["status"] == "Accepted"
        transaction_id = await charging(cp)
    assert (await session(transaction_id)).status == SessionStatus.ACTIVE


async def test_TC_004_2_CSMS_regular_charging_session_identification_first_connection_timeout(station):
    """TC_004_2_CSMS — Regular Charging Session – Identification First - ConnectionTimeOut."""
    async with station(V) as cp:
        assert (await cp.authorize(VALID))["status"] == "Accepted"
        await cp.status("Preparing")
        await cp.status("Available")  # the cable never came: back to Available
    assert (await connector_status()).status == "Available"
    assert await ChargingSession.objects.acount() == 0


async def test_TC_005_1_CSMS_ev_side_disconnected(station):
    """TC_005_1_CSMS — EV Side Disconnected."""
    async with station(V) as cp:
        transaction_id = await charging(cp)
        await cp.status("SuspendedEV")
        await stop(cp, transaction_id, reason="EVDisconnected")
        await cp.status("Finishing")
    recorded = await session(transaction_id)
    assert recorded.status == SessionStatus.COMPLETED and recorded.stop_reason == "EVDisconnected"


async def test_TC_007_CSMS_regular_start_charging_session_cached_id(station):
    """TC_007_CSMS — Regular Start Charging Session – Cached Id (no Authorize before the start)."""
    async with station(V) as cp:
        await cp.status("Preparing")
        answer = await start(cp, VALID)
        assert answer["idTagInfo"]["status"] == "Accepted"
    assert (await session(answer["transactionId"])).driver is not None


@pytest.mark.parametrize("case, token, status", [
    ("TC_023_1_CSMS", UNKNOWN, "Invalid"),
    ("TC_023_2_CSMS", EXPIRED, "Expired"),
    ("TC_023_3_CSMS", BLOCKED, "Blocked"),
])
async def test_TC_023_CSMS_start_charging_session_authorize_not_accepted(station, case, token, status):
    """TC_023_1_CSMS — Start Charging Session - Authorize invalid; TC_023_2_CSMS — Start Charging
    Session - Authorize expired; TC_023_3_CSMS — Start Charging Session - Authorize blocked."""
    async with station(V) as cp:
        assert (await cp.authorize(token))["status"] == status


async def test_TC_024_CSMS_start_charging_session_lock_failure(station):
    """TC_024_CSMS — Start Charging Session Lock Failure."""
    async with station(V) as cp:
        await cp.status("Preparing")
        await cp.status("Faulted", error_code="ConnectorLockFailure")
    faulted = await connector_status()
    assert faulted.status == "Faulted" and faulted.error_code == "ConnectorLockFailure"


async def test_TC_032_1_CSMS_power_failure_boot_charging_point_stop_transactions(station):
    """TC_032_1_CSMS — Power Failure Boot Charging Point - Stop Transaction(s)."""
    async with station(V) as cp:
        transaction_id = await charging(cp)
        assert (await cp.boot())["status"] == "Accepted"
        await stop(cp, transaction_id, reason="PowerLoss")
        await cp.status("Available")
    recorded = await session(transaction_id)
    assert recorded.status == SessionStatus.COMPLETED and recorded.stop_reason == "PowerLoss"


async def test_TC_037_1_CSMS_offline_start_transaction_valid_idtag(station):
    """TC_037_1_CSMS — Offline Start Transaction - Valid IdTag (sent after reconnecting)."""
    async with station(V) as cp:
        answer = await cp.result("StartTransaction", {
            "connectorId": 1, "idTag": VALID, "meterStart": 0, "timestamp": now_iso(-600)})
        assert answer["idTagInfo"]["status"] == "Accepted"
    assert (await session(answer["transactionId"])).started_at < datetime.now(UTC) - timedelta(minutes=9)


async def test_TC_037_3_CSMS_offline_start_transaction_invalid_idtag(station):
    """TC_037_3_CSMS — Offline Start Transaction - Invalid IdTag: the CSMS says Invalid and
    the station stops the transaction (DeAuthorized)."""
    async with station(V) as cp:
        answer = await cp.result("StartTransaction", {
            "connectorId": 1, "idTag": UNKNOWN, "meterStart": 0, "timestamp": now_iso(-600)})
        assert answer["idTagInfo"]["status"] == "Invalid"
        await stop(cp, answer["transactionId"], meter=10, reason="DeAuthorized")
    assert (await session(answer["transactionId"])).status == SessionStatus.COMPLETED


async def test_TC_039_CSMS_offline_transaction(station):
    """TC_039_CSMS — Offline Transaction: start and stop both happened offline and arrive late."""
    async with station(V) as cp:
        answer = await cp.result("StartTransaction", {
            "connectorId": 1, "idTag": VALID, "meterStart": 100, "timestamp": now_iso(-3600)})
        await cp.result("StopTransaction", {
            "transactionId": answer["transactionId"], "meterStop": 7100, "timestamp": now_iso(-60),
            "reason": "Local"})
    recorded = await session(answer["transactionId"])
    assert recorded.status == SessionStatus.COMPLETED and recorded.energy_wh == 7000


# --- Core: operator actions ---------------------------------------------------------------


async def remote_start(cp, answer_status: str = "Accepted") -> tuple[dict, object]:
    return await cp.command("start_session", {"id_token": VALID, "evse_id": 1}, "RemoteStartTransaction",
                            {"status": answer_status})


async def test_TC_010_CSMS_remote_start_charging_session_cable_plugged_in_first(station):
    """TC_010_CSMS — Remote Start Charging Session – Cable Plugged in First."""
    async with station(V) as cp:
        await cp.status("Preparing")
        request, result = await remote_start(cp)
        assert request == {"idTag": VALID, "connectorId": 1} and result.outcome == "accepted"
        assert (await start(cp))["idTagInfo"]["status"] == "Accepted"


async def test_TC_011_1_CSMS_remote_start_charging_session_remote_start_first(station):
    """TC_011_1_CSMS — Remote Start Charging Session – Remote Start First."""
    async with station(V) as cp:
        request, result = await remote_start(cp)
        assert request["idTag"] == VALID and result.outcome == "accepted"
        await cp.status("Preparing")
        assert (await start(cp))["idTagInfo"]["status"] == "Accepted"
        await cp.status("Charging")


async def test_TC_011_2_CSMS_remote_start_charging_session_time_out(station):
    """TC_011_2_CSMS — Remote Start Charging Session – Time Out."""
    async with station(V) as cp:
        _, result = await remote_start(cp)
        assert result.outcome == "accepted"
        await cp.status("Preparing")
        await cp.status("Available")  # ConnectionTimeOut: no cable, no transaction
    assert await ChargingSession.objects.acount() == 0


async def test_TC_012_CSMS_remote_stop_charging_session(station):
    """TC_012_CSMS — Remote Stop Charging Session."""
    async with station(V) as cp:
        transaction_id = await charging(cp)
        request, result = await cp.command("stop_session", {"transaction_id": str(transaction_id)},
                                           "RemoteStopTransaction", {"status": "Accepted"})
        assert request == {"transactionId": transaction_id} and result.outcome == "accepted"
        await stop(cp, transaction_id, reason="Remote")
        await cp.status("Finishing")
    assert (await session(transaction_id)).stop_reason == "Remote"


@pytest.mark.parametrize("case, kind, sent", [("TC_013_CSMS", "hard", "Hard"), ("TC_014_CSMS", "soft", "Soft")])
async def test_TC_013_014_CSMS_hard_and_soft_reset(station, case, kind, sent):
    """TC_013_CSMS — Hard Reset; TC_014_CSMS — Soft Reset."""
    async with station(V) as cp:
        request, result = await cp.command("reset", {"type": kind}, "Reset", {"status": "Accepted"})
        assert request == {"type": sent} and result.outcome == "accepted"
        assert (await cp.boot())["status"] == "Accepted"
        await cp.status("Available")


@pytest.mark.parametrize("case, answer, outcome", [
    ("TC_017_1_CSMS", "Unlocked", "accepted"),
    ("TC_017_2_CSMS", "NotSupported", "rejected"),
    ("TC_030_CSMS", "UnlockFailed", "rejected"),
])
async def test_TC_017_030_CSMS_unlock_connector_no_charging_session(station, case, answer, outcome):
    """TC_017_1_CSMS — Unlock connector - no charging session running (Not fixed cable);
    TC_017_2_CSMS — Unlock connector - no charging session running (Fixed cable);
    TC_030_CSMS — Unlock Connector - Unlock Failure."""
    async with station(V) as cp:
        request, result = await cp.command("unlock_connector", {"evse_id": 1}, "UnlockConnector", {"status": answer})
    assert request == {"connectorId": 1}
    assert result.outcome == outcome and result.status == answer


async def test_TC_018_1_CSMS_unlock_connector_with_charging_session(station):
    """TC_018_1_CSMS — Unlock Connector - With Charging Session (Not fixed cable)."""
    async with station(V) as cp:
        transaction_id = await charging(cp)
        _, result = await cp.command("unlock_connector", {"evse_id": 1}, "UnlockConnector", {"status": "Unlocked"})
        assert result.outcome == "accepted"
        await stop(cp, transaction_id, reason="UnlockCommand")
    assert (await session(transaction_id)).stop_reason == "UnlockCommand"


async def test_TC_031_CSMS_unlock_connector_unknown_connector(station):
    """TC_031_CSMS — Unlock Connector - Unknown Connector."""
    async with station(V) as cp:
        request, result = await cp.command("unlock_connector", {"evse_id": 9}, "UnlockConnector",
                                           {"status": "NotSupported"})
    assert request == {"connectorId": 9} and result.outcome == "rejected"


async def test_TC_019_1_CSMS_retrieve_all_configuration_keys(station):
    """TC_019_1_CSMS — Retrieve all configuration keys."""
    keys = [{"key": "HeartbeatInterval", "readonly": False, "value": "300"},
            {"key": "NumberOfConnectors", "readonly": True, "value": "1"}]
    async with station(V) as cp:
        request, result = await cp.command("get_configuration", {}, "GetConfiguration", {"configurationKey": keys})
    assert request == {} and result.outcome == "accepted"
    stored = {v.variable: (v.value, v.mutability) async for v in DeviceModelVariable.objects.all()}
    assert stored == {"HeartbeatInterval": ("300", "ReadWrite"), "NumberOfConnectors": ("1", "ReadOnly")}


async def test_TC_019_2_CSMS_retrieve_specific_configuration_key(station):
    """TC_019_2_CSMS — Retrieve specific configuration key."""
    async with station(V) as cp:
        request, result = await cp.command(
            "get_configuration", {"keys": ["SupportedFeatureProfiles"]}, "GetConfiguration",
            {"configurationKey": [{"key": "SupportedFeatureProfiles", "readonly": True, "value": "Core"}]})
    assert request == {"key": ["SupportedFeatureProfiles"]} and result.outcome == "accepted"


@pytest.mark.parametrize("case, answer, outcome", [
    ("TC_021_CSMS", "Accepted", "accepted"),
    ("TC_040_1_CSMS", "NotSupported", "rejected"),
    ("TC_040_2_CSMS", "Rejected", "rejected"),
])
async def test_TC_021_040_CSMS_change_configuration(station, case, answer, outcome):
    """TC_021_CSMS — Change/set Configuration; TC_040_1_CSMS — Configuration keys - NotSupported;
    TC_040_2_CSMS — Configuration keys - Invalid value."""
    async with station(V) as cp:
        request, result = await cp.command("set_configuration", {"key": "MeterValueSampleInterval", "value": "60"},
                                           "ChangeConfiguration", {"status": answer})
    assert request == {"key": "MeterValueSampleInterval", "value": "60"}
    assert result.outcome == outcome


async def test_TC_026_CSMS_remote_start_charging_session_rejected(station):
    """TC_026_CSMS — Remote Start Charging Session – Rejected."""
    async with station(V) as cp:
        _, result = await remote_start(cp, "Rejected")
    assert result.outcome == "rejected" and result.status == "Rejected"


async def test_TC_028_CSMS_remote_stop_transaction_rejected(station):
    """TC_028_CSMS — Remote Stop Transaction – Rejected."""
    async with station(V) as cp:
        transaction_id = await charging(cp)
        _, result = await cp.command("stop_session", {"transaction_id": str(transaction_id)},
                                     "RemoteStopTransaction", {"status": "Rejected"})
    assert result.outcome == "rejected"
    assert (await session(transaction_id)).status == SessionStatus.ACTIVE


async def test_TC_061_CSMS_clear_authorization_data_in_authorization_cache(station):
    """TC_061_CSMS — Clear Authorization Data in Authorization Cache."""
    async with station(V) as cp:
        request, result = await cp.command("clear_cache", {}, "ClearCache", {"status": "Accepted"})
    assert request == {} and result.outcome == "accepted"


async def test_TC_064_CSMS_data_transfer_to_a_central_system(station):
    """TC_064_CSMS — Data Transfer to a Central System: an unknown vendor is answered, not failed."""
    async with station(V) as cp:
        answer = await cp.result("DataTransfer", {"vendorId": "com.example.octt", "messageId": "Ping", "data": "1"})
    assert answer["status"] == "UnknownVendorId"
    assert await StationEvent.objects.filter(kind=StationEvent.Kind.DATA_TRANSFER).aexists()


# --- Local Auth List Management -----------------------------------------------------------


@pytest.mark.parametrize("case, version, outcome", [("TC_042_1_CSMS", -1, "accepted"), ("TC_042_2_CSMS", 0, "accepted")])
async def test_TC_042_CSMS_get_local_list_version(station, case, version, outcome):
    """TC_042_1_CSMS — Get Local List Version (not supported); TC_042_2_CSMS — Get Local List
    Version (empty)."""
    async with station(V) as cp:
        request, result = await cp.command("get_local_list_version", {}, "GetLocalListVersion",
                                           {"listVersion": version})
    assert request == {} and result.outcome == outcome
    assert (await ChargingStation.objects.aget(station_id=STATION_ID)).local_list_version == version


@pytest.mark.parametrize("case, update, answer, outcome", [
    ("TC_043_1_CSMS", "Full", "NotSupported", "rejected"),
    ("TC_043_3_CSMS", "Full", "Failed", "rejected"),
    ("TC_043_4_CSMS", "Full", "Accepted", "accepted"),
    ("TC_043_5_CSMS", "Differential", "Accepted", "accepted"),
])
async def test_TC_043_CSMS_send_local_authorization_list(station, case, update, answer, outcome):
    """TC_043_1_CSMS — Send Local Authorization List - NotSupported; TC_043_3_CSMS — Send Local
    Authorization List - Failed; TC_043_4_CSMS — Send Local Authorization List - Full;
    TC_043_5_CSMS — Send Local Authorization List - Differential."""
    async with station(V) as cp:
        request, result = await cp.command("send_local_list", {"update_type": update}, "SendLocalList",
                                           {"status": answer})
    assert request["updateType"] == update and request["listVersion"] == 1
    tags = {item["idTag"]: item["idTagInfo"]["status"] for item in request["localAuthorizationList"]}
    assert tags[VALID] == "Accepted" and tags[BLOCKED] == "Blocked" and tags[EXPIRED] == "Expired"
    assert result.outcome == outcome
    stored = (await ChargingStation.objects.aget(station_id=STATION_ID)).local_list_version
    assert stored == (1 if outcome == "accepted" else 0)


# --- Firmware Management ------------------------------------------------------------------


@pytest.mark.parametrize("case, statuses", [
    ("TC_044_1_CSMS", ["Downloading", "Downloaded", "Installing", "Installed"]),
    ("TC_044_2_CSMS", ["Downloading", "DownloadFailed"]),
    ("TC_044_3_CSMS", ["Downloading", "Downloaded", "Installing", "InstallationFailed"]),
])
async def test_TC_044_CSMS_firmware_update(station, case, statuses):
    """TC_044_1_CSMS — Firmware Update - Download and Install; TC_044_2_CSMS — Firmware Update -
    Download failed; TC_044_3_CSMS — Firmware Update - Installation failed."""
    async with station(V) as cp:
        request, result = await cp.command("update_firmware", {"location": "ftp://fw:pw@files/fw-2.bin"},
                                           "UpdateFirmware", {})
        assert request["location"] == "ftp://fw:pw@files/fw-2.bin" and "retrieveDate" in request
        assert result.outcome == "accepted"
        for status in statuses:
            assert await cp.result("FirmwareStatusNotification", {"status": status}) == {}
        if statuses[-1] == "Installed":
            assert (await cp.boot())["status"] == "Accepted"


async def test_TC_045_1_CSMS_get_diagnostics(station):
    """TC_045_1_CSMS — Get Diagnostics."""
    async with station(V) as cp:
        request, result = await cp.command("get_diagnostics", {"location": "http://logs:8080/upload"},
                                           "GetDiagnostics", {"fileName": "diag.zip"})
        assert request["location"] == "http://logs:8080/upload" and result.outcome == "accepted"
        for status in ("Uploading", "Uploaded"):
            assert await cp.result("DiagnosticsStatusNotification", {"status": status}) == {}


# --- Reservation --------------------------------------------------------------------------


async def reserve(cp, connector: int = 1, answer: str = "Accepted"):
    return await cp.command("reserve_now", {"evse_id": connector, "id_token": VALID, "expires_at": IN_AN_HOUR},
                            "ReserveNow", {"status": answer})


async def test_TC_046_CSMS_reservation_of_a_connector_transaction(station):
    """TC_046_CSMS — Reservation of a Connector - Transaction."""
    async with station(V) as cp:
        request, result = await reserve(cp)
        assert request["connectorId"] == 1 and request["idTag"] == VALID and result.outcome == "accepted"
        await cp.status("Reserved")
        await cp.status("Preparing")
        answer = await start(cp, reservationId=request["reservationId"])
        assert answer["idTagInfo"]["status"] == "Accepted"
    assert (await Reservation.objects.aget(pk=request["reservationId"])).status == ReservationStatus.USED


async def test_TC_047_CSMS_reservation_of_a_connector_expire(station):
    """TC_047_CSMS — Reservation of a Connector - Expire."""
    async with station(V) as cp:
        request, result = await reserve(cp)
        assert result.outcome == "accepted"
        await cp.status("Reserved")
        await cp.status("Available")  # the reservation expired at the station
    assert (await Reservation.objects.aget(pk=request["reservationId"])).status == ReservationStatus.ACCEPTED


@pytest.mark.parametrize("case, answer", [
    ("TC_048_1_CSMS", "Faulted"), ("TC_048_2_CSMS", "Occupied"),
    ("TC_048_3_CSMS", "Unavailable"), ("TC_048_4_CSMS", "Rejected"),
])
async def test_TC_048_CSMS_reservation_of_a_connector_refused(station, case, answer):
    """TC_048_1_CSMS — Reservation of a Connector - Faulted; TC_048_2_CSMS — Reservation of a
    Connector - Occupied; TC_048_3_CSMS — Reservation of a Connector - Unavailable;
    TC_048_4_CSMS — Reservation of a Connector - Rejected."""
    async with station(V) as cp:
        request, result = await reserve(cp, answer=answer)
    assert result.outcome == "rejected" and result.status == answer
    assert (await Reservation.objects.aget(pk=request["reservationId"])).status == ReservationStatus.REJECTED


async def test_TC_049_CSMS_reservation_of_a_charge_point_transaction(station):
    """TC_049_CSMS — Reservation of a Charge Point - Transaction (connectorId 0)."""
    async with station(V) as cp:
        request, result = await reserve(cp, connector=0)
        assert request["connectorId"] == 0 and result.outcome == "accepted"
        answer = await start(cp, reservationId=request["reservationId"])
        assert answer["idTagInfo"]["status"] == "Accepted"


@pytest.mark.parametrize("case, answer, expected", [
    ("TC_051_CSMS", "Accepted", ReservationStatus.CANCELLED), ("TC_052_CSMS", "Rejected", ReservationStatus.ACCEPTED),
])
async def test_TC_051_052_CSMS_cancel_reservation(station, case, answer, expected):
    """TC_051_CSMS — Cancel Reservation; TC_052_CSMS — Cancel Reservation - Rejected."""
    async with station(V) as cp:
        reservation, _ = await reserve(cp)
        request, result = await cp.command("cancel_reservation", {"reservation_id": reservation["reservationId"]},
                                           "CancelReservation", {"status": answer})
    assert request == {"reservationId": reservation["reservationId"]}
    assert (await Reservation.objects.aget(pk=reservation["reservationId"])).status == expected


# --- Remote Trigger -----------------------------------------------------------------------


async def test_TC_054_CSMS_trigger_message(station):
    """TC_054_CSMS — Trigger Message."""
    follow_ups = {
        "MeterValues": ("MeterValues", {"connectorId": 1, "meterValue": [
            {"timestamp": now_iso(), "sampledValue": [{"value": "0"}]}]}),
        "Heartbeat": ("Heartbeat", {}),
        "StatusNotification": ("StatusNotification", {
            "connectorId": 1, "errorCode": "NoError", "status": "Available"}),
        "DiagnosticsStatusNotification": ("DiagnosticsStatusNotification", {"status": "Idle"}),
        "FirmwareStatusNotification": ("FirmwareStatusNotification", {"status": "Idle"}),
    }
    async with station(V) as cp:
        for message, (action, payload) in follow_ups.items():
            params = {"message": message, **({"evse_id": 1} if "connectorId" in payload else {})}
            request, result = await cp.command("trigger_message", params, "TriggerMessage", {"status": "Accepted"})
            assert request["requestedMessage"] == message and result.outcome == "accepted"
            await cp.result(action, payload)


async def test_TC_055_CSMS_trigger_message_rejected(station):
    """TC_055_CSMS — Trigger Message - Rejected."""
    async with station(V) as cp:
        _, result = await cp.command("trigger_message", {"message": "MeterValues", "evse_id": 1}, "TriggerMessage",
                                     {"status": "Rejected"})
    assert result.outcome == "rejected"


# --- Smart Charging -----------------------------------------------------------------------


def profile(purpose: str, **extra) -> dict:
    return {"purpose": purpose, "evse_id": 1, "charging_rate_unit": "A",
            "periods": [{"start_period_s": 0, "limit": 16}], **extra}


async def test_TC_056_CSMS_central_smart_charging_txdefaultprofile(station):
    """TC_056_CSMS — Central Smart Charging - TxDefaultProfile."""
    async with station(V) as cp:
        request, result = await cp.command("set_charging_profile", profile("TxDefaultProfile"),
                                           "SetChargingProfile", {"status": "Accepted"})
    sent = request["csChargingProfiles"]
    assert request["connectorId"] == 1 and sent["chargingProfilePurpose"] == "TxDefaultProfile"
    assert sent["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 16
    assert result.outcome == "accepted"


async def test_TC_057_CSMS_central_smart_charging_txprofile(station):
    """TC_057_CSMS — Central Smart Charging - TxProfile."""
    async with station(V) as cp:
        transaction_id = await charging(cp)
        request, result = await cp.command(
            "set_charging_profile", profile("TxProfile", transaction_id=str(transaction_id)),
            "SetChargingProfile", {"status": "Accepted"})
    assert request["csChargingProfiles"]["transactionId"] == transaction_id and result.outcome == "accepted"


async def test_TC_066_CSMS_get_composite_schedule(station):
    """TC_066_CSMS — Get Composite Schedule."""
    async with station(V) as cp:
        request, result = await cp.command(
            "get_composite_schedule", {"evse_id": 1, "duration_s": 300, "charging_rate_unit": "A"},
            "GetCompositeSchedule", {"status": "Accepted", "connectorId": 1, "scheduleStart": now_iso(),
                                     "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [
                                         {"startPeriod": 0, "limit": 16.0}]}})
    assert request == {"connectorId": 1, "duration": 300, "chargingRateUnit": "A"}
    assert result.outcome == "accepted"


async def test_TC_067_CSMS_clear_charging_profile(station):
    """TC_067_CSMS — Clear Charging Profile."""
    async with station(V) as cp:
        sent, _ = await cp.command("set_charging_profile", profile("TxDefaultProfile"), "SetChargingProfile",
                                   {"status": "Accepted"})
        profile_id = sent["csChargingProfiles"]["chargingProfileId"]
        request, result = await cp.command("clear_charging_profile", {"profile_id": profile_id},
                                           "ClearChargingProfile", {"status": "Accepted"})
    assert request == {"id": profile_id} and result.outcome == "accepted"


# --- Security extension -------------------------------------------------------------------


@pytest.mark.parametrize("case, kind", [
    ("TC_077_CSMS", "InvalidChargePointCertificate"), ("TC_078_CSMS", "InvalidCentralSystemCertificate"),
])
async def test_TC_077_078_CSMS_security_events(station, case, kind):
    """TC_077_CSMS — Invalid ChargePointCertificate Security Event; TC_078_CSMS — Invalid
    CentralSystemCertificate Security Event."""
    async with station(V) as cp:
        assert await cp.result("SecurityEventNotification", {"type": kind, "timestamp": now_iso()}) == {}
    event = await StationEvent.objects.aget(kind=StationEvent.Kind.SECURITY_EVENT)
    assert event.summary == kind


async def test_TC_079_CSMS_get_security_log(station):
    """TC_079_CSMS — Get Security Log (1.6 security extension GetLog, sent as the raw action)."""
    async with station(V) as cp:
        request, result = await cp.command(
            "raw", {"action": "GetLog", "payload": {"logType": "SecurityLog", "requestId": 7,
                                                    "log": {"remoteLocation": "ftp://logs/upload"}}},
            "GetLog", {"status": "Accepted", "filename": "security.log"})
        assert request["logType"] == "SecurityLog" and result.outcome == "accepted"
        for status in ("Uploading", "Uploaded"):
            assert await cp.result("LogStatusNotification", {"status": status, "requestId": 7}) == {}


@pytest.mark.parametrize("case, statuses", [
    ("TC_080_CSMS", ["Downloading", "Downloaded", "SignatureVerified", "Installing", "Installed"]),
    ("TC_081_CSMS", ["Downloading", "Downloaded", "InvalidSignature"]),
])
async def test_TC_080_081_CSMS_secure_firmware_update(station, case, statuses):
    """TC_080_CSMS — Secure Firmware Update; TC_081_CSMS — Secure Firmware Update - Invalid Signature."""
    params = {"location": "https://fw.example.com/fw-2.bin", "retrieve_at": now_iso(),
              "signing_certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
              "signature": "c2lnbmF0dXJl", "request_id": 42}
    async with station(V) as cp:
        request, result = await cp.command("signed_update_firmware", params, "SignedUpdateFirmware",
                                           {"status": "Accepted"})
        assert request["requestId"] == 42 and request["firmware"]["signature"] == "c2lnbmF0dXJl"
        assert result.outcome == "accepted"
        for status in statuses:
            assert await cp.result("SignedFirmwareStatusNotification", {"status": status, "requestId": 42}) == {}
        assert (await CommandLog.objects.aget(pk=result.log_id)).ocpp_action == "SignedUpdateFirmware"


async def test_TC_083_CSMS_upgrade_charge_point_security_profile_accepted(station):
    """TC_083_CSMS — Upgrade Charge Point Security Profile - Accepted."""
    async with station(V) as cp:
        request, result = await cp.command("set_configuration", {"key": "SecurityProfile", "value": "2"},
                                           "ChangeConfiguration", {"status": "Accepted"})
    assert request == {"key": "SecurityProfile", "value": "2"} and result.outcome == "accepted"


async def test_TC_085_CSMS_basic_authentication_valid_username_password_combination(network):
    """TC_085_CSMS — Basic Authentication - Valid username/password combination (and a wrong
    password or another station's name is refused at the handshake)."""
    async with ocpp_connection(STATION_ID, PASSWORD) as (connected, _):
        assert connected
    async with ocpp_connection(STATION_ID, "wrong-password-0123456789") as (connected, _):
        assert not connected
    headers = [(b"authorization", basic_auth("OTHER", PASSWORD))]
    async with ocpp_connection(STATION_ID, PASSWORD, headers=headers) as (connected, _):
        assert not connected


async def test_TC_088_CSMS_websocket_subprotocol_validation(network):
    """TC_088_CSMS — WebSocket Subprotocol validation."""
    async with ocpp_connection(STATION_ID, PASSWORD, subprotocols=["ocpp1.6"]) as (connected, client):
        assert connected and client.subprotocol == "ocpp1.6"
    async with ocpp_connection(STATION_ID, PASSWORD, subprotocols=["ocpp1.2"]) as (connected, client):
        assert client.subprotocol is None
        closed = await client.communicator.receive_output(timeout=2)
        assert closed["type"] == "websocket.close" and closed["code"] == 4002


__all__ = ["adb"]
