"""The Docker watcher without Docker: engine events (fake dicts, shaped as dockerd 20.10 sends them) to
node and lab states, what it ignores, the reconcile, and its reconnecting loop."""
from __future__ import annotations

import logging

import pytest
from django.conf import settings

from topology import labstate, leases, watcher
from topology.engine.docker_runtime import ContainerInfo, RuntimeStepError
from topology.models import LabEvent, LabNode, LabState

SITE = settings.TOPOLAB_SITE
C1, R1, C2 = ("1" * 64), ("2" * 64), ("3" * 64)


def event(action: str, container: str = C2, *, lab="1", node="c2", site=SITE, exit_code=None, kind="container"):
    attributes = {"image": "topolab/base:latest", "name": f"topolab-{site}-{lab}-{node}", "topolab.image": "topolab/base",
                  "topolab.site": site, "topolab.lab": lab, "topolab.node": node}
    if exit_code is not None:
        attributes["exitCode"] = str(exit_code)
    return {"status": action, "id": container, "from": "topolab/base:latest", "Type": kind, "Action": action,
            "Actor": {"ID": container, "Attributes": attributes}, "scope": "local", "time": 1796112447,
            "timeNano": 1796112447305177768}


EXITED_137 = {"Status": "exited", "Running": False, "ExitCode": 137, "OOMKilled": False}
RUNNING = {"Status": "running", "Running": True, "ExitCode": 0, "OOMKilled": False}


# -- events to states, pure ------------------------------------------------------------------------------


def test_it_asks_the_engine_for_this_sites_container_deaths_and_removals_only():
    assert watcher.event_filters(SITE) == {"type": ["container"], "event": ["die", "destroy", "oom"],
                                           "label": [f"topolab.site={SITE}"]}


def test_it_reads_the_container_lab_node_and_exit_code_of_an_event():
    assert watcher.parse(event("die", exit_code=137, lab="12"), SITE) == watcher.Seen("die", C2, 12, "c2", 137)
    assert watcher.parse(event("destroy"), SITE) == watcher.Seen("destroy", C2, 1, "c2", None)
    assert watcher.parse(event("oom"), SITE).action == "oom"


def test_a_pool_member_a_lab_took_is_read_by_its_name():
    taken = event("die", exit_code=137)
    taken["Actor"]["Attributes"] = {"name": f"topolab-{SITE}-12-r1", "topolab.site": SITE, "topolab.pool": "k",
                                    "exitCode": "137"}
    assert watcher.parse(taken, SITE) == watcher.Seen("die", C2, 12, "r1", 137)
    free = event("die")
    free["Actor"]["Attributes"] = {"name": f"topolab-{SITE}-pool-ab12cd34", "topolab.site": SITE, "topolab.pool": "k"}
    assert watcher.parse(free, SITE) is None  # a member no lab took: not a node


@pytest.mark.parametrize("other", [
    event("die", site="another-site"),             # another installation on the same engine
    event("start"), event("kill"), event("exec_die"), event("health_status: unhealthy"),
    event("die", kind="network"),
    event("die", lab="x1"), event("die", lab=""), event("die", node=""),
    {"Type": "container", "Action": "die"},        # no actor at all
    "not a dict", None,
])
def test_it_ignores_other_events_sites_and_containers_without_labels(other):
    assert watcher.parse(other, SITE) is None


@pytest.mark.parametrize("state, expected", [
    (None, ("gone", "its container was removed")),
    ({"Status": "removing", "Running": False, "ExitCode": 137}, ("gone", "its container was removed")),
    ({"Status": "dead", "Running": False}, ("gone", "its container was removed")),
    (RUNNING, None),
    ({"Status": "paused", "Running": True}, None),
    (EXITED_137, ("exited", "its main process was killed by SIGKILL (exit code 137)")),
    ({**EXITED_137, "ExitCode": 143}, ("exited", "its main process was killed by SIGTERM (exit code 143)")),
    ({**EXITED_137, "OOMKilled": True}, ("exited", "killed by the OOM killer (exit code 137)")),
    ({**EXITED_137, "ExitCode": 1}, ("exited", "its main process exited with code 1")),
    ({**EXITED_137, "ExitCode": 0}, ("exited", "its main process exited with code 0")),
    ({**EXITED_137, "ExitCode": 255}, ("exited", "its main process exited with code 255")),
    ({"Status": "exited", "Running": False}, ("exited", "its main process ended")),
])
def test_an_inspected_state_says_what_became_of_the_node(state, expected):
    assert watcher.lost(state) == expected


