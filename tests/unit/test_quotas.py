"""Limits per user, per course and per node (topology/quotas.py, topology/limits.py): what they are, what
counts against them, and that each refuses with a message naming the limit, the use and the request while
nothing is created, written or queued. The races are in test_quotas_race.py, the API in test_limits_api.py.
"""
from __future__ import annotations

import pytest
from django.test import Client

from tests.documents import reference_document
from topology import leases, limits, quotas, services
from topology.models import (
    Assignment,
    CheckRun,
    CourseLimits,
    CourseMember,
    Lab,
    LabEvent,
    LabNode,
    LabState,
    SiteLimits,
    Topology,
    UserLimits,
)

API = "/api/v1"


@pytest.fixture(autouse=True)
def fresh_node_resources():
    """Tests here change the site's row; the cached node resources must not outlive the rolled-back row."""
    limits.forget()
    yield
    limits.forget()


def document(name: str, nodes: int = 3) -> dict:
    """A deployable lab of ``nodes`` hosts on one switch (``nodes`` of 3 is the reference lab's size)."""
    hosts = [{"name": f"h{i}", "kind": "host"} for i in range(1, nodes + 1)]
    links = [{"endpoints": [{"node": f"h{i}", "interface": "eth0", "addresses": [f"10.0.0.{i}/24"]},
                            {"node": "sw", "interface": f"p{i}"}]} for i in range(1, nodes + 1)]
    return {"format": "topolab/v1", "name": name, "nodes": hosts + [{"name": "sw", "kind": "switch"}], "links": links}


def set_lab(lab: Lab, state: str, containers: dict[str, str] | None = None) -> None:
    """Put ``lab`` in ``state`` with node rows; ``containers``: {node: container ID} (empty ID: none)."""
    Lab.objects.filter(pk=lab.pk).update(state=state)
    for name, container in (containers or {}).items():
        LabNode.objects.update_or_create(lab=lab, name=name, defaults={"container_id": container})


def snapshot(lab: Lab) -> tuple:
    """What a refused deploy must leave as it was: the lab's row, its nodes and events, its lease."""
    lab.refresh_from_db()
    return (lab.state, lab.operation, lab.reason, sorted(lab.nodes.values_list("name", "container_id")),
            LabEvent.objects.filter(lab=lab).count(), leases.holder(lab.pk))


# -- the limits: site defaults and overrides ----------------------------------------------------------------
def test_a_users_limits_are_the_sites_defaults_without_an_override(alice):
    site = quotas.site_limits()
    assert quotas.effective(alice) == {"max_running_labs": site.max_running_labs,
                                       "max_running_nodes": site.max_running_nodes,
                                       "max_nodes_per_topology": site.max_nodes_per_topology,
                                       "max_topologies": site.max_topologies}
    SiteLimits.objects.filter(pk=1).update(max_running_labs=7, max_topologies=9)
    assert quotas.effective(alice)["max_running_labs"] == 7 and quotas.effective(alice)["max_topologies"] == 9


def test_a_users_override_wins_field_by_field_and_only_for_them(alice, bob):
    SiteLimits.objects.filter(pk=quotas.site_limits().pk).update(max_running_labs=3, max_running_nodes=60)
    UserLimits.objects.create(user=alice, max_running_labs=10, max_nodes_per_topology=0)
    mine = quotas.effective(alice)
    assert mine["max_running_labs"] == 10 and mine["max_nodes_per_topology"] == 0  # 0 is a limit, not "unset"
    assert mine["max_running_nodes"] == 60  # empty: the site's default
    assert quotas.effective(bob)["max_running_labs"] == 3


def test_superusers_are_not_exempt(django_user_model):
    root = django_user_model.objects.create_superuser("root", "root@example.org", None)
    UserLimits.objects.create(user=root, max_topologies=0)
    with pytest.raises(quotas.LimitReached):
        services.import_topology(root, reference_document())


