"""Assignment checks, the pure part: every rule of validate_checks with its path, evaluate (timeouts,
errors, a catastrophic pattern) and what a student may see of hidden checks."""
from __future__ import annotations

import time

import pytest

from topology import checks
from topology.checks import evaluate, validate_checks, visible

NODES = {"c1", "r1", "c2"}


def good(**changes) -> dict:
    check = {"node": "c1", "argv": ["ping", "-c1", "-W1", "192.168.11.2"], "expect": "exit0",
             "description": "c1 reaches c2"}
    check.update(changes)
    return {k: v for k, v in check.items() if v is not ...}


def problems(data) -> list[tuple[str, str]]:
    return [(p.path, p.message) for p in validate_checks(data, NODES)[1]]


def paths(data) -> list[str]:
    return [path for path, _ in problems(data)]


# -- validate_checks --------------------------------------------------------------------------------------------
def test_a_good_list_is_normalised_with_its_defaults():
    normal, found = validate_checks([good(), good(expect="match", pattern=r"via 192\.168\.10\.1", points=3,
                                                   hidden=True, timeout=2.5)], NODES)
    assert found == []
    assert normal[0] == {"node": "c1", "argv": ["ping", "-c1", "-W1", "192.168.11.2"], "expect": "exit0",
                         "description": "c1 reaches c2", "points": 1, "hidden": False, "timeout": 10}
    assert normal[1]["pattern"] == r"via 192\.168\.10\.1" and normal[1]["points"] == 3
    assert normal[1]["hidden"] is True and normal[1]["timeout"] == 2.5
    assert validate_checks([], NODES) == ([], [])


def test_the_list_itself():
    assert paths({"node": "c1"}) == ["checks"]
    assert paths(None) == ["checks"]
    assert paths([good()] * 51) == ["checks"]
    assert "at most 50" in problems([good()] * 51)[0][1]
    assert paths([good()] * 50) == []
    assert paths([good(), "ping c2", 3]) == ["checks[1]", "checks[2]"]


def test_every_problem_is_reported_with_its_path_at_once():
    bad = {"node": "c9", "argv": ["", 5, "a\x00b"], "expect": "maybe", "description": "", "points": -1,
           "hidden": "no", "timeout": 61, "colour": "red"}
    assert paths([good(), bad]) == ["checks[1].colour", "checks[1].node", "checks[1].argv[1]", "checks[1].argv[2]",
                                    "checks[1].argv[0]", "checks[1].expect", "checks[1].description",
                                    "checks[1].points", "checks[1].hidden", "checks[1].timeout"]


def test_node_must_be_a_node_of_the_template():
    assert problems([good(node="c9")]) == [("checks[0].node", "'c9' is not a node of the template (its nodes: c1, c2, r1)")]
    assert paths([good(node=1)]) == ["checks[0].node"]
    assert paths([good(node=...)]) == ["checks[0].node"]
    assert validate_checks([good()], set())[1][0].message.endswith("(its nodes: none)")


@pytest.mark.parametrize("argv, path", [
    ("ping c2", "checks[0].argv"), ([], "checks[0].argv"), (..., "checks[0].argv"), (["ping", 2], "checks[0].argv[1]"),
    (["ping", "c2\x00"], "checks[0].argv[1]"), ([""], "checks[0].argv[0]"), (["  "], "checks[0].argv[0]"),
    ([None], "checks[0].argv[0]"),
])
def test_argv_rules(argv, path):
    assert paths([good(argv=argv)]) == [path]


def test_argv_is_at_most_64_kib_in_all():
    assert paths([good(argv=["echo", "x" * (64 * 1024 - 4)])]) == []
    assert problems([good(argv=["echo", "x" * (64 * 1024 - 3)])]) == [
        ("checks[0].argv", "is 65537 bytes in all; at most 65536 are allowed")]
    assert paths([good(argv=["echo", "é" * 32768])]) == ["checks[0].argv"]  # bytes, not characters


