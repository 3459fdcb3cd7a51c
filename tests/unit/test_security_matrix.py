"""The cross-user security matrix (issue 10): every action on another user's work, course or assignment,
tried by four personas, is denied, and nothing changed; the rightful user may do each.

The world: carol teaches "Networks 101", whose students are alice and zed; zed (the victim) has a copy of
its published assignment "Lab 1" whose lab runs (c1, r1, c2), a check run, and a plain topology of his own
that is stopped; the course also has a draft. dave teaches "Dave's course", whose student is bob.

The personas:

- ``peer``: alice, a student of the same course, on zed's work (and on the instructors' side of the course);
- ``outsider``: bob, a student of another course, on this course and zed's work;
- ``other-instructor``: dave, who teaches another course;
- ``anonymous``: nobody signed in.

Each row names its action, method, path and who may do it (the positive control: a route that denies
everybody fails the control). The expected denial: API 404 (existence is not revealed; a student of the
course, who knows the course, may get 403), anonymous API 401; pages 404, anonymous a redirect to sign in;
websockets closed 4403, anonymous too. After each denied attempt every row of Topology, Lab, LabNode,
LabEvent, Course, CourseMember, Assignment, CheckRun (and users, flags and the labs' leases) is as before,
and no task was sent (Celery's ``apply_async`` is recorded, on-commit callbacks run). A path no route
serves fails "route missing", never passes as a 404. The course roster routes are in test_courses_api.py.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from celery.app.task import Task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import Resolver404, resolve
from django.utils import timezone

from tests.classroom import make_instructor
from tests.documents import reference_document
from tests.websockets import close_code, cookie_of, fresh_channel_layer, run  # noqa: F401 (autouse)
from topology import courses, leases, services
from topology.models import (
    Assignment,
    CheckRun,
    Course,
    CourseMember,
    Lab,
    LabEvent,
    LabNode,
    Topology,
    UserFlags,
)
from topology.websockets.routes import NOT_FOUND, websocket_urlpatterns

User = get_user_model()
API = "/api/v1"
PERSONAS = ("peer", "outsider", "other-instructor", "anonymous")
FORBIDDEN = 4403
CHECK = {"node": "c1", "argv": ["true"], "expect": "exit0", "description": "c1 runs true", "points": 1}


@dataclass(frozen=True)
class Row:
    """One action: ``path`` has ``{t}`` (zed's copy, lab running), ``{s}`` (zed's own topology, stopped),
    ``{c}`` (the course), ``{a}`` (its published assignment), ``{d}`` (its draft)."""

    action: str
    method: str  # GET, POST, PUT, DELETE, or WS
    path: str
    kind: str = "api"  # api, page, ws
    body: object = None
    control: str = "owner"  # who may: owner (zed), instructor (carol), peer (alice, for her own start)
    allowed: tuple = (200,)  # the control's status (ws: accepted and not closed 4403)
    personas: tuple = PERSONAS
    peer_may_get: tuple = ()  # a student of the course knows it exists: 403 is as good a refusal as 404
    listing: bool = False  # the answer is a list: the victim's item is absent from it

    @property
    def id(self) -> str:
        return f"{self.action}:{self.method} {self.path}"


ROWS = [
    # -- zed's topologies and lab ---------------------------------------------------------------------------
    Row("read", "GET", f"{API}/topologies/{{t}}"),
    Row("list", "GET", f"{API}/topologies", listing=True),
    Row("export", "GET", f"{API}/topologies/{{t}}/export"),
    Row("change", "PUT", f"{API}/topologies/{{s}}", body="document"),
    Row("change-copy", "PUT", f"{API}/topologies/{{t}}", body="document", allowed=(200, 409)),
    Row("delete", "DELETE", f"{API}/topologies/{{s}}", allowed=(204,)),
    Row("delete-copy", "DELETE", f"{API}/topologies/{{t}}", allowed=(409,)),  # the owner: destroy the lab first
    Row("deploy", "POST", f"{API}/topologies/{{s}}/deploy", allowed=(202,)),
    Row("deploy-copy", "POST", f"{API}/topologies/{{t}}/deploy", allowed=(409,)),  # the owner: it runs already
    Row("destroy", "POST", f"{API}/topologies/{{t}}/destroy", allowed=(202,)),
    Row("exec", "POST", f"{API}/topologies/{{t}}/nodes/c1/exec", body={"argv": ["true"]}),
    Row("lab status", "GET", f"{API}/topologies/{{t}}/lab"),
    Row("assignment of a copy", "GET", f"{API}/topologies/{{t}}/assignment"),
    Row("check my work", "POST", f"{API}/topologies/{{t}}/checks"),
    Row("check results of a copy", "GET", f"{API}/topologies/{{t}}/checks"),
    Row("editor page", "GET", "/topologies/{t}/", kind="page"),
    Row("console page", "GET", "/topologies/{t}/nodes/c1/console/", kind="page"),
    Row("logs page", "GET", "/topologies/{t}/nodes/c1/logs/", kind="page"),
    Row("watch page", "GET", "/topologies/{t}/nodes/c1/console/?mode=watch", kind="page", control="instructor"),
    Row("take-over page", "GET", "/topologies/{t}/nodes/c1/console/?mode=control", kind="page", control="instructor"),
    Row("lab events socket", "WS", "/ws/topologies/{t}/", kind="ws"),
    Row("console socket", "WS", "/ws/topologies/{t}/nodes/c1/console", kind="ws"),
    Row("logs socket", "WS", "/ws/topologies/{t}/nodes/c1/logs", kind="ws"),
    Row("console watch", "WS", "/ws/topologies/{t}/nodes/c1/console?mode=watch", kind="ws", control="instructor"),
    Row("console take-over", "WS", "/ws/topologies/{t}/nodes/c1/console?mode=control", kind="ws",
        control="instructor"),
    # -- the course's assignments -----------------------------------------------------------------------------
    Row("assignments of a course", "GET", f"{API}/courses/{{c}}/assignments", control="instructor",
        personas=("outsider", "other-instructor", "anonymous")),
    Row("create an assignment", "POST", f"{API}/courses/{{c}}/assignments", body="assignment", control="instructor",
        allowed=(201,), peer_may_get=(403,)),
    Row("read an assignment", "GET", f"{API}/assignments/{{a}}", control="instructor",
        personas=("outsider", "other-instructor", "anonymous")),
    Row("read a draft", "GET", f"{API}/assignments/{{d}}", control="instructor"),
    Row("change an assignment", "PUT", f"{API}/assignments/{{a}}", body={"title": "Lab 1, edited"},
        control="instructor", peer_may_get=(403,)),
    Row("delete an assignment", "DELETE", f"{API}/assignments/{{a}}", control="instructor", peer_may_get=(403,)),
    Row("publish", "POST", f"{API}/assignments/{{d}}/publish", control="instructor", peer_may_get=(403,)),
    Row("unpublish", "POST", f"{API}/assignments/{{a}}/unpublish", control="instructor", peer_may_get=(403,)),
    Row("start", "POST", f"{API}/assignments/{{a}}/start", control="peer", allowed=(201,),
        personas=("outsider", "other-instructor", "anonymous")),
    Row("start a draft", "POST", f"{API}/assignments/{{d}}/start", control="instructor", allowed=(200, 201)),
    Row("reset", "POST", f"{API}/assignments/{{a}}/reset", body={"confirm": True}, control="owner",
        personas=("outsider", "other-instructor", "anonymous")),
    Row("try checks", "POST", f"{API}/assignments/{{a}}/checks/try", body={"checks": [CHECK]},
        control="instructor", allowed=(200, 409), peer_may_get=(403,)),
    Row("results", "GET", f"{API}/assignments/{{a}}/results", control="instructor", peer_may_get=(403,)),
    Row("results as CSV", "GET", f"{API}/assignments/{{a}}/results.csv", control="instructor", peer_may_get=(403,)),
    Row("re-run the class", "POST", f"{API}/assignments/{{a}}/results/rerun", control="instructor",
        peer_may_get=(403,)),
    # -- the course ----------------------------------------------------------------------------------------------
    Row("course page", "GET", "/courses/{c}/", kind="page", control="instructor",
        personas=("outsider", "other-instructor", "anonymous")),
    Row("assignment page", "GET", "/courses/{c}/assignments/{a}/", kind="page", control="instructor",
        personas=("outsider", "other-instructor", "anonymous")),
    Row("draft assignment page", "GET", "/courses/{c}/assignments/{d}/", kind="page", control="instructor"),
    Row("new assignment page", "GET", "/courses/{c}/assignments/new/", kind="page", control="instructor",
        peer_may_get=(403,)),
    Row("course grid", "GET", f"{API}/courses/{{c}}/grid", control="instructor", peer_may_get=(403,)),
    Row("course grid socket", "WS", "/ws/courses/{c}/", kind="ws", control="instructor"),
    Row("destroy all labs", "POST", f"{API}/courses/{{c}}/labs/destroy", control="instructor", peer_may_get=(403,)),
    Row("destroy a student's lab", "POST", f"{API}/courses/{{c}}/students/zed/topologies/{{t}}/destroy",
        control="instructor", allowed=(202,), peer_may_get=(403,)),
]
HTTP_ROWS = [r for r in ROWS if r.kind != "ws"]
WS_ROWS = [r for r in ROWS if r.kind == "ws"]


def cases(rows):
    return [pytest.param(row, who, id=f"{row.id} as {who}") for row in rows for who in row.personas]


# -- the world -------------------------------------------------------------------------------------------------
def running(topology: Topology) -> None:
    """The lab as the worker leaves it once deployed (no containers here)."""
    Lab.objects.filter(topology=topology).update(state="running", queue=settings.TOPOLAB_QUEUE)
    lab = Lab.objects.get(topology=topology)
    for name in ("c1", "r1", "c2"):
        LabNode.objects.update_or_create(lab=lab, name=name, defaults={"state": "running",
                                                                       "container_id": f"cid-{name}-{lab.pk}"})


def named(name: str) -> dict:
    document = reference_document()
    document["name"] = name
    return document


def build_world() -> dict:
    carol = make_instructor(User.objects.create_user("carol", "carol@example.org", None, first_name="Carol"))
    dave = make_instructor(User.objects.create_user("dave"))
    alice, bob, zed = (User.objects.create_user(n) for n in ("alice", "bob", "zed"))
    course = courses.create_course(carol, "Networks 101")
    for student in (alice, zed):
        CourseMember.objects.create(course=course, user=student, role=CourseMember.Role.STUDENT)
    daves = courses.create_course(dave, "Dave's course")
    CourseMember.objects.create(course=daves, user=bob, role=CourseMember.Role.STUDENT)
    published = Assignment.objects.create(course=course, title="Lab 1", instructions="Ping c2 from c1.",
                                          template=reference_document(), checks=[CHECK], published=timezone.now(),
                                          created_by=carol)
    draft = Assignment.objects.create(course=course, title="Lab 2", template=reference_document(), checks=[CHECK],
                                      created_by=carol)
    copy = services.import_topology(zed, named("lab-1"))
    Topology.objects.filter(pk=copy.pk).update(assignment=published)
    running(copy)
    own = services.import_topology(zed, named("my-own"))
    # Carol's own copy, deployed: where she tries checks.
    mine = services.import_topology(carol, named("lab-1"))
    Topology.objects.filter(pk=mine.pk).update(assignment=published)
    running(mine)
    CheckRun.objects.create(assignment=published, topology=copy, user=zed, requested_by=zed, state="done",
                            finished=timezone.now(), score=1, max_score=1, results=[])
    # Bob and alice have work of their own: the matrix never touches it either.
    services.import_topology(bob, named("bobs"))
    services.import_topology(alice, named("alices"))
    return {"users": {"owner": zed, "peer": alice, "outsider": bob, "other-instructor": dave, "instructor": carol},
            "ids": {"t": copy.pk, "s": own.pk, "c": course.pk, "a": published.pk, "d": draft.pk}}


def snapshot() -> dict:
    """Every row that an action could change, and the labs' leases."""
    models = (Topology, Lab, LabNode, LabEvent, Course, CourseMember, Assignment, CheckRun, UserFlags)
    rows = {m.__name__: list(m.objects.order_by("pk").values()) for m in models}
    rows["User"] = list(User.objects.order_by("pk").values("pk", "username", "password", "is_active", "last_login"))
    rows["leases"] = {lab: leases.holder(lab) for lab in Lab.objects.values_list("pk", flat=True)}
    return rows


