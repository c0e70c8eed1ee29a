#!/usr/bin/env python
"""Site load management through a day: 50 stations on one grid connection.

    python benchmarks/site_load.py [--seed 1] [--stations 50] [--cars 110]

One site behind 3x250 A (230 V), lowered to 3x160 A from 07:30 to 18:30 while the building
draws the rest (--site-a, --daytime-a). Every station is a 22 kW (3x32 A) EVSE; most are wired to L1, a few rotated
to L2 and L3, so single-phase cars load the phases unevenly. Two stations reject charging
profiles (counted at their maximum); one is offline 13:00-14:00.

Cars arrive through the day (seeded random): commuters in the morning, visitors around
midday, residents in the evening. Each takes a free station or is turned away, and leaves at
its departure time. A car draws what its station allows, but no more than it can: its own
maximum (3.7 to 22 kW, one or three phases), half of it while its battery is cold, less and
less above 80 % state of charge, nothing once it has its energy or when allowed less than
6 A. The allocator only knows the EVSE maximum, the phases, the last meter value and the
limit the station holds, so it must find slow cars itself.

The allocator runs every minute (meter values) and on every arrival and departure, looking
ahead to the next minute. The whole day is run twice: once sending a charging profile
whenever a session's limit changes, once through the RebalancePolicy (dead-band, minimum
interval). It prints, for both: the site limit, the peak of the limits stations hold
(what they are allowed) and of what cars draw, against the limit in force; the share of
capacity used; energy delivered against requested; cars fully served; profile messages;
and the runtime.
"""

import argparse
import random
import sys
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from stations.load_management import (  # noqa: E402  (no Django needed)
    RebalancePolicy,
    SentProfile,
    SessionDemand,
    SiteLimit,
    SiteLimitPeriod,
    allocate,
    fallback_default_limit,
)

DAY = datetime(2025, 6, 2, tzinfo=UTC)
VOLTAGE_V = 230.0
EVSE_MAX_A = 32.0
EVSE_MAX_W = EVSE_MAX_A * VOLTAGE_V * 3
BUILDING_HOURS = (timedelta(hours=7, minutes=30), timedelta(hours=18, minutes=30))
REJECTING = {0}  # station indexes
OFFLINE = {2: (DAY + timedelta(hours=13), DAY + timedelta(hours=14))}
CAR_TYPES = [  # (share, max power W, phases)
    (0.10, 16 * VOLTAGE_V, 1),
    (0.20, 32 * VOLTAGE_V, 1),
    (0.50, 16 * VOLTAGE_V * 3, 3),
    (0.20, 32 * VOLTAGE_V * 3, 3),
]
TICK = timedelta(minutes=1)


def site_limit(connection_a: float, daytime_a: float) -> SiteLimit:
    """The grid connection, lowered while the building draws its share."""
    start, end = BUILDING_HOURS
    return SiteLimit(
        max_current_a=connection_a,
        voltage_v=VOLTAGE_V,
        schedule=(SiteLimitPeriod(DAY + start, max_current_a=daytime_a), SiteLimitPeriod(DAY + end)),
    )


@dataclass
class Car:
    car_id: str
    arrival: datetime
    departure: datetime
    max_power_w: float
    phases: int
    battery_wh: float
    soc: float  # state of charge, 0..1
    target_soc: float
    cold_until: datetime
    requested_wh: float = 0.0
    delivered_wh: float = 0.0
    station: int | None = None
    draw_w: float = 0.0
    meter_w: float | None = None  # last meter value the CSMS has
    suspended: bool = False  # the CSMS saw SuspendedEV: offered power, took none

    def __post_init__(self):
        self.requested_wh = (self.target_soc - self.soc) * self.battery_wh

    def wants_w(self, now: datetime) -> float:
        """What the car would draw if allowed everything."""
        if self.soc >= self.target_soc:
            return 0.0
        power = self.max_power_w * (0.5 if now < self.cold_until else 1.0)
        if self.soc > 0.8:  # taper: linearly down to 10 % of the maximum at 100 %
            power *= 1 - 0.9 * (self.soc - 0.8) / 0.2
        return power

    def respond(self, allowed_w: float, now: datetime) -> None:
        minimum_w = 6 * VOLTAGE_V * self.phases
        self.draw_w = 0.0 if allowed_w < minimum_w else min(allowed_w, self.wants_w(now))
        if allowed_w >= minimum_w:  # the station reports SuspendedEV, or Charging
            self.suspended = self.draw_w == 0

    def charge(self, seconds: float) -> None:
        energy = self.draw_w * seconds / 3600
        self.delivered_wh += energy
        self.soc = min(self.target_soc, self.soc + energy / self.battery_wh)