def test_expect_and_pattern():
    assert paths([good(expect=...)]) == ["checks[0].expect"]
    assert paths([good(expect="EXIT0")]) == ["checks[0].expect"]
    for expect in ("match", "no_match"):
        assert problems([good(expect=expect)]) == [("checks[0].pattern", f"is required when expect is {expect}")]
        assert paths([good(expect=expect, pattern="ttl=6[34]")]) == []
    assert paths([good(pattern="x")]) == ["checks[0].pattern"]  # exit0 has none
    assert paths([good(expect="match", pattern=5)]) == ["checks[0].pattern"]
    assert paths([good(expect="match", pattern="x" * 1000)]) == []
    assert paths([good(expect="match", pattern="x" * 1001)]) == ["checks[0].pattern"]
    assert paths([good(expect="match", pattern="a\x00")]) == ["checks[0].pattern"]


def test_a_pattern_that_does_not_compile_says_why():
    [(path, message)] = problems([good(expect="match", pattern="via (192")])
    assert path == "checks[0].pattern"
    assert message.startswith("is not a valid regular expression: missing )")
    # The regex module's own syntax is what is checked: possessive quantifiers and \p{} are fine.
    assert paths([good(expect="match", pattern=r"\p{L}++ via")]) == []


def test_description():
    assert paths([good(description=...)]) == ["checks[0].description"]
    assert paths([good(description="")]) == ["checks[0].description"]
    assert paths([good(description="   ")]) == ["checks[0].description"]
    assert paths([good(description=7)]) == ["checks[0].description"]
    assert paths([good(description="d" * 200)]) == []
    assert paths([good(description="d" * 201)]) == ["checks[0].description"]


@pytest.mark.parametrize("points, ok", [(0, True), (1000, True), (1001, False), (-1, False), (True, False),
                                        (1.0, False), ("1", False), (None, False)])
def test_points(points, ok):
    assert paths([good(points=points)]) == ([] if ok else ["checks[0].points"])


@pytest.mark.parametrize("hidden, ok", [(True, True), (False, True), (0, False), ("true", False), (None, False)])
def test_hidden(hidden, ok):
    assert paths([good(hidden=hidden)]) == ([] if ok else ["checks[0].hidden"])


@pytest.mark.parametrize("timeout, ok", [(1, True), (60, True), (0.5, False), (60.5, False), (True, False),
                                         ("10", False), (float("nan"), False), (float("inf"), False), (1.5, True)])
def test_timeout(timeout, ok):
    assert paths([good(timeout=timeout)]) == ([] if ok else ["checks[0].timeout"])


def test_longest_run_bounds_waves_of_parallel_checks():
    assert checks.longest_run([good(timeout=5)] * 8) == 5
    assert checks.longest_run([good(timeout=5)] * 9) == 10
    assert checks.longest_run([good(timeout=2), good(timeout=60)]) == 60
    assert checks.longest_run([]) == 0


# -- evaluate ---------------------------------------------------------------------------------------------------
def test_exit0():
    assert evaluate(good(), 0, "1 received\n", False, "") == (True, "exit status 0; output:\n1 received")
    passed, seen = evaluate(good(), 1, "0 received\n", False, "")
    assert not passed and seen.startswith("exit status 1, expected 0; output:\n0 received")
    assert evaluate(good(), 0, "", False, "") == (True, "exit status 0; no output")


def test_match_and_no_match():
    route = "default via 192.168.10.1 dev eth0\n192.168.10.0/24 dev eth0 proto kernel\n"
    check = good(expect="match", pattern=r"^default via 192\.168\.10\.1\b")
    passed, seen = evaluate(check, 0, route, False, "")
    assert passed and "matched 'default via 192.168.10.1'" in seen and seen.endswith("proto kernel")
    assert evaluate(check, 0, "192.168.10.0/24 dev eth0\n", False, "")[0] is False
    # ^ is the start of any line (MULTILINE): the route need not be the first line.
    assert evaluate(check, 0, "x\n" + route, False, "")[0] is True
    # The exit status does not matter to a pattern (grep-like checks answer 1 on no match).
    assert evaluate(check, 1, route, False, "")[0] is True
    refuse = good(expect="no_match", pattern="Destination Host Unreachable")
    assert evaluate(refuse, 0, "64 bytes from 192.168.11.2", False, "")[0] is True
    passed, seen = evaluate(refuse, 1, "From 192.168.10.1 Destination Host Unreachable", False, "")
    assert not passed and "expected no match" in seen


