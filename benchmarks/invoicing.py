#!/usr/bin/env python
"""Invoicing at scale: time and memory of ``run_invoicing`` for N CDRs, and for N/10.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/chargenet python benchmarks/invoicing.py
    python benchmarks/invoicing.py --cdrs 20000            # SQLite, in a temporary file

It never touches the database DATABASE_URL names: on that PostgreSQL server it (re)creates a
dedicated database, ``chargenet_bench_invoicing`` by default (the name must contain "bench"),
migrates it and drops it at the end (``--keep`` keeps it). With SQLite it uses a temporary file.

For each size it bulk-loads a month of CDRs: N CDRs over N/50 customers (the --per-customer
ratio), one or two VAT lines each (19 %, 7 %, 0 % and no VAT), plus 2 % CDRs without a customer
and 3 % in the month before as noise. Then it runs the invoicing of the month twice on the same
data (the invoices deleted in between): once for wall time and peak RSS (sampled every 5 ms,
minus the RSS before the run; the run happens in a fresh child process so the loading does
not hide it), once under tracemalloc for the peak of Python allocations.
Memory that stays flat from N/10 to N shows the run streams instead of holding CDRs.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import psutil  # noqa: E402

LOAD_BATCH = 5000
VAT_RATES = [Decimal("19"), Decimal("7"), Decimal("0"), None]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cdrs", type=int, default=100_000, help="N, CDRs in the month (default 100000)")
    parser.add_argument("--per-customer", type=int, default=50, help="CDRs per customer (default 50)")
    parser.add_argument("--sizes", default="0.1,1", help="fractions of N to run, in order (default 0.1,1)")
    parser.add_argument("--database-name", default="chargenet_bench_invoicing")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--measure-period", help=argparse.SUPPRESS)  # internal: the measuring child
    return parser.parse_args(argv)


# --- the database ---------------------------------------------------------------------

def prepare_database(args) -> tuple[str, callable]:
    """Point DATABASE_URL at a fresh benchmark database; return its URL and a cleanup."""
    if "bench" not in args.database_name:
        raise SystemExit("refusing: the benchmark database's name must contain 'bench'")
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        import psycopg

        parts = urlsplit(url)
        admin_url = urlunsplit(parts._replace(path="/postgres"))
        bench_url = urlunsplit(parts._replace(path=f"/{args.database_name}"))
        if parts.path.lstrip("/") == args.database_name:
            raise SystemExit("refusing: DATABASE_URL already names the benchmark database")

        def run(statement: str) -> None:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(statement)

        run(f'DROP DATABASE IF EXISTS "{args.database_name}"')
        run(f'CREATE DATABASE "{args.database_name}"')

        def cleanup():
            from django.db import connections

            connections.close_all()
            if not args.keep:
                run(f'DROP DATABASE IF EXISTS "{args.database_name}"')

        return bench_url, cleanup
    if url and not url.startswith("sqlite"):
        raise SystemExit(f"unsupported DATABASE_URL for this benchmark: {url.split(':')[0]}")
    folder = tempfile.mkdtemp(prefix="chargenet-bench-")
    path = Path(folder) / f"{args.database_name}.sqlite3"

    def cleanup():
        if not args.keep:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            os.rmdir(folder)

    return f"sqlite:///{path}", cleanup


def setup_django(database_url: str, migrate: bool = True) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chargenet.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    # As in production: with DEBUG on, Django keeps every statement's SQL in memory.
    settings.DEBUG = False

    call_command("migrate", verbosity=0)


# --- the data -------------------------------------------------------------------------

BENCH_TABLES = [  # children first
    "billing_invoiceline", "billing_invoice", "billing_invoiceseries", "billing_cdrvatline",
    "billing_chargedetailrecord", "stations_chargingsession", "stations_chargingstation", "stations_driver",
]


def _empty(tables: list[str]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        else:
            for table in tables:
                cursor.execute(f"DELETE FROM {table}")


def clear_all() -> None:
    _empty(BENCH_TABLES)


def clear_invoices() -> None:
    _empty(BENCH_TABLES[:3])


def load_month(*, cdrs: int, per_customer: int, period_start: datetime, rng: random.Random) -> dict:
    """Bulk-insert a month of priced sessions, LOAD_BATCH rows per statement."""
    from billing.models import CdrVatLine, ChargeDetailRecord
    from stations.models import ChargingSession, ChargingStation, Driver, SessionStatus

    customers = max(1, cdrs // per_customer)
    run_id = uuid.uuid4().hex[:6]
    drivers = Driver.objects.bulk_create(
        [Driver(email=f"bench-{run_id}-{n}@example.com", name=f"Customer {n}") for n in range(customers)],
        batch_size=LOAD_BATCH,
    )
    driver_ids = [d.pk for d in drivers]
    stations = ChargingStation.objects.bulk_create(
        [ChargingStation(station_id=f"BENCH-{run_id}-{n}") for n in range(max(1, cdrs // 500))]
    )
    month_seconds = 28 * 24 * 3600
    noise_without_customer = cdrs // 50
    noise_previous_month = cdrs * 3 // 100
    total = cdrs + noise_without_customer + noise_previous_month
    written = 0
    while written < total:
        size = min(LOAD_BATCH, total - written)
        specs = []
        for i in range(written, written + size):
            offset = timedelta(seconds=rng.randrange(month_seconds))
            if i < cdrs:
                driver_id, ended = driver_ids[i % customers], period_start + offset
            elif i < cdrs + noise_without_customer:
                driver_id, ended = None, period_start + offset
            else:
                driver_id, ended = rng.choice(driver_ids), period_start - timedelta(seconds=1) - offset
            specs.append((driver_id, ended, rng.choice(stations)))
        sessions = ChargingSession.objects.bulk_create([
            ChargingSession(station=station, transaction_id=uuid.uuid4().hex[:20], driver_id=driver_id,
                            status=SessionStatus.COMPLETED, started_at=ended - timedelta(hours=1), stopped_at=ended,
                            energy_wh=20_000)
            for driver_id, ended, station in specs
        ])
        records, vat_lines = [], []
        for (driver_id, ended, station), session in zip(specs, sessions, strict=True):
            lines = [(rng.choice(VAT_RATES), Decimal(rng.randrange(100, 5000)) / 100)]
            if rng.random() < 0.3:
                lines.append((None, Decimal(rng.randrange(0, 300)) / 100))  # e.g. a parking fee without VAT
            lines = [(rate, base, (base * rate / 100).quantize(Decimal("0.01")) if rate else Decimal("0.00"))
                     for rate, base in lines]
            excl = sum(b for _, b, _ in lines)
            vat = sum(v for _, _, v in lines)
            records.append(ChargeDetailRecord(
                session=session, cdr_id=f"B{session.pk:012d}-{run_id}", driver_id=driver_id,
                station_id_text=station.station_id, site_name="Bench Site", start_date_time=ended - timedelta(hours=1),
                end_date_time=ended, currency="EUR", total_energy_kwh=Decimal("20.000"), total_time_h=Decimal("1"),
                total_cost_excl_vat=excl, total_vat=vat, total_cost_incl_vat=excl + vat, tariff={}, breakdown={},
            ))
            vat_lines.append(lines)
        records = ChargeDetailRecord.objects.bulk_create(records)
        CdrVatLine.objects.bulk_create([
            CdrVatLine(cdr_id=record.pk, vat_rate=rate, base=base, vat=vat)
            for record, lines in zip(records, vat_lines, strict=True) for rate, base, vat in lines
        ])
        written += size
    analyze()
    return {"customers": customers, "cdrs_in_month": cdrs, "noise": noise_without_customer + noise_previous_month}


def analyze() -> None:
    """Fresh planner statistics after a bulk load, as autovacuum would give a real database."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


