"""Many small awaits, one database call: the handshake's reads and writes in batches.

A reconnect storm brings thousands of handshakes in a few seconds. Each needs its
station's credentials and a "connected" row; one query each would queue them behind one
another on the handshake threads. Here callers on the event loop add an item and await
its result; the first item of a batch starts a short window, and when it closes (or the
batch is full) one call on the handshake threads handles all of them.
"""

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from gateway.dbpool import db_handshake

logger = logging.getLogger(__name__)


class Coalescer:
    """``await coalescer.submit(item)`` -> what ``run(items)[i]`` returned for it."""

    def __init__(self, run: Callable[[list], list], *, window_s: float, max_size: int, name: str):
        self._run = run
        self.window_s = window_s
        self.max_size = max_size
        self.name = name
        self._pending: list[tuple[Any, asyncio.Future]] = []
        self._timer: asyncio.TimerHandle | None = None

    async def submit(self, item: Any) -> Any:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((item, future))
        if len(self._pending) >= self.max_size:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.window_s, self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if batch:
            asyncio.get_running_loop().create_task(self._execute(batch))

    async def _execute(self, batch: list[tuple[Any, asyncio.Future]]) -> None:
        try:
            results = await db_handshake(self._run)([item for item, _ in batch])
        except Exception as error:
            logger.exception("%s batch of %d failed", self.name, len(batch))
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)


def per_loop(factory: Callable[[], Any]) -> Callable[[], Any]:
    """One instance per running event loop (one per daphne process; one per test loop):
    futures and timers belong to the loop that made them. Keyed by the loop itself, not by
    ``id(loop)``: a new loop may reuse a closed one's id, and would inherit its timers."""
    current: list = [None, None]  # the loop, its instance

    def get() -> Any:
        loop = asyncio.get_running_loop()
        if current[0] is not loop:
            current[:] = [loop, factory()]
        return current[1]

    def reset() -> None:
        """Forget the instance: the next call makes a new one (tests that change settings)."""
        current[:] = [None, None]

    get.reset = reset
    return get
