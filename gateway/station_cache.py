"""Station credentials for handshakes, cached per process.

After a restart every charger reconnects at once; reading each one's row on its own
handshake made thousands of queries queue on the handshake threads until daphne gave up.
Here a station is read once (misses of the same moment share one ``station_id IN (...)``
query) and kept for ``OCPP_STATION_CACHE_TTL`` seconds.

A save or delete of a station in this process drops its entry at once (receivers in
``gateway.apps``), so a changed password or security profile takes effect on the next
handshake. Changes made by other processes are seen within the TTL; and a refusal is
never decided on a cached row: the handshake re-reads the station first
(``load``), so a new password set elsewhere works immediately.
"""

import time

from django.conf import settings

from gateway.coalesce import Coalescer, per_loop
from stations.models import ChargingStation
from stations.services.connections import stations_for_handshakes

# Fields a handshake decides on; a save touching none of them keeps the entry.
HANDSHAKE_FIELDS = frozenset(
    {"station_id", "password_hash", "security_profile", "registration_status", "serial_number"}
)

_entries: dict[str, tuple[float, ChargingStation]] = {}  # station id -> (expires at, station)
_epoch = 0  # bumped by every invalidation: a load that raced one is used once, not kept


def forget(station_id: str | None = None) -> None:
    global _epoch
    _epoch += 1
    if station_id is None:
        _entries.clear()
    else:
        _entries.pop(station_id, None)


def _load(station_ids: list[str]) -> list[tuple[int, ChargingStation | None]]:
    epoch = _epoch
    found = stations_for_handshakes(station_ids=station_ids)
    return [(epoch, found.get(station_id)) for station_id in station_ids]


_loader = per_loop(lambda: Coalescer(_load, window_s=0.005, max_size=500, name="station lookup"))


def cached(station_id: str) -> ChargingStation | None:
    """The station from this process's cache, if a fresh entry is there (read-only)."""
    entry = _entries.get(station_id)
    if entry is not None and entry[0] > time.monotonic():
        return entry[1]
    return None


async def load(station_id: str) -> ChargingStation | None:
    """The station from the database (None when unknown), kept for the next handshakes."""
    epoch, station = await _loader().submit(station_id)
    ttl = settings.OCPP_STATION_CACHE_TTL
    if station is not None and ttl > 0 and epoch == _epoch:
        _entries[station_id] = (time.monotonic() + ttl, station)
    return station


def on_station_saved(sender, instance: ChargingStation, update_fields=None, **kwargs) -> None:
    if update_fields is not None and not HANDSHAKE_FIELDS.intersection(update_fields):
        return
    forget(instance.station_id)


def on_station_deleted(sender, instance: ChargingStation, **kwargs) -> None:
    forget(instance.station_id)
