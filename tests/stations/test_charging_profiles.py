"""Charging profiles as commands: what each version receives, and what ChargeNet records of
the station's answer."""

import asyncio

import pytest

from stations.commands.service import CommandError, send_command_async
from stations.models import ChargingProfile, ChargingStation, ProfileSource, ProfileStatus
from tests.conftest import adb

pytestmark = pytest.mark.django_db(transaction=True)

STATION_MAX = {
    "purpose": "ChargingStationMaxProfile",
    "charging_rate_unit": "A",
    "periods": [{"start_period_s": 0, "limit": 24}, {"start_period_s": 3600, "limit": 16, "number_phases": 3}],
}


async def send(station, command, params, answer=None, error=None, action=None):
    sending = asyncio.create_task(send_command_async(station_id="CP-1", command=command, params=params))
    payload = await station.expect_call(action, answer, error) if action else None
    return payload, await sending


async def test_16_station_maximum_profile_payload_and_record(make_station, ocpp):
    await adb(make_station)("CP-1")
    async with ocpp(version="1.6") as station:
        payload, result = await send(
            station, "set_charging_profile", STATION_MAX, {"status": "Accepted"}, action="SetChargingProfile"
        )
    assert payload == {
        "connectorId": 0,
        "csChargingProfiles": {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "ChargePointMaxProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 24.0},
                    {"startPeriod": 3600, "limit": 16.0, "numberPhases": 3},
                ],
            },
        },
    }
    assert result.outcome == "accepted"
    profile = await ChargingProfile.objects.aget()
    assert (profile.profile_id, profile.status, profile.source, profile.command_id) == (
        1, ProfileStatus.ACTIVE, ProfileSource.OPERATOR, result.log_id,
    )
    assert (await ChargingStation.objects.aget(station_id="CP-1")).accepts_profiles is True


async def test_201_recurring_default_profile_and_replacement_of_the_same_slot(make_station, ocpp):
    await adb(make_station)("CP-1")
    recurring = {
        "evse_id": 1, "purpose": "TxDefaultProfile", "kind": "Recurring", "recurrency_kind": "Daily",
        "start_schedule": "2026-01-01T00:00:00Z", "charging_rate_unit": "W",
        "periods": [{"start_period_s": 0, "limit": 7400}, {"start_period_s": 25200, "limit": 11000}],
    }
    async with ocpp(version="2.0.1") as station:
        first, _ = await send(station, "set_charging_profile", recurring, {"status": "Accepted"},
                              action="SetChargingProfile")
        second, _ = await send(station, "set_charging_profile", {**recurring, "periods": [
            {"start_period_s": 0, "limit": 3700}]}, {"status": "Accepted"}, action="SetChargingProfile")
    assert first == {
        "evseId": 1,
        "chargingProfile": {
            "id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Recurring",
            "recurrencyKind": "Daily",
            "chargingSchedule": [{
                "id": 1, "startSchedule": "2026-01-01T00:00:00+00:00", "chargingRateUnit": "W",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 7400.0}, {"startPeriod": 25200, "limit": 11000.0},
                ],
            }],
        },
    }
    assert second["chargingProfile"]["id"] == 2
    statuses = [p.status async for p in ChargingProfile.objects.order_by("profile_id")]
    # Same EVSE, purpose and stack level: the station replaced the first with the second.
    assert statuses == [ProfileStatus.REPLACED, ProfileStatus.ACTIVE]


async def test_rejected_profile_marks_the_station_as_not_taking_profiles(make_station, ocpp):
    await adb(make_station)("CP-1")
    async with ocpp(version="1.6") as station:
        _, result = await send(station, "set_charging_profile", STATION_MAX, {"status": "Rejected"},
                               action="SetChargingProfile")
    assert result.outcome == "rejected"
    assert (await ChargingProfile.objects.aget()).status == ProfileStatus.REJECTED
    assert (await ChargingStation.objects.aget(station_id="CP-1")).accepts_profiles is False


