"""The console websocket (web side, unprivileged): ``/ws/topologies/<id>/nodes/<name>/console``.

The browser sends JSON text frames ``{"type": "input", "data": "..."}`` and
``{"type": "resize", "cols": 120, "rows": 40}``; it receives the terminal's
bytes as binary frames and the server's news as JSON text frames
``{"type": "status", "state": "open" | "dropped" | "closed" | "error", "message": "..."}``.

Only the topology's owner gets a console (anybody else: close 4403, as for the
lab's websocket). The node is resolved to its container here, from the
database; the browser never names one. The shell itself runs in the root
relay (:mod:`topology.relay`), reached through the channel layer only.
"""
from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from channels.generic.websocket import AsyncWebsocketConsumer

from .consumers import FORBIDDEN
from .models import Lab, LabNode, LabState, NodeStatus
from .relay import MAX_INPUT, MAX_SIZE, channel_name

NOT_AVAILABLE = 4409  # close code: the node has no console now (lab or node not running, no relay)
ENDED = 1000          # close code: the console ended (shell exited, node stopped, lab destroyed)


class ConsoleConsumer(AsyncWebsocketConsumer):
    """A node's shell for the topology's owner, relayed from the root relay of the lab's host."""

    open_timeout = 10.0   # seconds to wait for the relay's answer

    session: str | None = None
    relay: str | None = None
    pending: list
    waiter: asyncio.Task | None = None
    ended = False

    async def connect(self) -> None:
        kwargs = self.scope["url_route"]["kwargs"]
        target = await self._target(self.scope.get("user"), kwargs["topology_id"], kwargs["node"])
        await self.accept()
        if target is None:
            await self.close(code=FORBIDDEN)
            return
        if isinstance(target, str):
            await self._end("error", target, NOT_AVAILABLE)
            return
        lab_id, queue, container = target
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        self.pending = []
        self.relay = channel_name(self._site(), queue)
        request = {"type": "console.open", "reply": self.channel_name, "lab": lab_id, "node": kwargs["node"],
                   "container": container, "cols": _clamp((query.get("cols") or ["80"])[0], 80),
                   "rows": _clamp((query.get("rows") or ["24"])[0], 24),
                   "deadline": time.time() + self.open_timeout}
        try:
            await self.channel_layer.send(self.relay, request)
        except ChannelFull:
            await self._end("error", "the console relay of this lab's host is not answering", NOT_AVAILABLE)
            return
        self.waiter = asyncio.create_task(self._expire())

    async def disconnect(self, code) -> None:
        if self.waiter:
            self.waiter.cancel()
        if self.ended or self.relay is None:
            return
        self.ended = True
        try:
            if self.session:
                await self.channel_layer.send(self.session, {"type": "console.close"})
            else:
                await self.channel_layer.send(self.relay, {"type": "console.cancel", "reply": self.channel_name})
        except ChannelFull:
            pass

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        """Input and resize from the browser; anything else is ignored."""
        if self.ended or self.relay is None or text_data is None:
            return
        try:
            message = json.loads(text_data)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        if message.get("type") == "input" and isinstance(message.get("data"), str) and message["data"]:
            data = message["data"]
            for i in range(0, len(data), MAX_INPUT):
                await self._to_relay({"type": "console.input", "data": data[i:i + MAX_INPUT]})
        elif message.get("type") == "resize":
            await self._to_relay({"type": "console.resize", "cols": _clamp(message.get("cols"), 80),
                                  "rows": _clamp(message.get("rows"), 24)})

    # -- from the relay ------------------------------------------------------------------------

    async def console_opened(self, message: dict) -> None:
        if self.ended:
            return
        if self.waiter:
            self.waiter.cancel()
        self.session = message["session"]
        pending, self.pending = self.pending, []
        for item in pending:
            await self._to_relay(item)
        await self.send(text_data=json.dumps({"type": "status", "state": "open", "message": "connected"}))

    async def console_output(self, message: dict) -> None:
        if not self.ended:
            await self.send(bytes_data=message["data"])

    async def console_status(self, message: dict) -> None:
        if self.ended:
            return
        state, text = message.get("state", "error"), message.get("message", "")
        if state in ("closed", "error"):
            self.session = None
            await self._end(state, text, ENDED if state == "closed" else NOT_AVAILABLE)
        else:
            await self.send(text_data=json.dumps({"type": "status", "state": state, "message": text}))

    # -- helpers -------------------------------------------------------------------------------

    async def _to_relay(self, message: dict) -> None:
        if self.session is None:
            if len(self.pending) < 100:
                self.pending.append(message)
            return
        try:
            await self.channel_layer.send(self.session, message)
        except ChannelFull:
            pass  # the relay is not keeping up with typing: the keystrokes are lost, never queued unbounded

    async def _expire(self) -> None:
        await asyncio.sleep(self.open_timeout)
        if self.session is None and not self.ended:
            try:
                await self.channel_layer.send(self.relay, {"type": "console.cancel", "reply": self.channel_name})
            except ChannelFull:
                pass
            await self._end("error", "the console relay of this lab's host is not answering", NOT_AVAILABLE)

    async def _end(self, state: str, message: str, code: int) -> None:
        self.ended = True
        await self.send(text_data=json.dumps({"type": "status", "state": state, "message": message}))
        await self.close(code=code)

    @staticmethod
    def _site() -> str:
        from django.conf import settings

        return settings.TOPOLAB_SITE

    @staticmethod
    @database_sync_to_async
    def _target(user, topology_id: int, node: str):
        """None (forbidden), a reason the node has no console (str), or (lab id, queue, container id)."""
        if user is None or not user.is_authenticated:
            return None
        lab = Lab.objects.filter(topology_id=topology_id, topology__owner_id=user.pk).first()
        if lab is None:
            return None
        if lab.state != LabState.RUNNING:
            return f"the lab is {lab.state}, not running"
        row = LabNode.objects.filter(lab=lab, name=node).values_list("state", "container_id").first()
        if row is None:
            return f"the lab has no node '{node}'"
        state, container = row
        if state != NodeStatus.RUNNING or not container:
            return f"node '{node}' is {state}, not running"
        return lab.pk, lab.queue, container


def _clamp(value, default: int) -> int:
    try:
        return max(1, min(MAX_SIZE, int(value)))
    except (TypeError, ValueError):
        return default
