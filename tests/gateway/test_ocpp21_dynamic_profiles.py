"""OCPP 2.1 Dynamic charging profiles from the load manager, as real frames: a 2.1 station
gets one Dynamic TxProfile per session, then UpdateDynamicSchedule when its share changes;
its PullDynamicScheduleUpdate is answered with the update in force; a station that refuses
Dynamic profiles gets Absolute ones. Every CALL is validated against the 2.1 schemas."""

import asyncio
import inspect
import uuid

import pytest
from django.utils import timezone
from ocpp.messages import Call, _validate_payload

from stations.models import ChargingProfile, ChargingStation, Evse, ProfileStatus, Site, SiteLoadLimit
from stations.smart_charging.dynamic import DYN_UPDATE_INTERVAL_S
from stations.smart_charging.load_manager import rebalance_site_async
from stations.smart_charging.profiles import LOAD_MANAGER_PROFILE_ID
from tests.gateway.ocpp21 import valid_21_answer

pytestmark = pytest.mark.django_db(transaction=True)

PROFILE_ID = LOAD_MANAGER_PROFILE_ID + 1


class Station21:
    """Answers the CSMS's CALLs with ``answer(action, payload)`` (default Accepted), checking
    each against the 2.1 schema, and keeps them; the test sends its own CALLs meanwhile."""

    def __init__(self, client, answer=None):
        self.client, self.answer = client, answer or (lambda action, payload: {"status": "Accepted"})
        self.calls: list[tuple[str, dict]] = []
        self.pending: dict[str, asyncio.Future] = {}
        self.reader = asyncio.create_task(self._read())

    async def _read(self):
        while True:
            frame = await self.client.receive_frame(timeout=30)
            if frame[0] == 2:
                _validate_payload(Call(frame[1], frame[2], frame[3]), "2.1")
                self.calls.append((frame[2], frame[3]))
                await self.client.send_frame([3, frame[1], self.answer(frame[2], frame[3])])
            elif frame[1] in self.pending:
                self.pending.pop(frame[1]).set_result(frame)

    async def result(self, action: str, payload: dict) -> dict:
        unique_id = uuid.uuid4().hex[:12]
        self.pending[unique_id] = asyncio.get_running_loop().create_future()
        await self.client.send_frame([2, unique_id, action, payload])
        frame = await asyncio.wait_for(self.pending[unique_id], 10)
        assert frame[0] == 3, frame
        return valid_21_answer(action, frame[2])

    def sent(self, action: str) -> list[dict]:
        return [payload for name, payload in self.calls if name == action]

    def tx_profiles(self) -> list[dict]:
        return [p["chargingProfile"] for p in self.sent("SetChargingProfile")
                if p["chargingProfile"]["chargingProfilePurpose"] == "TxProfile"]


async def eventually(check, what: str):
    for _ in range(200):
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def active_profile():
    """The station's answer is recorded after the station has the profile: wait for it."""
    return ChargingProfile.objects.filter(profile_id=PROFILE_ID, status=ProfileStatus.ACTIVE).aexists()


@pytest.fixture
def site(db, make_station, make_token):
    make_token("TOKEN-1")
    site = Site.objects.create(name="Depot")
    SiteLoadLimit.objects.create(site=site, max_power_w=22_000, min_interval_s=0, dead_band_w=100)
    station = make_station("CS-21", site=site)
    ChargingStation.objects.filter(pk=station.pk).update(charging_rate_unit="W")
    Evse.objects.create(station=station, evse_id=1, max_power_w=11_000, max_current_a=16)
    return site


async def start_session(station: Station21) -> None:
    await station.result("TransactionEvent", {
        "eventType": "Started", "timestamp": timezone.now().isoformat(), "triggerReason": "Authorized", "seqNo": 0,
        "transactionInfo": {"transactionId": "TX-1"}, "evse": {"id": 1, "connectorId": 1},
        "idToken": {"idToken": "TOKEN-1", "type": "ISO14443"},
    })


async def lower_the_site_to(site, watts: int, station: Station21, expect) -> None:
    """Lower the grid limit and re-balance (or leave the request to a re-balance running);
    wait until ``expect()``."""
    await SiteLoadLimit.objects.filter(site=site).aupdate(max_power_w=watts)
    await rebalance_site_async(site.pk)
    await eventually(expect, "the station hears of the lower limit")


async def test_session_gets_one_dynamic_profile_then_updates_and_pulls(site, ocpp):
    async with ocpp("CS-21", version="2.1") as client:
        station = Station21(client)
        try:
            await start_session(station)
            await eventually(lambda: station.tx_profiles(), "the session's profile")
            profile = station.tx_profiles()[0]
            assert profile["chargingProfileKind"] == "Dynamic" and profile["id"] == PROFILE_ID
            assert profile["dynUpdateInterval"] == DYN_UPDATE_INTERVAL_S and profile["maxOfflineDuration"] == 900
            assert profile["chargingSchedule"][0]["chargingSchedulePeriod"] == [
                {"startPeriod": 0, "limit": 11000.0, "numberPhases": 3}]

            await lower_the_site_to(site, 8_000, station, lambda: station.sent("UpdateDynamicSchedule"))
            assert station.sent("UpdateDynamicSchedule") == [
                {"chargingProfileId": PROFILE_ID, "scheduleUpdate": {"limit": 8000.0}}]
            assert len(station.tx_profiles()) == 1  # no new SetChargingProfile: the cheaper message

            pulled = await station.result("PullDynamicScheduleUpdate", {"chargingProfileId": PROFILE_ID})
            assert pulled == {"status": "Accepted", "scheduleUpdate": {"limit": 8000.0}}
            unknown = await station.result("PullDynamicScheduleUpdate", {"chargingProfileId": 42})
            assert unknown["status"] == "Rejected"
        finally:
            station.reader.cancel()
    await eventually(active_profile, "the station's acceptance recorded")
    held = await ChargingProfile.objects.aget(profile_id=PROFILE_ID, status=ProfileStatus.ACTIVE)
    assert (held.kind, held.periods[0]["limit"], held.dyn_update_interval_s) == ("Dynamic", 8000, 300)
    assert held.dyn_update_at is not None


