"""The lab worker's Docker watcher: a lab's state follows what really happened to its containers (root side).

A thread of the root lab worker (started on Celery's ``worker_ready``, see
:func:`start_watching`, stopped on ``worker_shutdown``) follows the Docker
Engine's events for this site's containers (the ``topolab.site`` label,
filtered by the engine itself):

- ``die``: a node's main process ended (a crash, a kill, the OOM killer,
  ``docker stop``, dockerd stopping): the node is ``exited``, with its exit
  code, or "killed by the OOM killer" when Docker says ``OOMKilled``;
- ``destroy``: its container was removed (``docker rm -f``): ``gone``;
- ``oom``: remembered, for the ``die`` that follows.

An event is only a hint. At the moment it is handled the container is
inspected and the database re-read, and a change is recorded
(:func:`topology.labstate.do_node_lost`: node exited or gone, lab
``degraded``) only for a node whose container it still is, of a lab of this
worker's queue that is running or degraded with no operation in progress. So
Topolab's own deploys, destroys and clean-ups, which remove the containers of
labs that are deploying or destroying (or of no lab), change nothing here. A
lab whose lease is taken while it still says running (the instant an
operation is queued, or gives its lease back) is looked at again shortly.

When the event stream ends (dockerd stopped or restarted) the watcher
reconnects, backing off up to every 10 s while the engine does not answer
(logged once, not at every try). On every connection, the first one included
(the worker may have been down), it reconciles: the labelled containers are
listed and compared with the nodes of this queue's running and degraded labs,
and every node whose container stopped or vanished meanwhile is recorded.
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from celery.signals import worker_shutdown
from django.conf import settings
from django.db import close_old_connections, connections

from . import labstate, leases
from .engine import names
from .engine.docker_runtime import DockerRuntime, RuntimeStepError
from .models import LIVE_STATES, Lab, LabNode, LabState, NodeStatus

log = logging.getLogger(__name__)

ACTIONS = ("die", "destroy", "oom")  # the events asked of the engine
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 10.0  # seconds between tries to reach an engine that does not answer
STEADY = 5.0  # seconds: an event stream that ended sooner counts as a failed try (backing off)
WARN_EVERY = 60.0  # seconds: each kind of warning about the engine, at most this often
RETRY_EVERY, RETRY_FOR = 0.5, 30.0  # a lab whose lease is held: looked at again, for at most this long
DEPLOY_WAIT = 600.0  # a container of a lab being deployed: looked at again once the build is over, this long at most
INSPECT_TIMEOUT = 10  # seconds: the socket timeout of the watcher's inspections (the stream has none)
OOM_REMEMBERED = 1000

REMOVED = "its container was removed"
VANISHED = "its container is gone (removed, or lost by the Docker Engine, while the lab worker was not watching)"


def event_filters(site: str) -> dict:
    """The engine-side filters of the events the watcher follows: this site's containers' deaths and removals."""
    return {"type": ["container"], "event": list(ACTIONS), "label": [f"{names.LABEL_SITE}={names.check_site(site)}"]}


@dataclass(frozen=True)
class Seen:
    """What one engine event says of a container of this site."""

    action: str
    container: str
    lab_id: int
    node: str
    exit_code: int | None = None


def parse(event, site: str) -> Seen | None:
    """The container event ``die``, ``destroy`` or ``oom`` of one of ``site``'s nodes, else None.

    The engine already filtered by site; this checks again (and drops any
    other type or action, and containers without a lab and node label).
    """
    if not isinstance(event, dict) or event.get("Type") != "container":
        return None
    action = event.get("Action") or event.get("status") or ""
    if action not in ACTIONS:
        return None
    actor = event.get("Actor") or {}
    # A pool member a lab took carries its lab and node in its name (names.effective_labels).
    attributes = names.effective_labels(actor.get("Attributes") or {}, (actor.get("Attributes") or {}).get("name", ""))
    container = actor.get("ID") or event.get("id") or ""
    lab, node = str(attributes.get(names.LABEL_LAB, "")), str(attributes.get(names.LABEL_NODE, ""))
    if attributes.get(names.LABEL_SITE) != site or not container or not node or not (lab.isascii() and lab.isdigit()):
        return None
    try:
        code = int(attributes["exitCode"])
    except (KeyError, TypeError, ValueError):
        code = None
    return Seen(action, container, int(lab), node, code)


def exit_reason(code: int | None, oom: bool = False) -> str:
    """How a node's main process ended, in a user's words."""
    if oom:
        return "killed by the OOM killer" + (f" (exit code {code})" if code is not None else "")
    if code is None:
        return "its main process ended"
    if code > 128:
        try:
            name = signal.Signals(code - 128).name
        except ValueError:
            name = ""
        if name:
            return f"its main process was killed by {name} (exit code {code})"
    return f"its main process exited with code {code}"


def lost(state: dict | None, *, oom: bool = False, gone_reason: str = REMOVED) -> tuple[str, str] | None:
    """``(node state, reason)`` for a container whose inspected ``State`` is ``state`` (None: it is gone);
    None while it still runs."""
    if state is None or state.get("Status") in ("removing", "dead"):
        return NodeStatus.GONE.value, gone_reason
    if state.get("Running") or state.get("Status") in ("running", "paused", "restarting"):
        return None
    code = state.get("ExitCode")
    return NodeStatus.EXITED.value, exit_reason(code if isinstance(code, int) else None,
                                                oom or bool(state.get("OOMKilled")))


def state_from_event(seen: Seen) -> dict | None:
    """The container's state as the event alone says it (for when the engine cannot be asked)."""
    if seen.action == "destroy":
        return None
    return {"Status": "exited", "Running": False, "ExitCode": seen.exit_code}


