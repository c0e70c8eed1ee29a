"""The last OCPP frames of a connected station, asked from whichever process holds it.

Kept in the connection's memory, not the database: recording every frame would cost a
write per message for something operators look at only when a station misbehaves.
"""

import asyncio

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from stations.groups import station_group


async def recent_frames_async(station_id: str, timeout_s: float = 1.0) -> list[dict] | None:
    """[{at, direction, frame}], oldest first; None when no connection answers."""
    layer = get_channel_layer()
    reply_channel = await layer.new_channel()
    await layer.group_send(station_group(station_id), {"type": "station.traffic", "reply_channel": reply_channel})
    try:
        message = await asyncio.wait_for(layer.receive(reply_channel), timeout_s)
    except TimeoutError:
        return None
    return [{"at": at, "direction": direction, "frame": frame} for at, direction, frame in message["frames"]]


def recent_frames(station_id: str, timeout_s: float = 1.0) -> list[dict] | None:
    return async_to_sync(recent_frames_async)(station_id, timeout_s)
