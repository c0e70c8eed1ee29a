"""Browser-test plumbing: Debian's Chromium driven by Playwright, a real daphne serving the
test database, and a station speaking OCPP 1.6 frames to it from the test."""

import base64
import json
import os
import uuid
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TIMEOUT_MS = 30_000  # the machine may be loaded: poll generously


def launch_chromium(playwright):
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make browsers` (apt-get install -y chromium) installs it")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


class Station:
    """A charger on a real WebSocket: sends OCPP 1.6 CALLs and returns the CALLRESULT payloads.
    ``with Station(...) as station:`` connects; leaving the block disconnects."""

    def __init__(self, ws_url: str, station_id: str, password: str):
        from websockets.sync.client import connect

        auth = base64.b64encode(f"{station_id}:{password}".encode()).decode()
        self._connection = connect(f"{ws_url}/{station_id}", subprotocols=["ocpp1.6"],
                                   additional_headers={"Authorization": f"Basic {auth}"}, open_timeout=30)

    def __enter__(self):
        self.socket = self._connection.__enter__()
        return self

    def __exit__(self, *exc):
        return self._connection.__exit__(*exc)

    def call(self, action: str, payload: dict) -> dict:
        unique_id = uuid.uuid4().hex[:16]
        self.socket.send(json.dumps([2, unique_id, action, payload]))
        while True:
            frame = json.loads(self.socket.recv(timeout=30))
            if frame[0] == 3 and frame[1] == unique_id:
                return frame[2]
            if frame[0] == 4 and frame[1] == unique_id:
                raise AssertionError(f"CALLERROR for {action}: {frame}")


class SimulatedCharger:
    """``stations.simulator.SimulatedStation`` on a thread of its own, for browser tests that
    need a station answering the server's commands. ``with SimulatedCharger(...) as charger:``
    runs it until the block ends; ``charger.station`` is the simulated station."""

    def __init__(self, ws_url: str, station_id: str, password: str, **kwargs):
        from stations.simulator import SimulatedStation, Timing

        kwargs.setdefault("id_token", "NOT-A-KNOWN-TOKEN")  # its own sessions are refused: it idles
        kwargs.setdefault("timing", Timing(pause_s=3600, reconnect_max_s=2))
        self.station = SimulatedStation(station_id, password, url=ws_url, **kwargs)
        self._thread = None
        self._loop = None

    def __enter__(self):
        import asyncio
        import threading
        import time

        started = threading.Event()

        def run():
            self._loop = asyncio.new_event_loop()
            started.set()
            self._loop.run_until_complete(self.station.run())
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True, name=f"sim-{self.station.station_id}")
        self._thread.start()
        started.wait()
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while not self.station.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self._loop.call_soon_threadsafe(self.station.close)
        self._thread.join(timeout=30)
        return False
