#!/usr/bin/env python
"""A V2G day on one site: what bidirectional charging does to the grid connection.

    python benchmarks/v2g_day.py [--seed 1] [--cars 24] [--grid-a 160] [--export-kw 30]

One office and depot site behind 3x160 A (230 V, 110 kW), with a building that draws 35 kW at
night, 60-75 kW by day and 125 kW from 17:00 to 20:00 (kitchen, heat pumps, lifts): more than
the connection. A day-ahead price curve: cheap at night and around noon (PV), dear in the
morning and evening peaks. Cars (seeded random): commuters 07:00-09:30 until 16:30-18:30,
residents 16:30-19:30 until 06:30-08:00 the next morning, each asking for 8-30 kWh by
departure, charging at 7.4-22 kW (one or three phases); about two thirds may discharge (a
bidirectional car and a driver who allowed it), down to 5-25 kWh below what they arrived with.

The planner (``stations.load_management.plan_v2x``) plans the day in 15-minute slots twice:
once with no car allowed to discharge (what ChargeNet did before V2X) and once with V2X. It
prints the peak import with and without V2X against the connection, the import above the
limit that remained, energy exported to the grid (never beyond --export-kw), energy the cars
gave back, the import cost at the day-ahead prices, and each car's energy at departure
against its request. Pure Python, no Django.
"""

import argparse
import random
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from stations.load_management import SiteLimit, V2xDemand, V2xPlan, plan_v2x  # noqa: E402  (no Django needed)

DAY = datetime(2025, 6, 2, tzinfo=UTC)
VOLTAGE_V = 230.0
SLOT = timedelta(minutes=15)


def at(hours: float) -> datetime:
    return DAY + timedelta(hours=hours)


BUILDING = [(at(0), 35_000), (at(7), 60_000), (at(9), 75_000), (at(12), 65_000), (at(17), 125_000),
            (at(20), 50_000), (at(22), 35_000)]
PRICES = [(at(0), 0.14), (at(6), 0.24), (at(7), 0.32), (at(9), 0.22), (at(11), 0.12), (at(15), 0.20),
          (at(17), 0.41), (at(21), 0.26), (at(22), 0.16)]
CAR_TYPES = [(0.25, 7_400, 1), (0.45, 11_000, 3), (0.30, 22_000, 3)]  # (share, W, phases)


def make_cars(seed: int, count: int) -> list[V2xDemand]:
    rng = random.Random(seed)
    cars = []
    for i in range(count):
        commuter = i < count * 0.6
        arrive = rng.uniform(7, 9.5) if commuter else rng.uniform(16.5, 19.5)
        leave = rng.uniform(16.5, 18.5) if commuter else 24 + rng.uniform(6.5, 8)
        share, watts, phases = rng.random(), 0, 3
        for type_share, type_watts, type_phases in CAR_TYPES:
            share -= type_share
            if share <= 0:
                watts, phases = type_watts, type_phases
                break
        watts, phases = watts or CAR_TYPES[-1][1], phases
        cars.append(V2xDemand(
            session_id=f"car-{i:02d}",
            max_charge_w=watts,
            max_discharge_w=watts,
            may_discharge=rng.random() < 2 / 3,
            plugged_in=at(arrive),
            departure=at(leave),
            energy_request_wh=rng.randrange(8_000, 30_001, 500),
            floor_wh=-rng.randrange(5_000, 25_001, 1_000),
            phases=phases,
            phase=rng.choice([1, 2, 3]),
        ))
    return cars


def import_cost(plan: V2xPlan) -> float:
    """The site's net energy at the day-ahead prices (export earns the same price)."""
    cost = 0.0
    for (begin, end), watts in zip(plan.slots, plan.grid_w, strict=True):
        price = [p for t, p in PRICES if t <= begin][-1]
        cost += watts * (end - begin).total_seconds() / 3600 / 1000 * price
    return cost


def given_back_wh(plan: V2xPlan) -> float:
    return sum(
        -watts * (end - begin).total_seconds() / 3600
        for powers in plan.power_w.values()
        for watts, (begin, end) in zip(powers, plan.slots, strict=True)
        if watts < 0
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cars", type=int, default=24, help="60 %% commuters, 40 %% residents")
    parser.add_argument("--grid-a", type=float, default=160.0)
    parser.add_argument("--export-kw", type=float, default=30.0)
    args = parser.parse_args()

    site = SiteLimit(max_current_a=args.grid_a, voltage_v=VOLTAGE_V)
    limit_kw = args.grid_a * VOLTAGE_V * 3 / 1000
    cars = make_cars(args.seed, args.cars)
    common = {"start": DAY, "site_load": BUILDING, "price": PRICES, "slot": SLOT, "export_limit_w": args.export_kw * 1000}

    started = time.perf_counter()
    without = plan_v2x(site, [replace(c, may_discharge=False) for c in cars], **common)
    with_v2x = plan_v2x(site, cars, **common)
    runtime = time.perf_counter() - started

    print(f"site: 3x{args.grid_a:g} A = {limit_kw:.1f} kW import, export limit {args.export_kw:g} kW; "
          f"building peak {max(w for _, w in BUILDING) / 1000:.0f} kW (17:00-20:00)")
    print(f"cars: {len(cars)}, {sum(c.may_discharge for c in cars)} may discharge; "
          f"requested {sum(c.energy_request_wh for c in cars) / 1000:.1f} kWh")
    print()
    print(f"{'':34}{'without V2X':>14}{'with V2X':>14}")
    rows = [
        ("peak import (kW)", lambda p: max(p.grid_w) / 1000),
        ("import above the limit (kWh)", lambda p: sum(o * SLOT.total_seconds() / 3600 for o in p.overload_w) / 1000),
        ("slots over the limit", lambda p: sum(1 for o in p.overload_w if o > 1e-6)),
        ("peak export (kW)", lambda p: max(0.0, -min(p.grid_w)) / 1000),
        ("energy exported to the grid (kWh)", lambda p: p.exported_wh() / 1000),
        ("energy cars gave back (kWh)", lambda p: given_back_wh(p) / 1000),
        ("delivered to cars, net (kWh)", lambda p: sum(p.energy_wh.values()) / 1000),
        ("site energy cost (EUR)", import_cost),
    ]
    for label, measure in rows:
        print(f"{label:34}{measure(without):>14.1f}{measure(with_v2x):>14.1f}")
    print()
    print(f"{'car':8}{'V2X':>5}{'kW':>6}{'in':>7}{'out':>7}{'request kWh':>13}{'at departure':>14}{'gave back':>11}")
    for car in cars:
        back = sum(-w * (e - b).total_seconds() / 3600 for w, (b, e) in zip(
            with_v2x.power_w[car.session_id], with_v2x.slots, strict=True) if w < 0)
        print(f"{car.session_id:8}{'yes' if car.may_discharge else 'no':>5}{car.max_charge_w / 1000:>6.1f}" + " "
              + f"{car.plugged_in:%H:%M}".rjust(6) + f"{car.departure:%H:%M}".rjust(7)
              + f"{car.energy_request_wh / 1000:>13.1f}{with_v2x.energy_wh[car.session_id] / 1000:>14.1f}"
              f"{back / 1000:>11.1f}")
    short = [c.session_id for c in cars if with_v2x.shortfall_wh[c.session_id] > 1]
    print()
    print(f"cars below their request at departure: {len(short)} {short if short else ''}")
    print(f"planner runtime (both plans): {runtime:.2f} s")


if __name__ == "__main__":
    main()