_UNREAD = object()  # no fallback: a container that cannot be inspected is left for the next reconcile


class Watcher:
    """Follows the engine's events for one site and records the nodes of ``queue``'s labs that stop behind
    the engine's back; reconnects and reconciles when the engine comes back."""

    def __init__(self, site: str, queue: str, runtime_factory=None):
        self.site = names.check_site(site)
        self.queue = queue
        self.runtime_factory = runtime_factory or (lambda: DockerRuntime(timeout=INSPECT_TIMEOUT))
        self.stopping = threading.Event()
        self.following = threading.Event()  # set while the event stream is open (after its reconcile)
        self._lock = threading.Lock()
        self._stream = None
        self._oom: OrderedDict[str, None] = OrderedDict()
        self._pending: dict[int, dict[str, tuple[float, object]]] = {}  # lab -> container -> (since, call)
        self._warned: dict[str, float] = {}
        self._thread: threading.Thread | None = None

    # -- the thread ----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="docker-watcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """End the thread: close the stream it reads (from this thread) and wait for it."""
        self.stopping.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            try:
                stream.close()
            except Exception:  # noqa: BLE001 - already closed, or the engine went away: the thread ends anyway
                pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _warn(self, kind: str, message: str, *args) -> None:
        """A warning, at most once a minute of each kind (a dockerd that flaps must not flood the log)."""
        now = time.monotonic()
        if now - self._warned.get(kind, -WARN_EVERY) >= WARN_EVERY:
            self._warned[kind] = now
            log.warning(message, *args)
        else:
            log.debug(message, *args)

    def run(self) -> None:
        delay, down_since = BACKOFF_FIRST, None
        try:
            while not self.stopping.is_set():
                try:
                    runtime = self.runtime_factory()
                    stream = runtime.events(event_filters(self.site))
                except RuntimeStepError as exc:
                    if down_since is None:
                        down_since = time.monotonic()
                        log.warning("Docker watcher: the Docker Engine does not answer (%s); trying again every "
                                    "%.0f s at most, quietly, until it does", exc, BACKOFF_MAX)
                    else:
                        log.debug("Docker watcher: the Docker Engine still does not answer: %s", exc)
                    self.stopping.wait(delay)
                    delay = min(delay * 2, BACKOFF_MAX)
                    continue
                opened = time.monotonic()
                with self._lock:
                    self._stream = stream
                if self.stopping.is_set():  # stop() ran before the stream was known to it
                    stream.close()
                    break
                if down_since is not None:
                    self._warn("back", "Docker watcher: the Docker Engine answers again (after %.0f s); reconciling "
                               "the labs of %s", time.monotonic() - down_since, self.queue)
                else:
                    log.info("Docker watcher: following the containers of site %s", self.site)
                down_since = None
                self._safely(self.reconcile, runtime)
                self.following.set()
                try:
                    for event in stream:
                        if self.stopping.is_set():
                            break
                        self._safely(self.handle, runtime, event)
                except Exception as exc:  # noqa: BLE001 - the stream broke some other way: reconnect all the same
                    log.debug("Docker watcher: the event stream failed: %r", exc)
                self.following.clear()
                with self._lock:
                    self._stream = None
                if not self.stopping.is_set():
                    down_since = time.monotonic()
                    self._warn("ended", "Docker watcher: the Docker Engine's event stream ended (dockerd stopped or "
                               "restarted?); reconnecting, every %.0f s at most, quietly, until it answers",
                               BACKOFF_MAX)
                    if down_since - opened < STEADY:  # it ended at once: back off as if it did not answer
                        self.stopping.wait(delay)
                        delay = min(delay * 2, BACKOFF_MAX)
                    else:
                        delay = BACKOFF_FIRST
        finally:
            connections.close_all()

    def _safely(self, work, *args) -> None:
        """Run one piece of work; a failure (the database or Redis blinked) is logged, never ends the thread."""
        close_old_connections()
        try:
            work(*args)
        except Exception:  # the next event, or the next reconcile, tries again (logged with its traceback)
            log.exception("Docker watcher: %s failed", getattr(work, "__name__", "work"))

    # -- events ---------------------------------------------------------------------------------

    def handle(self, runtime, event) -> str:
        """Handle one engine event; says what came of it (for tests and the debug log)."""
        seen = parse(event, self.site)
        if seen is None:
            return "ignored"
        if seen.action == "oom":
            self._oom[seen.container] = None
            while len(self._oom) > OOM_REMEMBERED:
                self._oom.popitem(last=False)
            return "noted"
        outcome = self.check(runtime, seen.lab_id, seen.node, seen.container, fallback=state_from_event(seen))
        log.debug("Docker watcher: %s of %s (lab %s, node %s): %s", seen.action, seen.container[:12], seen.lab_id,
                  seen.node, outcome)
        return outcome

    def check(self, runtime, lab_id: int, node: str, container: str, *, fallback=_UNREAD,
              gone_reason: str = REMOVED, since: float | None = None) -> str:
        """Record what became of ``node`` if ``container`` is still its container in a lab this watcher
        speaks for, and the container, inspected now, no longer runs. Says what came of it."""
        since = time.monotonic() if since is None else since
        verdict, row_state = self._eligible(lab_id, node, container, time.monotonic() - since)
        if verdict.startswith("later"):
            self._later(lab_id, container, since, lambda: self.check(
                runtime, lab_id, node, container, fallback=fallback, gone_reason=gone_reason, since=since))
        if verdict:
            return verdict
        try:
            state = runtime.container_state(container)
        except RuntimeStepError as exc:
            if fallback is _UNREAD:
                return f"unreadable: {exc}"
            state = fallback  # the engine is going away: the event says enough
        outcome = lost(state, oom=container in self._oom, gone_reason=gone_reason)
        if outcome is None:
            return "running"
        if outcome[0] == row_state:
            return f"the node is {row_state}"
        if not labstate.do_node_lost(lab_id, node, *outcome, container=container):
            return "stale"
        log.warning("lab %s: node %s %s: %s", lab_id, node, *outcome)
        return "recorded"

    def _eligible(self, lab_id: int, node: str, container: str, waited: float) -> tuple[str, str]:
        """``("", the node's state)`` when the database, read now, says this news is the watcher's to
        record; else why not (``"later ..."``: to be looked at again shortly)."""
        lab = Lab.objects.filter(pk=lab_id).values_list("state", "queue").first()
        if lab is None or lab[1] != self.queue:
            return "not a lab of this queue", ""
        if lab[0] == LabState.DEPLOYING and waited < DEPLOY_WAIT:
            # A build in progress owns its containers; but one that dies as the build ends would be missed.
            return "later (the lab is deploying)", ""
        if lab[0] not in LIVE_STATES:
            return f"left to its operation (the lab is {lab[0]})", ""
        row = LabNode.objects.filter(lab_id=lab_id, name=node).values_list("state", "container_id").first()
        if row is None or row[1] != container:
            return "not the node's container", ""
        if row[0] not in (NodeStatus.RUNNING, NodeStatus.EXITED):
            return f"the node is {row[0]}", row[0]
        if waited < RETRY_FOR and leases.is_held(lab_id):
            return "later (an operation holds the lab)", row[0]
        return "", row[0]

    def _later(self, lab_id: int, container: str, since: float, call) -> None:
        """Look at ``container`` again shortly: one timer per lab, however many of its containers wait."""
        if self.stopping.is_set():
            return
        with self._lock:
            waiting = self._pending.setdefault(lab_id, {})
            first = not waiting
            waiting[container] = (since, call)
        if first:
            timer = threading.Timer(RETRY_EVERY, self._again, (lab_id,))
            timer.daemon = True
            timer.start()

    def _again(self, lab_id: int) -> None:
        """The containers of a lab that were to be looked at again (each re-checks; those still waiting
        come back to :meth:`_later`). While the lab still waits, they wait on without a look each."""
        try:
            with self._lock:
                waiting = self._pending.pop(lab_id, {})
            if self.stopping.is_set() or not waiting:
                return
            close_old_connections()
            lab = Lab.objects.filter(pk=lab_id).values_list("state", flat=True).first()
            oldest = time.monotonic() - min(since for since, _ in waiting.values())
            still = ((lab == LabState.DEPLOYING and oldest < DEPLOY_WAIT)
                     or (lab in LIVE_STATES and oldest < RETRY_FOR and leases.is_held(lab_id)))
            for container, (since, call) in waiting.items():
                if still:
                    self._later(lab_id, container, since, call)
                else:
                    self._safely(call)
        except Exception:  # Redis or the database blinked: these looks are lost; the next reconcile has them
            log.exception("Docker watcher: looking again at lab %s failed", lab_id)
        finally:
            connections.close_all()

    # -- reconcile ------------------------------------------------------------------------------

    def reconcile(self, runtime) -> list[tuple[int, str, str]]:
        """Compare the site's containers with the nodes of this queue's running and degraded labs; record
        every node whose container stopped or vanished. Returns what it recorded, ``(lab, node, state)``."""
        present = {info.id: info.state for info in runtime.list(names.lab_filter(self.site))}
        recorded = []
        for lab in Lab.objects.filter(queue=self.queue, state__in=LIVE_STATES):
            nodes = LabNode.objects.filter(lab=lab, state__in=(NodeStatus.RUNNING, NodeStatus.EXITED))
            for name, state, container in nodes.values_list("name", "state", "container_id"):
                if not container or present.get(container) == "running":
                    continue
                if state == NodeStatus.EXITED and container in present:
                    continue  # already recorded as exited; it is still there
                outcome = self.check(runtime, lab.pk, name, container, gone_reason=VANISHED)
                if outcome == "recorded":
                    recorded.append((lab.pk, name, LabNode.objects.get(lab=lab, name=name).state))
        if recorded:
            log.warning("Docker watcher: reconciled %s", ", ".join(f"lab {lab} {node} {state}"
                                                                    for lab, node, state in recorded))
        return recorded


_watcher: Watcher | None = None


def start_watching(sender=None, **kwargs) -> Watcher | None:
    """Start this worker's watcher (once), to be stopped on Celery's ``worker_shutdown``; never raises."""
    global _watcher
    if _watcher is not None:
        return _watcher
    try:
        _watcher = Watcher(settings.TOPOLAB_SITE, settings.TOPOLAB_QUEUE)
        _watcher.start()
    except Exception:  # the worker must run even without its watcher (logged with its traceback)
        log.exception("could not start the Docker watcher")
        _watcher = None
        return None
    worker_shutdown.connect(stop_watching, weak=False)
    return _watcher


def stop_watching(sender=None, **kwargs) -> None:
    """Stop the watcher started by :func:`start_watching`, if any."""
    global _watcher
    watcher, _watcher = _watcher, None
    if watcher is not None:
        watcher.stop()
