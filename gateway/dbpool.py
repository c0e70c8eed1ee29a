"""The threads the OCPP layer runs its ORM calls on.

Channels' database_sync_to_async runs every ORM call of a process on one thread, so one
slow query holds up every station, and a handshake waits behind a backlog of meter values
until daphne gives up on it. Here the calls go to a small pool instead: each thread has
its own database connection, and waiting on PostgreSQL overlaps. A station's messages are
still handled one after another, so per-station order is kept. SQLite allows one writer
at a time, so it gets one thread.
"""

import functools
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

_executors: dict[str, ThreadPoolExecutor] = {}


def _pool(name: str, size: int) -> ThreadPoolExecutor:
    if name not in _executors:
        _executors[name] = ThreadPoolExecutor(max_workers=size, thread_name_prefix=f"ocpp-{name}")
    return _executors[name]


def _with_fresh_connection(func):
    @functools.wraps(func)
    def run(*args, **kwargs):
        close_old_connections()  # drops connections that broke or outlived CONN_MAX_AGE
        try:
            return func(*args, **kwargs)
        finally:
            close_old_connections()

    return run


def db(func):
    """``await db(service)(**kwargs)``: run an ORM service off the event loop."""
    return sync_to_async(
        _with_fresh_connection(func), thread_sensitive=False, executor=_pool("db", settings.OCPP_DB_THREADS)
    )


def db_handshake(func):
    """Like ``db`` for WebSocket handshakes, on threads of their own: a charger gives up
    on a handshake that takes seconds, so it must not queue behind a backlog of messages."""
    return sync_to_async(_with_fresh_connection(func), thread_sensitive=False, executor=_pool("handshake", 2))
