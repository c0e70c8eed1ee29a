#!/usr/bin/env python
"""OCPP load: many stations held by one CSMS process, at a fixed aggregate message rate.

    python benchmarks/ocpp_load.py --url ws://127.0.0.1:8000/ocpp --stations 2000 --rate 500 --duration 60
    python benchmarks/ocpp_load.py --spawn-server --url ws://127.0.0.1:8001/ocpp --stations 2000

Stations are registered first in the database the server uses (DATABASE_URL, read by
chargenet.settings), with the credentials ``manage.py simulate`` derives. Then:

setup     each station connects (evenly over --ramp seconds), boots, reports its
          connector and starts a transaction;
steady    for --duration the fleet sends --rate messages a second in all, each station
          every stations/rate seconds: meter values (1.6 MeterValues, 2.0.1 TransactionEvent
          Updated) or, one time in five by default, a Heartbeat;
teardown  each station stops its transaction and disconnects (50 at a time).

It prints connections held, messages/s achieved, round-trip percentiles (steady phase),
errors (CALLERRORs, timeouts, lost connections, refused handshakes) and the server's RSS at
start and end, and exits 1 if there was any error.

The stations speak raw OCPP-J frames instead of the ``ocpp`` package's ChargePoint: its
schema validation would make this process, not the server, the bottleneck.
"""

import argparse
import asyncio
import base64
import itertools
import json
import os
import random
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import quote, urlsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import psutil  # noqa: E402
import websockets  # noqa: E402

from stations.simulator import now_iso, wait_for_server  # noqa: E402  (no Django needed)

SUBPROTOCOLS = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}
POWER_W = 11_000
TEARDOWN_IN_FLIGHT = 50  # stations stopping their transaction at the same time


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="ws://127.0.0.1:8000/ocpp", help="the server's OCPP endpoint")
    parser.add_argument("--stations", type=int, default=1000, help="connections to open and hold")
    parser.add_argument("--rate", type=float, default=500, help="messages per second, all stations together")
    parser.add_argument("--duration", type=float, default=60, help="seconds of steady load")
    parser.add_argument("--ramp", type=float, default=None,
                        help="seconds over which the stations connect (default stations/100)")
    parser.add_argument("--version", choices=[*SUBPROTOCOLS, "mixed"], default="mixed",
                        help="OCPP version of the stations; mixed alternates (default)")
    parser.add_argument("--meter-share", type=float, default=0.8,
                        help="share of steady messages that are meter values, the rest heartbeats")
    parser.add_argument("--timeout", type=float, default=10, help="seconds to wait for an answer")
    parser.add_argument("--prefix", default="BENCH-", help="station id prefix")
    parser.add_argument("--server-pid", type=int, help="the server process (default: who listens on the port)")
    parser.add_argument("--spawn-server", action="store_true",
                        help="migrate, start one gateway.serve worker on the URL's port for the run, and stop it afterwards")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.ramp is None:
        args.ramp = args.stations / 100
    return args


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chargenet.settings")
    import django

    django.setup()


