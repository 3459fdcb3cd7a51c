"""The course routes of the REST API: every answer and every refusal, and the isolation matrix (a stranger,
a student of the course on the instructors' side of it, another course's instructor, the anonymous:
each route refused, 404 or 401, and nothing changed)."""
from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.classroom import make_instructor
from tests.documents import reference_document
from tests.web import post, signed_in
from topology import courses, services
from topology.models import ApiToken, Course, CourseMember, Topology, UserFlags

User = get_user_model()
API = "/api/v1"


@pytest.fixture(autouse=True)
def _fast(fast_passwords, released):
    pass


def upload(client, course_id, text: bytes | str, name="students.csv"):
    data = text.encode() if isinstance(text, str) else text
    return client.post(f"{API}/courses/{course_id}/students/csv", {"file": SimpleUploadedFile(name, data)})


# -- listing, creating, reading ----------------------------------------------------------------------------------
def test_list_and_get_as_instructor_and_student(course, carol, alice, bob):
    [mine] = signed_in(carol).get(f"{API}/courses").json()
    assert mine["name"] == "Networks 101" and mine["role"] == "instructor" and mine["instructors"] == ["Carol Teacher"]
    [hers] = signed_in(alice).get(f"{API}/courses/").json()
    assert hers["role"] == "student" and hers["joined"]
    assert signed_in(bob).get(f"{API}/courses").json() == []

    full = signed_in(carol).get(f"{API}/courses/{course.pk}").json()
    assert full["join_code"] == course.join_code
    assert [(m["username"], m["role"]) for m in full["members"]] == [("carol", "instructor"), ("alice", "student")]
    student_view = signed_in(alice).get(f"{API}/courses/{course.pk}").json()
    assert student_view["join_code"] is None and student_view["members"] is None
    assert student_view["instructors"] == ["Carol Teacher"] and student_view["role"] == "student"


def test_create_a_course(carol, alice):
    response = post(signed_in(carol), f"{API}/courses", {"name": "Routing"})
    assert response.status_code == 201
    assert response.json()["slug"] == "routing" and response.json()["members"][0]["username"] == "carol"
    response = post(signed_in(alice), f"{API}/courses", {"name": "Mine"})
    assert response.status_code == 403
    assert response.json()["detail"].startswith("only instructors may create courses")
    response = post(signed_in(carol), f"{API}/courses", {"name": "  "})
    assert response.status_code == 400 and response.json()["errors"] == [{"path": "name", "message": "required"}]
    response = post(signed_in(carol), f"{API}/courses", {"name": "x" * 101})
    assert response.status_code == 400
    assert signed_in(carol).post(f"{API}/courses", "{", content_type="application/json").status_code in (400, 422)
    assert Course.objects.count() == 1


