"""Assignments through the REST API: writing them (every problem with its path), what students and instructors
see, publishing, Start (once, race-safe, named after the title) and Reset (confirmed, destroying the lab
first), the editor's instructions panel and Markdown preview, and the refusals (404 outside the course,
for a student on a draft or on the instructors' routes; 401 anonymous)."""
from __future__ import annotations

import copy
import dataclasses
import json
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.test import Client
from django.utils import timezone

from tests.classroom import other_instructor
from tests.deployed import make_running
from tests.documents import reference_document
from tests.web import signed_in
from topology import assignments, courses, kinds, services
from topology.models import Assignment, CourseMember, LabState, Topology, UserLimits

API = "/api/v1"
PING = {"node": "c1", "argv": ["ping", "-c1", "-W1", "192.168.11.2"], "expect": "exit0",
        "description": "c1 reaches c2", "points": 2}
SECRET = {"node": "r1", "argv": ["sysctl", "net.ipv4.ip_forward"], "expect": "match",
          "pattern": r"= 1$", "description": "r1 forwards", "points": 3, "hidden": True}


@pytest.fixture(autouse=True)
def _clean(released):
    pass


@pytest.fixture
def dave(db):
    """An instructor of another course: nothing of carol's course exists for him."""
    return other_instructor()


@pytest.fixture
def erin(db, django_user_model, course):
    """A second student of carol's course."""
    user = django_user_model.objects.create_user("erin", "erin@example.org", None)
    CourseMember.objects.create(course=course, user=user, role=CourseMember.Role.STUDENT)
    return user


def send(client, method, url, body=None):
    data = "" if body is None else (body if isinstance(body, (str, bytes)) else json.dumps(body))
    return client.generic(method, url, data, content_type="application/json")


def body(**changes) -> dict:
    data = {"title": "Static routing", "instructions": "# Route it\n\nMake **c1** reach c2.",
            "template": reference_document(), "checks": [PING, SECRET], "due": None, "grading": "best"}
    data.update(changes)
    return data


def paths(response) -> list[str]:
    return [p["path"] for p in response.json()["errors"]]


@pytest.fixture
def assignment(course, carol) -> Assignment:
    return assignments.create(carol, course, body())


@pytest.fixture
def published(assignment) -> Assignment:
    return assignments.publish(assignment)


def snapshot():
    return (list(Assignment.objects.order_by("pk").values()), list(Topology.objects.order_by("pk").values()))


# -- writing --------------------------------------------------------------------------------------------------
def test_an_instructor_creates_a_draft(course, carol):
    response = send(signed_in(carol), "POST", f"{API}/courses/{course.pk}/assignments", body())
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["title"] == "Static routing" and data["role"] == "instructor" and data["published"] is None
    assert data["instructions"].startswith("# Route it") and "<h1>Route it</h1>" in data["instructions_html"]
    assert data["template"] == reference_document()
    assert data["checks"][0]["argv"] == PING["argv"] and data["checks"][0]["timeout"] == 10  # defaults filled
    assert data["checks"][1]["pattern"] == r"= 1$" and data["max_points"] == 5
    assert data["started"] == 0 and data["created_by"] == "carol" and data["topology"] is None
    assert Assignment.objects.get().course == course


def test_every_problem_is_reported_with_its_path_and_nothing_is_saved(course, carol, assignment):
    template = reference_document()
    template["nodes"][0]["name"] = "C 1"
    bad = body(title="static ROUTING", instructions="x" * (64 * 1024 + 1), template=template,
               checks=[{**PING, "node": "zz"}, {**SECRET, "pattern": "("}], due="2026-12-24T18:00:00",
               grading="median", colour="red")
    before = snapshot()
    response = send(signed_in(carol), "POST", f"{API}/courses/{course.pk}/assignments", bad)
    assert response.status_code == 400
    found = paths(response)
    assert {"title", "instructions", "checks[0].node", "checks[1].pattern", "due", "grading", "colour"} <= set(found)
    assert any(p.startswith("template.nodes[0].name") for p in found), found
    messages = {p["path"]: p["message"] for p in response.json()["errors"]}
    assert "already has an assignment titled 'Static routing'" in messages["title"]
    assert "time zone" in messages["due"] and "65537 bytes" in messages["instructions"]
    assert snapshot() == before


