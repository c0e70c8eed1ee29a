"""``manage.py simulate``: simulated charging stations that boot, charge and report.

The stations are registered first, in the database this command shares with the server,
with passwords derived from SECRET_KEY: a rerun (or the load benchmark) knows them
without storing them anywhere.
"""

import asyncio
import hashlib
import hmac
import signal
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from stations import credentials
from stations.models import Car, ChargingStation, Driver, IdToken
from stations.services import registry
from stations.simulator import (
    FIRMWARE_BEHAVIOURS,
    VERSIONS,
    SimulatedStation,
    SimulationStats,
    Timing,
    run_fleet,
    wait_for_server,
)

# Up to this many stations go through the registry services one by one; more are bulk-created.
BULK_THRESHOLD = 50


@dataclass(frozen=True)
class FleetMember:
    station_id: str
    password: str
    id_token: str

    @property
    def driver_email(self) -> str:
        return f"driver-{self.id_token.lower()}@simulator.invalid"


def _derive(purpose: str, station_id: str) -> str:
    message = f"chargenet-simulator:{purpose}:{station_id}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def fleet_members(prefix: str, count: int) -> list[FleetMember]:
    """``count`` stations ``<prefix>01``...; password and id token derived from SECRET_KEY."""
    width = max(2, len(str(count)))  # DEMO-01.. as seed_demo names them
    station_ids = [f"{prefix}{n:0{width}d}" for n in range(1, count + 1)]
    return [
        FleetMember(
            station_id=station_id,
            password=_derive("password", station_id)[:32],
            # Looks like a 7-byte RFID UID, and fits a 1.6 idTag (20 characters at most).
            id_token=_derive("id-token", station_id)[:14].upper(),
        )
        for station_id in station_ids
    ]


def firmware_behaviours(spec: str, count: int) -> list[str]:
    """Each station's firmware behaviour from ``fail_install:10,silent:5`` (percent of the fleet),
    spread evenly over the fleet; the rest update fine."""
    behaviours = ["ok"] * count
    position = 0
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, percent = item.partition(":")
        if name not in FIRMWARE_BEHAVIOURS or name == "ok":
            raise CommandError(f"unknown firmware behaviour {name!r}")
        try:
            share = float(percent)
        except ValueError:
            raise CommandError(f"--firmware-failures needs BEHAVIOUR:PERCENT, not {item!r}") from None
        for _ in range(round(count * share / 100)):
            if position >= count:
                raise CommandError("--firmware-failures adds up to more than 100%")
            behaviours[position] = name
            position += 1
    # Spread the failing ones over the fleet (and so over the waves).
    step = 7 if count % 7 else 1
    return [behaviours[(n * step) % count] for n in range(count)]


def prepare_fleet(members: list[FleetMember]) -> None:
    """Make sure each station exists with its password (security profile 1) and has an id token."""
    for member in members:
        registry.validate_station_id(member.station_id)
    if len(members) <= BULK_THRESHOLD:
        for member in members:
            registry.register_station(station_id=member.station_id, password=member.password, security_profile=1)
            registry.register_id_token(value=member.id_token, driver_email=member.driver_email)
        return
    with transaction.atomic():
        _bulk_prepare(members)


def _bulk_prepare(members: list[FleetMember]) -> None:
    passwords = {m.station_id: m.password for m in members}
    ChargingStation.objects.bulk_create(
        [ChargingStation(station_id=m.station_id, password_hash=credentials.hash_password(m.password),
                         security_profile=1) for m in members],
        ignore_conflicts=True, batch_size=500,
    )
    # Stations that existed keep their row: repair those whose password is not ours
    # (registered by hand, or under another SECRET_KEY).
    stale = []
    for chunk in _chunks(list(passwords)):
        for station in ChargingStation.objects.filter(station_id__in=chunk):
            password = passwords[station.station_id]
            if station.security_profile != 1 or not credentials.check_password(password, station.password_hash):
                station.password_hash = credentials.hash_password(password)
                station.security_profile = 1
                stale.append(station)
    ChargingStation.objects.bulk_update(stale, ["password_hash", "security_profile"], batch_size=500)

    Driver.objects.bulk_create([Driver(email=m.driver_email) for m in members], ignore_conflicts=True, batch_size=500)
    driver_pks = {}
    for chunk in _chunks([m.driver_email for m in members]):
        driver_pks.update(Driver.objects.filter(email__in=chunk).values_list("email", "pk"))
    IdToken.objects.bulk_create(
        [IdToken(value=m.id_token, driver_id=driver_pks[m.driver_email]) for m in members],
        ignore_conflicts=True, batch_size=500,
    )