def test_a_courses_limit_is_its_override_else_the_sites(course):
    SiteLimits.objects.filter(pk=quotas.site_limits().pk).update(course_max_running_nodes=500)
    assert quotas.course_limit(course) == {"max_running_nodes": 500}
    CourseLimits.objects.create(course=course, max_running_nodes=12)
    assert quotas.course_limit(course) == {"max_running_nodes": 12}
    CourseLimits.objects.filter(course=course).update(max_running_nodes=None)
    assert quotas.course_limit(course) == {"max_running_nodes": 500}


def test_a_new_site_row_starts_from_the_settings_node_resources(db, settings):
    settings.TOPOLAB_DEFAULT_RESOURCES = {"cpus": 0.5, "memory_mb": 128, "pids": 100}
    settings.TOPOLAB_MAX_RESOURCES = {"cpus": 1.5, "memory_mb": 1024, "pids": 2000}
    assert not SiteLimits.objects.exists()
    # No row yet: the settings are what both sides use.
    assert limits.node_resources() == {"default": {"cpus": 0.5, "memory_mb": 128, "pids": 100},
                                       "max": {"cpus": 1.5, "memory_mb": 1024, "pids": 2000}}
    row = quotas.site_limits()
    assert (row.node_default_cpus, row.node_default_memory_mb, row.node_default_pids) == (0.5, 128, 100)
    assert (row.node_max_cpus, row.node_max_memory_mb, row.node_max_pids) == (1.5, 1024, 2000)


# -- what counts ---------------------------------------------------------------------------------------------
def test_usage_counts_active_labs_and_labs_holding_containers(alice, bob):
    labs = [services.import_topology(alice, document(f"t{i}")).lab for i in range(6)]
    services.import_topology(bob, document("bobs"))
    set_lab(labs[0], LabState.RUNNING, {"h1": "c", "h2": "c", "h3": "c", "sw": "c"})
    set_lab(labs[1], LabState.DEPLOYING, {"h1": "", "h2": "", "h3": "", "sw": ""})  # pending nodes count
    set_lab(labs[2], LabState.DEGRADED, {"h1": "", "h2": "c", "h3": "c", "sw": "c"})  # an exited node counts
    set_lab(labs[3], LabState.FAILED, {"h1": "c", "h2": "", "h3": "", "sw": ""})  # leftovers: 1 node
    set_lab(labs[4], LabState.STOPPED, {"h1": "", "h2": "", "h3": "", "sw": ""})  # nothing
    # labs[5]: stopped, no node rows
    assert quotas.usage(alice) == {"running_labs": 4, "running_nodes": 4 + 4 + 4 + 1, "topologies": 6}
    assert quotas.usage(alice, exclude_lab=labs[0].pk) == {"running_labs": 3, "running_nodes": 9, "topologies": 6}
    assert quotas.usage(bob) == {"running_labs": 0, "running_nodes": 0, "topologies": 1}


# -- the deploy guard: each limit refuses, naming it, and nothing happens -------------------------------------
@pytest.fixture
def alice_labs(alice, released):
    """Three 4-node labs of alice's, stopped."""
    return [services.import_topology(alice, document(f"lab{i}")).lab for i in range(3)]


