"""A firmware campaign run by a REAL Celery worker (two processes) over Redis: daphne holds
the simulated stations' WebSockets and serves the firmware, the worker ticks the campaign
(the beat task) and sends UpdateFirmware through the Redis channel layer, and the stations'
reboots confirm the new version."""

import asyncio

import pytest
from celery import Celery

from stations.firmware.models import CampaignStatus, FirmwareCampaign, MemberState
from stations.firmware.rollout import create_campaign
from stations.models import ChargingStation, CommandLog
from stations.services.registry import register_station
from stations.simulator import SimulatedStation, Timing
from tests.conftest import adb
from tests.stations.firmware_fixtures import make_firmware

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

PASSWORD = "live-firmware-password-0123"
STATIONS = {"LFW-1": ("1.6", "ok"), "LFW-2": ("2.0.1", "ok"), "LFW-3": ("1.6", "fail_install"),
            "LFW-4": ("2.0.1", "ok"), "LFW-5": ("1.6", "ok")}


async def wait_for(condition, timeout_s: float, tick=None):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await adb(condition)():
        assert loop.time() < deadline, "condition not reached in time"
        if tick is not None:
            tick()
        await asyncio.sleep(0.5)


async def test_real_celery_worker_rolls_out_firmware_to_simulated_stations(
    start_server, celery_worker, redis_url, settings, tmp_path
):
    media = str(tmp_path / "media")
    settings.MEDIA_ROOT = media
    for station_id in STATIONS:
        await adb(register_station)(station_id=station_id, password=PASSWORD)
    firmware = await adb(make_firmware)("2.4.1")
    server = start_server(REDIS_URL=redis_url, MEDIA_ROOT=media)
    queue = celery_worker(CHARGENET_PUBLIC_URL=server.http, MEDIA_ROOT=media)
    broker = Celery(broker=redis_url, set_as_current=False)  # the tests after this one keep their eager app

    stations = [
        SimulatedStation(station_id, PASSWORD, url=server.ws, version=version, id_token="UNKNOWN-TOKEN",
                         timing=Timing(pause_s=3600, reconnect_min_s=0.2, reconnect_max_s=1),
                         firmware_behaviour=behaviour)
        for station_id, (version, behaviour) in STATIONS.items()
    ]
    running = [asyncio.create_task(s.run()) for s in stations]
    try:
        await wait_for(lambda: ChargingStation.objects.filter(
            station_id__in=STATIONS, is_online=True, vendor="ChargeNet").count() == len(STATIONS), 60)
        campaign = await adb(create_campaign)(
            name="live", firmware=firmware, stations=list(STATIONS), canary_percent=20, wave_size=2,
            max_concurrent=2, failure_threshold_percent=60, max_attempts=1, start=True,
        )

        def beat():  # what Celery beat sends: the worker fans out to the campaign's tick
            broker.send_task("stations.advance_firmware_campaigns", queue=queue)

        await wait_for(lambda: FirmwareCampaign.objects.get(pk=campaign.pk).status == CampaignStatus.COMPLETED,
                       180, tick=beat)
    finally:
        for station in stations:
            station.close()
        await asyncio.wait(running, timeout=30)
        broker.close()

    states = {m.station.station_id: m async for m in campaign.members.select_related("station")}
    assert {sid for sid, m in states.items() if m.state == MemberState.INSTALLED} == {"LFW-1", "LFW-2", "LFW-4",
                                                                                      "LFW-5"}
    assert states["LFW-3"].state == MemberState.FAILED and states["LFW-3"].station_status == "InstallationFailed"
    for sid in ("LFW-1", "LFW-2", "LFW-4", "LFW-5"):
        assert states[sid].station.firmware_version == "2.4.1"
    # Two worker processes and a tick every half second: still one UpdateFirmware per station.
    sent = [s async for s in CommandLog.objects.filter(command="update_firmware")
            .values_list("station__station_id", flat=True)]
    assert sorted(sent) == sorted(STATIONS)
    log = (tmp_path / "celery.log").read_text()
    assert "stations.send_firmware_update" in log
