"""Nothing a station sends breaks its connection: deep nesting, huge frames, answers to
CALLs nobody sent, timestamps that are no timestamps. Each gets the version's CALLERROR (or
is ignored, for answers) and the connection keeps serving."""

import asyncio
import logging

import pytest

from gateway import frames
from gateway.v16 import StationHandler16
from stations.commands.service import send_command_async
from tests.conftest import adb

pytestmark = pytest.mark.django_db(transaction=True)

MAX_DEPTH = getattr(frames, "MAX_NESTING_DEPTH", 64)
FRAME_ERROR = {"1.6": "FormationViolation", "2.0.1": "RpcFrameworkError"}
FORMAT_ERROR = {"1.6": "FormationViolation", "2.0.1": "FormatViolation"}


@pytest.fixture(params=["1.6", "2.0.1"])
def version(request) -> str:
    return request.param


@pytest.fixture
async def station(make_station):
    return await adb(make_station)("CP-1")


def nested(depth: int) -> object:
    value: object = "core"
    for _ in range(depth):
        value = [value]
    return value


async def assert_heartbeat_answered(client) -> None:
    assert "currentTime" in await client.result("Heartbeat", {})


def assert_call_error(frame: list, unique_id: str, code: str) -> None:
    assert frame[0] == 4 and frame[1:3] == [unique_id, code], frame
    assert isinstance(frame[3], str) and isinstance(frame[4], dict)


# --- defect 1: nesting and size ---------------------------------------------------------


async def test_five_thousand_nested_brackets_get_a_frame_error_and_the_connection_lives(station, ocpp, version):
    async with ocpp(version=version) as client:
        await client.send_frame("[" * 5000 + "]" * 5000)
        assert_call_error(await client.receive_frame(), "-1", FRAME_ERROR[version])
        await assert_heartbeat_answered(client)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1_100, 20_000])
async def test_a_call_nested_beyond_the_limit_is_refused_with_its_id(station, ocpp, version, depth):
    async with ocpp(version=version) as client:
        await client.send_frame(f'[2, "deep-1", "DataTransfer", {{"vendorId": "X", "data": '
                                f'{"[" * depth}1{"]" * depth}}}]')
        assert_call_error(await client.receive_frame(), "deep-1", FRAME_ERROR[version])
        await assert_heartbeat_answered(client)


async def test_a_call_nested_within_the_limit_is_served(station, ocpp):
    async with ocpp(version="2.0.1") as client:
        frame = await client.call("DataTransfer", {"vendorId": "X", "data": nested(MAX_DEPTH - 4)})
        assert frame[0] == 3, frame


async def test_a_frame_over_the_size_limit_is_refused_with_its_id(station, ocpp, version, settings):
    settings.OCPP_MAX_FRAME_BYTES = 4096
    async with ocpp(version=version) as client:
        await client.send_frame(f'[2, "big-1", "DataTransfer", {{"vendorId": "X", "data": "{"x" * 5000}"}}]')
        frame = await client.receive_frame()
        assert_call_error(frame, "big-1", FRAME_ERROR[version])
        assert "4096" in frame[3]
        # Multi-byte characters count as bytes, as on the wire.
        await client.send_frame(f'[2, "big-2", "DataTransfer", {{"vendorId": "X", "data": "{"é" * 2100}"}}]')
        assert_call_error(await client.receive_frame(), "big-2", FRAME_ERROR[version])
        await assert_heartbeat_answered(client)


async def test_a_failing_handler_loop_closes_with_a_code_daphne_can_send(station, ocpp, monkeypatch):
    """daphne (autobahn) sends only 1000 and 3000-4999: 1011 would leave a zombie socket."""

    async def broken(self, raw_msg):
        raise RuntimeError("boom")

    monkeypatch.setattr(StationHandler16, "route_message", broken)
    async with ocpp(version="1.6") as client:
        await client.send_frame([2, "hb", "Heartbeat", {}])
        closed = await client.communicator.receive_output(timeout=2)
        assert closed["type"] == "websocket.close"
        assert closed["code"] == 1000 or 3000 <= closed["code"] <= 4999, closed