@dataclass
class Sent:
    """What would have gone to a worker: ``(task name, args, queue)``; each answer as a worker would give it."""

    tasks: list = field(default_factory=list)


class FakeResult:
    """The AsyncResult of a recorded task: its answer at once."""

    ANSWERS = {"topology.exec_in_node": {"exit_code": 0, "output": "", "timed_out": False, "truncated": False}}

    def __init__(self, name: str):
        self.name, self.id = name, f"fake-{name}"

    def get(self, *args, **kwargs):
        return self.ANSWERS.get(self.name, {})

    def forget(self):
        pass


@pytest.fixture
def sent(monkeypatch) -> Sent:
    """Every task any code sends (any task: those that other slices add too), recorded instead of queued."""
    record = Sent()

    def apply_async(task, args=None, kwargs=None, **options):
        record.tasks.append((task.name, list(args or ()), options.get("queue")))
        return FakeResult(task.name)

    def send_task(app, name, args=None, kwargs=None, **options):
        record.tasks.append((name, list(args or ()), options.get("queue")))
        return FakeResult(name)

    monkeypatch.setattr(Task, "apply_async", apply_async)
    monkeypatch.setattr("celery.Celery.send_task", send_task)
    return record


@pytest.fixture
def clean_redis(released):
    """Locks and slots a run or a command took (checks, exec, quotas) are given back after the test."""
    yield
    client = leases.client()
    for part in ("checks", "exec", "quota"):
        for key in client.scan_iter(f"topolab:{settings.TOPOLAB_SITE}:{part}:*"):
            client.delete(key)


