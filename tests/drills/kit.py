"""The reliability drills (issue 17): what a crash or a restart of each part does to the labs and their users.

Shared by the short form run in CI (tests/drills/) and the full script (bench/drills.py). Each drill runs
against a :class:`Stack` of real processes of its own: a private ``redis-server`` on a free port (so that
it can be restarted without disturbing anything else on the machine), a lab worker, the console relay and
the web server (daphne), all pointed at that Redis and at one lab queue of their own, on the caller's
database. The drills act as a user does, through the REST API and websockets of the real web server, and
look at the database and the host (containers, veths, namespaces) as an administrator would.

- :func:`kill_drill`: ``kill -9`` of the lab worker at a chosen phase of a deploy or destroy (aimed by
  reading the worker's log: the engine logs each step as it starts), then the worker's restart, as a new
  process (its start-up reconcile runs): the lab must end stopped or failed with a reason, and nothing of
  it may stay on the host.
- :func:`web_restart_drill`, :func:`redis_restart_drill`, :func:`dockerd_restart_drill`: a restart of that
  part while a lab runs and a console is open; what recovered by itself, what the user was told, what was
  lost. They return :class:`Outcome` rows (the README's table) and raise :class:`DrillFailed` when a
  promise is broken.
"""
from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from tests.drills.wsclient import Closed, WebSocket
from topology.testing.dockerd import how_dockerd_runs, start_dockerd

ROOT = Path(__file__).resolve().parents[2]
FINAL = ("stopped", "failed")
SETTLE = 90.0  # seconds a lab may take to end after the worker is back (its dead predecessor's lease lapses first)

# Where a kill can be aimed: (operation, what the worker's log says at that moment). The engine logs
# "lab N: <step> <status>" as each step starts and ends (operations._log_report); Celery logs a task as
# received the instant the worker takes it off the queue.
PHASES = {
    "deploy: task taken": ("deploy", "Task topology.deploy_lab["),
    "deploy: creating containers": ("deploy", "create containers started"),
    "deploy: starting containers": ("deploy", "start containers started"),
    "deploy: creating links": ("deploy", "create links started"),
    "deploy: configuring interfaces": ("deploy", "configure interfaces started"),
    "deploy: running exec commands": ("deploy", "run exec commands started"),
    "destroy: task taken": ("destroy", "Task topology.destroy_lab["),
    "destroy: removing containers": ("destroy", "remove containers started"),
    "destroy: half removed": ("destroy", "ok "),  # after the first "remove <node> ok" (see _aimed)
}


class DrillFailed(AssertionError):
    """A drill found a broken promise: a lab stuck, something left on the host, something lost."""


def lab_document(name: str = "drill") -> dict:
    """The reference lab (c1 - r1 - c2, addresses and routes) with an exec command, so every phase is there."""
    document = json.loads((ROOT / "tests" / "data" / "router-between-two-clients.json").read_text())
    document["name"] = name
    for node in document["nodes"]:
        node.pop("position", None)
    document["nodes"][2]["exec"] = ["sleep 1"]  # the exec phase lasts long enough to be aimed at
    return document


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the host: what a lab may leave behind ---------------------------------------------------------------
def host_veths() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show", "type", "veth"], capture_output=True, text=True, check=True)
    return {line.split(":")[1].strip().split("@")[0] for line in out.stdout.splitlines() if line.strip()}


def named_netns() -> set[str]:
    return set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()