@pytest.mark.parametrize("change, path", [
    ({"title": ""}, "title"), ({"title": "t" * 101}, "title"), ({"template": "not a document"}, "template"),
    ({"template": None}, "template"), ({"checks": {"node": "c1"}}, "checks"), ({"due": 5}, "due"),
    ({"due": "next tuesday"}, "due"), ({"instructions": 7}, "instructions"),
    ({"checks": [{**PING, "argv": []}]}, "checks[0].argv"),
])
def test_each_rule(course, carol, change, path):
    response = send(signed_in(carol), "POST", f"{API}/courses/{course.pk}/assignments", body(**change))
    assert response.status_code == 400 and path in paths(response), response.json()
    assert Assignment.objects.count() == 0


def test_a_template_must_be_deployable(course, carol, monkeypatch):
    monkeypatch.setitem(kinds.KINDS, "frr", dataclasses.replace(kinds.KINDS["frr"], deploy_refusal="not here"))
    frr = {"format": "topolab/v1", "name": "with-frr", "nodes": [{"name": "h1"}, {"name": "f1", "kind": "frr"}],
           "links": [{"endpoints": [{"node": "h1", "interface": "eth0", "addresses": ["10.1.0.2/24"]},
                                    {"node": "f1", "interface": "eth0", "addresses": ["10.1.0.1/24"]}]}]}
    response = send(signed_in(carol), "POST", f"{API}/courses/{course.pk}/assignments", body(template=frr, checks=[]))
    assert response.status_code == 400 and paths(response) == ["template.nodes[1].kind"]


def test_a_body_that_is_not_json_or_missing_or_too_big(course, carol):
    client = signed_in(carol)
    url = f"{API}/courses/{course.pk}/assignments"
    assert paths(send(client, "POST", url, "{not json")) == [""]
    assert paths(send(client, "POST", url, "")) == [""]
    assert paths(send(client, "POST", url, "[1, 2]")) == [""]
    response = client.generic("POST", url, b"{}", content_type="application/json",
                              CONTENT_LENGTH=str(10 * 1024 * 1024))
    assert response.status_code == 400 and "limit" in response.json()["errors"][0]["message"]


def test_the_due_date_keeps_its_time_zone(course, carol):
    response = send(signed_in(carol), "POST", f"{API}/courses/{course.pk}/assignments",
                    body(due="2026-12-24T18:00:00+01:00"))
    assert response.status_code == 201
    assert Assignment.objects.get().due == datetime(2026, 12, 24, 17, 0, tzinfo=dt_timezone.utc)


def test_update_changes_only_what_is_sent(carol, assignment):
    client = signed_in(carol)
    response = send(client, "PUT", f"{API}/assignments/{assignment.pk}", {"title": "Routing, again", "grading": "last"})
    assert response.status_code == 200, response.content
    assignment.refresh_from_db()
    assert (assignment.title, assignment.grading, len(assignment.checks)) == ("Routing, again", "last", 2)
    # A new template is checked against the checks kept: r1 gone, the hidden check names a node that is not.
    template = reference_document()
    template["nodes"] = [n for n in template["nodes"] if n["name"] != "r1"]
    template["links"] = []
    response = send(client, "PUT", f"{API}/assignments/{assignment.pk}", {"template": template})
    assert response.status_code == 400 and paths(response) == ["checks[1].node"]
    assignment.refresh_from_db()
    assert assignment.template == reference_document()


def test_two_assignments_may_not_share_a_title(course, carol, assignment):
    other = assignments.create(carol, course, body(title="Second"))
    response = send(signed_in(carol), "PUT", f"{API}/assignments/{other.pk}", {"title": "Static Routing"})
    assert response.status_code == 400 and paths(response) == ["title"]
    assert send(signed_in(carol), "PUT", f"{API}/assignments/{other.pk}", {"title": "Second"}).status_code == 200


def test_delete_keeps_the_copies_detached(carol, alice, published):
    copy_, _ = assignments.start(alice, published.pk)
    response = send(signed_in(carol), "DELETE", f"{API}/assignments/{published.pk}")
    assert response.status_code == 200 and response.json()["copies_kept"] == 1
    assert Assignment.objects.count() == 0
    copy_.refresh_from_db()
    assert copy_.assignment is None and copy_.owner == alice


