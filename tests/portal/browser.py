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
