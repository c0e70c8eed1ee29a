"""Collects meter-value writes (and 2.1 periodic event stream data, the same way) from all
connections of this process into batches.

A frame waits at most ``OCPP_METER_BATCH_WINDOW_MS`` for others to join its batch (or
until the batch is full), then the batch is written in one transaction and every frame in
it is answered. A batch that fails as a whole sends each frame back to the per-message
path, so one bad frame cannot take others down with it.
"""

import asyncio
import logging

from django.conf import settings

from gateway.dbpool import db
from stations.services.meter_batch import MeterWrite, write_batch
from stations.streams import services as streams

logger = logging.getLogger(__name__)


class MeterBatcher:
    def __init__(self, window_s: float, max_size: int, write=write_batch):
        self.window_s = window_s
        self.max_size = max_size
        self.write = write  # list of writes -> list of "applied" flags, in one transaction
        self._pending: list[tuple[MeterWrite, asyncio.Future]] = []
        self._timer: asyncio.TimerHandle | None = None

    async def submit(self, write: MeterWrite) -> bool:
        """True once the write is committed; False when the caller must write it itself."""
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

    async def _write(self, batch: list[tuple[MeterWrite, asyncio.Future]]) -> None:
        try:
            applied = await db(self.write)([write for write, _ in batch])
        except Exception:
            logger.exception("meter batch of %d failed; writing its frames one by one", len(batch))
            applied = [False] * len(batch)
        for (_, future), ok in zip(batch, applied, strict=True):
            if not future.done():
                future.set_result(ok)


_batchers: dict[tuple[int, str], MeterBatcher] = {}


def _batcher(kind: str, write) -> MeterBatcher:
    """The batcher of the running event loop (one per process in daphne; one per test loop)."""
    loop = asyncio.get_running_loop()
    batcher = _batchers.get((id(loop), kind))
    if batcher is None:
        for key in [k for k in _batchers if k[0] != id(loop)]:
            del _batchers[key]  # a new loop (tests) makes the old batchers useless
        batcher = _batchers[(id(loop), kind)] = MeterBatcher(
            window_s=settings.OCPP_METER_BATCH_WINDOW_MS / 1000, max_size=settings.OCPP_METER_BATCH_SIZE, write=write
        )
    return batcher


def meter_batcher() -> MeterBatcher:
    return _batcher("meter", write_batch)


def stream_batcher() -> MeterBatcher:
    """2.1 NotifyPeriodicEventStream data, batched like meter values."""
    return _batcher("stream", streams.write_batch)
