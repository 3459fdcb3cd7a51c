"""The terminals' shared heartbeat (topology/websockets/heartbeat.py) and what one beat reads.

A web process beats once a period for all its open terminals: one Redis pipeline for their places in the
count, one database call for their re-checks. These tests pin the schedule (every member within a period,
at a fixed rate, a failing beat is not the last), the batched reads (right answers, a few queries for many
terminals), and, through the whole ASGI stack, that many consoles on one heartbeat still close each for its
own reason within a period, and only those.
"""
from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.backends.signed_cookies import SessionStore as CookieStore
from django.contrib.sessions.models import Session
from django.utils import timezone

import tests.unit.test_console_socket as sockets
from tests.documents import reference_document
from tests.websockets import cookie_of, fresh_channel_layer, run  # noqa: F401 (autouse)
from topology import services
from topology.models import Lab, LabNode, UserFlags
from topology.websockets import access, heartbeat, terminals
from topology.websockets.access import FORBIDDEN, OWNER
from topology.websockets.console import ConsoleConsumer
from topology.websockets.relayed import _Facts

PERIOD = 0.1


# -- the schedule ---------------------------------------------------------------------------------------------

class Recorder:
    """A beat that notes when it ran and for whom; ``fail`` first beats raise."""

    def __init__(self, fail: int = 0, takes: float = 0.0):
        self.calls: list[tuple[float, list]] = []
        self.fail, self.takes = fail, takes

    async def __call__(self, members: list) -> None:
        self.calls.append((asyncio.get_running_loop().time(), list(members)))
        if self.takes:
            await asyncio.sleep(self.takes)
        if len(self.calls) <= self.fail:
            raise RuntimeError("a beat that fails")


def test_one_pulse_beats_for_every_member_of_a_loop_and_period_at_once():
    beat = Recorder()

    async def body():
        a, b, c = object(), object(), object()
        pulse = heartbeat.join(a, PERIOD, beat)
        same = heartbeat.join(b, PERIOD, beat) is pulse
        other = heartbeat.join(c, PERIOD * 3, beat)
        await asyncio.sleep(PERIOD * 3.5)
        for member in (a, b):
            pulse.leave(member)
        other.leave(c)
        await asyncio.gather(pulse.task, other.task, return_exceptions=True)
        return same, other is not pulse, [members for _, members in beat.calls], (a, b, c)

    same, apart, calls, (a, b, c) = run(body)
    assert same and apart
    shared = [members for members in calls if a in members]
    assert len(shared) >= 3 and all(members == [a, b] for members in shared)  # each beat, once for both
    assert [members for members in calls if a not in members] == [[c]]  # the longer period's own pulse


def test_a_member_is_beaten_for_within_one_period_of_joining():
    beat = Recorder()

    async def body():
        loop = asyncio.get_running_loop()
        first, late = object(), object()
        pulse = heartbeat.join(first, PERIOD, beat)
        await asyncio.sleep(PERIOD * 0.6)
        joined = loop.time()
        heartbeat.join(late, PERIOD, beat)
        await asyncio.sleep(PERIOD * 1.5)
        pulse.leave(first)
        pulse.leave(late)
        await asyncio.gather(pulse.task, return_exceptions=True)
        return joined, late

    joined, late = run(body)
    waited = next(t for t, members in beat.calls if late in members) - joined
    assert 0 <= waited <= PERIOD + 0.05  # (the slack: a busy machine's event loop)


def test_a_failing_beat_is_not_the_last_and_the_ticks_keep_their_rate():
    beat = Recorder(fail=2)

    async def body():
        member = object()
        pulse = heartbeat.join(member, PERIOD, beat)
        await asyncio.sleep(PERIOD * 6.5)
        pulse.leave(member)
        await asyncio.gather(pulse.task, return_exceptions=True)

    run(body)
    times = [t for t, _ in beat.calls]
    assert len(times) >= 4  # the two failures, then more
    assert (times[-1] - times[0]) / (len(times) - 1) == pytest.approx(PERIOD, rel=0.25)  # a fixed rate