def test_the_oom_killer_is_named_when_an_oom_event_came_first_and_gone_says_why():
    assert watcher.lost(EXITED_137, oom=True) == ("exited", "killed by the OOM killer (exit code 137)")
    assert watcher.lost(None, gone_reason=watcher.VANISHED) == ("gone", watcher.VANISHED)


def test_without_the_engine_the_event_alone_says_it():
    assert watcher.state_from_event(watcher.Seen("destroy", C2, 1, "c2")) is None
    assert watcher.lost(watcher.state_from_event(watcher.Seen("die", C2, 1, "c2", 137))) == (
        "exited", "its main process was killed by SIGKILL (exit code 137)")


# -- events to the database ------------------------------------------------------------------------------


class FakeRuntime:
    """Answers inspections from ``states`` ({container: State dict, or None when gone}) and lists them."""

    def __init__(self, states: dict | None = None):
        self.states = dict(states or {})
        self.broken = False

    def container_state(self, container):
        if self.broken:
            raise RuntimeStepError("cannot inspect the container: connection refused")
        return self.states.get(container)

    def list(self, label_filters):
        assert label_filters == [f"topolab.site={SITE}"]
        return [ContainerInfo(id=cid, name=cid[:12], labels={}, state=state["Status"])
                for cid, state in self.states.items() if state is not None]


@pytest.fixture
def published(monkeypatch):
    sent = []
    monkeypatch.setattr("topology.broadcast.publish_many", lambda lab_id, messages: sent.append(
        (lab_id, [m for m in messages if m])))
    return sent


@pytest.fixture
def running(topology, released, published, django_capture_on_commit_callbacks):
    """Alice's reference lab, running in containers C1, R1, C2 (as the worker records a build)."""
    lab = topology.lab
    with django_capture_on_commit_callbacks(execute=True):
        labstate.do_begin(lab, LabState.DEPLOYING, "deploy requested", "op-1", nodes=["c1", "r1", "c2"])
    labstate.do_nodes_running(lab, {"c1": (C1, []), "r1": (R1, []), "c2": (C2, [])})
    labstate.do_finish(lab, "op-1", LabState.RUNNING)
    published.clear()
    lab.refresh_from_db()
    return lab


@pytest.fixture
def watching(running):
    return watcher.Watcher(SITE, settings.TOPOLAB_QUEUE)


def states(lab):
    return dict(LabNode.objects.filter(lab=lab).values_list("name", "state"))


def handle(watching, lab, runtime, action, container=C2, node="c2", capture=None, **kw):
    with capture(execute=True):
        return watching.handle(runtime, event(action, container, lab=str(lab.pk), node=node, **kw))


def test_a_removed_container_makes_its_node_gone_and_the_lab_degraded(
        running, watching, published, django_capture_on_commit_callbacks):
    lab = running
    outcome = handle(watching, lab, FakeRuntime({C2: None}), "destroy", capture=django_capture_on_commit_callbacks)
    assert outcome == "recorded"
    lab.refresh_from_db()
    assert (lab.state, lab.reason, lab.operation) == ("degraded", "c2: its container was removed", "op-1")
    assert states(lab) == {"c1": "running", "r1": "running", "c2": "gone"}
    node = LabNode.objects.get(lab=lab, name="c2")
    assert (node.reason, node.container_id) == ("its container was removed", C2)  # kept: destroy removes it
    last = LabEvent.objects.filter(lab=lab).last()
    assert (last.step, last.node, last.status, last.message, last.operation) == (
        "c2 gone", "c2", "failed", "its container was removed", "op-1")
    [(lab_id, messages)] = published
    assert lab_id == lab.pk
    assert [m["type"] for m in messages] == ["node", "events", "lab"]
    assert messages[0] == {"type": "node", "name": "c2", "state": "gone", "reason": "its container was removed"}
    assert messages[1]["events"][0]["step"] == "c2 gone" and messages[1]["events"][0]["index"] is None
    assert messages[2] == {"type": "lab", "state": "degraded", "reason": "c2: its container was removed",
                           "busy": False, "operation": "op-1"}


