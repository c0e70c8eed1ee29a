"""Real server processes on loopback, sharing the test database (and Redis when given)."""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from tests.conftest import services_required

ROOT = Path(__file__).resolve().parents[2]
LOCAL_REDIS = "redis://127.0.0.1:6379/6"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    """The URL of the test database this test run created, for child processes."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    user = s.get("USER") or "postgres"
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


def redis_url_for_processes() -> str | None:
    """The Redis that several processes share: REDIS_URL, else the machine's own Redis."""
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            if sock.recv(16).startswith(b"+PONG"):
                return LOCAL_REDIS
    except OSError:
        pass
    return None


def child_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    # Live servers here take no EV certificate requests: no EXI codec JVM per daphne start.
    env.update(DATABASE_URL=database_url(), DJANGO_SETTINGS_MODULE="chargenet.settings", PYTHONUNBUFFERED="1",
               PKI_EXI_WARMUP="false")
    env.update({k: v for k, v in extra.items() if v is not None})
    return env


class LiveServer:
    """The production server on loopback: ``python -m gateway.serve --workers 1`` (uvicorn;
    CHARGENET_TEST_SERVER=daphne runs the suite's live servers on daphne instead)."""

    def __init__(self, port: int, env: dict, log_path: Path):
        self.port = port
        self.log = open(log_path, "w")
        server = env.get("CHARGENET_TEST_SERVER") or os.environ.get("CHARGENET_TEST_SERVER") or "uvicorn"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway.serve", "--server", server, "--workers", "1", "--port", str(port)],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self._wait_until_listening()

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    def _wait_until_listening(self, timeout_s: float = 30) -> None:
        """Until the worker answers: the supervisor listens before its worker has started."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}; see {self.log.name}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                    sock.settimeout(timeout_s)
                    if sock.recv(12).startswith(b"HTTP/1."):
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the server did not answer on {self.port} within {timeout_s}s; see {self.log.name}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=25)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log.close()


@pytest.fixture
def start_server(tmp_path):
    started: list[LiveServer] = []

    def start(**env_extra) -> LiveServer:
        daphne = LiveServer(free_port(), child_env(**env_extra), tmp_path / f"daphne-{len(started)}.log")
        started.append(daphne)
        return daphne

    yield start
    for daphne in started:
        daphne.stop()


@pytest.fixture
def redis_url() -> str:
    url = redis_url_for_processes()
    if url is None:
        required = " (CHARGENET_REQUIRE_SERVICES=1)" if services_required() else ""
        pytest.fail(f"no Redis reachable{required}: set REDIS_URL or run Redis on 127.0.0.1:6379")
    return url


@pytest.fixture
def celery_worker(tmp_path, redis_url):
    """A Celery worker process (prefork, two children) consuming a queue of this test run only."""
    started = []
    queue = f"chargenet-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def start(*, concurrency: int = 2, **env) -> str:
        log = open(tmp_path / "celery.log", "w")
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "chargenet", "worker", "-Q", queue,
             "--concurrency", str(concurrency), "--pool", "prefork", "--loglevel", "INFO",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=child_env(REDIS_URL=redis_url, CELERY_QUEUE=queue, **env), stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append((process, log))
        return queue

    yield start
    for process, log in started:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
    import redis

    client = redis.Redis.from_url(redis_url)
    client.delete(queue, f"_kombu.binding.{queue}")
    client.close()