def test_a_command_that_could_not_run_meets_no_expectation():
    for check in (good(), good(expect="match", pattern=".*"), good(expect="no_match", pattern="x")):
        passed, seen = evaluate(check, None, "", False, "not_running: 'c1' is not running (the lab is stopped)")
        assert not passed and seen == "could not run the command: not_running: 'c1' is not running (the lab is stopped)"
        # Not found / not executable: its empty output must not pass a no_match.
        passed, seen = evaluate(check, 127, "exec: nosuch: not found", False, "")
        assert not passed and "could not be run" in seen


def test_a_timed_out_command_fails_every_expectation():
    for check in (good(timeout=3), good(expect="match", pattern="", timeout=3), good(expect="no_match", pattern="zzz")):
        passed, seen = evaluate(check, 124, "partial\n", True, "")
        assert not passed
        assert seen.startswith(f"timed out after {check.get('timeout', 10)} s") and seen.endswith("partial")


def test_a_catastrophic_pattern_is_stopped_and_fails(monkeypatch):
    monkeypatch.setattr(checks, "MATCH_TIMEOUT", 0.2)
    for expect in ("match", "no_match"):
        started = time.monotonic()
        passed, seen = evaluate(good(expect=expect, pattern=r"^(?:a|aa)+$"), 0, "a" * 100 + "!", False, "")
        assert time.monotonic() - started < 2
        assert not passed and "took longer than 0.2 s" in seen


def test_seen_is_trimmed_keeping_the_start_and_the_end():
    output = "".join(f"line {i}\n" for i in range(5000))
    passed, seen = evaluate(good(), 0, output, False, "")
    assert passed and len(seen) <= checks.SEEN_MAX + 100
    assert seen.startswith("exit status 0; output:\nline 0\n") and seen.endswith("line 4999")
    assert "characters left out" in seen


def test_only_the_first_64_kib_of_output_is_judged():
    check = good(expect="no_match", pattern="needle")
    assert evaluate(check, 0, "x" * (64 * 1024) + "needle", False, "")[0] is True
    assert evaluate(check, 0, "x" * (64 * 1024 - 6) + "needle", False, "")[0] is False


# -- visible ----------------------------------------------------------------------------------------------------
def test_hidden_checks_and_results_are_masked_for_students():
    normal, _ = validate_checks([good(), good(hidden=True, points=4, description="secret: r1 forwards")], NODES)
    masked = visible(normal, hidden_shown=False)
    assert masked[0] == normal[0]
    assert masked[1] == {"description": "hidden check", "hidden": True, "points": 4}
    assert visible(normal, hidden_shown=True) == normal

    results = [{"index": 0, "description": "c1 reaches c2", "node": "c1", "points": 1, "hidden": False, "passed": True,
                "seen": "exit status 0", "exit_code": 0, "timed_out": False, "error": ""},
               {"index": 1, "description": "secret: r1 forwards", "node": "r1", "points": 4, "hidden": True,
                "passed": False, "seen": "exit status 1; output: net.ipv4.ip_forward = 0", "exit_code": 1,
                "timed_out": False, "error": ""}]
    shown = visible(results, hidden_shown=False)
    assert shown[0] == results[0]
    assert shown[1] == {"index": 1, "description": "hidden check", "hidden": True, "points": 4, "passed": False}
    assert "secret" not in repr(shown) and "ip_forward" not in repr(shown)
    assert visible(results, hidden_shown=True) == results
    shown[0]["seen"] = "changed"
    assert results[0]["seen"] == "exit status 0"  # copies