# -- what each one sees ---------------------------------------------------------------------------------------
def test_a_student_sees_descriptions_and_points_only(alice, published):
    data = send(signed_in(alice), "GET", f"{API}/assignments/{published.pk}").json()
    assert data["role"] == "student"
    assert data["checks"] == [{"index": 0, "description": "c1 reaches c2", "points": 2}]
    assert data["hidden_checks"] == 1 and data["max_points"] == 5
    text = json.dumps(data)
    for secret in ("ping", "192.168.11.2", "sysctl", "r1 forwards", "= 1$", "argv", "pattern", '"node"'):
        assert secret not in text, secret
    assert data["template"] is None and data["instructions"] is None and data["started"] is None
    assert "<strong>c1</strong>" in data["instructions_html"]


def test_hidden_checks_show_after_the_due_date(alice, published):
    Assignment.objects.filter(pk=published.pk).update(due=timezone.now() - timedelta(minutes=1))
    data = send(signed_in(alice), "GET", f"{API}/assignments/{published.pk}").json()
    assert [c["description"] for c in data["checks"]] == ["c1 reaches c2", "r1 forwards"]
    assert data["hidden_checks"] == 0 and "sysctl" not in json.dumps(data)
    Assignment.objects.filter(pk=published.pk).update(due=timezone.now() + timedelta(days=1))
    assert send(signed_in(alice), "GET", f"{API}/assignments/{published.pk}").json()["hidden_checks"] == 1


def test_lists_drafts_for_instructors_published_for_students(course, carol, alice, assignment):
    draft = assignments.create(carol, course, body(title="Draft"))
    assignments.publish(assignment)
    assignments.start(alice, assignment.pk)
    as_carol = send(signed_in(carol), "GET", f"{API}/courses/{course.pk}/assignments").json()
    assert [(a["title"], a["started"]) for a in as_carol] == [("Static routing", 1), ("Draft", 0)]
    as_alice = send(signed_in(alice), "GET", f"{API}/courses/{course.pk}/assignments/").json()
    assert [a["id"] for a in as_alice] == [assignment.pk] and as_alice[0]["started"] is None
    assert as_alice[0]["topology"]["name"] == "static-routing" and as_alice[0]["topology"]["lab"]["state"] == "stopped"
    assert send(signed_in(alice), "GET", f"{API}/assignments/{draft.pk}").status_code == 404


def test_unpublishing_keeps_the_copies_and_hides_the_assignment(carol, alice, published):
    copy_, _ = assignments.start(alice, published.pk)
    response = send(signed_in(carol), "POST", f"{API}/assignments/{published.pk}/unpublish")
    assert response.status_code == 200 and response.json()["copies"] == 1
    assert "kept" in response.json()["detail"] and response.json()["published"] is None
    assert Topology.objects.filter(pk=copy_.pk, assignment=published).exists()
    assert send(signed_in(alice), "GET", f"{API}/assignments/{published.pk}").status_code == 404
    assert send(signed_in(alice), "POST", f"{API}/assignments/{published.pk}/start").status_code == 404
    again = send(signed_in(carol), "POST", f"{API}/assignments/{published.pk}/publish")
    assert again.status_code == 200 and again.json()["published"]


def test_publishing_twice_keeps_the_first_date(carol, assignment):
    first = send(signed_in(carol), "POST", f"{API}/assignments/{assignment.pk}/publish").json()["published"]
    assert send(signed_in(carol), "POST", f"{API}/assignments/{assignment.pk}/publish").json()["published"] == first


# -- start ----------------------------------------------------------------------------------------------------
def test_start_makes_one_copy_named_after_the_title(alice, published):
    client = signed_in(alice)
    first = send(client, "POST", f"{API}/assignments/{published.pk}/start")
    assert first.status_code == 201 and first.json()["created"] is True
    again = send(client, "POST", f"{API}/assignments/{published.pk}/start/")
    assert again.status_code == 200 and again.json() == {**first.json(), "created": False}
    topology = Topology.objects.get(owner=alice)
    assert topology.name == "static-routing" and topology.assignment == published
    assert topology.document == {**reference_document(), "name": "static-routing"}
    assert topology.lab.state == LabState.STOPPED


def test_start_picks_a_free_name(alice, course, carol):
    services.import_topology(alice, {**reference_document(), "name": "static-routing"})
    services.import_topology(alice, {**reference_document(), "name": "static-routing-2"})
    a = assignments.publish(assignments.create(carol, course, body()))
    topology, created = assignments.start(alice, a.pk)
    assert created and topology.name == "static-routing-3"