def test_a_node_that_dies_exits_with_its_code_then_goes_when_removed(
        running, watching, published, django_capture_on_commit_callbacks):
    lab = running
    runtime = FakeRuntime({C1: EXITED_137})
    capture = django_capture_on_commit_callbacks
    assert handle(watching, lab, runtime, "die", C1, "c1", exit_code=137, capture=capture) == "recorded"
    assert states(lab)["c1"] == "exited"
    assert LabNode.objects.get(lab=lab, name="c1").reason == "its main process was killed by SIGKILL (exit code 137)"
    # The same news twice changes nothing more.
    assert handle(watching, lab, runtime, "die", C1, "c1", exit_code=137, capture=capture) == "the node is exited"
    runtime.states[C1] = None
    assert handle(watching, lab, runtime, "destroy", C1, "c1", capture=capture) == "recorded"
    runtime.states[C2] = {**EXITED_137, "ExitCode": 2}
    assert handle(watching, lab, runtime, "die", C2, "c2", exit_code=2, capture=capture) == "recorded"
    lab.refresh_from_db()
    assert states(lab) == {"c1": "gone", "r1": "running", "c2": "exited"}
    assert lab.reason == "c1: its container was removed; c2: its main process exited with code 2"
    assert [m["state"] for _, messages in published for m in messages if m["type"] == "lab"] == ["degraded"] * 3


def test_the_oom_killer_is_named_even_when_inspect_does_not_say_it(
        running, watching, django_capture_on_commit_callbacks):
    runtime = FakeRuntime({C2: EXITED_137})
    capture = django_capture_on_commit_callbacks
    assert handle(watching, running, runtime, "oom", capture=capture) == "noted"
    assert handle(watching, running, runtime, "die", exit_code=137, capture=capture) == "recorded"
    assert LabNode.objects.get(lab=running, name="c2").reason == "killed by the OOM killer (exit code 137)"


def test_when_the_engine_cannot_be_asked_the_event_says_it(running, watching, django_capture_on_commit_callbacks):
    runtime = FakeRuntime()
    runtime.broken = True  # dockerd is shutting down
    assert handle(watching, running, runtime, "die", exit_code=143, capture=django_capture_on_commit_callbacks) \
        == "recorded"
    assert LabNode.objects.get(lab=running, name="c2").reason == "its main process was killed by SIGTERM (exit code 143)"


def test_a_container_that_still_runs_changes_nothing(running, watching, published, django_capture_on_commit_callbacks):
    # e.g. the OOM killer took a child process and the main one lives on
    assert handle(watching, running, FakeRuntime({C2: RUNNING}), "die", capture=django_capture_on_commit_callbacks) \
        == "running"
    assert set(states(running).values()) == {"running"} and not published


@pytest.fixture
def later(monkeypatch, watching):
    """What the watcher would look at again shortly (the calls), instead of timers."""
    calls = []
    monkeypatch.setattr(watching, "_later", lambda lab_id, container, since, call: calls.append(call))
    return calls


def test_a_destroy_is_left_alone(running, watching, published, later, django_capture_on_commit_callbacks):
    lab = running
    with django_capture_on_commit_callbacks(execute=True):
        labstate.do_begin(lab, LabState.DESTROYING, "destroy requested", "op-2")
    published.clear()
    events = LabEvent.objects.count()
    outcome = handle(watching, lab, FakeRuntime({C2: None}), "destroy", capture=django_capture_on_commit_callbacks)
    assert outcome == "left to its operation (the lab is destroying)"
    lab.refresh_from_db()
    assert lab.state == "destroying" and states(lab)["c2"] == "running"
    assert LabEvent.objects.count() == events and not published and not later


def test_a_redeploy_removing_the_old_containers_is_left_alone(
        running, watching, published, later, django_capture_on_commit_callbacks):
    lab = running
    capture = django_capture_on_commit_callbacks
    with capture(execute=True):
        labstate.do_begin(lab, LabState.DEPLOYING, "deploy requested", "op-2", nodes=["c1", "r1", "c2"])
    # The deploy tears the old build down first: looked at again once the build is over...
    assert handle(watching, lab, FakeRuntime({C2: None}), "destroy", capture=capture) == "later (the lab is deploying)"
    [again] = later
    assert again() == "later (the lab is deploying)"
    # ... when the nodes run in new containers: the old one is no node's.
    labstate.do_nodes_running(lab, {"c1": ("4" * 64, []), "r1": ("5" * 64, []), "c2": ("6" * 64, [])})
    labstate.do_finish(lab, "op-2", LabState.RUNNING)
    published.clear()
    with capture(execute=True):
        assert later[-1]() == "not the node's container"
    assert set(states(lab).values()) == {"running"} and not published


