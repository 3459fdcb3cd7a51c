"""One relay per host: a lock in Redis, held while the relay runs.

Consoles travel over Redis pub/sub, where every subscriber of the relay's
channel gets every "open": two relays of one host would each start a shell
for every console. The second one therefore waits for the lock, and gives up
with a clear message if a live relay keeps it.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket

import redis.asyncio as aioredis
from django.conf import settings

from ..leases import RELEASE_SCRIPT, RENEW_SCRIPT  # redis and settings only: nothing of the web tier

log = logging.getLogger("topology.relay")

TTL_MS = 15_000          # a relay that dies without releasing frees the lock after this
RENEW_EVERY = 5.0        # seconds between renewals
WAIT = 20.0              # seconds a starting relay waits for a dead predecessor's lock to lapse


class RelayAlreadyRunning(RuntimeError):
    """Another live relay serves this host."""


class SingletonLock:
    """The lock ``key``, renewed in the background while held."""

    def __init__(self, key: str):
        self.key = key
        self.me = f"{socket.gethostname()}:{os.getpid()}"
        self.client = aioredis.Redis.from_url(settings.REDIS_URL, decode_responses=True, socket_timeout=10)
        self.renewer: asyncio.Task | None = None

    async def acquire(self, wait: float = WAIT) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while not await self.client.set(self.key, self.me, nx=True, px=TTL_MS):
            if loop.time() > deadline:
                holder = await self.client.get(self.key)
                raise RelayAlreadyRunning(f"another console relay ({holder}) serves this host already; "
                                          "stop it first")
            await asyncio.sleep(0.5)
        self.renewer = asyncio.create_task(self._renew())

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(RENEW_EVERY)
            try:
                if await self.client.eval(RENEW_SCRIPT, 1, self.key, self.me, TTL_MS):
                    continue
                # Gone with a Redis that restarted empty (no persistence): taken again, unless another relay has it.
                if await self.client.set(self.key, self.me, nx=True, px=TTL_MS):
                    log.warning("relay: took its lock %s again (Redis had lost it)", self.key)
                else:
                    log.error("relay: lost its lock %s to %s", self.key, await self.client.get(self.key))
            except (OSError, aioredis.RedisError) as exc:
                log.warning("relay: cannot renew its lock (%s)", exc)

    async def release(self) -> None:
        if self.renewer:
            self.renewer.cancel()
        try:
            await self.client.eval(RELEASE_SCRIPT, 1, self.key, self.me)
        finally:
            await self.client.aclose()
