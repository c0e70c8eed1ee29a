"""Two daphne workers on one port (``python -m gateway.serve --workers 2``): stations land
on both, an API command entering one worker reaches a station held by the other, and a
site re-balance (Celery worker) reaches the stations of both."""

import asyncio
import base64
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
import websockets
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token

from gateway.serve import parse_args, require_redis
from stations.models import ChargingSession, ChargingStation, Evse, Site, SiteLoadLimit
from stations.services.registry import register_id_token, register_station
from stations.smart_charging.models import ChargingProfile, ProfileSource, ProfileStatus
from tests.conftest import adb
from tests.live.conftest import ROOT, child_env, free_port
from tests.live.serve import Served

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

PASSWORD = "live-password-0123456789"
STATIONS = ("TWO-1", "TWO-2")


class Station:
    """A 1.6 charger that answers the CSMS's calls and remembers them."""

    def __init__(self, station_id: str, url: str):
        self.station_id = station_id
        self.url = url
        self.received: list[list] = []
        self._answers: dict[str, asyncio.Future] = {}
        self._reader: asyncio.Task | None = None
        self.ws = None

    async def connect(self) -> None:
        auth = base64.b64encode(f"{self.station_id}:{PASSWORD}".encode()).decode()
        self.ws = await websockets.connect(
            f"{self.url}/{self.station_id}", subprotocols=["ocpp1.6"],
            additional_headers={"Authorization": f"Basic {auth}"},
        )
        self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self.ws is not None:
            await self.ws.close()

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                if frame[0] == 2:
                    self.received.append(frame)
                    await self.ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
                elif frame[1] in self._answers:
                    self._answers.pop(frame[1]).set_result(frame)
        except websockets.ConnectionClosed:
            pass  # the server went away (the kill test): the socket is closed

    async def call(self, action: str, payload: dict) -> dict:
        unique_id = uuid.uuid4().hex[:12]
        self._answers[unique_id] = asyncio.get_running_loop().create_future()
        await self.ws.send(json.dumps([2, unique_id, action, payload]))
        frame = await asyncio.wait_for(self._answers[unique_id], 15)
        assert frame[0] == 3, frame
        return frame[2]

    def calls(self, action: str) -> list[dict]:
        return [frame[3] for frame in self.received if frame[2] == action]


def setup_network() -> str:
    site = Site.objects.create(name="Two-worker depot")
    SiteLoadLimit.objects.create(site=site, max_current_a=16.0, min_interval_s=0, meter_rebalance_interval_s=1)
    for station_id in STATIONS:
        station = register_station(station_id=station_id, password=PASSWORD, site=site).station
        Evse.objects.create(station=station, evse_id=1)
    register_id_token(value="TAG-TWO")
    user = User.objects.create_superuser("ops", "ops@example.com", "x")
    return Token.objects.create(user=user).key


async def spread_over_both_workers(served: Served, stations: list[Station]) -> dict[str, int]:
    """Connect; reconnect the second station until the kernel gave it to the other worker."""
    for station in stations:
        await station.connect()
    holders = {s.station_id: await asyncio.to_thread(served.holder_of, s.station_id) for s in stations}
    for _ in range(30):
        if len(set(holders.values())) == 2:
            return holders
        moving = stations[1]
        await moving.close()
        await asyncio.sleep(0.2)
        before = served.output().count(f"{moving.station_id}: connected")
        await moving.connect()
        deadline = time.monotonic() + 10
        while served.output().count(f"{moving.station_id}: connected") == before and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        holders[moving.station_id] = await asyncio.to_thread(served.holder_of, moving.station_id)
    raise AssertionError(f"all stations stayed on one worker: {holders}")