def test_a_beat_longer_than_a_period_brings_no_burst_of_catching_up():
    beat = Recorder(takes=PERIOD * 2.5)

    async def body():
        member = object()
        pulse = heartbeat.join(member, PERIOD, beat)
        await asyncio.sleep(PERIOD * 8)
        pulse.leave(member)
        # The beat under way (if one is) ends, then the pulse; else it was cancelled asleep.
        await asyncio.wait_for(asyncio.gather(pulse.task, return_exceptions=True), 2)

    run(body)
    times = [t for t, _ in beat.calls]
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert len(times) >= 2 and all(gap >= PERIOD * 3 for gap in gaps), gaps  # the beat, then a whole period


def test_the_last_member_to_leave_ends_the_pulse_and_a_new_one_starts_afresh():
    beat = Recorder()

    async def body():
        member = object()
        pulse = heartbeat.join(member, PERIOD, beat)
        pulse.leave(member)
        await asyncio.sleep(0)  # the cancelled task finishes
        ended = pulse.task.done()
        again = heartbeat.join(member, PERIOD, beat)
        fresh = again is not pulse and not again.task.done()
        again.leave(member)
        await asyncio.sleep(PERIOD * 1.5)
        return ended, fresh, again.task.done(), [k for k in heartbeat._pulses if k[2] is beat]

    ended, fresh, ended_again, left = run(body)
    assert ended and fresh and ended_again
    assert left == [] and beat.calls == []  # nobody was there at any tick


def test_a_member_leaving_during_its_beat_ends_the_pulse_after_that_beat():
    async def body():
        member = object()
        seen = []

        async def beat(members):
            seen.append(members)
            pulse.leave(member)
            await asyncio.sleep(0)

        pulse = heartbeat.join(member, PERIOD, beat)
        await asyncio.sleep(PERIOD * 3)
        return seen, pulse.task.done(), pulse.task.cancelled()

    seen, done, cancelled = run(body)
    assert len(seen) == 1 and done and not cancelled  # the beat ran to its end, then the pulse stopped


# -- what a beat reads, for many terminals at once -------------------------------------------------------------

def signed_in(user) -> SessionStore:
    store = SessionStore()
    store["_auth_user_id"] = str(user.pk)
    store.create()
    return store


@pytest.mark.django_db
def test_ended_sessions_reads_many_sessions_in_one_query_as_load_would(alice, bob, django_assert_num_queries):
    alive, out, expired, tampered, also_alive = (signed_in(u) for u in (alice, alice, alice, bob, bob))
    Session.objects.filter(session_key=out.session_key).delete()
    Session.objects.filter(session_key=expired.session_key).update(expire_date=timezone.now() - timedelta(seconds=1))
    Session.objects.filter(session_key=tampered.session_key).update(session_data="not-signed:data")
    anonymous = SessionStore()  # no key: a visitor who never signed in
    sessions = [alive, out, expired, tampered, also_alive, anonymous, None, alive]
    with django_assert_num_queries(1):
        ended = access.ended_sessions(sessions)
    assert ended == {out.session_key, expired.session_key, tampered.session_key}
    # One at a time, the same answers (what the lab and course sockets ask).
    assert [access.signed_out(s) for s in sessions] == [False, True, True, True, False, False, False, False]
    assert [not SessionStore(s.session_key).load() for s in (alive, out, expired, tampered)] == [False, True, True, True]


def test_ended_sessions_loads_each_key_from_a_store_without_a_database():
    good = CookieStore()
    good["_auth_user_id"] = "1"
    good.save()
    forged = CookieStore(good.session_key[:-4] + "AAAA")
    assert access.ended_sessions([good, forged, good]) == {forged.session_key}


@pytest.mark.django_db
def test_must_change_passwords_names_the_flagged_users_only(alice, bob):
    UserFlags.objects.create(user=alice, must_change_password=True)
    UserFlags.objects.create(user=bob, must_change_password=False)
    assert access.must_change_passwords([alice.pk, bob.pk, alice.pk, 10_000]) == {alice.pk}
    assert access.must_change_passwords([]) == set()


def live_lab(owner, name: str = "reference") -> Lab:
    """A running copy of the reference lab of ``owner`` (rows only: no container runs)."""
    lab = services.import_topology(owner, {**reference_document(), "name": name}).lab
    Lab.objects.filter(pk=lab.pk).update(state="running", queue="lab.unit-heartbeat")
    for name in ("c1", "r1", "c2"):
        LabNode.objects.update_or_create(lab=lab, name=name, defaults={"state": "running", "container_id": f"cid-{name}"})
    return lab


