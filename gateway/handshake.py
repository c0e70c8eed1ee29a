"""Who may connect: the station a WebSocket handshake names, checked against its security profile.

A station with a password must present it (HTTP Basic, user = station id). A station
without one is accepted only at security profile 0. Unknown stations are refused, unless
CHARGENET_AUTO_REGISTER holds them as Pending for an operator to approve. Profile 2 needs
TLS besides the password; profile 3 needs TLS and a client certificate of ours naming the
station (``pki.services.transport``) instead of a password.
"""

import base64
import binascii
from dataclasses import dataclass

from pki.services.transport import Transport, refusal_for as transport_refusal
from stations import credentials
from stations.models import ChargingStation
from stations.services.connections import station_for_handshake


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
    *, station_id: str, authorization: str | None, transport: Transport | None = None
) -> ChargingStation | ConnectionRefused:
    """The station behind a WebSocket handshake, or why it is refused."""
    station = station_for_handshake(station_id=station_id)
    if station is None:
        return ConnectionRefused("unknown station")
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
