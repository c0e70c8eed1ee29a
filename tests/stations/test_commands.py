"""Version-neutral commands reach the station's connection and bring back its answer."""

import asyncio
from datetime import timedelta

import pytest
from django.utils import timezone

from stations.commands.service import CommandError, StationNotFound, send_command_async
from stations.models import (
    ChargingStation,
    CommandLog,
    DeviceModelVariable,
    Reservation,
)
from tests.conftest import adb

pytestmark = pytest.mark.django_db(transaction=True)

IN_AN_HOUR = (timezone.now() + timedelta(hours=1)).replace(microsecond=0)

# command, params, then per version: (action, expected payload, station's answer)
CASES = [
    (
        "start_session", {"evse_id": 1, "id_token": "04A2B3", "remote_start_id": 7},
        ("RemoteStartTransaction", {"connectorId": 1, "idTag": "04A2B3"}, {"status": "Accepted"}),
        ("RequestStartTransaction",
         {"idToken": {"idToken": "04A2B3", "type": "Central"}, "remoteStartId": 7, "evseId": 1},
         {"status": "Accepted"}),
    ),
    (
        "stop_session", {"transaction_id": "42"},
        ("RemoteStopTransaction", {"transactionId": 42}, {"status": "Accepted"}),
        ("RequestStopTransaction", {"transactionId": "42"}, {"status": "Accepted"}),
    ),
    (
        "reset", {"type": "hard"},
        ("Reset", {"type": "Hard"}, {"status": "Accepted"}),
        ("Reset", {"type": "Immediate"}, {"status": "Accepted"}),
    ),
    (
        "reset", {"type": "on_idle"},
        ("Reset", {"type": "Soft"}, {"status": "Accepted"}),
        ("Reset", {"type": "OnIdle"}, {"status": "Scheduled"}),
    ),
    (
        "unlock_connector", {"evse_id": 2},
        ("UnlockConnector", {"connectorId": 2}, {"status": "Unlocked"}),
        ("UnlockConnector", {"evseId": 2, "connectorId": 1}, {"status": "Unlocked"}),
    ),
    (
        "change_availability", {"operational": False, "evse_id": 1},
        ("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}, {"status": "Accepted"}),
        ("ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 1}}, {"status": "Accepted"}),
    ),
    (
        "change_availability", {"operational": True},
        ("ChangeAvailability", {"connectorId": 0, "type": "Operative"}, {"status": "Scheduled"}),
        ("ChangeAvailability", {"operationalStatus": "Operative"}, {"status": "Scheduled"}),
    ),
    (
        "set_configuration", {"key": "OCPPCommCtrlr/HeartbeatInterval", "value": "60"},
        ("ChangeConfiguration", {"key": "OCPPCommCtrlr/HeartbeatInterval", "value": "60"}, {"status": "Accepted"}),
        ("SetVariables",
         {"setVariableData": [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
                               "attributeValue": "60"}]},
         {"setVariableResult": [{"attributeStatus": "Accepted", "component": {"name": "OCPPCommCtrlr"},
                                 "variable": {"name": "HeartbeatInterval"}}]}),
    ),
    (
        "trigger_message", {"message": "StatusNotification", "evse_id": 1},
        ("TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1}, {"status": "Accepted"}),
        ("TriggerMessage", {"requestedMessage": "StatusNotification", "evse": {"id": 1}}, {"status": "Accepted"}),
    ),
    (
        "clear_cache", {},
        ("ClearCache", {}, {"status": "Accepted"}),
        ("ClearCache", {}, {"status": "Accepted"}),
    ),
    (
        "data_transfer", {"vendor_id": "com.acme", "message_id": "Ping", "data": {"nested": {"camelCase": 1}}},
        ("DataTransfer", {"vendorId": "com.acme", "messageId": "Ping", "data": '{"nested": {"camelCase": 1}}'},
         {"status": "Accepted", "data": "pong"}),
        ("DataTransfer", {"vendorId": "com.acme", "messageId": "Ping", "data": {"nested": {"camelCase": 1}}},
         {"status": "Accepted", "data": {"answer": True}}),
    ),
    (
        "get_local_list_version", {},
        ("GetLocalListVersion", {}, {"listVersion": 3}),
        ("GetLocalListVersion", {}, {"versionNumber": 3}),
    ),
    (
        "raw", {"action": "GetDiagnostics", "payload": {"location": "ftp://logs.example.com/"}},
        ("GetDiagnostics", {"location": "ftp://logs.example.com/"}, {"fileName": "diag.zip"}),
        ("GetDiagnostics", None, None),  # not a 2.0.1 action: see test_raw_201_action
    ),
]


def case_id(case):
    return f"{case[0]}-{'-'.join(str(v) for v in case[1].values())[:30]}"


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
@pytest.mark.parametrize("case", CASES, ids=case_id)
async def test_command_is_translated_sent_and_answered(make_station, ocpp, version, case):
    command, params, v16, v201 = case
    action, payload, answer = v16 if version == "1.6" else v201
    await adb(make_station)("CP-1")
    if payload is None:
        await ChargingStation.objects.filter(station_id="CP-1").aupdate(ocpp_version=version)
        with pytest.raises(CommandError, match="has no action"):
            await send_command_async(station_id="CP-1", command=command, params=params)
        return
    async with ocpp(version=version) as station:
        sending = asyncio.create_task(
            send_command_async(station_id="CP-1", command=command, params=params, source="test")
        )
        received = await station.expect_call(action, answer)
        result = await sending
    assert received == payload
    assert result.outcome == "accepted"
    assert result.response == answer
    log = await CommandLog.objects.aget(pk=result.log_id)
    assert (log.command, log.ocpp_action, log.outcome, log.source) == (command, action, "accepted", "test")
    assert log.ocpp_request == payload and log.ocpp_response == answer
    assert log.latency_ms is not None and log.answered_at is not None


async def test_raw_201_action_is_validated_and_sent(make_station, ocpp):
    await adb(make_station)("CP-1")
    payload = {"logType": "DiagnosticsLog", "requestId": 5, "log": {"remoteLocation": "https://logs.example.com/"}}
    async with ocpp(version="2.0.1") as station:
        sending = asyncio.create_task(send_command_async(
            station_id="CP-1", command="raw", params={"action": "GetLog", "payload": payload}
        ))
        assert await station.expect_call("GetLog", {"status": "Accepted", "filename": "log.tar"}) == payload
        assert (await sending).outcome == "accepted"


async def test_rejected_answer_is_reported_as_rejected(make_station, ocpp):
    await adb(make_station)("CP-1")
    async with ocpp(version="2.0.1") as station:
        sending = asyncio.create_task(send_command_async(station_id="CP-1", command="reset", params={}))
        await station.expect_call("Reset", {"status": "Rejected"})
        result = await sending
    assert (result.outcome, result.status) == ("rejected", "Rejected")


async def test_callerror_answer_is_reported_as_error(make_station, ocpp):
    await adb(make_station)("CP-1")
    async with ocpp(version="1.6") as station:
        sending = asyncio.create_task(send_command_async(station_id="CP-1", command="clear_cache", params={}))
        await station.expect_call("ClearCache", error=("NotImplemented", "no cache here"))
        result = await sending
    assert result.outcome == "error"
    assert result.response["errorCode"] == "NotImplemented"
    assert "no cache here" in result.error


async def test_offline_station_gets_no_frame_and_offline_outcome(make_station):
    await adb(make_station)("CP-1")
    result = await send_command_async(station_id="CP-1", command="reset", params={})
    assert result.outcome == "offline"
    assert (await CommandLog.objects.aget(pk=result.log_id)).outcome == "offline"


async def test_stale_presence_without_a_connection_is_offline(make_station):
    """A crashed daphne process leaves is_online behind; nobody acknowledges the command."""
    await adb(make_station)("CP-1")
    await ChargingStation.objects.filter(station_id="CP-1").aupdate(is_online=True, ocpp_version="1.6")
    result = await send_command_async(station_id="CP-1", command="reset", params={})
    assert result.outcome == "offline"
    assert "no connection" in result.error


async def test_silent_station_times_out(make_station, ocpp):
    await adb(make_station)("CP-1")
    async with ocpp(version="1.6") as station:
        result = await send_command_async(station_id="CP-1", command="reset", params={}, timeout=0.5)
        assert result.outcome == "timeout"
        # The CALL did go out; the station just never answered.
        frame = await station.receive_frame()
        assert frame[2] == "Reset"
        # The connection still serves the next command.
        sending = asyncio.create_task(send_command_async(station_id="CP-1", command="clear_cache", params={}))
        await station.expect_call("ClearCache", {"status": "Accepted"})
        assert (await sending).outcome == "accepted"


async def test_station_disconnecting_mid_command_is_an_error_not_a_hang(make_station, ocpp):
    await adb(make_station)("CP-1")
    async with ocpp(version="1.6") as station:
        sending = asyncio.create_task(send_command_async(station_id="CP-1", command="reset", params={}, timeout=10))
        await station.receive_frame()
    result = await asyncio.wait_for(sending, 5)
    assert result.outcome == "error"
    assert "disconnected" in result.error


@pytest.mark.parametrize(
    "command, params, message",
    [
        ("explode", {}, "unknown command"),
        ("start_session", {"evse_id": 1}, "invalid parameters"),
        ("reset", {"type": "gentle"}, "invalid parameters"),
        ("reset", {"typo": "hard"}, "invalid parameters"),
        ("raw", {"action": "NoSuchAction", "payload": {}}, "has no action"),
        ("raw", {"action": "Reset", "payload": {"type": "Sideways"}}, "schema"),
        ("stop_session", {"transaction_id": "abc"}, "integers"),
    ],
)
async def test_bad_commands_are_refused_before_sending(make_station, command, params, message):
    await adb(make_station)("CP-1")
    await ChargingStation.objects.filter(station_id="CP-1").aupdate(ocpp_version="1.6")
    with pytest.raises(CommandError, match=message):
        await send_command_async(station_id="CP-1", command=command, params=params)


async def test_unknown_station_raises(db):
    with pytest.raises(StationNotFound):
        await send_command_async(station_id="NOPE", command="reset", params={})


async def test_201_variables_need_component_and_variable(make_station):
    await adb(make_station)("CP-1")
    await ChargingStation.objects.filter(station_id="CP-1").aupdate(ocpp_version="2.0.1")
    with pytest.raises(CommandError, match="Component/Variable"):
        await send_command_async(station_id="CP-1", command="get_configuration", params={"keys": ["HeartbeatInterval"]})


async def test_send_local_list_sends_the_token_database_and_tracks_the_version(make_station, make_token, ocpp):
    await adb(make_station)("CP-1")
    await adb(make_token)("AAA111")
    await adb(make_token)("BBB222", status="Blocked")
    async with ocpp(version="1.6") as station:
        sending = asyncio.create_task(send_command_async(station_id="CP-1", command="send_local_list", params={}))
        sent = await station.expect_call("SendLocalList", {"status": "Accepted"})
        assert (await sending).outcome == "accepted"
    assert sent["listVersion"] == 1 and sent["updateType"] == "Full"
    assert sent["localAuthorizationList"] == [
        {"idTag": "AAA111", "idTagInfo": {"status": "Accepted"}},
        {"idTag": "BBB222", "idTagInfo": {"status": "Blocked"}},
    ]
    assert (await ChargingStation.objects.aget(station_id="CP-1")).local_list_version == 1


async def test_rejected_local_list_keeps_the_version(make_station, make_token, ocpp):
    await adb(make_station)("CP-1")
    async with ocpp(version="2.0.1") as station:
        sending = asyncio.create_task(send_command_async(station_id="CP-1", command="send_local_list", params={}))
        sent = await station.expect_call("SendLocalList", {"status": "Failed"})
        assert (await sending).outcome == "rejected"
    assert sent["versionNumber"] == 1
    assert (await ChargingStation.objects.aget(station_id="CP-1")).local_list_version == 0


async def test_reservation_lifecycle(make_station, ocpp):
    await adb(make_station)("CP-1")
    async with ocpp(version="2.0.1") as station:
        sending = asyncio.create_task(send_command_async(
            station_id="CP-1", command="reserve_now",
            params={"evse_id": 1, "id_token": "04A2B3", "expires_at": IN_AN_HOUR.isoformat()},
        ))
        sent = await station.expect_call("ReserveNow", {"status": "Accepted"})
        result = await sending
        reservation = await Reservation.objects.aget(pk=sent["id"])
        assert reservation.status == "Accepted" and reservation.evse_id == 1
        assert result.outcome == "accepted"

        sending = asyncio.create_task(send_command_async(
            station_id="CP-1", command="cancel_reservation", params={"reservation_id": reservation.pk}
        ))
        assert await station.expect_call("CancelReservation", {"status": "Accepted"}) == {
            "reservationId": reservation.pk
        }
        await sending
    assert (await Reservation.objects.aget(pk=reservation.pk)).status == "Cancelled"


async def test_reservation_in_the_past_is_refused(make_station):
    await adb(make_station)("CP-1")
    with pytest.raises(CommandError, match="future"):
        await send_command_async(
            station_id="CP-1", command="reserve_now",
            params={"id_token": "X", "expires_at": (timezone.now() - timedelta(minutes=1)).isoformat()},
        )
    assert await Reservation.objects.acount() == 0


async def test_16_configuration_is_kept_as_device_model(make_station, ocpp):
    await adb(make_station)("CP-1")
    async with ocpp(version="1.6") as station:
        sending = asyncio.create_task(send_command_async(station_id="CP-1", command="get_configuration", params={}))
        await station.expect_call("GetConfiguration", {"configurationKey": [
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
            {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
        ]})
        await sending
    rows = {v.variable: (v.value, v.mutability) async for v in DeviceModelVariable.objects.filter(component="OCPP16")}
    assert rows == {"HeartbeatInterval": ("300", "ReadWrite"), "NumberOfConnectors": ("2", "ReadOnly")}


async def test_get_base_report_fills_the_device_model_through_notify_report(make_station, ocpp):
    await adb(make_station)("CP-1")
    async with ocpp(version="2.0.1") as station:
        sending = asyncio.create_task(send_command_async(station_id="CP-1", command="get_base_report", params={}))
        sent = await station.expect_call("GetBaseReport", {"status": "Accepted"})
        assert (await sending).outcome == "accepted"
        await station.result("NotifyReport", {
            "requestId": sent["requestId"], "generatedAt": "2026-11-27T10:00:00Z", "seqNo": 0,
            "reportData": [{
                "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
                "variableAttribute": [{"type": "Actual", "value": "300", "mutability": "ReadWrite"}],
            }],
        })
    variable = await DeviceModelVariable.objects.aget(component="OCPPCommCtrlr", variable="HeartbeatInterval")
    assert variable.value == "300"