def terminal(user, session, lab: Lab, node: str) -> ConsoleConsumer:
    """A console consumer as connect() leaves it, without a socket (the beat reads these fields only)."""
    consumer = ConsoleConsumer()
    consumer.scope = {"user": user, "session": session}
    consumer.lab_id, consumer.node, consumer.topology_id, consumer.role = lab.pk, node, lab.topology_id, OWNER
    return consumer


@pytest.mark.django_db
def test_one_beat_rechecks_many_terminals_in_a_few_queries_each_for_its_own_reason(alice, bob, django_user_model,
                                                                                   django_assert_max_num_queries):
    carol = django_user_model.objects.create_user("carol", "carol@example.org", None)
    labs = {who: live_lab(who) for who in (alice, bob, carol)}
    sessions = {who: signed_in(who) for who in (alice, bob, carol)}
    stopped = live_lab(alice, "another")
    Lab.objects.filter(pk=stopped.pk).update(state="stopped")
    LabNode.objects.filter(lab=labs[alice], name="r1").update(state="exited")
    consumers = [terminal(who, sessions[who], labs[who], node) for who in (alice, bob, carol) for node in ("c1", "c2")]
    consumers += [terminal(alice, sessions[alice], labs[alice], "r1"), terminal(alice, sessions[alice], stopped, "c1")]
    consumers += [terminal(bob, sessions[bob], labs[bob], "r1")] * 20  # many more cost no more queries
    Session.objects.filter(session_key=sessions[bob].session_key).delete()  # bob signed out in another tab
    UserFlags.objects.create(user=carol, must_change_password=True)
    with django_assert_max_num_queries(4):
        facts = _Facts(consumers)
    verdicts = [c._verdict(facts) for c in consumers]
    assert verdicts[:8] == [None, None, ("you signed out", 1000), ("you signed out", 1000),
                            ("change your password first", FORBIDDEN), ("change your password first", FORBIDDEN),
                            ("the node exited", 1000), ("the lab was destroyed", 1000)]
    assert set(verdicts[8:]) == {("you signed out", 1000)}


# -- the places in the count, renewed together -----------------------------------------------------------------

@pytest.mark.django_db
def test_renew_all_renews_many_places_in_one_round_trip_and_names_those_gone(alice, bob):
    try:
        places = [terminals.take(alice.pk, 1.0), terminals.take(alice.pk, 1.0), terminals.take(bob.pk, 1.0)]
        places[1].release()  # gone: taken over, or lapsed
        assert terminals.renew_all([(slot, 60.0) for slot in places]) == [True, False, True]
        assert terminals.renew_all([]) == []
        client = terminals.leases.client()
        assert client.zscore(terminals._set_key(alice.pk), places[0].member) > client.time()[0] * 1000 + 30_000
    finally:
        terminals.forget(alice.pk)
        terminals.forget(bob.pk)


# -- the ping, only when it says something -----------------------------------------------------------------------

def test_a_terminal_pings_its_relay_only_when_a_period_passed_without_a_word_either_way(monkeypatch):
    monkeypatch.setattr(ConsoleConsumer, "heartbeat", 10.0)
    consumer = ConsoleConsumer()
    consumer.told_at = consumer.last_heard = 100.0
    assert not consumer._needs_ping(105.0)   # typed and echoed within the period: both sides know
    assert consumer._needs_ping(110.0)       # a whole period of nothing
    consumer.told_at = 109.0
    assert consumer._needs_ping(110.5)       # typing, but no answer heard: the relay may be gone
    consumer.last_heard, consumer.told_at = 109.0, 90.0
    assert consumer._needs_ping(110.5)       # output, but this side said nothing: the relay must hear of it


