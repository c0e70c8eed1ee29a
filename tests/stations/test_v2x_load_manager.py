"""The load manager uses V2X, end to end with real frames: on a managed site whose grid limit
is taken by the building, a car on an OCPP 2.1 station that may discharge feeds the site
(a TxProfile with a negative CentralSetpoint) so that another car can charge; a car whose
driver did not allow discharge is never asked to (the permission is the car's)."""

import asyncio
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from ocpp.messages import Call, _validate_payload

from stations.models import (
    ChargingSession,
    ChargingStation,
    Driver,
    Evse,
    SessionLoadState,
    Site,
    SiteLoadLimit,
    SiteLoadLimitPeriod,
    SiteLoadSample,
)
from stations.services.cars import create_car, set_car_tokens
from tests.conftest import adb

pytestmark = pytest.mark.django_db(transaction=True)

V = 230.0


class AutoStation:
    """A station that answers every CALL of the CSMS with Accepted (checking it against its
    version's schema) and keeps them, while the test sends its own CALLs."""

    def __init__(self, client, version: str):
        self.client, self.version = client, version
        self.calls: list[tuple[str, dict]] = []
        self.pending: dict[str, asyncio.Future] = {}
        self.reader = asyncio.create_task(self._read())

    async def _read(self):
        while True:
            frame = await self.client.receive_frame(timeout=30)
            if frame[0] == 2:
                _validate_payload(Call(frame[1], frame[2], frame[3]), self.version)
                self.calls.append((frame[2], frame[3]))
                await self.client.send_frame([3, frame[1], {"status": "Accepted"}])
            elif frame[1] in self.pending:
                self.pending.pop(frame[1]).set_result(frame)

    async def result(self, action: str, payload: dict) -> dict:
        unique_id = uuid.uuid4().hex[:12]
        self.pending[unique_id] = asyncio.get_running_loop().create_future()
        await self.client.send_frame([2, unique_id, action, payload])
        frame = await asyncio.wait_for(self.pending[unique_id], 10)
        assert frame[0] == 3, frame
        return frame[2]

    def profiles(self) -> list[dict]:
        return [payload for action, payload in self.calls if action == "SetChargingProfile"]

    def close(self):
        self.reader.cancel()


async def eventually(check, what: str):
    for _ in range(300):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


@pytest.fixture
def site(db):
    site = Site.objects.create(name="Office")
    config = SiteLoadLimit.objects.create(site=site, max_power_w=22_000, min_interval_s=0, dead_band_w=100)
    now = timezone.now()
    # The building's evening peak takes the whole grid connection for the next hour.
    SiteLoadLimitPeriod.objects.create(limit=config, start=now - timedelta(minutes=5), max_power_w=0)
    SiteLoadLimitPeriod.objects.create(limit=config, start=now + timedelta(hours=1), max_power_w=22_000)
    return site


def setup_network(site, make_station, make_token, *, allow_discharge: bool):
    """TOKEN-V2G charges the driver's car "V2G car" (``allow_discharge``); the same driver's
    other car always allows discharge."""
    token = make_token("TOKEN-V2G", driver_email="v2g@example.com")
    make_token("TOKEN-B", driver_email="b@example.com")
    driver = Driver.objects.get(email="v2g@example.com")
    car = create_car(driver=driver, name="V2G car", allow_discharge=allow_discharge)
    create_car(driver=driver, name="Other car", allow_discharge=True)
    set_car_tokens(car=car, chosen=[token], offered=[token])
    v2g = make_station("CS-V2G", site=site)
    ChargingStation.objects.filter(pk=v2g.pk).update(charging_rate_unit="W")
    Evse.objects.create(station=v2g, evse_id=1, max_power_w=11_000, max_current_a=16)
    plain = make_station("CP-B", site=site)
    Evse.objects.create(station=plain, evse_id=1, max_current_a=16)


NEEDS = {"evseId": 1, "chargingNeeds": {
    "requestedEnergyTransfer": "AC_BPT",
    "availableEnergyTransfer": ["AC_three_phase", "AC_BPT"],
    "acChargingParameters": {"energyAmount": 10_000, "evMinCurrent": 6, "evMaxCurrent": 16, "evMaxVoltage": 400},
    "v2xChargingParameters": {"maxChargePower": 11_000, "maxDischargePower": 7_000, "evTargetEnergyRequest": 10_000,
                              "evMinEnergyRequest": -15_000},
}}