def test_a_long_or_odd_title_makes_a_valid_name(alice, course, carol):
    a = assignments.publish(assignments.create(carol, course, body(title="Über_Routing: " + "very long " * 8)))
    topology, _ = assignments.start(alice, a.pk)
    assert topology.name == "uber-routing-very-long-very-long-very-lo" and len(topology.name) == 40
    b = assignments.publish(assignments.create(carol, course, body(title="Über Routing: " + "very long " * 8 + "(2)")))
    topology, _ = assignments.start(alice, b.pk)
    assert topology.name == "uber-routing-very-long-very-long-very-2" and len(topology.name) <= 40
    c = assignments.publish(assignments.create(carol, course, body(title="!!! ???")))
    assert assignments.start(alice, c.pk)[0].name == "assignment"


def test_a_start_that_loses_a_race_answers_the_winners_copy(alice, published, monkeypatch):
    winner, _ = assignments.start(alice, published.pk)
    real = assignments.copy_of
    calls = []

    def not_yet(user, assignment):  # the first look happens before the other start commits
        calls.append(1)
        return None if len(calls) == 1 else real(user, assignment)

    monkeypatch.setattr(assignments, "copy_of", not_yet)
    topology, created = assignments.start(alice, published.pk)
    assert (topology.pk, created) == (winner.pk, False) and len(calls) == 2
    assert Topology.objects.filter(owner=alice).count() == 1


def test_who_may_start(course, carol, alice, bob, dave, assignment):
    # A draft: not for students; its instructor gets a copy of their own to try the checks on.
    assert send(signed_in(alice), "POST", f"{API}/assignments/{assignment.pk}/start").status_code == 404
    response = send(signed_in(carol), "POST", f"{API}/assignments/{assignment.pk}/start")
    assert response.status_code == 201
    assert assignments.started_count(assignment) == 0  # an instructor's copy is not a student's
    assignments.publish(assignment)
    for outsider in (bob, dave):
        assert send(signed_in(outsider), "POST", f"{API}/assignments/{assignment.pk}/start").status_code == 404
        assert not Topology.objects.filter(owner=outsider).exists()
    assert send(Client(), "POST", f"{API}/assignments/{assignment.pk}/start").status_code == 401


def test_start_is_refused_past_the_topology_limit(alice, published):
    UserLimits.objects.create(user=alice, max_topologies=1)
    services.import_topology(alice, reference_document())
    response = send(signed_in(alice), "POST", f"{API}/assignments/{published.pk}/start")
    assert response.status_code == 429, response.content
    assert not Topology.objects.filter(assignment=published).exists()


# -- reset ----------------------------------------------------------------------------------------------------
def edited_copy(user, assignment) -> Topology:
    topology, _ = assignments.start(user, assignment.pk)
    document = copy.deepcopy(topology.document)
    document["description"] = "my own work"
    return services.update_topology(topology, document)


def test_reset_asks_for_confirmation_and_changes_nothing(alice, published):
    topology = edited_copy(alice, published)
    make_running(topology)
    for sent in (None, {}, {"confirm": False}):
        response = send(signed_in(alice), "POST", f"{API}/assignments/{published.pk}/reset", sent)
        assert response.status_code == 400
        [problem] = response.json()["errors"]
        assert problem["path"] == "confirm"
        assert "your changes are lost" in problem["message"] and "(running) is destroyed" in problem["message"]
    topology.refresh_from_db()
    assert topology.document["description"] == "my own work" and topology.lab.state == LabState.RUNNING
    for bad, path in (({"confirm": "yes"}, "confirm"), ({"sure": True}, "sure"), ([True], "")):
        assert paths(send(signed_in(alice), "POST", f"{API}/assignments/{published.pk}/reset", bad)) == [path]


def test_reset_of_a_stopped_lab_gives_the_template_back_keeping_the_name(alice, published, broker):
    topology = edited_copy(alice, published)
    services.update_topology(topology, {**topology.document, "name": "mine"})
    response = send(signed_in(alice), "POST", f"{API}/assignments/{published.pk}/reset", {"confirm": True})
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["destroy"] == "not needed" and data["operation"] is None and data["reset"] is True
    assert data["topology"] == {"id": topology.pk, "name": "mine"}
    topology.refresh_from_db()
    assert topology.document == {**reference_document(), "name": "mine"} and broker == []


