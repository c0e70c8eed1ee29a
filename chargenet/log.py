"""Log lines are written by a thread of their own, not by the code that logs them.

A server process logs a line per station connecting and leaving. Written on the event loop,
each line was a blocking write and flush to stdout, and in a reconnect storm of 10,000
stations that took about 7% of a worker's loop (py-spy). Here the loop only formats the
message and hands the record to a queue; a listener thread writes it.
"""

import logging
import logging.handlers
import os
import queue
import sys
import threading


class BackgroundStreamHandler(logging.handlers.QueueHandler):
    """``logging.StreamHandler`` (stderr, or ``stream``) whose writes happen on a listener
    thread. Formatters set on it format the written lines. A forked child (a Celery
    prefork worker) starts a listener of its own, and records still queued when the
    process exits are written first."""

    def __init__(self, stream=None):
        super().__init__(queue.SimpleQueue())
        self.target = logging.StreamHandler(stream if stream is not None else sys.stderr)
        self._lock_listener = threading.Lock()
        self.listener: logging.handlers.QueueListener | None = None
        self._start()
        os.register_at_fork(after_in_child=self._restart_in_child)

    def _start(self) -> None:
        self.listener = logging.handlers.QueueListener(self.queue, self.target)
        self.listener.start()

    def _restart_in_child(self) -> None:
        # The parent's listener thread does not exist here; its queue may hold its records.
        self.queue = queue.SimpleQueue()
        self._lock_listener = threading.Lock()
        self._start()

    def setFormatter(self, fmt) -> None:
        # The queued record carries the bare message; the written line gets the format.
        self.target.setFormatter(fmt)

    def close(self) -> None:
        with self._lock_listener:
            if self.listener is not None:
                self.listener.stop()  # writes what is queued, then ends the thread
                self.listener = None
        self.target.close()
        super().close()
