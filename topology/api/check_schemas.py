"""Shapes of the check routes' bodies and answers (see :mod:`topology.api.checks`), for the OpenAPI schema."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Schema
from pydantic import Field


class CheckResultOut(Schema):
    """One check's outcome. A student's has no node (nor the stored ``seen``: what they are told instead,
    never the pattern); a hidden check a student may not see yet has only index, description, points, hidden.
    Keys a caller may not see are left out, not null."""

    index: int
    description: str
    hidden: bool = False
    points: int
    passed: bool | None = None
    node: str | None = None
    seen: str | None = None
    exit_code: int | None = None
    timed_out: bool | None = None
    error: str | None = None


class CheckRunOut(Schema):
    """One run of the checks of a copy."""

    id: int
    state: str
    user: str
    requested_by: str | None
    trial: bool
    started: datetime
    finished: datetime | None
    score: int
    max_score: int
    late: bool
    reason: str
    results: list[CheckResultOut]


class GradeOut(Schema):
    """A student's grade (see :func:`topology.grading.grade`); ``counted`` False: only late runs so far."""

    score: int
    max_score: int
    late: bool
    run: int
    finished: str | None
    counted: bool


class CheckSummary(Schema):
    """What a check is, as the caller may see it: a student, its index, description and points only (and
    ``hidden`` true for one masked before the due date); an instructor, all of it. Keys left out, not null."""

    index: int
    description: str
    hidden: bool = False
    points: int
    node: str | None = None
    argv: list[str] | None = None
    expect: str | None = None
    pattern: str | None = None
    timeout: float | None = None
    in_: str | None = Field(None, alias="in", description='Where it runs: "node" or "probe"')


class CopyChecksOut(Schema):
    """A copy's checks, its latest runs (newest first, 20 at most) and its grade."""

    checks: list[CheckSummary]
    runs: list[CheckRunOut]
    grade: GradeOut | None


class TryIn(Schema):
    """Checks to try on your own copy, as they would be saved in the assignment (see the check format)."""

    checks: Any = None


class RunSummary(Schema):
    id: int
    state: str
    score: int
    max_score: int
    started: str | None
    finished: str | None
    late: bool
    reason: str


class ResultRow(Schema):
    """One enrolled student's result: their copy (None before they start), grade and latest run."""

    username: str
    name: str
    copy_id: int | None
    grade: GradeOut | None
    latest: RunSummary | None


class Skipped(Schema):
    username: str
    reason: str


class RerunOut(Schema):
    """Whose checks were queued, and whose not and why."""

    queued: list[str]
    skipped: list[Skipped]
