"""Short form of the restart drills: the web server and Redis restarted while a lab runs and a console is open.

The drills share a stack of their own (tests/drills/conftest.py): its private Redis may be restarted without
touching the machine's. The dockerd drill stops every container on the machine (other test runs' too), so
it runs only with ``TOPOLAB_DRILL_DOCKERD=1``.
"""
from __future__ import annotations

import os

import pytest

from tests.drills.kit import dockerd_restart_drill, echo_outcome, redis_restart_drill, web_restart_drill


def _passed(outcome) -> None:
    echo_outcome(outcome)
    assert outcome.ok, outcome.broken


def test_a_web_server_restart_resumes_the_open_console_and_loses_nothing(stack, drill_owner, baseline):
    _passed(web_restart_drill(stack, drill_owner, baseline))


def test_a_redis_restart_is_survived_by_the_lab_the_console_and_the_worker(stack, drill_owner, baseline):
    _passed(redis_restart_drill(stack, drill_owner, baseline))


@pytest.mark.skipif(os.environ.get("TOPOLAB_DRILL_DOCKERD") != "1",
                    reason="restarts the machine's dockerd: set TOPOLAB_DRILL_DOCKERD=1")
def test_a_dockerd_restart_degrades_the_lab_says_why_and_cleans_up(stack, drill_owner, baseline):
    _passed(dockerd_restart_drill(stack, drill_owner, baseline))
