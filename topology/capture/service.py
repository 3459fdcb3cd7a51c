"""The capture service (root, ``manage.py capture``): one per host, beside the console relay.

It takes requests from the list of its host (:func:`topology.capture.requests_key`), checks each again
(:mod:`.access`, :mod:`.filters`, its limits) and runs each capture as ``tcpdump`` in the node's network
namespace, entered from the host with ``nsenter --net=/proc/<pid>/ns/net`` (argv only, the filter one element
after ``--``; never a host interface: the namespace must not be the host's). A thread per capture
(:class:`Capture`) reads tcpdump's pcap stream, keeps it in the spool files and sends rows to the watchers in
batches. The main thread takes requests and, every second, stops what must stop: a capture at its time limit,
with no watcher for a while, whose node stopped or whose lab is no longer running.
"""
from __future__ import annotations

import json
import logging
import os
import re
import secrets
import select
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import redis
from django.conf import settings
from django.db import close_old_connections

from ..engine import names
from ..engine.docker_runtime import DockerRuntime
from ..leases import RELEASE_SCRIPT, RENEW_SCRIPT
from ..models import LIVE_STATES, Lab, LabNode, NodeStatus
from . import (
    BATCH_ROWS,
    BATCH_SECONDS,
    RECENT_ROWS,
    REPLY_TTL,
    access,
    filters,
    key,
    live_channel,
    parse_target,
    requests_key,
    spool,
    summary,
)

log = logging.getLogger("topology.capture")

LOCK_TTL_MS = 15_000
ALIVE_TTL = 10             # seconds the "alive" key outlives the service's last renewal
TICK = 1.0                 # seconds between the main thread's checks
READ_SIZE = 1024 * 1024
STOP_WAIT = 5.0            # seconds a stopped tcpdump has to flush and exit before it is killed
# The kernel hands tcpdump its packets in blocks, a block at most libpcap's timeout (tcpdump's: 1 s) after
# its first packet: a capture stopped on request waits that long first, so that its last block is in the file.
HANDOVER = 1.2
JANITOR_EVERY = 60.0
SEE_GONE = 5.0             # seconds a tcpdump that ended by itself waits to learn its node went (and say so)
STATS = re.compile(r"^(\d+) packets? (captured|received by filter|dropped by kernel)")


class Limits:
    """A capture's bounds and the service's, from the settings unless given."""

    def __init__(self, *, max_bytes=None, max_seconds=None, idle=None, per_user=None, per_host=None, keep=None,
                 snaplen=None):
        self.max_bytes = int(max_bytes if max_bytes is not None else settings.TOPOLAB_CAPTURE_MAX_BYTES)
        self.max_seconds = float(max_seconds if max_seconds is not None else settings.TOPOLAB_CAPTURE_MAX_SECONDS)
        self.idle = float(idle if idle is not None else settings.TOPOLAB_CAPTURE_IDLE_SECONDS)
        self.per_user = int(per_user if per_user is not None else settings.TOPOLAB_CAPTURE_MAX_PER_USER)
        self.per_host = int(per_host if per_host is not None else settings.TOPOLAB_CAPTURE_MAX_PER_HOST)
        self.keep = float(keep if keep is not None else settings.TOPOLAB_CAPTURE_KEEP_SECONDS)
        self.snaplen = int(snaplen if snaplen is not None else settings.TOPOLAB_CAPTURE_SNAPLEN)


def tcpdump_argv(pid: int, interface: str, expression: str, snaplen: int) -> list[str]:
    """The capture's command: tcpdump on ``interface`` of process ``pid``'s network namespace, the pcap on its
    standard output packet by packet; the filter is one argv element, after ``--``.

    Not ``--immediate-mode``: woken for every packet, tcpdump lost most of a ``ping -f`` (the kernel dropped
    them); in blocks it loses none, and a block is handed over at least every second (libpcap's timeout), so
    a quiet link's packets show within a second."""
    argv = [filters.TCPDUMP, "-i", interface, "-w", "-", "-U", "-n", "-B", "32768",
            "-s", str(int(snaplen)), "--"]
    if expression.strip():
        argv.append(expression)
    return filters.in_namespace(pid, argv)


def host_namespace(pid: int) -> bool:
    """Whether process ``pid`` shares the host's network namespace (then nothing is captured there)."""
    try:
        target = os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return True  # unknown counts as the host's: nothing is captured
    hosts = {os.stat("/proc/self/ns/net").st_ino}  # the service runs in the host's namespace
    try:
        hosts.add(os.stat("/proc/1/ns/net").st_ino)
    except OSError:
        pass  # a sandbox may hide init's; the service's own is the host's
    return target in hosts