@dataclass
class HostBaseline:
    """The host's veths and named namespaces before the drills (other programs on the machine have theirs).

    Topolab's own leftovers are containers with this site's label and interfaces with this site's alias
    (every veth and bridge it makes carries it: :func:`topology.engine.netlink.create_veth`). Any other new
    veth in the host namespace, or new named namespace, counts too where nothing else runs (CI, or
    ``TOPOLAB_DRILL_STRICT_HOST=1``); on a shared machine another test run may be making its own this
    instant, so there they are only reported (:attr:`foreign`).
    """

    veths: set[str] = field(default_factory=host_veths)
    netns: set[str] = field(default_factory=named_netns)
    foreign: list[str] = field(default_factory=list)
    strict: bool = field(default_factory=lambda: os.environ.get("CI") == "true"
                         or os.environ.get("TOPOLAB_DRILL_STRICT_HOST") == "1")

    def leftovers(self, lab_id: int | None = None) -> list[str]:
        """What Topolab left on the host: containers of this site (of one lab), interfaces with its alias,
        and (strict) new host veths and named namespaces that are still there a second later."""
        from topology.engine import names, netlink
        from topology.engine.docker_runtime import DockerRuntime

        found = [f"container {c.name}" for c in DockerRuntime().list(names.lab_filter(settings.TOPOLAB_SITE, lab_id))]
        prefix = names.interface_alias(settings.TOPOLAB_SITE, lab_id) if lab_id else \
            names.interface_alias(settings.TOPOLAB_SITE, 0)[:-1]
        found += [f"interface {ifname} ({alias})" for ifname, alias in netlink.host_interfaces_with_alias(prefix)]
        veths = host_veths() - self.veths
        if veths:
            time.sleep(1)
            veths &= host_veths()
        other = [f"host veth {v}" for v in sorted(veths)] + [f"named netns {n}" for n in sorted(named_netns() - self.netns)]
        if self.strict:
            return found + other
        self.foreign += [item for item in other if item not in self.foreign]
        return found


def scrub_host() -> list[str]:
    """Remove whatever this site's labs still have on the host (containers by label, interfaces by alias), as
    ``lab gc`` does for labs nobody owns; what was removed. Run after each drill, once its checks are done: a
    drill that failed half-way (its lab running, its destroy never reached) leaves nothing to later tests."""
    from topology.engine import names, netlink
    from topology.operations import make_executor

    executor = make_executor()
    labs = {int(c.labels.get(names.LABEL_LAB, "-1")) for c in executor.runtime.list(names.lab_filter(settings.TOPOLAB_SITE))}
    removed = [item for lab_id in sorted(labs) for item in executor.teardown(lab_id, lambda report: None)]
    prefix = names.interface_alias(settings.TOPOLAB_SITE, 0)[:-1]
    for ifname, _alias in netlink.host_interfaces_with_alias(prefix):
        if netlink.delete_host_interface(ifname):
            removed.append(f"interface {ifname}")
    return removed


