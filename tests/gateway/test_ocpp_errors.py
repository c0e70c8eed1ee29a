"""Frames a CSMS must refuse, for every OCPP version: each gets a CALLERROR in the version's
own vocabulary, nothing is half-written, and the connection stays usable."""

from dataclasses import dataclass

import pytest

from stations.models import (
    ChargingSession,
    ChargingStation,
    MeterSample,
    RegistrationStatus,
    TransactionEventRecord,
)
from tests.conftest import adb

pytestmark = pytest.mark.django_db(transaction=True)

T0 = "2025-03-01T10:00:00Z"


@dataclass(frozen=True)
class Version:
    """What differs between the versions for these tests."""

    name: str
    frame_error: str  # a frame that is no OCPP-J message at all
    message_type_error: str  # an unknown messageTypeId
    format_violation: str  # a payload property the schema does not allow
    unimplemented_action: str  # an action of this version that stations never send
    boot: dict
    authorize: dict
    too_long_authorize: dict  # an id token longer than the schema allows
    start: dict  # a message that opens a session
    missing_required: dict  # ... without a required field
    wrong_type: dict  # ... with a field of the wrong type
    extra_property: dict  # ... with a property the schema does not define
    bad_timestamp: dict  # ... with a timestamp that is no timestamp
    negative_evse: dict  # ... valid by the schema, but no EVSE can have that number
    negative_evse_error: str = "InternalError"  # 2.1's schema itself forbids it

    @property
    def start_action(self) -> str:
        return "StartTransaction" if self.name == "1.6" else "TransactionEvent"


START_16 = {"connectorId": 1, "idTag": "TOKEN-1", "meterStart": 1000, "timestamp": T0}
START_201 = {
    "eventType": "Started",
    "timestamp": T0,
    "triggerReason": "CablePluggedIn",
    "seqNo": 0,
    "transactionInfo": {"transactionId": "TX-1"},
    "evse": {"id": 1, "connectorId": 1},
    "meterValue": [{"timestamp": T0, "sampledValue": [{"value": 1000, "context": "Transaction.Begin"}]}],
}


def without(payload: dict, key: str) -> dict:
    return {k: v for k, v in payload.items() if k != key}


V16 = Version(
    name="1.6",
    frame_error="FormationViolation",
    message_type_error="FormationViolation",
    format_violation="FormationViolation",
    unimplemented_action="RemoteStartTransaction",
    boot={"chargePointVendor": "ChargeCo", "chargePointModel": "Wallbox-22"},
    authorize={"idTag": "TOKEN-1"},
    too_long_authorize={"idTag": "X" * 21},
    start=START_16,
    missing_required=without(START_16, "meterStart"),
    wrong_type={**START_16, "meterStart": "1000"},
    extra_property={**START_16, "meterStartKwh": 1.0},
    bad_timestamp={**START_16, "timestamp": "yesterday at noon"},
    negative_evse={**START_16, "connectorId": -1},
)
V201 = Version(
    name="2.0.1",
    frame_error="RpcFrameworkError",
    message_type_error="MessageTypeNotSupported",
    format_violation="FormatViolation",
    unimplemented_action="GetVariables",
    boot={"chargingStation": {"model": "Wallbox-22", "vendorName": "ChargeCo"}, "reason": "PowerUp"},
    authorize={"idToken": {"idToken": "TOKEN-1", "type": "ISO14443"}},
    too_long_authorize={"idToken": {"idToken": "X" * 37, "type": "ISO14443"}},
    start=START_201,
    missing_required=without(START_201, "seqNo"),
    wrong_type={**START_201, "seqNo": "0"},
    extra_property={**START_201, "sessionNote": "x"},
    bad_timestamp={**START_201, "timestamp": "2025-13-45T99:00:00Z"},
    negative_evse={**START_201, "evse": {"id": -1}},
)


# 2.1 speaks 2.0.1's error vocabulary; the ``ocpp`` package sends nothing for an action it has
# no handler for in 2.1, ChargeNet does (NotImplemented / NotSupported).
V21 = Version(**{
    **V201.__dict__,
    "name": "2.1",
    "too_long_authorize": {"idToken": {"idToken": "X" * 256, "type": "ISO14443"}},  # 2.1 allows 255
    "negative_evse_error": "PropertyConstraintViolation",  # 2.1 gives evse.id a minimum of 0
})