class Capture(threading.Thread):
    """One running capture: tcpdump's output into the spool files and, in batches, rows to the watchers."""

    def __init__(self, service: "CaptureService", record: dict, pid: int):
        super().__init__(name=f"capture-{record['id']}", daemon=True)
        self.service = service
        self.record = record
        self.id = record["id"]
        self.pid = pid
        self.netns = os.stat(f"/proc/{pid}/ns/net").st_ino
        self.started = time.monotonic()
        self.reason: str | None = None
        self.process: subprocess.Popen | None = None
        self.stopped_at: float | None = None
        self.writer = spool.SpoolWriter(service.directory, self.id)
        self.errors: list[str] = []
        self.had_watcher = False
        self.idle_since: float | None = None
        self.launched = threading.Event()

    # -- from the main thread -----------------------------------------------------------------------------
    def stop(self, reason: str) -> None:
        """End the capture (tcpdump flushes what it has; the thread writes it and says why it ended)."""
        if self.reason is None:
            self.reason = reason
        if self.process and self.process.poll() is None and self.stopped_at is None:
            self.stopped_at = time.monotonic()
            self.process.send_signal(signal.SIGTERM)

    def kill_if_stuck(self) -> None:
        if self.stopped_at and time.monotonic() - self.stopped_at > STOP_WAIT and self.process.poll() is None:
            self.process.kill()

    def namespace_alive(self) -> bool:
        """Whether the node's main process still runs in the namespace the capture entered."""
        try:
            return os.stat(f"/proc/{self.pid}/ns/net").st_ino == self.netns
        except OSError:
            return False

    # -- the thread -----------------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._capture()
        except Exception:  # a capture's failure must never end the service
            log.exception("capture %s failed", self.id)
            self.reason = self.reason or "the capture failed on the host"
            if self.process and self.process.poll() is None:
                self.process.kill()
        finally:
            self.launched.set()
            self.writer.close()
            self.service.finished(self)

    def _capture(self) -> None:
        limits = self.service.limits
        argv = tcpdump_argv(self.pid, self.record["interface"], self.record["filter"], limits.snaplen)
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # Launched once tcpdump says it listens (its socket open, the filter set), not when it was started: the
        # start is answered then, and a flood started at that answer is in the file from its first packet.
        errors = threading.Thread(target=self._read_errors, daemon=True)
        errors.start()
        out = self.process.stdout.fileno()
        batch: list[dict] = []
        skipped = 0
        sent_at = time.monotonic()
        while True:
            ready, _, _ = select.select([out], [], [], BATCH_SECONDS)
            if ready:
                chunk = os.read(out, READ_SIZE)
                if not chunk:
                    break
                packets, count = self.writer.feed(chunk, BATCH_ROWS - len(batch))
                batch.extend(summary.row(no, when, data, length) for no, when, data, length in packets)
                skipped += count - len(packets)
                if self.writer.offset >= limits.max_bytes:
                    self.stop(f"the size limit ({_size(limits.max_bytes)}) was reached")
            now = time.monotonic()
            if self.reason is None and not self.namespace_alive():
                # The node's main process is gone (stopped, restarted, removed): end at once, for tcpdump
                # keeps the old namespace, and its veth ends, alive while it runs.
                self.stop(self.service.why_gone(self) or "the node stopped")
            if (batch or skipped) and now - sent_at >= BATCH_SECONDS:  # a full batch waits: 2,000 rows a second at most
                self._send(batch, skipped)
                batch, skipped, sent_at = [], 0, now
        self.process.wait()
        errors.join(2)
        if batch or skipped:
            self._send(batch, skipped)
        self._stats()
        deadline = time.monotonic() + SEE_GONE
        while self.reason is None:  # tcpdump ended by itself: most often its node is going (links first)
            gone = self.service.why_gone(self)
            if gone or time.monotonic() > deadline:
                self.reason = gone or self._error() or "tcpdump ended"
            else:
                time.sleep(0.2)

    def _read_errors(self) -> None:
        for line in self.process.stderr:
            text = line.decode("utf-8", "replace").strip()
            if text:
                self.errors.append(text)
                del self.errors[:-50]
                if text.startswith("tcpdump: listening"):
                    self.launched.set()
        self.launched.set()  # tcpdump ended without listening: its error says why

    def _error(self) -> str:
        for text in reversed(self.errors):
            if not STATS.match(text) and not text.startswith(("tcpdump: listening", "Warning:")):
                return f"tcpdump stopped: {text.removeprefix('tcpdump: ')}"
        return ""

    def _stats(self) -> None:
        for text in self.errors:
            found = STATS.match(text)
            if found:
                field = {"captured": "tcpdump_captured", "received by filter": "received",
                         "dropped by kernel": "kernel_dropped"}[found.group(2)]
                self.record[field] = int(found.group(1))

    def _send(self, rows: list[dict], skipped: int) -> None:
        self.writer.flush()
        self.record.update(packets=self.writer.packets, bytes=self.writer.offset)
        message = json.dumps({"type": "rows", "rows": rows, "skipped": skipped, "packets": self.writer.packets,
                              "bytes": self.writer.offset})
        try:
            pipe = self.service.redis.pipeline(transaction=False)
            pipe.publish(live_channel(self.service.site, self.id), message)
            if rows:
                recent = key(self.service.site, self.id, "recent")
                pipe.rpush(recent, *[json.dumps(r) for r in rows[-RECENT_ROWS:]])
                pipe.ltrim(recent, -RECENT_ROWS, -1)
            pipe.set(key(self.service.site, self.id), json.dumps(self.record))
            pipe.execute()
        except redis.RedisError as exc:  # the file keeps everything; the watchers miss a batch
            log.warning("capture %s: cannot send rows (%s)", self.id, exc)


