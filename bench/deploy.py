#!/usr/bin/env python3
"""Deploy and destroy generated labs through the real worker, next to the simplest possible script.

    .venv/bin/python bench/deploy.py [--sizes 3,20,50,100] [--runs 3] [--pool 20]

Size 3 is the reference lab (router between two clients); larger sizes are
rings of routers, each joined to the next by a /31. For each size it prints
the median deploy and destroy seconds over ``--runs`` runs, the per-node cost,
and the same for a baseline built in the same run on the same machine by the
simplest script that can do it: Docker SDK containers started in parallel
with ``network_mode=none``, then pyroute2 veths and addresses. The ratio is
what Topolab's own work (validation, planning, events, state) costs.

Below the table, for each size, where the time of Topolab's cold deploy goes (medians
of the runs): from the request to "running", the request itself (the quotas' checks,
the task queued), the wait until the worker began it, each part the worker's log says
(topology/operations.py ``Parts``: the lease, parse and plan, the pre-deploy teardown
check, each phase of the build as its event says, the last events written, the
interfaces read back, the state written), and what is left (the bench's own polling);
then what ran beside the build (every batch of events written and published) and
after "running" (the lease given back, the broadcast). The baseline's parts are beside
them: its container starts (create, start, inspect, 4 at once) and its wiring.

With ``--pool N`` it then turns the warm pool on (N started containers per
image, topology/engine/pool.py) and deploys each size that fits in it again,
waiting for the pool to be full before each run: the "pooled" column, side by
side with the cold one, and the host memory an idle pooled container uses. The
host's load average is printed beside both: on a shared machine, compare the two
columns of one run, not runs of different minutes.

Needs root, a Docker Engine, Redis and the node images (``compose/test`` sets
them up); it starts its own worker on its own queue, database and site label,
and leaves nothing behind.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.isolated import start_django  # noqa: E402

_run = start_django()

import docker  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

from topology import services  # noqa: E402
from topology.engine import netlink  # noqa: E402
from topology.engine.pool import member_memory  # noqa: E402
from topology.models import LabEvent, SiteLimits, UserLimits  # noqa: E402
from topology.operations import PARTS_LINE  # noqa: E402
from topology.testing.labs import wait_for  # noqa: E402
from topology.testing.worker import WorkerProcess  # noqa: E402
from topology.warm_pool import make_pool  # noqa: E402


def reference_lab() -> dict:
    return json.loads((ROOT / "tests" / "data" / "router-between-two-clients.json").read_text())


def ring(n: int) -> dict:
    """``n`` routers in a ring; link i joins r{i}:eth1 to r{i+1}:eth0 with a /31 out of 10.0.0.0/16."""
    nodes = [{"name": f"r{i}", "kind": "router"} for i in range(n)]
    links = []
    for i in range(n):
        j = (i + 1) % n
        net = ipaddress.ip_network(f"10.0.{i // 128}.{(i % 128) * 2}/31")
        a, b = list(net)
        links.append({"endpoints": [{"node": f"r{i}", "interface": "eth1", "addresses": [f"{a}/31"]},
                                    {"node": f"r{j}", "interface": "eth0", "addresses": [f"{b}/31"]}]})
    return {"format": "topolab/v1", "name": f"ring-{n}", "nodes": nodes, "links": links}


def sized(n: int) -> dict:
    return reference_lab() if n == 3 else ring(n)


# -- the simplest possible script --------------------------------------------
class Baseline:
    """Docker SDK containers in parallel, then pyroute2 veths born in their namespaces."""

    LABEL = {"topolab.site": _run, "topolab.lab": "baseline"}

    def __init__(self):
        self.client = docker.from_env()
        self.parts: dict[str, float] = {}  # the last deploy's parts, seconds

    def deploy(self, document: dict) -> None:
        t0 = time.perf_counter()

        def start(node):
            c = self.client.containers.run("topolab/base", ["sleep", "infinity"], name=f"{_run}-base-{node['name']}",
                                           network_mode="none", detach=True, init=True, labels=self.LABEL,
                                           cap_add=["NET_ADMIN"])
            c.reload()
            return node["name"], c.attrs["State"]["Pid"]

        with ThreadPoolExecutor(4) as pool:
            pids = dict(pool.map(start, document["nodes"]))
        t1 = time.perf_counter()

        def wire(link):
            a, b = link["endpoints"]
            netlink.create_veth(pids[a["node"]], a["interface"], pids[b["node"]], b["interface"], "bench")
            for end in (a, b):
                netlink.configure_interface(pids[end["node"]], end["interface"], addresses=end.get("addresses", []))

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(wire, document["links"]))
        for node in document["nodes"]:
            if node.get("kind") == "router":
                netlink.set_sysctls(pids[node["name"]], [("net.ipv4.ip_forward", "1")])
            for route in node.get("routes", []):
                to = "0.0.0.0/0" if route["to"] == "default" else route["to"]
                netlink.add_route(pids[node["name"]], to, via=route.get("via"), dev=route.get("dev"))
        self.parts = {"container starts (run + reload, 4 at once)": t1 - t0,
                      "wiring (veths, addresses, sysctls, routes)": time.perf_counter() - t1}

    def destroy(self) -> None:
        found = self.client.containers.list(all=True, filters={"label": [f"topolab.site={_run}"]})
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda c: c.remove(force=True), found))


# -- Topolab through the worker ----------------------------------------------
AFTER_RUNNING = ("lease given back", "broadcast at the end")  # after the state is written: the bench sees them
BESIDE = ("events written (in all, beside the build)",)      # in the recorder's thread, during the build


def worker_parts(worker, operation: str, timeout: float = 10) -> dict:
    """The parts of ``operation`` as the worker's log says them (topology/operations.py Parts)."""
    deadline = time.monotonic() + timeout
    while True:
        for line in worker.logged().decode("utf-8", "replace").splitlines():
            if PARTS_LINE in line:
                said = json.loads(line.split(PARTS_LINE, 1)[1])
                if said["operation"] == operation:
                    return said
        if time.monotonic() > deadline:
            raise SystemExit(f"the worker's log never said the parts of operation {operation}")
        time.sleep(0.05)


