"""Turns pydantic's validation errors into the spec's ``{"path", "message"}`` problems.

Pydantic's wording speaks of its own types; users read the format's words, so
the common cases get a sentence that says what is allowed.
"""
from __future__ import annotations

from pydantic import ValidationError

from .checks import Problem
from .models import DOCUMENT_NAME_RE, IMAGE_RE, INTERFACE_RE, MAC_RE, MODE_RE, NODE_NAME_RE

PATTERN_HINTS = {
    NODE_NAME_RE: "must start with a lowercase letter and hold only lowercase letters, digits and '-' (at most 31)",
    DOCUMENT_NAME_RE: "must hold only lowercase letters, digits and '-', not start with '-' (at most 40)",
    INTERFACE_RE: "must start with a letter and hold only letters, digits, '_', '.' and '-' (at most 15)",
    MAC_RE: "must be a MAC address such as 02:00:00:00:00:01",
    MODE_RE: "must be an octal mode such as \"0644\"",
    IMAGE_RE: "must be a Docker image reference such as topolab/base or registry:5000/team/img:1.0",
}


# A number is ``int | float``: pydantic adds the branch it tried to the end of an
# error's location. Only those two branch names occur in these models.
UNION_BRANCHES = ("int", "float")


def format_path(loc: tuple) -> str:
    """``('links', 1, 'endpoints', 0, 'node')`` -> ``links[1].endpoints[0].node``.

    Every part is kept: a key the user wrote (``interface``, an env variable
    ``int``...) is part of the path even when it looks like a pydantic name.
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _is_union_branch(error: dict) -> bool:
    """Whether the last part of the error's location names a branch of ``int | float``.

    The only dict keys users write that are checked (env, sysctls) hold strings,
    whose errors are ``string_*``; so a number error ending in 'int' or 'float'
    is a branch, not a key.
    """
    loc = error["loc"]
    return bool(loc) and loc[-1] in UNION_BRANCHES and not error["type"].startswith("string")


def _type_name(value: object) -> str:
    """What the user gave, in JSON's words: ``a string``, ``null``, ``1.5``..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return {dict: "an object", list: "a list", str: "a string"}.get(type(value), type(value).__name__)


def _items(n: int) -> str:
    return f"{n} item" if n == 1 else f"{n} items"


def _message(error: dict) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    loc = error["loc"]
    if _is_union_branch(error):
        if kind in ("int_type", "float_type"):
            return f"must be a number, not {_type_name(value)}"
        if kind == "finite_number":
            return "must be a finite number"
    if kind == "extra_forbidden":
        return "unknown key (not part of topolab/v1)"
    if kind == "missing":
        return "is required"
    if kind == "string_pattern_mismatch":
        hint = PATTERN_HINTS.get(ctx.get("pattern"), f"must match {ctx.get('pattern')}")
        return f"'{value}' {hint}" if isinstance(value, str) else hint
    if kind == "literal_error":
        shown = repr(value) if isinstance(value, str) else _type_name(value)
        return f"must be {ctx.get('expected')}, not {shown}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind in ("string_type", "int_type", "float_type", "list_type", "dict_type", "model_type", "bool_type"):
        wanted = {"string_type": "a string", "int_type": "a whole number", "float_type": "a number",
                  "list_type": "a list", "dict_type": "an object", "model_type": "an object",
                  "bool_type": "true or false"}[kind]
        return f"must be {wanted}, not {_type_name(value)}"
    if kind == "finite_number":
        return "must be a finite number"
    if kind == "greater_than":
        return f"must be greater than {ctx['gt']}, not {value!r}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']}, not {value!r}"
    if kind == "less_than":
        return f"must be less than {ctx['lt']}, not {value!r}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']}, not {value!r}"
    if kind == "string_too_short":
        return "must not be empty" if ctx.get("min_length") == 1 else f"must be at least {ctx['min_length']} characters long"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters long, not {len(value)}"
    if kind in ("too_short", "too_long") and loc and loc[-1] == "endpoints":
        return f"a link has exactly 2 endpoints, not {ctx.get('actual_length')}"
    if kind == "too_short":
        return f"must hold at least {_items(ctx['min_length'])}, not {ctx.get('actual_length')}"
    if kind == "too_long":
        return f"must hold at most {_items(ctx['max_length'])}, not {ctx.get('actual_length')}"
    return error["msg"][0].lower() + error["msg"][1:]


def problems_from_validation_error(exc: ValidationError) -> list[Problem]:
    """Every error of a pydantic ValidationError as a Problem, without repeats.

    Repeats are found in dicts, not by comparing each problem with the ones before:
    a document may hold hundreds of thousands of mistakes.
    """
    problems: list[Problem] = []
    held: dict[Problem, int] = {}  # how many times each problem is in ``problems``
    branch_errors: dict[str, int] = {}  # path -> where in ``problems`` its number's problem is
    for error in exc.errors(include_url=False):
        if _is_union_branch(error):
            # A value that fails every branch of ``int | float`` yields one error
            # per branch; they make one problem, the most telling one (a NaN fails
            # 'int' as not an integer and 'float' as not finite: say the latter).
            path = format_path(error["loc"][:-1])
            problem = Problem(path, _message(error))
            earlier = branch_errors.get(path)
            if earlier is None:
                branch_errors[path] = len(problems)
                problems.append(problem)
                held[problem] = held.get(problem, 0) + 1
            elif error["type"] not in ("int_type", "float_type"):
                held[problems[earlier]] -= 1
                problems[earlier] = problem
                held[problem] = held.get(problem, 0) + 1
            continue
        problem = Problem(format_path(error["loc"]), _message(error))
        if not held.get(problem):
            problems.append(problem)
            held[problem] = 1
    return problems
