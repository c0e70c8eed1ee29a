"""OCPP 2.1 as real frames through the ASGI stack: the version is negotiated, the messages
2.1 shares with 2.0.1 are answered by the same handlers (with 2.1's new fields and values),
the 2.1-only messages get a real answer or the right CALLERROR, and nothing goes unanswered.
Every answer is validated against the 2.1 schemas."""

from datetime import UTC, datetime

import pytest
from django.conf import settings
from ocpp.v21.enums import Action

from stations.models import (
    ChargingProfile,
    ChargingStation,
    ConnectorStatusChange,
    DeviceModelVariable,
    Driver,
    IdToken,
    Location,
    Measurand,
    MeterSample,
    ProfileSource,
    ProfileStatus,
    Reservation,
    ReservationStatus,
    StationEvent,
)
from stations.services.cars import create_car, set_car_tokens, update_car
from stations.services.registry import register_id_token
from tests.conftest import adb, ocpp_connection
from tests.gateway.ocpp21 import result21

pytestmark = pytest.mark.django_db(transaction=True)

T0 = "2025-03-01T10:00:00Z"
BOOT = {"chargingStation": {"model": "BiDi-22", "vendorName": "ChargeCo"}, "reason": "PowerUp"}


@pytest.fixture
async def station(make_station, make_token):
    await adb(make_token)("TOKEN-1")
    return await adb(make_station)("CS-21")


@pytest.fixture
def ocpp21(ocpp):
    def connect(station_id: str = "CS-21"):
        return ocpp(station_id, version="2.1")

    return connect


def assert_call_error(frame: list, unique_id: str, code: str) -> None:
    assert frame[0] == 4 and frame[1] == unique_id and frame[2] == code, frame


async def assert_still_usable(client) -> None:
    assert "currentTime" in await result21(client, "Heartbeat", {})


# --- the version -------------------------------------------------------------------------


async def test_ocpp21_is_preferred_when_the_station_offers_it(station):
    async with ocpp_connection("CS-21", subprotocols=["ocpp1.6", "ocpp2.0.1", "ocpp2.1"]) as (connected, client):
        assert connected and client.subprotocol == "ocpp2.1"
        await result21(client, "BootNotification", BOOT)
    assert (await ChargingStation.objects.aget(pk=station.pk)).ocpp_version == "2.1"


async def test_a_20_station_still_gets_201(station):
    async with ocpp_connection("CS-21", subprotocols=["ocpp2.0.1", "ocpp1.6"]) as (connected, client):
        assert connected and client.subprotocol == "ocpp2.0.1"


# --- shared messages ------------------------------------------------------------------------


async def test_boot_heartbeat_and_status_are_answered_as_in_201(station, ocpp21):
    async with ocpp21() as client:
        boot = await result21(client, "BootNotification", BOOT)
        assert (boot["status"], boot["interval"]) == ("Accepted", settings.OCPP_HEARTBEAT_INTERVAL)
        await result21(client, "Heartbeat", {})
        await result21(client, "StatusNotification", {
            "timestamp": T0, "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1,
        })
    stored = await ChargingStation.objects.aget(pk=station.pk)
    assert (stored.vendor, stored.model) == ("ChargeCo", "BiDi-22")
    assert await ConnectorStatusChange.objects.filter(status="Occupied").aexists()


async def test_authorize_takes_an_id_token_type_2_1_made_free_text(station, ocpp21):
    async with ocpp21() as client:
        known = await result21(client, "Authorize", {"idToken": {"idToken": "TOKEN-1", "type": "ISO14443"}})
        other = await result21(client, "Authorize", {"idToken": {"idToken": "WMI123", "type": "VIN"}})
    assert known["idTokenInfo"]["status"] == "Accepted"
    assert other["idTokenInfo"]["status"] == "Invalid"


