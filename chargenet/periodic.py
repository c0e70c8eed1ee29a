"""Celery beat's schedule, run by the server itself when there is no beat: embedded mode.

Without REDIS_URL nobody runs ``celery beat``, so firmware campaigns would never advance,
site limits never re-balance, certificates never renew, the 1st of the month never
invoices and the roaming outbox never retries. The ASGI application (``chargenet.asgi``)
starts this runner on the server's event loop with its first connection; each job runs on a
worker thread exactly as beat's task would (eager Celery: its sub-tasks run there too, and
commands reach stations through the server loop as any view's do).

One process runs the jobs: an exclusive file lock per database decides which, so several
daphne processes on one embedded database never run a job twice; when the holder exits,
another takes over at its next attempt. Off under tests (tests/conftest.py) unless a test's
server sets ``CHARGENET_PERIODIC_JOBS=true``; off whenever REDIS_URL is set (beat's job).
"""

import asyncio
import fcntl
import hashlib
import logging
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, connections
from django.utils import timezone

logger = logging.getLogger(__name__)

_runner: asyncio.Task | None = None
_lock_file = None


@dataclass
class Job:
    name: str
    task: str
    schedule: object  # a celery schedule: ``is_due(last_run_at)`` -> (due, seconds to next check)
    last_run_at: datetime


def enabled() -> bool:
    return bool(getattr(settings, "CHARGENET_PERIODIC_JOBS", False)) and not settings.REDIS_URL


def jobs(now: datetime | None = None) -> list[Job]:
    """CELERY_BEAT_SCHEDULE as jobs; ``CHARGENET_PERIODIC_INTERVAL_S`` shortens the
    every-N-seconds ones (demos and tests), crontab ones keep their calendar."""
    from celery.schedules import schedule

    from chargenet.celery import app

    now = now or timezone.now()
    interval = getattr(settings, "CHARGENET_PERIODIC_INTERVAL_S", None)
    result = []
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        every = entry["schedule"]
        if isinstance(every, (int, float, timedelta)):
            seconds = every.total_seconds() if isinstance(every, timedelta) else float(every)
            every = schedule(timedelta(seconds=interval or seconds), app=app)
        result.append(Job(name=name, task=entry["task"], schedule=every, last_run_at=now))
    return result


def _lock_path() -> Path:
    database = str(settings.DATABASES["default"].get("NAME"))
    digest = hashlib.sha256(database.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"chargenet-periodic-{digest}.lock"


def take_lock() -> bool:
    """True when this process holds (or now took) the runner's lock for this database."""
    global _lock_file
    if _lock_file is not None:
        return True
    handle = open(_lock_path(), "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return False
    _lock_file = handle
    return True


def run_job(task_name: str) -> None:
    """One beat task, run here and now (its own sub-tasks are eager too)."""
    from chargenet.celery import app

    close_old_connections()
    try:
        app.loader.import_default_modules()
        app.tasks[task_name]()
    except Exception:  # one failing job must not stop the others or the next ticks
        logger.exception("periodic job %s failed", task_name)
    finally:
        connections.close_all()


async def run_forever(*, poll_s: float = 1.0) -> None:
    pending = jobs()
    while True:
        if not await sync_to_async(take_lock, thread_sensitive=False)():
            await asyncio.sleep(60)
            pending = jobs()  # a take-over starts its own clock
            continue
        for job in pending:
            due, _ = job.schedule.is_due(job.last_run_at)
            if due:
                job.last_run_at = timezone.now()
                await sync_to_async(run_job, thread_sensitive=False)(job.task)
        await asyncio.sleep(poll_s)


def ensure_started() -> None:
    """Start the runner on the running loop once (called by the ASGI app on each scope)."""
    global _runner
    if _runner is not None and not _runner.done():
        return
    if not enabled():
        return
    from stations import background

    loop = asyncio.get_running_loop()
    background.bind_loop(loop)
    _runner = loop.create_task(run_forever())
    logger.info("periodic jobs run in this process (embedded mode: no Celery beat)")


def with_periodic_jobs(application):
    """The ASGI application, starting the embedded runner with its first connection."""

    async def app(scope, receive, send):
        ensure_started()
        return await application(scope, receive, send)

    return app