def make_cars(rnd: random.Random, count: int) -> list[Car]:
    cars = []
    for i in range(count):
        kind = rnd.random()
        if kind < 0.4:  # commuters
            arrival_h, dwell_h = rnd.gauss(8.3, 0.8), rnd.uniform(6, 10)
        elif kind < 0.8:  # visitors
            arrival_h, dwell_h = rnd.uniform(9.5, 17), rnd.uniform(0.75, 3)
        else:  # residents
            arrival_h, dwell_h = rnd.uniform(17, 21), rnd.uniform(2, 6)
        arrival = DAY + timedelta(hours=min(max(arrival_h, 5.0), 22.0))
        departure = min(arrival + timedelta(hours=dwell_h), DAY + timedelta(hours=23, minutes=59))
        pick, cumulative = rnd.random(), 0.0
        for share, max_power_w, phases in CAR_TYPES:  # noqa: B007  (the one picked is used below)
            cumulative += share
            if pick <= cumulative:
                break
        cold = rnd.random() < 0.15
        cars.append(
            Car(
                car_id=f"car-{i:03d}",
                arrival=arrival,
                departure=departure,
                max_power_w=max_power_w,
                phases=phases,
                battery_wh=rnd.choice([40_000, 58_000, 77_000]),
                soc=rnd.uniform(0.2, 0.7),
                target_soc=rnd.choice([0.8, 0.9, 1.0]),
                cold_until=arrival + timedelta(hours=1) if cold else arrival,
            )
        )
    return cars


def station_phase(station: int, stations: int) -> int:
    """Three fifths of the stations on L1 (no phase rotation at installation), a fifth each on
    L2 and L3: where single-phase cars plug in decides which phase fills first."""
    if station < stations * 0.6:
        return 1
    return 2 if station < stations * 0.8 else 3


def default_profile(site: SiteLimit, stations: int):
    """The TxDefaultProfile every station holds before its session's first profile."""
    rejecting = [SessionDemand(f"station-{s}", max_current_a=EVSE_MAX_A, profile_rejected=True) for s in REJECTING]
    return fallback_default_limit(site, stations - len(REJECTING), evse_max_current_a=EVSE_MAX_A, unmanaged=rejecting)


@dataclass
class Run:
    messages: int = 0
    allocations: int = 0
    allocate_s: float = 0.0
    turned_away: int = 0
    peak_held_ratio: float = 0.0
    peak_held: str = ""
    peak_drawn_ratio: float = 0.0
    peak_drawn: str = ""
    over_limit: int = 0
    used_wh: float = 0.0
    capacity_wh: float = 0.0
    congested_used_wh: float = 0.0
    congested_capacity_wh: float = 0.0
    cars: list[Car] = field(default_factory=list)