def _two_cars_one_allowed():
    """driver@example.com: TOKEN-1 on a car that may discharge, TOKEN-2 on one that may not,
    TOKEN-3 on no car."""
    driver = Driver.objects.get(email="driver@example.com")
    family = create_car(driver=driver, name="Family car", allow_discharge=True)
    commuter = create_car(driver=driver, name="Commuter", allow_discharge=False)
    tokens = [register_id_token(value=v, driver_email=driver.email) for v in ("TOKEN-2", "TOKEN-3")]
    token_1 = IdToken.objects.get(value="TOKEN-1")
    set_car_tokens(car=family, chosen=[token_1], offered=[token_1])
    set_car_tokens(car=commuter, chosen=[tokens[0]], offered=tokens)
    return family, commuter


async def test_authorize_offers_bidirectional_modes_only_for_a_car_that_may_discharge(station, ocpp21):
    family, commuter = await adb(_two_cars_one_allowed)()

    async def allowed_transfer() -> list:
        answers = {}
        async with ocpp21() as client:
            for value in ("TOKEN-1", "TOKEN-2", "TOKEN-3"):
                answer = await result21(client, "Authorize", {"idToken": {"idToken": value, "type": "ISO14443"}})
                assert answer["idTokenInfo"]["status"] == "Accepted"
                answers[value] = answer.get("allowedEnergyTransfer")
        return answers

    first = await allowed_transfer()
    assert {"AC_BPT", "DC_BPT"} <= set(first["TOKEN-1"])
    # Same driver, another car: charging only (2.1: omitted); a card on no car likewise.
    assert first["TOKEN-2"] is None and first["TOKEN-3"] is None
    await adb(update_car)(car=family, allow_discharge=False)
    await adb(update_car)(car=commuter, allow_discharge=True)
    second = await allowed_transfer()
    assert second["TOKEN-1"] is None and {"AC_BPT", "DC_BPT"} <= set(second["TOKEN-2"]) and second["TOKEN-3"] is None


async def test_meter_values_with_2_1_measurands_keep_what_chargenet_stores(station, ocpp21):
    async with ocpp21() as client:
        await result21(client, "MeterValues", {"evseId": 1, "meterValue": [{"timestamp": T0, "sampledValue": [
            {"value": 62, "measurand": "Display.PresentSOC", "unitOfMeasure": {"unit": "Percent"}},
            {"value": 1200, "measurand": "Energy.Active.Export.Register", "location": "Outlet"},
            {"value": 4000, "measurand": "Energy.Active.Import.Register", "location": "Upstream"},
            {"value": 3000, "measurand": "Power.Active.Setpoint"},
        ]}]})
        await assert_still_usable(client)
    stored = {(s.measurand, s.location, s.value) async for s in MeterSample.objects.all()}
    # 2.1's Upstream location is its own, never taken for the outlet's register; measurands
    # ChargeNet has no column for (Power.Active.Setpoint) are left out.
    assert stored == {
        (Measurand.DISPLAY_PRESENT_SOC, Location.OUTLET, 62),
        (Measurand.ENERGY_ACTIVE_EXPORT_REGISTER, Location.OUTLET, 1200),
        (Measurand.ENERGY_ACTIVE_IMPORT_REGISTER, Location.UPSTREAM, 4000),
    }


async def test_reservation_update_no_transaction_spends_the_reservation(station, ocpp21):
    reservation = await Reservation.objects.acreate(
        station=station, evse_id=1, id_token_value="TOKEN-1", expires_at=datetime(2030, 1, 1, tzinfo=UTC),
        status=ReservationStatus.ACCEPTED,
    )
    async with ocpp21() as client:
        await result21(client, "ReservationStatusUpdate", {
            "reservationId": reservation.pk, "reservationUpdateStatus": "NoTransaction",
        })
    assert (await Reservation.objects.aget(pk=reservation.pk)).status == ReservationStatus.USED