# -- the processes --------------------------------------------------------------------------------------
class RedisServer:
    """A private ``redis-server`` on a free loopback port, configured as production's (no persistence)."""

    def __init__(self, directory: Path):
        self.port = _free_port()
        self.directory = Path(directory)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 20) -> None:
        log = open(self.directory / "redis.log", "ab")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory), "--protected-mode", "yes"], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not start: "
                                   f"{(self.directory / 'redis.log').read_text()[-2000:]}")
            time.sleep(0.05)

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def client(self):
        import redis

        return redis.Redis.from_url(self.url, decode_responses=True, socket_timeout=5)

    def stop(self) -> None:
        """SIGTERM, as ``systemctl restart redis-server`` does; it keeps nothing (no persistence)."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Stack:
    """A private Redis, a lab worker, the relay and the web server on one queue of their own."""

    def __init__(self, directory: Path | None = None, tag: str = "drill"):
        from tests.e2e.server import LiveServer
        from topology.testing.relay import RelayProcess
        from topology.testing.worker import WorkerProcess

        self.directory = Path(directory or tempfile.mkdtemp(prefix="topolab-drill-"))
        self.redis = RedisServer(self.directory)
        self.queue = f"{settings.TOPOLAB_QUEUE}-{tag}"
        env = {"REDIS_URL": self.redis.url, "TOPOLAB_QUEUE": self.queue}
        self.worker = WorkerProcess(self.queue, self.directory / "worker.log", lab_queue=self.queue)
        self.relay = RelayProcess(self.queue, self.directory / "relay.log")
        self.web = LiveServer(self.directory / "daphne.log")
        for process in (self.worker, self.relay, self.web):
            process.extra_env.update(env)
        self.started: list = []

    def start(self) -> None:
        self.redis.start()
        for process in (self.worker, self.relay, self.web):
            self.started.append(process)  # before it starts: one that hangs in its start is stopped too
            process.start(timeout=90)

    def stop(self) -> None:
        for process in reversed(self.started):
            if process.process is not None and process.process.poll() is None:
                process.stop()
        self.started.clear()
        self.redis.stop()

    def worker_alive(self) -> bool:
        from topology import leases

        try:
            return self.redis.client().get(leases.worker_key(self.queue)) is not None
        except Exception:  # noqa: BLE001 - Redis is down: no worker can say it is alive
            return False


class Api:
    """A user's REST client of the stack's web server (an API token of theirs)."""

    def __init__(self, stack: Stack, user):
        import requests

        from topology.models import ApiToken

        _, secret = ApiToken.issue(user, f"drill-{time.monotonic_ns()}")
        self.base = f"{stack.web.url}/api/v1"
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {secret}"

    def post(self, path: str, body: dict | None = None):
        return self.http.post(self.base + path, json=body, timeout=30)

    def get(self, path: str):
        return self.http.get(self.base + path, timeout=30)

    def lab(self, topology_id: int) -> dict:
        return self.get(f"/topologies/{topology_id}/lab").json()

    def operate(self, topology_id: int, action: str) -> str:
        response = self.post(f"/topologies/{topology_id}/{action}")
        if response.status_code != 202:
            raise DrillFailed(f"{action} refused: {response.status_code} {response.text}")
        return response.json()["operation"]

    def wait(self, topology_id: int, states=FINAL + ("running",), timeout: float = 120) -> dict:
        """The lab once it is in one of ``states`` and not busy."""
        deadline = time.monotonic() + timeout
        while True:
            lab = self.lab(topology_id)
            if lab["state"] in states and not lab["busy"]:
                return lab
            if time.monotonic() > deadline:
                raise DrillFailed(f"the lab is still {lab['state']} (busy {lab['busy']}, {lab['reason']!r}) "
                                  f"after {timeout:.0f} s")
            time.sleep(0.2)


def new_lab(owner, stack: Stack, name: str):
    """A topology of ``owner``'s whose lab lives on the stack's queue."""
    from topology import services
    from topology.models import Lab

    topology = services.import_topology(owner, lab_document(name), replace=True)
    Lab.objects.filter(pk=topology.lab.pk).update(queue=stack.queue)  # the stack's host
    return topology


# -- consoles -------------------------------------------------------------------------------------------
class Console:
    """A node's console as the editor's terminal holds it: its session token, what it printed."""

    ORIGIN = "http://localhost:8000"

    def __init__(self, stack: Stack, user, topology_id: int, node: str):
        from tests.websockets import cookie_of

        self.stack, self.cookie = stack, cookie_of(user)
        self.path = f"/ws/topologies/{topology_id}/nodes/{node}/console"
        self.session = ""
        self.statuses: list[dict] = []
        self.output = bytearray()
        self.ws: WebSocket | None = None

    def open(self, timeout: float = 20) -> dict:
        """Connect (resuming the last session, if any) and return the "open" status."""
        query = "cols=120&rows=30" + (f"&session={self.session}" if self.session else "")
        self.ws = WebSocket("127.0.0.1", self.stack.web.port, f"{self.path}?{query}",
                            {"Origin": self.ORIGIN, "Cookie": self.cookie})
        status = self.next_status(timeout)
        if status.get("state") != "open":
            raise DrillFailed(f"the console did not open: {status}")
        self.session = status.get("session") or self.session
        return status

    def next_status(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            message = self.ws.receive(max(0.01, deadline - time.monotonic()))
            if isinstance(message, bytes):
                self.output += message
                continue
            status = json.loads(message)
            self.statuses.append(status)
            return status

    def type(self, text: str) -> None:
        self.ws.send_json({"type": "input", "data": text})

    def expect(self, text: str, timeout: float = 15) -> bool:
        """Read until ``text`` shows in the output; False if the connection ends or time runs out first."""
        deadline = time.monotonic() + timeout
        while text.encode() not in self.output:
            try:
                message = self.ws.receive(max(0.01, deadline - time.monotonic()))
            except (TimeoutError, Closed):
                return False
            if isinstance(message, bytes):
                self.output += message
            else:
                self.statuses.append(json.loads(message))
        return True

    def until_closed(self, timeout: float) -> int | None:
        """Read until the connection ends: its close code, or None if it stayed open for ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                message = self.ws.receive(max(0.01, deadline - time.monotonic()))
            except Closed as closed:
                return closed.code
            except TimeoutError:
                return None
            if isinstance(message, bytes):
                self.output += message
            else:
                self.statuses.append(json.loads(message))

    def reconnect(self, within: float = 30) -> dict:
        """Reconnect with the session token, again and again as the page does, until the server answers."""
        deadline = time.monotonic() + within
        while True:
            try:
                return self.open()
            except (OSError, Closed, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()


class LabSocket:
    """The editor's live view of a lab (``/ws/topologies/<id>/``): its snapshot, then every change."""

    def __init__(self, stack: Stack, user, topology_id: int):
        from tests.websockets import cookie_of

        self.stack, self.cookie, self.path = stack, cookie_of(user), f"/ws/topologies/{topology_id}/"
        self.messages: list[dict] = []
        self.ws: WebSocket | None = None

    def open(self, within: float = 30) -> dict:
        """Connect (again and again, as the page does, until the server answers); the snapshot's lab."""
        deadline = time.monotonic() + within
        while True:
            try:
                self.ws = WebSocket("127.0.0.1", self.stack.web.port, self.path,
                                    {"Origin": Console.ORIGIN, "Cookie": self.cookie})
                return self.wait(lambda m: m.get("type") == "snapshot", 15)["lab"]
            except (OSError, Closed, TimeoutError, DrillFailed):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def wait(self, wanted, timeout: float) -> dict:
        """The first message (already received or to come) that ``wanted(message)``; DrillFailed if none comes."""
        for message in self.messages:
            if wanted(message):
                self.messages.remove(message)
                return message
        deadline = time.monotonic() + timeout
        while True:
            try:
                message = json.loads(self.ws.receive(max(0.01, deadline - time.monotonic())))
            except (TimeoutError, Closed) as exc:
                raise DrillFailed(f"the lab's socket did not say what was awaited ({exc!r})") from None
            if wanted(message):
                return message
            self.messages.append(message)

    def closed_within(self, timeout: float) -> int | None:
        """The close code if the connection ends within ``timeout`` (messages meanwhile are kept), else None."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.messages.append(json.loads(self.ws.receive(max(0.01, deadline - time.monotonic()))))
            except Closed as closed:
                return closed.code
            except TimeoutError:
                return None

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()


def shell_works(console: Console, marker: str) -> bool:
    """Type a command whose answer is computed (so an echo of the typed line does not count) and read it."""
    console.output.clear()
    console.type(f"echo {marker}-$((6*7))\n")
    return console.expect(f"{marker}-42")


# -- 1. kill -9 of the lab worker -----------------------------------------------------------------------
@dataclass
class KillResult:
    """One kill: where it was aimed, what the worker had reached, how the lab ended."""

    number: int
    phase: str
    delay_ms: int
    reached: str
    state: str
    reason: str
    recovered_s: float
    leftovers: list[str]

    @property
    def ok(self) -> bool:
        return self.state in FINAL and bool(self.reason or self.state == "stopped") and not self.leftovers


def _last_step(log: str, lab_id: int) -> str:
    marker = f"lab {lab_id}: "
    lines = [line.split(marker, 1)[1].strip() for line in log.splitlines() if marker in line]
    return lines[-1] if lines else "(no step yet)"


def _aimed(stack: Stack, lab_id: int, start: int, trigger: str, phase: str, timeout: float = 60) -> str:
    """Wait until the worker's log (from byte ``start``) says ``trigger``; '' when the operation ended first."""
    from topology.models import Lab

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = stack.worker.log_path.read_bytes()[start:].decode(errors="replace")
        if phase == "destroy: half removed":
            hit = any(f"lab {lab_id}: remove " in line and trigger in line and "remove containers" not in line
                      for line in text.splitlines())
        else:
            hit = trigger in text
        if hit:
            return trigger
        state = Lab.objects.filter(pk=lab_id).values_list("state", flat=True).first()
        if state not in ("deploying", "destroying"):
            return ""
        time.sleep(0.005)
    raise DrillFailed(f"{phase}: the worker never got there in {timeout:.0f} s: {stack.worker.tail()}")


def kill_drill(stack: Stack, api: Api, topology, number: int, phase: str, delay_ms: int,
               baseline: HostBaseline) -> KillResult:
    """Aim a ``kill -9`` at ``phase`` (plus ``delay_ms``), restart the worker, and see how the lab ends."""
    operation, trigger = PHASES[phase]
    lab = api.lab(topology.pk)
    if operation == "destroy" and lab["state"] != "running":
        api.operate(topology.pk, "deploy")
        if api.wait(topology.pk)["state"] != "running":
            raise DrillFailed(f"the lab to destroy did not deploy: {api.lab(topology.pk)}")
    elif operation == "deploy" and lab["state"] in ("running", "degraded"):
        api.operate(topology.pk, "destroy")
        api.wait(topology.pk)
    start = stack.worker.log_path.stat().st_size
    api.operate(topology.pk, operation)
    if _aimed(stack, topology.lab.pk, start, trigger, phase):
        time.sleep(delay_ms / 1000)
        reached = _last_step(stack.worker.log_path.read_bytes()[start:].decode(errors="replace"), topology.lab.pk)
    else:
        reached = "the operation ended before the aim"
    stack.worker.kill()  # SIGKILL
    killed = time.monotonic()
    stack.worker.start(timeout=90)  # a new process: its start-up reconcile runs
    lab = api.wait(topology.pk, states=FINAL + ("running",), timeout=SETTLE)
    recovered = time.monotonic() - killed
    if lab["state"] == "running":  # the operation had finished: not what was aimed at, but a clean end
        reached += " (it had finished)"
    leftovers = baseline.leftovers(topology.lab.pk) if lab["state"] in FINAL else []
    return KillResult(number, phase, delay_ms, reached, lab["state"], lab["reason"], round(recovered, 1), leftovers)


def kill_drills(stack: Stack, owner, count: int, seed: int, baseline: HostBaseline, echo=print) -> list[KillResult]:
    """``count`` kills at random (seeded) phases and delays, one lab for all of them; destroyed at the end."""
    rng = random.Random(seed)
    api = Api(stack, owner)
    topology = new_lab(owner, stack, "kill-drill")
    phases = list(PHASES)
    deploys = [p for p in phases if PHASES[p][0] == "deploy"]
    destroys = [p for p in phases if PHASES[p][0] == "destroy"]
    results = []
    try:
        for number in range(1, count + 1):
            # Every phase once before any twice, then at random; a run too short for all of them draws
            # deploy and destroy phases in turn, so that it still has both.
            if count >= len(phases):
                phase = phases[number - 1] if number <= len(phases) else rng.choice(phases)
            else:
                phase = rng.choice(deploys if number % 2 else destroys)
            result = kill_drill(stack, api, topology, number, phase, rng.randrange(0, 300), baseline)
            echo(f"kill {number:2}/{count}: {phase} +{result.delay_ms} ms; worker had reached: {result.reached}; "
                 f"lab {result.state} after {result.recovered_s} s ({result.reason or 'no reason'})"
                 + (f"; LEFT: {result.leftovers}" if result.leftovers else ""))
            results.append(result)
            if result.leftovers:  # clean up, so one leak does not fail every later kill
                api.operate(topology.pk, "destroy")
                api.wait(topology.pk)
    finally:
        lab = api.lab(topology.pk)
        if lab["state"] not in ("stopped",) or baseline.leftovers(topology.lab.pk):
            try:
                api.operate(topology.pk, "destroy")
                api.wait(topology.pk)
            except DrillFailed as exc:
                echo(f"clean-up: {exc}")
    return results


# -- 2. restarts while a lab runs and a console is open --------------------------------------------------
@dataclass
class Outcome:
    """A row of the README's table: what was drilled, what happened, what the user saw."""

    drilled: str
    happened: list[str]
    user_sees: list[str]
    broken: list[str]

    @property
    def ok(self) -> bool:
        return not self.broken


def _running_lab_with_console(stack: Stack, owner, name: str) -> tuple[Api, object, Console, int, LabSocket]:
    api = Api(stack, owner)
    topology = new_lab(owner, stack, name)
    api.operate(topology.pk, "deploy")
    lab = api.wait(topology.pk)
    if lab["state"] != "running":
        raise DrillFailed(f"the drill's lab did not deploy: {lab}")
    console = Console(stack, owner, topology.pk, "c1")
    console.open()
    console.type("export DRILL_MARK=kept\n")
    if not shell_works(console, "before"):
        raise DrillFailed("the console did not answer before the drill")
    live = LabSocket(stack, owner, topology.pk)
    live.open()
    return api, topology, console, _event_count(topology.lab.pk), live


def _event_count(lab_id: int) -> int:
    from topology.models import LabEvent

    return LabEvent.objects.filter(lab_id=lab_id).count()


def _after(outcome: Outcome, stack: Stack, api: Api, topology, console: Console, events_before: int,
           baseline: HostBaseline, live: LabSocket) -> None:
    """What every restart drill checks afterwards: the lab, its events, the console's same shell, a destroy."""
    lab = api.lab(topology.pk)
    if lab["state"] != "running":
        outcome.broken.append(f"the lab is {lab['state']} ({lab['reason']})")
    if _event_count(topology.lab.pk) < events_before:
        outcome.broken.append("events were lost")
    console.output.clear()
    console.type("echo mark-$DRILL_MARK\n")
    kept = console.expect("mark-kept")
    outcome.happened.append("the console's shell is the same one (its variable kept)" if kept
                            else "the console's shell is a new one")
    if not kept:
        outcome.broken.append("the console's shell was lost")
    destroyed = api.operate(topology.pk, "destroy") and api.wait(topology.pk)
    if destroyed["state"] != "stopped":
        outcome.broken.append(f"destroy after the drill: {destroyed['state']} ({destroyed['reason']})")
    try:  # the editor's live view, open through the drill, follows the destroy
        live.wait(lambda m: m.get("type") == "lab" and m.get("state") == "stopped", 15)
        outcome.happened.append("the lab's live socket showed the destroy as it happened")
    except DrillFailed as exc:
        outcome.broken.append(f"the lab's live socket no longer follows the lab: {exc}")
    left = baseline.leftovers(topology.lab.pk)
    if left:
        outcome.broken.append(f"left on the host: {left}")
    outcome.happened.append("destroy afterwards: stopped, nothing left on the host" if not left and
                            destroyed["state"] == "stopped" else "destroy afterwards did not end clean")
    console.close()
    live.close()


def web_restart_drill(stack: Stack, owner, baseline: HostBaseline) -> Outcome:
    """Restart daphne (SIGTERM, as systemd does, then a new process) under an open console."""
    outcome = Outcome("web server (daphne) restarted, console open", [], [], [])
    api, topology, console, events, live = _running_lab_with_console(stack, owner, "web-drill")
    started = time.monotonic()
    stack.web.stop()
    code = console.until_closed(10)
    outcome.user_sees.append(f"the console's connection closes (code {code}); the page says "
                             "\"Connection lost; reconnecting…\"" if code is not None
                             else "the console's connection stayed open (no close seen)")
    stack.web.start(timeout=60)
    status = console.reconnect(within=30)
    took = time.monotonic() - started
    outcome.happened.append(f"web server back and the console reconnected after {took:.1f} s: "
                            f"{status.get('message')!r} (resumed {status.get('resumed')})")
    if not status.get("resumed"):
        outcome.broken.append("the console did not resume its shell")
    outcome.user_sees.append(f"then \"{status.get('message')}\": the same shell, its screen as it was")
    if not shell_works(console, "after"):
        outcome.broken.append("the resumed console does not answer")
    lab = live.open()  # the editor's socket was cut too: reconnected, its snapshot says where the lab is
    outcome.happened.append(f"the lab's live socket reconnected; its snapshot says {lab.get('state')}")
    _after(outcome, stack, api, topology, console, events, baseline, live)
    return outcome


def redis_restart_drill(stack: Stack, owner, baseline: HostBaseline) -> Outcome:
    """Restart Redis (no persistence, as in production: it comes back empty) under an open console."""
    outcome = Outcome("Redis restarted (comes back empty), console open", [], [], [])
    api, topology, console, events, live = _running_lab_with_console(stack, owner, "redis-drill")
    other = new_lab(owner, stack, "redis-drill-other")  # stopped: asked to be destroyed the moment Redis is back
    started = time.monotonic()
    stack.redis.stop()
    time.sleep(2)
    stack.redis.start()
    early = api.post(f"/topologies/{other.pk}/destroy")
    outcome.user_sees.append(f"an operation asked the moment Redis is back: {early.status_code} "
                             f"{early.json().get('detail', 'accepted')!r}")
    if early.status_code == 202:
        api.wait(other.pk)
    elif early.status_code != 503:
        outcome.broken.append(f"an operation asked the moment Redis was back: {early.status_code} {early.text[:200]}")
    code = console.until_closed(5)
    if code is None and shell_works(console, "through"):
        outcome.happened.append("the console kept its connection and its shell through the restart")
        outcome.user_sees.append("nothing: the console goes on")
    else:
        outcome.user_sees.append(f"the console's connection closes (code {code}), then reconnects by itself")
        try:
            status = console.reconnect(within=30)
        except (OSError, Closed, TimeoutError) as exc:
            outcome.broken.append(f"the console could not reconnect: {exc}")
        else:
            outcome.happened.append(f"the console reconnected after {time.monotonic() - started:.1f} s: "
                                    f"{status.get('message')!r} (resumed {status.get('resumed')})")
            outcome.user_sees.append(f"then \"{status.get('message')}\"")
            if not shell_works(console, "after"):
                outcome.broken.append("the reconnected console does not answer")
    deadline = time.monotonic() + 30
    while not stack.worker_alive():
        if time.monotonic() > deadline:
            outcome.broken.append("the worker's heartbeat did not come back in 30 s")
            break
        time.sleep(0.2)
    else:
        outcome.happened.append(f"the worker's heartbeat was back {time.monotonic() - started:.1f} s after the stop")
    code = live.closed_within(3)
    if code is None:
        outcome.happened.append("the lab's live socket stayed open")
    elif code == 4403:
        outcome.broken.append("the lab's live socket was closed as forbidden (the page stops following)")
    else:  # the page reconnects by itself (static/topolab/live.js: after 1 s, then backing off)
        lab = live.open()
        outcome.happened.append(f"the lab's live socket was closed ({code}: its consumer's channel layer failed); "
                                f"reconnected, its snapshot says {lab.get('state')}")
        outcome.user_sees.append("the editor's live view reconnects by itself within a second or two, up to date")
    deadline = time.monotonic() + 15  # the worker puts them back within seconds (topology/kernel.py)
    while (capabilities := api.get("/capabilities")).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    if capabilities.status_code == 200:
        outcome.happened.append(f"the kernel's capabilities (for live link changes) were back "
                                f"{time.monotonic() - started:.1f} s after the stop")
    else:
        outcome.broken.append(f"GET /capabilities answers {capabilities.status_code} after the restart: "
                              f"{capabilities.text[:200]}")
    _after(outcome, stack, api, topology, console, events, baseline, live)
    return outcome


# -- dockerd (stops every container of the machine: behind TOPOLAB_DRILL_DOCKERD=1) ----------------------
def restart_dockerd() -> float:
    """Stop the machine's dockerd (SIGTERM) and start it again exactly as it ran; the seconds it took."""
    how = how_dockerd_runs()
    started = time.monotonic()
    try:
        os.kill(how["pid"], signal.SIGTERM)
        deadline = time.monotonic() + 60
        while os.path.exists(f"/proc/{how['pid']}"):
            if time.monotonic() > deadline:
                raise DrillFailed("dockerd did not stop in 60 s")
            time.sleep(0.1)
    finally:
        if not subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True).stdout.strip():
            try:
                start_dockerd(how)
            except RuntimeError as exc:
                raise DrillFailed(str(exc)) from None
    return time.monotonic() - started


