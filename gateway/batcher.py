"""Collects meter-value writes, 2.1 periodic event stream data, status reports and boots
from all connections of this process into batches (group commit).

Meter values (the steady load) are written eagerly: when fewer than ``MAX_WRITING``
batches are being written, a frame's batch goes at once (with the frames of the same
event-loop turn), otherwise frames gather until one commits, at most
``OCPP_METER_BATCH_WINDOW_MS``. So a quiet process answers without a batching delay and a
busy one writes larger batches. Status reports and boots come in storms (every station at
once after a restart): a frame waits the window for others (or until the batch is full),
which makes fewer, larger transactions. Every frame is answered only once its batch committed. A
batch that fails as a whole sends each frame back to the per-message path, so one bad
frame cannot take others down with it.
"""

import asyncio
import logging
from collections.abc import Callable

from django.conf import settings

from gateway import station_cache
from gateway.coalesce import per_loop
from gateway.dbpool import db
from stations.services.boot import BootReport, record_boots
from stations.services.boot import record_boot as record_one_boot
from stations.services.meter_batch import write_batch
from stations.services.status import record_statuses
from stations.streams import services as streams

logger = logging.getLogger(__name__)

# Batches of one kind written at the same time: the second overlaps the first's round trips
# to the database. A station has one frame in flight, so concurrent batches hold different rows.
MAX_WRITING = 2


class Batcher:
    """``await batcher.submit(item)`` -> what ``write(items)`` returned for it; a falsy
    answer (False, None) means the caller takes the per-message path."""

    def __init__(self, window_s: float, max_size: int, write: Callable[[list], list[bool]] = write_batch,
                 name: str = "meter", eager: bool = True):
        self.write = write
        self.eager = eager
        self.name = name
        self.window_s = window_s
        self.max_size = max_size
        self._pending: list[tuple[object, asyncio.Future]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._writing = 0  # batches being written

    async def submit(self, write):
        """The write's result once committed; False when the caller must write it itself."""
        if self.window_s <= 0:
            return False
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((write, future))
        if len(self._pending) >= self.max_size:
            self._flush_now()
        elif self._timer is None:
            # Now (after this turn of the loop) when the database is free, else after the
            # batch being written, at the latest after the window.
            at_once = self.eager and self._writing < MAX_WRITING
            self._timer = loop.call_later(0 if at_once else self.window_s, self._flush_now)
        return await future

    def _flush_now(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if batch:
            self._writing += 1
            asyncio.get_running_loop().create_task(self._write(batch))

    async def _write(self, batch: list[tuple[object, asyncio.Future]]) -> None:
        try:
            applied = await db(self.write)([write for write, _ in batch])
        except Exception:
            logger.exception("%s batch of %d failed; writing its frames one by one", self.name, len(batch))
            applied = [False] * len(batch)
        finally:
            self._writing -= 1
        for (_, future), ok in zip(batch, applied, strict=True):
            if not future.done():
                future.set_result(ok)
        if self.eager and self._pending and self._writing < MAX_WRITING:
            self._flush_now()  # what gathered while this batch was written


def _new(name: str, write: Callable[[list], list[bool]], *, eager: bool) -> Batcher:
    return Batcher(window_s=settings.OCPP_METER_BATCH_WINDOW_MS / 1000, max_size=settings.OCPP_METER_BATCH_SIZE,
                   write=write, name=name, eager=eager)


# The batchers of the running event loop (one per process in daphne; one per test loop).
meter_batcher = per_loop(lambda: _new("meter", write_batch, eager=True))
# 2.1 NotifyPeriodicEventStream data, batched like meter values.
stream_batcher = per_loop(lambda: _new("stream", streams.write_batch, eager=True))
# StatusNotifications of connectors (``StatusReport``), group-committed like meter values.
status_batcher = per_loop(lambda: _new("status", record_statuses, eager=False))
# BootNotifications (``BootReport``): the registration status, or None (per-message path).
boot_batcher = per_loop(lambda: _new("boot", record_boots, eager=False))


def reset() -> None:
    """Forget every batcher: the next frame makes new ones (tests that change the window)."""
    for getter in (meter_batcher, stream_batcher, status_batcher, boot_batcher):
        getter.reset()


async def record_boot(report: BootReport, station) -> str:
    """A station's boot, batched with the boots of the moment (a reconnect storm brings
    thousands); the registration status it answers with."""
    registration = await boot_batcher().submit(report) or await db(record_one_boot)(**vars(report))
    # The batch writes the stations without post_save: drop the handshake cache entry as a
    # save of the serial number does (``station_cache.on_station_saved``).
    station_cache.forget(station.station_id)
    return registration
