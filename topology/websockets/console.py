"""``/ws/topologies/<id>/nodes/<name>/console``: a node's login shell, relayed from the root relay."""
from __future__ import annotations

from ..relay import MAX_INPUT, clamp_size
from .relayed import NOT_AVAILABLE, RelayedTerminalConsumer

__all__ = ["ConsoleConsumer", "NOT_AVAILABLE"]


class ConsoleConsumer(RelayedTerminalConsumer):
    """A node's shell for the topology's owner, relayed from the root relay of the lab's host."""

    open_kind = "console.open"

    def open_options(self) -> dict:
        return {"cols": clamp_size(self._param("cols", "80"), 80), "rows": clamp_size(self._param("rows", "24"), 24),
                "resume": self._param("session")[:64]}

    def opened_status(self, message: dict) -> dict:
        asked = bool(self._param("session"))
        if message.get("resumed"):
            text = "reconnected to the same shell"
        elif asked:
            text = "the previous shell is gone (it ended, or waited over a minute for you): this is a new shell"
        else:
            text = "connected"
        return {"type": "status", "state": "open", "message": text, "session": message.get("token"),
                "resumed": bool(message.get("resumed"))}

    def leave_message(self, code) -> dict:
        # 1000 is the browser closing the console on purpose; anything else is a lost connection
        # (a reload, a network drop), after which the shell waits for the same browser to return.
        return {"type": "console.close"} if code == 1000 else {"type": "console.detach"}

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        message = self._json(text_data)
        if self.ended or self.relay is None or message is None:
            return
        kind = message.get("type")
        if kind == "input" and isinstance(message.get("data"), str) and message["data"]:
            data = message["data"]
            for i in range(0, len(data), MAX_INPUT):
                await self._to_session({"type": "console.input", "data": data[i:i + MAX_INPUT]})
        elif kind == "resize":
            await self._to_session({"type": "console.resize", "cols": clamp_size(message.get("cols"), 80),
                                    "rows": clamp_size(message.get("rows"), 24)})
        else:
            await super().receive(text_data=text_data)
