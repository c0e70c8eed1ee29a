"""Shared fixtures: registered stations and a real OCPP-J client over the ASGI stack."""

import base64
import json
import os
import uuid
from contextlib import asynccontextmanager

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from stations.services.registry import register_id_token, register_station

PASSWORD = "test-password-0123456789"

# User passwords at Django's production cost (about half a second a hash) would dominate the
# suite: the tests hash with MD5, and so do the servers they start (child processes read the
# variable in chargenet/settings.py). Settings are loaded already; no hash was made yet.
os.environ["CHARGENET_FAST_PASSWORD_HASHING"] = "1"
# The embedded periodic runner (chargenet/periodic.py) stays off in tests and in the servers
# they start, unless a test's server asks for it (CHARGENET_PERIODIC_JOBS=true).
os.environ["CHARGENET_PERIODIC_JOBS"] = "false"
from django.conf import settings as _settings  # noqa: E402

_settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
_settings.CHARGENET_PERIODIC_JOBS = False


@pytest.fixture
def make_station(db):
    def make(station_id: str = "CP-1", password: str | None = PASSWORD, **kwargs):
        return register_station(station_id=station_id, password=password, **kwargs).station

    return make


@pytest.fixture
def make_token(db):
    def make(value: str = "TOKEN-1", driver_email: str | None = "driver@example.com", **kwargs):
        return register_id_token(value=value, driver_email=driver_email, **kwargs)

    return make


class OcppTestClient:
    """A station speaking OCPP-J frames through the real ASGI application."""

    def __init__(self, communicator: WebsocketCommunicator, subprotocol: str | None):
        self.communicator = communicator
        self.subprotocol = subprotocol
        self.waiting_calls: list = []

    async def send_frame(self, frame) -> None:
        await self.communicator.send_to(text_data=frame if isinstance(frame, str) else json.dumps(frame))

    async def receive_frame(self, timeout: float = 5) -> list:
        return json.loads(await self.communicator.receive_from(timeout=timeout))

    async def call(self, action: str, payload: dict, unique_id: str | None = None) -> list:
        """Send a CALL and return the station's view of the answer: the whole frame. CALLs
        the CSMS sends meanwhile (OCPP-J allows that) wait for ``expect_call``."""
        unique_id = unique_id or uuid.uuid4().hex[:16]
        await self.send_frame([2, unique_id, action, payload])
        frame = await self.receive_frame()
        while frame[0] == 2 and frame[1] != unique_id:
            self.waiting_calls.append(frame)
            frame = await self.receive_frame()
        assert frame[1] == unique_id, frame
        return frame

    async def result(self, action: str, payload: dict) -> dict:
        """Send a CALL that must succeed and return the CALLRESULT payload."""
        frame = await self.call(action, payload)
        assert frame[0] == 3, f"expected CALLRESULT, got {frame}"
        return frame[2]


    async def expect_call(self, action: str, answer: dict | None = None, error: tuple | None = None) -> dict:
        """Wait for the CSMS's CALL, check its action, answer it; returns the CALL payload."""
        frame = self.waiting_calls.pop(0) if self.waiting_calls else await self.receive_frame()
        assert frame[0] == 2 and frame[2] == action, f"expected CALL {action}, got {frame}"
        if error is not None:
            await self.send_frame([4, frame[1], error[0], error[1], {}])
        elif answer is not None:
            await self.send_frame([3, frame[1], answer])
        return frame[3]


def basic_auth(user: str, password: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{user}:{password}".encode())


@asynccontextmanager
async def ocpp_connection(
    station_id: str = "CP-1",
    password: str | None = PASSWORD,
    subprotocols=("ocpp1.6",),
    headers=None,
):
    """Open a WebSocket to /ocpp/<station_id>; yields (connected, client)."""
    from chargenet.asgi import application

    if headers is None:
        headers = [(b"authorization", basic_auth(station_id, password))] if password else []
    communicator = WebsocketCommunicator(
        application, f"/ocpp/{station_id}", subprotocols=list(subprotocols), headers=headers
    )
    connected, subprotocol = await communicator.connect(timeout=5)
    client = OcppTestClient(communicator, subprotocol if connected else None)
    try:
        yield connected, client
    finally:
        await communicator.disconnect()


@pytest.fixture
def ocpp():
    """``async with ocpp(...) as client`` opens a connected station (asserting success)."""

    @asynccontextmanager
    async def connect(station_id="CP-1", password=PASSWORD, version="1.6"):
        async with ocpp_connection(station_id, password, subprotocols=[f"ocpp{version}"]) as (connected, client):
            assert connected, "handshake refused"
            assert client.subprotocol == f"ocpp{version}"
            yield client

    return connect


adb = database_sync_to_async


def services_required() -> bool:
    return os.environ.get("CHARGENET_REQUIRE_SERVICES") == "1"


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """Consumers reach the database from Django's sync thread; persistent connections
    there would keep the test database open at teardown."""
    from django.conf import settings

    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
    database = settings.DATABASES["default"]
    # One test database per run, so parallel runs (and a crashed run's leftovers) never
    # collide. SQLite gets a file, which live daphne processes can share.
    if database["ENGINE"].endswith("sqlite3"):
        name = str(settings.BASE_DIR / f"test-db-{os.getpid()}.sqlite3")
    else:
        name = f"test_{database['NAME']}_{os.getpid()}"
    database.setdefault("TEST", {})["NAME"] = name


@pytest.fixture(scope="session", autouse=True)
def _private_channel_layer():
    """Runs sharing one Redis (CI beside a developer, leftovers of a killed run) must not
    see each other's station groups: give this run its own prefix, and child processes too."""
    from channels.layers import channel_layers
    from django.conf import settings

    prefix = f"test{os.getpid()}"
    os.environ["CHANNEL_LAYER_PREFIX"] = prefix
    config = settings.CHANNEL_LAYERS["default"].get("CONFIG")
    if config is not None:
        config["prefix"] = prefix
    channel_layers.backends.clear()
    yield


@pytest.fixture(autouse=True)
def _close_connections_of_async_tests():
    """The async ORM and consumers use asgiref's single sync thread; close its database
    connection after each test so nothing holds the test database at teardown."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    SyncToAsync.single_thread_executor.submit(connections.close_all).result()


@pytest.fixture(autouse=True)
def _celery_eager(settings):
    """Tasks run in the test's process, also in CI's run with REDIS_URL (no worker there
    to consume the broker's queue)."""
    from chargenet.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = settings.CELERY_TASK_ALWAYS_EAGER


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    """What receivers on the OCPP path cache per process (station -> site or organisation,
    registered partners, who watches, rate limits) must not carry over from one test's
    database to the next."""
    from gateway import station_cache
    from portal import live
    from roaming import partners
    from roaming import receivers as roaming_receivers
    from stations.smart_charging import dispatch, receivers

    def forget():
        receivers.forget_sites()
        dispatch._last_request.clear()
        live._stations.clear()
        live._forget_watched()
        partners.forget_partners()
        roaming_receivers._last_update.clear()
        station_cache.forget()

    forget()
    yield
    forget()
