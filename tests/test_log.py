"""The server's log handler writes on a thread of its own, and loses nothing."""

import io
import logging
import os

from chargenet.log import BackgroundStreamHandler


def make_logger(stream) -> tuple[logging.Logger, BackgroundStreamHandler]:
    handler = BackgroundStreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s [%(process)d] %(name)s: %(message)s"))
    logger = logging.getLogger(f"test-log-{id(handler)}")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logger, handler


def test_lines_are_formatted_once_and_all_written_by_close():
    stream = io.StringIO()
    logger, handler = make_logger(stream)
    for n in range(500):
        logger.info("CP-%d: connected with OCPP %s", n, "1.6")
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("handler loop failed")
    handler.close()
    lines = stream.getvalue().splitlines()
    assert lines[0] == f"INFO [{os.getpid()}] {logger.name}: CP-0: connected with OCPP 1.6"
    assert sum("connected with OCPP" in line for line in lines) == 500
    assert f"ERROR [{os.getpid()}] {logger.name}: handler loop failed" in lines
    assert "ValueError: boom" in stream.getvalue()


def test_the_writing_happens_off_the_logging_thread():
    class Recording(io.StringIO):
        threads: set = set()

        def write(self, text):
            import threading

            self.threads.add(threading.current_thread().name)
            return super().write(text)

    stream = Recording()
    logger, handler = make_logger(stream)
    logger.warning("one line")
    handler.close()
    assert stream.getvalue().endswith("one line\n")
    assert "MainThread" not in Recording.threads


def test_a_forked_child_writes_its_own_lines(tmp_path):
    path = tmp_path / "log.txt"
    with open(path, "w") as stream:
        logger, handler = make_logger(stream)
        logger.info("parent before fork")
        pid = os.fork()
        if pid == 0:  # a Celery prefork child
            try:
                logger.info("child line")
                handler.close()
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        logger.info("parent after fork")
        handler.close()
    text = path.read_text()
    assert "child line" in text and "parent before fork" in text and "parent after fork" in text
