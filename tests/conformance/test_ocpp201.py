"""OCPP 2.0.1: the CSMS test cases of "OCPP 2.0.1 Part 6 — Test Cases" for the functional
blocks ChargeNet implements: A security, B provisioning, C authorization, D local
authorization list, E transactions, F remote control, G availability, H reservation, J meter
values, K smart charging, L firmware, M certificate management, N diagnostics, P data transfer."""

from datetime import UTC, datetime, timedelta

import pytest

from stations.models import (
    ChargingSession,
    ChargingStation,
    Connector,
    DeviceModelVariable,
    IdToken,
    RegistrationStatus,
    Reservation,
    ReservationStatus,
    SessionStatus,
    StationEvent,
)
from tests.conformance.conftest import BLOCKED, EXPIRED, GROUP_ID, STATION_ID, UNKNOWN, VALID, now_iso
from tests.conftest import PASSWORD, basic_auth, ocpp_connection

pytestmark = pytest.mark.django_db(transaction=True)

V = "2.0.1"
IN_AN_HOUR = datetime.now(UTC) + timedelta(hours=1)


def token(value: str = VALID) -> dict:
    return {"idToken": value, "type": "ISO14443"}


def energy(wh: float, context: str = "Sample.Periodic", measurand: str = "Energy.Active.Import.Register",
           signed: bool = False) -> list:
    sampled = {"value": wh, "context": context, "measurand": measurand, "unitOfMeasure": {"unit": "Wh"}}
    if signed:
        sampled["signedMeterValue"] = {"signedMeterData": "AAEC", "signingMethod": "ECDSA-secp256r1-SHA256",
                                       "encodingMethod": "OCMF", "publicKey": "AAEC"}
    return [{"timestamp": now_iso(), "sampledValue": [sampled]}]


class Tx:
    """One transaction as the station reports it: seqNo counted, ids kept."""

    def __init__(self, cp, transaction_id: str = "TX-1", evse: int = 1):
        self.cp, self.transaction_id, self.evse, self.seq = cp, transaction_id, evse, 0

    async def event(self, event_type: str, trigger: str, *, id_token: str | None = None, state: str | None = None,
                    stopped_reason: str | None = None, meter: list | None = None, **extra) -> dict:
        info = {"transactionId": self.transaction_id}
        if state:
            info["chargingState"] = state
        if stopped_reason:
            info["stoppedReason"] = stopped_reason
        payload = {"eventType": event_type, "timestamp": now_iso(), "triggerReason": trigger, "seqNo": self.seq,
                   "transactionInfo": {**info, **extra.pop("info", {})}, **extra}
        if event_type == "Started" or self.seq == 0:
            payload["evse"] = {"id": self.evse, "connectorId": 1}
        if id_token:
            payload["idToken"] = token(id_token)
        if meter:
            payload["meterValue"] = meter
        self.seq += 1
        return await self.cp.result("TransactionEvent", payload)

    async def charging(self, id_token: str = VALID) -> dict:
        """Reusable states Authorized + EVConnected + EnergyTransferStarted."""
        answer = await self.event("Started", "Authorized", id_token=id_token, state="EVConnected",
                                  meter=energy(1000, "Transaction.Begin"))
        await self.event("Updated", "ChargingStateChanged", state="Charging")
        return answer

    async def end(self, trigger: str = "StopAuthorized", stopped_reason: str = "Local", **extra) -> dict:
        return await self.event("Ended", trigger, stopped_reason=stopped_reason, state="Idle",
                                meter=energy(6000, "Transaction.End"), **extra)


async def session(transaction_id: str = "TX-1") -> ChargingSession:
    return await ChargingSession.objects.select_related("driver").aget(transaction_id=transaction_id)


# --- A. Security --------------------------------------------------------------------------


@pytest.mark.parametrize("case, user, password, accepted", [
    ("TC_A_01_CSMS", STATION_ID, PASSWORD, True),
    ("TC_A_02_CSMS", "SOMEONE-ELSE", PASSWORD, False),
    ("TC_A_03_CSMS", STATION_ID, "not-the-password-0123", False),
])
async def test_TC_A_01_03_CSMS_basic_authentication(network, case, user, password, accepted):
    """TC_A_01_CSMS — Basic Authentication - Valid username/password combination;
    TC_A_02_CSMS — Basic Authentication - Username does not equal ChargingStationId;
    TC_A_03_CSMS — Basic Authentication - Invalid password."""
    headers = [(b"authorization", basic_auth(user, password))]
    async with ocpp_connection(STATION_ID, subprotocols=["ocpp2.0.1"], headers=headers) as (connected, _):
        assert connected is accepted


async def test_TC_A_19_CSMS_upgrade_charging_station_security_profile_accepted(station):
    """TC_A_19_CSMS — Upgrade Charging Station Security Profile - Accepted."""
    async with station(V) as cp:
        request, result = await cp.command("set_configuration",
                                           {"key": "SecurityCtrlr/SecurityProfile", "value": "2"},
                                           "SetVariables", {"setVariableResult": [{
                                               "attributeStatus": "Accepted", "component": {"name": "SecurityCtrlr"},
                                               "variable": {"name": "SecurityProfile"}}]})
        assert request["setVariableData"][0]["attributeValue"] == "2" and result.outcome == "accepted"
        reset, result = await cp.command("reset", {"type": "hard"}, "Reset", {"status": "Accepted"})
        assert reset == {"type": "Immediate"}


# --- B. Provisioning ----------------------------------------------------------------------


async def test_TC_B_01_CSMS_cold_boot_charging_station_accepted(station):
    """TC_B_01_CSMS — Cold Boot Charging Station - Accepted."""
    async with station(V, boot=False) as cp:
        boot = await cp.boot()
        assert boot["status"] == "Accepted" and boot["interval"] > 0
        await cp.status("Available")
        assert "currentTime" in await cp.result("Heartbeat", {})
    assert (await ChargingStation.objects.aget(station_id=STATION_ID)).vendor == "OCTT"


async def test_TC_B_02_CSMS_cold_boot_charging_station_pending(station):
    """TC_B_02_CSMS — Cold Boot Charging Station - Pending: the CSMS may query the station
    while it is Pending, and accepts it on a later boot."""
    await ChargingStation.objects.filter(station_id=STATION_ID).aupdate(registration_status=RegistrationStatus.PENDING)
    async with station(V, boot=False) as cp:
        assert (await cp.boot())["status"] == "Pending"
        _, result = await cp.command("get_base_report", {"report_base": "FullInventory"}, "GetBaseReport",
                                     {"status": "Accepted"})
        assert result.outcome == "accepted"
        await ChargingStation.objects.filter(station_id=STATION_ID).aupdate(
            registration_status=RegistrationStatus.ACCEPTED)
        assert (await cp.boot())["status"] == "Accepted"


async def test_TC_B_30_CSMS_cold_boot_pending_rejected_security_error(station):
    """TC_B_30_CSMS — Cold Boot Charging Station - Pending/Rejected - SecurityError."""
    await ChargingStation.objects.filter(station_id=STATION_ID).aupdate(registration_status=RegistrationStatus.PENDING)
    async with station(V, boot=False) as cp:
        assert (await cp.boot())["status"] == "Pending"
        frame = await cp.call("Authorize", {"idToken": token()})
        assert frame[0] == 4 and frame[2] == "SecurityError"


async def test_TC_B_31_CSMS_cold_boot_pending_rejected_trigger_message(station):
    """TC_B_31_CSMS — Cold Boot Charging Station - Pending/Rejected - TriggerMessage."""
    await ChargingStation.objects.filter(station_id=STATION_ID).aupdate(registration_status=RegistrationStatus.PENDING)
    async with station(V, boot=False) as cp:
        assert (await cp.boot())["status"] == "Pending"
        request, result = await cp.command("trigger_message", {"message": "BootNotification"}, "TriggerMessage",
                                           {"status": "Accepted"})
        assert request == {"requestedMessage": "BootNotification"} and result.outcome == "accepted"
        assert (await cp.boot())["status"] == "Pending"


@pytest.mark.parametrize("case, keys", [
    ("TC_B_06_CSMS", ["OCPPCommCtrlr/HeartbeatInterval"]),
    ("TC_B_07_CSMS", ["OCPPCommCtrlr/HeartbeatInterval", "AuthCtrlr/AuthorizeRemoteStart"]),
])
async def test_TC_B_06_07_CSMS_get_variables(station, case, keys):
    """TC_B_06_CSMS — Get Variables - single value; TC_B_07_CSMS — Get Variables - multiple values."""
    results = [{"attributeStatus": "Accepted", "attributeValue": str(n), "component": {"name": k.split("/")[0]},
                "variable": {"name": k.split("/")[1]}} for n, k in enumerate(keys)]
    async with station(V) as cp:
        request, result = await cp.command("get_configuration", {"keys": keys}, "GetVariables",
                                           {"getVariableResult": results})
    assert [d["variable"]["name"] for d in request["getVariableData"]] == [k.split("/")[1] for k in keys]
    assert result.outcome == "accepted"
    assert await DeviceModelVariable.objects.acount() == len(keys)