def simulate(site: SiteLimit, cars: list[Car], stations: int, policy: RebalancePolicy | None) -> Run:
    run = Run(cars=cars)
    phases = {s: station_phase(s, stations) for s in range(stations)}
    default_w = default_profile(site, stations).limit_w
    sent: dict[str, SentProfile] = {}
    free = set(range(stations))
    plugged: dict[str, Car] = {}
    events = sorted(
        [(car.arrival, 1, car) for car in cars]
        + [(car.departure, 0, car) for car in cars]
        + [(DAY + i * TICK, 2, None) for i in range(24 * 60)],
        key=lambda e: (e[0], e[1]),
    )

    def offline(station: int, now: datetime) -> bool:
        span = OFFLINE.get(station)
        return span is not None and span[0] <= now < span[1]

    def held_w(car: Car) -> float:
        if car.station in REJECTING:
            return EVSE_MAX_A * VOLTAGE_V * car.phases
        return sent[car.car_id].limit_w if car.car_id in sent else default_w

    def rebalance(now: datetime) -> None:
        demands = [
            SessionDemand(
                car.car_id,
                max_current_a=EVSE_MAX_A,
                phases=car.phases,
                phase=phases[car.station],
                measured_power_w=car.meter_w,
                allowed_power_w=held_w(car),
                profile_rejected=car.station in REJECTING,
                offline=offline(car.station, now),
                suspended_ev=car.suspended,
                arrival=int(car.arrival.timestamp()),
            )
            for car in plugged.values()
        ]
        started = time.perf_counter()
        allocation = allocate(site, demands, at=now, until=now + TICK + timedelta(seconds=1))
        run.allocate_s += time.perf_counter() - started
        run.allocations += 1
        if policy is not None:
            due = policy.due(allocation, sent)
        else:
            due = [
                sid
                for sid, limit in allocation.limits.items()
                if limit.controlled and (sid not in sent or sent[sid].limit_w != limit.limit_w)
            ]
        for sid in due:
            sent[sid] = SentProfile(limit_w=allocation.limits[sid].limit_w, sent_at=now)
        run.messages += len(due)

    def measure(now: datetime) -> None:
        """Limits held and power drawn, against the site limit in force."""
        limit = site.lowest(now)
        held, drawn = [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]
        for car in plugged.values():
            for p in (1, 2, 3):
                share = 1 / 3 if car.phases == 3 else float(p == phases[car.station])
                held[p - 1] += share * held_w(car) / VOLTAGE_V
                drawn[p - 1] += share * car.draw_w / VOLTAGE_V
        busiest_held, busiest_drawn = max(held), max(drawn)
        if busiest_held > limit.max_current_a + 1e-6:
            run.over_limit += 1
        if busiest_held / limit.max_current_a > run.peak_held_ratio:
            run.peak_held_ratio = busiest_held / limit.max_current_a
            run.peak_held = f"{busiest_held:.1f} A of {limit.max_current_a:.0f} A at {now:%H:%M}"
        if busiest_drawn / limit.max_current_a > run.peak_drawn_ratio:
            run.peak_drawn_ratio = busiest_drawn / limit.max_current_a
            run.peak_drawn = f"{busiest_drawn:.1f} A of {limit.max_current_a:.0f} A at {now:%H:%M}"

    now = DAY
    for when, kind, car in events:
        seconds = (when - now).total_seconds()
        if seconds > 0:
            phase_limit_w = site.lowest(now).max_current_a * VOLTAGE_V
            wanted, drawn = [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]
            for c in plugged.values():
                for p in (1, 2, 3):
                    share = 1 / 3 if c.phases == 3 else float(p == phases[c.station])
                    wanted[p - 1] += share * c.wants_w(now)
                    drawn[p - 1] += share * c.draw_w
            run.used_wh += sum(drawn) * seconds / 3600
            run.capacity_wh += 3 * phase_limit_w * seconds / 3600
            for p in range(3):
                if wanted[p] > phase_limit_w:  # cars on this phase wanted more than it carries
                    run.congested_used_wh += drawn[p] * seconds / 3600
                    run.congested_capacity_wh += phase_limit_w * seconds / 3600
            for c in plugged.values():
                c.charge(seconds)
        now = when

        if kind == 1:  # arrival
            candidates = sorted(s for s in free if not offline(s, now))
            if not candidates:
                run.turned_away += 1
                continue
            car.station = candidates[zlib.crc32(car.car_id.encode()) % len(candidates)]
            free.discard(car.station)
            plugged[car.car_id] = car
        elif kind == 0:  # departure
            if car.car_id not in plugged:
                continue
            del plugged[car.car_id]
            sent.pop(car.car_id, None)
            free.add(car.station)
            car.draw_w = 0.0
        else:  # tick: meter values from every car
            for c in plugged.values():
                c.meter_w = c.draw_w
        rebalance(now)
        for c in plugged.values():
            c.respond(held_w(c), now)
        measure(now)
    return run


