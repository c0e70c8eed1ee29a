"""OCPP 1.6J transactions: StartTransaction, MeterValues and StopTransaction as real frames,
including the retries a station sends when it lost our answer."""

from datetime import UTC, datetime

import pytest

from stations.models import (
    ChargingSession,
    Location,
    Measurand,
    MeterSample,
    Phase,
    ReadingContext,
    SessionStatus,
    StationEvent,
)
from tests.conftest import adb

pytestmark = pytest.mark.django_db(transaction=True)

T0 = "2025-03-01T10:00:00Z"


def utc(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def start_transaction(id_tag="TOKEN-1", meter_start=1000, timestamp=T0, connector_id=1) -> dict:
    return {"connectorId": connector_id, "idTag": id_tag, "meterStart": meter_start, "timestamp": timestamp}


def energy_reading(value: str, timestamp: str, unit: str = "Wh", context: str = "Sample.Periodic") -> dict:
    return {
        "timestamp": timestamp,
        "sampledValue": [
            {"value": value, "measurand": "Energy.Active.Import.Register", "unit": unit, "context": context}
        ],
    }


def meter_values(transaction_id: int, *readings: dict, connector_id: int = 1) -> dict:
    return {"connectorId": connector_id, "transactionId": transaction_id, "meterValue": list(readings)}


def stop_transaction(transaction_id: int, meter_stop: int, timestamp: str = "2025-03-01T11:00:00Z", **extra) -> dict:
    return {"transactionId": transaction_id, "meterStop": meter_stop, "timestamp": timestamp, **extra}


@pytest.fixture
async def station(make_station, make_token):
    await adb(make_token)("TOKEN-1", driver_email="driver@example.com")
    return await adb(make_station)("CP-1")


async def session_of(transaction_id: int) -> ChargingSession:
    return await ChargingSession.objects.select_related("station", "driver", "evse", "connector").aget(
        transaction_id=str(transaction_id)
    )


# --- StartTransaction ---------------------------------------------------------------


async def test_start_transaction_returns_integer_id_and_id_tag_info(station, ocpp):
    async with ocpp("CP-1") as client:
        answer = await client.result("StartTransaction", start_transaction())
    assert set(answer) == {"transactionId", "idTagInfo"}
    assert isinstance(answer["transactionId"], int)
    assert answer["idTagInfo"] == {"status": "Accepted"}


async def test_start_transaction_creates_an_active_session_with_driver_and_meter_start(station, ocpp):
    async with ocpp("CP-1") as client:
        answer = await client.result("StartTransaction", start_transaction(meter_start=1234, connector_id=2))
    session = await session_of(answer["transactionId"])
    assert session.station_id == station.pk
    assert session.status == SessionStatus.ACTIVE
    assert (session.evse.evse_id, session.connector.connector_id) == (2, 1)
    assert session.id_token_value == "TOKEN-1"
    assert session.authorization_status == "Accepted"
    assert session.driver.email == "driver@example.com"
    assert session.meter_start_wh == 1234
    assert session.started_at == utc("2025-03-01T10:00:00+00:00")
    assert session.energy_wh == 0


async def test_repeated_start_transaction_returns_same_id(station, ocpp):
    async with ocpp("CP-1") as client:
        first = await client.result("StartTransaction", start_transaction())
        # The station lost our answer and sends the very same request again.
        again = await client.result("StartTransaction", start_transaction())
    assert again == first
    assert await ChargingSession.objects.acount() == 1


async def test_start_transaction_at_another_time_opens_a_new_session(station, ocpp):
    async with ocpp("CP-1") as client:
        first = await client.result("StartTransaction", start_transaction(timestamp=T0))
        second = await client.result(
            "StartTransaction", start_transaction(meter_start=5000, timestamp="2025-03-01T12:00:00Z")
        )
    assert second["transactionId"] != first["transactionId"]
    assert await ChargingSession.objects.acount() == 2


async def test_start_transaction_with_unknown_token_is_invalid_but_recorded(station, ocpp):
    async with ocpp("CP-1") as client:
        answer = await client.result("StartTransaction", start_transaction(id_tag="STRANGER"))
    assert answer["idTagInfo"] == {"status": "Invalid"}
    session = await session_of(answer["transactionId"])
    assert session.authorization_status == "Invalid"
    assert session.id_token_value == "STRANGER"
    assert session.id_token_id is None and session.driver_id is None


# --- MeterValues --------------------------------------------------------------------


async def test_meter_values_store_normalised_samples_with_phases_and_contexts(station, ocpp):
    async with ocpp("CP-1") as client:
        tx = (await client.result("StartTransaction", start_transaction(meter_start=1000)))["transactionId"]
        reading = {
            "timestamp": "2025-03-01T10:15:00Z",
            "sampledValue": [
                {"value": "2.5", "unit": "kWh", "measurand": "Energy.Active.Import.Register",
                 "context": "Sample.Clock"},
                {"value": "16.1", "unit": "A", "measurand": "Current.Import", "phase": "L1"},
                {"value": "15.9", "unit": "A", "measurand": "Current.Import", "phase": "L2"},
                {"value": "11", "unit": "kW", "measurand": "Power.Active.Import"},
                {"value": "231.0", "unit": "V", "measurand": "Voltage", "phase": "L1-N", "location": "Inlet"},
            ],
        }
        assert await client.result("MeterValues", meter_values(tx, reading)) == {}
    session = await session_of(tx)
    rows = {
        (s.measurand, s.phase): s
        async for s in MeterSample.objects.filter(session=session)
    }
    assert set(rows) == {
        (Measurand.ENERGY_ACTIVE_IMPORT_REGISTER, Phase.NONE),
        (Measurand.CURRENT_IMPORT, Phase.L1),
        (Measurand.CURRENT_IMPORT, Phase.L2),
        (Measurand.POWER_ACTIVE_IMPORT, Phase.NONE),
        (Measurand.VOLTAGE, Phase.L1_N),
    }
    energy = rows[(Measurand.ENERGY_ACTIVE_IMPORT_REGISTER, Phase.NONE)]
    assert energy.value == 2500.0  # kWh stored as Wh
    assert energy.context == ReadingContext.SAMPLE_CLOCK
    assert energy.timestamp == utc("2025-03-01T10:15:00+00:00")
    assert energy.evse_id == 1
    assert rows[(Measurand.POWER_ACTIVE_IMPORT, Phase.NONE)].value == 11000.0  # kW stored as W
    assert rows[(Measurand.CURRENT_IMPORT, Phase.L1)].value == pytest.approx(16.1)
    assert rows[(Measurand.CURRENT_IMPORT, Phase.L1)].context == ReadingContext.SAMPLE_PERIODIC  # the default
    voltage = rows[(Measurand.VOLTAGE, Phase.L1_N)]
    assert (voltage.value, voltage.location) == (231.0, Location.INLET)


async def test_meter_values_move_the_session_energy(station, ocpp):
    async with ocpp("CP-1") as client:
        tx = (await client.result("StartTransaction", start_transaction(meter_start=1000)))["transactionId"]
        await client.result("MeterValues", meter_values(tx, energy_reading("1800", "2025-03-01T10:15:00Z")))
        assert (await session_of(tx)).energy_wh == 800
        await client.result("MeterValues", meter_values(tx, energy_reading("3.2", "2025-03-01T10:30:00Z", "kWh")))
    session = await session_of(tx)
    assert (session.meter_last_wh, session.energy_wh) == (3200, 2200)


async def test_duplicate_meter_values_neither_add_rows_nor_energy(station, ocpp):
    async with ocpp("CP-1") as client:
        tx = (await client.result("StartTransaction", start_transaction(meter_start=1000)))["transactionId"]
        frame = meter_values(tx, energy_reading("1800", "2025-03-01T10:15:00Z"))
        await client.result("MeterValues", frame)
        await client.result("MeterValues", frame)
        await client.result("MeterValues", frame)
    session = await session_of(tx)
    assert await MeterSample.objects.filter(session=session).acount() == 1
    assert session.energy_wh == 800


async def test_late_older_meter_value_does_not_move_energy_back(station, ocpp):
    async with ocpp("CP-1") as client:
        tx = (await client.result("StartTransaction", start_transaction(meter_start=1000)))["transactionId"]
        await client.result("MeterValues", meter_values(tx, energy_reading("3000", "2025-03-01T10:30:00Z")))
        await client.result("MeterValues", meter_values(tx, energy_reading("2000", "2025-03-01T10:15:00Z")))
    session = await session_of(tx)
    assert session.energy_wh == 2000
    assert await MeterSample.objects.filter(session=session).acount() == 2


async def test_meter_values_without_transaction_go_to_the_active_session_on_the_connector(station, ocpp):
    async with ocpp("CP-1") as client:
        tx = (await client.result("StartTransaction", start_transaction(meter_start=1000)))["transactionId"]
        await client.result(
            "MeterValues", {"connectorId": 1, "meterValue": [energy_reading("1500", "2025-03-01T10:15:00Z")]}
        )
    session = await session_of(tx)
    assert session.energy_wh == 500
    assert await MeterSample.objects.filter(session=session).acount() == 1


# --- StopTransaction ----------------------------------------------------------------


async def test_stop_transaction_completes_the_session_with_energy_stop_minus_start(station, ocpp):
    async with ocpp("CP-1") as client:
        tx = (await client.result("StartTransaction", start_transaction(meter_start=1000)))["transactionId"]
        answer = await client.result(
            "StopTransaction",
            stop_transaction(tx, 5000, reason="EVDisconnected", idTag="TOKEN-1"),
        )
    assert answer == {"idTagInfo": {"status": "Accepted"}}
    session = await session_of(tx)
    assert session.status == SessionStatus.COMPLETED
    assert (session.meter_start_wh, session.meter_stop_wh, session.energy_wh) == (1000, 5000, 4000)
    assert session.stopped_at == utc("2025-03-01T11:00:00+00:00")
    assert session.stop_reason == "EVDisconnected"
    assert session.duration_s == 3600


async def test_stop_transaction_without_id_tag_or_reason_is_a_local_stop(station, ocpp):
    async with ocpp("CP-1") as client:
        tx = (await client.result("StartTransaction", start_transaction()))["transactionId"]
        answer = await client.result("StopTransaction", stop_transaction(tx, 1500))
    assert answer == {}
    session = await session_of(tx)
    assert session.stop_reason == "Local"
    assert session.energy_wh == 500


async def test_stop_transaction_stores_its_transaction_data(station, ocpp):
    async with ocpp("CP-1") as client:
        tx = (await client.result("StartTransaction", start_transaction(meter_start=1000)))["transactionId"]
        await client.result(
            "StopTransaction",
            stop_transaction(
                tx,
                5000,
                transactionData=[
                    energy_reading("1000", T0, context="Transaction.Begin"),
                    energy_reading("3.0", "2025-03-01T10:30:00Z", unit="kWh"),
                    energy_reading("5000", "2025-03-01T11:00:00Z", context="Transaction.End"),
                ],
            ),
        )
    session = await session_of(tx)
    samples = [(s.value, s.context) async for s in MeterSample.objects.filter(session=session).order_by("timestamp")]
    assert samples == [
        (1000.0, ReadingContext.TRANSACTION_BEGIN),
        (3000.0, ReadingContext.SAMPLE_PERIODIC),
        (5000.0, ReadingContext.TRANSACTION_END),
    ]
    assert session.energy_wh == 4000


async def test_stop_transaction_energy_follows_meter_stop_after_meter_values(station, ocpp):
    async with ocpp("CP-1") as client:
        tx = (await client.result("StartTransaction", start_transaction(meter_start=1000)))["transactionId"]
        await client.result("MeterValues", meter_values(tx, energy_reading("2500", "2025-03-01T10:30:00Z")))
        await client.result("StopTransaction", stop_transaction(tx, 4200))
    session = await session_of(tx)
    assert (session.meter_stop_wh, session.energy_wh) == (4200, 3200)


async def test_repeated_stop_transaction_is_harmless(station, ocpp):
    async with ocpp("CP-1") as client:
        tx = (await client.result("StartTransaction", start_transaction(meter_start=1000)))["transactionId"]
        frame = stop_transaction(
            tx, 5000, reason="Remote", idTag="TOKEN-1",
            transactionData=[energy_reading("5000", "2025-03-01T11:00:00Z", context="Transaction.End")],
        )
        first = await client.result("StopTransaction", frame)
        again = await client.result("StopTransaction", frame)
        # Even a retry that disagrees with the first stop does not reopen or recount.
        await client.result("StopTransaction", stop_transaction(tx, 9000, timestamp="2025-03-01T12:00:00Z"))
    assert again == first == {"idTagInfo": {"status": "Accepted"}}
    session = await session_of(tx)
    assert session.status == SessionStatus.COMPLETED
    assert (session.meter_stop_wh, session.energy_wh) == (5000, 4000)
    assert session.stopped_at == utc("2025-03-01T11:00:00+00:00")
    assert await MeterSample.objects.filter(session=session).acount() == 1
    assert await ChargingSession.objects.acount() == 1


async def test_stop_transaction_for_unknown_transaction_is_answered_and_recorded(station, ocpp):
    async with ocpp("CP-1") as client:
        frame = await client.call("StopTransaction", stop_transaction(424242, 7000, reason="PowerLoss"))
        assert frame[0] == 3 and frame[2] == {}
        # The connection stays open and usable.
        assert "currentTime" in await client.result("Heartbeat", {})
    event = await StationEvent.objects.aget(station=station)
    assert event.kind == StationEvent.Kind.UNKNOWN_TRANSACTION
    assert event.payload["transaction_id"] == "424242"
    assert event.payload["meter_stop_wh"] == 7000
    assert event.timestamp == utc("2025-03-01T11:00:00+00:00")
    assert await ChargingSession.objects.acount() == 0


async def test_repeated_stop_for_unknown_transaction_is_recorded_once(station, ocpp):
    async with ocpp("CP-1") as client:
        for _ in range(3):
            frame = await client.call("StopTransaction", stop_transaction(424242, 7000))
            assert frame[0] == 3
    assert await StationEvent.objects.filter(kind=StationEvent.Kind.UNKNOWN_TRANSACTION).acount() == 1


async def test_stop_transaction_for_unknown_transaction_answers_the_id_tag(station, ocpp):
    async with ocpp("CP-1") as client:
        answer = await client.result("StopTransaction", stop_transaction(424242, 7000, idTag="TOKEN-1"))
    assert answer == {"idTagInfo": {"status": "Accepted"}}


async def test_stop_transaction_of_another_station_is_unknown_here(station, make_station, ocpp):
    await adb(make_station)("CP-2")
    async with ocpp("CP-2") as other:
        tx = (await other.result("StartTransaction", start_transaction()))["transactionId"]
    async with ocpp("CP-1") as client:
        await client.result("StopTransaction", stop_transaction(tx, 9000))
    session = await session_of(tx)
    assert session.status == SessionStatus.ACTIVE
    assert await StationEvent.objects.filter(
        station=station, kind=StationEvent.Kind.UNKNOWN_TRANSACTION
    ).acount() == 1
