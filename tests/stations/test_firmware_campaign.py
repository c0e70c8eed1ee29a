"""A whole campaign over simulated stations of both versions, driven by the Celery tasks
(eager): waves, the concurrency limit, stations that fail, the automatic halt, resuming."""

import asyncio

import pytest

from stations import tasks
from stations.firmware.models import IN_FLIGHT_STATES, CampaignStation, CampaignStatus, MemberState
from stations.firmware.rollout import change_campaign, create_campaign, progress
from stations.models import ChargingStation, CommandLog
from stations.simulator import SimulatedStation, Timing
from tests.conftest import PASSWORD, adb
from tests.stations.asgi_transport import asgi_connect, asgi_http
from tests.stations.firmware_fixtures import make_firmware

pytestmark = pytest.mark.django_db(transaction=True)

BEHAVIOURS = {  # station -> how it goes through the update
    "FW-03": "fail_download",
    "FW-05": "fail_install",
    "FW-06": "wrong_version",
}


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def simulated(station_id: str, version: str) -> SimulatedStation:
    return SimulatedStation(
        station_id, PASSWORD, url="ws://testserver/ocpp", version=version,
        id_token="NOT-A-KNOWN-TOKEN",  # rejected: the stations stay idle
        timing=Timing(pause_s=3600, reconnect_min_s=0.1, reconnect_max_s=0.5, response_timeout_s=20),
        firmware_behaviour=BEHAVIOURS.get(station_id, "ok"), connect=asgi_connect, http=asgi_http,
    )