def breakdown(worker, lab, operation: str, requested: float, queued: float, running: float) -> dict:
    """Where one deploy's time went, seconds by part; ``requested``, ``queued``, ``running``: wall-clock times of the
    request, of its answer and of the bench seeing the lab running (and its lease free)."""
    said = worker_parts(worker, operation)
    parts = dict(said["parts"])
    # The worker may begin before the request has answered (the task is sent before the request's last writes).
    picked_up = said["picked_up"]
    result = {"request (quotas, task queued)": min(queued, picked_up) - requested,
              "queue and task pick-up": max(0.0, picked_up - queued)}
    build = parts.pop("build", 0.0)
    phases = {f"phase: {e.step}": e.elapsed_ms / 1000 for e in LabEvent.objects.filter(
        lab=lab, operation=operation, node="", status="ok", elapsed_ms__isnull=False).exclude(step__startswith="lab ")}
    beside = {name: parts.pop(name, 0.0) for name in BESIDE}
    for name in ("read the lab", "lease taken", "parse and plan", "make the executor", "teardown check"):
        result[name] = parts.pop(name, 0.0)
    result.update(phases)
    result["between phases (events queued, threads)"] = build - sum(phases.values())
    after = {name: parts.pop(name, 0.0) for name in AFTER_RUNNING}
    result.update(parts)  # the last events written, the interfaces read, the state written
    result.update(after)
    result["the rest (the bench's polling)"] = (running - requested) - sum(result.values())
    result.update({f"beside: {name}": value for name, value in beside.items()})
    return result


def topolab_once(owner, document: dict, worker=None) -> tuple[float, float, dict]:
    topology = services.import_topology(owner, document, replace=True)
    lab = topology.lab
    t0 = time.perf_counter()
    requested = time.time()
    operation = services.request_deploy(lab)
    queued = time.time()
    lab = wait_for(lab, operation, timeout=900, poll=0.02)
    deploy = time.perf_counter() - t0
    running = time.time()
    if lab.state != "running":
        raise SystemExit(f"deploy of {document['name']} failed: {lab.reason}")
    parts = breakdown(worker, lab, operation, requested, queued, running) if worker else {}
    t0 = time.perf_counter()
    lab = wait_for(lab, services.request_destroy(lab), timeout=900, poll=0.02)
    destroy = time.perf_counter() - t0
    if lab.state != "stopped":
        raise SystemExit(f"destroy of {document['name']} failed: {lab.reason}")
    return deploy, destroy, parts


def baseline_once(baseline: Baseline, document: dict) -> tuple[float, float, dict]:
    t0 = time.perf_counter()
    baseline.deploy(document)
    deploy = time.perf_counter() - t0
    t0 = time.perf_counter()
    baseline.destroy()
    return deploy, time.perf_counter() - t0, dict(baseline.parts)


def medians(runs: list[dict]) -> dict:
    """Each part's median over ``runs`` (a part missing from a run counts 0 there)."""
    names = list(dict.fromkeys(name for run in runs for name in run))
    return {name: statistics.median(run.get(name, 0.0) for run in runs) for name in names}


def print_breakdown(row: dict) -> None:
    """Topolab's parts of one size, beside the baseline's."""
    ours, theirs = row["parts"], row["base_parts"]
    print(f"\n{row['nodes']} nodes, cold: where the time goes (median of each part, seconds)")
    width = max(len(name) for name in [*ours, *(f"baseline: {name}" for name in theirs)]) + 2
    for name, seconds in ours.items():
        print(f"  {name:<{width}}{seconds:7.3f}")
    print(f"  {'deploy, as measured':<{width}}{row['deploy']:7.3f}")
    for name, seconds in theirs.items():
        print(f"  {'baseline: ' + name:<{width}}{seconds:7.3f}")
    print(f"  {'baseline deploy, as measured':<{width}}{row['base_deploy']:7.3f}")


