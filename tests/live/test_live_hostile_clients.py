"""What a real client sees from a real server: the close codes it is promised, refused
handshakes as 403 (never 500), and a connection that survives a frame nested 5,000 deep."""

import base64
import json

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from stations.services.registry import register_station
from tests.conftest import adb

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

PASSWORD = "live-password-0123456789"


def auth(station_id: str = "CP-9") -> dict:
    token = base64.b64encode(f"{station_id}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture(scope="module")
def module_server(django_db_setup, django_db_blocker, tmp_path_factory):
    """One server for the module instead of a process start per test. Each test registers CP-9
    anew in its own database: the server caches no station across handshakes (TTL 0)."""
    from tests.live.conftest import LiveServer, child_env, free_port

    with django_db_blocker.unblock():
        env = child_env(OCPP_STATION_CACHE_TTL="0", PKI_TRUSTED_PROXIES="127.0.0.1")
    server = LiveServer(free_port(), env, tmp_path_factory.mktemp("daphne") / "daphne.log")
    yield server
    server.stop()


@pytest.fixture
async def server(module_server):
    await adb(register_station)(station_id="CP-9", password=PASSWORD)
    return module_server


@pytest.mark.parametrize("offered", [["ocpp1.5"], []])
async def test_no_supported_subprotocol_completes_the_upgrade_then_closes_with_4002(server, offered):
    async with websockets.connect(f"{server.ws}/CP-9", subprotocols=offered or None,
                                  additional_headers=auth()) as ws:
        assert ws.subprotocol is None  # upgrade completed without Sec-WebSocket-Protocol
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None, "the server sent no close frame"
    assert closed.value.rcvd.code == 4002


@pytest.mark.parametrize("path", ["/ocpp/%2F", "/ocpp/%2Fetc%2Fpasswd", "/ocpp/", "/ocpp/..", "/ocpp/%00",
                                  "/ocpp/CP%00-9", "/elsewhere"])
async def test_handshakes_for_impossible_paths_get_403(server, path):
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}{path}", subprotocols=["ocpp1.6"],
                                      additional_headers=auth()):
            pass
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize("version, code", [("1.6", "FormationViolation"), ("2.0.1", "RpcFrameworkError")])
async def test_a_deeply_nested_frame_is_answered_and_the_connection_keeps_serving(server, version, code):
    async with websockets.connect(f"{server.ws}/CP-9", subprotocols=[f"ocpp{version}"],
                                  additional_headers=auth()) as ws:
        await ws.send("[" * 5000 + "]" * 5000)
        assert json.loads(await ws.recv())[:3] == [4, "-1", code]
        await ws.send(json.dumps([2, "hb-1", "Heartbeat", {}]))
        answer = json.loads(await ws.recv())
        assert answer[:2] == [3, "hb-1"] and "currentTime" in answer[2]


async def test_behind_a_trusted_proxy_a_profile_2_station_counts_as_tls(server):
    """nginx (deploy/nginx) terminates TLS and forwards X-Forwarded-For and X-Forwarded-Proto.
    The server must leave the peer address alone (no proxy-header rewriting of its own), or
    the proxy would no longer be recognised as trusted and profile-2 stations behind it
    would all be refused."""
    await adb(register_station)(station_id="CP-TLS", password=PASSWORD, security_profile=2)
    forwarded = {**auth("CP-TLS"), "X-Forwarded-For": "203.0.113.9"}
    async with websockets.connect(f"{server.ws}/CP-TLS", subprotocols=["ocpp1.6"],
                                  additional_headers={**forwarded, "X-Forwarded-Proto": "https"}) as ws:
        assert ws.subprotocol == "ocpp1.6"
    with pytest.raises(InvalidStatus) as refused:  # the proxy says the station came in plain
        async with websockets.connect(f"{server.ws}/CP-TLS", subprotocols=["ocpp1.6"],
                                      additional_headers={**forwarded, "X-Forwarded-Proto": "http"}):
            pass
    assert refused.value.response.status_code == 403
