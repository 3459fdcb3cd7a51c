"""Assignment checks, the pure part: every rule of validate_checks with its path (and patterns whose repeats
would exhaust the memory refused before they are compiled), evaluate (timeouts, errors, a catastrophic
pattern) and what a student may see: never the answer key, nothing of hidden checks before the due date."""
from __future__ import annotations

import time

import pytest

from topology import checks
from topology.checks import evaluate, judge, student_checks, student_reason, student_results, student_score, validate_checks

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
                         "description": "c1 reaches c2", "points": 1, "hidden": False, "timeout": 10, "in": "node"}
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


def test_checks_past_the_most_allowed_are_not_read(monkeypatch):
    compiled = []
    real = checks.regex.compile
    monkeypatch.setattr(checks.regex, "compile", lambda *a, **k: compiled.append(a) or real(*a, **k))
    many = [good(expect="match", pattern=f"x{i}") for i in range(50)] + [{"colour": "red"}] * 5000
    assert problems(many) == [("checks", "has 5050 checks; at most 50 are allowed")]  # once, not 5000 more
    assert len(compiled) == 50


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


BOMBS = [
    r"(?:(?:(?:a{100}){100}){100})",  # ~280 MB to compile
    r"a{10001}", r"(?:a{100,}){101}", r"(?:a{,200}){60}", r"(?:ab{10}c){1001}", r"a{100}{101}",
    r"(a{100}|b){101}", r"(?P<x>(?:a{100}){101})", r"(?x)(?:a{100} # a comment\n){101}",
    r"(?x:)#(?:a{100}){101}",  # "#" is literal outside the verbose group: not a comment to skip
    r"[[](?:a{200}){200}",  # "[[]" is a class of "[" in version 0 syntax, an unclosed nested set in version 1
    r"(?:a{100}){999999999999999999999999999999}",
]


