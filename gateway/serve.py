"""Several server processes on one port: ``python -m gateway.serve --workers N``.

One process runs one event loop on one core, and its ORM calls share a few threads. To
use every core the listening socket is opened once, here, and N processes accept on it
(``--fd``); the kernel hands each new connection to one of them.

The server is uvicorn (uvloop, httptools, the sans-I/O ``websockets`` protocol) unless
``--server daphne`` is asked for: both run the same Channels application, and uvicorn
answers about 1.6 times the OCPP frames a second of daphne, whose per-frame
twisted/autobahn path was the largest cost in the gateway's profile
(``benchmarks/fleet.py``). Stations, commands, live pages and load management then cross processes through the
Redis channel layer, so N > 1 requires ``REDIS_URL``.

Under systemd socket activation (``deploy/systemd/chargenet-web.socket``) the socket comes
from systemd (``LISTEN_FDS``) instead. A worker that dies is started again; SIGTERM or
SIGINT stops all of them.
"""

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import time

logger = logging.getLogger("gateway.serve")

SERVERS = ("uvicorn", "daphne")
SYSTEMD_FIRST_FD = 3
# Ping each station this often and drop it when no pong comes within the same time
# (daphne's defaults are 20 s and 30 s).
WS_PING_S = 20
RESTART_BACKOFF_S = 1.0


class ServeError(SystemExit):
    pass


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m gateway.serve", description=__doc__.split("\n\n")[0])
    workers = os.environ.get("WORKERS", "").strip()
    parser.add_argument("--server", choices=SERVERS, default=os.environ.get("GATEWAY_SERVER") or SERVERS[0],
                        help="ASGI server of every worker (default: $GATEWAY_SERVER, else uvicorn)")
    parser.add_argument("--workers", type=int, default=int(workers) if workers else None,
                        help="server processes (default: $WORKERS, else one per core with REDIS_URL, one without)")
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--backlog", type=int, default=4096, help="pending connections the kernel holds")
    parser.add_argument("--connect-timeout", type=int, default=30,
                        help="daphne only: seconds it gives a WebSocket handshake (keep OCPP_HANDSHAKE_WAIT below it)")
    parser.add_argument("--access-log", default=None,
                        help="file (or - for stdout) for the access log; off by default: a line per "
                             "handshake costs a reconnect storm dearly")
    parser.add_argument("--application", default="chargenet.asgi:application")
    parser.add_argument("server_args", nargs=argparse.REMAINDER, help="after --: passed to every server process")
    args = parser.parse_args(argv)
    if args.workers is None:
        args.workers = (os.cpu_count() or 1) if os.environ.get("REDIS_URL", "").strip() else 1
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.server_args[:1] == ["--"]:
        args.server_args = args.server_args[1:]
    return args


def require_redis(workers: int, environ=os.environ) -> None:
    """Stations of one process are reached from the others only through Redis."""
    if workers > 1 and not environ.get("REDIS_URL", "").strip():
        raise ServeError(
            f"gateway.serve: {workers} workers need the Redis channel layer, and REDIS_URL is not set. "
            "Set REDIS_URL=redis://host:6379/0, or run one worker (--workers 1)."
        )


def listening_socket(host: str, port: int, backlog: int, environ=os.environ) -> socket.socket:
    """The socket systemd passed us, else a new one bound to host:port."""
    if environ.get("LISTEN_FDS") and environ.get("LISTEN_PID") == str(os.getpid()):
        sock = socket.socket(fileno=SYSTEMD_FIRST_FD)
    else:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def server_command(fd: int, args: argparse.Namespace) -> list[str]:
    if args.server == "daphne":
        return [
            sys.executable, "-m", "daphne", "--fd", str(fd),
            # OCPP connections live for weeks; handshakes may wait their turn (gateway.admission).
            "--websocket_timeout", "-1", "--websocket_connect_timeout", str(args.connect_timeout),
            *(["--access-log", args.access_log] if args.access_log else ["-v", "0"]),
            *args.server_args, args.application,
        ]
    return [
        sys.executable, "-m", "uvicorn", "--fd", str(fd),
        "--loop", "uvloop", "--http", "httptools", "--ws", "websockets-sansio",
        # Stations don't compress, and a frame larger than OCPP_MAX_FRAME_BYTES must reach
        # the gateway to be answered with the version's frame error, not a dropped socket.
        "--ws-per-message-deflate", "false", "--ws-max-size", str(4 * max_frame_bytes()),
        "--ws-ping-interval", str(WS_PING_S), "--ws-ping-timeout", str(WS_PING_S),
        "--lifespan", "off", "--log-level", "warning",
        # The peer stays the proxy: pki.services.transport decides which proxies are trusted
        # (PKI_TRUSTED_PROXIES) and reads their X-Forwarded-Proto and client certificate.
        "--no-proxy-headers",
        *(["--access-log"] if args.access_log else ["--no-access-log"]),
        *args.server_args, args.application,
    ]


def max_frame_bytes() -> int:
    """OCPP_MAX_FRAME_BYTES as chargenet.settings reads it (without loading Django here)."""
    return int(os.environ.get("OCPP_MAX_FRAME_BYTES", str(1024 * 1024)))


class Supervisor:
    def __init__(self, command: list[str], fd: int, workers: int):
        self.command = command
        self.fd = fd
        self.workers: list[subprocess.Popen | None] = [None] * workers
        self.stopping = False

    def start(self, slot: int) -> None:
        env = {**os.environ, "CHARGENET_WORKER": str(slot)}
        env.pop("LISTEN_FDS", None)
        env.pop("LISTEN_PID", None)
        process = subprocess.Popen(self.command, pass_fds=(self.fd,), env=env)
        self.workers[slot] = process
        logger.warning("worker %d started: pid %d", slot, process.pid)

    def run(self) -> int:
        for slot in range(len(self.workers)):
            self.start(slot)
        while not self.stopping:
            time.sleep(0.2)
            for slot, process in enumerate(self.workers):
                if process is not None and process.poll() is not None and not self.stopping:
                    logger.warning("worker %d (pid %d) exited with %s; starting it again",
                                   slot, process.pid, process.returncode)
                    time.sleep(RESTART_BACKOFF_S)
                    self.start(slot)
        return self.stop()

    def request_stop(self, signum, frame) -> None:
        self.stopping = True

    def stop(self) -> int:
        for process in self.workers:
            if process is not None and process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 20
        for process in self.workers:
            if process is None:
                continue
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s")
    args = parse_args(argv)
    require_redis(args.workers)
    sock = listening_socket(args.host, args.port, args.backlog)
    host, port = sock.getsockname()[:2]
    logger.warning("listening on %s:%d with %d %s worker(s)", host, port, args.workers, args.server)
    supervisor = Supervisor(server_command(sock.fileno(), args), sock.fileno(), args.workers)
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    signal.signal(signal.SIGINT, supervisor.request_stop)
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
