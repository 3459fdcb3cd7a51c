"""One console relay per host: the lock in (real) Redis that a second relay waits for, then gives up on."""
from __future__ import annotations

import socket
import uuid

import pytest

from tests.websockets import run
from topology.relay.singleton import RelayAlreadyRunning, SingletonLock


def test_a_second_relay_waits_for_the_lock_and_then_says_who_holds_it():
    key = f"topolab:test:relay-lock:{uuid.uuid4().hex}"

    async def body():
        first, second = SingletonLock(key), SingletonLock(key)
        second.me = "other-host:4242"
        await first.acquire(wait=0)
        with pytest.raises(RelayAlreadyRunning) as refused:
            await second.acquire(wait=0.3)
        await first.release()
        await second.acquire(wait=1)  # free again: taken at once
        holder = await second.client.get(key)
        await second.release()
        third = SingletonLock(key)
        gone = await third.client.exists(key)
        await third.client.aclose()
        return str(refused.value), holder, gone

    refusal, holder, gone = run(body)
    assert "another console relay" in refusal and socket.gethostname() in refusal
    assert holder == "other-host:4242"
    assert gone == 0
