"""Who may connect, and whether a station is online.

Presence lives in the database (``is_online`` + ``connection_id``), not in channel-layer
groups: a group_send to an empty group succeeds silently, so "offline" must come from here.
"""

import base64
import binascii
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from pki.services.transport import refusal_for as transport_refusal
from stations import credentials
from stations.models import ChargingStation, RegistrationStatus
from stations.signals import announce_on_commit, station_presence_changed


@dataclass(frozen=True)
class ConnectionRefused:
    reason: str


def parse_basic_auth(header: str | None) -> tuple[str, str] | None:
    """(user, password) from an ``Authorization: Basic ...`` header, or None."""
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep:
        return None
    return user, password


def authenticate_station(
    *, station_id: str, authorization: str | None, transport=None
) -> ChargingStation | ConnectionRefused:
    """The station behind a WebSocket handshake, or why it is refused.

    A station with a password must present it (HTTP Basic, user = station id). A station
    without one is accepted only at security profile 0. Unknown stations are refused,
    unless CHARGENET_AUTO_REGISTER holds them as Pending for an operator to approve.
    Profile 2 needs TLS besides the password; profile 3 needs TLS and a client certificate
    (``pki.services.transport``) instead of a password.
    """
    station = ChargingStation.objects.filter(station_id=station_id).first()
    if station is None:
        if not settings.CHARGENET_AUTO_REGISTER:
            return ConnectionRefused("unknown station")
        station, _ = ChargingStation.objects.get_or_create(
            station_id=station_id,
            defaults={"registration_status": RegistrationStatus.PENDING, "security_profile": 0},
        )
        return station
    # Security profiles 2 and 3: TLS, and for 3 a client certificate of ours naming the station.
    refusal = transport_refusal(station=station, transport=transport)
    if refusal is not None:
        return ConnectionRefused(refusal)
    if station.security_profile == 3:
        return station
    if station.password_hash:
        basic = parse_basic_auth(authorization)
        if basic is None:
            return ConnectionRefused("missing credentials")
        user, password = basic
        if user != station_id or not credentials.check_password(password, station.password_hash):
            return ConnectionRefused("bad credentials")
        return station
    if station.security_profile == 0:
        return station
    return ConnectionRefused(f"station has no password but requires security profile {station.security_profile}")


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