async def test_reported_profile_with_setpoints_and_no_limit_is_kept(station, ocpp21):
    async with ocpp21() as client:
        await result21(client, "ReportChargingProfiles", {
            "requestId": 1, "chargingLimitSource": "EMS", "evseId": 1,
            "chargingProfile": [{
                "id": 12, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Dynamic",
                "chargingSchedule": [{"id": 1, "chargingRateUnit": "W", "chargingSchedulePeriod": [
                    {"startPeriod": 0, "setpoint": -5000, "dischargeLimit": -7000, "operationMode": "CentralSetpoint"},
                ]}],
            }],
        })
    profile = await ChargingProfile.objects.aget(station=station, profile_id=12)
    assert (profile.status, profile.source, profile.kind) == (ProfileStatus.REPORTED, ProfileSource.STATION, "Dynamic")
    assert profile.periods == [{"start_period_s": 0, "setpoint": -5000, "discharge_limit": -7000,
                                "operation_mode": "CentralSetpoint"}]
    assert profile.first_limit is None


# --- 2.1-only messages -----------------------------------------------------------------------


async def test_der_messages_are_recorded(station, ocpp21):
    async with ocpp21() as client:
        await result21(client, "NotifyDERAlarm", {
            "controlType": "HVMustTrip", "timestamp": T0, "gridEventFault": "OverVoltage",
        })
        await result21(client, "NotifyDERStartStop", {"controlId": "ctl-1", "started": True, "timestamp": T0})
        await result21(client, "ReportDERControl", {"requestId": 4, "tbc": False})
    summaries = [e.summary async for e in StationEvent.objects.filter(kind=StationEvent.Kind.DER).order_by("id")]
    assert summaries == [
        "DER alarm HVMustTrip: OverVoltage",
        "DER control ctl-1 started",
        "DER controls (request 4): none",
    ]


async def test_priority_charging_notice_is_recorded(station, ocpp21):
    async with ocpp21() as client:
        await result21(client, "NotifyPriorityCharging", {"transactionId": "TX-1", "activated": True})
    event = await StationEvent.objects.aget(kind=StationEvent.Kind.PRIORITY_CHARGING)
    assert event.summary == "priority charging on for transaction TX-1"


async def test_pull_for_a_profile_chargenet_did_not_send_is_rejected(station, ocpp21):
    """(Dynamic profiles and periodic event streams: tests/gateway/test_ocpp21_dynamic_profiles.py
    and test_ocpp21_event_streams.py.)"""
    async with ocpp21() as client:
        pull = await result21(client, "PullDynamicScheduleUpdate", {"chargingProfileId": 3})
    assert pull["status"] == "Rejected" and pull["statusInfo"]["reasonCode"] == "UnknownProfile"


@pytest.mark.parametrize("action", ["BatterySwap", "NotifySettlement", "VatNumberValidation",
                                    "GetCertificateChainStatus"])
async def test_21_action_chargenet_does_not_handle_is_not_implemented(station, ocpp21, action):
    async with ocpp21() as client:
        frame = await client.call(action, {})
        assert_call_error(frame, frame[1], "NotImplemented")
        await assert_still_usable(client)


async def test_name_that_is_no_21_action_is_not_supported(station, ocpp21):
    async with ocpp21() as client:
        frame = await client.call("GetDiagnostics", {})  # 1.6 only
        assert_call_error(frame, frame[1], "NotSupported")
        await assert_still_usable(client)


async def test_no_21_action_goes_unanswered(station, ocpp21):
    """Whatever the action, the station hears back about its CALL: a CALLRESULT, or a
    CALLERROR (an empty payload fails the schema of every action that requires fields)."""
    async with ocpp21() as client:
        await result21(client, "BootNotification", BOOT)
        for action in sorted(a.value for a in Action):
            frame = await client.call(action, {}, unique_id=f"id-{action}"[:36])
            assert frame[1] == f"id-{action}"[:36] and frame[0] in (3, 4), (action, frame)


async def test_send_and_callresulterror_frames_get_no_reply_and_keep_the_connection(station, ocpp21):
    async with ocpp21() as client:
        await client.send_frame([6, "s-1", "NotifyPeriodicEventStream",
                                 {"id": 1, "pending": 0, "basetime": T0, "data": [{"t": 0, "v": "1"}]}])
        await client.send_frame([5, "r-1", "InternalError", "could not process", {}])
        assert await client.communicator.receive_nothing(timeout=0.3)
        await assert_still_usable(client)


