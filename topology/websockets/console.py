"""``/ws/topologies/<id>/nodes/<name>/console``: a node's login shell, relayed from the root relay.

``?program=vtysh`` opens FRR's shell instead of the node's login shell (the relay's :data:`PROGRAMS`).
``?session=TOKEN&replay=1`` resumes a shell into a new, empty terminal (a pop-out, a reload): the relay sends its
recent output first (the screen as it was), then what comes (the relay's "replay").
``?mode=watch`` or ``?mode=control`` is a supervisor's view of the student's console that is open on
that node (never a new shell): the relay's "console.watch". In watch mode nothing typed is forwarded;
in control mode typing is, and the student was told first. A watcher's resizes are never forwarded:
the student's window sizes the terminal.
"""
from __future__ import annotations

from ..relay import MAX_INPUT, PROGRAMS, WATCH_MODES, clamp_size
from .access import OWNER, SUPERVISOR
from .relayed import NOT_AVAILABLE, RelayedTerminalConsumer

__all__ = ["ConsoleConsumer", "NOT_AVAILABLE"]


class ConsoleConsumer(RelayedTerminalConsumer):
    """A node's shell for the topology's owner, relayed from the root relay of the lab's host; or, for a
    supervisor, the owner's open shell watched (``mode=watch``) or taken over (``mode=control``)."""

    open_kind = "console.open"

    def allowed(self, role: str, mode: str) -> bool:
        if mode in WATCH_MODES:
            return role == SUPERVISOR
        return role == OWNER and not mode

    def open_type(self) -> str:
        return "console.watch" if self.mode else self.open_kind

    def open_options(self) -> dict:
        if self.mode:
            return {"mode": self.mode, "name": self.user_name, "owner": self.owner_name}
        program = self._param("program", "shell")
        return {"cols": clamp_size(self._param("cols", "80"), 80), "rows": clamp_size(self._param("rows", "24"), 24),
                "resume": self._param("session")[:64], "program": program if program in PROGRAMS else "shell",
                "replay": self._param("replay") == "1"}

    def resume_token(self) -> str:
        return "" if self.mode else self._param("session")[:64]

    def token_of(self, message: dict) -> str:
        return "" if self.mode else str(message.get("token") or "")

    def kept_after(self, code) -> bool:
        return not self.mode and self.leave_message(code)["type"] == "console.detach"

    def opened_status(self, message: dict) -> dict:
        if self.mode == "control":
            return {"type": "status", "state": "open", "mode": self.mode,
                    "message": f"you can type in {self.owner_name}'s console; they see that you joined"}
        if self.mode:
            return {"type": "status", "state": "open", "mode": self.mode,
                    "message": f"watching {self.owner_name}'s console: you cannot type"}
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
        # (A watcher's either is only its leaving: the relay never ends the student's shell for it.)
        return {"type": "console.close"} if code == 1000 else {"type": "console.detach"}

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        message = self._json(text_data)
        if self.ended or self.relay is None or message is None:
            return
        kind = message.get("type")
        if kind == "input" and isinstance(message.get("data"), str) and message["data"]:
            if self.mode and self.mode != "control":
                return  # watching only: typing goes nowhere (the relay ignores it too)
            data = message["data"]
            for i in range(0, len(data), MAX_INPUT):
                await self._to_session({"type": "console.input", "data": data[i:i + MAX_INPUT]})
        elif kind == "resize":
            if self.mode:
                return  # the student's window sizes their terminal
            await self._to_session({"type": "console.resize", "cols": clamp_size(message.get("cols"), 80),
                                    "rows": clamp_size(message.get("rows"), 24)})
        else:
            await super().receive(text_data=text_data)
