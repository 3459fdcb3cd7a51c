"""Assignment checks: reading an instructor's check list, judging one check's outcome, and what a student may see.

Pure (no database, no Docker): :func:`validate_checks` normalises ``Assignment.checks`` and reports every
problem with its JSON path; :func:`evaluate` turns what a command did into ``(passed, seen)``;
:func:`visible` masks hidden checks (or their results) for students before the due date.

A ``match``/``no_match`` pattern is searched for anywhere in the command's output (stdout and stderr as
the node gave them) with the `regex` module, ``MULTILINE`` on, so ``^``/``$`` are the ends of a line.
The search has a time limit: a catastrophic pattern fails its check instead of holding a worker. Before a
pattern is compiled (here, in the web process, and in the runner), :func:`repeat_size` bounds what its
counted repeats expand to: the `regex` module writes ``x{100}`` out as 100 copies of ``x``, so nested
counts multiply (``((a{100}){100}){100}`` is a million copies, hundreds of megabytes) and must be refused
unread.

Where a check runs (``in``): ``"node"`` (the default) runs its command in the node's own container;
``"probe"`` in a fresh container of Topolab's own image sharing the node's network namespace
(:mod:`topology.probes`), so a student who replaced ``ping`` or ``ip`` in their node cannot fake the answer.

What a student sees (:func:`student_checks`, :func:`student_results`): each check's index, description and
points only, never what it runs or looks for; a result's ``seen`` that does not quote the pattern; and
before the due date nothing of a hidden check but that it exists and its points, its score left out.
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
KEYS = ("node", "argv", "expect", "pattern", "description", "points", "hidden", "timeout", "in")
PLACES = ("node", "probe")  # where a check's command runs (``in``); the first is the default
REPEAT_BUDGET = 10 ** 4  # elements a pattern may expand to once its counted repeats are written out
MATCH_TIMEOUT = 1.0      # seconds a pattern may search one output
OUTPUT_KEPT = 64 * 1024  # characters of a command's output a check is judged on
SEEN_MAX = 2000          # characters of "seen" shown back
FLAGS = regex.MULTILINE
# 126: found but could not be run, 127: not found (what shells and container runtimes answer): the
# command never ran, so its silence proves nothing and no expectation can be met.
NOT_RUN_CODES = (126, 127)
HIDDEN_DESCRIPTION = "hidden check"
NO_CHECK_RAN = "no check could run"  # a run's reason starts so when every check failed to run (the runner's)
INVALID_PREFIX = "the check is invalid"  # a result's error when its check breaks the rules (the runner's)
CRASHED_PREFIX = "crashed"  # a result's error when judging it crashed (the runner's)
INVALID_TOLD = "the check itself is faulty: ask your instructor"  # a student is not shown why
PARALLEL = 8  # commands of one run at once (the runner's pool): a run takes as long as its slowest few waves


def longest_run(checks: list[dict]) -> float:
    """Seconds a run of these (normalised) checks may take at most: as many waves of PARALLEL as it needs,
    each as long as the slowest check (a bound, not an estimate)."""
    timeouts = [float(c.get("timeout", DEFAULT_TIMEOUT)) for c in checks if isinstance(c, dict)] or [0.0]
    return math.ceil(len(timeouts) / PARALLEL) * max(timeouts)


_COUNT = regex.compile(r"\{(\d*)(?:,(\d*))?\}")
# The head of a group that holds a pattern ("(?:", "(?=", "(?<name>", "(?i:"...), and a "(?...)" that is a
# whole element by itself (inline flags, a call, a back reference: "(?i)", "(?1)", "(?&name)", "(?P=name)").
_GROUP_HEAD = regex.compile(r"\(\?(?:[:=!>|]|<[=!]|P?<\w+>|'\w+'|[\w^-]*:)")
_WHOLE_GROUP = regex.compile(r"\(\?[^()]*\)")
_BRACED_ESCAPES = "pPNx"  # \p{...}, \N{...}, \x{...}: their braces are part of the escape, not a repeat


def _class_end(pattern: str, i: int, nested: bool) -> int:
    """The index just past the character class opening at ``pattern[i]`` (``[``), or the pattern's end.

    ``nested``: a ``[`` inside starts a nested set (the module's version 1 syntax); else it is literal,
    except for a POSIX class ``[:name:]``.
    """
    n, depth, i = len(pattern), 1, i + 1
    if i < n and pattern[i] == "^":
        i += 1
    if i < n and pattern[i] == "]":  # a "]" first is literal
        i += 1
    while i < n:
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            if pattern.startswith("[:", i) and ":]" in pattern[i + 2:]:
                i = pattern.index(":]", i + 2) + 2
                continue
            if nested:
                depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return n


def _expanded(pattern: str, *, verbose: bool, nested: bool) -> int:
    """How many elements ``pattern`` expands to with its counted repeats written out, read one way.

    A literal, a class or an escape is one element; a group is what it holds; a sequence (or alternation)
    the sum of its parts; ``{m}``, ``{m,n}``, ``{m,}`` and ``{,n}`` multiply what they repeat by their
    largest bound (``*``, ``+`` and ``?`` loop, they do not copy). Values stop growing past the budget.
    """
    cap = REPEAT_BUDGET + 1
    frames = [[0, 0]]  # per open group: [its size so far, the size of its last element]
    n, i = len(pattern), 0
    while i < n:
        char = pattern[i]
        frame = frames[-1]
        if verbose and char in " \t\n\r\f\v":
            i += 1
            continue
        if verbose and char == "#":
            end = pattern.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        if char == "{":
            found = _COUNT.match(pattern, i)
            if found is not None and (found.group(1) or found.group(2)):
                bounds = [int(b) for b in found.groups() if b]
                factor = max(1, min(cap, max(bounds)))
                frame[0] -= frame[1]
                frame[1] = min(cap, frame[1] * factor)
                frame[0] = min(cap, frame[0] + frame[1])
                i = found.end()
                continue
        if char in "*+?":
            i += 1
            continue
        if char == "(":
            if pattern.startswith("(?#", i):  # a comment, to the first ")"
                end = pattern.find(")", i)
                i = n if end < 0 else end + 1
                continue
            head = _GROUP_HEAD.match(pattern, i)
            whole = None if head else _WHOLE_GROUP.match(pattern, i)
            if whole is not None:
                frame[1] = 1
                frame[0] = min(cap, frame[0] + 1)
                i = whole.end()
                continue
            frames.append([0, 0])
            i = head.end() if head else i + 1
            continue
        if char == ")" and len(frames) > 1:
            size = max(1, frames.pop()[0])
            frame = frames[-1]
            frame[1] = size
            frame[0] = min(cap, frame[0] + size)
            i += 1
            continue
        if char == "\\":
            end = i + 2
            if i + 1 < n and pattern[i + 1] in _BRACED_ESCAPES and end < n and pattern[end] == "{":
                close = pattern.find("}", end)
                end = n if close < 0 else close + 1
            i = end
        elif char == "[":
            i = _class_end(pattern, i, nested)
        else:
            i += 1
        frame[1] = 1
        frame[0] = min(cap, frame[0] + 1)
    while len(frames) > 1:  # unclosed groups (the compiler refuses them; count them all the same)
        size = frames.pop()[0]
        frames[-1][0] = min(cap, frames[-1][0] + size)
    return frames[0][0]


def repeat_size(pattern: str) -> int:
    """How many elements ``pattern`` expands to when compiled (at most :data:`REPEAT_BUDGET` + 1).

    Read every way the syntax allows (verbose or not, nested sets or not), taking the largest: whichever
    flags the pattern turns on, it is never under-counted.
    """
    return max(_expanded(pattern, verbose=v, nested=s) for v in (False, True) for s in (False, True))


def _repeat_problem(pattern: str) -> str:
    """Why ``pattern`` may not be compiled (its repeats expand too far), or ""."""
    size = repeat_size(pattern)
    if size <= REPEAT_BUDGET:
        return ""
    return (f"repeats too much: its counted repeats ({{m}}, {{m,n}}) expand to more than {REPEAT_BUDGET} elements "
            "(nested counts multiply); use smaller counts, or + and * (which do not copy)")


def _compile(pattern: str) -> tuple[Any, str]:
    """The compiled pattern, or None and why not (its repeats expand too far, or the compiler's complaint)."""
    too_big = _repeat_problem(pattern)
    if too_big:
        return None, too_big
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
        elif too_big := _repeat_problem(pattern):  # before compiling: compiling it would exhaust the memory
            problems.append(Problem(f"{base}.pattern", too_big))
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

    place = item.get("in", PLACES[0])
    if place not in PLACES:
        problems.append(Problem(f"{base}.in", "must be \"node\" (run the command in the node) or \"probe\" "
                                              "(in a fresh Topolab container sharing the node's network)"))

    out = {"node": node, "argv": item.get("argv"), "expect": expect, "description": description,
           "points": points, "hidden": hidden, "timeout": timeout, "in": place}
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
    for i, item in enumerate(data[:MAX_CHECKS]):  # the rest is refused by its count, not read (nor compiled)
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


def judge(check: dict, exit_code: int | None, output: str, timed_out: bool, error: str) -> tuple[bool, str, str]:
    """Whether one check passed, what was seen (its exit status and trimmed output, or why it failed), and
    what its student is told: the same, except that it never quotes the pattern or what it matched.

    A command that could not run (``error``), ran past its timeout, or was not found (exit 126/127)
    fails every expectation. A pattern whose search runs out of time fails too, saying so.
    """
    output = (output or "")[:OUTPUT_KEPT]
    if error:
        seen = _trim(f"could not run the command: {error}", SEEN_MAX)
        return False, seen, seen
    if timed_out:
        seen = _seen(f"timed out after {check.get('timeout', DEFAULT_TIMEOUT)} s (the command was ended)", output)
        return False, seen, seen
    status = _status(exit_code)
    if exit_code in NOT_RUN_CODES:
        seen = _seen(f"{status}: the command could not be run (not found or not executable)", output)
        return False, seen, seen
    expect = check.get("expect")
    if expect == "exit0":
        passed = exit_code == 0
        seen = _seen(status if passed else f"{status}, expected 0", output)
        return passed, seen, seen
    if expect not in ("match", "no_match"):
        return False, f"unknown expectation {expect!r}", INVALID_TOLD
    compiled, why = _compile(check.get("pattern") or "")
    if compiled is None:
        return (False, _seen(f"{status}; the pattern is not a valid regular expression: {why}", output),
                _seen(f"{status}; {INVALID_TOLD}", output))
    try:
        found = compiled.search(output, timeout=MATCH_TIMEOUT)
    except TimeoutError:
        return (False, _seen(f"{status}; the pattern took longer than {MATCH_TIMEOUT:g} s to search the output "
                             "and was stopped (simplify the pattern)", output),
                _seen(f"{status}; the check's pattern took too long to search the output (ask your instructor)", output))
    if expect == "match":
        if found:
            return True, _seen(f"{status}; the pattern matched {found.group(0)[:200]!r}", output), \
                _seen(f"{status}; the output matched the expected pattern", output)
        return False, _seen(f"{status}; the pattern did not match", output), \
            _seen(f"{status}; the output did not match the expected pattern", output)
    if found:
        return False, _seen(f"{status}; the pattern matched {found.group(0)[:200]!r}, expected no match", output), \
            _seen(f"{status}; the output matched a pattern it must not match", output)
    return True, _seen(f"{status}; the pattern did not match, as expected", output), \
        _seen(f"{status}; the output did not match the pattern it must not match, as expected", output)


def evaluate(check: dict, exit_code: int | None, output: str, timed_out: bool, error: str) -> tuple[bool, str]:
    """Whether one check passed, and what was seen (see :func:`judge`, whose student's version this leaves out)."""
    passed, seen, _ = judge(check, exit_code, output, timed_out, error)
    return passed, seen


def _points_of(item: dict) -> int:
    points = item.get("points", 1)
    return points if isinstance(points, int) and not isinstance(points, bool) else 0


def _masked(item: dict, index: int) -> dict:
    """A hidden check (or its result) as its student sees it before the due date: that it exists, its points."""
    return {"index": item.get("index", index), "description": HIDDEN_DESCRIPTION, "points": _points_of(item),
            "hidden": True}


def student_checks(checks: list[dict], *, hidden_shown: bool) -> list[dict]:
    """What a student sees of (normalised) checks: ``{index, description, points}`` each, never what a check
    runs, where, or what it looks for; a hidden one masked (``hidden`` true) unless ``hidden_shown``."""
    out = []
    for i, check in enumerate(checks or []):
        if not isinstance(check, dict):
            continue
        if check.get("hidden") is True and not hidden_shown:
            out.append(_masked(check, i))
        else:
            out.append({"index": i, "description": str(check.get("description") or ""), "points": _points_of(check)})
    return out


def _student_error(error: Any) -> str:
    """A result's error as its student sees it: the lab's own complaints as they are, the check's not."""
    text = str(error or "")
    if text.startswith((INVALID_PREFIX, CRASHED_PREFIX)):
        return INVALID_TOLD
    return text


def student_results(results: list[dict], *, hidden_shown: bool) -> list[dict]:
    """What a student sees of a run's results (copies; the stored ones are not changed).

    A shown result keeps whether it passed, its exit status, timeout and error, and what its student is
    told (``student_seen``: never the pattern); not its node or command. A hidden one before the due date
    (``hidden_shown`` false) is masked: its index and points only, not even whether it passed.
    """
    out = []
    for i, result in enumerate(results or []):
        if not isinstance(result, dict):
            continue
        if result.get("hidden") is True and not hidden_shown:
            out.append(_masked(result, i))
            continue
        # A result stored before students were told apart has no student's version: it shows nothing.
        seen = result.get("student_seen")
        if not isinstance(seen, str):
            seen = ""
        shown = {"index": result.get("index", i), "description": str(result.get("description") or ""),
                 "points": _points_of(result), "passed": result.get("passed") is True, "seen": seen,
                 "exit_code": result.get("exit_code"), "timed_out": result.get("timed_out") is True,
                 "error": _student_error(result.get("error"))}
        if result.get("hidden") is True:
            shown["hidden"] = True
        out.append(shown)
    return out


def student_score(results: list[dict], *, hidden_shown: bool) -> tuple[int, int]:
    """``(score, max_score)`` of a run as its student sees it: before the due date, of visible checks only."""
    counted = [r for r in results or [] if isinstance(r, dict) and (hidden_shown or r.get("hidden") is not True)]
    return (sum(_points_of(r) for r in counted if r.get("passed") is True), sum(_points_of(r) for r in counted))


def student_reason(reason: str, shown: list[dict]) -> str:
    """A run's reason as its student sees it, ``shown`` being their :func:`student_results`: a run where no
    check could run says so with the shown results' errors only (a hidden check's node is not named)."""
    if not (reason or "").startswith(NO_CHECK_RAN):
        return reason or ""
    errors = sorted({r["error"] for r in shown if r.get("error")})
    return (NO_CHECK_RAN + ": " + "; ".join(errors))[:2000] if errors else NO_CHECK_RAN
