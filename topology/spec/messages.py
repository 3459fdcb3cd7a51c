"""Turns pydantic's validation errors into the spec's ``{"path", "message"}`` problems.

Pydantic's wording speaks of its own types; users read the format's words, so
the common cases get a sentence that says what is allowed.
"""
from __future__ import annotations

from pydantic import ValidationError

from .checks import Problem
from .models import DOCUMENT_NAME_RE, INTERFACE_RE, MAC_RE, MODE_RE, NODE_NAME_RE, IMAGE_RE

PATTERN_HINTS = {
    NODE_NAME_RE: "must start with a lowercase letter and hold only lowercase letters, digits and '-' (at most 31)",
    DOCUMENT_NAME_RE: "must hold only lowercase letters, digits and '-', not start with '-' (at most 40)",
    INTERFACE_RE: "must start with a letter and hold only letters, digits, '_', '.' and '-' (at most 15)",
    MAC_RE: "must be a MAC address such as 02:00:00:00:00:01",
    MODE_RE: "must be an octal mode such as \"0644\"",
    IMAGE_RE: "must be a Docker image reference such as topolab/base or registry:5000/team/img:1.0",
}


def format_path(loc: tuple) -> str:
    """``('links', 1, 'endpoints', 0, 'node')`` -> ``links[1].endpoints[0].node``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "function-before") or str(part).startswith(("int", "float", "str", "function")):
            # pydantic names the branch of a union it tried; users never wrote it.
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def _message(error: dict) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    if kind == "extra_forbidden":
        return "unknown key (not part of topolab/v1)"
    if kind == "missing":
        return "is required"
    if kind == "string_pattern_mismatch":
        hint = PATTERN_HINTS.get(ctx.get("pattern"), f"must match {ctx.get('pattern')}")
        return f"'{value}' {hint}" if isinstance(value, str) else hint
    if kind == "literal_error":
        return f"must be {ctx.get('expected')}, not {value!r}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind in ("string_type", "int_type", "float_type", "list_type", "dict_type", "model_type", "bool_type"):
        wanted = {"string_type": "a string", "int_type": "a whole number", "float_type": "a number",
                  "list_type": "a list", "dict_type": "an object", "model_type": "an object",
                  "bool_type": "true or false"}[kind]
        return f"must be {wanted}, not {type(value).__name__ if value is not None else 'null'}"
    return error["msg"][0].lower() + error["msg"][1:]


def problems_from_validation_error(exc: ValidationError) -> list[Problem]:
    """Every error of a pydantic ValidationError as a Problem, without repeats."""
    problems: list[Problem] = []
    seen_paths: dict[str, int] = {}
    for error in exc.errors(include_url=False):
        path = format_path(error["loc"])
        problem = Problem(path, _message(error))
        # A value that fails every branch of a union (int | float) yields one
        # error per branch; the first says it.
        if path in seen_paths and error["type"] in ("int_type", "float_type"):
            continue
        seen_paths[path] = 1
        if problem not in problems:
            problems.append(problem)
    return problems
