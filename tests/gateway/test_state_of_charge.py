"""The car's state of charge as real frames in 1.6, 2.0.1 and 2.1: measurand SoC in meter
values (batched or not) and a DC car's charging needs give the session its latest SoC; every
reading stays in the meter data; an older reading arriving late never replaces a newer one."""

from datetime import UTC, datetime

import pytest

from stations.models import ChargingSession, Evse, Location, Measurand, MeterSample
from tests.conftest import adb
from tests.gateway.ocpp21 import result21

pytestmark = pytest.mark.django_db(transaction=True)

T0, T1, T2, T3 = (f"2025-03-01T{hhmm}:00Z" for hhmm in ("10:00", "10:15", "10:30", "11:00"))


def utc(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


@pytest.fixture
async def token(make_token):
    await adb(make_token)("TOKEN-1", driver_email="driver@example.com")


async def soc_history(session: ChargingSession) -> list[tuple[datetime, float, int]]:
    return [(s.timestamp, s.value, s.location) async for s in MeterSample.objects.filter(
        session=session, measurand=Measurand.SOC).order_by("timestamp")]


# --- 1.6 ------------------------------------------------------------------------------------


def reading16(timestamp: str, wh: int, soc: str, location: str = "EV") -> dict:
    return {"timestamp": timestamp, "sampledValue": [
        {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
        {"value": soc, "measurand": "SoC", "unit": "Percent", "location": location},
    ]}


async def test_16_meter_values_give_the_session_its_latest_soc(token, make_station, ocpp):
    await adb(make_station)("CP-1")
    async with ocpp("CP-1") as client:
        started = await client.result("StartTransaction", {
            "connectorId": 1, "idTag": "TOKEN-1", "meterStart": 1000, "timestamp": T0})
        tx = started["transactionId"]
        await client.result("MeterValues", {"connectorId": 1, "transactionId": tx,
                                            "meterValue": [reading16(T1, 3000, "41.5")]})
        await client.result("MeterValues", {"connectorId": 1, "transactionId": tx,
                                            "meterValue": [reading16(T2, 5000, "47")]})
        # A reading from the station's queue, older than what we have: kept, not the latest.
        await client.result("MeterValues", {"connectorId": 1, "transactionId": tx,
                                            "meterValue": [reading16(T0, 1000, "38")]})
    session = await ChargingSession.objects.aget(transaction_id=str(tx))
    assert (session.soc_percent, session.soc_at) == (47.0, utc(T2))
    assert await soc_history(session) == [
        (utc(T0), 38.0, Location.EV), (utc(T1), 41.5, Location.EV), (utc(T2), 47.0, Location.EV)]


async def test_16_meter_values_without_a_transaction_reach_the_session_on_the_connector(token, make_station, ocpp):
    await adb(make_station)("CP-1")
    async with ocpp("CP-1") as client:
        started = await client.result("StartTransaction", {
            "connectorId": 1, "idTag": "TOKEN-1", "meterStart": 1000, "timestamp": T0})
        await client.result("MeterValues", {"connectorId": 1, "meterValue": [reading16(T1, 2000, "55")]})
        # Not a state of charge: stored as a reading, the session's SoC stays.
        await client.result("MeterValues", {"connectorId": 1, "meterValue": [reading16(T2, 2500, "180")]})
    session = await ChargingSession.objects.aget(transaction_id=str(started["transactionId"]))
    assert session.soc_percent == 55.0
    assert [value for _, value, _ in await soc_history(session)] == [55.0, 180.0]


# --- 2.0.1 ----------------------------------------------------------------------------------


def meter_value(timestamp: str, wh: int, soc: float, context: str = "Sample.Periodic") -> list[dict]:
    return [{"timestamp": timestamp, "sampledValue": [
        {"value": wh, "context": context, "measurand": "Energy.Active.Import.Register"},
        {"value": soc, "context": context, "measurand": "SoC", "location": "EV",
         "unitOfMeasure": {"unit": "Percent"}},
    ]}]


def tx_event(event_type: str, seq_no: int, timestamp: str, trigger: str, tx: str, info: dict | None = None,
             **extra) -> dict:
    return {"eventType": event_type, "timestamp": timestamp, "triggerReason": trigger, "seqNo": seq_no,
            "transactionInfo": {"transactionId": tx, **(info or {})}, **extra}


async def test_201_transaction_events_carry_the_soc_from_start_to_end(token, make_station, ocpp):
    station = await adb(make_station)("CS-1")
    await Evse.objects.acreate(station=station, evse_id=1)
    async with ocpp("CS-1", version="2.0.1") as client:
        await client.result("TransactionEvent", tx_event(
            "Started", 0, T0, "Authorized", "TX-1", {"chargingState": "Charging"},
            evse={"id": 1, "connectorId": 1}, idToken={"idToken": "TOKEN-1", "type": "ISO14443"},
            meterValue=meter_value(T0, 1000, 20, "Transaction.Begin")))
        session = await ChargingSession.objects.aget(transaction_id="TX-1")
        assert session.soc_percent == 20.0
        # Updated without a token takes the batched path.
        await client.result("TransactionEvent", tx_event(
            "Updated", 1, T1, "MeterValuePeriodic", "TX-1", meterValue=meter_value(T1, 6000, 28.4)))
        session = await ChargingSession.objects.aget(transaction_id="TX-1")
        assert (session.soc_percent, session.soc_at) == (28.4, utc(T1))
        await client.result("TransactionEvent", tx_event(
            "Ended", 2, T3, "EVDeparted", "TX-1", {"stoppedReason": "EVDisconnected"},
            meterValue=meter_value(T3, 11000, 36, "Transaction.End")))
    session = await ChargingSession.objects.aget(transaction_id="TX-1")
    assert (session.soc_percent, session.soc_at, session.energy_wh) == (36.0, utc(T3), 10_000)
    assert [value for _, value, _ in await soc_history(session)] == [20.0, 28.4, 36.0]


async def test_201_dc_charging_needs_give_the_soc(token, make_station, ocpp):
    station = await adb(make_station)("CS-1")
    await Evse.objects.acreate(station=station, evse_id=1)
    async with ocpp("CS-1", version="2.0.1") as client:
        await client.result("TransactionEvent", tx_event(
            "Started", 0, T0, "Authorized", "TX-DC", {"chargingState": "Charging"},
            evse={"id": 1, "connectorId": 1}, idToken={"idToken": "TOKEN-1", "type": "ISO14443"}))
        answer = await client.result("NotifyEVChargingNeeds", {"evseId": 1, "chargingNeeds": {
            "requestedEnergyTransfer": "DC", "dcChargingParameters": {
                "evMaxCurrent": 200, "evMaxVoltage": 800, "stateOfCharge": 63, "evEnergyCapacity": 77_000}}})
    assert answer["status"] in ("Accepted", "Rejected")  # no managed site: Rejected, the SoC is still kept
    session = await ChargingSession.objects.aget(transaction_id="TX-DC")
    assert session.soc_percent == 63.0 and session.soc_at is not None


# --- 2.1 ------------------------------------------------------------------------------------


async def test_21_soc_and_operation_mode_while_discharging(token, make_station, ocpp):
    station = await adb(make_station)("CS-21")
    await Evse.objects.acreate(station=station, evse_id=1)
    async with ocpp("CS-21", version="2.1") as client:
        await result21(client, "TransactionEvent", tx_event(
            "Started", 0, T0, "Authorized", "V2G-1", {"chargingState": "Charging", "operationMode": "ChargingOnly"},
            evse={"id": 1, "connectorId": 1}, idToken={"idToken": "TOKEN-1", "type": "ISO14443"},
            meterValue=meter_value(T0, 10_000, 70, "Transaction.Begin")))
        await result21(client, "TransactionEvent", tx_event(
            "Updated", 1, T1, "MeterValuePeriodic", "V2G-1", {"operationMode": "CentralSetpoint"},
            meterValue=meter_value(T1, 10_000, 64.5)))
        await result21(client, "NotifyEVChargingNeeds", {"evseId": 1, "timestamp": T2, "chargingNeeds": {
            "requestedEnergyTransfer": "DC_BPT", "dcChargingParameters": {
                "evMaxCurrent": 100, "evMaxVoltage": 400, "stateOfCharge": 61},
            "v2xChargingParameters": {"maxDischargePower": 10_000, "targetSoC": 80}}})
    session = await ChargingSession.objects.select_related("load_state").aget(transaction_id="V2G-1")
    assert (session.soc_percent, session.soc_at) == (61.0, utc(T2))
    assert session.operation_mode == "CentralSetpoint"
    assert session.load_state.target_soc == 80
    assert [value for _, value, _ in await soc_history(session)] == [70.0, 64.5]
