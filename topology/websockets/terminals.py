"""How many terminals (consoles, logs, supervisors' watches) each user has open, across web processes.

Each open terminal costs the root relay a ``docker exec`` or a watcher's buffer and pump, so a user
may hold ``settings.TOPOLAB_MAX_TERMINALS_PER_USER`` at once. The count lives in Redis, one sorted set
per user, as the exec slots of :mod:`topology.workers` do: a member per terminal, scored with the time
it lapses. The consumer that holds it renews it at every heartbeat, so the terminals of a web process
that crashed lapse by themselves.

A member is ``"<key>|<connection>"``. The key of the owner's console is its session token (as the
browser claims it when it reconnects, then as the relay answers), so a reconnect that resumes the shell
takes the member over instead of counting it twice; every other terminal's key is a random one. A console
whose connection dropped keeps its place while the relay keeps its shell (:data:`topology.relay.KEEP_DETACHED`).
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from django.conf import settings

from .. import leases

TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what a relay's session token looks like (secrets.token_urlsafe)

_NOW = """
local now = redis.call('time')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
"""

# The key's lifetime follows its latest-lapsing member, so an idle user's set goes away by itself.
_EXPIRE = """
local last = redis.call('zrange', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('pexpireat', KEYS[1], tonumber(last[2])) end
"""

# KEYS: the user's set. ARGV: key, connection, lifetime (ms), cap. Lapsed members go first. A member with
# the same key (the shell being resumed) is taken over: {1, n}. Else, with room, the member joins: {0, n};
# without: {-1, n} (n: how many the user has open).
TAKE_SCRIPT = _NOW + """
redis.call('zremrangebyscore', KEYS[1], '-inf', now)
local prefix = ARGV[1] .. '|'
local resumed = 0
for _, member in ipairs(redis.call('zrange', KEYS[1], 0, -1)) do
  if string.sub(member, 1, #prefix) == prefix then
    redis.call('zrem', KEYS[1], member)
    resumed = 1
  end
end
local open = redis.call('zcard', KEYS[1])
if resumed == 0 and open >= tonumber(ARGV[4]) then
  return {-1, open}
end
redis.call('zadd', KEYS[1], now + tonumber(ARGV[3]), prefix .. ARGV[2])
""" + _EXPIRE + """
return {resumed, open + 1}
"""

# KEYS: the user's set. ARGV: member, lifetime (ms). 1 if the member (still) was there and now lives that long.
RENEW_SCRIPT = _NOW + """
if not redis.call('zscore', KEYS[1], ARGV[1]) then return 0 end
redis.call('zadd', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
""" + _EXPIRE + """
return 1
"""

# KEYS: the user's set. ARGV: the member, its new name. 1 if renamed (its lapse time kept), 0 if it was gone.
RENAME_SCRIPT = """
local score = redis.call('zscore', KEYS[1], ARGV[1])
if not score then return 0 end
redis.call('zrem', KEYS[1], ARGV[1])
redis.call('zadd', KEYS[1], score, ARGV[2])
return 1
"""


def cap() -> int:
    """The most terminals one user may have open."""
    return max(1, int(settings.TOPOLAB_MAX_TERMINALS_PER_USER))


def _set_key(user: int) -> str:
    return f"topolab:{settings.TOPOLAB_SITE}:terminals:user:{int(user)}"


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class TooManyTerminals(Exception):
    """The user has as many terminals open as they may."""

    def __init__(self, limit: int):
        self.limit = limit
        self.message = f"you have {limit} terminal{'s' if limit != 1 else ''} open; close one first"
        super().__init__(self.message)


@dataclass
class TerminalSlot:
    """One terminal's place in its user's count (all calls are blocking Redis round trips)."""

    user: int
    key: str
    connection: str
    resumed: bool = False

    @property
    def member(self) -> str:
        return f"{self.key}|{self.connection}"

    def renew(self, seconds: float) -> bool:
        """Keep the place ``seconds`` more; False if it is gone (it lapsed, or a reconnect took it over)."""
        return bool(leases.client().eval(RENEW_SCRIPT, 1, _set_key(self.user), self.member, _ms(seconds)))

    def rekey(self, key: str) -> None:
        """Name the place by ``key`` (the session token the relay answered) from now on."""
        if not TOKEN.fullmatch(key or "") or key == self.key:
            return
        old, self.key = self.member, key
        leases.client().eval(RENAME_SCRIPT, 1, _set_key(self.user), old, self.member)

    def release(self) -> None:
        """Give the place back (nothing if it is gone already)."""
        leases.client().zrem(_set_key(self.user), self.member)


def renew_all(places: list[tuple[TerminalSlot, float]]) -> list[bool]:
    """:meth:`TerminalSlot.renew` for many places in one Redis round trip (a heartbeat's): for each
    ``(slot, seconds)``, in order, whether it was still there."""
    if not places:
        return []
    pipe = leases.client().pipeline(transaction=False)
    for slot, seconds in places:
        pipe.eval(RENEW_SCRIPT, 1, _set_key(slot.user), slot.member, _ms(seconds))
    return [bool(kept) for kept in pipe.execute()]


def take(user: int, seconds: float, resume: str = "") -> TerminalSlot:
    """A place for one more terminal of ``user``, lapsing after ``seconds`` unless renewed;
    :class:`TooManyTerminals` if they have as many as they may. ``resume``: the session token of the
    console being reconnected to, whose place this takes over (it never counts twice)."""
    key = resume if TOKEN.fullmatch(resume or "") else uuid.uuid4().hex
    slot = TerminalSlot(int(user), key, uuid.uuid4().hex)
    limit = cap()
    outcome, _ = leases.client().eval(TAKE_SCRIPT, 1, _set_key(user), slot.key, slot.connection, _ms(seconds), limit)
    if int(outcome) < 0:
        raise TooManyTerminals(limit)
    slot.resumed = bool(int(outcome))
    return slot


def open_terminals(user: int) -> int:
    """How many terminals ``user`` has open now (lapsed places not counted)."""
    client = leases.client()
    now_s, now_us = client.time()
    return int(client.zcount(_set_key(user), f"({now_s * 1000 + now_us // 1000}", "+inf"))


def forget(user: int) -> None:
    """Drop every place of ``user`` (for tests: a clean slate)."""
    leases.client().delete(_set_key(user))
