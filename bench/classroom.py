#!/usr/bin/env python3
"""A class of students on one host: deploy, "Check my work", consoles, the instructor's page, destroy.

    .venv/bin/python bench/classroom.py [--students 30] [--consoles 60] [--course-students 60]
                                        [--type-seconds 20] [--console-clients 2] [--skip-checks] [--skip-consoles]
                                        [--skip-course] [--skip-browser] [--skip-labs] [--pool N]    (as root)

It starts the real worker, exec worker, relay and daphne on a database, queue and
site label of its own, makes an instructor (group "instructors"), a course, a
published 5-node assignment (a router with four hosts, checks that pass on the
template) and ``--course-students`` enrolled accounts, each with its own API token
and session; then, printing figures and never asserting times:

1. the first ``--students`` of them start the assignment and deploy it at the
   same moment through the API: how many reached running, how many failed,
   p50/p95/max seconds from the request to running (the lab's state, read from
   the database every 50 ms, so the web tier is not polled 30 times a second);
2. "Check my work" for all at once (``POST /topologies/{id}/checks`` waits for the
   finished run): p50/p95/max seconds, and how many runs passed every check;
3. ``--consoles`` consoles at once (two per lab, on h1 and h2, over real
   websockets to daphne with each student's session cookie), each typing a key
   a second for ``--type-seconds``: keystroke-to-echo p50/p95/max and p99, from
   ``--console-clients`` processes (one event loop each), with how late the
   clients' own event loops woke (if that lag is near the latencies, the client
   is what was measured);
4. the instructor's course page: the time from opening ``/ws/courses/<id>/``
   until its snapshot shows every student and every deployed lab's live state
   (the other accounts have not started: their cells say so), and the same page in
   Chromium, from the start of its navigation until the grid shows every cell
   and every live lab's state and says "live" (``--skip-browser``: not);
5. destroy all at once: p50/p95/max seconds to stopped, then no leftovers:
   no container of the bench's site label, no new host veth, no new named netns;
6. the host's peak memory in use (MemTotal - MemAvailable, sampled every 0.25 s)
   over the run, beside the figure before it started.

With ``--pool N`` the class first deploys (and destroys) with the warm pool off, then
again with a warm pool of N started containers (topology/engine/pool.py), full before
the class presses Deploy: both figures of step 1, side by side in one run; the steps
after it run on the pooled labs.

Everything it made is destroyed at the end, on an error or on Ctrl-C too.
Targets (issue 10, 2 cores): 30 of 30 running, none failed, no leftovers after
destroy; console p95 under 15 ms with 60 open; the course page live in under 1 s.
The machine may be shared: other processes' load shows in the figures.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import signal
import statistics
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.isolated import start_django  # noqa: E402

_run = start_django()

import requests  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from tests.e2e.server import LiveServer  # noqa: E402
from topology import services  # noqa: E402
from topology.engine import names  # noqa: E402
from topology.engine.docker_runtime import DockerRuntime  # noqa: E402
from topology.models import ApiToken, Lab, SiteLimits  # noqa: E402
from topology.testing.labs import wait_for  # noqa: E402
from topology.testing.relay import RelayProcess  # noqa: E402
from topology.testing.worker import ExecWorkerProcess, WorkerProcess  # noqa: E402

PASSWORD = "pw-bench-classroom-1"
HOSTS = 4
LIVE = {"running", "degraded"}


# -- the assignment --------------------------------------------------------------------------------------------
def star_lab() -> dict:
    """r1 with four hosts h1..h4, each on its own /24 (10.0.<i>.0) with a default route via r1."""
    nodes = [{"name": "r1", "kind": "router", "position": {"x": 0, "y": 0}}]
    links = []
    for i in range(1, HOSTS + 1):
        nodes.append({"name": f"h{i}", "kind": "host", "position": {"x": (i - 2.5) * 150, "y": 150},
                      "routes": [{"to": "default", "via": f"10.0.{i}.1"}]})
        links.append({"endpoints": [{"node": f"h{i}", "interface": "eth0", "addresses": [f"10.0.{i}.2/24"]},
                                    {"node": "r1", "interface": f"eth{i - 1}", "addresses": [f"10.0.{i}.1/24"]}]})
    return {"format": "topolab/v1", "name": "star-of-four", "nodes": nodes, "links": links}


def star_checks() -> list[dict]:
    """Five checks that pass on the template: h1 reaches the others across r1, h4 reaches h1, a route."""
    checks = [{"node": "h1", "argv": ["ping", "-c1", "-W2", f"10.0.{i}.2"], "expect": "exit0",
               "description": f"h1 reaches h{i}", "points": 1} for i in range(2, HOSTS + 1)]
    checks.append({"node": "h4", "argv": ["ping", "-c1", "-W2", "10.0.1.2"], "expect": "exit0",
                   "description": "h4 reaches h1", "points": 1})
    checks.append({"node": "h1", "argv": ["ip", "route"], "expect": "match", "pattern": r"default via 10\.0\.1\.1",
                   "description": "h1's default route is r1", "points": 2})
    return checks


# -- figures ---------------------------------------------------------------------------------------------------
def percentile(values: list[float], fraction: float) -> float:
    """The value that ``fraction`` of ``values`` do not exceed (nearest rank); 0 when there are none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, int(round(len(ordered) * fraction)) - 1)]