# -- calling a route -------------------------------------------------------------------------------------------
def fill(path: str, ids: dict) -> str:
    return path.format(**ids)


def body_of(row: Row, ids: dict):
    if row.body == "document":
        return named("renamed-by-someone")
    if row.body == "assignment":
        return {"title": "Lab 3", "template": reference_document()}
    return row.body


def client_of(user) -> Client:
    c = Client()
    if user is not None:
        c.force_login(user)
    return c


def route_exists(row: Row, path: str) -> None:
    """Fails "route missing" when no route serves the path (a 404 from no route proves nothing)."""
    bare = path.split("?", 1)[0]
    if row.kind == "ws":
        served = [p for p in websocket_urlpatterns[:-1] if p.pattern.match(bare.lstrip("/"))]
        if not served:
            pytest.fail(f"route missing: no websocket route serves {bare} ({row.id})")
        return
    try:
        resolve(bare)
    except Resolver404:
        pytest.fail(f"route missing: no route serves {row.method} {bare} ({row.id})")


def call(row: Row, c: Client, ids: dict, capture):
    path = fill(row.path, ids)
    route_exists(row, path)
    body = body_of(row, ids)
    with capture(execute=True):
        if row.method == "GET":
            response = c.get(path)
        else:
            data = json.dumps(body) if body is not None else ""
            response = c.generic(row.method, path, data, content_type="application/json")
    if response.status_code == 405:
        pytest.fail(f"route missing: {path} does not answer {row.method} ({row.id})")
    return response