async def test_an_unexpected_error_routing_one_frame_answers_internal_error_and_keeps_serving(
    station, ocpp, version, monkeypatch
):
    from gateway.v201 import StationHandler201

    handler = StationHandler16 if version == "1.6" else StationHandler201
    original = handler._handle_call

    async def flaky(self, msg):
        if msg.action == "DataTransfer":
            raise RecursionError("deep inside")
        return await original(self, msg)

    monkeypatch.setattr(handler, "_handle_call", flaky)
    async with ocpp(version=version) as client:
        frame = await client.call("DataTransfer", {"vendorId": "X"})
        assert_call_error(frame, frame[1], "InternalError")
        await assert_heartbeat_answered(client)


# --- defect 2: answers nobody asked for ---------------------------------------------------


async def test_answers_for_unknown_ids_are_ignored_and_the_next_command_works(station, ocpp, caplog):
    caplog.set_level(logging.WARNING, logger="gateway.frames")
    async with ocpp(version="1.6") as client:
        for n in range(3000):
            await client.send_frame([3, f"stale-{n}", {"status": "Accepted"}])
        await client.send_frame([4, "stale-error", "InternalError", "", {}])
        await assert_heartbeat_answered(client)  # all 3001 frames were routed before this answer

        sending = asyncio.create_task(send_command_async(station_id="CP-1", command="clear_cache", params={}))
        await client.expect_call("ClearCache", {"status": "Accepted"})
        result = await asyncio.wait_for(sending, 5)
    assert result.outcome == "accepted", result.error
    unknown = [r for r in caplog.records if "unknown message id" in r.getMessage()]
    assert len(unknown) == 1  # logged once per connection, not 3,001 times


async def test_a_late_answer_after_a_timeout_does_not_answer_the_next_command(station, ocpp):
    async with ocpp(version="1.6") as client:
        result = await send_command_async(station_id="CP-1", command="reset", params={}, timeout=0.3)
        assert result.outcome == "timeout"
        late = await client.receive_frame()
        await client.send_frame([3, late[1], {"status": "Rejected"}])  # the answer to the timed-out Reset
        await assert_heartbeat_answered(client)

        sending = asyncio.create_task(send_command_async(station_id="CP-1", command="clear_cache", params={}))
        await client.expect_call("ClearCache", {"status": "Accepted"})
        result = await asyncio.wait_for(sending, 5)
    assert result.outcome == "accepted"


# --- defect 4: date-time formats ----------------------------------------------------------

BAD_DATE_TIMES = [
    ("2.0.1", "NotifyEVChargingNeeds", {
        "evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "AC_three_phase",
                                       "departureTime": "yesterday at noon"}}),
    ("2.0.1", "NotifyEvent", {
        "generatedAt": "2025-03-01T10:00:00Z", "seqNo": 0,
        "eventData": [{"eventId": 1, "timestamp": "not-a-time", "trigger": "Alerting", "actualValue": "1",
                       "eventNotificationType": "HardWiredNotification",
                       "component": {"name": "EVSE"}, "variable": {"name": "Problem"}}]}),
    ("2.0.1", "NotifyEVChargingSchedule", {
        "timeBase": "2025-02-30T10:00:00Z", "evseId": 1,
        "chargingSchedule": {"id": 1, "chargingRateUnit": "W",
                             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000}]}}),
    ("2.0.1", "NotifyChargingLimit", {
        "chargingLimit": {"chargingLimitSource": "EMS"}, "evseId": 1,
        "chargingSchedule": [{"id": 1, "chargingRateUnit": "W", "startSchedule": "10:00",
                              "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000}]}]}),
    ("1.6", "StatusNotification", {
        "connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": "soon"}),
]


@pytest.mark.parametrize("version, action, payload", BAD_DATE_TIMES,
                         ids=[f"{v}-{a}" for v, a, _ in BAD_DATE_TIMES])
async def test_a_date_time_that_is_no_date_time_is_a_format_violation(station, ocpp, version, action, payload):
    async with ocpp(version=version) as client:
        frame = await client.call(action, payload)
        assert_call_error(frame, frame[1], FORMAT_ERROR[version])
        assert "date-time" in frame[3] or "date-time" in str(frame[4]), frame
        await assert_heartbeat_answered(client)


@pytest.mark.parametrize("value", ["2025-03-01T10:00:00Z", "2025-03-01T10:00:00.123+02:00", "2025-03-01T10:00:00"])
async def test_rfc3339_date_times_pass(station, ocpp, value):
    """Offsets are optional here: many 1.6 chargers send local-less timestamps, taken as UTC."""
    async with ocpp(version="1.6") as client:
        await client.result("StatusNotification", {
            "connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": value})