@pytest.mark.parametrize("case", ["TC_B_09_CSMS"])
async def test_TC_B_09_CSMS_set_variables_single_value(station, case):
    """TC_B_09_CSMS — Set Variables - single value."""
    keys = ["OCPPCommCtrlr/HeartbeatInterval"]
    async with station(V) as cp:
        for key in keys:
            component, variable = key.split("/")
            request, result = await cp.command("set_configuration", {"key": key, "value": "60"}, "SetVariables", {
                "setVariableResult": [{"attributeStatus": "Accepted", "component": {"name": component},
                                       "variable": {"name": variable}}]})
            assert request["setVariableData"][0]["variable"]["name"] == variable and result.outcome == "accepted"


@pytest.mark.parametrize("case, base", [
    ("TC_B_12_CSMS", "ConfigurationInventory"), ("TC_B_13_CSMS", "FullInventory"),
    ("TC_B_14_CSMS", "SummaryInventory"),
])
async def test_TC_B_12_14_CSMS_get_base_report(station, case, base):
    """TC_B_12_CSMS — Get Base Report - ConfigurationInventory; TC_B_13_CSMS — Get Base Report -
    FullInventory; TC_B_14_CSMS — Get Base Report - SummaryInventory."""
    async with station(V) as cp:
        request, result = await cp.command("get_base_report", {"report_base": base}, "GetBaseReport",
                                           {"status": "Accepted"})
        assert request["reportBase"] == base and result.outcome == "accepted"
        assert await cp.result("NotifyReport", {
            "requestId": request["requestId"], "generatedAt": now_iso(), "seqNo": 0, "tbc": False,
            "reportData": [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
                            "variableAttribute": [{"type": "Actual", "value": "300",
                                                   "mutability": "ReadWrite"}]}]}) == {}
    stored = await DeviceModelVariable.objects.aget(variable="HeartbeatInterval")
    assert stored.value == "300"


@pytest.mark.parametrize("case, kind, evse, ongoing, answer", [
    ("TC_B_20_CSMS", "on_idle", None, False, "Accepted"),
    ("TC_B_21_CSMS", "on_idle", None, True, "Scheduled"),
    ("TC_B_22_CSMS", "hard", None, True, "Accepted"),
    ("TC_B_25_CSMS", "hard", 1, False, "Accepted"),
    ("TC_B_26_CSMS", "on_idle", 1, True, "Scheduled"),
    ("TC_B_27_CSMS", "hard", 1, True, "Accepted"),
])
async def test_TC_B_20_27_CSMS_reset(station, case, kind, evse, ongoing, answer):
    """TC_B_20_CSMS — Reset Charging Station - Without ongoing transaction - OnIdle;
    TC_B_21_CSMS — Reset Charging Station - With Ongoing Transaction - OnIdle;
    TC_B_22_CSMS — Reset Charging Station - With Ongoing Transaction - Immediate;
    TC_B_25_CSMS — Reset EVSE - Without ongoing transaction; TC_B_26_CSMS — Reset EVSE - With
    Ongoing Transaction - OnIdle; TC_B_27_CSMS — Reset EVSE - With Ongoing Transaction - Immediate."""
    async with station(V) as cp:
        tx = Tx(cp)
        if ongoing:
            await tx.charging()
        params = {"type": kind, **({"evse_id": evse} if evse else {})}
        request, result = await cp.command("reset", params, "Reset", {"status": answer})
        assert request["type"] == ("Immediate" if kind == "hard" else "OnIdle")
        assert request.get("evseId") == evse and result.outcome == "accepted"
        if ongoing:
            await tx.end("ResetCommand", "ImmediateReset" if kind == "hard" else "Local")
        if evse is None:
            assert (await cp.boot("RemoteReset"))["status"] == "Accepted"
    if ongoing:
        assert (await session()).status == SessionStatus.COMPLETED


@pytest.mark.parametrize("case, answer, outcome", [("TC_B_42_CSMS", "Accepted", "accepted"),
                                                   ("TC_B_44_CSMS", "Failed", "rejected")])
async def test_TC_B_42_44_CSMS_set_new_network_connection_profile(station, case, answer, outcome):
    """TC_B_42_CSMS — Set new NetworkConnectionProfile - Accepted; TC_B_44_CSMS — Set new
    NetworkConnectionProfile - Failed. Sent with the ``raw`` command, schema-checked."""
    profile = {"configurationSlot": 2, "connectionData": {
        "ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": "wss://csms.example.com/ocpp",
        "messageTimeout": 30, "securityProfile": 2, "ocppInterface": "Wired0"}}
    async with station(V) as cp:
        request, result = await cp.command("raw", {"action": "SetNetworkProfile", "payload": profile},
                                           "SetNetworkProfile", {"status": answer})
    assert request == profile and result.outcome == outcome


# --- C. Authorization ---------------------------------------------------------------------


@pytest.mark.parametrize("case, value, status", [
    ("TC_C_02_CSMS", UNKNOWN, "Unknown"), ("TC_C_06_CSMS", BLOCKED, "Blocked"), ("TC_C_07_CSMS", EXPIRED, "Expired"),
])
async def test_TC_C_02_06_07_CSMS_local_start_transaction_authorization_not_accepted(station, case, value, status):
    """TC_C_02_CSMS — Local start transaction - Authorization Invalid/Unknown; TC_C_06_CSMS — Local
    start transaction - Authorization Blocked; TC_C_07_CSMS — Local start transaction -
    Authorization Expired."""
    async with station(V) as cp:
        info = await cp.authorize(value)
        assert info["status"] in ({status, "Invalid"} if status == "Unknown" else {status})
        assert info["status"] != "Accepted"


@pytest.mark.parametrize("case, value, accepted", [("TC_C_08_CSMS", VALID, True), ("TC_C_20_CSMS", UNKNOWN, False)])
async def test_TC_C_08_20_CSMS_authorization_through_authorization_cache(station, case, value, accepted):
    """TC_C_08_CSMS — Authorization through authorization cache - Accepted; TC_C_20_CSMS —
    Authorization through authorization cache - Invalid: the station starts on its cache, the
    CSMS answers the TransactionEvent with the token's real status."""
    async with station(V) as cp:
        tx = Tx(cp)
        answer = await tx.event("Started", "Authorized", id_token=value, state="EVConnected")
        assert (answer["idTokenInfo"]["status"] == "Accepted") is accepted
        if not accepted:
            await tx.end("Deauthorized", "DeAuthorized")


@pytest.mark.parametrize("case, answer, outcome", [("TC_C_37_CSMS", "Accepted", "accepted"),
                                                   ("TC_C_38_CSMS", "Rejected", "rejected")])
async def test_TC_C_37_38_CSMS_clear_authorization_data_in_authorization_cache(station, case, answer, outcome):
    """TC_C_37_CSMS — Clear Authorization Data in Authorization Cache - Accepted; TC_C_38_CSMS —
    Clear Authorization Data in Authorization Cache - Rejected."""
    async with station(V) as cp:
        request, result = await cp.command("clear_cache", {}, "ClearCache", {"status": answer})
    assert request == {} and result.outcome == outcome


async def test_TC_C_39_CSMS_authorization_by_groupid_success(station):
    """TC_C_39_CSMS — Authorization by GroupId - Success."""
    async with station(V) as cp:
        info = await cp.authorize(VALID)
    assert info["status"] == "Accepted" and info["groupIdToken"]["idToken"] == GROUP_ID


# --- D. Local authorization list ----------------------------------------------------------


@pytest.mark.parametrize("case, update", [("TC_D_01_CSMS", "Full"), ("TC_D_02_CSMS", "Differential")])
async def test_TC_D_01_02_CSMS_send_local_authorization_list(station, case, update):
    """TC_D_01_CSMS — Send Local Authorization List - Full; TC_D_02_CSMS — Send Local
    Authorization List - Differential Update."""
    async with station(V) as cp:
        request, result = await cp.command("send_local_list", {"update_type": update}, "SendLocalList",
                                           {"status": "Accepted"})
    assert request["updateType"] == update and request["versionNumber"] > 0
    entries = {e["idToken"]["idToken"]: e for e in request["localAuthorizationList"]}
    assert all("idTokenInfo" in e for e in entries.values())  # D01.FR: every entry carries idTokenInfo
    assert entries[BLOCKED]["idTokenInfo"]["status"] == "Blocked"
    assert result.outcome == "accepted"
    assert (await ChargingStation.objects.aget(station_id=STATION_ID)).local_list_version == request["versionNumber"]


async def test_TC_D_03_CSMS_send_local_authorization_list_differential_remove(station):
    """TC_D_03_CSMS — Send Local Authorization List - Differential Remove. Entries without
    idTokenInfo remove tokens; sent with the ``raw`` command, schema-checked."""
    payload = {"versionNumber": 2, "updateType": "Differential",
               "localAuthorizationList": [{"idToken": token(BLOCKED)}]}
    async with station(V) as cp:
        request, result = await cp.command("raw", {"action": "SendLocalList", "payload": payload}, "SendLocalList",
                                           {"status": "Accepted"})
    assert request == payload and result.outcome == "accepted"