def denials(row: Row, who: str) -> tuple:
    if who == "anonymous":
        return (401,) if row.kind == "api" else (302,)
    return (404,) + (row.peer_may_get if who == "peer" else ())


# -- HTTP ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("row", "who"), cases(HTTP_ROWS))
def test_denied(row, who, sent, clean_redis, django_capture_on_commit_callbacks, db):
    world = build_world()
    ids = world["ids"]
    attacker = client_of(world["users"].get(who))  # signed in before the snapshot: signing in is no change
    before = snapshot()
    response = call(row, attacker, ids, django_capture_on_commit_callbacks)
    if row.listing and who != "anonymous":
        assert response.status_code == 200, (row.id, who, response.status_code)
        assert ids["t"] not in [item["id"] for item in response.json()], (row.id, who)
        assert ids["s"] not in [item["id"] for item in response.json()], (row.id, who)
    else:
        assert response.status_code in denials(row, who), (row.id, who, response.status_code, response.content[:300])
    if who == "anonymous" and row.kind == "page":
        assert response["Location"].startswith(settings.LOGIN_URL), (row.id, response["Location"])
    if response.status_code == 404 and row.kind == "api":
        text = response.content.decode()
        assert "zed" not in text and "lab-1" not in text, (row.id, who, text)  # nothing of the victim's said
    assert sent.tasks == [], (row.id, who, sent.tasks)
    assert snapshot() == before, (row.id, who)