def test_a_superuser_sees_every_course(course, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.org", None)
    assert signed_in(admin).get(f"{API}/courses/{course.pk}").json()["members"]


# -- enrolment ------------------------------------------------------------------------------------------------
def test_enrol_one(course, carol, bob):
    c = signed_in(carol)
    response = post(c, f"{API}/courses/{course.pk}/students", {"username": "bob"})
    assert response.status_code == 201 and "bob" in [m["username"] for m in response.json()["members"]]
    response = post(c, f"{API}/courses/{course.pk}/students", {"username": "bob"})
    assert response.status_code == 409 and response.json() == {"detail": "'bob' is already in this course (as student)"}
    response = post(c, f"{API}/courses/{course.pk}/students", {"username": "nobody"})
    assert response.status_code == 400
    assert response.json()["errors"] == [{"path": "username", "message": "no user is named 'nobody'"}]


def test_enrol_from_csv(course, carol, bob):
    response = upload(signed_in(carol), course.pk, "\ufeffusername,name,email\nada,Ada Lovelace,ada@example.org\n"
                                                    "bad name,X,\nbob,Bob,\nalice,Alice,\n")
    assert response.status_code == 200
    answer = response.json()
    [ada] = answer["created"]
    assert ada["line"] == 2 and ada["username"] == "ada" and len(ada["password"]) == 16
    assert answer["enrolled"] == [{"line": 4, "username": "bob", "note": "existing account: enrolled, password unchanged"}]
    assert [p["line"] for p in answer["problems"]] == [3, 5]
    assert response["Cache-Control"] == "no-store"
    # The password is in that answer only: not in the roster, not stored in clear.
    roster = signed_in(carol).get(f"{API}/courses/{course.pk}").content.decode()
    assert ada["password"] not in roster
    user = User.objects.get(username="ada")
    assert ada["password"] not in user.password and user.check_password(ada["password"])
    # The new student signs in with it and must change it first.
    student = Client()
    assert student.login(username="ada", password=ada["password"])
    assert student.get(f"{API}/courses").status_code == 403
    assert student.get("/courses/")["Location"] == "/password/change/"


def test_enrol_csv_refusals(course, carol):
    c = signed_in(carol)
    response = c.post(f"{API}/courses/{course.pk}/students/csv", {})
    assert response.status_code == 400
    assert response.json()["errors"] == [{"path": "", "message": "send the CSV as a multipart/form-data field named 'file'"}]
    response = upload(c, course.pk, "ada,Ada,\n".encode("utf-16"))
    assert response.status_code == 400 and "not UTF-8 text" in response.json()["errors"][0]["message"]
    response = upload(c, course.pk, b"a" * (256 * 1024 + 1))
    assert response.status_code == 400 and "the limit is 262144" in response.json()["errors"][0]["message"]
    response = upload(c, course.pk, "".join(f"u{i},U,\n" for i in range(101)))
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "line 101: too many rows; at most 100 students per file"
    assert not User.objects.filter(username__startswith="u").exists()


def test_join_by_code_and_regenerate(course, carol, bob, alice):
    response = post(signed_in(bob), f"{API}/courses/join", {"code": "NOPE-NOPE-NOPE-NOPE"})
    assert response.status_code == 404 and response.json()["detail"].startswith("no course has this code")
    old = course.join_code
    response = post(signed_in(bob), f"{API}/courses/join/", {"code": old.lower()})
    assert response.status_code == 201 and response.json()["joined"] is True
    assert response.json()["course"]["name"] == "Networks 101"
    assert post(signed_in(bob), f"{API}/courses/join", {"code": old}).status_code == 200
    assert post(signed_in(carol), f"{API}/courses/join", {"code": old}).status_code == 409
    response = post(signed_in(carol), f"{API}/courses/{course.pk}/code")
    assert response.status_code == 200 and response.json()["join_code"] != old
    dave = User.objects.create_user("dave")
    assert post(signed_in(dave), f"{API}/courses/join", {"code": old}).status_code == 404
    assert post(signed_in(dave), f"{API}/courses/join", {"code": response.json()["join_code"]}).status_code == 201


# -- removal --------------------------------------------------------------------------------------------------
def test_remove_a_student(course, carol, alice):
    services.import_topology(alice, reference_document())
    c = signed_in(carol)
    response = post(c, f"{API}/courses/{course.pk}/students/alice/remove", {"mode": "shred"})
    assert response.status_code == 400
    response = post(c, f"{API}/courses/{course.pk}/students/alice/remove", {"mode": "keep"})
    assert response.status_code == 200 and response.json()["removed"] is True
    assert Topology.objects.filter(owner=alice).count() == 1
    response = post(c, f"{API}/courses/{course.pk}/students/alice/remove", {"mode": "keep"})
    assert response.status_code == 404 and response.json() == {"detail": "no such student in this course"}


def test_remove_deleting_work_reports_what_is_left(course, carol, alice):
    from topology.models import Assignment, Lab, LabState

    t = services.import_topology(alice, reference_document())
    assignment = Assignment.objects.create(course=course, title="first lab", template=reference_document())
    Topology.objects.filter(pk=t.pk).update(assignment=assignment)
    Lab.objects.filter(topology=t).update(state=LabState.DEPLOYING)
    response = post(signed_in(carol), f"{API}/courses/{course.pk}/students/alice/remove", {"mode": "delete"})
    assert response.status_code == 409
    assert response.json()["removed"] is False and response.json()["left"][0]["name"] == t.name
    assert CourseMember.objects.filter(course=course, user=alice).exists()
    Lab.objects.filter(topology=t).update(state=LabState.STOPPED)
    response = post(signed_in(carol), f"{API}/courses/{course.pk}/students/alice/remove", {"mode": "delete"})
    assert response.status_code == 200 and response.json()["deleted"] == [t.name]


def test_co_instructors_from_the_api(course, carol, alice, bob):
    c = signed_in(carol)
    response = post(c, f"{API}/courses/{course.pk}/instructors", {"username": "bob"})
    assert response.status_code == 201
    assert {m["username"]: m["role"] for m in response.json()["members"]}["bob"] == "instructor"
    assert post(c, f"{API}/courses/{course.pk}/instructors", {"username": "bob"}).status_code == 409
    response = post(c, f"{API}/courses/{course.pk}/instructors", {"username": "ghost"})
    assert response.status_code == 400 and response.json()["errors"][0]["path"] == "username"
    # a student of the course may not add one; nor may bob in a course he does not teach
    assert post(signed_in(alice), f"{API}/courses/{course.pk}/instructors", {"username": "alice"}).status_code == 404
    response = post(signed_in(bob), f"{API}/courses/{course.pk}/instructors/carol/remove")
    assert response.status_code == 200  # bob teaches it now: he may take carol off
    response = post(signed_in(bob), f"{API}/courses/{course.pk}/instructors/bob/remove")
    assert response.status_code == 409 and "last instructor" in response.json()["detail"]
    assert post(c, f"{API}/courses/{course.pk}/instructors/bob/remove").status_code == 404  # carol no longer teaches


def test_a_flagged_users_token_is_refused_on_course_routes(alice):
    UserFlags.objects.create(user=alice, must_change_password=True)
    _, secret = ApiToken.issue(alice, "s")
    response = Client().get(f"{API}/courses", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 403


def test_the_schema_documents_the_routes(client):
    paths = client.get(f"{API}/openapi.json").json()["paths"]
    for path in ("/api/v1/courses", "/api/v1/courses/{course_id}", "/api/v1/courses/join",
                 "/api/v1/courses/{course_id}/students", "/api/v1/courses/{course_id}/students/csv",
                 "/api/v1/courses/{course_id}/code", "/api/v1/courses/{course_id}/students/{username}/remove"):
        assert path in paths, path
    csv_route = paths["/api/v1/courses/{course_id}/students/csv"]["post"]
    assert "multipart/form-data" in csv_route["requestBody"]["content"]
    assert "multipart/form-data" in csv_route["summary"]


# -- isolation ------------------------------------------------------------------------------------------------
def snapshot():
    return (list(Course.objects.order_by("pk").values()), list(CourseMember.objects.order_by("pk").values()),
            sorted(User.objects.values_list("username", "password")), list(UserFlags.objects.values()),
            sorted(Topology.objects.values_list("pk", "owner_id")))


def attempts(course_id: int, student: str):
    """Every course route a caller may try against one course (and one of its students)."""
    c = f"{API}/courses/{course_id}"
    return [
        ("get", f"{c}", None),
        ("post", f"{c}/students", {"username": "zed"}),
        ("csv", f"{c}/students/csv", None),
        ("post", f"{c}/code", None),
        ("post", f"{c}/students/{student}/remove", {"mode": "keep"}),
        ("post", f"{c}/students/{student}/remove", {"mode": "delete"}),
    ]


def attempt(client, kind, url, body):
    if kind == "get":
        return client.get(url)
    if kind == "csv":
        return client.post(url, {"file": SimpleUploadedFile("x.csv", b"newkid,New Kid,\n")})
    return post(client, url, body)


@pytest.fixture
def world(course, carol, alice, bob):
    """Carol teaches Networks 101 (alice and zed are its students); dave teaches Dave's course (bob studies it)."""
    dave = make_instructor(User.objects.create_user("dave"))
    zed = User.objects.create_user("zed")
    CourseMember.objects.create(course=course, user=zed, role="student")
    daves = courses.create_course(dave, "Dave's course")
    CourseMember.objects.create(course=daves, user=bob, role="student")
    services.import_topology(zed, reference_document())
    return {"course": course, "daves": daves, "alice": alice, "bob": bob, "dave": dave, "zed": zed}


@pytest.mark.parametrize("who", ["student-of-another-course", "student-on-another-student", "other-instructor"])
def test_isolation_every_route_is_404_and_nothing_changes(world, who):
    course = world["course"]
    caller = {"student-of-another-course": world["bob"], "student-on-another-student": world["alice"],
              "other-instructor": world["dave"]}[who]
    before = snapshot()
    for kind, url, body in attempts(course.pk, "zed"):
        if who == "student-on-another-student" and kind == "get":
            continue  # alice is in the course: she sees it, without its roster (tested above)
        response = attempt(signed_in(caller), kind, url, body)
        assert response.status_code == 404, (who, kind, url, response.status_code, response.content)
        assert response.json() == {"detail": "no such course"}
    assert snapshot() == before


def test_isolation_of_the_student_view(world):
    view = signed_in(world["alice"]).get(f"{API}/courses/{world['course'].pk}").json()
    assert view["members"] is None and view["join_code"] is None
    assert "zed" not in json.dumps(view)
    assert signed_in(world["alice"]).get(f"{API}/courses/{world['daves'].pk}").status_code == 404
    assert [c["name"] for c in signed_in(world["alice"]).get(f"{API}/courses").json()] == ["Networks 101"]
    assert signed_in(world["bob"]).get(f"{API}/courses/999999").status_code == 404


def test_isolation_the_anonymous_get_401_everywhere(world):
    before = snapshot()
    anonymous = Client()
    for kind, url, body in attempts(world["course"].pk, "zed") + [("get", f"{API}/courses", None),
                                                                 ("post", f"{API}/courses", {"name": "x"}),
                                                                 ("post", f"{API}/courses/join",
                                                                  {"code": world["course"].join_code})]:
        response = attempt(anonymous, kind, url, body)
        assert response.status_code == 401, (kind, url, response.status_code)
    assert anonymous.get(f"/courses/{world['course'].pk}/").status_code == 302
    assert snapshot() == before


def test_isolation_pages(world):
    for user in (world["bob"], world["dave"]):
        assert signed_in(user).get(f"/courses/{world['course'].pk}/").status_code == 404
    page = signed_in(world["alice"]).get(f"/courses/{world['course'].pk}/").content.decode()
    assert "zed" not in page and world["course"].join_code not in page
