#!/usr/bin/env python
"""The yardstick: a bare ``websockets`` server answering the OCPP frames the benchmarks send,
with no validation, no database, no channel layer.

    python benchmarks/bare_server.py --port 8100 --workers 2

It accepts any station id, picks ocpp2.0.1 or ocpp1.6 like ChargeNet, and answers each
CALL at once with a fixed, schema-valid payload. Several workers share the port with
SO_REUSEPORT. What ChargeNet reaches against it, with the same client in the same run,
is the target of ``benchmarks/fleet.py``.
"""

import argparse
import asyncio
import itertools
import json
import multiprocessing
import os
import signal
import sys
from datetime import UTC, datetime

import websockets

SUBPROTOCOLS = ("ocpp2.0.1", "ocpp1.6")
_transaction_ids = itertools.count(1)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def answer(action: str, payload: dict) -> dict:
    if action == "BootNotification":
        return {"status": "Accepted", "currentTime": now_iso(), "interval": 300}
    if action == "Heartbeat":
        return {"currentTime": now_iso()}
    if action == "StartTransaction":
        return {"transactionId": next(_transaction_ids), "idTagInfo": {"status": "Accepted"}}
    if action in ("StopTransaction", "Authorize"):
        return {"idTagInfo": {"status": "Accepted"}} if action == "Authorize" or "idTag" in payload else {}
    if action == "TransactionEvent" and payload.get("eventType") == "Started":
        return {"idTokenInfo": {"status": "Accepted"}}
    return {}


def select_subprotocol(connection, offered):
    for name in SUBPROTOCOLS:
        if name in offered:
            return name
    return None


async def station(connection) -> None:
    try:
        async for raw in connection:
            frame = json.loads(raw)
            if frame[0] == 2:
                await connection.send(json.dumps([3, frame[1], answer(frame[2], frame[3])], separators=(",", ":")))
    except websockets.ConnectionClosed:
        pass


async def serve(host: str, port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with websockets.serve(
        station, host, port, subprotocols=list(SUBPROTOCOLS), select_subprotocol=select_subprotocol,
        ping_interval=None, compression=None, reuse_port=True, backlog=4096, max_queue=16,
    ):
        print(f"bare server pid {os.getpid()} on {host}:{port}", flush=True)
        await stop


def run_worker(host: str, port: int) -> None:
    try:
        asyncio.run(serve(host, port))
    except KeyboardInterrupt:
        pass


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the port (SO_REUSEPORT)")
    args = parser.parse_args(argv)
    if args.workers == 1:
        run_worker(args.host, args.port)
        return 0
    workers = [multiprocessing.Process(target=run_worker, args=(args.host, args.port)) for _ in range(args.workers)]
    for worker in workers:
        worker.start()
    signal.signal(signal.SIGTERM, lambda *_: [w.terminate() for w in workers])
    for worker in workers:
        worker.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
