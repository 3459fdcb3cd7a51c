"""``/ws/topologies/<id>/captures/<capture id>``: one capture's packets, live (web side, unprivileged).

The socket is the topology's owner's or a supervisor's (anybody else: closed with 4403, existence never
revealed). On connecting it gets ``{"type": "capture", "capture": <record>}``, then the latest rows the service
kept, then every batch as the service sends it: ``{"type": "rows", "rows": [...], "skipped": N, "packets": N,
"bytes": N}``, and ``{"type": "ended", "capture": <record>}`` when the capture ends (the socket stays open, for
details). While it is open it counts as a watcher of the capture (:func:`topology.capture.client.watch`): the
capture stops a while after its last watcher leaves.

The browser may send ``{"type": "detail", "no": N}`` (answered ``{"type": "detail", ...}`` with the packet's
row, ``layers`` and ``hex``, read from the capture's file, or ``{"type": "detail", "no": N, "error": "..."}``)
and ``{"type": "stop"}`` (the capture service stops it; the end comes as "ended").
"""
from __future__ import annotations

import asyncio
import json
import logging
import secrets

import redis.asyncio as aioredis
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from redis.exceptions import RedisError

from ..capture import WATCH_RENEW, decode, live_channel, spool
from ..capture import client as captures
from ..errors import ServiceError
from .access import FORBIDDEN, display_name, lab_and_role, must_change_password, signed_out

log = logging.getLogger(__name__)


class CaptureConsumer(AsyncWebsocketConsumer):
    """One capture's rows to one browser; its details and its stop on request."""

    channel_layer_alias = None  # the rows come from the service's pub/sub channel, read here directly

    record: dict | None = None
    tasks: list
    last_no = 0

    async def connect(self) -> None:
        kwargs = self.scope["url_route"]["kwargs"]
        self.tasks = []
        self.topology_id, self.capture_id = kwargs["topology_id"], kwargs["capture_id"]
        self.watcher = secrets.token_hex(8)
        self.user_name = await self._allowed(self.scope.get("user"), self.topology_id)
        self.record = await asyncio.to_thread(captures.record, self.capture_id) if self.user_name else None
        await self.accept()
        if self.record is None or self.record.get("topology") != self.topology_id:
            await self.close(code=FORBIDDEN)
            return
        self.redis = aioredis.Redis.from_url(settings.REDIS_URL, decode_responses=True, socket_timeout=30)
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await self.pubsub.subscribe(live_channel(settings.TOPOLAB_SITE, self.capture_id))  # before the recent rows
        await self.send(text_data=json.dumps({"type": "capture", "capture": captures.public(self.record)}))
        rows = await asyncio.to_thread(captures.recent, self.capture_id)
        if rows:
            self.last_no = rows[-1]["no"]
            await self.send(text_data=json.dumps({"type": "rows", "rows": rows, "skipped": 0,
                                                  "packets": self.record.get("packets", 0),
                                                  "bytes": self.record.get("bytes", 0)}))
        if self.record.get("state") == "ended":
            await self.send(text_data=json.dumps({"type": "ended", "capture": captures.public(self.record)}))
            return
        self.tasks = [asyncio.create_task(self._pump()), asyncio.create_task(self._presence())]

    async def disconnect(self, code) -> None:
        for task in self.tasks:
            task.cancel()
        if getattr(self, "pubsub", None) is not None:
            try:
                await self.pubsub.aclose()
                await self.redis.aclose()
            except (OSError, RedisError):
                pass
        if self.record is not None:
            try:
                await asyncio.to_thread(captures.unwatch, self.capture_id, self.watcher)
            except RedisError:
                pass  # its presence lapses by itself

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        try:
            message = json.loads(text_data or "null")
        except ValueError:
            return
        if not isinstance(message, dict) or self.record is None:
            return
        if message.get("type") == "detail":
            await self._detail(message.get("no"))
        elif message.get("type") == "stop":
            try:
                await asyncio.to_thread(captures.ask, self.record["queue"], {
                    "op": "stop", "user": self.scope["user"].pk, "capture": self.capture_id})
            except ServiceError as exc:
                await self.send(text_data=json.dumps({"type": "error", "message": exc.message}))

    async def _detail(self, number) -> None:
        if not isinstance(number, int) or number < 1:
            return
        found = await asyncio.to_thread(spool.read_packet, settings.TOPOLAB_CAPTURE_DIR, self.capture_id, number)
        if found is None:
            answer = {"type": "detail", "no": number, "error": "that packet is not in the file"}
        else:
            answer = {"type": "detail", **decode.detail(number, *found)}
        await self.send(text_data=json.dumps(answer))

    async def _pump(self) -> None:
        """The service's batches to the browser (a batch the recent rows already held is not sent twice)."""
        while True:
            try:
                message = await self.pubsub.get_message(timeout=5.0)
            except (OSError, RedisError) as exc:
                log.warning("capture %s: cannot read its rows (%s)", self.capture_id, exc)
                await asyncio.sleep(1)
                continue
            if message is None or message.get("type") != "message":
                continue
            data = json.loads(message["data"])
            if data.get("type") == "rows":
                data["rows"] = [r for r in data["rows"] if r["no"] > self.last_no]
                if data["rows"]:
                    self.last_no = data["rows"][-1]["no"]
            await self.send(text_data=json.dumps(data if data.get("type") != "ended"
                                                 else {"type": "ended", "capture": captures.public(data["capture"])}))
            if data.get("type") == "ended":
                self.record = data["capture"]
                return

    async def _presence(self) -> None:
        """Renew this watcher's presence; end the socket once its user may no longer see the capture (signed
        out, no longer the topology's owner or supervisor)."""
        while True:
            try:
                await asyncio.to_thread(captures.watch, self.capture_id, self.watcher)
            except RedisError as exc:
                log.warning("capture %s: cannot renew a watcher (%s)", self.capture_id, exc)
            await asyncio.sleep(WATCH_RENEW)
            if not await self._still_allowed():
                await self.send(text_data=json.dumps({"type": "error", "message": "you may no longer see this capture"}))
                await self.close(code=FORBIDDEN)
                return

    @database_sync_to_async
    def _still_allowed(self) -> bool:
        return not signed_out(self.scope.get("session")) and bool(self._may_see(self.scope.get("user"),
                                                                                self.topology_id))

    @database_sync_to_async
    def _allowed(self, user, topology_id: int) -> str:
        return self._may_see(user, topology_id)

    @staticmethod
    def _may_see(user, topology_id: int) -> str:
        """The user's name when they may watch this topology's captures (its owner or a supervisor), else ""."""
        if lab_and_role(user, topology_id) is None or must_change_password(user):
            return ""
        return display_name(user)
