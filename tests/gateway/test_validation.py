"""Station payloads are checked with schemas compiled once per action and version."""

import pytest
from ocpp import charge_point as ocpp_charge_point
from ocpp.exceptions import FormatViolationError, ProtocolError, TypeConstraintViolationError

from gateway import validation
from stations.models import StationEvent

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def station(make_station):
    return make_station("CP-1")


async def test_frames_are_checked_by_compiled_schemas_not_per_frame_jsonschema(station, ocpp, monkeypatch):
    async def refuse(*args, **kwargs):
        raise AssertionError("the package's jsonschema validation ran for a station frame")

    monkeypatch.setattr(ocpp_charge_point, "validate_payload", refuse)
    validation.compiled.cache_clear()
    async with ocpp("CP-1", version="2.0.1") as client:
        for _ in range(3):
            assert "currentTime" in await client.result("Heartbeat", {})
        frame = await client.call("Heartbeat", {"extra": 1})
        assert frame[0] == 4 and frame[2] == "FormatViolation"
    info = validation.compiled.cache_info()
    assert info.misses == 2  # HeartbeatRequest and HeartbeatResponse, compiled once each
    assert info.hits >= 5


@pytest.mark.parametrize(
    ("version", "action", "payload", "error"),
    [
        ("2.0.1", "StatusNotification",
         {"timestamp": "yesterday", "connectorStatus": "Available", "evseId": 1, "connectorId": 1},
         FormatViolationError),
        ("1.6", "StatusNotification",
         {"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": "2024-13-45T99:00:00Z"},
         FormatViolationError),
        ("1.6", "Heartbeat", {"unexpected": True}, FormatViolationError),
        ("1.6", "Authorize", {}, ProtocolError),
        ("1.6", "Authorize", {"idTag": 7}, TypeConstraintViolationError),
        ("1.6", "Authorize", {"idTag": "X" * 21}, TypeConstraintViolationError),
    ],
)
def test_schema_failures_raise_the_ocpp_error_of_the_failing_keyword(version, action, payload, error):
    with pytest.raises(error):
        validation.check(action, version, payload)


def test_date_time_format_is_enforced_in_answers_too_and_valid_timestamps_pass():
    validation.check("Heartbeat", "2.0.1", {"currentTime": "2024-05-01T10:00:00Z"}, response=True)
    with pytest.raises(FormatViolationError):
        validation.check("Heartbeat", "2.0.1", {"currentTime": "2024-05-01 10:00"}, response=True)


def test_date_time_format_is_enforced_and_valid_timestamps_pass():
    payload = {"timestamp": "2024-05-01T10:00:00.123Z", "connectorStatus": "Available", "evseId": 1, "connectorId": 1}
    validation.check("StatusNotification", "2.0.1", payload)
    with pytest.raises(FormatViolationError, match="timestamp must be an RFC 3339 date-time"):
        validation.check("StatusNotification", "2.0.1", {**payload, "timestamp": "01/05/2024"})


def test_checking_fills_in_no_schema_defaults():
    payload = {"eventData": [{"eventId": 1, "timestamp": "2024-05-01T10:00:00Z", "trigger": "Alerting",
                              "actualValue": "1", "eventNotificationType": "HardWiredNotification",
                              "component": {"name": "X"}, "variable": {"name": "Y"}}],
               "generatedAt": "2024-05-01T10:00:00Z", "seqNo": 0}
    validation.check("NotifyEvent", "2.0.1", payload)
    assert "tbc" not in payload


async def test_a_bad_timestamp_is_refused_by_the_schema_before_any_write(station, ocpp):
    async with ocpp("CP-1", version="2.0.1") as client:
        frame = await client.call(
            "NotifyEvent",
            {"generatedAt": "not a time", "seqNo": 0, "eventData": [
                {"eventId": 1, "timestamp": "2024-05-01T10:00:00Z", "trigger": "Alerting", "actualValue": "1",
                 "eventNotificationType": "HardWiredNotification", "component": {"name": "X"},
                 "variable": {"name": "Y"}}]},
        )
        assert frame[0] == 4 and frame[2] == "FormatViolation"
        assert "generatedAt" in frame[3] and "date-time" in frame[3]
    assert not await StationEvent.objects.aexists()