async def test_TC_D_04_CSMS_send_local_authorization_list_full_with_empty_list(station):
    """TC_D_04_CSMS — Send Local Authorization List - Full with empty list."""
    await IdToken.objects.all().adelete()
    async with station(V) as cp:
        request, result = await cp.command("send_local_list", {"update_type": "Full"}, "SendLocalList",
                                           {"status": "Accepted"})
    assert request == {"versionNumber": 1, "updateType": "Full"} and result.outcome == "accepted"


@pytest.mark.parametrize("case, version", [("TC_D_08_CSMS", 5), ("TC_D_09_CSMS", 0)])
async def test_TC_D_08_09_CSMS_get_local_list_version(station, case, version):
    """TC_D_08_CSMS — Get Local List Version - Success; TC_D_09_CSMS — Get Local List Version -
    No list available."""
    async with station(V) as cp:
        _, result = await cp.command("get_local_list_version", {}, "GetLocalListVersion",
                                     {"versionNumber": version})
    assert result.outcome == "accepted"
    assert (await ChargingStation.objects.aget(station_id=STATION_ID)).local_list_version == version


# --- E. Transactions ----------------------------------------------------------------------

START_OPTIONS = [
    ("TC_E_01_CSMS", "Start transaction options - PowerPathClosed", "ChargingStateChanged", "Charging"),
    ("TC_E_02_CSMS", "Start transaction options - EnergyTransfer", "ChargingStateChanged", "Charging"),
    ("TC_E_09_CSMS", "Start transaction options - EVConnected", "CablePluggedIn", "EVConnected"),
    ("TC_E_10_CSMS", "Start transaction options - Authorized - Local", "Authorized", None),
    ("TC_E_11_CSMS", "Start transaction options - DataSigned", "SignedDataReceived", "Charging"),
    ("TC_E_12_CSMS", "Start transaction options - ParkingBayOccupied", "EVDetected", None),
]


@pytest.mark.parametrize("case, title, trigger, state", START_OPTIONS, ids=[c[0] for c in START_OPTIONS])
async def test_TC_E_01_12_CSMS_start_transaction_options(station, case, title, trigger, state):
    """TC_E_01_CSMS — Start transaction options - PowerPathClosed; TC_E_02_CSMS — Start
    transaction options - EnergyTransfer; TC_E_09_CSMS — Start transaction options - EVConnected;
    TC_E_10_CSMS — Start transaction options - Authorized - Local; TC_E_11_CSMS — Start
    transaction options - DataSigned; TC_E_12_CSMS — Start transaction options - ParkingBayOccupied."""
    async with station(V) as cp:
        tx = Tx(cp)
        signed = trigger == "SignedDataReceived"
        answer = await tx.event("Started", trigger, id_token=VALID if trigger == "Authorized" else None, state=state,
                                meter=energy(1000, "Transaction.Begin", signed=signed))
        if trigger != "Authorized":
            assert answer == {}
            answer = await tx.event("Updated", "Authorized", id_token=VALID)
        assert answer["idTokenInfo"]["status"] == "Accepted"
        await tx.end()
    recorded = await session()
    assert recorded.driver is not None and recorded.status == SessionStatus.COMPLETED
    assert recorded.energy_wh == 5000


@pytest.mark.parametrize("case", ["TC_E_03_CSMS", "TC_E_04_CSMS", "TC_E_38_CSMS"])
async def test_TC_E_03_04_38_CSMS_local_start_transaction(station, case):
    """TC_E_03_CSMS — Local start transaction - Cable plugin first - Success; TC_E_04_CSMS —
    Local start transaction - Authorization first - Success; TC_E_38_CSMS — Local start
    transaction - EV not ready."""
    async with station(V) as cp:
        tx = Tx(cp)
        if case == "TC_E_04_CSMS":
            assert (await cp.authorize(VALID))["status"] == "Accepted"
            await tx.event("Started", "Authorized", id_token=VALID)
            await tx.event("Updated", "CablePluggedIn", state="EVConnected")
        else:
            await cp.status("Occupied")
            await tx.event("Started", "CablePluggedIn", state="EVConnected")
            assert (await tx.event("Updated", "Authorized", id_token=VALID))["idTokenInfo"]["status"] == "Accepted"
        await tx.event("Updated", "ChargingStateChanged", state="SuspendedEV" if case == "TC_E_38_CSMS" else "Charging")
    recorded = await session()
    assert recorded.status == SessionStatus.ACTIVE and recorded.driver is not None
    assert recorded.charging_state == ("SuspendedEV" if case == "TC_E_38_CSMS" else "Charging")


STOP_OPTIONS = [
    ("TC_E_07_CSMS", "Stop transaction options - PowerPathClosed - Local stop", "StopAuthorized", "Local"),
    ("TC_E_08_CSMS", "Stop transaction options - EnergyTransfer stopped - StopAuthorized", "StopAuthorized", "Local"),
    ("TC_E_14_CSMS", "Stop transaction options - EVDisconnected - Charging Station side", "EVCommunicationLost",
     "EVDisconnected"),
    ("TC_E_15_CSMS", "Stop transaction options - StopAuthorized - Local", "StopAuthorized", "Local"),
    ("TC_E_16_CSMS", "Stop transaction options - Deauthorized - Invalid idToken", "Deauthorized", "DeAuthorized"),
    ("TC_E_17_CSMS", "Stop transaction options - Deauthorized - EV side disconnect", "EVCommunicationLost",
     "EVDisconnected"),
    ("TC_E_19_CSMS", "Stop transaction options - ParkingBayUnoccupied", "EVDeparted", "EVDisconnected"),
    ("TC_E_20_CSMS", "Stop transaction options - EVDisconnected - EV side (able to charge IEC 61851-1 EV)",
     "EVCommunicationLost", "EVDisconnected"),
    ("TC_E_22_CSMS", "Stop transaction options - EnergyTransfer stopped - SuspendedEV", "ChargingStateChanged",
     "Local"),
    ("TC_E_39_CSMS", "Stop transaction options - Deauthorized - timeout", "EVConnectTimeout", "Timeout"),
]


@pytest.mark.parametrize("case, title, trigger, reason", STOP_OPTIONS, ids=[c[0] for c in STOP_OPTIONS])
async def test_TC_E_07_39_CSMS_stop_transaction_options(station, case, title, trigger, reason):
    """TC_E_07_CSMS — Stop transaction options - PowerPathClosed - Local stop;
    TC_E_08_CSMS — Stop transaction options - EnergyTransfer stopped - StopAuthorized;
    TC_E_14_CSMS — Stop transaction options - EVDisconnected - Charging Station side;
    TC_E_15_CSMS — Stop transaction options - StopAuthorized - Local;
    TC_E_16_CSMS — Stop transaction options - Deauthorized - Invalid idToken;
    TC_E_17_CSMS — Stop transaction options - Deauthorized - EV side disconnect;
    TC_E_19_CSMS — Stop transaction options - ParkingBayUnoccupied;
    TC_E_20_CSMS — Stop transaction options - EVDisconnected - EV side (able to charge IEC 61851-1 EV);
    TC_E_22_CSMS — Stop transaction options - EnergyTransfer stopped - SuspendedEV;
    TC_E_39_CSMS — Stop transaction options - Deauthorized - timeout.
    The Ended event is answered and closes the session with its reason."""
    async with station(V) as cp:
        tx = Tx(cp)
        await tx.charging()
        stop_token = {"id_token": VALID} if trigger == "StopAuthorized" else {}
        answer = await tx.end(trigger, reason, **stop_token)
        if stop_token:
            assert answer["idTokenInfo"]["status"] == "Accepted"
    recorded = await session()
    assert recorded.status == SessionStatus.COMPLETED and recorded.stop_reason == reason
    assert recorded.driver is not None and recorded.energy_wh == 5000


async def test_TC_E_21_CSMS_stop_transaction_options_stopauthorized_remote(station):
    """TC_E_21_CSMS — Stop transaction options - StopAuthorized - Remote."""
    async with station(V) as cp:
        tx = Tx(cp)
        await tx.charging()
        request, result = await cp.command("stop_session", {"transaction_id": "TX-1"}, "RequestStopTransaction",
                                           {"status": "Accepted"})
        assert request == {"transactionId": "TX-1"} and result.outcome == "accepted"
        await tx.end("RemoteStop", "Remote")
    assert (await session()).stop_reason == "Remote"


async def test_TC_E_26_CSMS_disconnect_cable_on_ev_side_suspend_transaction(station):
    """TC_E_26_CSMS — Disconnect cable on EV-side - Suspend transaction."""
    async with station(V) as cp:
        tx = Tx(cp)
        await tx.charging()
        assert await tx.event("Updated", "EVCommunicationLost", state="Idle") == {}
    recorded = await session()
    assert recorded.status == SessionStatus.ACTIVE and recorded.charging_state == "Idle"


