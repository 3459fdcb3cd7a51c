#!/usr/bin/env python3
"""The reliability drills of issue 17, in full: kills of the lab worker and restarts of its neighbours.

    .venv/bin/python bench/drills.py [--kills 20] [--seed N] [--only kills,web,redis] [--dockerd]     (as root)

1. ``--kills`` times (20 by default), ``kill -9`` of the lab worker at a random phase of a deploy or a
   destroy (the seed is printed: ``--seed`` runs the same drill again), aimed by reading the worker's log,
   with a random delay of up to 0.3 s after it; then the worker's restart as a new process. Every lab must
   end stopped or failed with a reason, with no container, veth or namespace of it left.
2. Restarts while a lab runs and a console is open: of the web server (daphne), of Redis (a private
   ``redis-server``, configured as production's: no persistence, so it comes back empty) and, with
   ``--dockerd`` (or ``TOPOLAB_DRILL_DOCKERD=1``), of the machine's dockerd, which stops every container on
   the machine: do not use it where other tests run.

It prints each drill as it ends, then the tables the README's "Reliability drills" section shows. Each part
runs on processes of its own (tests/drills/kit.py: a private Redis, lab worker, relay and daphne on a queue
of their own) and on this run's own database and site label, and leaves nothing behind. Exits 1 if a drill
found a broken promise. The short form runs in CI: tests/drills/.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.isolated import start_django  # noqa: E402

_run = start_django()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

from tests.drills import kit  # noqa: E402

RESTARTS = {"web": kit.web_restart_drill, "redis": kit.redis_restart_drill, "dockerd": kit.dockerd_restart_drill}


def _stack(part: str) -> kit.Stack:
    stack = kit.Stack(Path(tempfile.mkdtemp(prefix=f"topolab-drill-{part}-")), tag=part)
    stack.start()
    return stack


def kills(owner, count: int, seed: int, baseline: kit.HostBaseline) -> bool:
    print(f"== {count} kills of the lab worker (seed {seed}) ==", flush=True)
    stack = _stack("kills")
    try:
        results = kit.kill_drills(stack, owner, count, seed, baseline, echo=lambda line: print(line, flush=True))
    finally:
        stack.stop()
    print("\n| # | aimed at | +ms | the worker had reached | the lab ended | back after | left on the host |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r.number} | {r.phase} | {r.delay_ms} | {r.reached} | {r.state}: {r.reason or '-'} | "
              f"{r.recovered_s} s | {', '.join(r.leftovers) or 'nothing'} |")
    broken = [r for r in results if not r.ok]
    print(f"\n{len(results) - len(broken)} of {len(results)} kills ended clean", flush=True)
    return not broken


def restarts(owner, parts: list[str], baseline: kit.HostBaseline) -> bool:
    outcomes = []
    for part in parts:
        print(f"== restart of {part} ==", flush=True)
        stack = _stack(part)
        started = time.monotonic()
        try:
            outcome = RESTARTS[part](stack, owner, baseline)
        except kit.DrillFailed as exc:
            outcome = kit.Outcome(f"{part} restarted", [], [], [str(exc)])
        finally:
            stack.stop()
        kit.echo_outcome(outcome, echo=lambda line: print(line, flush=True))
        print(f"    ({time.monotonic() - started:.0f} s)", flush=True)
        outcomes.append(outcome)
    print("\n| drilled | what happened | what the user sees |")
    print("|---|---|---|")
    for outcome in outcomes:
        happened = "; ".join(outcome.happened + [f"BROKEN: {b}" for b in outcome.broken])
        print(f"| {outcome.drilled} | {happened} | {'; '.join(outcome.user_sees)} |")
    return all(outcome.ok for outcome in outcomes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20, help="how many kills of the lab worker (default 20)")
    parser.add_argument("--seed", type=int, default=None, help="the seed of the kills' phases and delays")
    parser.add_argument("--only", default="kills,web,redis", help="which parts: kills, web, redis, dockerd")
    parser.add_argument("--dockerd", action="store_true", help="also restart the machine's dockerd")
    args = parser.parse_args()
    parts = [p for p in args.only.split(",") if p]
    if (args.dockerd or os.environ.get("TOPOLAB_DRILL_DOCKERD") == "1") and "dockerd" not in parts:
        parts.append("dockerd")
    unknown = set(parts) - {"kills", *RESTARTS}
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    if os.geteuid() != 0:
        parser.error("the drills need root (containers, namespaces, veths)")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 30)
    call_command("migrate", verbosity=0)
    owner = get_user_model().objects.create_user("driller", password="pw-driller-1")
    baseline = kit.HostBaseline()
    ok = True
    if "kills" in parts:
        ok = kills(owner, args.kills, seed, baseline) and ok
    restarted = [p for p in parts if p in RESTARTS]
    if restarted:
        ok = restarts(owner, restarted, baseline) and ok
    left = baseline.leftovers()
    print(f"\nleft on the host at the end: {', '.join(left) or 'nothing'}; seed {seed}")
    if baseline.foreign:
        print(f"(new on the host meanwhile, without Topolab's alias, so not counted: {', '.join(baseline.foreign)}; "
              "TOPOLAB_DRILL_STRICT_HOST=1 counts them)")
    return 0 if ok and not left else 1


if __name__ == "__main__":
    sys.exit(main())