def test_a_node_dying_as_its_build_ends_is_recorded_once_the_lab_runs(
        running, watching, later, django_capture_on_commit_callbacks):
    lab = running
    capture = django_capture_on_commit_callbacks
    with capture(execute=True):
        labstate.do_begin(lab, LabState.DEPLOYING, "deploy requested", "op-2", nodes=["c1", "r1", "c2"])
    new = "7" * 64
    runtime = FakeRuntime({new: {**EXITED_137, "ExitCode": 1}})  # e.g. its image's command ends at once
    assert handle(watching, lab, runtime, "die", new, exit_code=1, capture=capture) == "later (the lab is deploying)"
    labstate.do_nodes_running(lab, {"c1": (C1, []), "r1": (R1, []), "c2": (new, [])})
    labstate.do_finish(lab, "op-2", LabState.RUNNING)
    with capture(execute=True):
        assert later[-1]() == "recorded"
    assert states(lab)["c2"] == "exited"
    assert LabNode.objects.get(lab=lab, name="c2").reason == "its main process exited with code 1"


def test_a_stopped_or_failed_lab_and_another_container_are_left_alone(
        running, watching, published, django_capture_on_commit_callbacks):
    lab = running
    capture = django_capture_on_commit_callbacks
    # A container of an older build of the node (its id is not the node's): nothing to say.
    assert handle(watching, lab, FakeRuntime(), "destroy", "9" * 64, capture=capture) == "not the node's container"
    assert handle(watching, lab, FakeRuntime(), "destroy", node="zz", capture=capture) == "not the node's container"
    labstate.do_nodes_stopped(lab)
    labstate.do_finish(lab, "op-1", LabState.STOPPED)
    published.clear()
    assert handle(watching, lab, FakeRuntime(), "destroy", capture=capture) == "left to its operation (the lab is stopped)"
    assert not published


def test_a_lab_of_another_queue_or_unknown_lab_is_not_this_watchers(running, published, django_capture_on_commit_callbacks):
    other = watcher.Watcher(SITE, "lab.another-host")
    capture = django_capture_on_commit_callbacks
    assert handle(other, running, FakeRuntime(), "destroy", capture=capture) == "not a lab of this queue"
    with capture(execute=True):
        assert other.handle(FakeRuntime(), event("destroy", lab="999999")) == "not a lab of this queue"
    assert not published


def test_a_lab_whose_lease_is_held_is_looked_at_again_then_recorded(
        running, watching, later, django_capture_on_commit_callbacks):
    lab = running
    runtime = FakeRuntime({C2: None})
    assert leases.acquire(lab.pk, "op-3")  # e.g. the instant a destroy is queued
    assert handle(watching, lab, runtime, "destroy", capture=django_capture_on_commit_callbacks) \
        == "later (an operation holds the lab)"
    assert states(lab)["c2"] == "running"
    [again] = later
    with django_capture_on_commit_callbacks(execute=True):
        assert again() == "later (an operation holds the lab)"  # still held: once more
    leases.release(lab.pk, "op-3")
    with django_capture_on_commit_callbacks(execute=True):
        assert later[-1]() == "recorded"
    assert states(lab)["c2"] == "gone"


@pytest.fixture
def same_connection(monkeypatch):
    """The watcher's threads close their own database connections; here they run in the test's thread."""
    from types import SimpleNamespace

    monkeypatch.setattr(watcher, "connections", SimpleNamespace(close_all=lambda: None))
    monkeypatch.setattr(watcher, "close_old_connections", lambda: None)


class FakeTimer:
    started: list = []

    def __init__(self, delay, function, args):
        self.function, self.args = function, args

    def start(self):
        FakeTimer.started.append(self)


