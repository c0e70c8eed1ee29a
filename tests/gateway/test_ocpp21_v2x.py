"""OCPP 2.1 V2X (bidirectional charging) as real frames: energy fed back is metered apart from
energy drawn, the car's V2X charging needs are kept for the load manager, and the CSMS's
V2X messages (discharging setpoints, allowed energy transfer, aFRR) reach the station in
2.1 form. Answers and calls are validated against the 2.1 schemas."""

import asyncio

import pytest
from django.utils import timezone
from ocpp.messages import Call, _validate_payload

from stations.commands.service import send_command_async
from stations.models import (
    ChargingProfile,
    ChargingSession,
    Evse,
    ProfileStatus,
    SessionLoadState,
)
from tests.conftest import adb
from tests.gateway.ocpp21 import result21

pytestmark = pytest.mark.django_db(transaction=True)

T0, T1, T2, T3 = (f"2025-03-01T{hhmm}:00Z" for hhmm in ("10:00", "10:15", "10:30", "11:00"))


def registers(timestamp: str, imported: int, exported: int, context: str = "Sample.Periodic") -> list[dict]:
    return [{"timestamp": timestamp, "sampledValue": [
        {"value": imported, "context": context, "measurand": "Energy.Active.Import.Register"},
        {"value": exported, "context": context, "measurand": "Energy.Active.Export.Register"},
    ]}]


def event(event_type: str, seq_no: int, timestamp: str, trigger: str, info: dict | None = None, **extra) -> dict:
    return {"eventType": event_type, "timestamp": timestamp, "triggerReason": trigger, "seqNo": seq_no,
            "transactionInfo": {"transactionId": "V2G-1", **(info or {})}, **extra}


@pytest.fixture
async def station(make_station, make_token):
    await adb(make_token)("TOKEN-1")
    station = await adb(make_station)("CS-21")
    await Evse.objects.acreate(station=station, evse_id=1)
    return station


@pytest.fixture
def ocpp21(ocpp):
    def connect(station_id: str = "CS-21"):
        return ocpp(station_id, version="2.1")

    return connect


async def start(client) -> None:
    await result21(client, "TransactionEvent", event(
        "Started", 0, T0, "Authorized", {"chargingState": "Charging", "operationMode": "ChargingOnly"},
        evse={"id": 1, "connectorId": 1}, idToken={"idToken": "TOKEN-1", "type": "ISO14443"},
        meterValue=registers(T0, 10_000, 2_000, "Transaction.Begin"),
    ))


async def test_export_register_is_metered_apart_from_import(station, ocpp21):
    async with ocpp21() as client:
        await start(client)
        # Discharging for a while: the export register moves, the import register stands.
        await result21(client, "TransactionEvent", event(
            "Updated", 1, T1, "OperationModeChanged",
            {"chargingState": "Charging", "operationMode": "CentralSetpoint"}))
        await result21(client, "TransactionEvent", event(
            "Updated", 2, T2, "MeterValuePeriodic", {"chargingState": "Charging"},
            meterValue=registers(T2, 10_000, 5_500)))
        # (a meter-only Updated takes the batched write path: it moves the export register too)
        midway = await ChargingSession.objects.aget(transaction_id="V2G-1")
        assert (midway.energy_wh, midway.energy_exported_wh) == (0, 3_500)
        await result21(client, "TransactionEvent", event(
            "Ended", 3, T3, "EVDeparted", {"chargingState": "Idle", "stoppedReason": "EVDisconnected"},
            meterValue=registers(T3, 16_000, 5_500, "Transaction.End")))
    session = await ChargingSession.objects.aget(transaction_id="V2G-1")
    assert (session.energy_wh, session.energy_exported_wh) == (6_000, 3_500)
    assert session.operation_mode == "CentralSetpoint"
    assert session.charging_state == "Idle"


