"""Shapes of the API's answers, for the OpenAPI schema (and to check what the views return)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema


class Problem(Schema):
    path: str
    message: str


class Errors(Schema):
    errors: list[Problem]
    warnings: list[Problem] = []


class Detail(Schema):
    detail: str


class LabSummary(Schema):
    state: str
    busy: bool
    reason: str
    host_queue: str = Field("", description="The Celery queue of the lab's host.")
    host_unreachable: bool = Field(False, description="The lab holds something on its host and that host's lab "
                                                      "worker has not answered lately (clears itself when it is back).")


class TopologyItem(Schema):
    id: int
    name: str
    description: str
    node_count: int
    link_count: int
    lab: LabSummary
    created: datetime
    updated: datetime


class TopologyFull(TopologyItem):
    document: dict[str, Any]
    warnings: list[Problem]


class ValidationOut(Schema):
    valid: bool
    errors: list[Problem]
    warnings: list[Problem]


class OperationOut(Schema):
    state: str
    operation: str


class InterfaceOut(Schema):
    name: str
    state: str
    mac: str | None
    mtu: int | None
    addresses: list[str]


class NodeOut(Schema):
    name: str
    kind: str
    state: str
    container: str
    reason: str
    interfaces: list[InterfaceOut]


class EventOut(Schema):
    id: int
    time: datetime
    step: str
    node: str
    status: str
    message: str
    index: int | None
    total: int | None
    elapsed_ms: int | None


class LabOut(Schema):
    state: str
    reason: str
    busy: bool
    operation: str
    host_queue: str = Field("", description="The Celery queue of the lab's host.")
    host_unreachable: bool = Field(False, description="The lab holds something on its host and that host's lab "
                                                      "worker has not answered lately (clears itself when it is back).")
    nodes: list[NodeOut]
    events: list[EventOut]


class ExecOut(Schema):
    exit_code: int
    output: str
    timed_out: bool = False
    truncated: bool = False


class ImageOut(Schema):
    name: str
    kinds: list[str]
    present: bool
    up_to_date: bool
    size_bytes: int | None


DOCUMENT_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {
            "type": "object", "description": "A topolab/v1 document (at most 5 MiB).",
            "example": {"format": "topolab/v1", "name": "two-hosts", "nodes": [{"name": "a"}, {"name": "b"}],
                        "links": [{"endpoints": [{"node": "a", "interface": "eth0", "addresses": ["10.0.0.1/24"]},
                                                 {"node": "b", "interface": "eth0", "addresses": ["10.0.0.2/24"]}]}]},
        }}},
    }
}

EXEC_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {
            "type": "object", "required": ["argv"],
            "properties": {
                "argv": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                         "description": "The command and its arguments (no shell)."},
                "timeout": {"type": "number", "minimum": 1, "maximum": 300, "default": 30,
                            "description": "Seconds to wait for the command."},
            },
            "example": {"argv": ["ping", "-c", "1", "10.0.0.1"], "timeout": 30},
        }}},
    }
}


class CourseMemberOut(Schema):
    username: str
    name: str
    email: str
    role: str
    joined: datetime


class CourseItem(Schema):
    id: int
    name: str
    slug: str
    created: datetime
    role: str
    instructors: list[str]
    joined: datetime | None


class CourseFull(CourseItem):
    join_code: str | None = None
    members: list[CourseMemberOut] | None = None


class CourseIn(Schema):
    name: str


class EnrolIn(Schema):
    username: str


class JoinIn(Schema):
    code: str


class JoinOut(Schema):
    course: CourseItem
    joined: bool


class CodeOut(Schema):
    join_code: str


class LineProblem(Schema):
    line: int
    message: str


class CreatedStudent(Schema):
    line: int
    username: str
    password: str


class EnrolledStudent(Schema):
    line: int
    username: str
    note: str


class EnrolCsvOut(Schema):
    created: list[CreatedStudent]
    enrolled: list[EnrolledStudent]
    problems: list[LineProblem]


class RemoveIn(Schema):
    mode: str = "keep"


class LeftTopology(Schema):
    name: str
    reason: str


class RemovalOut(Schema):
    username: str
    removed: bool
    deleted: list[str]
    left: list[LeftTopology]


CSV_BODY = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary",
                                    "description": "UTF-8 CSV (a byte-order mark is allowed), at most 256 KiB and "
                                                   "100 rows: username,name,email; a header line is optional."}},
        }}},
    }
}
