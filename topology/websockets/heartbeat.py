"""One heartbeat for all the open terminals of a web process, instead of one each.

Every period (``settings.TOPOLAB_HEARTBEAT`` seconds, or a consumer class's own ``heartbeat``) an open
terminal renews its place in its user's count, tells the relay it is still there and re-checks that it
may go on. Done by each terminal on its own timer, 60 consoles cost 60 session loads, a few hundred
queries on as many fresh database connections and 60 Redis round trips a period, each through a thread
hop, and those timers are spread over the period so that some keystroke is always waiting behind one.
Here one task per event loop and period beats for all its members at once: what a beat does is the
caller's (``beat(members)``, e.g. one Redis pipeline and one database call for all of them), this
module only keeps the time.

Ticks come at a fixed rate (a slow beat does not push the next one back), and a member is beaten for at
every tick after it joined, so whatever a beat checks is seen within one period, as with a timer each.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

log = logging.getLogger(__name__)

Beat = Callable[[list], Awaitable[None]]

_pulses: dict[tuple[int, float, Beat], "Pulse"] = {}


class Pulse:
    """The members of one event loop that share a period and a beat, and the task that beats for them."""

    def __init__(self, loop: asyncio.AbstractEventLoop, period: float, beat: Beat):
        self.loop = loop
        self.period = period
        self.beat = beat
        self.members: dict[object, None] = {}   # insertion-ordered set: the oldest first in each beat
        self.beating = False
        self.task = loop.create_task(self._run())

    @property
    def key(self) -> tuple[int, float, Beat]:
        return id(self.loop), self.period, self.beat

    def leave(self, member) -> None:
        """``member`` is beaten for no more; the last one to leave ends the pulse."""
        self.members.pop(member, None)
        if not self.members and not self.beating:
            self._close()
            self.task.cancel()  # asleep until the next tick: nothing is cut short

    def _close(self) -> None:
        if _pulses.get(self.key) is self:
            del _pulses[self.key]

    async def _run(self) -> None:
        due = self.loop.time() + self.period
        try:
            while self.members:
                await asyncio.sleep(max(0.0, due - self.loop.time()))
                members = list(self.members)
                if members:
                    self.beating = True
                    try:
                        await self.beat(members)
                    except Exception:  # one bad beat must not stop the heart: the next tick tries again
                        log.exception("a heartbeat of %d terminals failed", len(members))
                    finally:
                        self.beating = False
                due += self.period
                now = self.loop.time()
                if due < now:  # a beat took longer than a period: no burst of catching up
                    due = now + self.period
        finally:
            self._close()


def join(member, period: float, beat: Beat) -> Pulse:
    """Have ``beat`` called with ``member`` (and the others of this event loop and ``period``) every
    ``period`` seconds from the next tick on, until :meth:`Pulse.leave`. Returns the pulse to leave."""
    loop = asyncio.get_running_loop()
    key = (id(loop), float(period), beat)
    pulse = _pulses.get(key)
    if pulse is None or pulse.loop is not loop or pulse.task.done():
        pulse = _pulses[key] = Pulse(loop, float(period), beat)
    pulse.members[member] = None
    return pulse