@pytest.mark.parametrize("case, transaction_id, answer", [
    ("TC_E_29_CSMS", "TX-1", {"ongoingIndicator": True, "messagesInQueue": True}),
    ("TC_E_30_CSMS", "TX-1", {"ongoingIndicator": True, "messagesInQueue": False}),
    ("TC_E_31_CSMS", "TX-1", {"ongoingIndicator": False, "messagesInQueue": True}),
    ("TC_E_33_CSMS", None, {"messagesInQueue": True}),
    ("TC_E_34_CSMS", None, {"messagesInQueue": False}),
])
async def test_TC_E_29_34_CSMS_check_transaction_status(station, case, transaction_id, answer):
    """TC_E_29_CSMS — Check Transaction status - Transaction with id ongoing - with message in queue;
    TC_E_30_CSMS — Check Transaction status - Transaction with id ongoing - without message in queue;
    TC_E_31_CSMS — Check Transaction status - Transaction with id ended - with message in queue;
    TC_E_33_CSMS — Check Transaction status - Without transactionId - with message in queue;
    TC_E_34_CSMS — Check Transaction status - Without transactionId - without message in queue.
    Sent with the ``raw`` command."""
    payload = {"transactionId": transaction_id} if transaction_id else {}
    async with station(V) as cp:
        request, result = await cp.command("raw", {"action": "GetTransactionStatus", "payload": payload},
                                           "GetTransactionStatus", answer)
    assert request == payload and result.outcome == "accepted" and result.response == answer


async def test_TC_E_53_CSMS_reset_sequence_number_csms_accepting_seqno_0(station):
    """TC_E_53_CSMS — Reset Sequence Number - CSMS accepting seqNo = 0 at start of transaction."""
    async with station(V) as cp:
        first = Tx(cp, "TX-A")
        await first.charging()
        await first.end()
        second = Tx(cp, "TX-B")  # seqNo starts at 0 again
        assert (await second.charging())["idTokenInfo"]["status"] == "Accepted"
    assert (await session("TX-B")).status == SessionStatus.ACTIVE


# --- F. Remote control --------------------------------------------------------------------


async def remote_start(cp, answer: str = "Accepted"):
    return await cp.command("start_session", {"id_token": VALID, "evse_id": 1}, "RequestStartTransaction",
                            {"status": answer})


@pytest.mark.parametrize("case", ["TC_F_01_CSMS", "TC_F_02_CSMS", "TC_F_03_CSMS"])
async def test_TC_F_01_03_CSMS_remote_start_transaction(station, case):
    """TC_F_01_CSMS — Remote start transaction - Cable plugin first; TC_F_02_CSMS — Remote start
    transaction - Remote start first - AuthorizeRemoteStart is true; TC_F_03_CSMS — Remote start
    transaction - Remote start first - AuthorizeRemoteStart is false."""
    async with station(V) as cp:
        tx = Tx(cp)
        if case == "TC_F_01_CSMS":
            await tx.event("Started", "CablePluggedIn", state="EVConnected")
        request, result = await remote_start(cp)
        assert request["idToken"] == {"idToken": VALID, "type": "ISO14443"} and result.outcome == "accepted"
        if case == "TC_F_02_CSMS":
            assert (await cp.authorize(VALID))["status"] == "Accepted"
        kind = "Updated" if case == "TC_F_01_CSMS" else "Started"
        answer = await tx.event(kind, "RemoteStart", id_token=VALID, state="EVConnected",
                                info={"remoteStartId": request["remoteStartId"]})
        assert answer["idTokenInfo"]["status"] == "Accepted"
    recorded = await session()
    assert recorded.remote_start_id == request["remoteStartId"] and recorded.driver is not None


async def test_TC_F_04_CSMS_remote_start_transaction_cable_plugin_timeout(station):
    """TC_F_04_CSMS — Remote start transaction - Remote start first - Cable plugin timeout."""
    async with station(V) as cp:
        tx = Tx(cp)
        request, _ = await remote_start(cp)
        await tx.event("Started", "RemoteStart", id_token=VALID, info={"remoteStartId": request["remoteStartId"]})
        await tx.end("EVConnectTimeout", "Timeout")
    assert (await session()).stop_reason == "Timeout"


async def test_TC_F_06_CSMS_remote_unlock_connector_without_ongoing_transaction_accepted(station):
    """TC_F_06_CSMS — Remote unlock Connector - Without ongoing transaction - Accepted."""
    async with station(V) as cp:
        request, result = await cp.command("unlock_connector", {"evse_id": 1}, "UnlockConnector",
                                           {"status": "Unlocked"})
    assert request == {"evseId": 1, "connectorId": 1} and result.outcome == "accepted"


