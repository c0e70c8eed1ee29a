"""The simulator speaks OCPP 2.1 through the real ASGI stack: a bidirectional car tells its V2X
charging needs, follows a discharging setpoint, and ChargeNet meters what it fed back."""

import asyncio
import contextlib

import pytest

from stations.commands.service import send_command_async
from stations.models import (
    ChargingSession,
    ChargingStation,
    Measurand,
    MeterSample,
    SessionLoadState,
    SessionStatus,
)
from stations.simulator import SimulatedStation, Timing
from tests.conftest import PASSWORD, adb
from tests.stations.asgi_transport import asgi_connect, asgi_http

pytestmark = pytest.mark.django_db(transaction=True)


async def wait_until(condition, what: str, timeout_s: float = 30):
    for _ in range(int(timeout_s / 0.1)):
        if await condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


async def test_simulated_21_car_discharges_on_a_setpoint_and_export_is_metered(make_station, make_token):
    await adb(make_token)("SIM-TOKEN")
    await adb(make_station)("SIM-21")
    station = SimulatedStation(
        "SIM-21", PASSWORD, url="ws://testserver/ocpp", version="2.1", id_token="SIM-TOKEN", bidirectional=True,
        power_w=11_000, timing=Timing(session_s=120, pause_s=3600, meter_interval_s=0.2, response_timeout_s=20),
        connect=asgi_connect, http=asgi_http,
    )
    task = asyncio.create_task(station.run())
    try:
        async def needs_known():
            return await SessionLoadState.objects.filter(requested_energy_transfer="AC_BPT").aexists()

        await wait_until(needs_known, "the car's V2X charging needs")
        state = await SessionLoadState.objects.select_related("session").aget()
        assert state.can_discharge and state.ev_max_discharge_power_w == 11_000
        result = await send_command_async(station_id="SIM-21", command="set_charging_profile", params={
            "evse_id": 1, "purpose": "TxProfile", "transaction_id": state.session.transaction_id,
            "charging_rate_unit": "W",
            "periods": [{"start_period_s": 0, "limit": 0, "setpoint": -11_000, "discharge_limit": -11_000,
                         "operation_mode": "CentralSetpoint"}],
        })
        assert result.outcome == "accepted"

        async def fed_back():
            session = await ChargingSession.objects.aget(pk=state.session_id)
            return session.energy_exported_wh >= 2

        await wait_until(fed_back, "energy fed back on the export register")

        async def export_power():
            return await MeterSample.objects.filter(
                session_id=state.session_id, measurand=Measurand.POWER_ACTIVE_EXPORT, value=11_000).aexists()

        await wait_until(export_power, "the power fed back (Power.Active.Export)")
    finally:
        station.close()
        await asyncio.wait_for(task, 30)
    session = await ChargingSession.objects.aget(pk=state.session_id)
    assert session.status == SessionStatus.COMPLETED
    assert session.operation_mode == "CentralSetpoint"
    assert session.energy_exported_wh >= 2
    assert (await ChargingStation.objects.aget(station_id="SIM-21")).ocpp_version == "2.1"


async def test_the_21_simulator_answers_an_action_it_does_not_handle_with_not_implemented(make_station, make_token):
    """The ``ocpp`` package's 2.1 routing answers nothing for an action without a handler; the
    simulator answers as a charger would, so a command gets an error instead of a timeout."""
    await adb(make_token)("SIM-TOKEN")
    await adb(make_station)("SIM-21")
    station = SimulatedStation(
        "SIM-21", PASSWORD, url="ws://testserver/ocpp", version="2.1", id_token="SIM-TOKEN",
        timing=Timing(session_s=120, pause_s=3600, meter_interval_s=5, response_timeout_s=20),
        connect=asgi_connect, http=asgi_http,
    )
    task = asyncio.create_task(station.run())
    try:
        async def online():
            return await ChargingStation.objects.filter(station_id="SIM-21", is_online=True).aexists()

        await wait_until(online, "the simulated 2.1 station online")
        result = await send_command_async(station_id="SIM-21", command="get_tariffs", params={}, timeout=10)
        assert result.outcome == "error"
        assert result.response["errorCode"] == "NotImplemented"
    finally:
        # Only the answer matters here: the station is dropped rather than wound down.
        station.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
