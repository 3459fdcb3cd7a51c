"""``GET /api/v1/limits``: the signed-in user's limits and use (the numbers a deploy is checked against), a
node's resources, and their courses' running nodes; nobody else's, and nothing for an anonymous client."""
from __future__ import annotations

from django.test import Client

from topology import quotas, services
from topology.models import Assignment, CourseLimits, LabState, SiteLimits, UserLimits

from .test_quotas import document, fresh_node_resources, set_lab  # noqa: F401 (autouse)

API = "/api/v1"


def test_it_needs_a_signed_in_user(db):
    assert Client().get(f"{API}/limits").status_code == 401


def test_it_gives_the_limits_the_use_and_a_nodes_resources(client, alice, bob):
    SiteLimits.objects.update_or_create(pk=1, defaults={"max_running_labs": 3, "max_running_nodes": 60,
                                                        "node_max_cpus": 1.5})
    UserLimits.objects.create(user=alice, max_topologies=5)
    labs = [services.import_topology(alice, document(f"lab{i}")).lab for i in range(3)]
    services.import_topology(bob, document("bobs"))
    set_lab(labs[0], LabState.RUNNING, {"h1": "a", "h2": "b", "h3": "c", "sw": "d"})
    set_lab(labs[1], LabState.DEPLOYING, {"h1": "", "h2": "", "h3": "", "sw": ""})
    response = client.get(f"{API}/limits")
    assert response.status_code == 200
    body = response.json()
    assert body["limits"] == {**quotas.effective(alice), "max_running_labs": 3, "max_running_nodes": 60,
                              "max_topologies": 5}
    assert body["usage"] == {"running_labs": 2, "running_nodes": 8, "topologies": 3}
    assert body["node"]["max"]["cpus"] == 1.5 and set(body["node"]["default"]) == {"cpus", "memory_mb", "pids"}
    assert body["courses"] == []
    assert client.get(f"{API}/limits/").json() == body  # a trailing slash works too


def test_it_shows_each_of_the_users_courses_against_its_limit(client, alice, course, carol):
    assignment = Assignment.objects.create(course=course, title="Switching", template=document("template"))
    CourseLimits.objects.create(course=course, max_running_nodes=30)
    copy = services.import_topology(alice, document("copy"), assignment=assignment)
    set_lab(copy.lab, LabState.RUNNING, {"h1": "a", "h2": "b", "h3": "c", "sw": "d"})
    body = client.get(f"{API}/limits").json()
    assert body["courses"] == [{"id": course.pk, "name": "Networks 101", "max_running_nodes": 30, "running_nodes": 4}]
    teacher = Client()
    teacher.force_login(carol)
    assert teacher.get(f"{API}/limits").json()["usage"] == {"running_labs": 0, "running_nodes": 0, "topologies": 0}


def test_it_is_in_the_openapi_schema(db):
    paths = Client().get(f"{API}/openapi.json").json()["paths"]
    assert set(paths["/api/v1/limits"]) == {"get"}
