"""Assignment checks: reading an instructor's check list, judging one check's outcome, and what a student may see.

Pure (no database, no Docker): :func:`validate_checks` normalises ``Assignment.checks`` and reports every
problem with its JSON path; :func:`evaluate` turns what a command did into ``(passed, seen)``;
:func:`visible` masks hidden checks (or their results) for students before the due date.

A ``match``/``no_match`` pattern is searched for anywhere in the command's output (stdout and stderr as
the node gave them) with the `regex` module, ``MULTILINE`` on, so ``^``/``$`` are the ends of a line.
The search has a time limit: a catastrophic pattern fails its check instead of holding a worker.
"""
from __future__ import annotations

import math
from typing import Any

import regex

from .schema import Problem

MAX_CHECKS = 50
MAX_ARGV_BYTES = 64 * 1024
MAX_PATTERN = 1000
MAX_DESCRIPTION = 200
MAX_POINTS = 1000
MIN_TIMEOUT, MAX_TIMEOUT, DEFAULT_TIMEOUT = 1, 60, 10
EXPECTS = ("exit0", "match", "no_match")
KEYS = ("node", "argv", "expect", "pattern", "description", "points", "hidden", "timeout")
MATCH_TIMEOUT = 1.0      # seconds a pattern may search one output
OUTPUT_KEPT = 64 * 1024  # characters of a command's output a check is judged on
SEEN_MAX = 2000          # characters of "seen" shown back
FLAGS = regex.MULTILINE
# 126: found but could not be run, 127: not found (what shells and container runtimes answer): the
# command never ran, so its silence proves nothing and no expectation can be met.
NOT_RUN_CODES = (126, 127)
HIDDEN_DESCRIPTION = "hidden check"
PARALLEL = 8  # commands of one run at once (the runner's pool): a run takes as long as its slowest few waves


def longest_run(checks: list[dict]) -> float:
    """Seconds a run of these (normalised) checks may take at most: as many waves of PARALLEL as it needs,
    each as long as the slowest check (a bound, not an estimate)."""
    timeouts = [float(c.get("timeout", DEFAULT_TIMEOUT)) for c in checks if isinstance(c, dict)] or [0.0]
    return math.ceil(len(timeouts) / PARALLEL) * max(timeouts)


def _compile(pattern: str) -> tuple[Any, str]:
    """The compiled pattern, or None and the compiler's complaint."""
    try:
        return regex.compile(pattern, FLAGS), ""
    except regex.error as exc:
        return None, str(exc)
    except (RecursionError, OverflowError, ValueError, MemoryError) as exc:  # pathological nesting or repeat counts
        return None, f"{type(exc).__name__}: {exc}"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and not isinstance(value, bool)


def _check_argv(argv: Any, path: str, problems: list[Problem]) -> None:
    if not isinstance(argv, list):
        problems.append(Problem(path, "must be a list of strings (the command and its arguments; no shell)"))
        return
    if not argv:
        problems.append(Problem(path, "must not be empty: give the command to run"))
        return
    size = 0
    for j, arg in enumerate(argv):
        if not isinstance(arg, str):
            problems.append(Problem(f"{path}[{j}]", "must be a string"))
            continue
        if "\x00" in arg:
            problems.append(Problem(f"{path}[{j}]", "must not contain a NUL character"))
        size += len(arg.encode("utf-8", "surrogatepass"))
    if isinstance(argv[0], str) and not argv[0].strip():
        problems.append(Problem(f"{path}[0]", "must not be empty: it is the command to run"))
    if size > MAX_ARGV_BYTES:
        problems.append(Problem(path, f"is {size} bytes in all; at most {MAX_ARGV_BYTES} are allowed"))