def test_reset_of_a_running_lab_queues_its_destroy(alice, published, broker, django_capture_on_commit_callbacks):
    topology = edited_copy(alice, published)
    lab = make_running(topology)
    with django_capture_on_commit_callbacks(execute=True):
        response = send(signed_in(alice), "POST", f"{API}/assignments/{published.pk}/reset", {"confirm": True})
    assert response.status_code == 200, response.content
    data = response.json()
    lab.refresh_from_db()
    assert data["destroy"] == "queued" and data["operation"] == lab.operation and lab.state == LabState.DESTROYING
    assert broker == [("destroy", {"args": [lab.pk, lab.operation], "queue": lab.queue})]
    topology.refresh_from_db()
    assert topology.document == {**reference_document(), "name": "static-routing"}


def test_reset_while_the_lab_deploys_is_409_and_changes_nothing(alice, published, broker):
    topology = edited_copy(alice, published)
    services.request_deploy(topology.lab)
    response = send(signed_in(alice), "POST", f"{API}/assignments/{published.pk}/reset", {"confirm": True})
    assert response.status_code == 409 and "try again" in response.json()["detail"]
    topology.refresh_from_db()
    assert topology.document["description"] == "my own work" and topology.lab.state == LabState.DEPLOYING


def test_reset_of_a_stopped_lab_holds_its_lease(alice, published, broker, monkeypatch):
    """A deploy that takes the lab's lease between Reset's look at the lab and its change (another tab) makes
    Reset refuse, the document unchanged; and Reset gives the lease back when it is done."""
    from topology import assignments, leases

    topology = edited_copy(alice, published)
    lab = topology.lab
    real = assignments._reset_stopped

    def deploy_sneaks_in(*args):
        assert leases.acquire(lab.pk, "another-tab")
        try:
            return real(*args)
        finally:
            leases.release(lab.pk, "another-tab")

    monkeypatch.setattr(assignments, "_reset_stopped", deploy_sneaks_in)
    response = send(signed_in(alice), "POST", f"{API}/assignments/{published.pk}/reset", {"confirm": True})
    assert response.status_code == 409 and "busy" in response.json()["detail"]
    topology.refresh_from_db()
    assert topology.document["description"] == "my own work"
    monkeypatch.setattr(assignments, "_reset_stopped", real)
    assert send(signed_in(alice), "POST", f"{API}/assignments/{published.pk}/reset", {"confirm": True}).status_code == 200
    assert not leases.is_held(lab.pk)


def test_reset_without_a_copy_or_by_an_outsider_is_404(alice, bob, dave, published):
    assert send(signed_in(alice), "POST", f"{API}/assignments/{published.pk}/reset", {"confirm": True}).status_code == 404
    edited_copy(alice, published)
    for outsider in (bob, dave):
        response = send(signed_in(outsider), "POST", f"{API}/assignments/{published.pk}/reset", {"confirm": True})
        assert response.status_code == 404
    assert Topology.objects.get(owner=alice).document["description"] == "my own work"


# -- the instructions panel -----------------------------------------------------------------------------------
def test_the_copy_shows_its_assignment_to_its_owner_and_supervisors(carol, alice, bob, dave, erin, published,
                                                                     topology):
    copy_, _ = assignments.start(alice, published.pk)
    mine = send(signed_in(alice), "GET", f"{API}/topologies/{copy_.pk}/assignment").json()
    assert mine["role"] == "student" and mine["topology"]["id"] == copy_.pk and mine["hidden_checks"] == 1
    assert "argv" not in json.dumps(mine)
    supervised = send(signed_in(carol), "GET", f"{API}/topologies/{copy_.pk}/assignment").json()
    assert supervised["role"] == "instructor" and supervised["topology"]["id"] == copy_.pk
    assert supervised["checks"][1]["argv"] == SECRET["argv"]
    for outsider in (bob, dave, erin):
        assert send(signed_in(outsider), "GET", f"{API}/topologies/{copy_.pk}/assignment").status_code == 404
    # A topology of her own that is no copy; carol supervises nothing of it.
    assert send(signed_in(alice), "GET", f"{API}/topologies/{topology.pk}/assignment").status_code == 404
    assert send(signed_in(carol), "GET", f"{API}/topologies/{topology.pk}/assignment").status_code == 404
    assignments.unpublish(published)
    assert send(signed_in(alice), "GET", f"{API}/topologies/{copy_.pk}/assignment").status_code == 404
    assert send(signed_in(carol), "GET", f"{API}/topologies/{copy_.pk}/assignment").status_code == 200