@pytest.mark.parametrize("row", [pytest.param(r, id=r.id) for r in HTTP_ROWS])
def test_the_rightful_user_may(row, sent, clean_redis, django_capture_on_commit_callbacks, db):
    """The positive control: the owner (or the course's instructor) gets past the same route."""
    world = build_world()
    ids = world["ids"]
    response = call(row, client_of(world["users"][row.control]), ids, django_capture_on_commit_callbacks)
    assert response.status_code in row.allowed, (row.id, row.control, response.status_code, response.content[:300])
    if row.listing:
        assert {ids["t"], ids["s"]} <= {item["id"] for item in response.json()}


def test_the_controls_send_what_they_should(sent, clean_redis, django_capture_on_commit_callbacks, db):
    """The recorder sees tasks (so an empty record above means none was sent): exec, deploy, destroy."""
    world = build_world()
    for action in ("exec", "deploy", "destroy"):
        [row] = [r for r in HTTP_ROWS if r.action == action]
        call(row, client_of(world["users"]["owner"]), world["ids"], django_capture_on_commit_callbacks)
    assert [name for name, _, _ in sent.tasks] == ["topology.exec_in_node", "topology.deploy_lab",
                                                   "topology.destroy_lab"]


def test_the_matrix_is_big_enough():
    """At least 30 cross-user actions, each tried by every persona it concerns."""
    assert len(ROWS) >= 30
    assert len(cases(ROWS)) >= 120
    for who in PERSONAS:
        assert len([r for r in ROWS if who in r.personas]) >= 30, who


# -- websockets ------------------------------------------------------------------------------------------------
def cookie(user) -> str | None:
    """The session cookie of ``user`` signed in (None: anonymous)."""
    return cookie_of(user) if user is not None else None


async def heard_by_relay(path: str, session_cookie: str | None, wait: float) -> tuple[int | None, list[dict]]:
    """(the close code, what reached the lab host's console relay meanwhile): a refused socket asks it nothing."""
    import asyncio

    from channels.layers import get_channel_layer

    from topology.relay import LAYER, PROBE, channel_name, subscribe

    layer = get_channel_layer(LAYER)
    channel = channel_name(settings.TOPOLAB_SITE, settings.TOPOLAB_QUEUE)
    heard = [m for m in await subscribe(layer, channel) if m.get("type") != PROBE]
    code = await close_code(path, session_cookie, wait)
    try:
        while True:
            message = await asyncio.wait_for(layer.receive(channel), 0.5)
            if message.get("type") != PROBE:
                heard.append(message)
    except TimeoutError:
        pass
    return code, heard


@pytest.mark.parametrize(("row", "who"), cases(WS_ROWS))
def test_socket_denied(row, who, sent, clean_redis, transactional_db):
    world = build_world()
    path = fill(row.path, world["ids"])
    route_exists(row, path)
    session = cookie(world["users"].get(who))
    before = snapshot()
    code, heard = run(heard_by_relay, path, session, 3)
    assert code == FORBIDDEN, (row.id, who, code)
    assert heard == [], (row.id, who, heard)  # no console or log was asked of the relay
    assert sent.tasks == [], (row.id, who, sent.tasks)
    assert snapshot() == before, (row.id, who)


@pytest.mark.parametrize("row", [pytest.param(r, id=r.id) for r in WS_ROWS])
def test_the_rightful_user_may_open(row, sent, clean_redis, transactional_db):
    world = build_world()
    path = fill(row.path, world["ids"])
    route_exists(row, path)
    code, heard = run(heard_by_relay, path, cookie(world["users"][row.control]), 1.5)
    assert code not in (FORBIDDEN, NOT_FOUND), (row.id, row.control, code)  # open, or ended for another reason
    if "/nodes/" in path:  # a console or logs socket asks the relay at once (so the denials' silence means something)
        assert heard, (row.id, row.control)
