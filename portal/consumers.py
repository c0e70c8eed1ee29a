"""The live WebSocket: a dashboard or a session page subscribes, the consumer checks it may.

``/ws/dashboard/``: operators get the whole network, site owners their organisations' sites.
``/ws/sessions/<pk>/``: whoever may see that session (its driver, its site's owner, operators).
Anyone else is refused at the handshake (close code 4403; not signed in: 4401).
"""

import asyncio

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from chargenet import roles
from portal import live
from stations.selectors import sessions_visible_to

WATCH_RENEW_S = 60.0


class LiveConsumer(AsyncJsonWebsocketConsumer):
    groups_joined: list[str]
    watching: asyncio.Task | None = None

    async def connect(self):
        self.groups_joined = []
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        groups = await database_sync_to_async(self.allowed_groups)(user)
        if not groups:
            await self.close(code=4403)
            return
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined = groups
        await self.accept()
        await database_sync_to_async(live.watch)(groups=groups, channel_name=self.channel_name)
        self.watching = asyncio.create_task(self._renew_watch(groups))

    async def _renew_watch(self, groups: list[str]) -> None:
        while True:
            await asyncio.sleep(WATCH_RENEW_S)
            await database_sync_to_async(live.watch)(groups=groups, channel_name=self.channel_name)

    def allowed_groups(self, user) -> list[str]:
        kwargs = self.scope["url_route"]["kwargs"]
        if "session_pk" in kwargs:
            session_pk = int(kwargs["session_pk"])
            return [live.session_group(session_pk)] if sessions_visible_to(user).filter(pk=session_pk).exists() else []
        found = roles.roles_of(user)
        if found.operator:
            return [live.NETWORK_GROUP]
        if found.site_owner:
            return [live.organization_group(pk) for pk in roles.organization_ids_of(user)]
        return []

    async def disconnect(self, code):
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        if self.watching is not None:
            self.watching.cancel()
            await database_sync_to_async(live.unwatch)(channel_name=self.channel_name)

    async def receive_json(self, content, **kwargs):
        """The page only listens; a ping gets a pong so it can tell the socket is alive."""
        if content == {"type": "ping"}:
            await self.send_json({"kind": "pong"})

    async def live_event(self, message):
        await self.send_json(message["event"])