def spread(values: list[float]) -> str:
    """p50/p95/max of ``values`` (seconds or ms as given), or "none" when there are none."""
    if not values:
        return "none"
    ordered = sorted(values)
    return f"p50 {statistics.median(ordered):.2f}, p95 {percentile(ordered, 0.95):.2f}, max {ordered[-1]:.2f}"


class Memory:
    """Samples the host's memory in use (MemTotal - MemAvailable) in a thread; keeps the peak."""

    def __init__(self):
        self.before = self.peak = self.used()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def used() -> int:
        fields = {}
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                key, value = line.split(":", 1)
                fields[key] = int(value.split()[0]) * 1024
        return fields["MemTotal"] - fields["MemAvailable"]

    def _sample(self):
        while not self._stop.wait(0.25):
            self.peak = max(self.peak, self.used())

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join(2)


def host_veths() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show", "type", "veth"], capture_output=True, text=True, check=True)
    return {line.split(":")[1].strip().split("@")[0] for line in out.stdout.splitlines() if line.strip()}


def named_netns() -> set[str]:
    return set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()


# -- a websocket client (RFC 6455, client side), small enough for 60 at once in one event loop --------------
class Socket:
    """One websocket to daphne: text frames out (masked, as a client must), text and binary frames in.

    Answers the server's pings (daphne pings every 20 s and drops a client that does not answer).
    """

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer
        self.close_code: int | None = None

    @classmethod
    async def open(cls, url: str, path: str, cookie: str) -> "Socket":
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {url}\r\n"
                      f"Cookie: {cookie}\r\n\r\n").encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            writer.close()
            raise RuntimeError(f"websocket {path} refused: {head.splitlines()[0].decode(errors='replace')}")
        return cls(reader, writer)

    def _frame(self, opcode: int, payload: bytes) -> bytes:
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        repeated = (mask * (n // 4 + 1))[:n]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big") if n else b""
        return head + mask + masked

    async def send_json(self, message: dict) -> None:
        self.writer.write(self._frame(0x1, json.dumps(message).encode()))
        await self.writer.drain()

    async def receive(self) -> str | bytes | None:
        """The next text (str) or binary (bytes) message; None once the server closed."""
        parts, kind = [], None
        while True:
            first, second = await self.reader.readexactly(2)
            n = second & 0x7F
            if n == 126:
                n = struct.unpack("!H", await self.reader.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", await self.reader.readexactly(8))[0]
            payload = await self.reader.readexactly(n)
            opcode = first & 0x0F
            if opcode == 0x9:  # ping
                self.writer.write(self._frame(0xA, payload))
                continue
            if opcode == 0xA:
                continue
            if opcode == 0x8:
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                return None
            if opcode in (0x1, 0x2):
                kind = opcode
            parts.append(payload)
            if first & 0x80:
                data = b"".join(parts)
                return data.decode() if kind == 0x1 else data

    async def close(self) -> None:
        try:
            self.writer.write(self._frame(0x8, struct.pack("!H", 1000)))
            await self.writer.drain()
        except (ConnectionError, RuntimeError):
            pass
        self.writer.close()


# -- the class -------------------------------------------------------------------------------------------------
class Student:
    """One student: their account, API token, session cookie, copy and its timings."""

    def __init__(self, user, token: str, cookie: str, url: str):
        self.user, self.cookie = user, cookie
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.url = url
        self.topology: int | None = None
        self.asked: float | None = None
        self.error = ""

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.http.request(method, f"{self.url}/api/v1{path}", timeout=300, **kwargs)


def account(username: str, url: str, *, instructor: bool = False):
    """A user with a password, an API token and a signed-in session cookie."""
    user = get_user_model().objects.create_user(username, password=PASSWORD, first_name=username.title())
    if instructor:
        user.groups.add(Group.objects.get(name="instructors"))
    _, token = ApiToken.issue(user, "bench")
    client = Client()
    client.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    return Student(user, token, cookie, url)


def expect(response: requests.Response, *codes: int) -> dict:
    if response.status_code not in codes:
        raise RuntimeError(f"{response.request.method} {response.request.url}: {response.status_code} {response.text[:500]}")
    return response.json() if response.content else {}


def at_once(students: list[Student], job) -> list:
    """Run ``job(student)`` for every student in its own thread, all released by one barrier."""
    barrier = threading.Barrier(len(students))
    results: list = [None] * len(students)

    def one(i: int, student: Student):
        barrier.wait()
        try:
            results[i] = job(student)
        except Exception as exc:  # noqa: BLE001 (a figure to print, not a crash of the bench)
            results[i] = exc
            student.error = f"{type(exc).__name__}: {exc}"

    threads = [threading.Thread(target=one, args=(i, s), daemon=True) for i, s in enumerate(students)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def watch_states(students: list[Student], targets: set[str], timeout: float) -> dict[int, tuple[str, float]]:
    """Read the students' labs from the database every 50 ms until each is in ``targets`` or "failed":
    {topology id: (state, seconds since that student's request)}."""
    seen: dict[int, tuple[str, float]] = {}
    asked = {s.topology: s.asked for s in students if s.topology and s.asked}
    deadline = time.monotonic() + timeout
    while len(seen) < len(asked) and time.monotonic() < deadline:
        now = time.perf_counter()
        for topology_id, state in Lab.objects.filter(topology_id__in=asked).values_list("topology_id", "state"):
            if topology_id not in seen and (state in targets or state == "failed"):
                seen[topology_id] = (state, now - asked[topology_id])
        time.sleep(0.05)
    return seen


def deploy_all(students: list[Student], assignment: int, how: str = "") -> None:
    def start_and_deploy(student: Student):
        copy = expect(student.call("POST", f"/assignments/{assignment}/start"), 200, 201)
        student.topology = copy["topology"]["id"]
        student.asked = time.perf_counter()
        expect(student.call("POST", f"/topologies/{student.topology}/deploy"), 202)

    at_once(students, start_and_deploy)
    refused = [s for s in students if s.error]
    seen = watch_states([s for s in students if not s.error], LIVE, timeout=900)
    running = [t for state, t in seen.values() if state in LIVE]
    failed = sum(state == "failed" for state, _ in seen.values())
    print(f"deploy {len(students)} labs of {HOSTS + 1} nodes at once{how}: {len(running)} of {len(students)} running, "
          f"{failed} failed, {len(refused)} refused, {len(students) - len(seen) - len(refused)} still not running; "
          f"seconds to running {spread(running)} (target: {len(students)} of {len(students)} running, none failed)")
    for s in refused:
        print(f"  refused: {s.user.username}: {s.error}")
    for lab in Lab.objects.filter(topology_id__in=[s.topology for s in students], state="failed"):
        print(f"  failed: {lab.topology.owner.username}: {lab.reason[:200]}")


def check_all(students: list[Student]) -> None:
    outcome: dict[str, tuple[float, dict]] = {}
    retries = [0]

    def check(student: Student):
        t0 = time.perf_counter()
        while True:
            response = student.call("POST", f"/topologies/{student.topology}/checks")
            if response.status_code == 429:  # one run at a time per host slot: wait as a browser would
                retries[0] += 1
                time.sleep(float(response.headers.get("Retry-After") or 1))
                continue
            run = expect(response, 200, 201)
            outcome[student.user.username] = (time.perf_counter() - t0, run)
            return

    at_once(students, check)
    times = [t for t, _ in outcome.values()]
    passed = sum(run.get("state") == "done" and run.get("score") == run.get("max_score") for _, run in outcome.values())
    print(f"'Check my work' x{len(students)} at once: {len(outcome)} answered, {passed} passed every check, "
          f"{retries[0]} retries after 429; seconds {spread(times)}")
    for s in students:
        if s.error:
            print(f"  error: {s.user.username}: {s.error}")
        elif s.user.username in outcome and outcome[s.user.username][1].get("score") != \
                outcome[s.user.username][1].get("max_score"):
            run = outcome[s.user.username][1]
            print(f"  {s.user.username}: {run.get('state')} {run.get('score')}/{run.get('max_score')} "
                  f"{run.get('reason', '')} {[r.get('seen', '')[:80] for r in run.get('results', []) if not r['passed']]}")


async def console_session(url: str, name: str, topology: int, node: str, cookie: str, seconds: float,
                          latencies: list[float], problems: list[str], opened: asyncio.Event, go: asyncio.Event) -> None:
    """One student's console: open it, wait for ``go``, then type a key a second for ``seconds``, timing each echo."""
    who = f"{name}/{node}"
    path = f"/ws/topologies/{topology}/nodes/{node}/console?cols=120&rows=30"
    try:
        ws = await Socket.open(url, path, cookie)
    except Exception as exc:  # noqa: BLE001
        problems.append(f"{who}: {exc}")
        opened.set()
        return
    tail = ""
    received = 0   # output bytes since it opened (said with a missing echo: did the shell print anything at all?)
    waiting: tuple[str, asyncio.Future] | None = None
    ready = asyncio.get_running_loop().create_future()

    async def read():
        nonlocal tail, waiting, received
        while True:
            message = await ws.receive()
            if message is None:
                return
            if isinstance(message, str):
                status = json.loads(message)
                if status.get("state") == "open" and not ready.done():
                    ready.set_result(True)
                elif status.get("state") in ("closed", "error"):
                    problems.append(f"{who}: {status}")
                continue
            received += len(message)
            tail = (tail + message.decode("utf-8", "replace"))[-64:]
            if waiting and tail.endswith(waiting[0]) and not waiting[1].done():
                waiting[1].set_result(time.perf_counter())

    reader = asyncio.create_task(read())
    try:
        await asyncio.wait_for(ready, 30)
        opened.set()
        await go.wait()
        await asyncio.sleep(random.random())  # spread the class's keystrokes over each second
        await asyncio.sleep(0.5)  # the shell's prompt
        for i in range(int(seconds)):
            if i % 10 == 0:
                await ws.send_json({"type": "input", "data": "\u0015"})  # clear the line, untimed
                await asyncio.sleep(0.2)
            key = "abcdefghij"[i % 10]
            tail = ""
            waiting = (key, asyncio.get_running_loop().create_future())
            t0 = time.perf_counter()
            await ws.send_json({"type": "input", "data": key})
            try:
                echoed = await asyncio.wait_for(waiting[1], 5)
                latencies.append((echoed - t0) * 1000)
            except asyncio.TimeoutError:
                problems.append(f"{who}: no echo of {key!r} in 5 s ({received} bytes of output since it opened, "
                                f"the last {tail[-24:]!r})")
            await asyncio.sleep(max(0.0, 1 - (time.perf_counter() - t0)))
        await ws.send_json({"type": "input", "data": "\u0015"})
    except Exception as exc:  # noqa: BLE001
        problems.append(f"{who}: {type(exc).__name__}: {exc}")
        opened.set()
    finally:
        reader.cancel()
        await ws.close()


async def loop_lag(lags: list[float], done: asyncio.Event, every: float = 0.01) -> None:
    """How late this event loop wakes up (ms), sampled every ``every`` s until ``done``: the client's own share
    of a keystroke's time (a busy client, or one starved of CPU, delays the echo it timestamps)."""
    while not done.is_set():
        t0 = time.perf_counter()
        await asyncio.sleep(every)
        lags.append(max(0.0, (time.perf_counter() - t0 - every) * 1000))


def console_client(url: str, specs: list[tuple], seconds: float, barrier, results) -> None:
    """One client process: its share of the consoles in one event loop; ``barrier`` once all are open (the parent
    and the other clients wait there too, so the whole class types from the same moment); its figures to ``results``."""
    async def everything():
        latencies, problems, lags = [], [], []
        go, done = asyncio.Event(), asyncio.Event()
        events = [asyncio.Event() for _ in specs]
        sessions = [asyncio.create_task(console_session(url, *spec, seconds, latencies, problems, opened, go))
                    for spec, opened in zip(specs, events, strict=True)]
        await asyncio.gather(*(e.wait() for e in events))
        try:
            await asyncio.to_thread(barrier.wait, 120)
        except threading.BrokenBarrierError:
            problems.append("the other console clients did not open theirs in 120 s")
        go.set()
        lagging = asyncio.create_task(loop_lag(lags, done))
        await asyncio.gather(*sessions)
        done.set()
        await lagging
        return latencies, problems, lags

    try:
        results.put(asyncio.run(everything()))
    except BaseException as exc:  # said to the parent, which must not wait for it forever
        results.put(([], [f"a console client failed: {type(exc).__name__}: {exc}"], []))
        raise


def consoles(url: str, students: list[Student], count: int, seconds: float, clients: int) -> None:
    """``count`` consoles (two per lab), from ``clients`` processes of their own (the client must not be what is
    measured: on a small host one event loop for 60 sockets, beside the bench's other threads, can be)."""
    import multiprocessing

    specs = []
    for i in range(count):
        student = students[(i // 2) % len(students)]
        node = f"h{1 + i % 2}" if i < 2 * len(students) else f"h{3 + i % 2}"
        specs.append((student.user.username, student.topology, node, student.cookie))
    clients = max(1, min(clients, count))
    context = multiprocessing.get_context("fork")  # the child runs the functions above; nothing of Django
    barrier, results = context.Barrier(clients + 1), context.Queue()
    processes = [context.Process(target=console_client, args=(url, specs[k::clients], seconds, barrier, results),
                                 daemon=True) for k in range(clients)]
    t0 = time.perf_counter()
    for process in processes:
        process.start()
    latencies, problems, lags = [], [], []
    try:
        barrier.wait(120)
    except threading.BrokenBarrierError:
        problems.append("not every console opened in 120 s")
    open_seconds = time.perf_counter() - t0
    for _ in processes:
        part = results.get(timeout=seconds + 180)
        latencies += part[0]
        problems += part[1]
        lags += part[2]
    for process in processes:
        process.join(10)
    print(f"{count} consoles opened at once in {open_seconds:.2f} s, each typing a key a second for {seconds:.0f} s "
          f"(from {clients} client process{'es' if clients > 1 else ''}): {len(latencies)} keystrokes, keystroke to "
          f"echo (ms) {spread(latencies)}, p99 {percentile(latencies, 0.99):.2f} (target p95 < 15 ms); the clients' "
          f"own event-loop lag (ms) {spread(lags)}")
    for problem in problems[:10]:
        print(f"  problem: {problem}")
    if len(problems) > 10:
        print(f"  ... and {len(problems) - 10} more problems")


def cells_of(snapshot: dict) -> list[dict]:
    """Every cell of a grid snapshot (topology/coursefeed.py: cells by username, then by assignment id)."""
    return [cell for row in snapshot["grid"]["cells"].values() for cell in row.values()]


def course_page(url: str, instructor: Student, course: int, students: int, live: int, runs: int = 5) -> None:
    """Open the course socket ``runs`` times: the time until its snapshot shows all students and live labs."""
    async def once() -> tuple[float, str]:
        t0 = time.perf_counter()
        ws = await Socket.open(url, f"/ws/courses/{course}/", instructor.cookie)
        try:
            while True:
                message = await asyncio.wait_for(ws.receive(), 30)
                if message is None:
                    return time.perf_counter() - t0, f"closed {ws.close_code} before a snapshot"
                data = json.loads(message) if isinstance(message, str) else {}
                if data.get("type") == "snapshot":
                    elapsed = time.perf_counter() - t0
                    cells = cells_of(data)
                    shown = sum(c.get("status") in LIVE for c in cells)
                    rows = len(data["grid"]["students"])
                    note = "" if rows >= students and shown >= live else \
                        f" (only {rows} students and {shown} live labs of {students} and {live})"
                    return elapsed, note
        finally:
            await ws.close()

    times, notes = [], set()
    for _ in range(runs):
        elapsed, note = asyncio.run(once())
        times.append(elapsed)
        if note:
            notes.add(note)
    print(f"course page of {students} students ({live} running labs): /ws/courses/{course}/ snapshot with every "
          f"live state in seconds {spread(times)} over {runs} openings (target < 1 s){''.join(sorted(notes))}")


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def course_page_browser(url: str, teacher: Student, course: int, students: int, live: int, runs: int = 3) -> None:
    """The same, as the instructor sees it: the course page in Chromium (a fresh tab each time), from the start
    of the navigation until the grid is drawn with every student's cell and every live lab's state, and says "live"."""
    from playwright.sync_api import sync_playwright

    drawn = """([students, live]) => {
        const cells = document.querySelectorAll('#course-grid td.grid-cell');
        const running = [...cells].filter((td) => td.dataset.status === 'running' || td.dataset.status === 'degraded');
        const state = (document.getElementById('grid-live') || {dataset: {}}).dataset.state;
        return cells.length >= students && running.length >= live && state === 'open'; }"""
    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 720}, base_url=url)
            page = context.new_page()
            page.goto("/login/")
            page.get_by_label("User name").fill(teacher.user.username)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/")
            for _ in range(runs):
                tab = context.new_page()
                tab.goto(f"/courses/{course}/")
                tab.wait_for_function(drawn, arg=[students, live], timeout=60_000, polling="raf")
                times.append(tab.evaluate("() => performance.now()") / 1000)
                tab.close()
        finally:
            browser.close()
    print(f"course page of {students} students ({live} running labs) in Chromium: from navigation until the grid shows "
          f"every cell and live state in seconds {spread(times)} over {runs} openings (target < 1 s)")


def destroy_all(students: list[Student], veths: set[str], netns: set[str]) -> None:
    deployed = [s for s in students if s.topology]
    for s in deployed:
        s.error = ""

    def destroy(student: Student):
        student.asked = time.perf_counter()
        expect(student.call("POST", f"/topologies/{student.topology}/destroy"), 202)

    at_once(deployed, destroy)
    seen = watch_states([s for s in deployed if not s.error], {"stopped"}, timeout=600)
    stopped = [t for state, t in seen.values() if state == "stopped"]
    # The warm pool's members not taken are the site's too (the filler refills it meanwhile): not leftovers.
    free = names.pool_member_name(settings.TOPOLAB_SITE, "")
    left = [c for c in DockerRuntime().list(names.lab_filter(settings.TOPOLAB_SITE)) if not c.name.startswith(free)]
    new_veths, new_netns = host_veths() - veths, named_netns() - netns
    print(f"destroy {len(deployed)} labs at once: {len(stopped)} stopped; seconds to stopped {spread(stopped)}; "
          f"leftovers: {len(left)} containers, {len(new_veths)} host veths, {len(new_netns)} netns "
          f"(target: none){' ' + str(sorted(new_veths)[:5]) if new_veths else ''}")


def pool_on(size: int, timeout: float = 900) -> None:
    """Turn the warm pool on with ``size`` members (the worker's filler fills it) and wait until it is full."""
    from topology.warm_pool import make_pool

    SiteLimits.objects.filter(pk=SiteLimits.current().pk).update(pool_size=size, pool_memory_mb=max(256, 4 * size))
    pool = make_pool()
    started = time.monotonic()
    while len([m for m in pool.members() if m.state == "running"]) < size:
        if time.monotonic() - started > timeout:
            raise SystemExit(f"the pool did not fill to {size} within {timeout:.0f} s")
        time.sleep(0.5)
    print(f"warm pool of {size} full in {time.monotonic() - started:.0f} s", flush=True)


def pool_off() -> None:
    """Turn the warm pool off and remove its members (the filler stops starting them within a round)."""
    from topology.warm_pool import make_pool

    SiteLimits.objects.filter(pk=SiteLimits.current().pk).update(pool_size=0)
    time.sleep(1.5)
    make_pool().drain()


def clean_up(students: list[Student]) -> None:
    """Destroy every lab the bench made that is not stopped, whatever happened before."""
    for lab in Lab.objects.filter(topology__owner__in=[s.user for s in students]).exclude(state="stopped"):
        try:
            wait_for(lab, services.request_destroy(lab), timeout=300)
        except Exception as exc:  # noqa: BLE001 (go on with the others; gc below catches the rest)
            print(f"  clean-up of lab {lab.pk}: {exc}", file=sys.stderr)


def _interrupted(signum, frame):
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=30, help="students who deploy (each their own lab)")
    parser.add_argument("--consoles", type=int, default=60, help="consoles open at once (two per lab)")
    parser.add_argument("--course-students", type=int, default=60, help="accounts enrolled in the course")
    parser.add_argument("--type-seconds", type=float, default=20)
    parser.add_argument("--console-clients", type=int, default=2,
                        help="processes the consoles' client is split over (one event loop each)")
    parser.add_argument("--skip-labs", action="store_true", help="deploy nothing (only the course page, empty cells)")
    parser.add_argument("--skip-checks", action="store_true")
    parser.add_argument("--skip-consoles", action="store_true")
    parser.add_argument("--skip-course", action="store_true")
    parser.add_argument("--skip-browser", action="store_true", help="the course page's socket only, not in Chromium")
    parser.add_argument("--pool", type=int, default=0,
                        help="deploy cold first, then again from a warm pool of this many containers")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run me as root: the worker and the relay need Docker and netlink")
    sys.stdout.reconfigure(line_buffering=True)  # each figure as soon as it is known (a long run is watched)
    enrolled = max(args.course_students, args.students)
    # A SIGTERM ends the bench as Ctrl-C does: through the clean-up below.
    signal.signal(signal.SIGTERM, _interrupted)

    call_command("migrate", verbosity=0)
    if not (args.skip_course or args.skip_browser):
        call_command("collectstatic", interactive=False, verbosity=0)
    limits = SiteLimits.current()
    limits.course_max_running_nodes = max(limits.course_max_running_nodes, enrolled * (HOSTS + 1))
    limits.save()
    data = Path(os.environ["TOPOLAB_DATA_DIR"])
    processes = [WorkerProcess(settings.TOPOLAB_QUEUE, data / "worker.log"),
                 ExecWorkerProcess(settings.TOPOLAB_QUEUE, data / "exec-worker.log"),
                 RelayProcess(settings.TOPOLAB_QUEUE, data / "relay.log"),
                 LiveServer(data / "daphne.log")]
    server = processes[-1]
    memory = Memory()
    veths, netns = host_veths(), named_netns()
    students: list[Student] = []
    started = []
    try:
        for process in processes:
            process.start()
            started.append(process)
        memory.start()
        teacher = account("teacher", server.url, instructor=True)
        course = expect(teacher.call("POST", "/courses", json={"name": "Bench networking"}), 201)["id"]
        for i in range(enrolled):
            students.append(account(f"student{i + 1:02d}", server.url))
            expect(teacher.call("POST", f"/courses/{course}/students", json={"username": f"student{i + 1:02d}"}), 201)
        assignment = expect(teacher.call("POST", f"/courses/{course}/assignments", json={
            "title": "Route between four hosts", "instructions": "Make **every host** reach every other.",
            "template": star_lab(), "checks": star_checks(), "grading": "best"}), 200, 201)["id"]
        expect(teacher.call("POST", f"/assignments/{assignment}/publish"), 200)
        deployers = [] if args.skip_labs else students[:args.students]
        print(f"host: {os.cpu_count()} cores, {memory.before / 2**30:.1f} GiB in use before the bench "
              f"(shared machine: other processes' load counts); {len(deployers)} students deploy, "
              f"{enrolled} enrolled", flush=True)
        if deployers and args.pool:
            deploy_all(deployers, assignment, " (no pool)")
            destroy_all(deployers, veths, netns)
            pool_on(args.pool)
        if deployers:
            deploy_all(deployers, assignment, f" (warm pool of {args.pool})" if args.pool else "")
            live = [s for s in deployers if Lab.objects.filter(topology_id=s.topology, state__in=LIVE).exists()]
            if live and not args.skip_checks:
                check_all(live)
            if live and not args.skip_consoles:
                consoles(server.url, live, args.consoles, args.type_seconds, args.console_clients)
        if not args.skip_course:
            live_count = Lab.objects.filter(topology__assignment_id=assignment, state__in=LIVE).count()
            course_page(server.url, teacher, course, enrolled, live_count)
            if not args.skip_browser:
                course_page_browser(server.url, teacher, course, enrolled, live_count)
        if deployers:
            destroy_all(deployers, veths, netns)
        memory.stop()
        print(f"host memory in use: {memory.before / 2**30:.2f} GiB before, peak {memory.peak / 2**30:.2f} GiB "
              f"(+{(memory.peak - memory.before) / 2**20:.0f} MiB)")
    except KeyboardInterrupt:
        print("interrupted: cleaning up", file=sys.stderr)
    finally:
        # Another Ctrl-C (or SIGTERM) must not cut the clean-up short and leave labs or workers behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        memory.stop()
        clean_up(students)
        if args.pool:
            pool_off()
        for process in reversed(started):
            process.stop()
        call_command("lab", "gc", stdout=open(os.devnull, "w"))


if __name__ == "__main__":
    main()
