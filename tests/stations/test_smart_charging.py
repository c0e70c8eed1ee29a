"""Site load management end to end: real stations (OCPP frames through the ASGI stack) start
and stop sessions on a site with a grid limit, and receive the charging profiles that share it."""

import asyncio
import uuid
from collections import deque
from datetime import timedelta
from unittest import mock

import pytest
from django.db.models import QuerySet
from django.utils import timezone

from stations.models import (
    ChargingProfile,
    ChargingSession,
    ChargingStation,
    Evse,
    ProfileSource,
    ProfileStatus,
    SessionLoadState,
    Site,
    SiteLoadLimit,
    SiteLoadSample,
)
from tests.conftest import adb

pytestmark = pytest.mark.django_db(transaction=True)

V = 230.0
SITE_A = 32.0  # 3x32 A


class Station:
    """A test station that keeps the CSMS's CALLs which arrive while it waits for an answer
    (OCPP-J lets the CSMS call while the station's own call is outstanding)."""

    def __init__(self, client):
        self.client = client
        self.calls: deque = deque()

    async def result(self, action: str, payload: dict) -> dict:
        unique_id = uuid.uuid4().hex[:12]
        await self.client.send_frame([2, unique_id, action, payload])
        while True:
            frame = await self.client.receive_frame(timeout=10)
            if frame[0] == 2:
                self.calls.append(frame)
                continue
            assert frame[1] == unique_id and frame[0] == 3, frame
            return frame[2]

    async def expect_call(self, action: str, answer: dict | None = None, error: tuple | None = None) -> dict:
        frame = self.calls.popleft() if self.calls else await self.client.receive_frame(timeout=10)
        assert frame[0] == 2 and frame[2] == action, f"expected CALL {action}, got {frame}"
        if error is not None:
            await self.client.send_frame([4, frame[1], error[0], error[1], {}])
        else:
            await self.client.send_frame([3, frame[1], answer if answer is not None else {"status": "Accepted"}])
        return frame[3]

    async def no_call(self, seconds: float = 0.5) -> None:
        assert not self.calls, self.calls
        assert await self.client.communicator.receive_nothing(timeout=seconds), "unexpected CALL from the CSMS"


@pytest.fixture
def site(db):
    site = Site.objects.create(name="Depot")
    SiteLoadLimit.objects.create(site=site, max_current_a=SITE_A, min_interval_s=0)
    return site


@pytest.fixture
def two_stations(site, make_station, make_token):
    make_token("TOKEN-1")
    for station_id in ("CP-A", "CP-B"):
        station = make_station(station_id, site=site)
        Evse.objects.create(station=station, evse_id=1)
    return site


def start_16(meter=0):
    return {"connectorId": 1, "idTag": "TOKEN-1", "meterStart": meter, "timestamp": timezone.now().isoformat()}


def limits_a(profile_payload: dict) -> list[float]:
    schedule = profile_payload["csChargingProfiles"]["chargingSchedule"]
    return [p["limit"] for p in schedule["chargingSchedulePeriod"]]


async def eventually(check, what: str):
    for _ in range(200):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def rejects_profiles(station_id: str) -> bool:
    return (await ChargingStation.objects.aget(station_id=station_id)).accepts_profiles is False


async def allowed_w(expected_stations: int = 0) -> dict[str, int]:
    """What each station is allowed, once the re-balance recorded the answers it waits for."""
    for _ in range(200):
        states = SessionLoadState.objects.select_related("session__station").filter(allowed_power_w__isnull=False)
        shares = {s.session.station.station_id: s.allowed_power_w async for s in states}
        if len(shares) >= expected_stations and not await SiteLoadLimit.objects.filter(
            rebalance_lease_until__isnull=False
        ).aexists():
            return shares
        await asyncio.sleep(0.05)
    raise AssertionError("the re-balance did not finish")


async def test_sessions_share_the_site_limit_and_get_it_back_when_one_leaves(two_stations, ocpp):
    async with ocpp("CP-A") as a_client, ocpp("CP-B") as b_client:
        a, b = Station(a_client), Station(b_client)

        started_a = await a.result("StartTransaction", start_16())
        profile = await a.expect_call("SetChargingProfile")
        assert profile["connectorId"] == 1
        body = profile["csChargingProfiles"]
        assert body["chargingProfilePurpose"] == "TxProfile"
        assert body["transactionId"] == started_a["transactionId"]
        assert body["chargingSchedule"]["chargingRateUnit"] == "A"
        # Alone on the site: the whole 32 A, falling to the safe default (32 A / 2 EVSEs)
        # after the profile's validity unless renewed.
        assert limits_a(profile) == [32.0, 16.0]
        assert body["chargingSchedule"]["chargingSchedulePeriod"][1]["startPeriod"] == 900

        await b.result("StartTransaction", start_16())
        # A is lowered first (B's profile may only follow once A's decrease is in force) ...
        assert limits_a(await a.expect_call("SetChargingProfile"))[0] == 16.0
        # ... then B gets the other half.
        assert limits_a(await b.expect_call("SetChargingProfile"))[0] == 16.0
        shares = await allowed_w(expected_stations=2)
        assert shares == {"CP-A": int(16 * V * 3), "CP-B": int(16 * V * 3)}
        assert sum(shares.values()) <= SITE_A * V * 3

        stopped_b = await ChargingSession.objects.aget(station__station_id="CP-B")
        await b.result(
            "StopTransaction",
            {"transactionId": int(stopped_b.transaction_id), "meterStop": 100, "timestamp": timezone.now().isoformat()},
        )
        assert limits_a(await a.expect_call("SetChargingProfile"))[0] == 32.0
        await b.no_call()

    await allowed_w()
    samples = [s async for s in SiteLoadSample.objects.order_by("at")]
    assert samples, "each re-balance records a point of the power chart"
    assert all(s.allocated_w <= s.limit_w for s in samples)
    assert samples[-1].limit_w == int(SITE_A * V * 3)
    assert max(s.sessions for s in samples) == 2
    active = ChargingProfile.objects.filter(status=ProfileStatus.ACTIVE, source=ProfileSource.LOAD_MANAGER)
    assert await active.filter(station__station_id="CP-A").acount() == 1  # replaced, not piled up


