"""Collects meter-value writes (and status reports) from all connections of this process into batches.

A frame waits at most ``OCPP_METER_BATCH_WINDOW_MS`` for others to join its batch (or
until the batch is full), then the batch is written in one transaction and every frame in
it is answered. A batch that fails as a whole sends each frame back to the per-message
path, so one bad frame cannot take others down with it.
"""

import asyncio
import logging

from django.conf import settings

from collections.abc import Callable

from gateway.dbpool import db
from gateway import station_cache
from stations.services.boot import BootReport, record_boots
from stations.services.boot import record_boot as record_one_boot
from stations.services.meter_batch import write_batch
from stations.services.status import record_statuses

logger = logging.getLogger(__name__)


class Batcher:
    """``await batcher.submit(item)`` -> what ``write(items)`` returned for it; a falsy
    answer (False, None) means the caller takes the per-message path."""

    def __init__(self, window_s: float, max_size: int, write: Callable[[list], list[bool]] = write_batch,
                 name: str = "meter"):
        self.write = write
        self.name = name
        self.window_s = window_s
        self.max_size = max_size
        self._pending: list[tuple[object, asyncio.Future]] = []
        self._timer: asyncio.TimerHandle | None = None

    async def submit(self, write):
        """The write's result once committed; False when the caller must write it itself."""
        if self.window_s <= 0:
            return False
        future = asyncio.get_running_loop().create_future()
        self._pending.append((write, future))
        if len(self._pending) >= self.max_size:
            self._flush_now()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.window_s, self._flush_now)
        return await future

    def _flush_now(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if batch:
            asyncio.get_running_loop().create_task(self._write(batch))

    async def _write(self, batch: list[tuple[object, asyncio.Future]]) -> None:
        try:
            applied = await db(self.write)([write for write, _ in batch])
        except Exception:
            logger.exception("%s batch of %d failed; writing its frames one by one", self.name, len(batch))
            applied = [False] * len(batch)
        for (_, future), ok in zip(batch, applied, strict=True):
            if not future.done():
                future.set_result(ok)


_batchers: dict[tuple[int, str], Batcher] = {}


def _batcher(name: str, write: Callable[[list], list[bool]]) -> Batcher:
    """The batcher of the running event loop (one per process in daphne; one per test loop)."""
    loop = asyncio.get_running_loop()
    batcher = _batchers.get((id(loop), name))
    if batcher is None:
        for key in [key for key in _batchers if key[0] != id(loop)]:
            del _batchers[key]  # a new loop (tests) makes the old batchers useless
        batcher = _batchers[(id(loop), name)] = Batcher(
            window_s=settings.OCPP_METER_BATCH_WINDOW_MS / 1000, max_size=settings.OCPP_METER_BATCH_SIZE,
            write=write, name=name,
        )
    return batcher


def meter_batcher() -> Batcher:
    return _batcher("meter", write_batch)


def status_batcher() -> Batcher:
    """StatusNotifications of connectors (``StatusReport``), group-committed like meter values."""
    return _batcher("status", record_statuses)


def boot_batcher() -> Batcher:
    """BootNotifications (``BootReport``): the registration status, or None (per-message path)."""
    return _batcher("boot", record_boots)


async def record_boot(report: BootReport, station) -> str:
    """A station's boot, batched with the boots of the moment (a reconnect storm brings
    thousands); the registration status it answers with."""
    registration = await boot_batcher().submit(report) or await db(record_one_boot)(**vars(report))
    # The batch writes the stations without post_save: drop the handshake cache entry as a
    # save of the serial number does (``station_cache.on_station_saved``).
    station_cache.forget(station.station_id)
    return registration