def dockerd_restart_drill(stack: Stack, owner, baseline: HostBaseline) -> Outcome:
    """Restart the Docker Engine under a running lab and an open console."""
    outcome = Outcome("dockerd restarted, console open", [], [], [])
    api, topology, console, events, live = _running_lab_with_console(stack, owner, "dockerd-drill")
    took = restart_dockerd()
    outcome.happened.append(f"dockerd stopped and answered again after {took:.1f} s; every container of the "
                            "machine stopped with it (restart policy \"no\")")
    code = console.until_closed(15)
    last = next((s for s in reversed(console.statuses) if s.get("state") in ("closed", "error")), None)
    outcome.user_sees.append(f"the console says {last.get('message')!r} and closes (code {code})" if last
                             else f"the console closes (code {code})")
    deadline = time.monotonic() + 60
    while True:
        lab = api.lab(topology.pk)
        if lab["state"] == "degraded" and all(n["state"] in ("exited", "gone") for n in lab_nodes(api, topology)):
            break
        if time.monotonic() > deadline:
            outcome.broken.append(f"the lab did not show its nodes lost in 60 s: {lab}")
            break
        time.sleep(0.5)
    outcome.happened.append(f"the lab is {lab['state']}: {lab['reason']}")
    try:
        live.wait(lambda m: m.get("type") == "lab" and m.get("state") == "degraded", 5)
        outcome.user_sees.append(f"live, the lab turns \"{lab['state']}\", each node saying why; Destroy cleans up")
    except DrillFailed as exc:
        outcome.broken.append(f"the lab's live socket did not show it degraded: {exc}")
    try:
        status = console.reconnect(within=5)
        outcome.happened.append(f"a new console: {status}")
    except (OSError, Closed, TimeoutError, DrillFailed) as exc:
        outcome.happened.append(f"a new console is refused while the node is down ({exc})")
    console.ws = None
    if _event_count(topology.lab.pk) < events:
        outcome.broken.append("events were lost")
    destroyed = api.operate(topology.pk, "destroy") and api.wait(topology.pk)
    if destroyed["state"] != "stopped":
        outcome.broken.append(f"destroy after the drill: {destroyed['state']} ({destroyed['reason']})")
    left = baseline.leftovers(topology.lab.pk)
    if left:
        outcome.broken.append(f"left on the host: {left}")
    outcome.happened.append("destroy afterwards: stopped, nothing left" if destroyed["state"] == "stopped" and not left
                            else "destroy afterwards did not end clean")
    live.close()
    return outcome


def lab_nodes(api: Api, topology) -> list[dict]:
    body = api.get(f"/topologies/{topology.pk}/lab").json()
    return body.get("nodes") or []


def echo_outcome(outcome: Outcome, echo=print) -> None:
    echo(f"{'OK ' if outcome.ok else 'BROKEN'} {outcome.drilled}")
    for line in outcome.happened:
        echo(f"    happened: {line}")
    for line in outcome.user_sees:
        echo(f"    user sees: {line}")
    for line in outcome.broken:
        echo(f"    BROKEN: {line}")

