#!/usr/bin/env python
"""A fleet against ChargeNet and against the bare yardstick, in one run with one client.

    python benchmarks/fleet.py --stations 10000 --workers 2 --clients 4 --hold 600 --kill

Starts ``python -m gateway.serve --server S --workers W`` (S: uvicorn, or daphne to compare;
DEBUG off; W > 1 needs REDIS_URL) on --port and ``benchmarks/bare_server.py --workers W`` on --bare-port, registers the
stations in the database of DATABASE_URL, and measures, with --clients client processes
(each holding its share of the sockets):

storm       all stations open their sockets at once (half OCPP 1.6, half 2.0.1), boot,
            report status, and --charging-share of them start a transaction: accepted and
            refused handshakes, time until all are done, handshake and round-trip p99;
memory      server RSS per held idle connection (all workers together; the growth from
            before the storm, so each worker's warm-up counts too: small runs overstate it);
hold        --hold seconds at a realistic mix: a Heartbeat every --heartbeat s per
            station, MeterValues / TransactionEvent every --meter-interval s per charging
            one: round trip p50/p99, dropped connections, timeouts, CALLERRORs;
saturation  for each count in --saturation-stations, that many stations send back to back
            for --saturation s: msg/s and p99, ChargeNet and the bare server; the best
            rate with p99 under --p99-limit ms counts (the ratio of the two is the target);
            and the CPU time the server's processes and PostgreSQL's spent per message;
kill        (--kill) kill -9 of one ChargeNet worker during --kill-window s of load: how
            many stations dropped, how long until all were back (the supervisor restarts
            the worker; stations reconnect after 0-1 s).

Ends with a Markdown table for the README. Exits 1 when a handshake was refused or a
connection dropped outside the kill.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

import psutil  # noqa: E402
from ocpp_load import SUBPROTOCOLS, RawStation, Recorder, percentile, raise_open_file_limit  # noqa: E402

VERSIONS = list(SUBPROTOCOLS)


@dataclass(frozen=True)
class Member:
    """What a client process needs of a station (picklable without Django)."""

    station_id: str
    password: str
    id_token: str


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=200)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="ChargeNet (and bare) processes")
    parser.add_argument("--clients", type=int, default=1, help="client processes sharing the stations")
    parser.add_argument("--port", type=int, default=8200, help="ChargeNet's port")
    parser.add_argument("--bare-port", type=int, default=8300, help="the bare server's port")
    parser.add_argument("--charging-share", type=float, default=0.3)
    parser.add_argument("--hold", type=float, default=20, help="seconds of held fleet (the target: 600)")
    parser.add_argument("--heartbeat", type=float, default=300)
    parser.add_argument("--meter-interval", type=float, default=60)
    parser.add_argument("--saturation", type=float, default=10, help="seconds of back-to-back load per server")
    parser.add_argument("--saturation-stations", default="10,25,50,100",
                        help="comma-separated numbers of stations sending back to back")
    parser.add_argument("--p99-limit", type=float, default=100, help="ms; the saturation rate counted")
    parser.add_argument("--kill", action="store_true", help="kill -9 one ChargeNet worker under load")
    parser.add_argument("--kill-window", type=float, default=30)
    parser.add_argument("--timeout", type=float, default=60, help="seconds a handshake or an answer may take")
    parser.add_argument("--prefix", default="FLEET-")
    parser.add_argument("--server", choices=("uvicorn", "daphne"), default="uvicorn",
                        help="ChargeNet's ASGI server (gateway.serve --server)")
    parser.add_argument("--skip-bare", action="store_true")
    return parser.parse_args(argv)


# --- client processes ----------------------------------------------------------------


class Client:
    """The stations of one client process; the orchestrator drives it command by command."""

    def __init__(self, members: list, indices: list[int], timeout_s: float, charging_share: float):
        self.members = members
        self.indices = indices
        self.timeout_s = timeout_s
        self.charging_share = charging_share
        self.stations: list[RawStation] = []

    def _charges(self, index: int) -> bool:
        return (index * 7919) % 1000 < self.charging_share * 1000

    async def storm(self, url: str) -> dict:
        recorder = Recorder()
        self.stations = [RawStation(m, VERSIONS[i % 2], url, recorder, self.timeout_s)
                         for m, i in zip(self.members, self.indices, strict=True)]
        handshakes: list[float] = []

        async def one(station: RawStation, index: int) -> None:
            started = time.perf_counter()
            if not await station.connect():
                return
            handshakes.append(time.perf_counter() - started)
            if not await station.boot():
                return
            await station.status("Available")
            if self._charges(index):
                if station.version == "2.0.1":
                    await station.status("Occupied")
                if await station.start_transaction() and station.version == "1.6":
                    await station.status("Charging")

        started_at = time.time()
        await asyncio.gather(*(one(s, i) for s, i in zip(self.stations, self.indices, strict=True)))
        return {"started_at": started_at, "done_at": time.time(), "accepted": sum(s.alive for s in self.stations),
                "refused": recorder.connect_failures, "handshakes": handshakes,
                "rtts": recorder.in_phase("setup"), **errors_of(recorder)}

    async def hold(self, seconds: float, heartbeat_s: float, meter_s: float, reconnect: bool) -> dict:
        recorder = Recorder()
        for station in self.stations:
            station.recorder = recorder
        loop = asyncio.get_running_loop()
        end_at = loop.time() + seconds
        back_after: list[float] = []

        async def drive(station: RawStation, rng: random.Random) -> None:
            next_heartbeat = loop.time() + rng.uniform(0, heartbeat_s)
            next_meter = loop.time() + rng.uniform(0, meter_s) if station.transaction_id is not None else None
            while loop.time() < end_at:
                if not station.alive:
                    if not reconnect:
                        return
                    dropped_at = loop.time()
                    while loop.time() < end_at + 60:
                        await asyncio.sleep(rng.uniform(0, 1))
                        station.closing, station.reader = False, None
                        if await station.connect():
                            back_after.append(loop.time() - dropped_at)
                            await station.heartbeat()
                            break
                    continue
                due = min(next_heartbeat, next_meter or end_at)
                await asyncio.sleep(max(0.0, min(due, end_at) - loop.time()))
                if loop.time() >= end_at:
                    break
                if next_meter is not None and loop.time() >= next_meter:
                    await station.meter_values()
                    next_meter += meter_s
                if loop.time() >= next_heartbeat:
                    await station.heartbeat()
                    next_heartbeat += heartbeat_s
                await asyncio.sleep(0.05 if reconnect else 0)  # the kill window polls for drops

        rng = random.Random(self.indices[0] if self.indices else 0)
        await asyncio.gather(*(drive(s, random.Random(rng.random())) for s in self.stations))
        return {"rtts": recorder.in_phase("steady"), "held": sum(s.alive for s in self.stations),
                "back_after": back_after, **errors_of(recorder)}

    async def saturate(self, seconds: float, count: int) -> dict:
        recorder = Recorder()
        chosen = [s for s in self.stations if s.alive][:count]
        for station in chosen:
            station.recorder = recorder
        end_at = asyncio.get_running_loop().time() + seconds

        async def drive(station: RawStation) -> None:
            while station.alive and asyncio.get_running_loop().time() < end_at:
                if station.transaction_id is not None:
                    await station.meter_values()
                else:
                    await station.heartbeat()

        started = time.perf_counter()
        await asyncio.gather(*(drive(s) for s in chosen))
        return {"rtts": recorder.in_phase("steady"), "seconds": time.perf_counter() - started, **errors_of(recorder)}

    async def close(self) -> dict:
        for station in self.stations:
            station.closing = True
        await asyncio.gather(*(s.close() for s in self.stations), return_exceptions=True)
        self.stations = []
        return {}


def errors_of(recorder: Recorder) -> dict:
    return {"call_errors": recorder.call_errors, "timeouts": recorder.timeouts, "disconnects": recorder.disconnects,
            "samples": recorder.samples}


def client_main(conn, members, indices, timeout_s, charging_share, open_files) -> None:
    raise_open_file_limit(open_files)
    client = Client(members, indices, timeout_s, charging_share)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        while True:
            command, *params = await loop.run_in_executor(None, conn.recv)
            if command == "exit":
                conn.send({})
                return
            conn.send(await getattr(client, command)(*params))

    asyncio.run(serve())


class Clients:
    def __init__(self, members, count: int, timeout_s: float, charging_share: float, open_files: int):
        self.pipes, self.processes = [], []
        context = multiprocessing.get_context("spawn")
        for k in range(count):
            indices = list(range(k, len(members), count))
            parent, child = context.Pipe()
            process = context.Process(target=client_main, args=(
                child, [members[i] for i in indices], indices, timeout_s, charging_share, open_files))
            process.start()
            self.pipes.append(parent)
            self.processes.append(process)

    def run(self, *command) -> list[dict]:
        for pipe in self.pipes:
            pipe.send(command)
        return [pipe.recv() for pipe in self.pipes]

    def stop(self) -> None:
        self.run("exit")
        for process in self.processes:
            process.join(timeout=30)


def merged(results: list[dict], key: str) -> list:
    return sorted(value for result in results for value in result.get(key, []))


def total(results: list[dict], key: str) -> int:
    return sum(result.get(key, 0) for result in results)


def ms(values: list[float], q: float) -> str:
    return f"{percentile(values, q) * 1000:.1f}" if values else "-"


def problems(results: list[dict]) -> str:
    text = (f"CALLERROR {total(results, 'call_errors')}, timeouts {total(results, 'timeouts')}, "
            f"dropped {total(results, 'disconnects')}")
    samples = [s for r in results for s in r.get("samples", [])][:3]
    return text + "".join(f"\n      {s}" for s in samples)


# --- servers -------------------------------------------------------------------------


def spawn(command: list[str], env: dict, name: str) -> tuple[subprocess.Popen, str]:
    log = tempfile.NamedTemporaryFile("w", prefix=f"fleet-{name}-", suffix=".log", delete=False)
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    return process, log.name


def wait_http(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if json.load(response).get("status") == "ok":
                    return
        except (OSError, ValueError):
            time.sleep(0.3)
    sys.exit(f"{url} not ready within {timeout_s} s")


def wait_tcp(port: int, timeout_s: float) -> None:
    import socket

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"nothing listens on {port} within {timeout_s} s")


def workers_of(process: subprocess.Popen) -> list[psutil.Process]:
    parent = psutil.Process(process.pid)
    children = parent.children(recursive=True)
    return children or [parent]


def rss_mb(process: subprocess.Popen) -> float:
    total_rss = 0
    for worker in workers_of(process):
        try:
            total_rss += worker.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total_rss / 2**20


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# --- the run -------------------------------------------------------------------------


def storm_and_hold(label: str, clients: Clients, url: str, server: subprocess.Popen, args, report: dict) -> None:
    rss_before = rss_mb(server)
    storm = clients.run("storm", url)
    took = max(r["done_at"] for r in storm) - min(r["started_at"] for r in storm)
    accepted, refused = total(storm, "accepted"), total(storm, "refused")
    handshakes, rtts = merged(storm, "handshakes"), merged(storm, "rtts")
    print(f"[{label}] storm      {accepted}/{args.stations} accepted, {refused} refused, all done in {took:.1f} s; "
          f"handshake p50 {ms(handshakes, .5)} p99 {ms(handshakes, .99)} ms; round trip p99 {ms(rtts, .99)} ms\n"
          f"      {problems(storm)}")
    time.sleep(2)
    per_connection_kb = (rss_mb(server) - rss_before) * 1024 / max(accepted, 1)
    print(f"[{label}] memory     {rss_before:.0f} -> {rss_mb(server):.0f} MB: "
          f"{per_connection_kb:.0f} KB per held connection")
    report[label] = {"accepted": accepted, "refused": refused, "storm_s": took, "kb": per_connection_kb}


def cpu_seconds(processes: list[psutil.Process]) -> dict[int, float]:
    """CPU seconds (user + system) so far, per pid."""
    spent = {}
    for process in processes:
        try:
            times = process.cpu_times()
            spent[process.pid] = times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return spent


def cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two readings by the processes in both (a database backend
    that ended meanwhile takes its time with it, so its share is missed, never negative)."""
    return sum(after[pid] - before[pid] for pid in before.keys() & after.keys())