TRIGGERS = [
    ("TC_F_11_CSMS", "MeterValues", 1, ("MeterValues", {"evseId": 1, "meterValue": energy(10)})),
    ("TC_F_12_CSMS", "MeterValues", None, ("MeterValues", {"evseId": 1, "meterValue": energy(10)})),
    ("TC_F_13_CSMS", "TransactionEvent", 1, None),
    ("TC_F_14_CSMS", "TransactionEvent", None, None),
    ("TC_F_15_CSMS", "LogStatusNotification", None, ("LogStatusNotification", {"status": "Idle"})),
    ("TC_F_18_CSMS", "FirmwareStatusNotification", None, ("FirmwareStatusNotification", {"status": "Idle"})),
    ("TC_F_20_CSMS", "Heartbeat", None, ("Heartbeat", {})),
    ("TC_F_23_CSMS", "StatusNotification", 1, ("StatusNotification", {
        "timestamp": "2025-03-01T10:00:00Z", "connectorStatus": "Available", "evseId": 1, "connectorId": 1})),
    ("TC_F_24_CSMS", "StatusNotification", 1, ("StatusNotification", {
        "timestamp": "2025-03-01T10:00:00Z", "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1})),
]


@pytest.mark.parametrize("case, message, evse, follow_up", TRIGGERS, ids=[t[0] for t in TRIGGERS])
async def test_TC_F_11_24_CSMS_trigger_message(station, case, message, evse, follow_up):
    """TC_F_11_CSMS — Trigger message - MeterValues - Specific EVSE;
    TC_F_12_CSMS — Trigger message - MeterValues - All EVSE;
    TC_F_13_CSMS — Trigger message - TransactionEvent - Specific EVSE;
    TC_F_14_CSMS — Trigger message - TransactionEvent - All EVSE;
    TC_F_15_CSMS — Trigger message - LogStatusNotification - Idle;
    TC_F_18_CSMS — Trigger message - FirmwareStatusNotification - Idle;
    TC_F_20_CSMS — Trigger message - Heartbeat;
    TC_F_23_CSMS — Trigger message - StatusNotification - Specific EVSE - Available;
    TC_F_24_CSMS — Trigger message - StatusNotification - Specific EVSE - Occupied."""
    async with station(V) as cp:
        tx = Tx(cp)
        if message == "TransactionEvent":
            await tx.charging()
        params = {"message": message, **({"evse_id": evse} if evse else {})}
        request, result = await cp.command("trigger_message", params, "TriggerMessage", {"status": "Accepted"})
        assert request["requestedMessage"] == message and request.get("evse") == ({"id": evse} if evse else None)
        assert result.outcome == "accepted"
        if follow_up is None:
            assert await tx.event("Updated", "Trigger", state="Charging", meter=energy(2000)) == {}
        else:
            await cp.result(*follow_up)
    if case == "TC_F_24_CSMS":
        assert (await Connector.objects.aget(evse__evse_id=1)).status == "Occupied"


async def test_TC_F_27_CSMS_trigger_message_notimplemented(station):
    """TC_F_27_CSMS — Trigger message - NotImplemented."""
    async with station(V) as cp:
        _, result = await cp.command("trigger_message", {"message": "SignCombinedCertificate"}, "TriggerMessage",
                                     {"status": "NotImplemented"})
    assert result.outcome == "rejected" and result.status == "NotImplemented"


# --- G. Availability ----------------------------------------------------------------------

AVAILABILITY = [
    ("TC_G_03_CSMS", 1, None, False, False), ("TC_G_04_CSMS", 1, None, True, False),
    ("TC_G_05_CSMS", 0, None, False, False), ("TC_G_06_CSMS", 0, None, True, False),
    ("TC_G_07_CSMS", 1, 1, False, False), ("TC_G_08_CSMS", 1, 1, True, False),
    ("TC_G_11_CSMS", 1, None, False, True), ("TC_G_14_CSMS", 0, None, False, True),
    ("TC_G_17_CSMS", 1, 1, False, True),
]


@pytest.mark.parametrize("case, evse, connector, operative, ongoing", AVAILABILITY, ids=[a[0] for a in AVAILABILITY])
async def test_TC_G_03_17_CSMS_change_availability(station, case, evse, connector, operative, ongoing):
    """TC_G_03_CSMS — Change Availability EVSE - Operative to inoperative;
    TC_G_04_CSMS — Change Availability EVSE - Inoperative to operative;
    TC_G_05_CSMS — Change Availability Charging Station - Operative to inoperative;
    TC_G_06_CSMS — Change Availability Charging Station - Inoperative to operative;
    TC_G_07_CSMS — Change Availability Connector - Operative to inoperative;
    TC_G_08_CSMS — Change Availability Connector - Inoperative to operative;
    TC_G_11_CSMS — Change Availability EVSE - With ongoing transaction;
    TC_G_14_CSMS — Change Availability Charging Station - With ongoing transaction;
    TC_G_17_CSMS — Change Availability Connector - With ongoing transaction."""
    async with station(V) as cp:
        if ongoing:
            await Tx(cp).charging()
        params = {"operational": operative, "evse_id": evse, **({"connector_id": connector} if connector else {})}
        answer = "Scheduled" if ongoing else "Accepted"
        request, result = await cp.command("change_availability", params, "ChangeAvailability", {"status": answer})
        assert request["operationalStatus"] == ("Operative" if operative else "Inoperative")
        expected_evse = ({"id": evse, **({"connectorId": connector} if connector else {})} if evse else None)
        assert request.get("evse") == expected_evse and result.outcome == "accepted" and result.status == answer
        if not ongoing:
            await cp.status("Available" if operative else "Unavailable")
    if not ongoing:
        assert (await Connector.objects.aget(evse__evse_id=1)).status == ("Available" if operative else "Unavailable")


async def test_TC_G_20_CSMS_connector_status_notification_lock_failure(station):
    """TC_G_20_CSMS — Connector status Notification - Lock Failure. A NotifyEvent."""
    async with station(V) as cp:
        assert await cp.result("NotifyEvent", {"generatedAt": now_iso(), "seqNo": 0, "eventData": [{
            "eventId": 1, "timestamp": now_iso(), "trigger": "Delta", "actualValue": "true",
            "eventNotificationType": "HardWiredNotification", "component": {"name": "ConnectorPlugRetentionLock",
                                                                               "evse": {"id": 1, "connectorId": 1}},
            "variable": {"name": "Problem"}}]}) == {}
    event = await StationEvent.objects.aget(kind=StationEvent.Kind.NOTIFY_EVENT)
    assert "ConnectorPlugRetentionLock.Problem=true" in event.summary


# --- H. Reservation -----------------------------------------------------------------------


async def reserve(cp, evse: int = 1, answer: str = "Accepted"):
    return await cp.command("reserve_now", {"evse_id": evse, "id_token": VALID, "expires_at": IN_AN_HOUR},
                            "ReserveNow", {"status": answer})


async def test_TC_H_01_CSMS_reserve_a_specific_evse_accepted_valid_idtoken(station):
    """TC_H_01_CSMS — Reserve a specific EVSE - Accepted - Valid idToken."""
    async with station(V) as cp:
        request, result = await reserve(cp)
        assert request["evseId"] == 1 and request["idToken"]["idToken"] == VALID and result.outcome == "accepted"
        await cp.status("Reserved")
        answer = await Tx(cp).event("Started", "Authorized", id_token=VALID, reservationId=request["id"])
        assert answer["idTokenInfo"]["status"] == "Accepted"
    assert (await Reservation.objects.aget(pk=request["id"])).status == ReservationStatus.USED


@pytest.mark.parametrize("case, update, expected", [("TC_H_07_CSMS", "Expired", ReservationStatus.EXPIRED),
                                                    ("TC_H_20_CSMS", "Removed", ReservationStatus.REMOVED)])
async def test_TC_H_07_20_CSMS_reservation_ended_by_the_station(station, case, update, expected):
    """TC_H_07_CSMS — Reserve a specific EVSE - Reservation Ended / not used; TC_H_20_CSMS —
    Charging Station cancels reservation when Faulted."""
    async with station(V) as cp:
        request, _ = await reserve(cp)
        if update == "Removed":
            await cp.status("Faulted")
        assert await cp.result("ReservationStatusUpdate", {"reservationId": request["id"],
                                                           "reservationUpdateStatus": update}) == {}
    assert (await Reservation.objects.aget(pk=request["id"])).status == expected


@pytest.mark.parametrize("case, answer, outcome", [("TC_H_08_CSMS", "Accepted", "accepted"),
                                                   ("TC_H_14_CSMS", "Occupied", "rejected")])
async def test_TC_H_08_14_CSMS_reserve_an_unspecified_evse(station, case, answer, outcome):
    """TC_H_08_CSMS — Reserve an unspecified EVSE - Accepted; TC_H_14_CSMS — Reserve an
    unspecified EVSE - EVSEs equals reservations."""
    async with station(V) as cp:
        request, result = await reserve(cp, evse=0, answer=answer)
    assert "evseId" not in request and result.outcome == outcome


async def test_TC_H_17_CSMS_cancel_reservation_of_an_evse_success(station):
    """TC_H_17_CSMS — Cancel reservation of an EVSE - Success."""
    async with station(V) as cp:
        reservation, _ = await reserve(cp)
        request, result = await cp.command("cancel_reservation", {"reservation_id": reservation["id"]},
                                           "CancelReservation", {"status": "Accepted"})
    assert request == {"reservationId": reservation["id"]} and result.outcome == "accepted"
    assert (await Reservation.objects.aget(pk=reservation["id"])).status == ReservationStatus.CANCELLED


async def test_TC_H_22_CSMS_reserve_a_specific_evse_configured_to_reject(station):
    """TC_H_22_CSMS — Reserve a specific EVSE - Configured to Reject."""
    async with station(V) as cp:
        request, result = await reserve(cp, answer="Rejected")
    assert result.outcome == "rejected"
    assert (await Reservation.objects.aget(pk=request["id"])).status == ReservationStatus.REJECTED


# --- J. Meter values ----------------------------------------------------------------------


async def test_TC_J_01_CSMS_clock_aligned_meter_values_no_transaction_ongoing(station):
    """TC_J_01_CSMS — Clock-aligned Meter Values - No transaction ongoing."""
    async with station(V) as cp:
        assert await cp.result("MeterValues", {"evseId": 1, "meterValue": energy(1234, "Sample.Clock")}) == {}


@pytest.mark.parametrize("case, context, signed", [
    ("TC_J_02_CSMS", "Sample.Clock", False), ("TC_J_04_CSMS", "Sample.Clock", True),
    ("TC_J_09_CSMS", "Sample.Periodic", False), ("TC_J_11_CSMS", "Sample.Periodic", True),
])
async def test_TC_J_02_04_09_11_CSMS_meter_values_during_a_transaction(station, case, context, signed):
    """TC_J_02_CSMS — Clock-aligned Meter Values - Transaction ongoing; TC_J_04_CSMS —
    Clock-aligned Meter Values - Signed; TC_J_09_CSMS — Sampled Meter Values - EventType Updated;
    TC_J_11_CSMS — Sampled Meter Values - Signed."""
    async with station(V) as cp:
        tx = Tx(cp)
        await tx.charging()
        trigger = "MeterValueClock" if context == "Sample.Clock" else "MeterValuePeriodic"
        assert await tx.event("Updated", trigger, meter=energy(3500, context, signed=signed)) == {}
        await tx.end()
    assert (await session()).energy_wh == 5000


@pytest.mark.parametrize("case, evse_known", [("TC_J_07_CSMS", True), ("TC_J_08_CSMS", False)])
async def test_TC_J_07_08_CSMS_sampled_meter_values_eventtype_started(station, case, evse_known):
    """TC_J_07_CSMS — Sampled Meter Values - EventType Started - EVSE known; TC_J_08_CSMS —
    Sampled Meter Values - Context Transaction.Begin - EVSE not known."""
    async with station(V) as cp:
        tx = Tx(cp)
        if not evse_known:
            tx.seq = 1  # the EVSE comes with a later event: the Started one leaves it out
            payload = {"eventType": "Started", "timestamp": now_iso(), "triggerReason": "Authorized", "seqNo": 0,
                       "transactionInfo": {"transactionId": "TX-1"}, "idToken": token(),
                       "meterValue": energy(1000, "Transaction.Begin")}
            assert (await cp.result("TransactionEvent", payload))["idTokenInfo"]["status"] == "Accepted"
            await tx.event("Updated", "ChargingStateChanged", state="Charging")
        else:
            await tx.charging()
    assert (await session()).meter_start_wh == 1000


@pytest.mark.parametrize("case, context", [("TC_J_03_CSMS", "Sample.Clock"), ("TC_J_10_CSMS", "Transaction.End")])
async def test_TC_J_03_10_CSMS_meter_values_eventtype_ended(station, case, context):
    """TC_J_03_CSMS — Clock-aligned Meter Values - EventType Ended; TC_J_10_CSMS — Sampled Meter
    Values - EventType Ended."""
    async with station(V) as cp:
        tx = Tx(cp)
        await tx.charging()
        await tx.event("Ended", "StopAuthorized", stopped_reason="Local",
                       meter=energy(2500, "Sample.Clock") + energy(6000, context))
    assert (await session()).energy_wh == 5000


# --- K. Smart charging --------------------------------------------------------------------


def profile(purpose: str, evse: int = 1, **extra) -> dict:
    return {"purpose": purpose, "evse_id": evse, "charging_rate_unit": "A",
            "periods": [{"start_period_s": 0, "limit": 16}], **extra}


SET_PROFILES = [
    ("TC_K_01_CSMS", "TxDefaultProfile", 1, "Accepted"),
    ("TC_K_03_CSMS", "ChargingStationMaxProfile", 0, "Accepted"),
    ("TC_K_10_CSMS", "TxDefaultProfile", 0, "Accepted"),
    ("TC_K_15_CSMS", "TxDefaultProfile", 1, "Rejected"),
]


@pytest.mark.parametrize("case, purpose, evse, answer", SET_PROFILES, ids=[s[0] for s in SET_PROFILES])
async def test_TC_K_01_03_10_15_CSMS_set_charging_profile(station, case, purpose, evse, answer):
    """TC_K_01_CSMS — Set Charging Profile - TxDefaultProfile - Specific EVSE; TC_K_03_CSMS — Set
    Charging Profile - ChargingStationMaxProfile; TC_K_10_CSMS — Set Charging Profile -
    TxDefaultProfile - All EVSE; TC_K_15_CSMS — Set Charging Profile - Not Supported."""
    async with station(V) as cp:
        request, result = await cp.command("set_charging_profile", profile(purpose, evse), "SetChargingProfile",
                                           {"status": answer})
    sent = request["chargingProfile"]
    assert request["evseId"] == evse and sent["chargingProfilePurpose"] == purpose
    assert sent["chargingSchedule"][0]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 16.0}]
    assert result.outcome == ("accepted" if answer == "Accepted" else "rejected")


@pytest.mark.parametrize("case, ongoing", [("TC_K_02_CSMS", False), ("TC_K_60_CSMS", True)])
async def test_TC_K_02_60_CSMS_set_charging_profile_txprofile(station, case, ongoing):
    """TC_K_02_CSMS — Set Charging Profile - TxProfile without ongoing transaction on the specified
    EVSE; TC_K_60_CSMS — Set Charging Profile - TxProfile with ongoing
    transaction on the specified EVSE."""
    async with station(V) as cp:
        if ongoing:
            await Tx(cp).charging()
        request, result = await cp.command("set_charging_profile", profile("TxProfile", transaction_id="TX-1"),
                                           "SetChargingProfile", {"status": "Accepted" if ongoing else "Rejected"})
    assert request["chargingProfile"]["transactionId"] == "TX-1"
    assert result.outcome == ("accepted" if ongoing else "rejected")


@pytest.mark.parametrize("case, params, answer", [
    ("TC_K_05_CSMS", "id", "Accepted"),
    ("TC_K_06_CSMS", {"purpose": "TxDefaultProfile", "stack_level": 0}, "Accepted"),
    ("TC_K_08_CSMS", {"purpose": "TxDefaultProfile"}, "Unknown"),
])
async def test_TC_K_05_06_08_CSMS_clear_charging_profile(station, case, params, answer):
    """TC_K_05_CSMS — Clear Charging Profile - With chargingProfileId; TC_K_06_CSMS — Clear
    Charging Profile - With stackLevel/purpose combination for one profile; TC_K_08_CSMS — Clear
    Charging Profile - Without previous charging profile."""
    async with station(V) as cp:
        if params == "id":
            sent, _ = await cp.command("set_charging_profile", profile("TxDefaultProfile"), "SetChargingProfile",
                                       {"status": "Accepted"})
            params = {"profile_id": sent["chargingProfile"]["id"]}
        request, result = await cp.command("clear_charging_profile", params, "ClearChargingProfile",
                                           {"status": answer})
    if "profile_id" in params:
        assert request == {"chargingProfileId": params["profile_id"]}
    else:
        assert request["chargingProfileCriteria"]["chargingProfilePurpose"] == "TxDefaultProfile"
    assert result.outcome == ("accepted" if answer == "Accepted" else "rejected")


async def test_TC_K_19_CSMS_set_charging_profile_chargingprofilekind_is_recurring(station):
    """TC_K_19_CSMS — Set Charging Profile - ChargingProfileKind is Recurring."""
    params = profile("TxDefaultProfile", kind="Recurring", recurrency_kind="Daily", start_schedule=now_iso())
    async with station(V) as cp:
        request, result = await cp.command("set_charging_profile", params, "SetChargingProfile",
                                           {"status": "Accepted"})
    sent = request["chargingProfile"]
    assert sent["chargingProfileKind"] == "Recurring" and sent["recurrencyKind"] == "Daily"
    assert result.outcome == "accepted"


GET_PROFILES = [
    ("TC_K_29_CSMS", {"evse_id": 0}), ("TC_K_30_CSMS", {"evse_id": 1}), ("TC_K_31_CSMS", {}),
    ("TC_K_32_CSMS", {"profile_ids": [7]}), ("TC_K_33_CSMS", {"evse_id": 1, "stack_level": 0}),
    ("TC_K_35_CSMS", {"evse_id": 1, "purpose": "TxDefaultProfile"}),
    ("TC_K_36_CSMS", {"evse_id": 1, "purpose": "TxDefaultProfile", "stack_level": 0}),
]


@pytest.mark.parametrize("case, params", GET_PROFILES, ids=[g[0] for g in GET_PROFILES])
async def test_TC_K_29_36_CSMS_get_charging_profile(station, case, params):
    """TC_K_29_CSMS — Get Charging Profile - EvseId 0;
    TC_K_30_CSMS — Get Charging Profile - EvseId > 0;
    TC_K_31_CSMS — Get Charging Profile - No EvseId;
    TC_K_32_CSMS — Get Charging Profile - chargingProfileId;
    TC_K_33_CSMS — Get Charging Profile - EvseId > 0 + stackLevel;
    TC_K_35_CSMS — Get Charging Profile - EvseId > 0 + chargingProfilePurpose;
    TC_K_36_CSMS — Get Charging Profile - EvseId > 0 + chargingProfilePurpose + stackLevel.
    The station's ReportChargingProfiles is answered and recorded."""
    async with station(V) as cp:
        request, result = await cp.command("get_charging_profiles", params, "GetChargingProfiles",
                                           {"status": "Accepted"})
        assert request.get("evseId") == params.get("evse_id") and result.outcome == "accepted"
        criterion = request["chargingProfile"]
        assert criterion.get("chargingProfileId") == params.get("profile_ids")
        assert criterion.get("stackLevel") == params.get("stack_level")
        assert await cp.result("ReportChargingProfiles", {
            "requestId": request["requestId"], "chargingLimitSource": "CSO", "evseId": params.get("evse_id", 1),
            "chargingProfile": [{"id": 7, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
                                 "chargingProfileKind": "Absolute", "chargingSchedule": [{
                                     "id": 1, "chargingRateUnit": "A",
                                     "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}]}]}]}) == {}


@pytest.mark.parametrize("case, evse", [("TC_K_43_CSMS", 1), ("TC_K_44_CSMS", 0)])
async def test_TC_K_43_44_CSMS_get_composite_schedule(station, case, evse):
    """TC_K_43_CSMS — Get Composite Schedule - Specific EVSE; TC_K_44_CSMS — Get Composite
    Schedule - Charging Station."""
    answer = {"status": "Accepted", "schedule": {"evseId": evse, "duration": 300, "scheduleStart": now_iso(),
                                                 "chargingRateUnit": "A",
                                                 "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}]}}
    async with station(V) as cp:
        request, result = await cp.command("get_composite_schedule",
                                           {"evse_id": evse, "duration_s": 300, "charging_rate_unit": "A"},
                                           "GetCompositeSchedule", answer)
    assert request == {"evseId": evse, "duration": 300, "chargingRateUnit": "A"} and result.outcome == "accepted"


@pytest.mark.parametrize("case, ongoing", [("TC_K_50_CSMS", False), ("TC_K_51_CSMS", True)])
async def test_TC_K_48_50_51_CSMS_ems_control_external_charging_limit(station, case, ongoing):
    """TC_K_48_CSMS — EMS Control - Set / Update External Charging Limit (not on a transaction);
    TC_K_50_CSMS — EMS Control - Reset / release external charging limit - Without ongoing transaction;
    TC_K_51_CSMS — EMS Control - Reset / release external charging limit - With ongoing transaction."""
    async with station(V) as cp:
        if ongoing:
            await Tx(cp).charging()
        assert await cp.result("NotifyChargingLimit", {"chargingLimit": {"chargingLimitSource": "EMS",
                                                                         "isGridCritical": False}, "evseId": 1}) == {}
        assert await cp.result("ClearedChargingLimit", {"chargingLimitSource": "EMS", "evseId": 1}) == {}
    summaries = [e.summary async for e in StationEvent.objects.filter(kind=StationEvent.Kind.CHARGING_LIMIT)]
    assert sorted(summaries) == ["charging limit from EMS", "charging limit from EMS cleared"]


async def test_TC_K_53_CSMS_charging_with_load_leveling_based_on_high_level_communication(station):
    """TC_K_53_CSMS — Charging with load leveling based on High Level Communication - Success:
    on a site with load management the CSMS accepts the EV's charging needs and answers with
    a TxProfile that follows them; the EV's schedule is accepted."""
    from stations.models import Evse, Site
    from stations.smart_charging.models import SiteLoadLimit

    site = await Site.objects.acreate(name="Depot")
    await SiteLoadLimit.objects.acreate(site=site, max_current_a=63, min_interval_s=0)
    await ChargingStation.objects.filter(station_id=STATION_ID).aupdate(site=site)
    await Evse.objects.acreate(station=await ChargingStation.objects.aget(station_id=STATION_ID), evse_id=1)
    async with station(V) as cp:
        await Tx(cp).event("Started", "Authorized", id_token=VALID, state="EVConnected")
        await cp.client.expect_call("SetChargingProfile", {"status": "Accepted"})
        needs = await cp.result("NotifyEVChargingNeeds", {"evseId": 1, "chargingNeeds": {
            "requestedEnergyTransfer": "AC_single_phase", "departureTime": now_iso(7200),
            "acChargingParameters": {"energyAmount": 20000, "evMinCurrent": 6, "evMaxCurrent": 16,
                                     "evMaxVoltage": 400}}})
        assert needs == {"status": "Accepted"}
        followed = await cp.client.expect_call("SetChargingProfile", {"status": "Accepted"})
        sent = followed["chargingProfile"]
        assert sent["chargingProfilePurpose"] == "TxProfile" and sent["transactionId"] == "TX-1"
        assert sent["chargingSchedule"][0]["chargingSchedulePeriod"][0]["numberPhases"] == 1
        schedule = await cp.result("NotifyEVChargingSchedule", {"timeBase": now_iso(), "evseId": 1,
                                                                "chargingSchedule": {
                                                                    "id": 1, "chargingRateUnit": "A",
                                                                    "chargingSchedulePeriod": [
                                                                        {"startPeriod": 0, "limit": 16}]}})
        assert schedule["status"] == "Accepted"


# --- L. Firmware management ---------------------------------------------------------------

FIRMWARE = [
    ("TC_L_01_CSMS", "Accepted", ["Downloading", "Downloaded", "SignatureVerified", "Installing", "Installed"]),
    ("TC_L_02_CSMS", "Accepted", ["Downloading", "Downloaded", "SignatureVerified", "InstallScheduled", "Installing",
                                  "Installed"]),
    ("TC_L_03_CSMS", "Accepted", ["DownloadScheduled", "Downloading", "Downloaded", "SignatureVerified", "Installing",
                                  "Installed"]),
    ("TC_L_04_CSMS", "RevokedCertificate", []),
    ("TC_L_05_CSMS", "InvalidCertificate", ["InvalidSignature"]),
    ("TC_L_06_CSMS", "Accepted", ["Downloading", "Downloaded", "InvalidSignature"]),
    ("TC_L_07_CSMS", "Accepted", ["Downloading", "DownloadFailed"]),
    ("TC_L_08_CSMS", "Accepted", ["Downloading", "Downloaded", "SignatureVerified", "Installing",
                                  "InstallVerificationFailed"]),
    ("TC_L_09_CSMS", "Accepted", ["Downloading", "Downloaded", "SignatureVerified", "Installing",
                                  "InstallationFailed"]),
    ("TC_L_10_CSMS", "AcceptedCanceled", ["Downloading"]),
    ("TC_L_11_CSMS", "Rejected", []),
    ("TC_L_13_CSMS", "Accepted", ["Downloading", "Downloaded", "SignatureVerified", "InstallScheduled"]),
]


@pytest.mark.parametrize("case, answer, statuses", FIRMWARE, ids=[f[0] for f in FIRMWARE])
async def test_TC_L_01_13_CSMS_secure_firmware_update(station, case, answer, statuses):
    """TC_L_01_CSMS — Secure Firmware Update - Installation successful;
    TC_L_02_CSMS — Secure Firmware Update - InstallScheduled;
    TC_L_03_CSMS — Secure Firmware Update - DownloadScheduled;
    TC_L_04_CSMS — Secure Firmware Update - RevokedCertificate;
    TC_L_05_CSMS — Secure Firmware Update - InvalidCertificate;
    TC_L_06_CSMS — Secure Firmware Update - InvalidSignature;
    TC_L_07_CSMS — Secure Firmware Update - DownloadFailed;
    TC_L_08_CSMS — Secure Firmware Update - InstallVerificationFailed;
    TC_L_09_CSMS — Secure Firmware Update - InstallationFailed;
    TC_L_10_CSMS — Secure Firmware Update - AcceptedCanceled;
    TC_L_11_CSMS — Secure Firmware Update - Unable to cancel;
    TC_L_13_CSMS — Secure Firmware Update - Unable to download/install firmware with ongoing
    transaction - AllowNewSessionsPendingFirmwareUpdate is false."""
    params = {"location": "https://fw.example.com/fw-2.bin", "retrieve_at": now_iso(),
              "signing_certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
              "signature": "c2lnbmF0dXJl", "request_id": 42}
    async with station(V) as cp:
        if case == "TC_L_13_CSMS":
            await Tx(cp).charging()
        request, result = await cp.command("signed_update_firmware", params, "UpdateFirmware", {"status": answer})
        assert request["requestId"] == 42 and request["firmware"]["signingCertificate"].startswith("-----BEGIN")
        assert result.outcome == ("accepted" if answer in ("Accepted", "AcceptedCanceled") else "rejected")
        for status in statuses:
            assert await cp.result("FirmwareStatusNotification", {"status": status, "requestId": 42}) == {}
        if statuses[-1:] == ["Installed"]:
            assert (await cp.boot("FirmwareUpdate"))["status"] == "Accepted"


# --- M. Certificate management ------------------------------------------------------------


@pytest.fixture
async def root_pem(hierarchy):
    from cryptography.hazmat.primitives import serialization

    from pki.models import CaRole
    from pki.services.ca import ca_x509
    from tests.conftest import adb

    certificate = await adb(lambda: ca_x509(hierarchy[CaRole.CSMS_ROOT]))()
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture
def hierarchy(db):
    from pki.models import CertificateAuthority
    from pki.services.ca import ensure_hierarchy

    ensure_hierarchy()
    return {ca.role: ca for ca in CertificateAuthority.objects.all()}


INSTALLS = [("TC_M_01_CSMS", "CSMSRootCertificate", "Accepted"), ("TC_M_02_CSMS", "ManufacturerRootCertificate",
                                                                  "Accepted"),
            ("TC_M_03_CSMS", "V2GRootCertificate", "Accepted"), ("TC_M_04_CSMS", "MORootCertificate", "Accepted"),
            ("TC_M_05_CSMS", "CSMSRootCertificate", "Failed")]


@pytest.mark.parametrize("case, kind, answer", INSTALLS, ids=[i[0] for i in INSTALLS])
async def test_TC_M_01_05_CSMS_install_ca_certificate(station, root_pem, case, kind, answer):
    """TC_M_01_CSMS — Install CA certificate - CSMSRootCertificate;
    TC_M_02_CSMS — Install CA certificate - ManufacturerRootCertificate;
    TC_M_03_CSMS — Install CA certificate - V2GRootCertificate;
    TC_M_04_CSMS — Install CA certificate - MORootCertificate;
    TC_M_05_CSMS — Install CA certificate - Failed."""
    async with station(V) as cp:
        request, result = await cp.command("install_certificate", {"certificate_type": kind, "certificate": root_pem},
                                           "InstallCertificate", {"status": answer})
    assert request == {"certificateType": kind, "certificate": root_pem}
    assert result.outcome == ("accepted" if answer == "Accepted" else "rejected")


RETRIEVES = [("TC_M_12_CSMS", ["CSMSRootCertificate"]), ("TC_M_13_CSMS", ["ManufacturerRootCertificate"]),
             ("TC_M_14_CSMS", ["V2GRootCertificate"]), ("TC_M_15_CSMS", ["V2GCertificateChain"]),
             ("TC_M_16_CSMS", ["MORootCertificate"]),
             ("TC_M_17_CSMS", ["CSMSRootCertificate", "ManufacturerRootCertificate"]),
             ("TC_M_18_CSMS", []), ("TC_M_19_CSMS", ["MORootCertificate"])]


@pytest.mark.parametrize("case, kinds", RETRIEVES, ids=[r[0] for r in RETRIEVES])
async def test_TC_M_12_19_CSMS_retrieve_certificates_from_charging_station(station, case, kinds):
    """TC_M_12_CSMS — Retrieve certificates from Charging Station - CSMSRootCertificate;
    TC_M_13_CSMS — Retrieve certificates from Charging Station - ManufacturerRootCertificate;
    TC_M_14_CSMS — Retrieve certificates from Charging Station - V2GRootCertificate;
    TC_M_15_CSMS — Retrieve certificates from Charging Station - V2GCertificateChain;
    TC_M_16_CSMS — Retrieve certificates from Charging Station - MORootCertificate;
    TC_M_17_CSMS — Retrieve certificates from Charging Station - CSMSRootCertificate & ManufacturerRootCertificate;
    TC_M_18_CSMS — Retrieve certificates from Charging Station - All certificateTypes;
    TC_M_19_CSMS — Retrieve certificates from Charging Station - No matching certificate found."""
    hash_data = {"hashAlgorithm": "SHA256", "issuerNameHash": "a" * 64, "issuerKeyHash": "b" * 64,
                 "serialNumber": "01"}
    answer = ({"status": "NotFound"} if case == "TC_M_19_CSMS" else
              {"status": "Accepted", "certificateHashDataChain": [
                  {"certificateType": kind, "certificateHashData": hash_data}
                  for kind in (kinds or ["CSMSRootCertificate"])
              ]})
    async with station(V) as cp:
        request, result = await cp.command("get_installed_certificate_ids", {"certificate_types": kinds},
                                           "GetInstalledCertificateIds", answer)
    assert request.get("certificateType", []) == kinds
    assert result.outcome == ("rejected" if case == "TC_M_19_CSMS" else "accepted")


@pytest.mark.parametrize("case, answer", [("TC_M_20_CSMS", "Accepted"), ("TC_M_21_CSMS", "Failed")])
async def test_TC_M_20_21_CSMS_delete_a_certificate_from_a_charging_station(station, case, answer):
    """TC_M_20_CSMS — Delete a certificate from a Charging Station - Success; TC_M_21_CSMS — Delete
    a certificate from a Charging Station - Failed."""
    params = {"issuer_name_hash": "a" * 64, "issuer_key_hash": "b" * 64, "serial_number": "01"}
    async with station(V) as cp:
        request, result = await cp.command("delete_certificate", params, "DeleteCertificate", {"status": answer})
    assert request["certificateHashData"]["serialNumber"] == "01"
    assert result.outcome == ("accepted" if answer == "Accepted" else "rejected")


@pytest.mark.parametrize("case, kind", [("TC_A_11_CSMS", "ChargingStationCertificate"),
                                        ("TC_A_12_CSMS", "V2GCertificate")])
async def test_TC_A_11_12_CSMS_update_charging_station_certificate_by_request_of_csms(station, hierarchy, case, kind):
    """TC_A_11_CSMS — Update Charging Station Certificate by request of CSMS - Success - Charging Station Certificate;
    TC_A_12_CSMS — Update Charging Station Certificate by request of CSMS - Success - V2G Certificate."""
    from tests.pki.conftest import make_csr

    _, csr = make_csr(STATION_ID)
    async with station(V) as cp:
        request, result = await cp.command("trigger_certificate_signing", {"certificate_type": kind},
                                           "TriggerMessage", {"status": "Accepted"})
        expected = "SignChargingStationCertificate" if kind == "ChargingStationCertificate" else "SignV2GCertificate"
        assert request == {"requestedMessage": expected} and result.outcome == "accepted"
        assert (await cp.result("SignCertificate", {"csr": csr, "certificateType": kind}))["status"] == "Accepted"
        signed = await cp.client.expect_call("CertificateSigned", {"status": "Accepted"})
    assert signed["certificateType"] == kind and "BEGIN CERTIFICATE" in signed["certificateChain"]


async def test_TC_A_14_CSMS_update_charging_station_certificate_invalid_certificate(station, hierarchy):
    """TC_A_14_CSMS — Update Charging Station Certificate by request of CSMS - Invalid certificate:
    the station refuses the signed certificate; the CSMS records the refusal."""
    from pki.models import SigningRequest
    from tests.pki.conftest import make_csr

    _, csr = make_csr(STATION_ID)
    async with station(V) as cp:
        assert (await cp.result("SignCertificate", {"csr": csr, "certificateType": "ChargingStationCertificate"})
                )["status"] == "Accepted"
        await cp.client.expect_call("CertificateSigned", {"status": "Rejected"})
        await cp.status("Available")  # the answer was processed before this one
    request = await SigningRequest.objects.aget()
    assert request.status != "delivered"


# --- N. Diagnostics -----------------------------------------------------------------------


@pytest.mark.parametrize("case, log_type, answer, statuses", [
    ("TC_N_25_CSMS", "DiagnosticsLog", "Accepted", ["Uploading", "Uploaded"]),
    ("TC_N_34_CSMS", "DiagnosticsLog", "Rejected", []),
    ("TC_N_35_CSMS", "SecurityLog", "Accepted", ["Uploading", "Uploaded"]),
    ("TC_N_36_CSMS", "DiagnosticsLog", "AcceptedCanceled", ["Uploading", "Uploaded"]),
])
async def test_TC_N_25_34_35_36_CSMS_retrieve_log_information(station, case, log_type, answer, statuses):
    """TC_N_25_CSMS — Retrieve Log Information - Diagnostics Log - Success; TC_N_34_CSMS — Retrieve
    Log Information - Rejected; TC_N_35_CSMS — Retrieve Log Information - Security Log - Success;
    TC_N_36_CSMS — Retrieve Log Information - Second Request."""
    async with station(V) as cp:
        request, result = await cp.command("get_log", {"location": "ftp://user:pw@logs/upload", "log_type": log_type},
                                           "GetLog", {"status": answer, "filename": "log.zip"})
        assert request["logType"] == log_type and request["log"]["remoteLocation"] == "ftp://user:pw@logs/upload"
        assert result.outcome == ("rejected" if answer == "Rejected" else "accepted")
        for status in statuses:
            assert await cp.result("LogStatusNotification", {"status": status,
                                                             "requestId": request["requestId"]}) == {}


@pytest.mark.parametrize("case, answer", [("TC_N_27_CSMS", "Accepted"), ("TC_N_28_CSMS", "Accepted"),
                                          ("TC_N_29_CSMS", "Rejected")])
async def test_TC_N_27_29_CSMS_get_customer_information(station, case, answer):
    """TC_N_27_CSMS — Get Customer Information - Accepted + data; TC_N_28_CSMS — Get Customer
    Information - Accepted + no data; TC_N_29_CSMS — Get Customer Information - Not Accepted.
    Sent with the ``raw`` command; the station's NotifyCustomerInformation is answered."""
    payload = {"requestId": 5, "report": True, "clear": False, "idToken": token()}
    async with station(V) as cp:
        request, result = await cp.command("raw", {"action": "CustomerInformation", "payload": payload},
                                           "CustomerInformation", {"status": answer})
        assert request == payload and result.outcome == ("accepted" if answer == "Accepted" else "rejected")
        if answer == "Accepted":
            assert await cp.result("NotifyCustomerInformation", {
                "data": "card seen 3 times" if case == "TC_N_27_CSMS" else "No data", "seqNo": 0,
                "generatedAt": now_iso(), "requestId": 5}) == {}
            event = await StationEvent.objects.aget(kind=StationEvent.Kind.NOTIFY_EVENT)
            assert event.summary.startswith("customer information (request 5")


@pytest.mark.parametrize("case, report, clear, identifier", [
    ("TC_N_30_CSMS", True, True, None), ("TC_N_31_CSMS", True, True, None), ("TC_N_32_CSMS", False, True, None),
    ("TC_N_62_CSMS", True, True, "customer-4711"),
])
async def test_TC_N_30_32_62_CSMS_clear_customer_information(station, case, report, clear, identifier):
    """TC_N_30_CSMS — Clear Customer Information - Clear and report + data; TC_N_31_CSMS — Clear
    Customer Information - Clear and report + no data; TC_N_32_CSMS — Clear Customer Information -
    Clear and no report; TC_N_62_CSMS — Clear Customer Information - Clear and report -
    customerIdentifier. Sent with the ``raw`` command."""
    payload = {"requestId": 6, "report": report, "clear": clear,
               **({"customerIdentifier": identifier} if identifier else {"idToken": token()})}
    async with station(V) as cp:
        request, result = await cp.command("raw", {"action": "CustomerInformation", "payload": payload},
                                           "CustomerInformation", {"status": "Accepted"})
        assert request == payload and result.outcome == "accepted"
        if report:
            assert await cp.result("NotifyCustomerInformation", {
                "data": "Cleared" if case != "TC_N_30_CSMS" else "card seen 3 times; cleared", "seqNo": 0,
                "generatedAt": now_iso(), "requestId": 6}) == {}
            assert await StationEvent.objects.filter(summary__startswith="customer information (request 6").aexists()


# --- P. Data transfer ---------------------------------------------------------------------


async def test_TC_P_02_CSMS_data_transfer_to_the_csms_rejected_unknown(station):
    """TC_P_02_CSMS — Data Transfer to the CSMS - Rejected / Unknown VendorId / Unknown MessageId."""
    async with station(V) as cp:
        answer = await cp.result("DataTransfer", {"vendorId": "com.example.octt", "messageId": "Ping",
                                                  "data": {"nested": [1, 2]}})
    assert answer["status"] in ("Rejected", "UnknownVendorId", "UnknownMessageId")


async def test_TC_P_03_CSMS_customdata_receive_custom_data(station):
    """TC_P_03_CSMS — CustomData - Receive custom data: a customData object is accepted anywhere."""
    async with station(V) as cp:
        answer = await cp.result("Heartbeat", {"customData": {"vendorId": "com.example.octt", "extra": 1}})
        assert "currentTime" in answer
        assert await cp.status("Available") == {}
