"""The machine's running dockerd as the tests that restart it need it: how it was started, and whether it answers."""
from __future__ import annotations

import os
import subprocess


def how_dockerd_runs() -> dict:
    """How the one running dockerd was started: pid, argv, environment, working directory and log file.

    RuntimeError unless exactly one dockerd runs (a restart must bring back that one, with its own arguments).
    """
    pids = subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True, text=True).stdout.split()
    if len(pids) != 1:
        raise RuntimeError(f"expected one dockerd, found {pids}")
    pid = int(pids[0])
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        argv = [a.decode() for a in f.read().split(b"\0") if a]
    with open(f"/proc/{pid}/environ", "rb") as f:
        env = dict(item.decode().split("=", 1) for item in f.read().split(b"\0") if b"=" in item)
    return {"pid": pid, "argv": argv, "env": env, "cwd": os.readlink(f"/proc/{pid}/cwd"),
            "log": os.readlink(f"/proc/{pid}/fd/1")}


def docker_answers() -> bool:
    """Does the Docker Engine answer (``docker info``)?"""
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


def start_dockerd(how: dict, wait: float = 60) -> None:
    """Start dockerd again as ``how`` (:func:`how_dockerd_runs`) says it ran, detached (it outlives the test run),
    and wait until it answers; RuntimeError if it does not within ``wait`` seconds."""
    import time

    log = how["log"] if how["log"].startswith("/") else os.devnull
    with open(os.devnull, "rb") as nothing, open(log, "ab") as out:
        subprocess.run(["setsid", "-f", *how["argv"]], env=how["env"], cwd=how["cwd"], stdin=nothing,
                       stdout=out, stderr=out, check=True)
    deadline = time.monotonic() + wait
    while not docker_answers():
        if time.monotonic() > deadline:
            raise RuntimeError(f"dockerd did not come back in {wait:.0f} s")
        time.sleep(0.2)
