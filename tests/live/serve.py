"""``python -m gateway.serve`` as a child process: N daphne workers on one port."""

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.live.conftest import ROOT

CONNECTED = re.compile(r"\[(\d+)\] gateway\.consumer: (\S+): connected with OCPP")


class Served:
    def __init__(self, port: int, env: dict, log_path: Path, workers: int = 2):
        self.port = port
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway.serve", "--workers", str(workers), "--port", str(port)],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        self.wait_until_ready()

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text()

    def wait_until_ready(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway.serve exited with {self.process.returncode}:\n{self.output()[-3000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                with urllib.request.urlopen(f"{self.http}/readyz", timeout=10) as response:
                    if json.load(response)["status"] == "ok":
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"gateway.serve not ready within {timeout_s}s:\n{self.output()[-3000:]}")

    def holder_of(self, station_id: str, timeout_s: float = 10) -> int:
        """The pid of the worker that last accepted this station (from its log line)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            pids = [int(pid) for pid, sid in CONNECTED.findall(self.output()) if sid == station_id]
            if pids:
                return pids[-1]
            time.sleep(0.1)
        raise AssertionError(f"{station_id} never connected:\n{self.output()[-3000:]}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
