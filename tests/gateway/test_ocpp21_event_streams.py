"""OCPP 2.1 periodic event streams as real frames: a station opens a stream (within the
limits), its NotifyPeriodicEventStream SEND frames are stored like meter values (no answer),
it closes the stream; the CSMS asks for and adjusts streams. Answers and calls are
validated against the 2.1 schemas."""

import asyncio
import json
from pathlib import Path

import jsonschema
import ocpp
import pytest
from ocpp.messages import Call, _validate_payload

from stations.commands.service import send_command_async
from stations.models import PeriodicEventSample, PeriodicEventStream
from stations.streams.services import MAX_OPEN_STREAMS, MIN_INTERVAL_S
from tests.conftest import adb
from tests.gateway.ocpp21 import result21

pytestmark = pytest.mark.django_db(transaction=True)

T0 = "2025-03-01T10:00:00Z"
SEND_SCHEMA = json.loads((Path(ocpp.__file__).parent / "v21/schemas/NotifyPeriodicEventStream.json").read_text(
    encoding="utf-8-sig"))


@pytest.fixture
async def station(make_station):
    return await adb(make_station)("CS-21")


@pytest.fixture
def ocpp21(ocpp):
    return lambda: ocpp("CS-21", version="2.1")


def stream(stream_id: int = 1, monitor: int = 7, **params) -> dict:
    return {"constantStreamData": {"id": stream_id, "variableMonitoringId": monitor,
                                   "params": params or {"interval": 60, "values": 10}}}


def notify(stream_id: int, *data: tuple[float, str], basetime: str = T0, pending: int = 0) -> list:
    payload = {"id": stream_id, "pending": pending, "basetime": basetime,
               "data": [{"t": t, "v": v} for t, v in data]}
    jsonschema.validate(payload, SEND_SCHEMA)  # the ``ocpp`` package has no validator for SEND messages
    return [6, f"s-{stream_id}-{len(data)}", "NotifyPeriodicEventStream", payload]


async def sync(client) -> None:
    """SEND frames get no answer: a Heartbeat answered after them means they were handled."""
    assert "currentTime" in await result21(client, "Heartbeat", {})


async def test_stream_is_opened_its_data_stored_and_closed(station, ocpp21):
    async with ocpp21() as client:
        assert await result21(client, "OpenPeriodicEventStream", stream(1, 7, interval=60, values=10)) == {
            "status": "Accepted"}
        opened = await PeriodicEventStream.objects.aget(station=station, stream_id=1)
        assert (opened.variable_monitoring_id, opened.interval_s, opened.values, opened.is_open) == (7, 60, 10, True)
        await client.send_frame(notify(1, (0, "230.1"), (1.5, "229.8")))
        await client.send_frame(notify(1, (0, "231.0"), basetime="2025-03-01T10:01:00Z"))
        assert await client.communicator.receive_nothing(timeout=0.2)  # SEND: never answered
        await sync(client)
        assert await result21(client, "ClosePeriodicEventStream", {"id": 1}) == {}
        await client.send_frame(notify(1, (0, "999")))  # after closing: dropped
        await sync(client)
    samples = [(s.timestamp.isoformat(), s.value) async for s in PeriodicEventSample.objects.order_by("timestamp")]
    assert samples == [("2025-03-01T10:00:00+00:00", "230.1"), ("2025-03-01T10:00:01.500000+00:00", "229.8"),
                       ("2025-03-01T10:01:00+00:00", "231.0")]
    closed = await PeriodicEventStream.objects.aget(station=station, stream_id=1)
    assert closed.closed_at is not None
    assert (closed.last_value, closed.last_value_at.isoformat(), closed.samples_received) == (
        "231.0", "2025-03-01T10:01:00+00:00", 3)


async def test_repeated_data_is_stored_once(station, ocpp21):
    async with ocpp21() as client:
        await result21(client, "OpenPeriodicEventStream", stream(2))
        await client.send_frame(notify(2, (0, "1"), (5, "2")))
        await client.send_frame(notify(2, (0, "1"), (5, "2")))  # a retry
        await sync(client)
    assert await PeriodicEventSample.objects.acount() == 2


async def test_data_of_a_stream_never_opened_is_dropped(station, ocpp21):
    async with ocpp21() as client:
        await client.send_frame(notify(5, (0, "1")))
        await sync(client)
    assert await PeriodicEventSample.objects.acount() == 0


async def test_stream_sending_too_often_is_refused(station, ocpp21):
    async with ocpp21() as client:
        answer = await result21(client, "OpenPeriodicEventStream", stream(1, interval=MIN_INTERVAL_S - 1, values=1))
        without_interval = await result21(client, "OpenPeriodicEventStream", stream(2, values=1))
    assert answer["status"] == "Rejected" and answer["statusInfo"]["reasonCode"] == "ValueTooLow"
    assert without_interval["status"] == "Rejected"
    assert await PeriodicEventStream.objects.acount() == 0