def _size(count: int) -> str:
    return f"{count / 1024 / 1024:.0f} MiB" if count >= 1024 * 1024 else f"{count} bytes"


class CaptureService:
    """The captures of one host: requests from its list, one :class:`Capture` thread each, and their ends."""

    def __init__(self, site: str, queue: str, *, limits: Limits | None = None, runtime: DockerRuntime | None = None,
                 directory: Path | None = None, client: redis.Redis | None = None):
        self.site, self.queue = site, queue
        self.limits = limits or Limits()
        self.runtime = runtime or DockerRuntime()
        self.directory = Path(directory or settings.TOPOLAB_CAPTURE_DIR)
        self.redis = client or redis.Redis.from_url(settings.REDIS_URL, decode_responses=True, socket_timeout=30)
        self.captures: dict[str, Capture] = {}
        self.lock = threading.Lock()
        self.me = f"{socket.gethostname()}:{os.getpid()}"
        self.stopping = threading.Event()

    # -- keys ------------------------------------------------------------------------------------------------
    def _key(self, *parts) -> str:
        return key(self.site, *parts)

    # -- requests ----------------------------------------------------------------------------------------------
    def handle(self, request: dict) -> dict:
        """The reply to one request (never raises: a refusal is a reply)."""
        try:
            if float(request.get("deadline") or 0) < time.time():
                return {"ok": False, "status": 504, "message": "the request waited too long", "path": ""}
            op = request.get("op")
            if op == "start":
                return {"ok": True, "capture": self.start(request)}
            if op == "stop":
                return {"ok": True, "capture": self.stop_request(request)}
            return {"ok": False, "status": 400, "message": f"unknown request {op!r}", "path": ""}
        except access.Refused as refusal:
            return {"ok": False, "status": refusal.status, "message": refusal.message, "path": refusal.path}
        except Exception:  # one bad request must never end the service
            log.exception("capture request failed")
            return {"ok": False, "status": 500, "message": "the capture service failed on this request", "path": ""}

    def start(self, request: dict) -> dict:
        target = parse_target(request.get("target"))
        if target is None:
            raise access.Refused(400, "must be a node and one of its interfaces, as node:interface", "target")
        expression = request.get("filter") if request.get("filter") is not None else ""
        problem = filters.form_problem(expression)
        if problem:
            raise access.Refused(400, problem, "filter")
        node, interface = target
        found = access.resolve(request.get("user"), request.get("topology"), node, interface)
        if found["queue"] != self.queue:
            raise access.Refused(409, "that lab lives on another host")
        with self.lock:
            running = len(self.captures)
        if running >= self.limits.per_host:
            raise access.Refused(429, f"this host runs {running} captures already, its most "
                                      "(TOPOLAB_CAPTURE_MAX_PER_HOST); try again later")
        user = int(request["user"])
        mine = sum(1 for value in self.redis.hvals(self._key("running")) if value.split(" ")[0] == str(user))
        if mine >= self.limits.per_user:
            raise access.Refused(429, f"you run {mine} captures already, your most (TOPOLAB_CAPTURE_MAX_PER_USER); "
                                      "stop one first")
        pid = self._pid(found["container"], found["lab"], node)
        problem = filters.check(expression, pid)
        if problem:
            raise access.Refused(400, problem, "filter")
        capture_id = secrets.token_hex(8)
        record = {"id": capture_id, "topology": request["topology"], "lab": found["lab"], "node": node,
                  "interface": interface, "target": f"{node}:{interface}", "filter": expression, "user": user,
                  "queue": self.queue, "state": "running", "reason": "", "started": time.time(), "ended": None,
                  "packets": 0, "bytes": 0, "kernel_dropped": None, "tcpdump_captured": None,
                  "limits": {"bytes": self.limits.max_bytes, "seconds": self.limits.max_seconds},
                  "snaplen": self.limits.snaplen}
        pipe = self.redis.pipeline()
        pipe.set(self._key(capture_id), json.dumps(record))
        pipe.zadd(self._key("topology", record["topology"]), {capture_id: record["started"]})
        pipe.hset(self._key("running"), capture_id, f"{user} {self.queue}")
        pipe.execute()
        capture = Capture(self, record, pid)
        with self.lock:
            self.captures[capture_id] = capture
        capture.start()
        capture.launched.wait(5)
        log.info("capture %s: %s in lab %s, filter %r", capture_id, record["target"], record["lab"], expression)
        return record

    def _pid(self, container: str, lab: int, node: str) -> int:
        found = self.runtime.labels_and_running(container)
        if found is None:
            raise access.Refused(409, "the node's container is gone", "target")
        labels, running = found
        expected = {names.LABEL_SITE: self.site, names.LABEL_LAB: str(lab), names.LABEL_NODE: node}
        if any(labels.get(k) != v for k, v in expected.items()):
            raise access.Refused(409, "that container is not this node's", "target")
        pid = self.runtime.pid(container) if running else None
        if not pid:
            raise access.Refused(409, f"node '{node}' is not running", "target")
        if host_namespace(pid):
            raise access.Refused(409, f"node '{node}' has no network namespace of its own", "target")
        return pid

    def stop_request(self, request: dict) -> dict:
        capture_id = str(request.get("capture") or "")
        raw = self.redis.get(self._key(capture_id)) if capture_id else None
        record = json.loads(raw) if raw else None
        if record is None:
            raise access.Refused(404, "no such capture")
        found = access.resolve_user(request.get("user"), record["topology"])
        if not found:
            raise access.Refused(404, "no such capture")
        with self.lock:
            capture = self.captures.get(capture_id)
        if capture is None:
            return record
        if capture.reason is None:
            time.sleep(HANDOVER)
        capture.stop(f"stopped by {found}")
        capture.join(STOP_WAIT + 2)
        return json.loads(self.redis.get(self._key(capture_id)) or "null") or capture.record

    # -- ends -----------------------------------------------------------------------------------------------
    def finished(self, capture: Capture) -> None:
        """A capture's thread ended: its record says why, and it stops counting."""
        record = capture.record
        record.update(state="ended", reason=capture.reason or "ended", ended=time.time(),
                      packets=capture.writer.packets, bytes=capture.writer.offset)
        keep = max(1, int(self.limits.keep))
        try:
            pipe = self.redis.pipeline()
            pipe.set(self._key(capture.id), json.dumps(record), ex=keep)
            pipe.hdel(self._key("running"), capture.id)
            pipe.expire(self._key(capture.id, "recent"), keep)
            pipe.delete(self._key(capture.id, "watchers"))
            pipe.expire(self._key("topology", record["topology"]), keep + 60)
            pipe.publish(live_channel(self.site, capture.id), json.dumps({"type": "ended", "capture": record}))
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("capture %s: cannot record its end (%s)", capture.id, exc)
        with self.lock:
            self.captures.pop(capture.id, None)
        log.info("capture %s ended: %s (%s packets)", capture.id, record["reason"], record["packets"])

    def why_gone(self, capture: Capture) -> str | None:
        """Why a capture's node is no longer there to capture, or None (it still is)."""
        alive = capture.namespace_alive()
        try:
            lab = Lab.objects.filter(pk=capture.record["lab"]).values_list("state", flat=True).first()
            node = LabNode.objects.filter(lab_id=capture.record["lab"], name=capture.record["node"]) \
                .values_list("state", flat=True).first()
        finally:
            if threading.current_thread() is not threading.main_thread():
                close_old_connections()
        if lab not in LIVE_STATES:
            return "the lab was destroyed" if lab in (None, "stopped", "destroying") else f"the lab is {lab}"
        if node != NodeStatus.RUNNING or not alive:
            return "the node stopped"
        return None

    def check(self) -> None:
        """Stop what must stop: at the time limit, without watchers, with its node or lab gone."""
        now = time.monotonic()
        with self.lock:
            captures = list(self.captures.values())
        for capture in captures:
            capture.kill_if_stuck()
            if capture.reason is not None:
                continue
            if now - capture.started >= self.limits.max_seconds:
                capture.stop(f"the time limit ({self.limits.max_seconds:.0f} s) was reached")
                continue
            gone = self.why_gone(capture)
            if gone:
                capture.stop(gone)
                continue
            watchers = self._key(capture.id, "watchers")
            self.redis.zremrangebyscore(watchers, "-inf", time.time())
            if self.redis.zcard(watchers):
                capture.had_watcher, capture.idle_since = True, None
            elif capture.had_watcher:
                capture.idle_since = capture.idle_since or now
                if now - capture.idle_since >= self.limits.idle:
                    capture.stop(f"nobody watched it for {self.limits.idle:.0f} s")

    def janitor(self) -> None:
        """Remove the files of captures that ended over ``keep`` seconds ago (their records are gone too)."""
        if not self.directory.is_dir():
            return
        with self.lock:
            running = set(self.captures)
        cutoff = time.time() - self.limits.keep
        for path in self.directory.glob("*.pcap"):
            if path.stem in running:
                continue
            try:
                if path.stat().st_mtime < cutoff and not self.redis.exists(self._key(path.stem)):
                    spool.remove(self.directory, path.stem)
            except (OSError, ValueError):
                continue

    def _forget_previous(self) -> None:
        """Captures a previous service of this host left marked running (it crashed): they ended."""
        for capture_id, value in self.redis.hgetall(self._key("running")).items():
            if value.split(" ")[-1] != self.queue:
                continue
            raw = self.redis.get(self._key(capture_id))
            if raw:
                record = json.loads(raw)
                record.update(state="ended", reason="the capture service restarted", ended=time.time())
                self.redis.set(self._key(capture_id), json.dumps(record), ex=max(1, int(self.limits.keep)))
            self.redis.hdel(self._key("running"), capture_id)

    # -- the loop -----------------------------------------------------------------------------------------------
    def _acquire(self, wait: float = 20.0) -> None:
        lock = self._key("lock", self.queue)
        deadline = time.monotonic() + wait
        while not self.redis.set(lock, self.me, nx=True, px=LOCK_TTL_MS):
            if time.monotonic() > deadline:
                raise RuntimeError(f"another capture service ({self.redis.get(lock)}) serves this host already; "
                                   "stop it first")
            time.sleep(0.5)

    def _renew(self) -> None:
        if not self.redis.eval(RENEW_SCRIPT, 1, self._key("lock", self.queue), self.me, LOCK_TTL_MS):
            log.error("capture service: lost its lock")
        self.redis.set(self._key("alive", self.queue), self.me, ex=ALIVE_TTL)

    def serve(self, ready=None) -> None:
        """Run until :attr:`stopping` is set; stops every capture on the way out."""
        self._acquire()
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o2750)
        self._forget_previous()
        self._renew()
        log.info("capture service ready on %s", requests_key(self.site, self.queue))
        if ready:
            ready()
        checked = renewed = janitor = 0.0
        try:
            while not self.stopping.is_set():
                try:
                    found = self.redis.blpop([requests_key(self.site, self.queue)], timeout=TICK)
                    if found:
                        self._answer(found[1])
                        close_old_connections()
                    now = time.monotonic()
                    if now - checked >= TICK:
                        checked = now
                        self.check()
                        close_old_connections()
                    if now - renewed >= 3:
                        renewed = now
                        self._renew()
                    if now - janitor >= JANITOR_EVERY:
                        janitor = now
                        self.janitor()
                except redis.RedisError as exc:  # Redis away for a moment: keep the captures, try again
                    log.warning("capture service: Redis (%s); retrying", exc)
                    time.sleep(1)
        finally:
            with self.lock:
                captures = list(self.captures.values())
            for capture in captures:
                capture.stop("the capture service stopped")
            for capture in captures:
                capture.join(STOP_WAIT)
                if capture.is_alive():
                    capture.process.kill()
                    capture.join(2)
            try:
                self.redis.delete(self._key("alive", self.queue))
                self.redis.eval(RELEASE_SCRIPT, 1, self._key("lock", self.queue), self.me)
            except redis.RedisError:
                pass

    def _answer(self, raw: str) -> None:
        try:
            request = json.loads(raw)
        except ValueError:
            return
        if not isinstance(request, dict) or not isinstance(request.get("reply"), str):
            return
        reply = self.handle(request)
        pipe = self.redis.pipeline()
        pipe.rpush(request["reply"], json.dumps(reply))
        pipe.expire(request["reply"], REPLY_TTL)
        pipe.execute()

    def main(self) -> None:
        """Serve until SIGTERM or SIGINT."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
        self.serve(ready=lambda: print("capture service ready", flush=True))
