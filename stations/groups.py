"""Channel-layer group names. Station ids may hold characters groups do not allow,
so they are hashed."""

import hashlib


def station_group(station_id: str) -> str:
    return "station." + hashlib.sha256(station_id.encode()).hexdigest()[:40]