def _check_one(item: Any, i: int, node_names: set[str], problems: list[Problem]) -> dict | None:
    """One check normalised (defaults filled), or None when it is not an object."""
    base = f"checks[{i}]"
    if not isinstance(item, dict):
        problems.append(Problem(base, "must be an object"))
        return None
    for key in item:
        if key not in KEYS:
            problems.append(Problem(f"{base}.{key}", f"unknown key; a check has {', '.join(KEYS)}"))

    node = item.get("node")
    if "node" not in item:
        problems.append(Problem(f"{base}.node", "is required: the name of the node to run the command in"))
    elif not isinstance(node, str):
        problems.append(Problem(f"{base}.node", "must be a string"))
    elif node not in node_names:
        known = ", ".join(sorted(node_names)) or "none"
        problems.append(Problem(f"{base}.node", f"'{node}' is not a node of the template (its nodes: {known})"))

    if "argv" not in item:
        problems.append(Problem(f"{base}.argv", "is required: the command and its arguments, a list of strings"))
    else:
        _check_argv(item["argv"], f"{base}.argv", problems)

    expect = item.get("expect")
    if "expect" not in item:
        problems.append(Problem(f"{base}.expect", f"is required: one of {', '.join(EXPECTS)}"))
    elif expect not in EXPECTS:
        problems.append(Problem(f"{base}.expect", f"must be one of {', '.join(EXPECTS)}"))

    pattern = item.get("pattern")
    if expect in ("match", "no_match") and "pattern" not in item:
        problems.append(Problem(f"{base}.pattern", f"is required when expect is {expect}"))
    elif "pattern" in item:
        if expect == "exit0":
            problems.append(Problem(f"{base}.pattern", "is only for expect match or no_match; exit0 checks the exit status"))
        elif not isinstance(pattern, str):
            problems.append(Problem(f"{base}.pattern", "must be a string (a regular expression)"))
        elif len(pattern) > MAX_PATTERN:
            problems.append(Problem(f"{base}.pattern", f"is {len(pattern)} characters; at most {MAX_PATTERN} are allowed"))
        elif "\x00" in pattern:
            problems.append(Problem(f"{base}.pattern", "must not contain a NUL character"))
        else:
            compiled, why = _compile(pattern)
            if compiled is None:
                problems.append(Problem(f"{base}.pattern", f"is not a valid regular expression: {why}"))

    description = item.get("description")
    if "description" not in item:
        problems.append(Problem(f"{base}.description", "is required: say what the check shows, e.g. 'c1 reaches c2'"))
    elif not isinstance(description, str):
        problems.append(Problem(f"{base}.description", "must be a string"))
    elif not description.strip():
        problems.append(Problem(f"{base}.description", "must not be empty"))
    elif len(description) > MAX_DESCRIPTION:
        problems.append(Problem(f"{base}.description",
                                f"is {len(description)} characters; at most {MAX_DESCRIPTION} are allowed"))

    points = item.get("points", 1)
    if not _is_int(points):
        problems.append(Problem(f"{base}.points", "must be a whole number"))
    elif not 0 <= points <= MAX_POINTS:
        problems.append(Problem(f"{base}.points", f"must be between 0 and {MAX_POINTS}"))

    hidden = item.get("hidden", False)
    if not isinstance(hidden, bool):
        problems.append(Problem(f"{base}.hidden", "must be true or false"))

    timeout = item.get("timeout", DEFAULT_TIMEOUT)
    if not _is_number(timeout):
        problems.append(Problem(f"{base}.timeout", "must be a number of seconds"))
    elif not (math.isfinite(timeout) and MIN_TIMEOUT <= timeout <= MAX_TIMEOUT):
        problems.append(Problem(f"{base}.timeout", f"must be between {MIN_TIMEOUT} and {MAX_TIMEOUT} seconds"))

    out = {"node": node, "argv": item.get("argv"), "expect": expect, "description": description,
           "points": points, "hidden": hidden, "timeout": timeout}
    if "pattern" in item:
        out["pattern"] = pattern
    return out


