"""Handshakes wait their turn instead of failing.

When a fleet reconnects at once, a process given every handshake at the same time spends
its loop on thousands of half-done handshakes and none finishes in time. Admission lets
``OCPP_HANDSHAKE_CONCURRENCY`` handshakes work at a time (their database work is batched,
so more at once make bigger batches, not more queries); the others wait in arrival order.
A handshake that waited ``OCPP_HANDSHAKE_WAIT`` seconds (set below daphne's
``--websocket_connect_timeout`` when serving with daphne) is refused cleanly, so the
charger gets an answer and retries, never a socket that hangs.
"""

import asyncio
from contextlib import asynccontextmanager

from django.conf import settings

from gateway.coalesce import per_loop


class Busy(Exception):
    """No handshake slot came free in time."""


class Admission:
    def __init__(self, *, concurrency: int, wait_s: float):
        self._slots = asyncio.Semaphore(concurrency)
        self.wait_s = wait_s
        self.waiting = 0
        self.refused = 0

    @asynccontextmanager
    async def slot(self):
        self.waiting += 1
        try:
            await asyncio.wait_for(self._slots.acquire(), self.wait_s)
        except TimeoutError:
            self.refused += 1
            raise Busy(f"no handshake slot within {self.wait_s:g} s") from None
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self._slots.release()


admission = per_loop(
    lambda: Admission(concurrency=settings.OCPP_HANDSHAKE_CONCURRENCY, wait_s=settings.OCPP_HANDSHAKE_WAIT)
)
