"""Shapes of the assignment routes' answers and bodies, for the OpenAPI schema (and to check what the views
return). Bodies that carry a template are read raw (see :mod:`.assignments`) so that every problem keeps
its JSON path; their shape is documented here as OpenAPI request bodies."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Schema

from .schemas import LabSummary


class CopyOut(Schema):
    """The caller's copy of an assignment (a topology of theirs), with its lab's state."""

    id: int
    name: str
    lab: LabSummary


class CourseRef(Schema):
    id: int
    name: str


class AssignmentItem(Schema):
    """A line of a course's list of assignments: ``topology`` is the caller's copy (null before Start);
    ``started`` (how many students have a copy) for instructors only."""

    id: int
    course: int
    title: str
    due: datetime | None
    grading: str
    published: datetime | None
    role: str
    topology: CopyOut | None
    started: int | None = None


class AssignmentOut(Schema):
    """An assignment as the caller may see it. Students: ``checks`` are ``{index, description, points}``,
    the hidden ones left out (``hidden_checks`` counts them) until the due date. Instructors: ``checks`` as
    written, plus ``instructions``, ``template``, ``started``, ``created``, ``updated``, ``created_by``.
    ``topology``: the caller's copy (or, in a copy's instructions panel, that copy), null before Start."""

    id: int
    course: CourseRef
    title: str
    instructions_html: str
    due: datetime | None
    grading: str
    published: datetime | None
    role: str
    max_points: int
    checks: list[dict[str, Any]]
    hidden_checks: int
    topology: CopyOut | None
    instructions: str | None = None
    template: dict[str, Any] | None = None
    started: int | None = None
    created: datetime | None = None
    updated: datetime | None = None
    created_by: str | None = None


class PublishOut(Schema):
    """What publishing or unpublishing did; ``copies``: the students' (and instructors') copies, all kept."""

    published: datetime | None
    copies: int
    detail: str


class DeletedOut(Schema):
    deleted: bool
    copies_kept: int
    detail: str


class TopologyRef(Schema):
    id: int
    name: str


class StartOut(Schema):
    topology: TopologyRef
    created: bool


class ResetIn(Schema):
    confirm: bool = False


class ResetOut(Schema):
    """``destroy``: "queued" (with the destroy's ``operation``) or "not needed" (the lab was stopped)."""

    topology: TopologyRef
    reset: bool
    destroy: str
    operation: str | None
    detail: str


class MarkdownOut(Schema):
    html: str


ASSIGNMENT_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {
            "type": "object",
            "description": "An assignment. On PUT, keys left out keep their values.",
            "properties": {
                "title": {"type": "string", "minLength": 1, "maxLength": 100,
                          "description": "Unique in the course."},
                "instructions": {"type": "string", "description": "Markdown (no raw HTML), at most 64 KiB."},
                "template": {"type": "object", "description": "The topolab/v1 document each student starts from; "
                                                              "it must be deployable."},
                "checks": {"type": "array", "items": {"type": "object"},
                           "description": "[{node, argv, expect: exit0|match|no_match, pattern, description, "
                                          "points, hidden, timeout}]"},
                "due": {"type": ["string", "null"], "format": "date-time",
                        "description": "ISO 8601 with a time zone, or null."},
                "grading": {"type": "string", "enum": ["best", "last"], "default": "best"},
            },
            "required": ["title", "template"],
        }}},
    }
}

MARKDOWN_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {
            "type": "object", "required": ["text"],
            "properties": {"text": {"type": "string", "description": "Markdown, at most 64 KiB."}},
        }}},
    }
}
