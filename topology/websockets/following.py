"""What the read-only live sockets share (the lab's, the course grid's): one channel group followed, and a
check every ``TOPOLAB_HEARTBEAT`` seconds that the user may still follow it (web side)."""
from __future__ import annotations

import asyncio

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from .access import FORBIDDEN


class FollowingConsumer(AsyncJsonWebsocketConsumer):
    """A socket that only listens: it follows one group (:meth:`follow`) and, once :meth:`keep_checking` is
    called, asks ``_gone`` every :attr:`recheck` seconds whether its user may still follow; when not, it
    sends ``{"type": "gone", "reason": ..., "message": ...}`` and closes with 4403 (:meth:`leave`).

    Events alone cannot tell: signing out happens in another tab, and a deleted topology's lab publishes
    nothing more. The browser stops reconnecting on 4403. Whatever the client sends is ignored.
    """

    group: str | None = None
    recheck: float | None = None  # seconds between those checks; None: settings.TOPOLAB_HEARTBEAT
    watcher: asyncio.Task | None = None

    async def _gone(self, session, user, *args) -> tuple[str, str] | None:
        """(reason, message) once ``user`` (of that ``session``) may no longer follow; else None."""
        raise NotImplementedError

    async def follow(self, group: str) -> None:
        """Join ``group``: what it is sent from now on reaches this socket."""
        self.group = group
        await self.channel_layer.group_add(group, self.channel_name)

    def keep_checking(self, *args) -> None:
        """From now on, ask ``_gone(session, user, *args)`` every :attr:`recheck` seconds."""
        self.watcher = asyncio.create_task(self._watch(*args))

    async def leave(self, reason: str, message: str) -> None:
        """Say why the socket ends, then close it with 4403."""
        await self.send_json({"type": "gone", "reason": reason, "message": message})
        await self.close(code=FORBIDDEN)

    async def _watch(self, *args) -> None:
        from django.conf import settings

        while True:
            await asyncio.sleep(self.recheck or settings.TOPOLAB_HEARTBEAT)
            gone = await self._gone(self.scope.get("session"), self.scope.get("user"), *args)
            if gone:
                await self.leave(*gone)
                return

    async def disconnect(self, code) -> None:
        if self.watcher:
            self.watcher.cancel()
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        """Clients only listen: anything they send is ignored."""