def postgres_processes() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] in ("postgres", "postmaster")]


def saturate(label: str, clients: Clients, server: subprocess.Popen, args) -> dict:
    """Back-to-back load at each station count; the best rate whose p99 stays under the limit
    (else the best rate, its p99 showing by how much it missed). Also the CPU time the
    server's processes and PostgreSQL's spent per answered message."""
    levels = []
    for count in (int(n) for n in str(args.saturation_stations).split(",") if n.strip()):
        workers, database = workers_of(server), postgres_processes()
        cpu_before = cpu_seconds(workers), cpu_seconds(database)
        results = clients.run("saturate", args.saturation, max(1, count // args.clients))
        server_s = cpu_spent(cpu_before[0], cpu_seconds(workers))
        database_s = cpu_spent(cpu_before[1], cpu_seconds(database))
        rtts, seconds = merged(results, "rtts"), max(r["seconds"] for r in results)
        rate, p99_ms = len(rtts) / seconds, percentile(rtts, .99) * 1000 if rtts else float("inf")
        levels.append((p99_ms <= args.p99_limit, rate, p99_ms))
        per_message = 1e6 / max(len(rtts), 1)
        print(f"[{label}] saturation {count} stations back to back: {rate:.0f} msg/s, "
              f"p50 {ms(rtts, .5)} p99 {ms(rtts, .99)} ms; CPU per message: server {server_s * per_message:.0f} us, "
              f"PostgreSQL {database_s * per_message:.0f} us\n      {problems(results)}")
    within = [level for level in levels if level[0]]
    _, rate, p99_ms = max(within or levels, key=lambda level: level[1])
    return {"rate": rate, "p99": f"{p99_ms:.1f}"}


def main(argv=None) -> int:
    args = parse_args(argv)
    open_files = args.stations + 1024  # per process: no process holds more than the whole fleet
    raise_open_file_limit(open_files)
    if args.workers > 1 and not os.environ.get("REDIS_URL"):
        sys.exit("--workers > 1 needs REDIS_URL (ChargeNet's workers share the Redis channel layer)")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chargenet.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from stations.management.commands.simulate import fleet_members, prepare_fleet

    call_command("migrate", interactive=False, verbosity=0)
    members = fleet_members(args.prefix, args.stations)
    prepare_fleet(members)
    members = [Member(m.station_id, m.password, m.id_token) for m in members]
    env = {**os.environ, "DEBUG": "false", "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
           "PKI_EXI_WARMUP": "false"}
    report: dict = {}
    failed = False

    chargenet, log = spawn([sys.executable, "-m", "gateway.serve", "--server", args.server,
                            "--workers", str(args.workers), "--port", str(args.port)], env, "chargenet")
    print(f"ChargeNet: {args.workers} {args.server} worker(s) on {args.port}, log {log}")
    clients = Clients(members, args.clients, args.timeout, args.charging_share, open_files)
    try:
        wait_http(f"http://127.0.0.1:{args.port}/readyz", 120)
        url = f"ws://127.0.0.1:{args.port}/ocpp"
        storm_and_hold("ChargeNet", clients, url, chargenet, args, report)
        failed |= report["ChargeNet"]["refused"] > 0

        hold = clients.run("hold", args.hold, args.heartbeat, args.meter_interval, False)
        rtts = merged(hold, "rtts")
        print(f"[ChargeNet] hold       {args.hold:g} s: {len(rtts)} answered, held {total(hold, 'held')}; "
              f"round trip p50 {ms(rtts, .5)} p99 {ms(rtts, .99)} ms\n      {problems(hold)}")
        report["hold"] = {"p99": ms(rtts, .99), "dropped": total(hold, "disconnects") + total(hold, "timeouts")}
        failed |= report["hold"]["dropped"] > 0

        report["ChargeNet"].update(saturate("ChargeNet", clients, chargenet, args))

        if args.kill:
            victim = random.choice(workers_of(chargenet))
            killer = subprocess.Popen([sys.executable, "-c", f"import os,signal,time; time.sleep(3); "
                                       f"os.kill({victim.pid}, signal.SIGKILL)"])
            kill = clients.run("hold", args.kill_window, 10, 10, True)
            killer.wait()
            back = merged(kill, "back_after")
            print(f"[ChargeNet] kill -9    worker pid {victim.pid}: {len(back)} stations dropped and came back, "
                  f"all within {back[-1] if back else 0:.1f} s; {total(kill, 'held')} held at the end")
            report["kill"] = {"dropped": len(back), "back_s": back[-1] if back else 0.0}
        clients.run("close")
    finally:
        stop(chargenet)

    if not args.skip_bare:
        bare, log = spawn([sys.executable, "benchmarks/bare_server.py", "--workers", str(args.workers),
                           "--port", str(args.bare_port)], env, "bare")
        try:
            wait_tcp(args.bare_port, 30)
            time.sleep(0.5)
            storm_and_hold("bare", clients, f"ws://127.0.0.1:{args.bare_port}/ocpp", bare, args, report)
            report["bare"].update(saturate("bare", clients, bare, args))
            clients.run("close")
        finally:
            stop(bare)
    clients.stop()

    cn, bare_report = report["ChargeNet"], report.get("bare", {})
    ratio = f"{cn['rate'] / bare_report['rate']:.2f}x" if bare_report.get("rate") else "-"
    print("\n| stations | workers | storm: accepted / refused, all done | hold p99, dropped | "
          "saturation msg/s (p99 ms) | bare msg/s (p99 ms) | ratio | KB per idle connection (bare) | "
          "kill -9: back within |")
    print("|---|---|---|---|---|---|---|---|---|")
    kill_text = f"{report['kill']['dropped']} in {report['kill']['back_s']:.1f} s" if "kill" in report else "-"
    print(f"| {args.stations:,} | {args.workers} | {cn['accepted']:,} / {cn['refused']}, {cn['storm_s']:.1f} s | "
          f"{report['hold']['p99']} ms, {report['hold']['dropped']} | {cn['rate']:,.0f} ({cn['p99']}) | "
          f"{bare_report.get('rate', 0):,.0f} ({bare_report.get('p99', '-')}) | {ratio} | "
          f"{cn['kb']:.0f} ({bare_report.get('kb', 0):.0f}) | {kill_text} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