def command_through_one_worker(port: int, token: str, station_ids: list[str]) -> tuple[int, list[tuple[int, dict]]]:
    """One keep-alive HTTP connection is served by one worker: ask it which, then send each
    station a command through it."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=40)
    connection.request("GET", "/readyz")
    entry_pid = json.loads(connection.getresponse().read())["pid"]
    answers = []
    for station_id in station_ids:
        connection.request(
            "POST", f"/api/v1/stations/{station_id}/commands/",
            body=json.dumps({"command": "start_session", "evse_id": 1, "id_token": "TAG-TWO"}),
            headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        answers.append((response.status, json.loads(response.read())))
    connection.request("GET", "/readyz")
    assert json.loads(connection.getresponse().read())["pid"] == entry_pid, "the connection changed workers"
    connection.close()
    return entry_pid, answers


async def test_two_workers_share_one_port_with_stations_commands_and_rebalances_crossing(
    redis_url, celery_worker, tmp_path
):
    token = await adb(setup_network)()
    queue = celery_worker(concurrency=1)
    env = child_env(REDIS_URL=redis_url, CELERY_QUEUE=queue)
    served = await asyncio.to_thread(Served, free_port(), env, tmp_path / "serve.log")
    stations = [Station(station_id, served.ws) for station_id in STATIONS]
    try:
        holders = await spread_over_both_workers(served, stations)
        for station in stations:
            assert (await station.call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}))[
                "status"] == "Accepted"
            await station.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"})

        # A command enters one worker and reaches the station the other worker holds.
        entry_pid, answers = await asyncio.to_thread(command_through_one_worker, served.port, token, list(STATIONS))
        assert all(status == 200 and body["outcome"] == "accepted" for status, body in answers), answers
        assert any(pid != entry_pid for pid in holders.values())
        for station in stations:
            assert station.calls("RemoteStartTransaction") == [{"connectorId": 1, "idTag": "TAG-TWO"}]

        # Both start charging; the site's 3x16 A are shared by a re-balance that reaches both workers.
        for station in stations:
            started = await station.call("StartTransaction", {
                "connectorId": 1, "idTag": "TAG-TWO", "meterStart": 0, "timestamp": "2026-01-01T10:00:00Z"})
            assert started["idTagInfo"]["status"] == "Accepted"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            tx = [s for s in stations if any(p["csChargingProfiles"]["chargingProfilePurpose"] == "TxProfile"
                                             for p in s.calls("SetChargingProfile"))]
            if len(tx) == 2:
                break
            await asyncio.sleep(0.2)
        profiles = await adb(lambda: list(ChargingProfile.objects.filter(source=ProfileSource.LOAD_MANAGER)
                                          .exclude(status=ProfileStatus.FAILED)
                                          .values_list("session__station__station_id", flat=True)))()
        assert set(profiles) == set(STATIONS), (profiles, [s.received for s in stations], served.output()[-3000:])
    finally:
        for station in stations:
            await station.close()
        await asyncio.to_thread(served.stop)


def test_workers_default_to_one_per_core_with_redis_and_one_without(monkeypatch):
    monkeypatch.delenv("WORKERS", raising=False)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    assert parse_args([]).workers == (os.cpu_count() or 1)
    monkeypatch.setenv("REDIS_URL", "")
    assert parse_args([]).workers == 1
    monkeypatch.setenv("WORKERS", "3")
    assert parse_args([]).workers == 3
    assert parse_args(["--workers", "2", "--", "--proxy-headers"]).server_args == ["--proxy-headers"]


def test_several_workers_without_redis_are_refused_with_a_clear_message():
    env = {**child_env(), "REDIS_URL": ""}
    run = subprocess.run([sys.executable, "-m", "gateway.serve", "--workers", "2", "--port", str(free_port())],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert run.returncode != 0
    assert "2 workers need the Redis channel layer, and REDIS_URL is not set" in run.stderr
    with pytest.raises(SystemExit):
        require_redis(3, environ={})
    require_redis(1, environ={})


async def test_a_killed_worker_is_restarted_and_its_stations_come_back(redis_url, tmp_path):
    """kill -9 of one worker: its stations lose their sockets, reconnect at once to the
    survivor (or the restarted worker), and nothing they were answered is lost."""
    await adb(setup_network)()
    env = child_env(REDIS_URL=redis_url, OCPP_LAST_SEEN_WRITE_INTERVAL="1")
    served = await asyncio.to_thread(Served, free_port(), env, tmp_path / "serve.log")
    stations = [Station(station_id, served.ws) for station_id in STATIONS]
    try:
        holders = await spread_over_both_workers(served, stations)
        for station in stations:
            await station.call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
            await station.call("StartTransaction", {
                "connectorId": 1, "idTag": "TAG-TWO", "meterStart": 0, "timestamp": "2026-01-01T10:00:00Z"})
        victim = stations[0]
        os.kill(holders[victim.station_id], signal.SIGKILL)
        await asyncio.wait([victim._reader], timeout=10)
        assert victim._reader.done()  # the kernel closed its socket
        started = time.monotonic()
        await victim.connect()
        assert "currentTime" in await victim.call("Heartbeat", {})
        assert time.monotonic() - started < 10
        assert "currentTime" in await stations[1].call("Heartbeat", {})  # the other worker never noticed
        restarted = f"(pid {holders[victim.station_id]}) exited with -9; starting it again"
        deadline = time.monotonic() + 10
        while restarted not in served.output() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert restarted in served.output()
        sessions = await adb(lambda: sorted(
            ChargingSession.objects.values_list("station__station_id", flat=True)))()
        assert sessions == sorted(STATIONS)  # both answered starts were committed
        station = await ChargingStation.objects.aget(station_id=victim.station_id)
        assert station.is_online
    finally:
        for station in stations:
            await station.close()
        await asyncio.to_thread(served.stop)