async def test_booted_station_gets_the_safe_default_profile(two_stations, ocpp):
    async with ocpp("CP-A") as client:
        station = Station(client)
        boot = await station.result("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        assert boot["status"] == "Accepted"
        default = await station.expect_call("SetChargingProfile")
    assert default["connectorId"] == 0
    body = default["csChargingProfiles"]
    assert (body["chargingProfilePurpose"], body["chargingProfileKind"], body["stackLevel"]) == (
        "TxDefaultProfile", "Relative", 0,
    )
    # 3x32 A shared by two EVSEs that might both charge: 16 A each, whatever happens to ChargeNet.
    assert limits_a(default) == [16.0]
    profile = await ChargingProfile.objects.aget(station__station_id="CP-A")
    assert (profile.status, profile.source, profile.purpose) == (
        ProfileStatus.ACTIVE, ProfileSource.FALLBACK, "TxDefaultProfile",
    )


async def test_station_rejecting_profiles_is_counted_at_its_maximum(two_stations, ocpp):
    async with ocpp("CP-A") as a_client, ocpp("CP-B") as b_client:
        a, b = Station(a_client), Station(b_client)
        await a.result("StartTransaction", start_16())
        await a.expect_call("SetChargingProfile", {"status": "Rejected"})
        await eventually(lambda: rejects_profiles("CP-A"), "CP-A marked as rejecting profiles")

        await b.result("StartTransaction", start_16())
        # A may draw its full 32 A: nothing is left for B, which waits (0 A) instead of overloading.
        assert limits_a(await b.expect_call("SetChargingProfile"))[0] == 0
        await allowed_w(expected_stations=1)
        state = await SessionLoadState.objects.aget(session__station__station_id="CP-B")
        assert state.queued is True and state.allowed_power_w == 0


async def test_offline_station_is_counted_at_its_maximum(two_stations, ocpp):
    async with ocpp("CP-A") as a_client:
        a = Station(a_client)
        await a.result("StartTransaction", start_16())
        await a.expect_call("SetChargingProfile")
    # CP-A's connection is gone while its car may still draw: count it at 32 A.
    await ChargingStation.objects.filter(station_id="CP-A").aupdate(is_online=False)
    async with ocpp("CP-B") as b_client:
        b = Station(b_client)
        await b.result("StartTransaction", start_16())
        assert limits_a(await b.expect_call("SetChargingProfile"))[0] == 0


async def test_car_charging_needs_shape_the_201_profile(site, make_station, make_token, ocpp):
    await adb(make_token)("TOKEN-1")
    station = await adb(make_station)("CP-201", site=site)
    await ChargingStation.objects.filter(pk=station.pk).aupdate(charging_rate_unit="W")
    await Evse.objects.acreate(station=station, evse_id=1)
    async with ocpp("CP-201", version="2.0.1") as client:
        st = Station(client)
        await st.result("TransactionEvent", {
            "eventType": "Started", "timestamp": timezone.now().isoformat(), "triggerReason": "Authorized",
            "seqNo": 0, "transactionInfo": {"transactionId": "tx-1"}, "evse": {"id": 1, "connectorId": 1},
            "idToken": {"idToken": "TOKEN-1", "type": "ISO14443"},
        })
        first = await st.expect_call("SetChargingProfile")
        assert first["evseId"] == 1
        profile = first["chargingProfile"]
        assert (profile["chargingProfilePurpose"], profile["transactionId"], profile["id"]) == (
            "TxProfile", "tx-1", 100_001,
        )
        schedule = profile["chargingSchedule"][0]
        assert schedule["chargingRateUnit"] == "W"
        assert schedule["chargingSchedulePeriod"][0]["limit"] == int(32 * V * 3)

        departure = (timezone.now() + timedelta(hours=3)).replace(microsecond=0)
        answer = await st.result("NotifyEVChargingNeeds", {
            "evseId": 1,
            "chargingNeeds": {
                "requestedEnergyTransfer": "AC_single_phase",
                "departureTime": departure.isoformat(),
                "acChargingParameters": {"energyAmount": 20000, "evMinCurrent": 6, "evMaxCurrent": 16,
                                         "evMaxVoltage": 400},
            },
        })
        assert answer == {"status": "Accepted"}
        # A single-phase car taking at most 16 A: its limit follows (3.68 kW on one phase).
        second = await st.expect_call("SetChargingProfile")
        period = second["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][0]
        assert (period["limit"], period["numberPhases"]) == (int(16 * V), 1)
    state = await SessionLoadState.objects.aget(session__transaction_id="tx-1")
    assert state.departure_at == departure and state.energy_request_wh == 20000


async def test_charging_needs_without_a_session_are_rejected(site, make_station, ocpp):
    await adb(make_station)("CP-201", site=site)
    async with ocpp("CP-201", version="2.0.1") as client:
        answer = await client.result("NotifyEVChargingNeeds", {
            "evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "DC"},
        })
    assert answer == {"status": "Rejected"}


async def test_session_with_departure_waits_for_the_cheap_hours(site, make_station, make_token, ocpp):
    now = timezone.now()
    await SiteLoadLimit.objects.filter(site=site).aupdate(
        optimise_for="price",
        curve=[[(now - timedelta(hours=1)).isoformat(), 0.45], [(now + timedelta(hours=2)).isoformat(), 0.12]],
    )
    await adb(make_token)("TOKEN-1")
    station = await adb(make_station)("CP-201", site=site)
    await Evse.objects.acreate(station=station, evse_id=1)
    async with ocpp("CP-201", version="2.0.1") as client:
        st = Station(client)
        await st.result("TransactionEvent", {
            "eventType": "Started", "timestamp": now.isoformat(), "triggerReason": "Authorized",
            "seqNo": 0, "transactionInfo": {"transactionId": "tx-1"}, "evse": {"id": 1, "connectorId": 1},
            "idToken": {"idToken": "TOKEN-1", "type": "ISO14443"},
        })
        await st.expect_call("SetChargingProfile")  # no needs known yet: it may charge
        await st.result("NotifyEVChargingNeeds", {
            "evseId": 1,
            "chargingNeeds": {
                "requestedEnergyTransfer": "AC_three_phase",
                "departureTime": (now + timedelta(hours=6)).isoformat(),
                "acChargingParameters": {"energyAmount": 10000, "evMinCurrent": 6, "evMaxCurrent": 32,
                                         "evMaxVoltage": 400},
            },
        })
        # 10 kWh fit easily into the cheap hours from +2 h: nothing now.
        later = await st.expect_call("SetChargingProfile")
    assert later["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] == 0


async def test_site_without_load_limit_sends_no_profiles(make_station, make_token, ocpp):
    await adb(make_token)("TOKEN-1")
    site = await Site.objects.acreate(name="Unmanaged")
    await adb(make_station)("CP-A", site=site)
    async with ocpp("CP-A") as client:
        st = Station(client)
        await st.result("StartTransaction", start_16())
        await st.no_call()


def test_a_request_racing_the_release_is_not_lost(site):
    """The holder releases between the requester's two statements: either the requester
    then holds the lease, or the holder is told to plan again — never neither."""
    from stations.smart_charging import load_manager

    assert load_manager.claim(site_pk=site.pk)  # the holder plans
    real_update = QuerySet.update
    outcome = {}

    def update_then_release(self, **kwargs):
        rows = real_update(self, **kwargs)
        if "release" not in outcome:  # the holder finishes right after the requester's first write
            outcome["release"] = None
            outcome["release"] = load_manager.release(site_pk=site.pk)
        return rows

    with mock.patch.object(QuerySet, "update", update_then_release):
        requester_took = load_manager.claim(site_pk=site.pk)
    holder_runs_again = outcome["release"]
    assert requester_took or holder_runs_again
    # Once the holder has run again it gives the lease back for good.
    if holder_runs_again:
        assert load_manager.release(site_pk=site.pk) is False
    config = SiteLoadLimit.objects.get(site=site)
    assert config.rebalance_pending is False


def test_a_stopping_server_does_not_wait_for_a_rebalance(site):
    """As daphne shuts down, stations drop and their receivers run on worker threads after
    the loop stopped: a request there is left to the next start or tick instead of blocking
    the thread (and the process's exit) on a loop that is gone."""
    import threading

    from stations import background
    from stations.smart_charging import dispatch

    stopped_loop = asyncio.new_event_loop()
    background.bind_loop(stopped_loop)
    answers = []
    try:
        with mock.patch("stations.smart_charging.load_manager.rebalance_site_async",
                        new_callable=mock.AsyncMock) as rebalance:
            worker = threading.Thread(target=lambda: answers.append(dispatch.request_rebalance(site_pk=site.pk)))
            worker.start()
            worker.join(timeout=10)
            assert answers == [False] and not rebalance.called
            # The main thread (a management command, a test) still runs it itself.
            assert dispatch.request_rebalance(site_pk=site.pk) is True and rebalance.called
    finally:
        background.bind_loop(None)
        stopped_loop.close()