@pytest.fixture(params=[V16, V201, V21], ids=["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
def version(request) -> Version:
    return request.param


@pytest.fixture
async def station(make_station, make_token):
    await adb(make_token)("TOKEN-1")
    return await adb(make_station)("CP-1")


@pytest.fixture
def connect(ocpp, version, station):
    def open_connection():
        return ocpp("CP-1", version=version.name)

    return open_connection


def assert_call_error(frame: list, unique_id: str, code: str) -> None:
    assert frame[0] == 4, f"expected CALLERROR, got {frame}"
    assert len(frame) == 5, frame
    assert frame[1:3] == [unique_id, code], frame
    assert isinstance(frame[3], str) and isinstance(frame[4], dict)


async def assert_still_usable(client) -> None:
    answer = await client.result("Heartbeat", {})
    assert "currentTime" in answer


async def assert_nothing_written() -> None:
    assert await ChargingSession.objects.acount() == 0
    assert await MeterSample.objects.acount() == 0
    assert await TransactionEventRecord.objects.acount() == 0


# --- frames that are not OCPP-J messages --------------------------------------------


async def test_frame_that_is_not_json_gets_frame_error_with_id_minus_1(connect, version):
    async with connect() as client:
        await client.send_frame('[2, "abc", "Heartbeat", {')
        assert_call_error(await client.receive_frame(), "-1", version.frame_error)
        await assert_still_usable(client)


async def test_json_that_is_not_an_array_gets_frame_error(connect, version):
    async with connect() as client:
        await client.send_frame('{"messageTypeId": 2, "action": "Heartbeat"}')
        assert_call_error(await client.receive_frame(), "-1", version.frame_error)
        await client.send_frame("[]")
        assert_call_error(await client.receive_frame(), "-1", version.frame_error)
        await assert_still_usable(client)


async def test_call_with_missing_elements_gets_frame_error_with_its_id(connect, version):
    async with connect() as client:
        await client.send_frame([2, "call-1", "Heartbeat"])
        assert_call_error(await client.receive_frame(), "call-1", version.frame_error)
        await client.send_frame([2, "call-2"])
        assert_call_error(await client.receive_frame(), "call-2", version.frame_error)
        await assert_still_usable(client)


async def test_call_with_payload_that_is_not_an_object_gets_frame_error(connect, version):
    async with connect() as client:
        await client.send_frame([2, "call-1", "Heartbeat", []])
        assert_call_error(await client.receive_frame(), "call-1", version.frame_error)
        await assert_still_usable(client)


async def test_call_without_a_string_message_id_gets_frame_error_with_id_minus_1(connect, version):
    async with connect() as client:
        await client.send_frame([2, 17, "Heartbeat", {}])
        assert_call_error(await client.receive_frame(), "-1", version.frame_error)
        await assert_still_usable(client)


async def test_a_call_whose_message_id_is_minus_1_is_answered(connect, version):
    """"-1" is a string id a station may choose (found by the fuzz test on PostgreSQL): it
    gets its answer, not the frame error meant for frames without an id."""
    async with connect() as client:
        await client.send_frame([2, "-1", "Heartbeat", {}])
        answer = await client.receive_frame()
        assert answer[:2] == [3, "-1"] and "currentTime" in answer[2]
        await client.send_frame([2, "", "Heartbeat", {}])
        assert_call_error(await client.receive_frame(), "-1", version.frame_error)
        await assert_still_usable(client)


async def test_unknown_message_type_id_gets_the_version_error(connect, version):
    async with connect() as client:
        await client.send_frame([7, "call-1", "Heartbeat", {}])
        assert_call_error(await client.receive_frame(), "call-1", version.message_type_error)
        await assert_still_usable(client)


async def test_binary_frame_gets_frame_error(connect, version):
    async with connect() as client:
        await client.communicator.send_to(bytes_data=b'[2, "call-1", "Heartbeat", {}]')
        assert_call_error(await client.receive_frame(), "-1", version.frame_error)
        await assert_still_usable(client)


# --- actions ------------------------------------------------------------------------


async def test_action_unknown_to_the_version_is_not_supported(connect, version):
    async with connect() as client:
        frame = await client.call("BrewCoffee", {})
        assert_call_error(frame, frame[1], "NotSupported")
        await assert_still_usable(client)


async def test_action_the_csms_does_not_handle_is_not_implemented(connect, version):
    async with connect() as client:
        frame = await client.call(version.unimplemented_action, {})
        assert_call_error(frame, frame[1], "NotImplemented")
        await assert_still_usable(client)


# --- payloads failing the schema ----------------------------------------------------


async def test_missing_required_field_is_a_protocol_error_and_writes_nothing(connect, version):
    async with connect() as client:
        frame = await client.call(version.start_action, version.missing_required)
        assert_call_error(frame, frame[1], "ProtocolError")
        await assert_still_usable(client)
    await assert_nothing_written()


async def test_field_of_wrong_type_is_a_type_constraint_violation_and_writes_nothing(connect, version):
    async with connect() as client:
        frame = await client.call(version.start_action, version.wrong_type)
        assert_call_error(frame, frame[1], "TypeConstraintViolation")
        await assert_still_usable(client)
    await assert_nothing_written()


async def test_extra_property_is_a_format_violation_and_writes_nothing(connect, version):
    async with connect() as client:
        frame = await client.call(version.start_action, version.extra_property)
        assert_call_error(frame, frame[1], version.format_violation)
        await assert_still_usable(client)
    await assert_nothing_written()


async def test_string_longer_than_allowed_is_a_type_constraint_violation(connect, version):
    async with connect() as client:
        frame = await client.call("Authorize", version.too_long_authorize)
        assert_call_error(frame, frame[1], "TypeConstraintViolation")


async def test_bad_timestamp_is_a_format_violation_and_writes_nothing(connect, version):
    async with connect() as client:
        frame = await client.call(version.start_action, version.bad_timestamp)
        assert_call_error(frame, frame[1], version.format_violation)
        await assert_still_usable(client)
    await assert_nothing_written()


async def test_message_breaking_a_database_constraint_is_rolled_back_whole(connect, version):
    async with connect() as client:
        frame = await client.call(version.start_action, version.negative_evse)
        assert_call_error(frame, frame[1], version.negative_evse_error)
        await assert_still_usable(client)
    await assert_nothing_written()


async def test_16_meter_values_with_one_bad_timestamp_store_none_of_the_readings(ocpp, station):
    async with ocpp("CP-1", version="1.6") as client:
        tx = (await client.result("StartTransaction", START_16))["transactionId"]
        frame = await client.call("MeterValues", {
            "connectorId": 1,
            "transactionId": tx,
            "meterValue": [
                {"timestamp": "2025-03-01T10:15:00Z", "sampledValue": [{"value": "1500"}]},
                {"timestamp": "quarter past ten", "sampledValue": [{"value": "1600"}]},
            ],
        })
        assert_call_error(frame, frame[1], "FormationViolation")
        await assert_still_usable(client)
    session = await ChargingSession.objects.aget(transaction_id=str(tx))
    assert session.energy_wh == 0
    assert await MeterSample.objects.acount() == 0


async def test_201_transaction_event_with_one_bad_timestamp_changes_nothing(ocpp, station):
    async with ocpp("CP-1", version="2.0.1") as client:
        await client.result("TransactionEvent", START_201)
        frame = await client.call("TransactionEvent", {
            "eventType": "Updated",
            "timestamp": "2025-03-01T10:15:00Z",
            "triggerReason": "MeterValuePeriodic",
            "seqNo": 1,
            "transactionInfo": {"transactionId": "TX-1", "chargingState": "Charging"},
            "meterValue": [
                {"timestamp": "2025-03-01T10:15:00Z", "sampledValue": [{"value": 1500}]},
                {"timestamp": "quarter past ten", "sampledValue": [{"value": 1600}]},
            ],
        })
        assert_call_error(frame, frame[1], "FormatViolation")
        await assert_still_usable(client)
    session = await ChargingSession.objects.aget(transaction_id="TX-1")
    assert (session.energy_wh, session.charging_state, session.last_seq_no) == (0, "", 0)
    assert await TransactionEventRecord.objects.acount() == 1
    assert await MeterSample.objects.acount() == 1  # the Transaction.Begin reading of Started


async def test_valid_message_after_errors_is_handled_normally(connect, version):
    async with connect() as client:
        await client.send_frame("garbage")
        await client.receive_frame()
        await client.call(version.start_action, version.wrong_type)
        await client.result(version.start_action, version.start)
    assert await ChargingSession.objects.acount() == 1


# --- registration -------------------------------------------------------------------


@pytest.fixture
async def rejected_station(station):
    await ChargingStation.objects.filter(pk=station.pk).aupdate(registration_status=RegistrationStatus.REJECTED)


async def test_rejected_station_gets_security_error_for_non_boot_messages(rejected_station, connect, version):
    async with connect() as client:
        for action, payload in [
            ("Authorize", version.authorize),
            (version.start_action, version.start),
            ("Heartbeat", {}),
        ]:
            frame = await client.call(action, payload)
            assert_call_error(frame, frame[1], "SecurityError")
    await assert_nothing_written()


async def test_rejected_station_is_answered_rejected_at_boot(rejected_station, connect, version):
    async with connect() as client:
        answer = await client.result("BootNotification", version.boot)
        assert answer["status"] == "Rejected"
        frame = await client.call("Authorize", version.authorize)
        assert_call_error(frame, frame[1], "SecurityError")
    stored = await ChargingStation.objects.aget(station_id="CP-1")
    assert stored.vendor == "ChargeCo"  # the station's identity is still recorded


@pytest.mark.parametrize(
    "version, action, payload, code",
    [
        ("1.6", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Exploded"},
         "PropertyConstraintViolation"),
        ("2.0.1", "StatusNotification", {"timestamp": "2026-11-27T10:00:00Z", "connectorStatus": "Exploded",
                                         "evseId": 1, "connectorId": 1}, "PropertyConstraintViolation"),
        ("1.6", "MeterValues", {"connectorId": 1, "meterValue": []}, "OccurenceConstraintViolation"),
        ("2.0.1", "MeterValues", {"evseId": 1, "meterValue": []}, "OccurrenceConstraintViolation"),
    ],
)
async def test_enum_and_occurrence_failures_get_their_own_codes(make_station, ocpp, version, action, payload, code):
    await adb(make_station)("CP-1")
    async with ocpp("CP-1", version=version) as client:
        frame = await client.call(action, payload)
        assert frame[0] == 4 and frame[2] == code, frame
        assert "currentTime" in await client.result("Heartbeat", {})
