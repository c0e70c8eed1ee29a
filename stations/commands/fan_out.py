"""One command to many stations at once (an admin putting a message on a site's screens):
sent in parallel, so a site of 40 stations takes one station's answer time, not forty."""

import asyncio

from asgiref.sync import async_to_sync

from stations.commands.service import CommandError, CommandResult, StationNotFound, send_command_async


def send_to_many(*, station_ids: list[str], command: str, params: dict, requested_by=None,
                 source: str = "admin") -> list[tuple[str, CommandResult | str]]:
    """(station id, result) per station, in the given order; a refused command is its message."""

    async def one(station_id: str) -> tuple[str, CommandResult | str]:
        try:
            return station_id, await send_command_async(station_id=station_id, command=command, params=dict(params),
                                                        requested_by=requested_by, source=source)
        except (CommandError, StationNotFound) as error:
            return station_id, str(error) or "no such station"

    async def all_of_them():
        return await asyncio.gather(*(one(station_id) for station_id in station_ids))

    return list(async_to_sync(all_of_them)())
