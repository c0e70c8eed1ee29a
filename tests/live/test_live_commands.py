"""A command entering one daphne process reaches a station connected to another one,
through the Redis channel layer, and the station's answer comes back."""

import asyncio
import base64
import json
import sys
import urllib.error
import urllib.request

import pytest
import websockets
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token

from stations.models import CommandLog
from stations.services.registry import register_station
from tests.conftest import adb
from tests.live.conftest import ROOT, child_env, redis_url_for_processes

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

PASSWORD = "live-password-0123456789"


def post_json(url: str, token: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def setup_network() -> str:
    register_station(station_id="CP-7", password=PASSWORD)
    user = User.objects.create_superuser("ops", "ops@example.com", "x")
    return Token.objects.create(user=user).key


async def station_answering(url: str, version: str, answers: dict, ready: asyncio.Event, seen: list):
    auth = base64.b64encode(f"CP-7:{PASSWORD}".encode()).decode()
    async with websockets.connect(
        f"{url}/CP-7", subprotocols=[f"ocpp{version}"], additional_headers={"Authorization": f"Basic {auth}"}
    ) as ws:
        ready.set()
        while True:
            frame = json.loads(await ws.recv())
            if frame[0] == 2:
                seen.append(frame)
                await ws.send(json.dumps([3, frame[1], answers[frame[2]]]))


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_command_crosses_daphne_processes(start_server, version):
    redis_url = redis_url_for_processes()
    if redis_url is None:
        pytest.fail("no Redis reachable: set REDIS_URL or run Redis on 127.0.0.1:6379")
    token = await adb(setup_network)()
    holder = start_server(REDIS_URL=redis_url)  # holds the station's WebSocket
    entry = start_server(REDIS_URL=redis_url)  # receives the API call

    ready, seen = asyncio.Event(), []
    answers = {"RemoteStartTransaction": {"status": "Accepted"}, "RequestStartTransaction": {"status": "Accepted"}}
    station = asyncio.create_task(station_answering(holder.ws, version, answers, ready, seen))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        status, body = await asyncio.to_thread(
            post_json, f"{entry.http}/api/v1/stations/CP-7/commands/", token,
            {"command": "start_session", "evse_id": 1, "id_token": "04A2B3"},
        )
    finally:
        station.cancel()
    assert status == 200, body
    assert body["outcome"] == "accepted" and body["status"] == "Accepted"
    assert len(seen) == 1
    action, payload = seen[0][2], seen[0][3]
    if version == "1.6":
        assert (action, payload) == ("RemoteStartTransaction", {"connectorId": 1, "idTag": "04A2B3"})
    else:
        assert action == "RequestStartTransaction"
        assert payload["idToken"] == {"idToken": "04A2B3", "type": "Central"} and payload["evseId"] == 1
    log = await CommandLog.objects.select_related("requested_by").aget(pk=body["id"])
    assert log.requested_by.username == "ops" and log.outcome == "accepted" and log.latency_ms is not None


async def test_command_to_a_station_connected_nowhere_is_409(start_server):
    redis_url = redis_url_for_processes()
    if redis_url is None:
        pytest.fail("no Redis reachable: set REDIS_URL or run Redis on 127.0.0.1:6379")
    token = await adb(setup_network)()
    entry = start_server(REDIS_URL=redis_url)
    status, body = await asyncio.to_thread(
        post_json, f"{entry.http}/api/v1/stations/CP-7/commands/", token, {"command": "reset"}
    )
    assert status == 409 and body["outcome"] == "offline"



async def test_station_command_cli_prints_the_answer_in_embedded_mode(start_server):
    """Without Redis the CLI goes through the server's API; the answer is printed as JSON."""
    await adb(setup_network)()
    server = start_server()  # embedded: the in-memory channel layer lives inside the server
    ready, seen = asyncio.Event(), []
    station = asyncio.create_task(
        station_answering(server.ws, "2.0.1", {"Reset": {"status": "Accepted"}}, ready, seen)
    )
    try:
        await asyncio.wait_for(ready.wait(), 10)
        cli = await asyncio.create_subprocess_exec(
            sys.executable, "manage.py", "station_command", "CP-7", "reset", "type=hard", "--server", server.http,
            cwd=ROOT, env=child_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(cli.communicate(), 60)
    finally:
        station.cancel()
    assert cli.returncode == 0, stdout.decode() + stderr.decode()
    answer = json.loads(stdout)
    assert answer["outcome"] == "accepted" and answer["command"] == "reset"
    assert seen[0][2:] == ["Reset", {"type": "Immediate"}]