def validate_checks(data: Any, node_names: set[str]) -> tuple[list[dict], list[Problem]]:
    """``data`` (an assignment's check list) normalised with its defaults, and every problem with its path.

    The list is usable only when the problems are none. Paths start at ``checks``
    (``checks[2].pattern``, ``checks[0].argv[1]``).
    """
    problems: list[Problem] = []
    if not isinstance(data, list):
        return [], [Problem("checks", "must be a list of checks")]
    if len(data) > MAX_CHECKS:
        problems.append(Problem("checks", f"has {len(data)} checks; at most {MAX_CHECKS} are allowed"))
    names = set(node_names)
    checks = []
    for i, item in enumerate(data):
        one = _check_one(item, i, names, problems)
        if one is not None:
            checks.append(one)
    return checks, problems


def _trim(text: str, limit: int) -> str:
    """``text`` at most about ``limit`` characters: its start and end, saying what was left out."""
    text = text.rstrip()
    if len(text) <= limit:
        return text
    head, tail = limit * 2 // 3, limit // 3 - 40
    return f"{text[:head]}\n… ({len(text) - head - tail} characters left out) …\n{text[-tail:]}"


def _status(exit_code: Any) -> str:
    return "no exit status" if exit_code is None else f"exit status {exit_code}"


def _seen(head: str, output: str) -> str:
    output = output or ""
    if not output.strip():
        return f"{head}; no output"
    room = max(200, SEEN_MAX - len(head) - 10)
    return f"{head}; output:\n{_trim(output, room)}"


def evaluate(check: dict, exit_code: int | None, output: str, timed_out: bool, error: str) -> tuple[bool, str]:
    """Whether one check passed, and what was seen (its exit status and trimmed output, or why it failed).

    A command that could not run (``error``), ran past its timeout, or was not found (exit 126/127)
    fails every expectation. A pattern whose search runs out of time fails too, saying so.
    """
    output = (output or "")[:OUTPUT_KEPT]
    if error:
        return False, _trim(f"could not run the command: {error}", SEEN_MAX)
    if timed_out:
        return False, _seen(f"timed out after {check.get('timeout', DEFAULT_TIMEOUT)} s (the command was ended)", output)
    status = _status(exit_code)
    if exit_code in NOT_RUN_CODES:
        return False, _seen(f"{status}: the command could not be run (not found or not executable)", output)
    expect = check.get("expect")
    if expect == "exit0":
        passed = exit_code == 0
        return passed, _seen(status if passed else f"{status}, expected 0", output)
    if expect not in ("match", "no_match"):
        return False, f"unknown expectation {expect!r}"
    compiled, why = _compile(check.get("pattern") or "")
    if compiled is None:
        return False, _seen(f"{status}; the pattern is not a valid regular expression: {why}", output)
    try:
        found = compiled.search(output, timeout=MATCH_TIMEOUT)
    except TimeoutError:
        return False, _seen(f"{status}; the pattern took longer than {MATCH_TIMEOUT:g} s to search the output "
                            "and was stopped (simplify the pattern)", output)
    if expect == "match":
        head = f"{status}; the pattern matched {found.group(0)[:200]!r}" if found else f"{status}; the pattern did not match"
        return found is not None, _seen(head, output)
    head = f"{status}; the pattern matched {found.group(0)[:200]!r}, expected no match" if found \
        else f"{status}; the pattern did not match, as expected"
    return found is None, _seen(head, output)


def visible(results_or_checks: list[dict], *, hidden_shown: bool) -> list[dict]:
    """What a student may see of checks (or of a run's results): hidden ones masked unless ``hidden_shown``.

    A masked item keeps its index, points and (for a result) whether it passed, and nothing of what it
    runs or saw: its description becomes "hidden check". Items are copies; the input is not changed.
    """
    out = []
    for item in results_or_checks or []:
        if hidden_shown or not item.get("hidden"):
            out.append(dict(item))
            continue
        masked = {"description": HIDDEN_DESCRIPTION, "hidden": True, "points": item.get("points", 1)}
        for key in ("index", "passed"):
            if key in item:
                masked[key] = item[key]
        out.append(masked)
    return out
