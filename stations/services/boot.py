"""BootNotification: the station says who it is."""

from django.db import transaction
from django.utils import timezone

from stations.firmware import rollout
from stations.models import ChargingStation
from stations.signals import announce_on_commit, station_booted


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
    station.vendor = vendor[:50]
    station.model = model[:50]
    station.serial_number = (serial_number or "")[:50]
    station.firmware_version = (firmware_version or "")[:50]
    station.iccid = (iccid or "")[:20]
    station.imsi = (imsi or "")[:20]
    station.boot_reason = (reason or "")[:30]
    station.last_boot_at = timezone.now()
    station.last_seen = station.last_boot_at
    station.save(
        update_fields=[
            "vendor", "model", "serial_number", "firmware_version", "iccid", "imsi",
            "boot_reason", "last_boot_at", "last_seen",
        ]
    )
    announce_on_commit(station_booted, station_pk=station_pk, registration_status=station.registration_status)
    # The version a station boots with confirms (or fails) a firmware update in progress.
    rollout.record_boot_version(station_pk=station.pk, firmware_version=station.firmware_version)
    return station.registration_status
