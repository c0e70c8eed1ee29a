"""The simulator's cars report their state of charge over real frames through the ASGI stack:
it rises while the car charges and falls while it discharges on a setpoint; a bidirectional
2.1 car's V2X charging needs count from its SoC (target, minimum and full)."""

import asyncio

import pytest

from stations.commands.service import send_command_async
from stations.models import ChargingSession, Measurand, MeterSample, SessionLoadState
from stations.simulator import SimulatedStation, Timing
from tests.conftest import PASSWORD, adb
from tests.stations.asgi_transport import asgi_connect, asgi_http

pytestmark = pytest.mark.django_db(transaction=True)

BATTERY_WH = 100  # a tiny battery: 3.6 kW moves it 1 % a second


async def wait_until(condition, what: str, timeout_s: float = 30):
    for _ in range(int(timeout_s / 0.1)):
        if await condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


def simulated(station_id: str, version: str, **extra) -> SimulatedStation:
    return SimulatedStation(
        station_id, PASSWORD, url="ws://testserver/ocpp", version=version, id_token="SIM-TOKEN", power_w=3_600,
        battery_wh=BATTERY_WH, initial_soc=30, connect=asgi_connect, http=asgi_http,
        timing=Timing(session_s=120, pause_s=3600, meter_interval_s=0.2, response_timeout_s=20), **extra,
    )


async def soc_now() -> float | None:
    session = await ChargingSession.objects.order_by("-pk").afirst()
    return None if session is None else session.soc_percent


async def stop(station: SimulatedStation, task: asyncio.Task) -> None:
    """Winds the station down: the session ends with its StopTransaction (or Ended event)."""
    station.close()
    await asyncio.wait_for(task, 30)


@pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])
async def test_soc_rises_while_the_simulated_car_charges(version, make_station, make_token):
    await adb(make_token)("SIM-TOKEN")
    await adb(make_station)("SIM-SOC")
    station = simulated("SIM-SOC", version)
    task = asyncio.create_task(station.run())
    try:
        async def charged_some():
            soc = await soc_now()
            return soc is not None and soc >= 33

        await wait_until(charged_some, "the SoC rises with the energy drawn")
    finally:
        await stop(station, task)
    session = await ChargingSession.objects.aget()
    history = [v async for v in MeterSample.objects.filter(session=session, measurand=Measurand.SOC)
               .order_by("timestamp").values_list("value", flat=True)]
    assert history[0] == pytest.approx(30, abs=1) and history == sorted(history), history
    # What it holds follows what the meter counted: 1 % per Wh of this battery.
    assert session.soc_percent == pytest.approx(30 + 100 * session.energy_wh / BATTERY_WH, abs=2.5)


async def test_soc_falls_while_the_simulated_21_car_discharges(make_station, make_token):
    await adb(make_token)("SIM-TOKEN")
    await adb(make_station)("SIM-V2G")
    station = simulated("SIM-V2G", "2.1", bidirectional=True)
    task = asyncio.create_task(station.run())
    try:
        async def needs_known():
            return await SessionLoadState.objects.filter(requested_energy_transfer="AC_BPT").aexists()

        await wait_until(needs_known, "the car's V2X charging needs")
        state = await SessionLoadState.objects.select_related("session").aget()
        # From 30 %: 50 Wh to its 80 % target, 10 Wh it may give down to 20 %, 70 Wh to full.
        assert state.target_soc == 80
        params = state.v2x_parameters
        assert params["evTargetEnergyRequest"] == pytest.approx(50, abs=2)
        assert params["evMinEnergyRequest"] == pytest.approx(-10, abs=2)
        assert params["evMaxEnergyRequest"] == pytest.approx(70, abs=2)

        async def charged_some():
            soc = await soc_now()
            return soc is not None and soc >= 34

        await wait_until(charged_some, "the SoC rises while charging")
        result = await send_command_async(station_id="SIM-V2G", command="set_charging_profile", params={
            "evse_id": 1, "purpose": "TxProfile", "transaction_id": state.session.transaction_id,
            "charging_rate_unit": "W",
            "periods": [{"start_period_s": 0, "limit": 0, "setpoint": -3_600, "discharge_limit": -3_600,
                         "operation_mode": "CentralSetpoint"}],
        })
        assert result.outcome == "accepted"
        peak = await soc_now()

        async def discharged_some():
            soc = await soc_now()
            return soc is not None and soc <= peak - 3

        await wait_until(discharged_some, "the SoC falls while discharging")
    finally:
        await stop(station, task)
    session = await ChargingSession.objects.aget()
    assert session.energy_exported_wh > 0 and session.operation_mode == "CentralSetpoint"
    history = [v async for v in MeterSample.objects.filter(session=session, measurand=Measurand.SOC)
               .order_by("timestamp").values_list("value", flat=True)]
    top = history.index(max(history))
    assert 0 < top < len(history) - 1, history
    assert history[:top + 1] == sorted(history[:top + 1]), history  # up while charging
    assert history[top:] == sorted(history[top:], reverse=True), history  # then down
