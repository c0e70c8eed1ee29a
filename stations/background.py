"""Work the protocol path starts but must not wait for, on the server's event loop.

A signal receiver runs on the thread that handled an OCPP message; it must not block that
thread on another station's answer. With Celery workers (REDIS_URL set) such work is a
task. Embedded (no broker, eager tasks) there is no worker: the work runs as a task on the
event loop that holds the stations' connections — the only loop the in-memory channel
layer can be used from. The OCPP consumer binds that loop when a station connects.
"""

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

_loop: asyncio.AbstractEventLoop | None = None
_tasks: set[asyncio.Task] = set()


def bind_loop(loop: asyncio.AbstractEventLoop) -> None:
    global _loop
    _loop = loop


def server_loop() -> asyncio.AbstractEventLoop | None:
    loop = _loop
    if loop is None or loop.is_closed() or not loop.is_running():
        return None
    return loop


def run_soon(factory: Callable[[], Awaitable], *, delay_s: float = 0.0, name: str = "") -> bool:
    """Start ``factory()`` on the server loop after ``delay_s``, from any thread. False when
    this process has no running server loop (the caller then runs the work itself)."""
    loop = server_loop()
    if loop is None:
        return False

    def start() -> None:
        task = loop.create_task(_logged(factory, name))
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)

    def schedule() -> None:
        if delay_s > 0:
            loop.call_later(delay_s, start)
        else:
            start()

    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        schedule()
    else:
        loop.call_soon_threadsafe(schedule)
    return True


def run(factory: Callable[[], Awaitable], *, delay_s: float = 0.0, name: str = "") -> bool:
    """``run_soon`` on the server loop; without one, run the work here and wait for it.
    False when it was not run: delayed work with nobody to run it later, or a worker thread
    of a server whose loop has stopped (as daphne shuts down, stations disconnect and their
    receivers fire on such threads; waiting there blocks on a loop that is gone and keeps
    the process from exiting, so the work is left to the next start or tick)."""
    if run_soon(factory, delay_s=delay_s, name=name):
        return True
    if delay_s or not _may_wait():
        return False
    from asgiref.sync import async_to_sync

    async def here() -> None:
        await factory()

    async_to_sync(here)()
    return True


def _may_wait() -> bool:
    loop = _loop
    stopped = loop is not None and (loop.is_closed() or not loop.is_running())
    return not (stopped and threading.current_thread() is not threading.main_thread())


async def _logged(factory: Callable[[], Awaitable], name: str) -> None:
    try:
        await factory()
    except Exception:
        logger.exception("background work %s failed", name or factory)