async def test_streams_beyond_the_limit_per_station_are_refused(station, ocpp21):
    async with ocpp21() as client:
        for stream_id in range(MAX_OPEN_STREAMS):
            assert (await result21(client, "OpenPeriodicEventStream", stream(stream_id)))["status"] == "Accepted"
        # Re-opening one that is open updates it (a retry), and is no new stream.
        again = await result21(client, "OpenPeriodicEventStream", stream(0, interval=120))
        refused = await result21(client, "OpenPeriodicEventStream", stream(MAX_OPEN_STREAMS))
        assert again["status"] == "Accepted"
        assert refused["status"] == "Rejected" and refused["statusInfo"]["reasonCode"] == "TooManyElements"
        await result21(client, "ClosePeriodicEventStream", {"id": 3})
        assert (await result21(client, "OpenPeriodicEventStream", stream(MAX_OPEN_STREAMS)))["status"] == "Accepted"
    assert await PeriodicEventStream.objects.filter(closed_at=None).acount() == MAX_OPEN_STREAMS
    assert (await PeriodicEventStream.objects.aget(stream_id=0)).interval_s == 120


@pytest.mark.parametrize(("payload", "code"), [
    ({}, "OccurrenceConstraintViolation"),
    ({"constantStreamData": {"id": -1, "variableMonitoringId": 1, "params": {}}}, "PropertyConstraintViolation"),
    ({"constantStreamData": {"id": "one", "variableMonitoringId": 1, "params": {}}}, "TypeConstraintViolation"),
])
async def test_bad_open_gets_a_callerror(station, ocpp21, payload, code):
    async with ocpp21() as client:
        frame = await client.call("OpenPeriodicEventStream", payload)
        assert frame[0] == 4 and frame[2] in (code, "FormatViolation", "ProtocolError"), frame
        frame = await client.call("ClosePeriodicEventStream", {"id": "x"})
        assert frame[0] == 4, frame
        await sync(client)
    assert await PeriodicEventStream.objects.acount() == 0


@pytest.mark.parametrize("frame", [
    [6, "b-1", "NotifyPeriodicEventStream", {"id": 1, "pending": 0, "basetime": T0, "data": []}],
    [6, "b-2", "NotifyPeriodicEventStream", {"id": 1, "pending": 0, "basetime": "yesterday",
                                             "data": [{"t": 0, "v": "1"}]}],
    [6, "b-3", "NotifyPeriodicEventStream", {"id": 1, "basetime": T0, "data": [{"t": 0, "v": "1"}]}],
    [6, "b-4", "Heartbeat", {}],
    [6, "b-5", "NotifyPeriodicEventStream"],
    [6, "b-6", {"not": "a name"}, {}],
    [6, "b-7", "NotifyPeriodicEventStream", {"id": 1, "pending": 0, "basetime": T0,
                                             "data": [{"t": 0, "v": "a\u0000b"}]}],
])
async def test_bad_send_is_dropped_without_answer_and_the_connection_kept(station, ocpp21, frame):
    async with ocpp21() as client:
        await result21(client, "OpenPeriodicEventStream", stream(1))
        await client.send_frame(frame)
        assert await client.communicator.receive_nothing(timeout=0.2)
        await sync(client)
    assert await PeriodicEventSample.objects.acount() == 0


async def command(client, name: str, params: dict, answer: dict):
    sending = asyncio.create_task(send_command_async(station_id="CS-21", command=name, params=params))
    frame = await client.receive_frame()
    assert frame[0] == 2, frame
    _validate_payload(Call(frame[1], frame[2], frame[3]), "2.1")
    await client.send_frame([3, frame[1], answer])
    return frame, await sending


async def test_get_periodic_event_stream_brings_the_records_in_line_with_the_station(station, ocpp21):
    async with ocpp21() as client:
        await result21(client, "OpenPeriodicEventStream", stream(1))
        await result21(client, "OpenPeriodicEventStream", stream(2))
        frame, result = await command(client, "get_periodic_event_stream", {}, {"constantStreamData": [
            {"id": 2, "variableMonitoringId": 7, "params": {"interval": 30}},
            {"id": 4, "variableMonitoringId": 9, "params": {"interval": 60, "values": 5}},
        ]})
    assert frame[2:] == ["GetPeriodicEventStream", {}]
    assert result.outcome == "accepted"
    open_streams = [(s.stream_id, s.variable_monitoring_id, s.interval_s)
                    async for s in PeriodicEventStream.objects.filter(closed_at=None).order_by("stream_id")]
    assert open_streams == [(2, 7, 30), (4, 9, 60)]  # 1 is gone at the station


async def test_adjust_periodic_event_stream_changes_the_stream_when_accepted(station, ocpp21):
    async with ocpp21() as client:
        await result21(client, "OpenPeriodicEventStream", stream(1))
        frame, result = await command(client, "adjust_periodic_event_stream",
                                      {"stream_id": 1, "interval_s": 300, "values": 20}, {"status": "Accepted"})
        _, refused = await command(client, "adjust_periodic_event_stream", {"stream_id": 1, "interval_s": 900},
                                   {"status": "Rejected", "statusInfo": {"reasonCode": "InvalidValue"}})
    assert frame[2:] == ["AdjustPeriodicEventStream", {"id": 1, "params": {"interval": 300, "values": 20}}]
    assert (result.outcome, refused.outcome) == ("accepted", "rejected")
    adjusted = await PeriodicEventStream.objects.aget(stream_id=1)
    assert (adjusted.interval_s, adjusted.values) == (300, 20)


async def test_adjusting_too_often_is_refused_before_sending(station, ocpp21):
    from stations.commands.service import CommandError

    async with ocpp21() as client:
        with pytest.raises(CommandError):
            await send_command_async(station_id="CS-21", command="adjust_periodic_event_stream",
                                     params={"stream_id": 1, "interval_s": 1})
        assert await client.communicator.receive_nothing(timeout=0.2)
