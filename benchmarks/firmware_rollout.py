#!/usr/bin/env python
"""Firmware rollout at scale: creating a campaign for N stations and ticking it to the end.

    python benchmarks/firmware_rollout.py --stations 10000            # SQLite, in a temporary file
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/chargenet_bench_firmware python benchmarks/firmware_rollout.py

With DATABASE_URL the database's name must contain "bench": it is migrated and its
ChargeNet tables filled. Stations are spread over sites in several time zones (no
maintenance window, so every tick may claim). Each tick claims up to --concurrency
stations; the benchmark then confirms each claimed station through the services the OCPP
handlers call (accepted, Downloading, Installing, boot with the new version). It prints the
time to create the campaign and per tick (claim; report handling per station).
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--wave-size", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=200)
    args = parser.parse_args(argv)

    if os.environ.get("DATABASE_URL"):
        if "bench" not in os.environ["DATABASE_URL"].rsplit("/", 1)[-1]:
            sys.exit("DATABASE_URL must name a database whose name contains 'bench'")
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chargenet.settings")
    os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp())
    import django

    django.setup()
    from django.core.files.base import ContentFile
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from stations.firmware import rollout
    from stations.firmware.catalog import add_firmware
    from stations.firmware.models import CampaignStation, FirmwareCampaign, FirmwareImage
    from stations.models import ChargingStation, Site
    from stations.simulator import sim_firmware

    CampaignStation.objects.all().delete()
    FirmwareCampaign.objects.all().delete()
    FirmwareImage.objects.all().delete()
    ChargingStation.objects.filter(station_id__startswith="BENCH-FW-").delete()
    zones = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC"]
    sites = [Site.objects.get_or_create(name=f"Bench {z}", organization=None, defaults={"time_zone": z})[0]
             for z in zones]
    ChargingStation.objects.bulk_create(
        [ChargingStation(station_id=f"BENCH-FW-{n:06d}", site=sites[n % len(sites)], vendor="ChargeNet",
                         model="Simulator", firmware_version="sim-1.0", is_online=True)
         for n in range(args.stations)], batch_size=2000,
    )
    firmware = add_firmware(version="bench-2.0", vendor="ChargeNet", station_models=["Simulator"],
                            file=ContentFile(sim_firmware("bench-2.0"), name="bench.bin"))

    started = time.perf_counter()
    campaign = rollout.create_campaign(name="bench", firmware=firmware, models=["Simulator"], canary_percent=1,
                                       wave_size=args.wave_size, max_concurrent=args.concurrency, start=True)
    created_s = time.perf_counter() - started

    claim_s, report_s, ticks, claimed_total = [], [], 0, 0
    while True:
        t0 = time.perf_counter()
        claimed = rollout.advance_campaign(campaign_id=campaign.pk)
        claim_s.append(time.perf_counter() - t0)
        ticks += 1
        campaign.refresh_from_db()
        if not claimed and campaign.status != "running":
            break
        claimed_total += len(claimed)
        t0 = time.perf_counter()
        for member in CampaignStation.objects.filter(pk__in=claimed).values("pk", "station_id"):
            rollout.record_dispatch(member_id=member["pk"], accepted=True)
            rollout.record_firmware_status(station_pk=member["station_id"], status="Downloading")
            rollout.record_firmware_status(station_pk=member["station_id"], status="Installing")
            rollout.record_boot_version(station_pk=member["station_id"], firmware_version="bench-2.0")
        if claimed:
            report_s.append((time.perf_counter() - t0) / len(claimed))

    print(f"database: {django.db.connection.vendor}; stations: {args.stations}; wave size {args.wave_size}; "
          f"concurrency {args.concurrency}")
    print(f"create_campaign: {created_s:.2f} s")
    print(f"ticks: {ticks}; stations claimed: {claimed_total}; campaign {campaign.status}")
    print(f"tick (claim) time: median {statistics.median(claim_s) * 1000:.1f} ms, max {max(claim_s) * 1000:.1f} ms")
    if report_s:
        print(f"reports per station (dispatch + 2 statuses + boot): median {statistics.median(report_s) * 1000:.2f} ms")
    print(f"progress: {rollout.progress(campaign)}")


if __name__ == "__main__":
    main()