def raise_open_file_limit(needed: int) -> None:
    """One socket per station, plus some slack; the spawned server inherits the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    new_soft = needed if hard == resource.RLIM_INFINITY else min(max(needed, soft), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
    if new_soft < needed:
        print(f"warning: open files limited to {new_soft} (hard limit); {needed} wanted", file=sys.stderr)


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * fraction // 1))  # ceil
    return sorted_values[int(rank) - 1]


class Recorder:
    """Round trips by phase and action, and everything that went wrong."""

    def __init__(self):
        self.round_trips: dict[tuple[str, str], list[float]] = defaultdict(list)
        self.call_errors = 0
        self.call_error_kinds: Counter = Counter()  # (action, error code) -> count
        self.timeouts = 0
        self.disconnects = 0
        self.connect_failures = 0
        self.not_accepted = 0  # BootNotification answered, but not Accepted
        self.samples: list[str] = []  # the first few errors, to show

    @property
    def errors(self) -> int:
        return self.call_errors + self.timeouts + self.disconnects + self.connect_failures + self.not_accepted

    def note(self, text: str) -> None:
        if len(self.samples) < 5:
            self.samples.append(text)

    def in_phase(self, phase: str) -> list[float]:
        return sorted(rtt for (p, _), rtts in self.round_trips.items() if p == phase for rtt in rtts)


class RawStation:
    """One station speaking OCPP-J frames directly: one CALL in flight at a time."""

    def __init__(self, member, version: str, url: str, recorder: Recorder, timeout_s: float):
        self.member = member
        self.version = version
        self.url = url
        self.recorder = recorder
        self.timeout_s = timeout_s
        self.ws = None
        self.reader: asyncio.Task | None = None
        self.closing = False
        self._pending: dict[str, asyncio.Future] = {}
        self._ids = itertools.count(1)
        self._energy_wh = float(zlib.crc32(member.station_id.encode()) % 1_000_000)
        self._charging_since: float | None = None
        self.transaction_id: int | str | None = None
        self._seq_no = 0

    @property
    def alive(self) -> bool:
        return self.reader is not None and not self.reader.done()

    async def connect(self) -> bool:
        basic = base64.b64encode(f"{self.member.station_id}:{self.member.password}".encode()).decode()
        try:
            self.ws = await websockets.connect(
                f"{self.url}/{quote(self.member.station_id, safe='')}",
                subprotocols=[SUBPROTOCOLS[self.version]],
                additional_headers={"Authorization": f"Basic {basic}"},
                open_timeout=max(self.timeout_s, 10), ping_interval=None, compression=None, proxy=None,
            )
        except websockets.InvalidStatus as error:
            self.recorder.connect_failures += 1
            self.recorder.note(f"{self.member.station_id}: handshake refused, HTTP {error.response.status_code}")
            return False
        except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.ConnectionClosed) as error:
            self.recorder.connect_failures += 1
            self.recorder.note(f"{self.member.station_id}: connect failed: {error!r}")
            return False
        self.reader = asyncio.create_task(self._read())
        return True

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await self.reader

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                message = json.loads(frame)
                if message[0] == 2:  # the CSMS asks something: not part of this benchmark
                    await self.ws.send(json.dumps([4, message[1], "NotImplemented", "load benchmark station", {}]))
                    continue
                future = self._pending.pop(message[1], None)
                if future is not None and not future.done():
                    future.set_result(message)
        except websockets.ConnectionClosed as error:
            if not self.closing:
                self.recorder.note(f"{self.member.station_id}: connection closed: {error!r}")
        finally:
            if not self.closing:
                self.recorder.disconnects += 1
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("connection closed"))
                    future.exception()  # the caller may have stopped waiting: nothing to log
            self._pending.clear()

    async def call(self, phase: str, action: str, payload: dict) -> dict | None:
        """The CALLRESULT payload, or None (the failure is counted)."""
        if not self.alive:
            return None
        unique_id = str(next(self._ids))
        future = asyncio.get_running_loop().create_future()
        self._pending[unique_id] = future
        frame = json.dumps([2, unique_id, action, payload], separators=(",", ":"))
        started = time.perf_counter()
        try:
            await self.ws.send(frame)
            reply = await asyncio.wait_for(future, self.timeout_s)
        except TimeoutError:
            self._pending.pop(unique_id, None)
            self.recorder.timeouts += 1
            self.recorder.note(f"{self.member.station_id}: no answer in {self.timeout_s:g} s to {frame[:300]}")
            return None
        except (ConnectionError, websockets.ConnectionClosed):
            return None  # counted once, as a disconnect, by the reader
        elapsed = time.perf_counter() - started
        if reply[0] == 4:
            self.recorder.call_errors += 1
            self.recorder.call_error_kinds[action, reply[2]] += 1
            self.recorder.note(f"{self.member.station_id}: sent {frame[:300]} got {json.dumps(reply)[:300]}")
            return None
        self.recorder.round_trips[phase, action].append(elapsed)
        return reply[2]

    # --- what a station says -----------------------------------------------------

    def _meter_wh(self) -> int:
        if self._charging_since is not None:
            now = time.monotonic()
            self._energy_wh += POWER_W * (now - self._charging_since) / 3600
            self._charging_since = now
        return int(self._energy_wh)

    async def boot(self) -> bool:
        if self.version == "1.6":
            payload = {"chargePointVendor": "ChargeNet", "chargePointModel": "LoadBenchmark"}
        else:
            payload = {"chargingStation": {"vendorName": "ChargeNet", "model": "LoadBenchmark"}, "reason": "PowerUp"}
        reply = await self.call("setup", "BootNotification", payload)
        if reply is not None and reply.get("status") != "Accepted":
            self.recorder.not_accepted += 1
            self.recorder.note(f"{self.member.station_id}: BootNotification answered {reply}")
        return reply is not None and reply.get("status") == "Accepted"

    async def status(self, status: str) -> None:
        if self.version == "1.6":
            payload = {"connectorId": 1, "errorCode": "NoError", "status": status, "timestamp": now_iso()}
        else:
            payload = {"timestamp": now_iso(), "connectorStatus": status, "evseId": 1, "connectorId": 1}
        await self.call("setup", "StatusNotification", payload)

    async def start_transaction(self) -> bool:
        if self.version == "1.6":
            reply = await self.call("setup", "StartTransaction", {
                "connectorId": 1, "idTag": self.member.id_token, "meterStart": self._meter_wh(),
                "timestamp": now_iso(),
            })
            if reply is None:
                return False
            self.transaction_id = reply["transactionId"]
        else:
            self.transaction_id = str(uuid.uuid4())
            reply = await self._transaction_event("setup", "Started", "Authorized", "Transaction.Begin", {
                "evse": {"id": 1, "connectorId": 1},
                "idToken": {"idToken": self.member.id_token, "type": "ISO14443"},
            })
            if reply is None:
                return False
        self._charging_since = time.monotonic()
        return True

    async def meter_values(self) -> None:
        if self.version == "1.6":
            await self.call("steady", "MeterValues", {
                "connectorId": 1, "transactionId": self.transaction_id,
                "meterValue": [{"timestamp": now_iso(), "sampledValue": [
                    {"value": str(self._meter_wh()), "context": "Sample.Periodic",
                     "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                    {"value": str(POWER_W), "context": "Sample.Periodic", "measurand": "Power.Active.Import",
                     "unit": "W"},
                ]}],
            })
        else:
            await self._transaction_event("steady", "Updated", "MeterValuePeriodic", "Sample.Periodic")

    async def heartbeat(self) -> None:
        await self.call("steady", "Heartbeat", {})

    async def stop_transaction(self) -> None:
        if self.transaction_id is None:
            return
        meter_stop = self._meter_wh()
        self._charging_since = None
        if self.version == "1.6":
            await self.call("teardown", "StopTransaction", {
                "transactionId": self.transaction_id, "meterStop": meter_stop, "timestamp": now_iso(),
                "reason": "Local",
            })
        else:
            await self._transaction_event("teardown", "Ended", "StopAuthorized", "Transaction.End",
                                          info={"stoppedReason": "Local"})

    async def _transaction_event(self, phase, event_type, trigger_reason, context, fields=None, info=None):
        sampled = [{"value": self._meter_wh(), "context": context, "measurand": "Energy.Active.Import.Register"}]
        charging = event_type != "Ended"
        if charging:
            sampled.append({"value": POWER_W, "context": context, "measurand": "Power.Active.Import"})
        self._seq_no += 1
        return await self.call(phase, "TransactionEvent", {
            "eventType": event_type, "timestamp": now_iso(), "triggerReason": trigger_reason,
            "seqNo": self._seq_no - 1,
            "transactionInfo": {"transactionId": self.transaction_id,
                                "chargingState": "Charging" if charging else "EVConnected", **(info or {})},
            "meterValue": [{"timestamp": now_iso(), "sampledValue": sampled}],
            **(fields or {}),
        })


# --- phases -------------------------------------------------------------------------


async def set_up(station: RawStation, delay_s: float) -> None:
    await asyncio.sleep(delay_s)
    if not await station.connect():
        return
    if not await station.boot():
        return
    await station.status("Available")
    if station.version == "2.0.1":
        await station.status("Occupied")
    if await station.start_transaction() and station.version == "1.6":
        await station.status("Charging")


async def drive(station: RawStation, period_s: float, end_at: float, meter_share: float, rng: random.Random,
                sent: list[int]) -> None:
    """Send a message every ``period_s`` (later if the last answer took longer) until ``end_at``."""
    loop = asyncio.get_running_loop()
    next_at = loop.time() + rng.uniform(0, period_s)
    while station.alive and next_at < end_at:
        await asyncio.sleep(max(0.0, next_at - loop.time()))
        sent[0] += 1
        if rng.random() < meter_share:
            await station.meter_values()
        else:
            await station.heartbeat()
        next_at = max(next_at + period_s, loop.time())


async def tear_down(station: RawStation, in_flight: asyncio.Semaphore) -> None:
    async with in_flight:
        if station.alive:
            await station.stop_transaction()
    await station.close()


def process_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


async def run(args: argparse.Namespace, server: psutil.Process | None) -> Recorder:
    from stations.management.commands.simulate import fleet_members, prepare_fleet

    recorder = Recorder()
    members = fleet_members(args.prefix, args.stations)
    await asyncio.to_thread(prepare_fleet, members)
    versions = list(SUBPROTOCOLS) if args.version == "mixed" else [args.version]
    url = args.url.rstrip("/")
    stations = [
        RawStation(member, versions[n % len(versions)], url, recorder, args.timeout)
        for n, member in enumerate(members)
    ]
    by_version = ", ".join(f"{sum(s.version == v for s in stations)} OCPP {v}" for v in versions)
    print(f"OCPP load: {len(stations)} stations ({by_version}) -> {url}"
          + (f", server pid {server.pid}" if server else ", server process unknown"))
    rss_start_mb = server.memory_info().rss / 2**20 if server else None

    # setup
    started = time.monotonic()
    count = len(stations)
    await asyncio.gather(*(set_up(s, args.ramp * n / count) for n, s in enumerate(stations)))
    setup_rtts = recorder.in_phase("setup")
    held = sum(s.alive for s in stations)
    print(f"setup     {held}/{count} connected, booted and charging in {time.monotonic() - started:.1f} s "
          f"(ramp {args.ramp:g} s); round trip p50 {percentile(setup_rtts, .5) * 1000:.1f} ms, "
          f"p99 {percentile(setup_rtts, .99) * 1000:.1f} ms")

    # steady
    me = psutil.Process()
    cpu_before = (process_seconds(server) if server else 0.0, process_seconds(me))
    loop = asyncio.get_running_loop()
    steady_started = loop.time()
    sent = [0]
    rng = random.Random(args.seed)
    period_s = count / args.rate
    await asyncio.gather(*(
        drive(s, period_s, steady_started + args.duration, args.meter_share, random.Random(rng.random()), sent)
        for s in stations
    ))
    steady_s = loop.time() - steady_started
    held = sum(s.alive for s in stations)
    rss_end_mb = server.memory_info().rss / 2**20 if server else None
    server_cpu = (process_seconds(server) - cpu_before[0]) / steady_s * 100 if server else None
    client_cpu = (process_seconds(me) - cpu_before[1]) / steady_s * 100
    steady = recorder.in_phase("steady")

    print(f"steady    {steady_s:.1f} s at a target of {args.rate:g} msg/s")
    print(f"  connections held     {held} / {count}")
    print(f"  messages/s achieved  {len(steady) / steady_s:.1f}  ({len(steady)} answered of {sent[0]} sent)")
    print("  round trip ms        " + "  ".join(
        f"{name} {percentile(steady, q) * 1000:.1f}" for name, q in (("p50", .5), ("p95", .95), ("p99", .99),
                                                                   ("max", 1.0))))
    for (phase, action), rtts in sorted(recorder.round_trips.items()):
        if phase == "steady":
            rtts = sorted(rtts)
            print(f"    {action:<18} {len(rtts):>7}  p50 {percentile(rtts, .5) * 1000:.1f}  "
                  f"p99 {percentile(rtts, .99) * 1000:.1f}  max {rtts[-1] * 1000:.1f}")
    if server:
        print(f"  server RSS MB        start {rss_start_mb:.0f}, end {rss_end_mb:.0f}")
        print(f"  CPU (% of one core)  server {server_cpu:.0f}, this client {client_cpu:.0f}")

    # teardown, as fast as the server answers
    in_flight = asyncio.Semaphore(TEARDOWN_IN_FLIGHT)
    await asyncio.gather(*(tear_down(s, in_flight) for s in stations))
    teardown_rtts = recorder.in_phase("teardown")
    print(f"teardown  {len(teardown_rtts)} transactions stopped; round trip p99 "
          f"{percentile(teardown_rtts, .99) * 1000:.1f} ms")
    print(f"errors    {recorder.errors}  (CALLERROR {recorder.call_errors}, timeouts {recorder.timeouts}, "
          f"lost connections {recorder.disconnects}, failed connects {recorder.connect_failures}, "
          f"boots not accepted {recorder.not_accepted})")
    for (action, code), count in recorder.call_error_kinds.most_common(5):
        print(f"  CALLERROR {code} to {action}: {count}")
    for sample in recorder.samples:
        print(f"  {sample}")
    return recorder


def find_listener(port: int) -> psutil.Process | None:
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            return psutil.Process(conn.pid)
    return None


def spawn_server(port: int) -> tuple[subprocess.Popen, str]:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    log = tempfile.NamedTemporaryFile("w", prefix="ocpp-load-server-", suffix=".log", delete=False)
    # Production mode, as a real deployment runs: DEBUG off (Django would otherwise keep
    # every SQL statement in memory), a real secret key, no socket timeout.
    env = {**os.environ, "DEBUG": "false", "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50)}
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.serve", "--workers", "1", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    return process, log.name


def worker_of(process: subprocess.Popen, timeout_s: float = 30) -> psutil.Process:
    """The server process gateway.serve started (memory and CPU are its, not the supervisor's)."""
    supervisor = psutil.Process(process.pid)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        children = supervisor.children()
        if children:
            return children[0]
        time.sleep(0.1)
    return supervisor


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main(argv=None) -> int:
    args = parse_args(argv)
    parts = urlsplit(args.url)
    if parts.scheme != "ws" or parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("only ws:// to this machine (127.0.0.1) is benchmarked")
    raise_open_file_limit(args.stations + 256)
    setup_django()
    spawned, log_path = None, None
    try:
        if args.spawn_server:
            if find_listener(parts.port) is not None:
                sys.exit(f"port {parts.port} is taken: stop that server or drop --spawn-server")
            spawned, log_path = spawn_server(parts.port)
            print(f"started python -m gateway.serve (pid {spawned.pid}) on port {parts.port}; its log: {log_path}")
        if not asyncio.run(wait_for_server(args.url, 60 if spawned else 5)):
            sys.exit(f"nothing listens at {args.url}")
        if spawned:
            server = worker_of(spawned)
        elif args.server_pid:
            server = psutil.Process(args.server_pid)
        else:
            server = find_listener(parts.port)
        recorder = asyncio.run(run(args, server))
    finally:
        if spawned is not None:
            stop_server(spawned)
    return 1 if recorder.errors else 0


if __name__ == "__main__":
    sys.exit(main())