def test_the_containers_a_lab_waits_for_share_one_timer_and_wait_on_without_a_look_each(
        running, watching, monkeypatch, same_connection, django_capture_on_commit_callbacks):
    monkeypatch.setattr(watcher.threading, "Timer", FakeTimer)
    FakeTimer.started = []
    lab = running
    looked = []
    with django_capture_on_commit_callbacks(execute=True):
        labstate.do_begin(lab, LabState.DEPLOYING, "deploy requested", "op-2")
    now = watcher.time.monotonic()
    for container in (C1, R1, C2):
        watching._later(lab.pk, container, now, lambda c=container: looked.append(c))
    [timer] = FakeTimer.started
    timer.function(*timer.args)  # still deploying: nobody looks, they wait on, under a new timer
    assert looked == [] and len(FakeTimer.started) == 2 and set(watching._pending[lab.pk]) == {C1, R1, C2}
    labstate.do_finish(lab, "op-2", LabState.FAILED, "boom")
    FakeTimer.started[-1].function(*FakeTimer.started[-1].args)
    assert sorted(looked) == sorted([C1, R1, C2]) and lab.pk not in watching._pending


def test_do_node_lost_refuses_other_states_and_says_when_its_news_is_stale(running, published):
    with pytest.raises(ValueError):
        labstate.do_node_lost(running, "c2", "stopped", "no")
    assert not labstate.do_node_lost(running, "c2", "gone", "x", container="9" * 64)
    assert not labstate.do_node_lost(running, "nope", "gone", "x")
    running.refresh_from_db()
    assert running.state == LabState.RUNNING and not published


# -- reconcile -------------------------------------------------------------------------------------------


def test_reconcile_records_every_node_whose_container_stopped_or_vanished_once(
        running, watching, published, django_capture_on_commit_callbacks):
    lab = running
    runtime = FakeRuntime({C1: RUNNING, R1: {**EXITED_137, "ExitCode": 143}})  # C2 is not there at all
    with django_capture_on_commit_callbacks(execute=True):
        recorded = watching.reconcile(runtime)
    assert sorted(recorded) == [(lab.pk, "c2", "gone"), (lab.pk, "r1", "exited")]
    lab.refresh_from_db()
    assert lab.state == "degraded" and states(lab) == {"c1": "running", "r1": "exited", "c2": "gone"}
    assert LabNode.objects.get(lab=lab, name="c2").reason == watcher.VANISHED
    assert LabNode.objects.get(lab=lab, name="r1").reason == "its main process was killed by SIGTERM (exit code 143)"
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert watching.reconcile(runtime) == []
    assert not published
    del runtime.states[R1]  # the exited container is removed meanwhile
    with django_capture_on_commit_callbacks(execute=True):
        assert watching.reconcile(runtime) == [(lab.pk, "r1", "gone")]


