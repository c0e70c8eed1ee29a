"""OCPP 2.0.1 transactions: the TransactionEvent stream as real frames, including repeats,
events from the offline queue and events that arrive out of order."""

from datetime import UTC, datetime

import pytest

from stations.models import (
    ChargingSession,
    MeterSample,
    ReadingContext,
    SessionStatus,
    TransactionEventRecord,
)
from tests.conftest import adb

pytestmark = pytest.mark.django_db(transaction=True)

T0, T1, T2, T3 = (f"2025-03-01T{hhmm}:00Z" for hhmm in ("10:00", "10:15", "10:30", "11:00"))


def utc(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def energy(value_wh: float, timestamp: str, context: str = "Sample.Periodic") -> dict:
    return {
        "timestamp": timestamp,
        "sampledValue": [
            {"value": value_wh, "context": context, "measurand": "Energy.Active.Import.Register",
             "unitOfMeasure": {"unit": "Wh"}}
        ],
    }


def transaction_event(
    event_type: str,
    seq_no: int,
    timestamp: str,
    trigger_reason: str,
    transaction_id: str = "TX-1",
    transaction_info: dict | None = None,
    **extra,
) -> dict:
    return {
        "eventType": event_type,
        "timestamp": timestamp,
        "triggerReason": trigger_reason,
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": transaction_id, **(transaction_info or {})},
        **extra,
    }


def started(seq_no=0, timestamp=T0, meter_wh=1000, token="TOKEN-1", **extra) -> dict:
    if token is not None:
        extra.setdefault("idToken", {"idToken": token, "type": "ISO14443"})
    return transaction_event(
        "Started", seq_no, timestamp, "Authorized" if token else "CablePluggedIn",
        transaction_info={"chargingState": "EVConnected"},
        evse={"id": 1, "connectorId": 1},
        meterValue=[energy(meter_wh, timestamp, "Transaction.Begin")],
        **extra,
    )


def updated(seq_no, timestamp, meter_wh, **extra) -> dict:
    return transaction_event(
        "Updated", seq_no, timestamp, "MeterValuePeriodic",
        transaction_info={"chargingState": "Charging"},
        meterValue=[energy(meter_wh, timestamp)],
        **extra,
    )


def ended(seq_no, timestamp, meter_wh, stopped_reason="EVDisconnected", **extra) -> dict:
    return transaction_event(
        "Ended", seq_no, timestamp, "EVDeparted",
        transaction_info={"chargingState": "Idle", "stoppedReason": stopped_reason},
        meterValue=[energy(meter_wh, timestamp, "Transaction.End")],
        **extra,
    )


@pytest.fixture
async def station(make_station, make_token):
    await adb(make_token)("TOKEN-1", driver_email="driver@example.com")
    await adb(make_token)("TOKEN-2", driver_email="other@example.com")
    return await adb(make_station)("CS-1")


@pytest.fixture
def ocpp201(ocpp):
    def connect(station_id: str = "CS-1"):
        return ocpp(station_id, version="2.0.1")

    return connect


async def session_of(transaction_id: str = "TX-1") -> ChargingSession:
    return await ChargingSession.objects.select_related("station", "driver", "evse", "connector").aget(
        transaction_id=transaction_id
    )


async def seq_nos(transaction_id: str = "TX-1") -> list[int]:
    return [e.seq_no async for e in TransactionEventRecord.objects.filter(session__transaction_id=transaction_id)]


# --- a whole transaction ------------------------------------------------------------


async def test_started_with_id_token_returns_id_token_info_and_binds_the_driver(station, ocpp201):
    async with ocpp201() as client:
        answer = await client.result("TransactionEvent", started())
    assert answer == {"idTokenInfo": {"status": "Accepted"}}
    session = await session_of()
    assert session.status == SessionStatus.ACTIVE
    assert session.driver.email == "driver@example.com"
    assert (session.id_token_value, session.authorization_status) == ("TOKEN-1", "Accepted")
    assert (session.evse.evse_id, session.connector.connector_id) == (1, 1)
    assert session.started_at == utc(T0)
    assert session.charging_state == "EVConnected"


async def test_started_with_unknown_id_token_is_invalid_but_recorded(station, ocpp201):
    async with ocpp201() as client:
        answer = await client.result("TransactionEvent", started(token="STRANGER"))
    assert answer == {"idTokenInfo": {"status": "Invalid"}}
    session = await session_of()
    assert session.authorization_status == "Invalid"
    assert session.driver_id is None


async def test_event_without_id_token_answers_without_id_token_info(station, ocpp201):
    async with ocpp201() as client:
        answer = await client.result("TransactionEvent", started(token=None))
    assert answer == {}
    assert (await session_of()).id_token_value == ""


async def test_started_updated_ended_complete_a_session(station, ocpp201):
    async with ocpp201() as client:
        await client.result("TransactionEvent", started(meter_wh=1000))
        assert await client.result("TransactionEvent", updated(1, T1, 2500)) == {}
        assert (await session_of()).energy_wh == 1500
        assert await client.result("TransactionEvent", ended(2, T3, 4000)) == {}
    session = await session_of()
    assert session.status == SessionStatus.COMPLETED
    assert (session.started_at, session.stopped_at) == (utc(T0), utc(T3))
    assert session.last_seq_no == 2
    assert await seq_nos() == [0, 1, 2]
    assert await MeterSample.objects.filter(session=session).acount() == 3


async def test_energy_comes_from_transaction_begin_and_end_registers(station, ocpp201):
    async with ocpp201() as client:
        await client.result("TransactionEvent", started(meter_wh=10_000))
        await client.result("TransactionEvent", updated(1, T1, 12_000))
        await client.result("TransactionEvent", ended(2, T3, 17_500))
    session = await session_of()
    assert (session.meter_start_wh, session.meter_stop_wh, session.energy_wh) == (10_000, 17_500, 7_500)
    contexts = [s.context async for s in MeterSample.objects.filter(session=session).order_by("timestamp")]
    assert contexts == [ReadingContext.TRANSACTION_BEGIN, ReadingContext.SAMPLE_PERIODIC,
                        ReadingContext.TRANSACTION_END]


async def test_energy_in_kwh_with_multiplier_is_normalised_to_wh(station, ocpp201):
    def reading(value, timestamp, context):
        return {"timestamp": timestamp, "sampledValue": [
            {"value": value, "context": context, "unitOfMeasure": {"unit": "kWh", "multiplier": 0}}]}

    async with ocpp201() as client:
        await client.result("TransactionEvent", transaction_event(
            "Started", 0, T0, "CablePluggedIn", evse={"id": 1}, meterValue=[reading(1.25, T0, "Transaction.Begin")]))
        await client.result("TransactionEvent", transaction_event(
            "Ended", 1, T3, "EVDeparted", meterValue=[reading(3.75, T3, "Transaction.End")]))
    session = await session_of()
    assert (session.meter_start_wh, session.meter_stop_wh, session.energy_wh) == (1250, 3750, 2500)


async def test_without_begin_and_end_samples_energy_is_last_minus_first_reading(station, ocpp201):
    async with ocpp201() as client:
        await client.result("TransactionEvent", transaction_event(
            "Started", 0, T0, "CablePluggedIn", evse={"id": 1, "connectorId": 1}))
        await client.result("TransactionEvent", updated(1, T1, 5_000))
        await client.result("TransactionEvent", updated(2, T2, 6_200))
        await client.result("TransactionEvent", transaction_event("Ended", 3, T3, "EVDeparted"))
    session = await session_of()
    assert session.energy_wh == 1_200
    assert session.meter_stop_wh == 6_200


async def test_charging_state_and_stopped_reason_are_stored(station, ocpp201):
    async with ocpp201() as client:
        await client.result("TransactionEvent", started())
        await client.result("TransactionEvent", transaction_event(
            "Updated", 1, T1, "ChargingStateChanged", transaction_info={"chargingState": "SuspendedEV"}))
        assert (await session_of()).charging_state == "SuspendedEV"
        await client.result("TransactionEvent", ended(2, T3, 3000, stopped_reason="SOCLimitReached"))
    session = await session_of()
    assert (session.charging_state, session.stop_reason) == ("Idle", "SOCLimitReached")


async def test_ended_without_stopped_reason_is_a_local_stop(station, ocpp201):
    async with ocpp201() as client:
        await client.result("TransactionEvent", started())
        await client.result("TransactionEvent", transaction_event("Ended", 1, T3, "StopAuthorized"))
    assert (await session_of()).stop_reason == "Local"


async def test_remote_start_id_and_reservation_id_are_stored(station, ocpp201):
    async with ocpp201() as client:
        await client.result("TransactionEvent", transaction_event(
            "Started", 0, T0, "RemoteStart", transaction_info={"remoteStartId": 77}, reservationId=5,
            evse={"id": 1}))
    session = await session_of()
    assert (session.remote_start_id, session.reservation_id) == (77, 5)


# --- repeats, offline queue, order ----------------------------------------------------


async def test_repeated_event_with_same_seq_no_changes_nothing(station, ocpp201):
    async with ocpp201() as client:
        await client.result("TransactionEvent", started(meter_wh=1000))
        first = await client.result("TransactionEvent", updated(1, T1, 2500))
        again = await client.result("TransactionEvent", updated(1, T1, 2500))
        assert again == first
        await client.result("TransactionEvent", ended(2, T3, 4000))
        await client.result("TransactionEvent", ended(2, T3, 4000))
    session = await session_of()
    assert session.energy_wh == 3000
    assert await seq_nos() == [0, 1, 2]
    assert await MeterSample.objects.filter(session=session).acount() == 3
    assert await ChargingSession.objects.acount() == 1


async def test_repeated_started_still_answers_id_token_info(station, ocpp201):
    async with ocpp201() as client:
        first = await client.result("TransactionEvent", started())
        again = await client.result("TransactionEvent", started())
    assert again == first == {"idTokenInfo": {"status": "Accepted"}}
    assert await seq_nos() == [0]


async def test_offline_flag_is_stored_on_session_and_event(station, ocpp201):
    async with ocpp201() as client:
        await client.result("TransactionEvent", started(offline=True))
        await client.result("TransactionEvent", updated(1, T1, 2000))
    session = await session_of()
    assert session.offline is True
    offline = [e.offline async for e in TransactionEventRecord.objects.filter(session=session).order_by("seq_no")]
    assert offline == [True, False]


async def test_updated_before_started_is_applied_in_either_order(station, ocpp201):
    async with ocpp201() as client:
        # After an outage the station's queue delivers seqNo 1 before seqNo 0.
        await client.result("TransactionEvent", updated(1, T1, 2500))
        partial = await session_of()
        assert partial.status == SessionStatus.ACTIVE
        await client.result("TransactionEvent", started(meter_wh=1000))
    session = await session_of()
    assert session.started_at == utc(T0)
    assert session.driver.email == "driver@example.com"
    assert (session.evse.evse_id, session.connector.connector_id) == (1, 1)
    assert (session.meter_start_wh, session.energy_wh) == (1000, 1500)
    assert session.last_seq_no == 1
    assert await seq_nos() == [0, 1]
    assert await ChargingSession.objects.acount() == 1


async def test_ended_before_updated_keeps_the_session_completed(station, ocpp201):
    async with ocpp201() as client:
        await client.result("TransactionEvent", started(meter_wh=1000))
        await client.result("TransactionEvent", ended(2, T3, 4000))
        await client.result("TransactionEvent", updated(1, T1, 2500))
    session = await session_of()
    assert session.status == SessionStatus.COMPLETED
    assert session.energy_wh == 3000
    assert session.last_seq_no == 2
    assert await seq_nos() == [0, 1, 2]


async def test_late_updated_after_ended_without_end_sample_still_counts(station, ocpp201):
    async with ocpp201() as client:
        await client.result("TransactionEvent", started(meter_wh=1000))
        await client.result("TransactionEvent", updated(1, T1, 2000))
        # The Ended event carries no reading, and the last Updated arrives after it.
        await client.result("TransactionEvent", transaction_event("Ended", 3, T3, "EVDeparted"))
        await client.result("TransactionEvent", updated(2, T2, 3000))
    session = await session_of()
    assert session.energy_wh == 2000
    assert session.meter_stop_wh == 3000


# --- id tokens during a session -------------------------------------------------------


async def test_id_token_presented_mid_session_binds_the_driver(station, ocpp201):
    async with ocpp201() as client:
        await client.result("TransactionEvent", started(token=None))
        assert (await session_of()).driver_id is None
        answer = await client.result("TransactionEvent", transaction_event(
            "Updated", 1, T1, "Authorized", idToken={"idToken": "TOKEN-2", "type": "ISO14443"}))
    assert answer == {"idTokenInfo": {"status": "Accepted"}}
    session = await session_of()
    assert session.driver.email == "other@example.com"
    assert session.id_token_value == "TOKEN-2"


async def test_other_id_token_that_stops_the_session_does_not_take_it_over(station, ocpp201):
    async with ocpp201() as client:
        await client.result("TransactionEvent", started(token="TOKEN-1"))
        answer = await client.result("TransactionEvent", transaction_event(
            "Ended", 1, T3, "StopAuthorized", transaction_info={"stoppedReason": "Local"},
            idToken={"idToken": "TOKEN-2", "type": "ISO14443"}))
    assert answer == {"idTokenInfo": {"status": "Accepted"}}
    session = await session_of()
    assert session.status == SessionStatus.COMPLETED
    assert session.driver.email == "driver@example.com"
    assert session.id_token_value == "TOKEN-1"


async def test_no_authorization_token_starts_an_accepted_session_without_driver(station, ocpp201):
    async with ocpp201() as client:
        answer = await client.result(
            "TransactionEvent", started(idToken={"idToken": "", "type": "NoAuthorization"})
        )
    assert answer == {"idTokenInfo": {"status": "Accepted"}}
    session = await session_of()
    assert session.authorization_status == "Accepted"
    assert session.driver_id is None


# --- unknown transactions -------------------------------------------------------------


async def test_ended_for_an_unknown_transaction_is_answered_and_recorded(station, ocpp201):
    async with ocpp201() as client:
        frame = await client.call("TransactionEvent", ended(7, T3, 9000, transaction_id="NEVER-SEEN"))
        assert frame[0] == 3 and frame[2] == {}
        assert "currentTime" in await client.result("Heartbeat", {})
    session = await session_of("NEVER-SEEN")
    assert session.status == SessionStatus.COMPLETED
    assert session.stopped_at == utc(T3)
    assert session.meter_stop_wh == 9000
    assert await seq_nos("NEVER-SEEN") == [7]


async def test_transaction_ids_are_per_station(station, make_station, ocpp201):
    await adb(make_station)("CS-2")
    async with ocpp201("CS-1") as one, ocpp201("CS-2") as two:
        await one.result("TransactionEvent", started(meter_wh=1000))
        await two.result("TransactionEvent", started(meter_wh=5000))
        await two.result("TransactionEvent", updated(1, T1, 5500))
    energies = {s.station.station_id: s.energy_wh
                async for s in ChargingSession.objects.filter(transaction_id="TX-1").select_related("station")}
    assert energies == {"CS-1": 0, "CS-2": 500}