# -- through the ASGI stack: many consoles, one heartbeat --------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_many_consoles_on_one_heartbeat_close_each_for_its_reason_within_a_period(sockets_running, alice, bob,
                                                                                  monkeypatch):
    monkeypatch.setattr(ConsoleConsumer, "heartbeat", 0.2)
    lab_a, lab_b = sockets_running
    alice_cookie, bob_cookie = cookie_of(alice), cookie_of(bob)
    from tests.websockets import session_socket

    def console(lab, node, cookie):
        return session_socket(f"/ws/topologies/{lab.topology_id}/nodes/{node}/console", cookie)

    mine = [console(lab_a, node, alice_cookie) for node in ("c1", "r1", "c2")]
    theirs = [console(lab_b, node, bob_cookie) for node in ("c1", "r1", "c2")]

    async def body():
        for ws, lab in [(ws, lab_a) for ws in mine] + [(ws, lab_b) for ws in theirs]:
            await sockets.play_relay(lab, ws)
            assert (await ws.receive_json_from(timeout=5))["state"] == "open"
        pulses = [k for k in heartbeat._pulses if k[1] == 0.2]
        await asyncio.sleep(0.5)  # a few heartbeats, all six still open
        quiet = [await ws.receive_nothing(timeout=0.05) for ws in mine + theirs]
        loop = asyncio.get_running_loop()
        began = loop.time()
        await database_sync_to_async(lambda: Session.objects.filter(
            session_key=bob_cookie.split("=", 1)[1]).delete())()
        closed = [await ws.receive_json_from(timeout=5) for ws in theirs]
        waited = loop.time() - began
        still = [await ws.receive_nothing(timeout=0.3) for ws in mine]
        for ws in mine + theirs:
            await ws.disconnect(code=1000)
        return len(pulses), quiet, closed, waited, still, [k for k in heartbeat._pulses if k[1] == 0.2]

    count, quiet, closed, waited, still, left = run(body)
    assert count == 1 and all(quiet)  # one heartbeat for the six
    assert closed == [{"type": "status", "state": "closed", "message": "you signed out"}] * 3
    assert waited < 0.2 + 0.3  # within a heartbeat (and some slack for a busy machine)
    assert all(still)  # alice's were not hers to close
    assert left == []  # the last console to go ended the pulse


@pytest.mark.django_db(transaction=True)
def test_keystrokes_and_their_echo_never_wait_for_the_database_thread(sockets_running, alice, monkeypatch):
    """Channels sends every message's handler through the one database thread first (to close stale
    connections): a keystroke then waits behind any page view or re-check running there. A console's
    typing, output and the relay's news go straight to their handlers; its connect still goes that way."""
    import channels.consumer

    trips = []
    real = channels.consumer.aclose_old_connections

    async def counted():
        trips.append(1)
        return await real()

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counted)
    lab = sockets_running[0]
    ws = sockets.communicator(lab.topology_id, user=alice)

    async def body():
        request, session = await sockets.play_relay(lab, ws)
        opened = await ws.receive_json_from(timeout=5)
        before = len(trips)
        relayed, echoed = [], []
        for key in "abcdefghij":
            await ws.send_json_to({"type": "input", "data": key})
            relayed.append((await sockets.next_message(session))["data"])
            await sockets.layer().send(request["reply"], {"type": "console.output", "data": key.encode()})
            echoed.append((await ws.receive_output(timeout=5))["bytes"])
        await sockets.layer().send(request["reply"], {"type": "console.pong"})
        await sockets.layer().send(request["reply"], {"type": "console.status", "state": "dropped", "message": "m"})
        status = await ws.receive_json_from(timeout=5)
        during = len(trips) - before
        await ws.disconnect(code=1000)
        return opened, before, relayed, echoed, status, during

    opened, before, relayed, echoed, status, during = run(body)
    assert opened["state"] == "open" and before >= 1  # the connect took the usual way
    assert "".join(relayed) == "abcdefghij" and b"".join(echoed) == b"abcdefghij"
    assert status["state"] == "dropped"
    assert during == 0


@pytest.fixture
def sockets_running(alice, bob):
    """A running lab each for alice and bob, on hosts of their own (rows only)."""
    import uuid

    labs = []
    for owner in (alice, bob):
        lab = services.import_topology(owner, reference_document()).lab
        Lab.objects.filter(pk=lab.pk).update(state="running", queue=f"lab.unit-{uuid.uuid4().hex[:12]}")
        for name in ("c1", "r1", "c2"):
            LabNode.objects.update_or_create(lab=lab, name=name,
                                             defaults={"state": "running", "container_id": f"cid-{name}-{owner.pk}"})
        lab.refresh_from_db()
        labs.append(lab)
    return labs
