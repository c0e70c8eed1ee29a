"""deploy/Procfile as an operator runs it: honcho starts two uvicorn workers on one port,
a Celery worker and Celery beat against this run's database and Redis; the server answers
/readyz; stopping honcho stops them all."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.live.conftest import ROOT, child_env, free_port

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def wait_for(predicate, timeout_s: float, what: str, output) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"{what} within {timeout_s}s:\n{output()[-4000:]}")


def ready(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            return json.load(response)
    except OSError:
        return None


def test_procfile_runs_web_workers_celery_and_beat_under_honcho(redis_url, tmp_path):
    port = free_port()
    queue = f"chargenet-test-{os.getpid()}-procfile"
    env = child_env(
        REDIS_URL=redis_url, CELERY_QUEUE=queue, WORKERS="2", CELERY_CONCURRENCY="1",
        CELERY_BEAT_SCHEDULE_FILE=str(tmp_path / "beat-schedule"),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    log_path = tmp_path / "honcho.log"
    log = open(log_path, "w")
    honcho = subprocess.Popen(
        [sys.executable, "-m", "honcho", "-f", "deploy/Procfile", "-d", str(ROOT), "start", "-p", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    output = log_path.read_text
    try:
        wait_for(lambda: (ready(port) or {}).get("status") == "ok", 60, "/readyz did not answer ok", output)
        pids = {ready(port)["pid"] for _ in range(20)}
        wait_for(lambda: "ready." in output() and "beat: Starting" in output(), 60,
                 "the Celery worker and beat did not start", output)
        text = output()
        assert "2 uvicorn worker(s)" in text
        assert "web.1" in text and "worker.1" in text and "beat.1" in text
        assert pids and all(isinstance(pid, int) for pid in pids)
    finally:
        honcho.send_signal(signal.SIGTERM)
        try:
            honcho.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(honcho.pid, signal.SIGKILL)
            honcho.wait()
        log.close()
        import redis

        client = redis.Redis.from_url(redis_url)
        client.delete(queue, f"_kombu.binding.{queue}")
        client.close()
    assert ready(port) is None, "the server still answers after honcho stopped"


def test_serve_takes_the_listening_socket_from_systemd(tmp_path):
    """chargenet-web.socket: systemd holds the socket and passes it as fd 3 (LISTEN_FDS);
    systemd-socket-activate does the same."""
    port = free_port()
    log_path = tmp_path / "serve.log"
    log = open(log_path, "w")
    serve = subprocess.Popen(
        ["systemd-socket-activate", "-l", f"127.0.0.1:{port}",
         sys.executable, "-m", "gateway.serve", "--workers", "1", "--port", "1"],
        cwd=ROOT, env=child_env(), stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        # Port 1 is not ours: the server answers on the socket systemd opened.
        wait_for(lambda: (ready(port) or {}).get("status") == "ok", 60, "/readyz did not answer", log_path.read_text)
        assert f"listening on 127.0.0.1:{port}" in log_path.read_text()
    finally:
        serve.terminate()
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()
        log.close()