async def test_a_station_that_refuses_dynamic_profiles_gets_absolute_ones(site, ocpp):
    def answer(action, payload):
        if action == "SetChargingProfile" and payload["chargingProfile"]["chargingProfileKind"] == "Dynamic":
            return {"status": "Rejected", "statusInfo": {"reasonCode": "InvalidProfile"}}
        return {"status": "Accepted"}

    async with ocpp("CS-21", version="2.1") as client:
        station = Station21(client, answer)
        try:
            await start_session(station)
            await eventually(lambda: len(station.tx_profiles()) >= 2, "the Absolute profile after the refusal")
            assert [p["chargingProfileKind"] for p in station.tx_profiles()][:2] == ["Dynamic", "Absolute"]
            await lower_the_site_to(site, 8_000, station, lambda: len(station.tx_profiles()) >= 3)
            assert [p["chargingProfileKind"] for p in station.tx_profiles()][-1] == "Absolute"
            kinds = [p["chargingProfileKind"] for p in station.tx_profiles()]
            assert "Dynamic" not in kinds[1:] and not station.sent("UpdateDynamicSchedule")
        finally:
            station.reader.cancel()
    refusing = await ChargingStation.objects.aget(station_id="CS-21")
    assert (refusing.accepts_dynamic_profiles, refusing.accepts_profiles) == (False, True)


async def test_a_rejected_update_sends_the_dynamic_profile_again(site, ocpp):
    def answer(action, payload):
        if action == "UpdateDynamicSchedule":  # e.g. the station rebooted and lost the profile
            return {"status": "Rejected", "statusInfo": {"reasonCode": "UnknownProfile"}}
        return {"status": "Accepted"}

    async with ocpp("CS-21", version="2.1") as client:
        station = Station21(client, answer)
        try:
            await start_session(station)
            await eventually(lambda: station.tx_profiles(), "the session's profile")
            await lower_the_site_to(site, 8_000, station, lambda: len(station.tx_profiles()) >= 2)
            assert len(station.sent("UpdateDynamicSchedule")) == 1
            latest = station.tx_profiles()[-1]
            assert len(station.tx_profiles()) == 2 and latest["chargingProfileKind"] == "Dynamic"
            assert latest["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] == 8000.0
        finally:
            station.reader.cancel()


async def test_update_dynamic_schedule_command_needs_a_held_dynamic_profile(site, ocpp):
    from stations.commands.service import CommandError, send_command_async

    async with ocpp("CS-21", version="2.1") as client:
        with pytest.raises(CommandError, match="no Dynamic profile"):
            await send_command_async(station_id="CS-21", command="update_dynamic_schedule",
                                     params={"profile_id": 5, "limit": 1000})
        with pytest.raises(CommandError):
            await send_command_async(station_id="CS-21", command="update_dynamic_schedule",
                                     params={"profile_id": 5, "setpoint": -5000, "discharge_limit": -3000})
        assert await client.communicator.receive_nothing(timeout=0.2)


async def test_a_pull_for_a_profile_not_renewed_in_time_gets_no_discharge(site, ocpp):
    """As an Absolute profile falls to ChargingOnly at the safe default after its validity,
    a Dynamic one does once the load manager has not renewed it for maxOfflineDuration."""
    from datetime import timedelta

    async with ocpp("CS-21", version="2.1") as client:
        station = Station21(client)
        try:
            await start_session(station)
            await eventually(lambda: station.tx_profiles(), "the session's profile")
            await eventually(active_profile, "the station's acceptance recorded")
            held = await ChargingProfile.objects.aget(profile_id=PROFILE_ID, status=ProfileStatus.ACTIVE)
            first = dict(held.periods[0], operation_mode="CentralSetpoint", setpoint=-5000, discharge_limit=-7000)
            await ChargingProfile.objects.filter(pk=held.pk).aupdate(periods=[first], fallback_limit=4140)
            fresh = await station.result("PullDynamicScheduleUpdate", {"chargingProfileId": PROFILE_ID})
            assert fresh["scheduleUpdate"]["setpoint"] == -5000.0
            await ChargingProfile.objects.filter(pk=held.pk).aupdate(
                dyn_update_at=timezone.now() - timedelta(seconds=901))
            stale = await station.result("PullDynamicScheduleUpdate", {"chargingProfileId": PROFILE_ID})
        finally:
            station.reader.cancel()
    assert stale == {"status": "Accepted",
                     "scheduleUpdate": {"limit": 4140.0, "setpoint": 0.0, "dischargeLimit": 0.0}}
