"""A capture filter (BPF syntax, as tcpdump reads it) checked before a capture uses it: its form here, then
``tcpdump -d`` compiles it (inside the node's network namespace, so that a host name in it is looked up there,
never from the host's). A bad one is answered with tcpdump's own words."""
from __future__ import annotations

import subprocess

from . import MAX_FILTER

TCPDUMP = "/usr/bin/tcpdump"
NSENTER = "/usr/bin/nsenter"
CHECK_TIMEOUT = 5.0


def form_problem(expression) -> str | None:
    """Why ``expression`` cannot be a filter before tcpdump is asked, or None."""
    if not isinstance(expression, str):
        return "must be a string"
    if len(expression) > MAX_FILTER:
        return f"must be at most {MAX_FILTER} characters"
    if any(ord(ch) < 32 and ch not in "\t\n" for ch in expression) or "\x7f" in expression:
        return "must not hold control characters"
    if expression.lstrip().startswith("-"):
        return "must not start with '-' (it is an expression, not an option)"
    return None


def in_namespace(pid: int | None, argv: list[str]) -> list[str]:
    """``argv`` run in the network namespace of process ``pid`` (a node's main process); as is when None."""
    if pid is None:
        return argv
    return [NSENTER, f"--net=/proc/{int(pid)}/ns/net", "--", *argv]


def check(expression: str, pid: int | None = None) -> str | None:
    """tcpdump's message when it cannot compile ``expression``, or None when it can."""
    problem = form_problem(expression)
    if problem:
        return problem
    try:
        done = subprocess.run(in_namespace(pid, [TCPDUMP, "-d", "-y", "EN10MB", "--", expression]),
                              capture_output=True, text=True, timeout=CHECK_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return f"tcpdump took over {CHECK_TIMEOUT:.0f} s to read it (a host name that does not resolve?)"
    except OSError as exc:
        return f"tcpdump cannot run on this host ({exc.strerror})"
    if done.returncode == 0:
        return None
    lines = [line.strip() for line in done.stderr.splitlines()
             if line.strip() and not line.startswith("Warning:") and not line.startswith("nsenter:")]
    message = lines[-1] if lines else f"tcpdump refused it (status {done.returncode})"
    return message.removeprefix("tcpdump: ")