@pytest.mark.parametrize("pattern", BOMBS)
def test_a_pattern_whose_repeats_expand_too_far_is_refused_before_it_is_compiled(pattern, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError(f"compiled {args[0]!r}")

    monkeypatch.setattr(checks.regex, "compile", never)
    [(path, message)] = problems([good(expect="match", pattern=pattern)])
    assert path == "checks[0].pattern"
    assert message.startswith("repeats too much: its counted repeats ({m}, {m,n}) expand to more than 10000 elements")
    # The runner compiles through evaluate: it refuses the same, and its student is not told the pattern.
    passed, seen, told = judge(good(expect="match", pattern=pattern), 0, "aaaa", False, "")
    assert not passed and "repeats too much" in seen and told == "exit status 0; " + checks.INVALID_TOLD + "; output:\naaaa"


@pytest.mark.parametrize("pattern, size", [
    (r"a{10000}", 10000), (r"(?:\d{1,3}\.){3}\d{1,3}", 15), (r"ttl=6[34]", 6), (r"\p{L}{3} x{2,}", 6),
    (r"(?#{99999})a", 1), (r"[{]{3}", 3), (r"a{,}", 4), (r"(?:a+b*){50}", 100), (r"^default via \S+$", 15),
    (r"(?i)(?P<v>a(?1)){3}(?P=v)", 8), (r"(a)\1{5}", 6), (r"(?:(?:a{10}){10}){10}", 1000),
])
def test_ordinary_repeats_are_within_the_budget(pattern, size):
    assert checks.repeat_size(pattern) == size
    assert paths([good(expect="match", pattern=pattern)]) == []


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


@pytest.mark.parametrize("place, ok", [("node", True), ("probe", True), (..., True), ("host", False), (None, False),
                                       (["probe"], False)])
def test_where_a_check_runs(place, ok):
    assert paths([good(**{"in": place})]) == ([] if ok else ["checks[0].in"])
    if ok:
        assert validate_checks([good(**{"in": place})], NODES)[0][0]["in"] == ("node" if place is ... else place)


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


# -- what a student sees --------------------------------------------------------------------------------------
def test_a_student_is_told_whether_the_output_matched_never_the_pattern():
    route = "default via 192.168.10.1 dev eth0\n"
    for expect, output, passed, said in (
            ("match", route, True, "the output matched the expected pattern"),
            ("match", "nothing", False, "the output did not match the expected pattern"),
            ("no_match", route, False, "the output matched a pattern it must not match"),
            ("no_match", "nothing", True, "the output did not match the pattern it must not match, as expected")):
        check = good(expect=expect, pattern=r"^default via (192\.168\.10\.1)\b")
        got, seen, told = judge(check, 0, output, False, "")
        assert got is passed and (passed, seen) == evaluate(check, 0, output, False, "")
        assert told == f"exit status 0; {said}; output:\n{output.strip()}"  # the student's own lab's output stays
        assert "192\\." not in told and "pattern matched" not in told
    # A check whose pattern is bad (saved before the rules) or too slow says so, not why.
    told = judge(good(expect="match", pattern="(x"), 0, "out", False, "")[2]
    assert told == f"exit status 0; {checks.INVALID_TOLD}; output:\nout"
    for check in (good(), good(expect="match", pattern="x")):  # what the lab did is the student's to see
        told = judge(check, None, "", False, "not_running: 'c1' is down")[2]
        assert told == "could not run the command: not_running: 'c1' is down"


def test_a_student_sees_checks_as_descriptions_and_points_only():
    normal, _ = validate_checks([good(expect="match", pattern="secret-pattern", **{"in": "probe"}),
                                 good(hidden=True, points=4, description="secret: r1 forwards")], NODES)
    assert student_checks(normal, hidden_shown=False) == [
        {"index": 0, "description": "c1 reaches c2", "points": 1},
        {"index": 1, "description": "hidden check", "points": 4, "hidden": True}]
    assert student_checks(normal, hidden_shown=True)[1] == {"index": 1, "description": "secret: r1 forwards", "points": 4}
    assert "secret" not in repr(student_checks(normal, hidden_shown=False))


RESULTS = [
    {"index": 0, "description": "c1 has a route", "node": "c1", "points": 1, "hidden": False, "passed": True,
     "seen": "exit status 0; the pattern matched 'default via'; output:\ndefault via 192.168.10.1", "exit_code": 0,
     "timed_out": False, "error": "", "student_seen": "exit status 0; the output matched the expected pattern; output:\n"
                                                      "default via 192.168.10.1"},
    {"index": 1, "description": "secret: r1 forwards", "node": "r1", "points": 4, "hidden": True, "passed": True,
     "seen": "exit status 0; output: net.ipv4.ip_forward = 1", "exit_code": 0, "timed_out": False, "error": "",
     "student_seen": "exit status 0; output: net.ipv4.ip_forward = 1"},
    {"index": 2, "description": "c2 answers", "node": "c2", "points": 2, "hidden": False, "passed": False,
     "seen": "the check is invalid: pattern is bad", "exit_code": None, "timed_out": False,
     "error": "the check is invalid: checks[0].pattern is bad", "student_seen": checks.INVALID_TOLD},
]


def test_a_student_sees_results_without_the_answer_key_and_hidden_ones_masked_before_the_due_date():
    shown = student_results(RESULTS, hidden_shown=False)
    assert shown == [
        {"index": 0, "description": "c1 has a route", "points": 1, "passed": True, "seen": RESULTS[0]["student_seen"],
         "exit_code": 0, "timed_out": False, "error": ""},
        {"index": 1, "description": "hidden check", "points": 4, "hidden": True},  # not even whether it passed
        {"index": 2, "description": "c2 answers", "points": 2, "passed": False, "seen": checks.INVALID_TOLD,
         "exit_code": None, "timed_out": False, "error": checks.INVALID_TOLD}]
    assert "secret" not in repr(shown) and "ip_forward" not in repr(shown) and "'r1'" not in repr(shown)
    after = student_results(RESULTS, hidden_shown=True)
    assert after[1]["description"] == "secret: r1 forwards" and after[1]["passed"] is True and after[1]["hidden"]
    assert all("node" not in r for r in after)
    # A result stored before students were told apart shows no "seen" at all (it may quote the pattern).
    legacy = {k: v for k, v in RESULTS[0].items() if k != "student_seen"}
    assert student_results([legacy], hidden_shown=True)[0]["seen"] == ""
    shown[0]["seen"] = "changed"
    assert RESULTS[0]["student_seen"].startswith("exit status 0")  # copies


def test_a_students_score_before_the_due_date_counts_visible_checks_only():
    assert student_score(RESULTS, hidden_shown=False) == (1, 3)
    assert student_score(RESULTS, hidden_shown=True) == (5, 7)
    assert student_score([], hidden_shown=False) == (0, 0)


def test_a_students_reason_names_no_hidden_checks_node():
    failed = [dict(r, passed=False, error=f"not_running: '{r['node']}' is not running") for r in RESULTS[:2]]
    reason = "no check could run: not_running: 'c1' is not running; not_running: 'r1' is not running"
    assert student_reason(reason, student_results(failed, hidden_shown=False)) == \
        "no check could run: not_running: 'c1' is not running"
    assert student_reason(reason, student_results(failed[1:], hidden_shown=False)) == "no check could run"
    assert student_reason(reason, student_results(failed, hidden_shown=True)) == reason
    assert student_reason("the lab is not running (it is stopped)", []) == "the lab is not running (it is stopped)"
