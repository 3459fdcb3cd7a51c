"""Short form of the kill drill: ``kill -9`` of the lab worker at seeded random phases of deploy and destroy.

Each kill is followed by the worker's restart as a new process; the lab must end stopped or failed with a
reason a user can read, with nothing of it left on the host. ``TOPOLAB_DRILL_KILLS`` and
``TOPOLAB_DRILL_SEED`` change how many and which (bench/drills.py runs the full 20).
"""
from __future__ import annotations

import os

from tests.drills.kit import kill_drills


def test_killed_workers_leave_every_lab_ended_and_nothing_behind(stack, drill_owner, baseline, capsys):
    count = int(os.environ.get("TOPOLAB_DRILL_KILLS", "2"))
    seed = int(os.environ.get("TOPOLAB_DRILL_SEED", "17"))
    print(f"kill drill: {count} kills, seed {seed}")
    results = kill_drills(stack, drill_owner, count, seed, baseline)
    broken = [r for r in results if not r.ok]
    assert not broken, "\n".join(f"kill {r.number} ({r.phase}): {r.state} {r.reason!r} left {r.leftovers}"
                                 for r in broken)
    assert baseline.leftovers() == []
    if baseline.foreign:
        print(f"new on the host meanwhile, not Topolab's (not counted outside CI): {baseline.foreign}")