def test_reconcile_leaves_labs_in_an_operation_alone(running, watching, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        labstate.do_begin(running, LabState.DESTROYING, "destroy requested", "op-2")
        assert watching.reconcile(FakeRuntime()) == []
    assert set(states(running).values()) == {"running"}


# -- the thread: reconnecting, quietly ---------------------------------------------------------------------


class FakeStream:
    def __init__(self, events, then=None):
        self.events = list(events)
        self.then = then
        self.closed = False

    def __iter__(self):
        yield from self.events
        if self.then:
            self.then()

    def close(self):
        self.closed = True


def test_it_reconnects_with_one_warning_while_the_engine_is_down_and_reconciles_each_time(
        monkeypatch, caplog, db, same_connection):
    monkeypatch.setattr(watcher, "BACKOFF_FIRST", 0.001)
    monkeypatch.setattr(watcher, "BACKOFF_MAX", 0.004)
    tries = []
    reconciled = []

    class Runtime(FakeRuntime):
        def events(self, filters):
            assert filters == watcher.event_filters(SITE)
            return streams.pop(0)

    def factory():
        tries.append(1)
        if len(tries) in (2, 3, 4, 5, 6):  # dockerd restarting: five tries fail
            raise RuntimeStepError("cannot reach the Docker Engine: connection refused")
        return Runtime()

    w = watcher.Watcher(SITE, settings.TOPOLAB_QUEUE, runtime_factory=factory)
    streams = [FakeStream([event("start")]), FakeStream([], then=w.stopping.set)]
    monkeypatch.setattr(w, "reconcile", lambda runtime: reconciled.append(runtime))
    with caplog.at_level(logging.DEBUG, logger="topology.watcher"):
        w.run()
    assert len(tries) == 7 and len(reconciled) == 2 and not streams
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 2, warnings  # one when it went, one when it came back; the tries between are quiet
    assert "event stream ended" in warnings[0] and "quietly" in warnings[0]
    assert "answers again" in warnings[1]
    assert not w.following.is_set()


def test_an_engine_down_when_the_worker_starts_is_said_once(monkeypatch, caplog, db, same_connection):
    monkeypatch.setattr(watcher, "BACKOFF_FIRST", 0.001)
    monkeypatch.setattr(watcher, "BACKOFF_MAX", 0.004)
    tries = []

    def factory():
        tries.append(1)
        if len(tries) == 20:
            w.stopping.set()
        raise RuntimeStepError("cannot reach the Docker Engine: no such file")

    w = watcher.Watcher(SITE, settings.TOPOLAB_QUEUE, runtime_factory=factory)
    with caplog.at_level(logging.DEBUG, logger="topology.watcher"):
        w.run()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(tries) == 20 and len(warnings) == 1 and "does not answer" in warnings[0]


def test_stop_closes_the_stream_it_reads(db):
    stream = FakeStream([])
    w = watcher.Watcher(SITE, settings.TOPOLAB_QUEUE)
    w._stream = stream
    w.stop()
    assert stream.closed and w.stopping.is_set()


# -- the runtime's two calls, on a fake docker-py API --------------------------------------------------------


class EngineAPI:
    def __init__(self, error=None, state=None):
        self.error, self.state, self.asked = error, state, None

    def inspect_container(self, container):
        if self.error:
            raise self.error
        return {"Id": container, "State": self.state}

    def events(self, **kwargs):
        self.asked = kwargs
        if self.error:
            raise self.error
        return iter([{"Type": "container"}])


def engine(**kwargs):
    from types import SimpleNamespace

    from topology.engine.docker_runtime import DockerRuntime

    api = EngineAPI(**kwargs)
    return DockerRuntime(client=SimpleNamespace(api=api)), api


def test_the_runtime_follows_events_with_the_engines_filters_decoded():
    runtime, api = engine()
    assert list(runtime.events(watcher.event_filters(SITE))) == [{"Type": "container"}]
    assert api.asked == {"since": None, "filters": watcher.event_filters(SITE), "decode": True}


def test_the_runtime_inspects_a_state_and_says_none_when_gone_and_why_when_it_cannot():
    import requests
    from docker.errors import NotFound

    assert engine(state=EXITED_137)[0].container_state(C1) == EXITED_137
    assert engine(error=NotFound("404 Client Error: No such container"))[0].container_state(C1) is None
    # dockerd going away: requests' own error, not docker's, must still be a RuntimeStepError
    gone = requests.exceptions.ConnectionError("[Errno 2] No such file or directory")
    with pytest.raises(RuntimeStepError, match="cannot inspect the container"):
        engine(error=gone)[0].container_state(C1)
    with pytest.raises(RuntimeStepError, match="cannot follow the Docker Engine's events"):
        engine(error=gone)[0].events(watcher.event_filters(SITE))


def test_a_flapping_engine_is_backed_off_and_not_a_flood(monkeypatch, caplog, db, same_connection):
    monkeypatch.setattr(watcher, "BACKOFF_FIRST", 0.001)
    monkeypatch.setattr(watcher, "BACKOFF_MAX", 0.004)
    waits = []

    class Runtime(FakeRuntime):
        def events(self, filters):
            if len(opened) == 10:
                w.stopping.set()
            opened.append(1)
            return FakeStream([])  # accepted, then ended at once

    opened = []
    w = watcher.Watcher(SITE, settings.TOPOLAB_QUEUE, runtime_factory=Runtime)
    monkeypatch.setattr(w, "reconcile", lambda runtime: None)
    real_wait = w.stopping.wait
    monkeypatch.setattr(w.stopping, "wait", lambda delay: (waits.append(delay), real_wait(0))[1])
    with caplog.at_level(logging.DEBUG, logger="topology.watcher"):
        w.run()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(opened) == 11 and len(warnings) == 2, warnings  # one "ended", one "answers again", then quiet
    assert waits[:3] == [0.001, 0.002, 0.004] and max(waits) == 0.004
