"""The compare-and-act Lua scripts of a lease are written once (topology/leases.py): the relay's lock uses them."""
from __future__ import annotations

import asyncio
import inspect
import os
import subprocess
import sys
import uuid

from tests.websockets import run
from topology import leases
from topology.relay import singleton


def test_the_relays_lock_uses_the_leases_scripts_and_has_no_copy_of_its_own():
    assert singleton.RENEW_SCRIPT is leases.RENEW_SCRIPT
    assert singleton.RELEASE_SCRIPT is leases.RELEASE_SCRIPT
    assert "redis.call" not in inspect.getsource(singleton)
    assert inspect.getsource(leases).count("redis.call('get'") == 2  # one renew, one release


def test_the_relays_lock_sends_exactly_those_scripts_to_redis(monkeypatch):
    key = f"topolab:test:relay-lock:{uuid.uuid4().hex}"
    monkeypatch.setattr(singleton, "RENEW_EVERY", 0.05)
    sent = []

    async def body():
        lock = singleton.SingletonLock(key)
        evaluate = lock.client.eval

        async def spy(script, *args):
            sent.append(script)
            return await evaluate(script, *args)

        lock.client.eval = spy
        await lock.acquire(wait=0)
        while leases.RENEW_SCRIPT not in sent:
            await asyncio.sleep(0.05)
        renewed = await lock.client.pttl(key)
        await lock.release()
        other = singleton.SingletonLock(key)
        left = await other.client.exists(key)
        await other.client.aclose()
        return renewed, left

    renewed, left = run(body)
    assert set(sent) == {leases.RENEW_SCRIPT, leases.RELEASE_SCRIPT}
    assert 0 < renewed <= singleton.TTL_MS and left == 0  # renewed, then released: the scripts worked


CHECK_IMPORTS = """
import sys
before = set(sys.modules)
import topology.relay.singleton
heavy = ("topology", "docker", "channels", "celery", "django.db", "django.apps", "ninja")
print(" ".join(sorted(m for m in set(sys.modules) - before if m.startswith(heavy))))
"""


def test_importing_the_leases_from_the_relay_pulls_in_nothing_heavy():
    # A fresh interpreter: what topology.relay.singleton brings along besides redis and Django's settings.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "labsite.settings"}
    found = subprocess.run([sys.executable, "-c", CHECK_IMPORTS], capture_output=True, text=True, check=True,
                           env=env).stdout.split()
    assert found == ["topology", "topology.leases", "topology.relay", "topology.relay.singleton"]