async def test_unknown_message_type_is_still_refused(station, ocpp21):
    async with ocpp21() as client:
        await client.send_frame([7, "x-1", "Heartbeat", {}])
        assert_call_error(await client.receive_frame(), "x-1", "MessageTypeNotSupported")


# --- every other shared message, with 2.1's changes -------------------------------------------

SHARED = [
    ("NotifyReport", {"requestId": 1, "generatedAt": T0, "seqNo": 0, "reportData": [
        {"component": {"name": "V2XChargingCtrlr"}, "variable": {"name": "Enabled"},
         "variableAttribute": [{"type": "Actual", "value": "true"}]}]}),
    ("NotifyEvent", {"generatedAt": T0, "seqNo": 0, "eventData": [
        {"eventId": 1, "timestamp": T0, "trigger": "Delta", "actualValue": "1",
         "eventNotificationType": "HardWiredNotification", "component": {"name": "DERCtrlr"},
         "variable": {"name": "Active"}}]}),
    ("SecurityEventNotification", {"type": "StartupOfTheDevice", "timestamp": T0}),
    ("FirmwareStatusNotification", {"status": "Installed", "requestId": 1,
                                    "statusInfo": {"reasonCode": "OK"}}),  # statusInfo is new in 2.1
    ("LogStatusNotification", {"status": "Uploaded", "requestId": 2}),
    ("NotifyChargingLimit", {"chargingLimit": {"chargingLimitSource": "Grid-Operator-7"}}),  # free text in 2.1
    ("ClearedChargingLimit", {"chargingLimitSource": "Grid-Operator-7", "evseId": 1}),
    ("NotifyEVChargingSchedule", {"timeBase": T0, "evseId": 1, "chargingSchedule": {
        "id": 1, "chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "setpoint": -3000}]}}),
    ("DataTransfer", {"vendorId": "com.example", "messageId": "Hi", "data": {"x": [1, 2]}}),
    ("Get15118EVCertificate", {"iso15118SchemaVersion": "urn:iso:std:iso:15118:-20:CommonMessages",
                               "action": "Install", "exiRequest": "gAA="}),
]


@pytest.mark.parametrize(("action", "payload"), SHARED, ids=[a for a, _ in SHARED])
async def test_shared_message_gets_a_valid_21_answer(station, ocpp21, action, payload):
    async with ocpp21() as client:
        await result21(client, action, payload)
        await assert_still_usable(client)


async def test_shared_messages_are_kept_as_for_201(station, ocpp21):
    async with ocpp21() as client:
        for action, payload in SHARED[:3] + SHARED[5:7] + SHARED[8:9]:
            await result21(client, action, payload)
    kinds = [e.kind async for e in StationEvent.objects.order_by("id")]
    assert kinds == [StationEvent.Kind.NOTIFY_EVENT, StationEvent.Kind.SECURITY_EVENT,
                     StationEvent.Kind.CHARGING_LIMIT, StationEvent.Kind.CHARGING_LIMIT,
                     StationEvent.Kind.DATA_TRANSFER]
    limit_events = StationEvent.objects.filter(kind=StationEvent.Kind.CHARGING_LIMIT).order_by("id")
    limits = [e.summary async for e in limit_events]
    assert limits == ["charging limit from Grid-Operator-7", "charging limit from Grid-Operator-7 cleared"]
    assert await DeviceModelVariable.objects.filter(component="V2XChargingCtrlr", variable="Enabled").aexists()


async def test_a_garbled_15118_20_contract_request_is_refused_with_a_reason(station, ocpp21):
    """(-20 requests themselves are answered: tests/pki/test_contract_installation_20.py)"""
    async with ocpp21() as client:
        answer = await result21(client, "Get15118EVCertificate", SHARED[-1][1])
    assert answer["status"] == "Failed"
    assert "not an ISO 15118-20 message" in answer["statusInfo"]["additionalInfo"]
