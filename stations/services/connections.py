"""Which station a handshake names, and whether a station is online.

Presence lives in the database (``is_online`` + ``connection_id``), not in channel-layer
groups: a group_send to an empty group succeeds silently, so "offline" must come from here.
"""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from stations.models import ChargingStation, RegistrationStatus
from stations.signals import announce_on_commit, station_presence_changed


def station_for_handshake(*, station_id: str) -> ChargingStation | None:
    """The station a handshake names; with CHARGENET_AUTO_REGISTER an unknown one is held as Pending."""
    station = ChargingStation.objects.filter(station_id=station_id).first()
    if station is None and settings.CHARGENET_AUTO_REGISTER:
        station, _ = ChargingStation.objects.get_or_create(
            station_id=station_id,
            defaults={"registration_status": RegistrationStatus.PENDING, "security_profile": 0},
        )
    return station


def mark_connected(*, station_pk: int, connection_id: str, ocpp_version: str) -> None:
    now = timezone.now()
    ChargingStation.objects.filter(pk=station_pk).update(
        is_online=True,
        connection_id=connection_id,
        ocpp_version=ocpp_version,
        connected_at=now,
        last_seen=now,
    )
    announce_on_commit(station_presence_changed, station_pk=station_pk, online=True)


def mark_disconnected(*, station_pk: int, connection_id: str) -> bool:
    """Mark offline, unless another connection of the station has taken over meanwhile."""
    with transaction.atomic():
        updated = ChargingStation.objects.filter(pk=station_pk, connection_id=connection_id).update(
            is_online=False, connection_id="", last_seen=timezone.now()
        )
        if updated:
            announce_on_commit(station_presence_changed, station_pk=station_pk, online=False)
    return bool(updated)