def give_cars(members: list[FleetMember], *, battery_kwh: float) -> int:
    """``--bidirectional``: each simulated card that charges no car yet gets a car that may
    discharge (permission is per car; a session on no car never discharges). Cars a user set
    up (or restricted) are left alone. Returns how many cars were made."""
    made = 0
    with transaction.atomic():
        for chunk in _chunks([m.id_token for m in members]):
            tokens = list(IdToken.objects.select_for_update().filter(value__in=chunk, car__isnull=True,
                                                                     driver__isnull=False))
            cars = Car.objects.bulk_create([
                Car(driver_id=t.driver_id, name=f"Simulated car {t.value}", allow_discharge=True,
                    battery_capacity_kwh=round(battery_kwh, 1)) for t in tokens])
            for token, car in zip(tokens, cars):
                token.car = car
            IdToken.objects.bulk_update(tokens, ["car"])
            made += len(cars)
    return made


def _chunks(items: list, size: int = 500):
    # SQLite limits the parameters of one query.
    for start in range(0, len(items), size):
        yield items[start:start + size]


class Command(BaseCommand):
    help = "Run simulated charging stations (OCPP 1.6J / 2.0.1 / 2.1) against the CSMS: they boot, charge and report."

    def create_parser(self, prog_name, subcommand, **kwargs):
        # --version here is the OCPP version; it replaces Django's "print Django's version".
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("--stations", type=int, default=1, help="how many stations (default 1)")
        parser.add_argument("--url", default="ws://127.0.0.1:8000/ocpp", help="the CSMS's OCPP endpoint")
        parser.add_argument("--version", choices=[*VERSIONS, "mixed"], default="mixed",
                            help="OCPP version; mixed alternates 1.6, 2.0.1 and 2.1 (default)")
        parser.add_argument("--duration", type=float, default=0, help="seconds to run; 0 (default) until Ctrl-C")
        parser.add_argument("--meter-interval", type=float, default=10, help="seconds between meter values")
        parser.add_argument("--session-seconds", type=float, default=120, help="length of a charging session")
        parser.add_argument("--pause-seconds", type=float, default=120,
                            help="idle time between sessions (default 120: idle stations take firmware updates)")
        parser.add_argument("--heartbeat-interval", type=float, default=None,
                            help="seconds between heartbeats (default: what the CSMS sets at boot)")
        parser.add_argument("--power-kw", type=float, default=11, help="charging power (default 11 kW)")
        parser.add_argument("--bidirectional", action="store_true",
                            help="2.1 stations' cars may discharge (V2X): they send V2X charging needs, and each "
                                 "simulated card without a car gets one that allows discharge")
        parser.add_argument("--departure-hours", type=float, default=6,
                            help="2.1 V2X: when the cars say they leave, hours after the start (default 6)")
        parser.add_argument("--battery-kwh", type=float, default=60,
                            help="each car's battery (default 60 kWh); its SoC follows what it draws and feeds")
        parser.add_argument("--initial-soc", type=float, default=40,
                            help="each car's state of charge when it plugs in, %% (default 40)")
        parser.add_argument("--prefix", default="SIM-", help="station id prefix (default SIM-)")
        parser.add_argument("--ramp", type=float, default=None,
                            help="seconds over which the stations connect (default: 100 stations a second)")
        parser.add_argument("--wait", type=float, default=120, help="seconds to wait for the server to come up")
        parser.add_argument("--firmware-failures", default="",
                            help="how some stations go through a firmware update: BEHAVIOUR:PERCENT,... with "
                                 f"behaviours {', '.join(b for b in FIRMWARE_BEHAVIOURS if b != 'ok')} "
                                 "(e.g. fail_install:10,silent:5); the others update fine")

    def handle(self, *args, **options):
        count = options["stations"]
        if count < 1:
            raise CommandError("--stations must be at least 1")
        if options["battery_kwh"] <= 0 or not 0 <= options["initial_soc"] <= 100:
            raise CommandError("--battery-kwh must be above 0 and --initial-soc between 0 and 100")
        url = options["url"].rstrip("/")
        members = fleet_members(options["prefix"], count)
        try:
            registry.validate_station_id(members[-1].station_id)
        except registry.RegistrationError as error:
            raise CommandError(f"--prefix gives station ids like {members[-1].station_id!r}: {error}") from None

        if not asyncio.run(wait_for_server(url, 0)):
            self.stdout.write(f"Waiting for the CSMS at {url} ...")
            if not asyncio.run(wait_for_server(url, options["wait"])):
                raise CommandError(f"nothing listens at {url} after {options['wait']:g} s")
        prepare_fleet(members)
        if options["bidirectional"]:
            made = give_cars(members, battery_kwh=options["battery_kwh"])
            if made:
                self.stdout.write(f"{made} simulated card(s) now charge a car that may discharge.")

        timing = Timing(
            heartbeat_interval_s=options["heartbeat_interval"],
            meter_interval_s=options["meter_interval"],
            session_s=options["session_seconds"],
            pause_s=options["pause_seconds"],
        )
        stats = SimulationStats()
        versions = VERSIONS if options["version"] == "mixed" else [options["version"]]
        behaviours = firmware_behaviours(options["firmware_failures"], count)
        stations = [
            SimulatedStation(
                member.station_id, member.password, url=url, version=versions[n % len(versions)],
                id_token=member.id_token, power_w=int(options["power_kw"] * 1000), timing=timing, stats=stats,
                firmware_behaviour=behaviours[n], bidirectional=options["bidirectional"],
                departure_s=options["departure_hours"] * 3600,
                battery_wh=options["battery_kwh"] * 1000, initial_soc=options["initial_soc"],
            )
            for n, member in enumerate(members)
        ]
        ramp_s = options["ramp"] if options["ramp"] is not None else count / 100
        until = f"for {options['duration']:g} s" if options["duration"] else "until Ctrl-C"
        self.stdout.write(f"Simulating {count} station(s) ({options['version']}) against {url} {until}.")

        started = time.monotonic()
        try:
            asyncio.run(self._simulate(stations, duration_s=options["duration"], ramp_s=ramp_s))
        except KeyboardInterrupt:
            self.stderr.write("Interrupted: sessions in progress were left open.")
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"Ran {elapsed:.0f} s: {stats.sessions_completed} sessions completed, "
            f"{stats.messages_sent} messages sent, {stats.errors} errors "
            f"({stats.call_errors} CALLERROR, {stats.timeouts} timeouts, {stats.refused} refused handshakes, "
            f"{stats.disconnects} lost connections)."
        )
        for station in stations:  # what the displays showed, where the CSMS sent prices or costs
            for transaction_id, shown in station.shown.items():
                running = shown["running"]
                self.stdout.write(
                    f"{station.station_id} showed for transaction {transaction_id}: price {shown['price']!r}, "
                    f"{len(running)} running costs (last {running[-1] if running else None}), "
                    f"final cost {shown['final']}"
                )

    async def _simulate(self, stations: list[SimulatedStation], *, duration_s: float, ramp_s: float) -> None:
        # The first Ctrl-C (or SIGTERM, as `make run` sends) lets the stations end their
        # sessions; a second one stops at once.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)

        def on_signal():
            self.stdout.write("Stopping: ending sessions (Ctrl-C again to quit at once) ...")
            stop.set()
            for signum in signals:
                loop.remove_signal_handler(signum)

        for signum in signals:
            loop.add_signal_handler(signum, on_signal)
        try:
            await run_fleet(stations, duration_s=duration_s, ramp_s=ramp_s, stop=stop)
        finally:
            for signum in signals:
                loop.remove_signal_handler(signum)