async def test_v2x_charging_needs_are_kept_for_the_load_manager(station, ocpp21):
    departure = "2025-03-01T18:00:00Z"
    async with ocpp21() as client:
        await start(client)
        answer = await result21(client, "NotifyEVChargingNeeds", {"evseId": 1, "chargingNeeds": {
            "requestedEnergyTransfer": "AC_BPT",
            "availableEnergyTransfer": ["AC_three_phase", "AC_BPT"],
            "controlMode": "ScheduledControl",
            "departureTime": departure,
            "acChargingParameters": {"energyAmount": 20_000, "evMinCurrent": 6, "evMaxCurrent": 16,
                                     "evMaxVoltage": 400},
            "v2xChargingParameters": {"maxChargePower": 11_000, "maxDischargePower": 7_400,
                                      "evTargetEnergyRequest": 18_000, "evMinEnergyRequest": -9_000,
                                      "evMaxEnergyRequest": 30_000, "targetSoC": 80},
        }})
    assert answer["status"] == "Rejected"  # the site has no load management to plan with
    state = await SessionLoadState.objects.aget(session__transaction_id="V2G-1")
    # Energies count from the session's start (it holds nothing yet); the V2X target wins
    # over the AC energy amount, the V2X charge power over the AC current.
    assert (state.energy_request_wh, state.ev_max_power_w, state.ev_max_discharge_power_w) == (18_000, 11_000, 7_400)
    assert (state.ev_min_energy_request_wh, state.ev_max_energy_request_wh, state.target_soc) == (-9_000, 30_000, 80)
    assert state.requested_energy_transfer == "AC_BPT" and state.can_discharge
    assert state.available_energy_transfer == ["AC_three_phase", "AC_BPT"]


async def test_charging_needs_without_bidirectional_mode_cannot_discharge(station, ocpp21):
    async with ocpp21() as client:
        await start(client)
        await result21(client, "NotifyEVChargingNeeds", {"evseId": 1, "chargingNeeds": {
            "requestedEnergyTransfer": "AC_three_phase",
            "v2xChargingParameters": {"maxDischargePower": 7_400},
        }})
    state = await SessionLoadState.objects.aget(session__transaction_id="V2G-1")
    assert not state.can_discharge


async def command(client, name: str, params: dict, answer: dict) -> tuple[dict, object]:
    """Send a command to the connected 2.1 station; the station checks the CALL against the
    2.1 schema and answers it."""
    sending = asyncio.create_task(send_command_async(station_id="CS-21", command=name, params=params))
    frame = await client.receive_frame()
    assert frame[0] == 2, frame
    _validate_payload(Call(frame[1], frame[2], frame[3]), "2.1")
    await client.send_frame([3, frame[1], answer])
    return frame, await sending


async def test_discharging_setpoint_profile_reaches_the_station_and_is_recorded(station, ocpp21):
    async with ocpp21() as client:
        await start(client)
        frame, result = await command(client, "set_charging_profile", {
            "evse_id": 1, "purpose": "TxProfile", "transaction_id": "V2G-1", "charging_rate_unit": "W",
            "periods": [{"start_period_s": 0, "limit": 11_000, "setpoint": -7_000, "discharge_limit": -7_400,
                         "operation_mode": "CentralSetpoint"}],
        }, {"status": "Accepted"})
    assert frame[2] == "SetChargingProfile"
    period = frame[3]["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][0]
    assert period == {"startPeriod": 0, "limit": 11000.0, "setpoint": -7000.0, "dischargeLimit": -7400.0,
                      "operationMode": "CentralSetpoint"}
    assert result.outcome == "accepted"
    profile = await ChargingProfile.objects.aget(station=station, transaction_id="V2G-1")
    assert profile.status == ProfileStatus.ACTIVE
    assert profile.periods[0]["setpoint"] == -7000 and profile.periods[0]["operation_mode"] == "CentralSetpoint"


async def test_allowed_energy_transfer_is_sent_and_remembered(station, ocpp21):
    async with ocpp21() as client:
        await start(client)
        frame, result = await command(client, "notify_allowed_energy_transfer", {
            "transaction_id": "V2G-1", "allowed_energy_transfer": ["AC_three_phase"],
        }, {"status": "Accepted"})
    assert frame[2:] == ["NotifyAllowedEnergyTransfer",
                         {"transactionId": "V2G-1", "allowedEnergyTransfer": ["AC_three_phase"]}]
    assert result.outcome == "accepted"
    state = await SessionLoadState.objects.aget(session__transaction_id="V2G-1")
    assert state.allowed_energy_transfer == ["AC_three_phase"]


async def test_afrr_signal_is_passed_through(station, ocpp21):
    async with ocpp21() as client:
        frame, result = await command(client, "afrr_signal", {"signal": -35, "timestamp": T1}, {"status": "Accepted"})
    assert frame[2:] == ["AFRRSignal", {"timestamp": T1, "signal": -35}]
    assert result.outcome == "accepted"


async def test_v2x_command_to_a_201_station_is_refused_before_sending(station, ocpp):
    from stations.commands.service import CommandError

    async with ocpp("CS-21", version="2.0.1") as client:
        with pytest.raises(CommandError, match="2.1"):
            await send_command_async(station_id="CS-21", command="afrr_signal", params={"signal": 1})
        assert await client.communicator.receive_nothing(timeout=0.2)