async def run_evening(ocpp, *, expect_share: bool, departure_h: float = 6):
    now = timezone.now()
    async with ocpp("CS-V2G", version="2.1") as v_client, ocpp("CP-B", version="1.6") as b_client:
        car, other = AutoStation(v_client, "2.1"), AutoStation(b_client, "1.6")
        try:
            await car.result("TransactionEvent", {
                "eventType": "Started", "timestamp": now.isoformat(), "triggerReason": "Authorized", "seqNo": 0,
                "transactionInfo": {"transactionId": "V2G-1"}, "evse": {"id": 1, "connectorId": 1},
                "idToken": {"idToken": "TOKEN-V2G", "type": "ISO14443"},
            })
            needs = {**NEEDS, "chargingNeeds": {**NEEDS["chargingNeeds"],
                                                "departureTime": (now + timedelta(hours=departure_h)).isoformat()}}
            assert (await car.result("NotifyEVChargingNeeds", needs))["status"] == "Accepted"
            await other.result("StartTransaction", {"connectorId": 1, "idTag": "TOKEN-B", "meterStart": 0,
                                                     "timestamp": now.isoformat()})

            async def other_may_charge():
                state = await SessionLoadState.objects.filter(session__station__station_id="CP-B").afirst()
                return state is not None and (state.allowed_power_w or 0) > 0

            if expect_share:
                await eventually(other_may_charge, "the other car gets a share")
                await asyncio.sleep(0.3)
            else:
                await asyncio.sleep(2)  # the re-balances after the start have run
            # The power chart while both are connected (once one leaves, its station is
            # offline and counted at its maximum, which no load manager can help).
            samples = [s async for s in SiteLoadSample.objects.order_by("at")]
            return car.profiles(), other.profiles(), samples
        finally:
            car.close()
            other.close()


async def test_a_car_that_may_discharge_covers_the_peak_for_another(site, make_station, make_token, ocpp):
    await adb(setup_network)(site, make_station, make_token, allow_discharge=True)
    car_profiles, other_profiles, samples = await run_evening(ocpp, expect_share=True)
    discharging = [p for p in car_profiles
                   if p["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][0].get("setpoint", 0) < 0]
    assert discharging, car_profiles
    profile = discharging[-1]["chargingProfile"]
    period = profile["chargingSchedule"][0]["chargingSchedulePeriod"]
    assert period[0]["operationMode"] == "CentralSetpoint" and period[0]["limit"] == 0
    assert -7_000 <= period[0]["setpoint"] < 0 and period[0]["dischargeLimit"] == -7_000
    # A 2.1 Dynamic profile: dropped after the validity offline, and a pull after the validity
    # without renewal stops the discharge (tests/gateway/test_ocpp21_dynamic_profiles.py).
    assert profile["chargingProfileKind"] == "Dynamic" and profile["maxOfflineDuration"] == 900
    setpoint = period[0]["setpoint"]
    state = await SessionLoadState.objects.aget(session__transaction_id="V2G-1")
    assert state.setpoint_w == setpoint
    # The other car charges with what the discharge feeds the site, and no more.
    other = await SessionLoadState.objects.aget(session__station__station_id="CP-B")
    assert 0 < other.allowed_power_w <= -setpoint
    assert other_profiles
    # Every point of the power chart: what the stations are allowed, less what is fed, within the grid's limit.
    assert samples and all(s.allocated_w - s.discharge_w <= s.limit_w for s in samples), [
        (s.limit_w, s.allocated_w, s.discharge_w) for s in samples]
    assert any(s.discharge_w > 0 for s in samples)


async def test_no_discharge_for_a_car_not_allowed_even_if_its_driver_allows_another(
        site, make_station, make_token, ocpp):
    await adb(setup_network)(site, make_station, make_token, allow_discharge=False)
    car_profiles, _, _ = await run_evening(ocpp, expect_share=False)
    periods = [p["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"] for p in car_profiles]
    assert periods and all("setpoint" not in q and q["limit"] >= 0 for period in periods for q in period)
    other = await SessionLoadState.objects.aget(session__station__station_id="CP-B")
    assert not other.allowed_power_w  # the grid limit is taken: nobody charges
    assert (await ChargingSession.objects.aget(transaction_id="V2G-1")).energy_exported_wh == 0