# --- measuring ------------------------------------------------------------------------

class RssSampler:
    """Peak resident memory of this process while the block runs, sampled every 5 ms."""

    def __init__(self):
        self.process = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self):
        self.baseline = self.process.memory_info().rss
        self.peak = self.baseline
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def delta_mib(self) -> float:
        return (self.peak - self.baseline) / 2**20


class QueryCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def measure(size: int, args, period: str, period_start: datetime, rng: random.Random) -> dict:
    """Load the data here, invoice it in a fresh child process (so its RSS is the run's own)."""
    clear_all()
    started = time.perf_counter()
    shape = load_month(cdrs=size, per_customer=args.per_customer, period_start=period_start, rng=rng)
    load_s = time.perf_counter() - started
    from django.db import connections

    connections.close_all()
    child = subprocess.run(
        [sys.executable, __file__, "--measure-period", period], env=os.environ.copy(),
        capture_output=True, text=True, check=False,
    )
    if child.returncode != 0:
        raise SystemExit(f"the measuring process failed:\n{child.stderr}")
    return {**shape, "load_s": load_s, **json.loads(child.stdout.strip().splitlines()[-1])}


def measure_here(period: str) -> dict:
    """In the child: invoice the period twice (invoices deleted in between), first for wall time,
    queries and memory high-water marks, then under tracemalloc."""
    from django.db import connection

    from billing.invoicing import run_invoicing

    connection.ensure_connection()
    clear_invoices()
    counter = QueryCounter()
    with RssSampler() as rss, connection.execute_wrapper(counter):
        started = time.perf_counter()
        result = run_invoicing(period=period)
        wall_s = time.perf_counter() - started

    clear_invoices()
    tracemalloc.start()
    traced = run_invoicing(period=period)
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert traced.invoices_created == result.invoices_created and traced.lines_created == result.lines_created
    return {
        "wall_s": wall_s, "queries": counter.count, "invoices": result.invoices_created,
        "lines": result.lines_created, "without_customer": result.skipped_without_customer,
        "rss_before_mib": rss.baseline / 2**20, "rss_delta_mib": rss.delta_mib,
        "tracemalloc_peak_mib": traced_peak / 2**20,
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.measure_period:
        setup_django(os.environ["DATABASE_URL"], migrate=False)
        print(json.dumps(measure_here(args.measure_period)))
        return 0
    database_url, cleanup = prepare_database(args)
    try:
        setup_django(database_url)
        from django.db import connection

        from billing.invoicing import parse_period, previous_period

        period = previous_period()
        period_start = parse_period(period).start
        rng = random.Random(args.seed)
        sizes = [max(1, int(args.cdrs * float(f))) for f in args.sizes.split(",")]
        print(f"database: {connection.vendor} {connection.settings_dict['NAME']}; period {period}; "
              f"{args.per_customer} CDRs per customer", flush=True)
        print(f"{'CDRs':>9} {'customers':>9} {'invoices':>8} {'lines':>9} {'queries':>7} {'wall s':>7} "
              f"{'CDR/s':>8} {'RSS MiB':>8} {'RSS +MiB':>8} {'py peak MiB':>11} {'load s':>7}",
              flush=True)
        for size in sizes:
            row = measure(size, args, period, period_start, rng)
            assert row["lines"] == size, row
            print(f"{size:>9} {row['customers']:>9} {row['invoices']:>8} {row['lines']:>9} {row['queries']:>7} "
                  f"{row['wall_s']:>7.2f} {size / row['wall_s']:>8.0f} {row['rss_before_mib']:>8.1f} "
                  f"{row['rss_delta_mib']:>8.1f} {row['tracemalloc_peak_mib']:>11.2f} "
                  f"{row['load_s']:>7.1f}", flush=True)
    finally:
        cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