async def wait_until(condition, timeout_s=60):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await adb(condition)():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def run_ticks(campaign_id: int, until: set[str], max_concurrent: int, timeout_s: float = 90):
    """Tick like Celery beat until the campaign reaches a status; check the limit after each tick."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        await adb(tasks.advance_firmware_campaign)(campaign_id)
        in_flight = await CampaignStation.objects.filter(campaign_id=campaign_id, state__in=IN_FLIGHT_STATES).acount()
        assert in_flight <= max_concurrent
        status = (await adb(lambda: CampaignStation.objects.filter(campaign_id=campaign_id)
                            .values_list("campaign__status", flat=True).first())())
        if status in until:
            return status
        assert loop.time() < deadline, f"campaign still {status}"
        await asyncio.sleep(0.05)


async def test_campaign_halts_on_a_failing_wave_and_finishes_after_resume(make_station):
    ids = [f"FW-{n:02d}" for n in range(1, 10)]
    for station_id in ids:
        await adb(make_station)(station_id)
    firmware = await adb(make_firmware)("2.4.1")
    stations = [simulated(sid, "1.6" if n % 2 else "2.0.1") for n, sid in enumerate(ids, start=1)]
    running = [asyncio.create_task(s.run()) for s in stations]
    try:
        await wait_until(lambda: ChargingStation.objects.filter(
            station_id__in=ids, is_online=True, firmware_version="sim-1.0").count() == len(ids))
        # 9 stations: 1 canary (10%), then waves of 3; halt when more than 34% of a wave fails.
        campaign = await adb(create_campaign)(
            name="2.4.1 everywhere", firmware=firmware, models=["Simulator"], canary_percent=10, wave_size=3,
            max_concurrent=2, failure_threshold_percent=34, max_attempts=1, start=True,
        )
        waves = dict(await adb(lambda: list(campaign.members.values_list("station__station_id", "wave")))())
        assert waves == {"FW-01": 0, "FW-02": 1, "FW-03": 1, "FW-04": 1, "FW-05": 2, "FW-06": 2, "FW-07": 2,
                         "FW-08": 3, "FW-09": 3}

        assert await run_ticks(campaign.pk, {"halted", "completed"}, max_concurrent=2) == "halted"

        campaign = await adb(type(campaign).objects.get)(pk=campaign.pk)
        assert campaign.current_wave == 2 and "wave 2" in campaign.halted_reason
        members = {m.station.station_id: m async for m in CampaignStation.objects.filter(campaign=campaign)
                   .select_related("station")}
        installed = {sid for sid, m in members.items() if m.state == MemberState.INSTALLED}
        assert {"FW-01", "FW-02", "FW-04"} <= installed
        assert members["FW-03"].state == MemberState.FAILED and members["FW-03"].station_status == "DownloadFailed"
        assert members["FW-05"].state == MemberState.FAILED and members["FW-05"].station_status == "InstallationFailed"
        assert members["FW-06"].state == MemberState.FAILED and "booted with sim-1.0" in members["FW-06"].error
        for sid in installed:  # confirmed by the version the station booted with
            assert members[sid].station.firmware_version == "2.4.1"
        # The wave after the failing one was never started.
        assert {members["FW-08"].state, members["FW-09"].state} == {MemberState.SCHEDULED}
        assert not await CommandLog.objects.filter(station__station_id__in=["FW-08", "FW-09"]).aexists()

        # An operator looks, accepts wave 2's failures and resumes: wave 3 goes out.
        await adb(change_campaign)(campaign_id=campaign.pk, action="resume")
        assert await run_ticks(campaign.pk, {"halted", "completed"}, max_concurrent=2) == "completed"
        counts = await adb(progress)(campaign)
        assert counts["failed"] == 3 and counts["installed"] == 6 and counts["total"] == 9
        assert counts["scheduled"] == counts["downloading"] == counts["installing"] == 0
        # No station got more than one UpdateFirmware (one attempt each).
        sent = [log async for log in CommandLog.objects.filter(command="update_firmware")
                .values_list("station__station_id", flat=True)]
        assert sorted(sent) == ids
        assert {s.firmware_version for s in stations if s.station_id not in BEHAVIOURS} == {"2.4.1"}
        status = await adb(lambda: type(campaign).objects.get(pk=campaign.pk).status)()
        assert status == CampaignStatus.COMPLETED
    finally:
        for station in stations:
            station.close()
        await asyncio.wait(running, timeout=30)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_simulated_station_uploads_its_diagnostics(make_station, version):
    from stations.firmware.diagnostics import request_diagnostics
    from stations.firmware.models import DiagnosticsRequest

    await adb(make_station)("FW-D")
    station = simulated("FW-D", version)
    running = asyncio.create_task(station.run())
    try:
        await wait_until(lambda: ChargingStation.objects.filter(station_id="FW-D", is_online=True).exists())
        db_station = await ChargingStation.objects.aget(station_id="FW-D")
        request = await adb(request_diagnostics)(station=db_station)
        await wait_until(lambda: DiagnosticsRequest.objects.filter(pk=request.pk, status="Uploaded").exists())
        request = await DiagnosticsRequest.objects.aget(pk=request.pk)
        content = await adb(lambda: request.file.open("rb").read())()
        assert request.file_name == ("FW-D-DiagnosticsLog.log" if version == "2.0.1" else "FW-D-diagnostics.log")
        assert b"FW-D firmware=sim-1.0" in content
    finally:
        station.close()
        await asyncio.wait([running], timeout=30)


async def test_simulated_station_that_goes_silent_fails_by_timeout(make_station):
    from datetime import timedelta

    from django.utils import timezone

    from stations.firmware.rollout import advance_campaign

    await adb(make_station)("FW-S")
    firmware = await adb(make_firmware)("2.4.1")
    station = SimulatedStation(
        "FW-S", PASSWORD, url="ws://testserver/ocpp", version="2.0.1", id_token="NOT-A-KNOWN-TOKEN",
        timing=Timing(pause_s=3600, reconnect_min_s=0.1, reconnect_max_s=0.5), firmware_behaviour="silent",
        connect=asgi_connect, http=asgi_http,
    )
    running = asyncio.create_task(station.run())
    try:
        await wait_until(lambda: ChargingStation.objects.filter(station_id="FW-S", is_online=True,
                                                                vendor="ChargeNet").exists())
        campaign = await adb(create_campaign)(name="s", firmware=firmware, stations=["FW-S"], max_attempts=1,
                                              station_timeout_s=600, start=True)
        assert len(await adb(tasks.advance_firmware_campaign)(campaign.pk)) == 1
        member = await CampaignStation.objects.aget(campaign=campaign)
        assert member.state == MemberState.DOWNLOADING  # accepted, then not a word
        await adb(advance_campaign)(campaign_id=campaign.pk, now=timezone.now() + timedelta(seconds=601))
        member = await CampaignStation.objects.aget(campaign=campaign)
        assert member.state == MemberState.FAILED and "no report" in member.error
        assert station.firmware_version == "sim-1.0"
    finally:
        station.close()
        await asyncio.wait([running], timeout=30)


def test_beat_runs_the_tick_and_it_reaches_only_campaigns_with_work(db, settings, tmp_path):
    from stations.firmware.models import CampaignStation as Member
    from stations.firmware.rollout import campaigns_to_tick

    settings.MEDIA_ROOT = str(tmp_path)
    assert settings.CELERY_BEAT_SCHEDULE["firmware-campaigns"]["task"] == tasks.advance_firmware_campaigns.name
    ChargingStation.objects.create(station_id="B-1", vendor="ChargeNet", model="Simulator", firmware_version="1")
    ChargingStation.objects.create(station_id="B-2", vendor="ChargeNet", model="Simulator", firmware_version="1")
    firmware = make_firmware("2.4.1")
    running = create_campaign(name="r", firmware=firmware, stations=["B-1"], start=True)
    paused = create_campaign(name="p", firmware=firmware, stations=["B-2"], start=True)
    change_campaign(campaign_id=paused.pk, action="pause")
    create_campaign(name="draft", firmware=firmware, stations=["B-2"])
    assert campaigns_to_tick() == [running.pk]
    Member.objects.filter(campaign=paused).update(state=MemberState.DOWNLOADING)  # in flight: its timeouts count
    assert sorted(campaigns_to_tick()) == sorted([running.pk, paused.pk])
    assert tasks.advance_firmware_campaigns() == 2
