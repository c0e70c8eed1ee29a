"""A small OCTT: the test plays the charging station over a real WebSocket through the ASGI
stack, the way the OCA's test tool does, and checks what the CSMS answers, sends and records.

Each test is one OCA test case, named by its id and citing id and title in its docstring.
CSMS-initiated steps are started the way an operator starts them (the command service behind
the API, admin and CLI); the station's side answers them with the frames of the test case.
"""

import asyncio
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest

from stations.commands.service import CommandResult, send_command_async
from stations.models import IdToken, IdTokenStatus
from stations.services.registry import register_id_token, register_station
from tests.conftest import PASSWORD, OcppTestClient, adb, ocpp_connection

STATION_ID = "CP-OCTT"
# The tokens the OCTT configuration names: valid, unknown, blocked, expired, a group member.
VALID, UNKNOWN, BLOCKED, EXPIRED, GROUP_MEMBER, GROUP_ID = (
    "TAG-001", "100000C02", "100000C06", "100000C07", "100000C39B", "GROUP001")


def now_iso(delta_s: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=delta_s)).isoformat(timespec="seconds").replace("+00:00", "Z")


class Station:
    """The station side of a test case: sends its CALLs, answers the CSMS's."""

    def __init__(self, client: OcppTestClient, version: str):
        self.client = client
        self.version = version

    async def call(self, action: str, payload: dict) -> list:
        return await self.client.call(action, payload)

    async def result(self, action: str, payload: dict) -> dict:
        return await self.client.result(action, payload)

    async def boot(self, reason: str = "PowerUp") -> dict:
        if self.version == "1.6":
            return await self.result("BootNotification", {"chargePointVendor": "OCTT", "chargePointModel": "Virtual"})
        return await self.result("BootNotification", {
            "chargingStation": {"vendorName": "OCTT", "model": "Virtual"}, "reason": reason})

    async def status(self, status: str, connector: int = 1, error_code: str = "NoError") -> dict:
        if self.version == "1.6":
            return await self.result("StatusNotification", {
                "connectorId": connector, "errorCode": error_code, "status": status, "timestamp": now_iso()})
        return await self.result("StatusNotification", {
            "timestamp": now_iso(), "connectorStatus": status, "evseId": connector, "connectorId": 1})

    async def authorize(self, token: str) -> dict:
        if self.version == "1.6":
            return (await self.result("Authorize", {"idTag": token}))["idTagInfo"]
        return (await self.result("Authorize", {"idToken": {"idToken": token, "type": "ISO14443"}}))["idTokenInfo"]

    async def command(self, command: str, params: dict, action: str, answer: dict | None = None,
                      error: tuple | None = None) -> tuple[dict, CommandResult]:
        """An operator's command: the CALL the station receives (checked to be ``action``), and
        what the CSMS made of the station's answer."""
        sending = asyncio.create_task(send_command_async(
            station_id=STATION_ID, command=command, params=params, source="conformance", timeout=5))
        try:
            request = await self.client.expect_call(action, answer, error)
            result = await asyncio.wait_for(sending, 10)
        finally:
            sending.cancel()
        return request, result


def _tokens() -> None:
    register_id_token(value=VALID, driver_email="driver@example.com")
    register_id_token(value=BLOCKED, status=IdTokenStatus.BLOCKED)
    register_id_token(value=EXPIRED, expires_at=datetime.now(UTC) - timedelta(days=1))
    register_id_token(value=GROUP_MEMBER, driver_email="driver@example.com")
    IdToken.objects.filter(value__in=[VALID, GROUP_MEMBER]).update(group_id=GROUP_ID)


@pytest.fixture
def network(db):
    """The CSMS's configuration for the test tool: one station, the OCTT tokens."""
    register_station(station_id=STATION_ID, password=PASSWORD)
    _tokens()


@pytest.fixture
def station(network):
    """``async with station("1.6") as cp`` connects the test station and boots it (Accepted)."""

    @asynccontextmanager
    async def connect(version: str, boot: bool = True):
        async with ocpp_connection(STATION_ID, PASSWORD, subprotocols=[f"ocpp{version}"]) as (connected, client):
            assert connected and client.subprotocol == f"ocpp{version}"
            cp = Station(client, version)
            if boot:
                assert (await cp.boot())["status"] == "Accepted"
            yield cp

    return connect


__all__ = ["STATION_ID", "VALID", "UNKNOWN", "BLOCKED", "EXPIRED", "GROUP_MEMBER", "GROUP_ID", "Station",
           "adb", "now_iso"]