# -- isolation ------------------------------------------------------------------------------------------------
def test_outsiders_and_students_are_refused_every_instructor_route(course, carol, alice, bob, dave, published,
                                                                     assignment):
    draft = assignments.create(carol, course, body(title="Draft"))
    routes = [("POST", f"/courses/{course.pk}/assignments", body(title="New")),
              ("PUT", f"/assignments/{published.pk}", {"title": "Hijacked"}),
              ("DELETE", f"/assignments/{published.pk}", None),
              ("POST", f"/assignments/{published.pk}/unpublish", None),
              ("POST", f"/assignments/{draft.pk}/publish", None),
              ("GET", f"/assignments/{draft.pk}", None)]
    outsider_only = [("GET", f"/courses/{course.pk}/assignments", None), ("GET", f"/assignments/{published.pk}", None),
                     ("POST", f"/assignments/{published.pk}/start", None)]
    before = snapshot()
    for user in (alice, bob, dave):
        for method, path, sent in routes + (outsider_only if user != alice else []):
            response = send(signed_in(user), method, API + path, sent)
            assert response.status_code == 404, (user.username, method, path, response.status_code)
    for method, path, sent in routes + outsider_only:
        assert send(Client(), method, API + path, sent).status_code == 401, (method, path)
    assert snapshot() == before


def test_an_unknown_assignment_is_404(carol):
    assert send(signed_in(carol), "GET", f"{API}/assignments/999999").status_code == 404
    assert send(signed_in(carol), "GET", f"{API}/courses/999999/assignments").status_code == 404


# -- Markdown preview -----------------------------------------------------------------------------------------
def test_the_markdown_preview(carol, alice):
    response = send(signed_in(carol), "POST", f"{API}/markdown", {"text": "**hi** <script>x</script> [a](javascript:x)"})
    assert response.status_code == 200
    html = response.json()["html"]
    assert "<strong>hi</strong>" in html and "&lt;script&gt;" in html and "<a " not in html
    too_long = send(signed_in(carol), "POST", f"{API}/markdown", {"text": "a" * (64 * 1024 + 1)})
    assert too_long.status_code == 400 and paths(too_long) == ["text"]
    assert paths(send(signed_in(carol), "POST", f"{API}/markdown", {"txt": "a"})) == ["text"]
    assert paths(send(signed_in(carol), "POST", f"{API}/markdown", {"text": "a", "x": 1})) == ["x"]
    huge = signed_in(carol).generic("POST", f"{API}/markdown", b"{}", content_type="application/json",
                                    CONTENT_LENGTH=str(1024 * 1024))
    assert huge.status_code == 400
    assert send(Client(), "POST", f"{API}/markdown", {"text": "a"}).status_code == 401
    # a student (no course of their own to teach) gets no preview: rendering costs CPU
    refused = send(signed_in(alice), "POST", f"{API}/markdown", {"text": "a"})
    assert refused.status_code == 403 and refused.json() == {"detail": "the Markdown preview is for instructors"}


def test_the_schema_documents_the_routes(client):
    found = client.get(f"{API}/openapi.json").json()["paths"]
    expected = {"/courses/{course_id}/assignments": {"get", "post"}, "/assignments/{assignment_id}": {"get", "put", "delete"},
                "/assignments/{assignment_id}/publish": {"post"}, "/assignments/{assignment_id}/unpublish": {"post"},
                "/assignments/{assignment_id}/start": {"post"}, "/assignments/{assignment_id}/reset": {"post"},
                "/topologies/{topology_id}/assignment": {"get"}, "/markdown": {"post"}}
    for path, methods in expected.items():
        assert methods <= set(found[API + path]), path
    assert "requestBody" in found[f"{API}/courses/{{course_id}}/assignments"]["post"]


def test_the_markdown_preview_is_rate_limited_per_user(carol, course, django_user_model, monkeypatch):
    from django.core.cache import cache

    from topology.api import assignments as api

    cache.clear()
    monkeypatch.setattr(api._PreviewThrottle, "timer", lambda self: 1000.0)
    client = signed_in(carol)
    other = django_user_model.objects.create_user("olga")
    courses.add_instructor(course, "olga")
    answers = [send(client, "POST", f"{API}/markdown", {"text": "x"}).status_code for _ in range(61)]
    assert answers == [200] * 60 + [429]
    assert send(signed_in(other), "POST", f"{API}/markdown", {"text": "x"}).status_code == 200
    cache.clear()
