"""Which stations are connected: a lease each process renews for its own connections.

Every ``OCPP_LAST_SEEN_WRITE_INTERVAL`` seconds a process writes ``last_seen = now`` for all
the stations it holds, in one UPDATE (not one per station per message), and marks offline
every station whose lease nobody renewed for three intervals. So a process that crashed,
or a handshake daphne dropped while its consumer was still starting, cannot leave a
station "online" for longer than that.
"""

import asyncio
import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from gateway.coalesce import Coalescer, per_loop
from gateway.dbpool import db
from stations.models import ChargingStation
from stations.services.connections import mark_connected_many, mark_disconnected_many
from stations.signals import announce_on_commit, station_presence_changed

logger = logging.getLogger(__name__)

LEASE_INTERVALS = 3


def _write_connected(connections: list[tuple[int, str, str]]) -> list[str]:
    return mark_connected_many(connections=connections)


_connected_writer = per_loop(
    lambda: Coalescer(_write_connected, window_s=0.01, max_size=500, name="connected")
)


async def mark_connected(*, station_pk: int, connection_id: str, ocpp_version: str) -> str:
    """Mark the station online; the handshakes of one moment share one UPDATE. Returns
    the connection that held the station until now ("" when none)."""
    return await _connected_writer().submit((station_pk, connection_id, ocpp_version))


def _write_disconnected(connections: list[tuple[int, str]]) -> list[bool]:
    return mark_disconnected_many(connections=connections)


_disconnected_writer = per_loop(
    lambda: Coalescer(_write_disconnected, window_s=0.01, max_size=500, name="disconnected")
)


async def mark_disconnected(*, station_pk: int, connection_id: str) -> bool:
    """Mark the station offline unless a newer connection holds it; the disconnects of
    one moment (a network outage, a worker stopping) share one transaction."""
    return await _disconnected_writer().submit((station_pk, connection_id))


def renew_leases(*, station_pks: list[int], expire_before) -> int:
    """Refresh this process's stations; expire everybody's stale ones. Returns expired count."""
    now = timezone.now()
    for start in range(0, len(station_pks), 1000):
        ChargingStation.objects.filter(pk__in=station_pks[start : start + 1000], is_online=True).update(last_seen=now)
    stale = list(
        ChargingStation.objects.filter(is_online=True, last_seen__lt=expire_before).values_list("pk", flat=True)
    )
    if not stale:
        return 0
    expired = ChargingStation.objects.filter(pk__in=stale, is_online=True, last_seen__lt=expire_before).update(
        is_online=False, connection_id=""
    )
    for station_pk in stale:
        announce_on_commit(station_presence_changed, station_pk=station_pk, online=False)
    return expired


class Presence:
    def __init__(self, interval_s: float):
        self.interval_s = interval_s
        self.connected: dict[int, int] = {}  # station pk -> number of live connections here
        self._task: asyncio.Task | None = None

    def add(self, station_pk: int) -> None:
        self.connected[station_pk] = self.connected.get(station_pk, 0) + 1
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._renew_forever())

    def remove(self, station_pk: int) -> None:
        count = self.connected.get(station_pk, 0) - 1
        if count > 0:
            self.connected[station_pk] = count
        else:
            self.connected.pop(station_pk, None)

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                expired = await db(renew_leases)(
                    station_pks=list(self.connected),
                    expire_before=timezone.now() - timedelta(seconds=self.interval_s * LEASE_INTERVALS),
                )
                if expired:
                    logger.warning("%d station(s) marked offline: no process renewed their lease", expired)
            except Exception:
                logger.exception("renewing station leases failed")


presence = per_loop(lambda: Presence(settings.OCPP_LAST_SEEN_WRITE_INTERVAL))
presence.__doc__ = "The presence of the running event loop (one per daphne process)."