def pool_members(pool) -> list:
    return [m for m in pool.members() if m.state == "running"]


def pooled(owner, sizes: list[int], rows: list[dict], args) -> float | None:
    """Deploy each size that fits in the pool again, the pool full before each run; returns the mean memory of
    an idle member (bytes), if this host says."""
    SiteLimits.objects.filter(pk=SiteLimits.current().pk).update(pool_size=args.pool, pool_memory_mb=64 * args.pool)
    pool = make_pool()
    memory: list = []

    def full(timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while len(pool_members(pool)) < args.pool:
            if time.monotonic() > deadline:
                raise SystemExit(f"the pool did not fill to {args.pool} within {timeout} s")
            time.sleep(0.2)

    try:
        full()
        memory = [member_memory(m.id) for m in pool_members(pool)]
        for row in rows:
            if row["nodes"] > args.pool:
                continue
            runs = []
            for _ in range(args.runs):
                full()
                runs.append(topolab_once(owner, sized(row["nodes"]))[0])
            row["pooled"] = statistics.median(runs)
            print(f"  measured {row['nodes']} nodes from the pool: {row['pooled']:.2f} s", file=sys.stderr, flush=True)
    finally:
        SiteLimits.objects.filter(pk=SiteLimits.current().pk).update(pool_size=0)
        time.sleep(1.5)
        pool.drain()
    known = [m for m in memory if m]
    return sum(known) / len(known) if known else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="3,20,50,100")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pool", type=int, default=0, help="then deploy again from a warm pool of this size")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    call_command("migrate", verbosity=0)
    owner = get_user_model().objects.create_user("bench")
    # The largest size must fit the user's limits (topology/quotas.py): the bench measures deploys, not refusals.
    UserLimits.objects.create(user=owner, max_running_nodes=max(sizes), max_nodes_per_topology=max(sizes))
    worker = WorkerProcess(settings.TOPOLAB_QUEUE, Path(settings.DATA_DIR) / "worker.log")
    worker.start()
    baseline = Baseline()
    rows = []
    load = {"cold": os.getloadavg()[0]}
    try:
        for n in sizes:
            document = sized(n)
            ours = [topolab_once(owner, document, worker) for _ in range(args.runs)]
            theirs = [baseline_once(baseline, document) for _ in range(args.runs)]
            row = {
                "nodes": n,
                "deploy": statistics.median(d for d, _, _ in ours),
                "destroy": statistics.median(d for _, d, _ in ours),
                "base_deploy": statistics.median(d for d, _, _ in theirs),
                "base_destroy": statistics.median(d for _, d, _ in theirs),
                "parts": medians([p for _, _, p in ours]),
                "base_parts": medians([p for _, _, p in theirs]),
            }
            rows.append(row)
            print(f"  measured {n} nodes: deploy {row['deploy']:.2f} s, baseline {row['base_deploy']:.2f} s",
                  file=sys.stderr, flush=True)
        load["cold"] = max(load["cold"], os.getloadavg()[0])
        load["pooled"] = os.getloadavg()[0]
        idle = pooled(owner, sizes, rows, args) if args.pool else None
        load["pooled"] = max(load["pooled"], os.getloadavg()[0])
    finally:
        try:
            baseline.destroy()
        finally:  # the worker is stopped even when the Docker Engine went away under the bench
            worker.stop()
            call_command("lab", "gc", stdout=open(os.devnull, "w"))

    print(f"Deploy and destroy, median of {args.runs} (seconds); baseline = Docker SDK + pyroute2, same machine; "
          f"load average (1 min, the higher of start and end) {load['cold']:.1f}")
    print(f"{'nodes':>5} {'deploy':>8} {'destroy':>8} {'ms/node':>8} {'base dep':>9} {'base des':>9} "
          f"{'ratio':>6} {'des/dep':>8}")
    for r in rows:
        print(f"{r['nodes']:5d} {r['deploy']:8.2f} {r['destroy']:8.2f} {1000 * r['deploy'] / r['nodes']:8.0f} "
              f"{r['base_deploy']:9.2f} {r['base_destroy']:9.2f} {r['deploy'] / r['base_deploy']:6.2f} "
              f"{r['destroy'] / r['deploy']:8.2f}")
    for r in rows:
        print_breakdown(r)
    if args.pool:
        print(f"\nWith a warm pool of {args.pool} started containers (median of {args.runs}, the pool full before each; "
              f"load average {load['pooled']:.1f})")
        print(f"{'nodes':>5} {'cold':>8} {'pooled':>8} {'speed-up':>9}")
        for r in rows:
            if "pooled" in r:
                print(f"{r['nodes']:5d} {r['deploy']:8.2f} {r['pooled']:8.2f} {r['deploy'] / r['pooled']:8.1f}x")
        if idle:
            print(f"host memory per idle pooled container: {idle / 2 ** 20:.2f} MiB (its memory cgroup)")


if __name__ == "__main__":
    main()
