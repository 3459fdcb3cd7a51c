"""``/ws/topologies/<id>/``: a lab's live state for its owner's browser (web side, unprivileged)."""
from __future__ import annotations

import asyncio

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from .. import broadcast
from .access import FORBIDDEN, owned_lab, signed_out


class LabConsumer(AsyncJsonWebsocketConsumer):
    """``/ws/topologies/<topology_id>/``: the lab's snapshot first, then every change as it happens.

    Only the topology's owner may subscribe; anybody else (signed out, another
    user, a topology that does not exist) is accepted and closed at once with
    code 4403, so a browser can tell "forbidden" from a dropped connection and
    stop retrying. Read-only: whatever the client sends is ignored. The
    messages are described in :mod:`topology.broadcast`, plus one of its own:
    ``{"type": "gone", "reason": "signed_out" | "deleted", "message": ...}``
    just before it closes with 4403 because the user signed out (in any tab)
    or the topology was deleted.
    """

    group: str | None = None
    snapshot_event_id: int = 0
    recheck: float | None = None  # seconds between checks that the user is still signed in and the topology
    # still theirs; None: settings.TOPOLAB_HEARTBEAT
    watcher: asyncio.Task | None = None

    async def connect(self) -> None:
        lab_id = await self._lab_id_for(self.scope.get("user"), self.scope["url_route"]["kwargs"]["topology_id"])
        await self.accept()
        if lab_id is None:
            await self.close(code=FORBIDDEN)
            return
        # Join before reading the snapshot: a change made meanwhile arrives after it, never gets lost.
        self.group = broadcast.group_name(lab_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        snapshot = await self._snapshot(lab_id)
        self.snapshot_event_id = max((e["id"] or 0 for e in snapshot["events"]), default=0)
        await self.send_json({"type": "snapshot", "lab": snapshot})
        self.watcher = asyncio.create_task(self._watch(self.scope["url_route"]["kwargs"]["topology_id"]))

    async def _watch(self, topology_id: int) -> None:
        """Close with 4403, saying why, once the user signed out or the topology is gone.

        Events alone cannot tell: signing out happens in another tab, and a deleted
        topology's lab publishes nothing more. The browser stops reconnecting on 4403.
        """
        from django.conf import settings

        while True:
            await asyncio.sleep(self.recheck or settings.TOPOLAB_HEARTBEAT)
            gone = await self._gone(self.scope.get("session"), self.scope.get("user"), topology_id)
            if gone:
                reason, message = gone
                await self.send_json({"type": "gone", "reason": reason, "message": message})
                await self.close(code=FORBIDDEN)
                return

    async def disconnect(self, code) -> None:
        if self.watcher:
            self.watcher.cancel()
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        """Clients only listen: anything they send is ignored."""

    async def lab_message(self, message: dict) -> None:
        """Messages published together to the lab's group (:func:`topology.broadcast.publish_many`): one frame each."""
        for payload in message["messages"]:
            if payload.get("type") == "events" and self.snapshot_event_id:
                fresh = [e for e in payload["events"] if not e.get("id") or e["id"] > self.snapshot_event_id]
                if not fresh:
                    continue
                payload = {**payload, "events": fresh}
            await self.send_json(payload)

    @staticmethod
    @database_sync_to_async
    def _lab_id_for(user, topology_id: int) -> int | None:
        lab = owned_lab(user, topology_id)
        return lab.pk if lab else None

    @staticmethod
    @database_sync_to_async
    def _gone(session, user, topology_id: int) -> tuple[str, str] | None:
        if signed_out(session):
            return "signed_out", "You signed out. Sign in again to follow this lab."
        if owned_lab(user, topology_id) is None:
            return "deleted", "This topology was deleted."
        return None

    @staticmethod
    @database_sync_to_async
    def _snapshot(lab_id: int) -> dict:
        return broadcast.lab_snapshot(lab_id)
