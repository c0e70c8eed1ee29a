"""Which station a handshake names, and whether a station is online.

Presence lives in the database (``is_online`` + ``connection_id``), not in channel-layer
groups: a group_send to an empty group succeeds silently, so "offline" must come from here.
"""

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Value, When
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


def stations_for_handshakes(*, station_ids: list[str]) -> dict[str, ChargingStation]:
    """The stations many handshakes name, in one indexed query; with
    CHARGENET_AUTO_REGISTER the unknown ones are held as Pending."""
    wanted = set(station_ids)
    found = {station.station_id: station for station in ChargingStation.objects.filter(station_id__in=wanted)}
    if settings.CHARGENET_AUTO_REGISTER:
        for station_id in wanted - found.keys():
            found[station_id] = station_for_handshake(station_id=station_id)
    return found


@transaction.atomic
def mark_connected_many(*, connections: list[tuple[int, str, str]]) -> list[str]:
    """Mark many stations online at once: (station pk, connection id, OCPP version) each.
    One UPDATE for a whole reconnect burst instead of one per handshake; when a station
    appears twice, its last connection wins. Returns, per connection, the connection id
    that held the station before ("" when none), so only those replace anybody."""
    if not connections:
        return []
    holders = dict(
        ChargingStation.objects.select_for_update()
        .filter(pk__in={pk for pk, _, _ in connections})
        .values_list("pk", "connection_id")
    )
    previous = []
    latest: dict[int, tuple[str, str]] = {}
    for station_pk, connection_id, version in connections:
        previous.append(holders.get(station_pk) or "")
        holders[station_pk] = connection_id
        latest[station_pk] = (connection_id, version)
    now = timezone.now()
    ChargingStation.objects.filter(pk__in=latest).update(
        is_online=True,
        connected_at=now,
        last_seen=now,
        connection_id=Case(
            *[When(pk=pk, then=Value(connection_id)) for pk, (connection_id, _) in latest.items()],
            default=F("connection_id"),
        ),
        ocpp_version=Case(
            *[When(pk=pk, then=Value(version)) for pk, (_, version) in latest.items()],
            default=F("ocpp_version"),
        ),
    )
    for station_pk in latest:
        announce_on_commit(station_presence_changed, station_pk=station_pk, online=True)
    return previous


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


def mark_disconnected_many(*, connections: list[tuple[int, str]]) -> list[bool]:
    """Mark offline each (station pk, connection id) whose connection still holds the
    station, in one transaction; per pair, whether it did."""
    wanted = set(connections)
    if not wanted:
        return []
    with transaction.atomic():
        current = set(
            ChargingStation.objects.select_for_update()
            .filter(pk__in={pk for pk, _ in wanted})
            .values_list("pk", "connection_id")
        )
        gone = wanted & current
        if gone:
            ChargingStation.objects.filter(pk__in={pk for pk, _ in gone}).update(
                is_online=False, connection_id="", last_seen=timezone.now()
            )
            for station_pk, _ in gone:
                announce_on_commit(station_presence_changed, station_pk=station_pk, online=False)
    return [pair in gone for pair in connections]


def mark_disconnected(*, station_pk: int, connection_id: str) -> bool:
    """Mark offline, unless another connection of the station has taken over meanwhile."""
    with transaction.atomic():
        updated = ChargingStation.objects.filter(pk=station_pk, connection_id=connection_id).update(
            is_online=False, connection_id="", last_seen=timezone.now()
        )
        if updated:
            announce_on_commit(station_presence_changed, station_pk=station_pk, online=False)
    return bool(updated)
