"""BootNotification: the station says who it is."""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from stations.firmware import rollout
from stations.models import ChargingStation
from stations.signals import announce_on_commit, station_booted


BOOT_FIELDS = ["vendor", "model", "serial_number", "firmware_version", "iccid", "imsi", "boot_reason", "last_boot_at",
               "last_seen"]


def _apply_boot(station: ChargingStation, *, vendor, model, serial_number, firmware_version, iccid, imsi, reason,
                now) -> None:
    station.vendor = vendor[:50]
    station.model = model[:50]
    station.serial_number = (serial_number or "")[:50]
    station.firmware_version = (firmware_version or "")[:50]
    station.iccid = (iccid or "")[:20]
    station.imsi = (imsi or "")[:20]
    station.boot_reason = (reason or "")[:30]
    station.last_boot_at = now
    station.last_seen = now


@dataclass(frozen=True)
class BootReport:
    """One BootNotification, as ``record_boot`` takes it."""

    station_pk: int
    vendor: str
    model: str
    serial_number: str = ""
    firmware_version: str = ""
    iccid: str = ""
    imsi: str = ""
    reason: str = ""


@transaction.atomic
def record_boots(reports: list[BootReport]) -> list[str | None]:
    """Many stations' boots in one transaction, each as ``record_boot`` records it: one query
    locks the stations, one writes them, one looks for firmware updates in flight. Returns
    each station's registration status (None for a station that no longer exists)."""
    stations = ChargingStation.objects.select_for_update().order_by("pk").in_bulk({r.station_pk for r in reports})
    now = timezone.now()
    booted = {}
    for report in reports:
        station = stations.get(report.station_pk)
        if station is None:
            continue
        _apply_boot(station, vendor=report.vendor, model=report.model, serial_number=report.serial_number,
                    firmware_version=report.firmware_version, iccid=report.iccid, imsi=report.imsi,
                    reason=report.reason, now=now)
        booted[station.pk] = station
    if booted:
        ChargingStation.objects.bulk_update(list(booted.values()), BOOT_FIELDS)
    updating = rollout.stations_with_update_in_flight(list(booted))
    for station in booted.values():
        announce_on_commit(station_booted, station_pk=station.pk, registration_status=station.registration_status)
        if station.pk in updating:
            rollout.record_boot_version(station_pk=station.pk, firmware_version=station.firmware_version)
    return [booted[r.station_pk].registration_status if r.station_pk in booted else None for r in reports]


@transaction.atomic
def record_boot(
    *,
    station_pk: int,
    vendor: str,
    model: str,
    serial_number: str = "",
    firmware_version: str = "",
    iccid: str = "",
    imsi: str = "",
    reason: str = "",
) -> str:
    """Store the station's identity and return its registration status (the boot answer)."""
    station = ChargingStation.objects.select_for_update().get(pk=station_pk)
    _apply_boot(station, vendor=vendor, model=model, serial_number=serial_number, firmware_version=firmware_version,
                iccid=iccid, imsi=imsi, reason=reason, now=timezone.now())
    station.save(update_fields=BOOT_FIELDS)
    announce_on_commit(station_booted, station_pk=station_pk, registration_status=station.registration_status)
    # The version a station boots with confirms (or fails) a firmware update in progress.
    rollout.record_boot_version(station_pk=station.pk, firmware_version=station.firmware_version)
    return station.registration_status
