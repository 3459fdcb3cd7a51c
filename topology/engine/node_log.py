"""What an operation did to a node, written into the node's own log (root side).

A node's log is its main process's stdout (``docker logs``, the Logs view, the pop-out). The node's
command says only that it started; what Topolab then does to it (sysctls, links, addresses, routes,
impairments, each ``exec`` command with its output and exit status) is written there too, as lines
beginning with :data:`PREFIX`, so that every reader of the log sees the start-up as it happened.

The lines are written from the host, as root, straight into ``/proc/<main PID>/fd/1`` of the
container: no ``docker exec`` is spent on them (a deploy's speed is the same with them). A PID that
is in this process's own PID namespace is never written to (it is no container's: a stale PID reused
by a host process). What is written for one node is bounded (:data:`NODE_LIMIT` bytes per operation,
a command's output :data:`OUTPUT_LIMIT`), so a noisy command cannot fill the host's disk through it.
"""
from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger(__name__)

PREFIX = "[topolab] "
NODE_LIMIT = 64 * 1024     # bytes written into one node's log by one operation
OUTPUT_LIMIT = 16 * 1024   # bytes of one exec command's output written there
FULL = f"{PREFIX}(more was done; its lines are left out of this log)\n".encode()


class NodeLog:
    """Writes lines into running nodes' logs, by main PID, within :data:`NODE_LIMIT` per node.

    One is made per executor (one per operation), so the bound is per node and operation. Thread-safe:
    the executor runs a phase's steps in threads.
    """

    def __init__(self, limit: int = NODE_LIMIT):
        self.limit = limit
        self.written: dict[int, int] = {}   # main PID -> bytes written into its log so far
        self.full: set[int] = set()         # PIDs told that the rest is left out
        self.namespaces: dict[int, int] = {}  # main PID -> its PID namespace when first written to
        self.lock = threading.Lock()
        self._own_ns = _pid_namespace("self")

    def say(self, pid: int | None, *lines: str) -> None:
        """Write ``lines`` (each a line of the log, prefixed) into the log of the node whose main PID is ``pid``."""
        if not lines:
            return
        self.write(pid, "".join(f"{PREFIX}{line}\n" for line in lines).encode("utf-8", "replace"))

    def write(self, pid: int | None, data: bytes) -> None:
        """Write raw ``data`` (already lines) into that log, cut at the node's bound; never raises."""
        if not pid or not data:
            return
        with self.lock:
            if pid in self.full:
                return
            used = self.written.get(pid, 0)
            room = self.limit - len(FULL) - used  # the line saying that the rest is left out always fits
            if len(data) > room:
                self.full.add(pid)
                cut = data[:max(0, room)]
                data = cut[:cut.rfind(b"\n") + 1] + FULL
            self.written[pid] = used + len(data)
        self._append(pid, data)

    def _append(self, pid: int, data: bytes) -> None:
        ns = _pid_namespace(str(pid))
        if ns is None or ns == self._own_ns:
            return  # gone, or not a container's process: never write to a host process's output
        with self.lock:
            # The node's PID namespace, as first written to (just after its start): a node that died meanwhile
            # may have left its PID to another lab's container, whose log must not get this node's lines.
            if self.namespaces.setdefault(pid, ns) != ns:
                return
        try:
            fd = os.open(f"/proc/{pid}/fd/1", os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK | os.O_NOCTTY)
        except OSError as exc:
            log.debug("node log of PID %s: cannot open its output (%s)", pid, exc)
            return
        try:
            while data:
                data = data[os.write(fd, data):]
        except OSError as exc:  # a full pipe (nobody reading the log) or the node died: the lines are only lost
            log.debug("node log of PID %s: %s", pid, exc)
        finally:
            os.close(fd)


class Output:
    """A command's output as it streams: the first ``head`` bytes (for the log) and the last ``tail``
    (for a failure's reason), never more in memory however much it prints."""

    def __init__(self, head: int = OUTPUT_LIMIT, tail: int = 8 * 1024):
        self.head_limit, self.tail_limit = head, tail
        self.head = bytearray()
        self.tail = bytearray()
        self.size = 0

    def __call__(self, chunk: bytes) -> None:
        self.size += len(chunk)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += chunk[:room]
        self.tail += chunk
        if len(self.tail) > self.tail_limit:
            del self.tail[:len(self.tail) - self.tail_limit]

    def last(self) -> bytes:
        return bytes(self.tail)

    def for_log(self) -> bytes:
        """The head, ending in a newline, with a line saying how much was left out."""
        if not self.head:
            return b""
        data = bytes(self.head)
        if not data.endswith(b"\n"):
            data += b"\n"
        if self.size > len(self.head):
            data += f"{PREFIX}({self.size - len(self.head)} more bytes of output left out)\n".encode()
        return data


def _pid_namespace(pid: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/pid").st_ino
    except OSError:
        return None


def describe(step) -> list[str]:
    """The log lines saying what ``step`` did to its node (none for steps that say nothing in its log)."""
    kind = type(step).__name__
    if kind == "SetSysctls":
        return [f"sysctl {key}={value}" for key, value in step.values]
    if kind == "CreateLink":
        return [f"{step.interface}: linked to {step.peer_node}:{step.peer_interface}"]
    if kind == "CreateBridge":
        return [f"bridge {step.bridge} created"]
    if kind in ("ConfigureInterface", "ReconfigureInterface"):
        parts = [f"address {a}" for a in step.addresses]
        parts += [f"address {a} removed" for a in getattr(step, "remove", ())]
        if step.mac:
            parts.append(f"mac {step.mac}")
        if step.mtu:
            parts.append(f"mtu {step.mtu}")
        if getattr(step, "master", None):
            parts.append(f"port of {step.master}")
        if step.up is not None:
            parts.append("up" if step.up else "down")
        return [f"{step.interface}: {', '.join(parts)}"] if parts else []
    if kind in ("AddRoute", "DeleteRoute"):
        target = " ".join(bit for bit in (f"via {step.via}" if step.via else "", f"dev {step.dev}" if step.dev else "") if bit)
        return [f"route {step.to} {target}{' removed' if kind == 'DeleteRoute' else ''}".rstrip()]
    if kind == "Impair":
        shown = step.impairment.model_dump(exclude_none=True) if hasattr(step.impairment, "model_dump") else {}
        words = ", ".join(f"{key} {value}" for key, value in shown.items()) or "none"
        return [f"{step.interface}: impairment {words}"]
    if kind == "WriteFiles":
        return [f"file {f[0]} written" for f in step.files] + [f"file {path} removed" for path in step.remove]
    if kind == "StopContainer":
        return ["stopping (by Topolab)"]
    if kind == "UnplugNode":
        return ["links unplugged"]
    return []