def test_a_deploy_under_every_limit_is_queued(alice_labs, broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        operation = services.request_deploy(alice_labs[0])
    assert broker and Lab.objects.get(pk=alice_labs[0].pk).state == LabState.DEPLOYING
    assert leases.holder(alice_labs[0].pk) == operation


def test_running_labs_refuses_with_the_use_and_the_request(alice, alice_labs, broker):
    UserLimits.objects.create(user=alice, max_running_labs=2)
    set_lab(alice_labs[0], LabState.RUNNING, {"h1": "c"})
    set_lab(alice_labs[1], LabState.DEPLOYING)
    before = snapshot(alice_labs[2])
    with pytest.raises(quotas.LimitReached) as refused:
        services.request_deploy(alice_labs[2])
    assert refused.value.status == 429
    assert refused.value.message == ("limit reached: running labs — you have 2 of 2 running and this deploy needs "
                                     "1 more; destroy a lab first")
    assert (refused.value.limit, refused.value.used, refused.value.allowed, refused.value.requested) == (
        "running labs", 2, 2, 1)
    assert snapshot(alice_labs[2]) == before and broker == []


def test_running_nodes_refuses_with_the_use_and_the_request(alice, alice_labs, broker):
    UserLimits.objects.create(user=alice, max_running_nodes=9)
    set_lab(alice_labs[0], LabState.RUNNING, {"h1": "a", "h2": "b", "h3": "c", "sw": "d"})
    set_lab(alice_labs[1], LabState.FAILED, {"h1": "a", "h2": "b", "h3": "", "sw": ""})  # 2 leftovers
    before = snapshot(alice_labs[2])
    with pytest.raises(quotas.LimitReached) as refused:
        services.request_deploy(alice_labs[2])
    assert refused.value.message == ("limit reached: running nodes — you have 6 of 9 running and this lab needs 4; "
                                     "destroy a lab first")
    assert snapshot(alice_labs[2]) == before and broker == []


def test_running_nodes_does_not_count_the_lab_being_redeployed(alice, alice_labs, broker,
                                                               django_capture_on_commit_callbacks):
    UserLimits.objects.create(user=alice, max_running_nodes=4, max_running_labs=1)
    set_lab(alice_labs[0], LabState.FAILED, {"h1": "a", "h2": "b", "h3": "c", "sw": "d"})  # its own leftovers
    with django_capture_on_commit_callbacks(execute=True):
        services.request_deploy(alice_labs[0])
    assert len(broker) == 1


def test_nodes_per_topology_refuses_with_the_size_and_the_limit(alice, alice_labs, broker):
    UserLimits.objects.create(user=alice, max_nodes_per_topology=3)
    before = snapshot(alice_labs[0])
    with pytest.raises(quotas.LimitReached) as refused:
        services.request_deploy(alice_labs[0])
    assert refused.value.message == ("limit reached: nodes per topology — you may deploy 3 nodes in one lab and this "
                                     "lab has 4; remove nodes first")
    assert snapshot(alice_labs[0]) == before and broker == []


def test_the_api_answers_429_with_the_message(client, alice, alice_labs, broker):
    UserLimits.objects.create(user=alice, max_running_labs=0)
    before = snapshot(alice_labs[0])
    response = client.post(f"{API}/topologies/{alice_labs[0].topology_id}/deploy")
    assert response.status_code == 429
    assert response.json() == {"detail": "limit reached: running labs — you have 0 of 0 running and this deploy "
                                         "needs 1 more; destroy a lab first"}
    assert snapshot(alice_labs[0]) == before and broker == []


def copy_of(assignment: Assignment, student, name: str) -> Topology:
    return services.import_topology(student, document(name), assignment=assignment)


@pytest.fixture
def assignment(course, carol):
    return Assignment.objects.create(course=course, title="Switching", template=document("template"), created_by=carol)


def test_the_course_limit_counts_every_students_labs(course, assignment, alice, bob, broker, released,
                                                     django_capture_on_commit_callbacks):
    CourseMember.objects.create(course=course, user=bob, role=CourseMember.Role.STUDENT)
    CourseLimits.objects.create(course=course, max_running_nodes=6)
    mine, theirs = copy_of(assignment, alice, "mine"), copy_of(assignment, bob, "theirs")
    assert (mine.assignment, theirs.assignment) == (assignment, assignment)
    own = services.import_topology(bob, document("own"))  # not a course copy: not counted, not limited
    set_lab(own.lab, LabState.RUNNING, {"h1": "a", "h2": "b", "h3": "c", "sw": "d"})
    with django_capture_on_commit_callbacks(execute=True):
        services.request_deploy(mine.lab)
    assert quotas.course_usage(course) == {"running_labs": 1, "running_nodes": 4}
    before = snapshot(theirs.lab)
    with pytest.raises(quotas.LimitReached) as refused:
        services.request_deploy(theirs.lab)
    assert refused.value.message == ("limit reached: running nodes of the course 'Networks 101' — its labs have 4 of "
                                     "6 running and this lab needs 4; try again when labs of the course are destroyed")
    assert snapshot(theirs.lab) == before and len(broker) == 1


# -- the topology guard --------------------------------------------------------------------------------------
def test_topologies_refuses_a_new_one_but_replaces_an_old_one(alice):
    UserLimits.objects.create(user=alice, max_topologies=2)
    services.import_topology(alice, document("one"))
    services.import_topology(alice, document("two"))
    with pytest.raises(quotas.LimitReached) as refused:
        services.import_topology(alice, document("three"))
    assert refused.value.status == 429
    assert refused.value.message == ("limit reached: topologies — you have 2 of 2 and this needs 1 more; delete a "
                                     "topology first")
    assert sorted(Topology.objects.values_list("name", flat=True)) == ["one", "two"] and Lab.objects.count() == 2
    replaced = services.import_topology(alice, document("two", nodes=5), replace=True)
    assert replaced.node_count == 6 and Topology.objects.count() == 2


def test_the_api_refuses_a_topology_past_the_limit_with_429(client, alice):
    UserLimits.objects.create(user=alice, max_topologies=0)
    response = client.post(f"{API}/topologies", data=document("one"), content_type="application/json")
    assert response.status_code == 429 and response.json()["detail"].startswith("limit reached: topologies — ")
    assert not Topology.objects.exists()


def test_without_redis_a_new_topology_is_refused_with_503_and_nothing_is_made(client, alice, monkeypatch):
    """The limits' lock lives in Redis: without it nothing can be counted safely, so nothing is made."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    nowhere = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    monkeypatch.setattr(leases, "client", lambda: nowhere)
    with pytest.raises(services.ServiceError) as refused:
        services.import_topology(alice, document("no-redis"))
    assert refused.value.status == 503 and "Redis cannot be reached" in refused.value.message
    client.force_login(alice)
    response = client.post("/api/v1/topologies", document("no-redis"), content_type="application/json")
    assert response.status_code == 503 and "the limits cannot be checked right now" in response.json()["detail"]
    assert not Topology.objects.filter(owner=alice).exists()


def test_an_assignment_copy_is_made_in_the_same_transaction(alice, assignment, monkeypatch):
    from topology import labstate

    def broken(topology):
        raise RuntimeError("no lab")

    monkeypatch.setattr(labstate, "create_lab", broken)
    with pytest.raises(RuntimeError):
        services.import_topology(alice, document("copy"), assignment=assignment)
    assert not Topology.objects.exists()


# -- a node's resources --------------------------------------------------------------------------------------
def with_resources(name: str, **resources) -> dict:
    data = document(name)
    data["nodes"][0]["resources"] = resources
    return data


def capped(data) -> dict[str, str]:
    """{path: message} of the validation's warnings about a node's resources past the caps."""
    result = services.validate(data)
    assert result.ok, result.errors
    return {p.path: p.message for p in result.warnings if ".resources." in p.path}


def test_the_site_rows_caps_change_what_validation_accepts(db):
    assert capped(with_resources("a", cpus=1.5, memory_mb=1024)) == {}
    SiteLimits.objects.update_or_create(pk=1, defaults={"node_max_cpus": 1.0, "node_max_memory_mb": 512})
    assert capped(with_resources("a", cpus=1.5, memory_mb=1024)) == {
        "nodes[0].resources.cpus": "asks for 1.5; this server caps it at 1.0",
        "nodes[0].resources.memory_mb": "asks for 1024; this server caps it at 512"}
    assert capped(with_resources("a", cpus=1.0, memory_mb=512)) == {}


def test_the_root_workers_plan_uses_the_site_rows_defaults_and_caps(alice):
    topology = services.import_topology(alice, document("lab"))
    SiteLimits.objects.update_or_create(pk=1, defaults={"node_default_cpus": 0.25, "node_default_memory_mb": 64,
                                                        "node_default_pids": 50, "node_max_pids": 300})
    context = limits.plan_context(topology.lab)
    assert context.default_resources == {"cpus": 0.25, "memory_mb": 64, "pids": 50}
    assert context.limits.max_pids == 300 and limits.document_limits().max_pids == 300


def test_the_node_resources_are_read_once_within_the_cache_time(db, django_assert_num_queries):
    quotas.site_limits()
    limits.forget()
    with django_assert_num_queries(1):
        for _ in range(20):
            services.validate(document("a", nodes=20))


def test_without_a_database_the_settings_node_resources_apply(settings):
    # No database access in this test: pytest-django refuses it, and the settings are the fallback.
    settings.TOPOLAB_MAX_RESOURCES = {"cpus": 0.5, "memory_mb": 100, "pids": 10}
    assert limits.document_limits().max_cpus == 0.5
    assert capped(with_resources("a", cpus=1.0)) == {"nodes[0].resources.cpus": "asks for 1.0; this server caps it at 0.5"}


# -- the admin -----------------------------------------------------------------------------------------------
@pytest.fixture
def admin_client(db, django_user_model):
    admin = django_user_model.objects.create_superuser("admin", "admin@example.org", None)
    c = Client()
    c.force_login(admin)
    return c


def test_the_admin_pages_of_the_limits_assignments_and_runs_load(admin_client, alice, course, assignment):
    UserLimits.objects.create(user=alice, max_running_labs=5)
    CourseLimits.objects.create(course=course, max_running_nodes=100)
    run = CheckRun.objects.create(assignment=assignment, user=alice, results=[])
    site = admin_client.get("/admin/topology/sitelimits/")
    assert site.status_code == 302 and site["Location"] == "/admin/topology/sitelimits/1/change/"
    for path in ("/admin/topology/sitelimits/1/change/", "/admin/topology/userlimits/",
                 "/admin/topology/userlimits/add/", f"/admin/topology/userlimits/{alice.pk}/change/",
                 "/admin/topology/courselimits/", "/admin/topology/courselimits/add/",
                 f"/admin/topology/courselimits/{course.pk}/change/", "/admin/topology/assignment/",
                 f"/admin/topology/assignment/{assignment.pk}/change/", "/admin/topology/checkrun/",
                 f"/admin/topology/checkrun/{run.pk}/change/"):
        assert admin_client.get(path).status_code == 200, path
    listing = admin_client.get("/admin/topology/assignment/").content.decode()
    assert "Switching" in listing and "Networks 101" in listing


def test_the_site_row_is_edited_never_added_twice_or_deleted(admin_client):
    quotas.site_limits()
    assert admin_client.get("/admin/topology/sitelimits/add/").status_code == 403
    assert admin_client.get("/admin/topology/sitelimits/1/delete/").status_code == 403
    form = {"max_running_labs": 4, "max_running_nodes": 40, "max_nodes_per_topology": 20, "max_topologies": 50,
            "course_max_running_nodes": 900, "node_default_cpus": 1.0, "node_default_memory_mb": 256,
            "node_default_pids": 256, "node_max_cpus": 1.5, "node_max_memory_mb": 2048, "node_max_pids": 4096,
            "pool_size": 5, "pool_memory_mb": 64}
    limits.node_resources()  # cached before the change: saving the row must forget it
    page = admin_client.get("/admin/topology/sitelimits/1/change/").content.decode()
    assert "The warm pool" in page and "no lab worker has said so lately" in page  # what the pool holds now
    assert admin_client.post("/admin/topology/sitelimits/1/change/", form).status_code == 302
    assert SiteLimits.objects.get().max_running_labs == 4 and SiteLimits.objects.count() == 1
    assert (SiteLimits.objects.get().pool_size, SiteLimits.objects.get().pool_memory_mb) == (5, 64)
    assert limits.document_limits().max_cpus == 1.5


def test_check_runs_are_read_only_in_the_admin(admin_client, alice, assignment):
    run = CheckRun.objects.create(assignment=assignment, user=alice, score=3, max_score=5)
    assert admin_client.get("/admin/topology/checkrun/add/").status_code == 403
    assert admin_client.post(f"/admin/topology/checkrun/{run.pk}/change/", {"score": 5}).status_code == 403
    assert admin_client.get(f"/admin/topology/checkrun/{run.pk}/delete/").status_code == 403
    run.refresh_from_db()
    assert run.score == 3