def report(label: str, run: Run, wall_s: float) -> list[str]:
    served = [c for c in run.cars if c.station is not None]
    requested = sum(c.requested_wh for c in served)
    delivered = sum(c.delivered_wh for c in served)
    fully = sum(1 for c in served if c.delivered_wh >= c.requested_wh - 100)
    return [
        label,
        f"{run.peak_held} ({run.peak_held_ratio:.1%})",
        f"{run.peak_drawn} ({run.peak_drawn_ratio:.1%})",
        f"{run.over_limit}",
        f"{run.used_wh / run.capacity_wh:.1%}",
        f"{run.congested_used_wh / max(run.congested_capacity_wh, 1):.1%}",
        f"{delivered / 1000:.0f} of {requested / 1000:.0f} kWh ({delivered / requested:.1%})",
        f"{fully} of {len(served)} ({run.turned_away} turned away)",
        f"{run.messages}",
        f"{run.allocations}, {1000 * run.allocate_s / run.allocations:.2f} ms each",
        f"{wall_s:.1f} s",
    ]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--stations", type=int, default=50)
    parser.add_argument("--cars", type=int, default=110, help="arrivals through the day")
    parser.add_argument("--site-a", type=float, default=250, help="grid connection, A on each phase")
    parser.add_argument("--daytime-a", type=float, default=160, help="what the building leaves, 07:30-18:30")
    args = parser.parse_args(argv)
    policy = RebalancePolicy()
    site = site_limit(args.site_a, args.daytime_a)
    default = default_profile(site, args.stations)

    columns = []
    for label, rebalance_policy in (("every change sent", None), ("RebalancePolicy", policy)):
        cars = make_cars(random.Random(args.seed), args.cars)
        started = time.perf_counter()
        run = simulate(site, cars, args.stations, rebalance_policy)
        columns.append(report(label, run, time.perf_counter() - started))

    rows = [
        "",
        "peak allowed (limits held), busiest phase",
        "peak drawn, busiest phase",
        "instants over the limit (held)",
        "capacity used, whole day",
        "capacity used, phases where cars wanted more",
        "energy delivered",
        "cars fully served",
        "profile messages sent",
        "allocations",
        "runtime",
    ]
    print(
        f"site: 3x{args.site_a:.0f} A at {VOLTAGE_V:.0f} V ({3 * args.site_a * VOLTAGE_V / 1000:.1f} kW), "
        f"3x{args.daytime_a:.0f} A ({3 * args.daytime_a * VOLTAGE_V / 1000:.1f} kW) 07:30-18:30; "
        f"{args.stations} EVSEs of {EVSE_MAX_W / 1000:.1f} kW ({len(REJECTING)} rejecting profiles, "
        f"{len(OFFLINE)} offline 13:00-14:00); {args.cars} arrivals, seed {args.seed}"
    )
    print(f"fallback TxDefaultProfile per EVSE: {default.limit_w} W or {default.limit_a} A")
    print(
        f"policy: dead-band max({policy.dead_band_w:.0f} W, {policy.dead_band_ratio:.0%}), "
        f"min interval {policy.min_interval.total_seconds():.0f} s"
    )
    width = max(len(r) for r in rows) + 2
    col = max(len(c) for column in columns for c in column) + 2
    for i, row in enumerate(rows):
        print(f"{row:<{width}}" + "".join(f"{column[i]:<{col}}" for column in columns))


if __name__ == "__main__":
    main()