async def test_station_without_smart_charging_answers_not_supported(make_station, ocpp):
    await adb(make_station)("CP-1")
    async with ocpp(version="1.6") as station:
        _, result = await send(station, "set_charging_profile", STATION_MAX, error=("NotSupported", "no"),
                               action="SetChargingProfile")
    assert result.outcome == "error"
    assert (await ChargingProfile.objects.aget()).status == ProfileStatus.FAILED
    assert (await ChargingStation.objects.aget(station_id="CP-1")).accepts_profiles is False


async def test_profile_for_an_offline_station_is_recorded_as_failed(make_station):
    await adb(make_station)("CP-1")
    result = await send_command_async(station_id="CP-1", command="set_charging_profile", params=STATION_MAX)
    assert result.outcome == "offline"
    assert (await ChargingProfile.objects.aget()).status == ProfileStatus.FAILED


async def test_clear_by_id_clears_the_record(make_station, ocpp):
    await adb(make_station)("CP-1")
    async with ocpp(version="2.0.1") as station:
        await send(station, "set_charging_profile", STATION_MAX, {"status": "Accepted"}, action="SetChargingProfile")
        payload, result = await send(station, "clear_charging_profile", {"profile_id": 1}, {"status": "Accepted"},
                                     action="ClearChargingProfile")
    assert payload == {"chargingProfileId": 1}
    assert (await ChargingProfile.objects.aget()).status == ProfileStatus.CLEARED


@pytest.mark.parametrize(
    "version, expected",
    [("1.6", {"connectorId": 1, "duration": 600, "chargingRateUnit": "W"}),
     ("2.0.1", {"evseId": 1, "duration": 600, "chargingRateUnit": "W"})],
)
async def test_composite_schedule_request(make_station, ocpp, version, expected):
    await adb(make_station)("CP-1")
    answer = {"status": "Accepted"}
    async with ocpp(version=version) as station:
        payload, result = await send(
            station, "get_composite_schedule", {"evse_id": 1, "duration_s": 600, "charging_rate_unit": "W"},
            answer, action="GetCompositeSchedule",
        )
    assert payload == expected
    assert result.response == answer


async def test_201_station_reports_its_profiles(make_station, ocpp):
    await adb(make_station)("CP-1")
    async with ocpp(version="2.0.1") as station:
        payload, result = await send(station, "get_charging_profiles", {"evse_id": 1, "request_id": 9},
                                     {"status": "Accepted"}, action="GetChargingProfiles")
        assert payload == {"requestId": 9, "chargingProfile": {}, "evseId": 1}
        assert await station.result("ReportChargingProfiles", {
            "requestId": 9, "chargingLimitSource": "CSO", "evseId": 1, "chargingProfile": [{
                "id": 7, "stackLevel": 2, "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
                                      "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}]}],
            }],
        }) == {}
    reported = await ChargingProfile.objects.aget(status=ProfileStatus.REPORTED)
    assert (reported.profile_id, reported.stack_level, reported.periods) == (
        7, 2, [{"start_period_s": 0, "limit": 10.0}],
    )
    assert reported.source == ProfileSource.STATION


@pytest.mark.parametrize(
    "params, message",
    [
        ({**STATION_MAX, "purpose": "TxProfile"}, "transaction"),
        ({**STATION_MAX, "periods": [{"start_period_s": 5, "limit": 1}]}, "start at 0"),
        ({**STATION_MAX, "evse_id": 2}, "EVSE 0"),
        ({**STATION_MAX, "kind": "Recurring"}, "Daily or Weekly"),
        ({**STATION_MAX, "charging_rate_unit": "kW"}, "valid choice"),
    ],
)
async def test_bad_profiles_are_refused_before_anything_is_sent(make_station, params, message):
    await adb(make_station)("CP-1")
    with pytest.raises(CommandError) as refused:
        await send_command_async(station_id="CP-1", command="set_charging_profile", params=params)
    assert message in str(refused.value.details)
    assert await ChargingProfile.objects.acount() == 0


async def test_16_has_no_get_charging_profiles(make_station):
    await adb(make_station)("CP-1")
    await ChargingStation.objects.filter(station_id="CP-1").aupdate(ocpp_version="1.6")
    with pytest.raises(CommandError, match="1.6 has no GetChargingProfiles"):
        await send_command_async(station_id="CP-1", command="get_charging_profiles", params={})
