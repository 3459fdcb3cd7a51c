"""Placement in a deploy (services.request_deploy, a fake broker, real Redis): where labs go with several hosts,
one host as before, pins, drain, unreachable hosts, 30 deploys at once; and the admin's and ``lab hosts``' part."""
from __future__ import annotations

import io
import time
import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import TestCase

from tests.documents import reference_document
from topology import hostctl, hosts, labview, placement, services
from topology.models import HostPin, Lab, LabHost, LabNode, LabState, UserLimits
from topology.testing.races import race
from topology.workers import Heartbeat

from .test_quotas import document

BASE = "topolab/base:latest"


def queue_of(name: str) -> str:
    return f"lab.unit-{name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def roomy_alice(alice):
    """Alice may run many labs: the hosts' room is what these tests reach, not her limits."""
    UserLimits.objects.create(user=alice, max_running_labs=50, max_running_nodes=500)


@pytest.fixture
def beating():
    """Heartbeats for hosts the test makes (stopped after it): ``beating(queue)``."""
    made = []

    def beat(*queues):
        heartbeat = Heartbeat(queues, instance=uuid.uuid4().hex)
        heartbeat.beat()
        made.append(heartbeat)
        return heartbeat

    yield beat
    for heartbeat in made:
        heartbeat.stop()
    hosts._seen.clear()


def make_host(name: str, *, alive=True, beating=None, **fields) -> LabHost:
    row = LabHost.objects.create(**{"queue": queue_of(name), "name": name, "cores": 2, "memory_mb": 1024,
                                    "images": [BASE], **fields})
    if alive:
        beating(row.queue)
    return row


def deploy(lab: Lab) -> str:
    """Request a deploy, running what waits for the commit (the queueing) as a real request would."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return services.request_deploy(Lab.objects.select_related("topology__owner").get(pk=lab.pk))


def test_with_no_host_registered_a_deploy_keeps_the_labs_queue(topology, broker, released, settings):
    lab = topology.lab
    assert not LabHost.objects.exists()
    deploy(lab)
    lab.refresh_from_db()
    assert lab.queue == settings.TOPOLAB_QUEUE and broker == [("deploy", {"args": [lab.pk, lab.operation], "queue": lab.queue})]


def test_one_host_takes_every_lab_as_before(alice, broker, released, beating, roomy_alice, settings):
    only = LabHost.objects.create(queue=settings.TOPOLAB_QUEUE, name="only", memory_mb=4096, images=[BASE])
    for i in range(3):
        lab = services.import_topology(alice, document(f"lab{i}")).lab
        deploy(lab)
    assert set(Lab.objects.values_list("queue", flat=True)) == {only.queue}
    assert [kw["queue"] for _, kw in broker] == [only.queue] * 3


def test_one_host_checks_only_what_its_admin_set(alice, broker, released, beating, roomy_alice, settings):
    only = LabHost.objects.create(queue=settings.TOPOLAB_QUEUE, name="only", memory_mb=16, images=[])
    big = document("big")
    for node in big["nodes"]:
        node["kind"] = "host" if node["name"] != "sw" else "switch"
        node["resources"] = {"memory_mb": 2048}  # far past 4 x 16 MB, on a host without its image: as before
    deploy(services.import_topology(alice, big).lab)
    assert broker[-1][1]["queue"] == only.queue
    LabHost.objects.filter(pk=only.pk).update(max_nodes=4)  # what the admin says holds
    with pytest.raises(placement.NoRoom, match="its labs hold 4 of its 4 nodes"):
        deploy(services.import_topology(alice, document("second")).lab)
    LabHost.objects.filter(pk=only.pk).update(max_nodes=None, drained=True)
    with pytest.raises(placement.NoRoom, match="it is drained"):
        deploy(services.import_topology(alice, document("third")).lab)


def test_one_host_that_is_down_is_no_worker_as_before(topology, broker, released):
    down = LabHost.objects.create(queue=queue_of("down"), name="down")
    Lab.objects.filter(pk=topology.lab.pk).update(queue=down.queue)
    with pytest.raises(services.NoWorker) as refused:
        deploy(topology.lab)
    assert refused.value.message.startswith("no lab worker is running for this host") and not broker


def test_labs_go_to_the_host_with_room_and_a_smaller_host_gets_fewer(alice, broker, released, beating, roomy_alice):
    big = make_host("big", beating=beating, max_nodes=12)     # 3 labs of 4 nodes
    small = make_host("small", beating=beating, max_nodes=4)  # 1 lab
    labs = [services.import_topology(alice, document(f"lab{i}")).lab for i in range(5)]
    for lab in labs[:4]:
        deploy(lab)
    placed = [Lab.objects.get(pk=lab.pk).queue for lab in labs[:4]]
    assert placed.count(big.queue) == 3 and placed.count(small.queue) == 1
    assert [kw["queue"] for _, kw in broker] == placed  # each queued on its own host
    with pytest.raises(placement.NoRoom) as refused:
        deploy(labs[4])
    assert "no lab host can take this lab (4 nodes, 1024 MB)" in refused.value.message
    assert "'big' (queue" in refused.value.message and "its labs hold 12 of its 12 nodes" in refused.value.message
    assert Lab.objects.get(pk=labs[4].pk).state == LabState.STOPPED and len(broker) == 4


def test_memory_counts_the_nodes_limits_or_the_sites_default(alice, broker, released, beating, roomy_alice):
    roomy = make_host("roomy", beating=beating, max_memory_mb=2048)
    tight = make_host("tight", beating=beating, max_memory_mb=1024)
    heavy = document("heavy")
    for node in heavy["nodes"]:
        node["resources"] = {"memory_mb": 512}  # 4 x 512: only roomy can take it
    lab = services.import_topology(alice, heavy).lab
    deploy(lab)
    assert Lab.objects.get(pk=lab.pk).queue == roomy.queue
    light = services.import_topology(alice, document("light")).lab  # 4 x 256 (the default): tight is emptier now
    deploy(light)
    assert Lab.objects.get(pk=light.pk).queue == tight.queue


def test_a_drained_a_dead_and_an_imageless_host_get_nothing(alice, broker, released, beating, roomy_alice):
    make_host("drained", beating=beating, drained=True)
    make_host("dead", alive=False)
    make_host("bare", beating=beating, images=[])
    fine = make_host("fine", beating=beating, memory_mb=256)  # just room for it (4 x 256 of 4 x 256), the only one
    lab = services.import_topology(alice, document("lab")).lab
    deploy(lab)
    assert Lab.objects.get(pk=lab.pk).queue == fine.queue


def test_a_pin_sends_a_users_labs_to_its_host_or_refuses_naming_it(alice, bob, broker, released, beating, roomy_alice):
    make_host("empty", beating=beating, memory_mb=8192)
    pinned = make_host("pinned", beating=beating)
    hostctl.pin(pinned, user="alice")
    lab = services.import_topology(alice, document("lab")).lab
    deploy(lab)
    assert Lab.objects.get(pk=lab.pk).queue == pinned.queue
    theirs = services.import_topology(bob, document("lab")).lab  # not pinned: the emptiest
    deploy(theirs)
    assert LabHost.objects.get(queue=Lab.objects.get(pk=theirs.pk).queue).name == "empty"

    hostctl.set_drained(pinned, True)
    second = services.import_topology(alice, document("second")).lab
    with pytest.raises(placement.NoRoom) as refused:
        deploy(second)
    assert refused.value.status == 409 and refused.value.message.startswith(
        f"the host 'pinned' (queue {pinned.queue}) that the admin pinned for alice cannot take this lab: it is drained")
    assert Lab.objects.get(pk=second.pk).state == LabState.STOPPED


def test_a_pinned_host_that_is_down_is_503_and_nothing_goes_elsewhere(alice, broker, released, beating, roomy_alice):
    make_host("up", beating=beating)
    down = make_host("down", alive=False)
    hostctl.pin(down, user="alice")
    lab = services.import_topology(alice, document("lab")).lab
    with pytest.raises(placement.HostUnavailable) as refused:
        deploy(lab)
    assert refused.value.status == 503 and "'down'" in refused.value.message and "unreachable" in refused.value.message
    assert not broker and Lab.objects.get(pk=lab.pk).state == LabState.STOPPED


def test_a_courses_pin_applies_to_its_copies_and_a_users_own_pin_wins(course, alice, carol, broker, released,
                                                                     beating):
    from topology.models import Assignment

    make_host("other", beating=beating, memory_mb=8192)
    for_course = make_host("course-host", beating=beating)
    for_alice = make_host("alice-host", beating=beating)
    assignment = Assignment.objects.create(course=course, title="A1", template=document("t"))
    copy = services.import_topology(carol, document("copy"), assignment=assignment).lab
    hostctl.pin(for_course, course=course.slug)
    deploy(copy)
    assert Lab.objects.get(pk=copy.pk).queue == for_course.queue
    hers = services.import_topology(alice, document("copy"), assignment=assignment).lab
    hostctl.pin(for_alice, user="alice")
    deploy(hers)
    assert Lab.objects.get(pk=hers.pk).queue == for_alice.queue


def test_a_running_lab_stays_on_its_host_and_a_failed_one_with_leftovers_too(topology, broker, released, beating):
    here = make_host("here", beating=beating)
    make_host("emptier", beating=beating, memory_mb=8192)
    lab = topology.lab
    Lab.objects.filter(pk=lab.pk).update(queue=here.queue, state=LabState.FAILED)
    LabNode.objects.create(lab=lab, name="c1", container_id="c0ffee")
    deploy(lab)
    assert Lab.objects.get(pk=lab.pk).queue == here.queue  # its leftover is there: the deploy tears it down first


def test_a_lab_left_on_a_dead_host_is_refused_naming_it(topology, broker, released, beating):
    gone = make_host("gone", alive=False)
    make_host("alive", beating=beating)
    lab = topology.lab
    Lab.objects.filter(pk=lab.pk).update(queue=gone.queue, state=LabState.FAILED)
    LabNode.objects.create(lab=lab, name="c1", container_id="c0ffee")
    with pytest.raises(services.ServiceError) as refused:
        deploy(lab)
    assert refused.value.status == 503 and "host unreachable: the lab's host 'gone'" in refused.value.message
    Lab.objects.filter(pk=lab.pk).update(state=LabState.RUNNING)  # running there: the same answer, not 409
    with pytest.raises(services.ServiceError) as refused:
        deploy(lab)
    assert refused.value.status == 503 and "host unreachable: the lab's host 'gone'" in refused.value.message
    assert not broker


def test_a_failed_lab_with_nothing_left_on_a_dead_host_goes_elsewhere(topology, broker, released, beating):
    gone = make_host("gone", alive=False)
    alive = make_host("alive", beating=beating)
    lab = topology.lab
    Lab.objects.filter(pk=lab.pk).update(queue=gone.queue, state=LabState.FAILED)
    assert labview.summary(Lab.objects.get(pk=lab.pk))["host_unreachable"] is False  # it holds nothing there
    deploy(lab)
    assert Lab.objects.get(pk=lab.pk).queue == alive.queue


def test_a_lab_of_an_unreachable_host_says_so_and_destroy_is_503_until_it_is_back(topology, broker, released,
                                                                                   beating):
    host = make_host("flaky", alive=False)
    lab = topology.lab
    Lab.objects.filter(pk=lab.pk).update(queue=host.queue, state=LabState.RUNNING)
    lab.refresh_from_db()
    assert labview.summary(lab)["host_unreachable"] is True and labview.summary(lab)["host_queue"] == host.queue
    with pytest.raises(services.NoWorker) as refused:
        services.request_destroy(lab)
    assert refused.value.status == 503
    assert refused.value.message.startswith(f"no lab worker is running for this host (queue {host.queue}): host "
                                            "unreachable: 'flaky'")
    beating(host.queue)
    hosts._seen.clear()
    assert labview.summary(lab)["host_unreachable"] is False  # it clears itself
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.request_destroy(lab)
    assert broker[-1] == ("destroy", {"args": [lab.pk, Lab.objects.get(pk=lab.pk).operation], "queue": host.queue})


def test_a_stopped_lab_is_never_unreachable(topology):
    lab = topology.lab
    Lab.objects.filter(pk=lab.pk).update(queue="lab.nowhere")
    lab.refresh_from_db()
    assert labview.summary(lab)["host_unreachable"] is False


def test_the_api_shows_a_lab_whose_host_is_unreachable(client, topology):
    Lab.objects.filter(pk=topology.lab.pk).update(queue=queue_of("dead"), state=LabState.RUNNING)
    body = client.get(f"/api/v1/topologies/{topology.pk}/lab").json()
    assert body["host_unreachable"] is True and body["state"] == "running"
    listed = client.get("/api/v1/topologies").json()
    assert [t["lab"]["host_unreachable"] for t in listed] == [True]


# -- forgetting a lab of a dead host ----------------------------------------------------------------------------
def test_forgetting_a_lab_of_a_dead_host_stops_it_and_notes_it_for_the_host(topology, released, beating):
    dead = make_host("dead", alive=False)
    lab = topology.lab
    Lab.objects.filter(pk=lab.pk).update(queue=dead.queue, state=LabState.RUNNING, running_document={"x": 1})
    LabNode.objects.create(lab=lab, name="c1", state="running", container_id="c0ffee")
    hostctl.forget(lab, "the administrator root")
    lab.refresh_from_db()
    assert lab.state == LabState.STOPPED and lab.running_document is None and "forgotten by the administrator root" in \
        lab.reason
    assert list(lab.nodes.values_list("container_id", flat=True)) == [""]
    assert LabHost.objects.get(pk=dead.pk).forgotten == [lab.pk]
    assert lab.events.last().step == "lab forgotten"


def test_a_lab_of_a_live_host_or_a_stopped_one_cannot_be_forgotten(topology, released, beating):
    live = make_host("live", beating=beating)
    lab = topology.lab
    with pytest.raises(services.Conflict, match="is stopped: there is nothing to forget"):
        hostctl.forget(lab, "root")
    Lab.objects.filter(pk=lab.pk).update(queue=live.queue, state=LabState.RUNNING)
    with pytest.raises(services.Conflict, match="answers: destroy the lab instead"):
        hostctl.forget(lab, "root")
    assert Lab.objects.get(pk=lab.pk).state == LabState.RUNNING


# -- 30 deploys at once ---------------------------------------------------------------------------------------
@pytest.fixture
def slow_count(monkeypatch):
    """Counting what hosts hold takes a while: every racing deploy is inside the window at once."""
    real = placement.held

    def slow(*args, **kwargs):
        found = real(*args, **kwargs)
        time.sleep(0.3)
        return found

    monkeypatch.setattr(placement, "held", slow)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("reserving", [True, False])
def test_thirty_deploys_at_once_fill_the_hosts_exactly(django_user_model, broker, released, slow_count, monkeypatch,
                                                       reserving):
    a = LabHost.objects.create(queue=queue_of("a"), name="a", memory_mb=8192, images=[BASE], max_nodes=40)  # 10 labs
    b = LabHost.objects.create(queue=queue_of("b"), name="b", memory_mb=8192, images=[BASE], max_nodes=20)  # 5 labs
    heartbeat = Heartbeat([a.queue, b.queue], instance="race").start()
    if not reserving:  # each deploy's reservation in a place of its own: none sees another's
        monkeypatch.setattr(placement, "_reservations_key", lambda queue: f"topolab:test:{uuid.uuid4().hex}")
    try:
        labs = [services.import_topology(django_user_model.objects.create_user(f"s{i}", None, None),
                                         document("lab")).lab for i in range(30)]
        accepted, refused = race([lambda lab=lab: deploy(lab) for lab in labs])
    finally:
        heartbeat.stop()
    placed = list(Lab.objects.filter(state=LabState.DEPLOYING).values_list("queue", flat=True))
    if not reserving:
        assert len(accepted) > 15  # what the reservations prevent: the race is real
        return
    assert len(refused) == 15 and all(isinstance(e, placement.NoRoom) for e in refused), {str(e) for e in refused}
    assert len(accepted) == 15 and placed.count(a.queue) == 10 and placed.count(b.queue) == 5
    # Each reservation settles: it lapses within SETTLE_MS (the database counts its lab now), not RESERVE_TTL_MS.
    lapses = [int(v.split()[2]) for q in (a.queue, b.queue)
              for v in placement.leases.client().hgetall(placement._reservations_key(q)).values()]
    assert len(lapses) == 15 and max(lapses) <= time.time() * 1000 + placement.SETTLE_MS


# -- the admin and lab hosts ------------------------------------------------------------------------------------
def test_the_admin_lists_hosts_with_their_load_and_drains_them(admin_client, beating):
    host = make_host("alpha", beating=beating, max_nodes=30)
    hosts.publish_load(host.queue, {"load": [0.5, 0.4, 0.3], "labs": 2, "nodes": 7, "memory_used_mb": 300,
                                    "memory_mb": 1024, "cores": 2, "at": time.time()})
    make_host("beta", alive=False, last_seen=None)
    page = admin_client.get("/admin/topology/labhost/").content.decode()
    assert "alpha" in page and "0.50 0.40 0.30" in page and "300 of 1024 MB" in page and "s ago" in page
    assert "beta" in page and "never" in page and BASE in page
    assert 'alt="True"' in page and 'alt="False"' in page  # alive, and not
    response = admin_client.post("/admin/topology/labhost/", {"action": "drain", "_selected_action": [host.pk]})
    assert response.status_code == 302 and LabHost.objects.get(pk=host.pk).drained
    admin_client.post("/admin/topology/labhost/", {"action": "undrain", "_selected_action": [host.pk]})
    assert not LabHost.objects.get(pk=host.pk).drained
    assert admin_client.get(f"/admin/topology/labhost/{host.pk}/change/").status_code == 200
    assert admin_client.get("/admin/topology/hostpin/").status_code == 200


def test_the_admin_forgets_a_lab_of_a_dead_host(admin_client, topology, released):
    dead = LabHost.objects.create(queue=queue_of("dead"), name="dead")
    Lab.objects.filter(pk=topology.lab.pk).update(queue=dead.queue, state=LabState.RUNNING)
    assert "unreachable" in admin_client.get("/admin/topology/lab/").content.decode()
    admin_client.post("/admin/topology/lab/", {"action": "forget", "_selected_action": [topology.lab.pk]})
    assert Lab.objects.get(pk=topology.lab.pk).state == LabState.STOPPED


def hosts_command(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("lab", "hosts", *args, stdout=out, stderr=err)
    return out.getvalue()


def test_lab_hosts_lists_drains_pins_and_forgets(admin_user, alice, beating):
    up = make_host("up", beating=beating)
    make_host("down", alive=False)
    listed = hosts_command()
    assert listed.splitlines()[0].split()[:3] == ["NAME", "QUEUE", "STATE"]
    rows = {line.split()[0]: line for line in listed.splitlines()[1:]}
    assert " up " in rows["up"] and "unreachable" in rows["down"]
    assert hosts_command("drain", "up").strip() == "up: drained (no new labs; its running labs stay)"
    assert "up, drained" in hosts_command()
    assert hosts_command("undrain", up.queue).strip() == "up: takes new labs"
    assert hosts_command("pin", "up", "--user", "alice").strip() == f"pinned: user alice on up ({up.queue})"
    assert HostPin.objects.get(user=alice).lab_host == up and "pin: user alice" in hosts_command()
    assert hosts_command("unpin", "--user", "alice").strip() == "pin removed"
    with pytest.raises(CommandError, match="no lab host named 'nope'"):
        hosts_command("drain", "nope")
    import json

    assert {h["name"]: h["alive"] for h in json.loads(hosts_command("--json"))} == {"up": True, "down": False}

    topology = services.import_topology(alice, reference_document())
    Lab.objects.filter(pk=topology.lab.pk).update(queue=LabHost.objects.get(name="down").queue, state="running")
    assert hosts_command("forget", topology.name, "--user", "alice").strip() == f"'{topology.name}' forgotten: it is " \
                                                                                  "stopped"


def test_a_lab_deployed_again_goes_back_to_its_host_while_it_can_take_it(topology, broker, released, beating):
    before = make_host("before", beating=beating)
    emptier = make_host("emptier", beating=beating, memory_mb=8192)
    lab = topology.lab
    Lab.objects.filter(pk=lab.pk).update(queue=before.queue, state=LabState.STOPPED)
    operation = deploy(lab)
    assert Lab.objects.get(pk=lab.pk).queue == before.queue  # not the emptier: it goes back
    Lab.objects.filter(pk=lab.pk).update(state=LabState.STOPPED)  # as the worker would end it
    placement.leases.release(lab.pk, operation)
    hostctl.set_drained(before, True)
    deploy(lab)
    assert Lab.objects.get(pk=lab.pk).queue == emptier.queue  # it must move: it does


def test_a_lab_put_by_hand_on_a_queue_no_host_has_stays_there(topology, broker, released, beating):
    make_host("some", beating=beating)
    lab = topology.lab
    Lab.objects.filter(pk=lab.pk).update(queue="lab.by-hand")
    with pytest.raises(services.NoWorker):
        deploy(lab)
    assert Lab.objects.get(pk=lab.pk).queue == "lab.by-hand" and not broker


def test_a_recorded_deploys_reservation_is_no_ghost_once_its_lab_is_gone(alice, broker, released, beating,
                                                                         roomy_alice):
    only = make_host("only", beating=beating, max_nodes=4)  # one lab of four nodes
    lab = services.import_topology(alice, document("lab")).lab
    operation = deploy(lab)
    Lab.objects.filter(pk=lab.pk).update(state=LabState.STOPPED)  # destroyed at once, inside SETTLE_MS
    placement.leases.release(lab.pk, operation)
    other = services.import_topology(alice, document("other")).lab
    deploy(other)  # the first lab's reservation, recorded before this count began, is not counted again
    assert Lab.objects.get(pk=other.pk).queue == only.queue


def test_a_deploy_that_ends_long_after_anothers_count_began_is_still_counted(alice, broker, released, beating,
                                                                             roomy_alice, monkeypatch):
    # The gap between a count and its script: the other deploy commits in it and its reservation settles and lapses
    # before the script runs (a count slower than SETTLE_MS). Without the count being made again, both labs fit.
    two = [make_host(name, beating=beating, max_nodes=4) for name in ("one", "two")]  # one 4-node lab each
    LabHost.objects.filter(pk=two[1].pk).update(drained=True)  # a choice is made (two hosts), but only one takes labs
    monkeypatch.setattr(placement, "SETTLE_MS", 300)
    first, second = (services.import_topology(alice, document(f"lab{i}")).lab for i in range(2))
    real, counts = placement.held, []

    def count_then_let_the_other_deploy(*args, **kwargs):
        found = real(*args, **kwargs)
        counts.append(found)
        if len(counts) == 1:  # the first deploy's count: the second runs whole, then settles past SETTLE_MS
            # (queued when the outer deploy's commit callbacks run: deploy() captures them)
            services.request_deploy(Lab.objects.select_related("topology__owner").get(pk=second.pk))
            time.sleep(0.5)
        return found

    monkeypatch.setattr(placement, "held", count_then_let_the_other_deploy)
    with pytest.raises(placement.NoRoom, match="its labs hold 4 of its 4 nodes"):
        deploy(first)
    assert len(counts) == 3  # its first count, the second deploy's, then its own made again
    assert list(Lab.objects.filter(state=LabState.DEPLOYING).values_list("pk", flat=True)) == [second.pk]
    assert [kw["args"][0] for _, kw in broker] == [second.pk]


def test_a_site_too_busy_to_count_in_time_refuses_saying_so(alice, broker, released, beating, roomy_alice,
                                                             monkeypatch):
    make_host("one", beating=beating)
    make_host("two", beating=beating)
    monkeypatch.setattr(placement, "SETTLE_MS", 50)
    real = placement.held
    monkeypatch.setattr(placement, "held", lambda *a, **kw: (time.sleep(0.1), real(*a, **kw))[1])
    lab = services.import_topology(alice, document("lab")).lab
    with pytest.raises(placement.NoRoom, match="could not be counted in time"):
        deploy(lab)
    assert Lab.objects.get(pk=lab.pk).state == LabState.STOPPED and not broker
    assert not any(placement.leases.client().hgetall(placement._reservations_key(q)) for q in
                   LabHost.objects.values_list("queue", flat=True))  # nothing reserved


def test_a_deploy_right_after_the_host_is_back_is_not_refused_by_an_older_read(topology, broker, released, beating):
    # A page read the lab a moment ago, while its host's worker was restarting (hosts.alive keeps that a second):
    # the deploy asks Redis again.
    here = make_host("here", alive=False)
    make_host("other", beating=beating)
    lab = topology.lab
    Lab.objects.filter(pk=lab.pk).update(queue=here.queue, state=LabState.FAILED)
    LabNode.objects.create(lab=lab, name="c1", container_id="c0ffee")
    assert labview.summary(Lab.objects.get(pk=lab.pk))["host_unreachable"] is True
    beating(here.queue)  # back
    deploy(lab)
    assert broker[-1][1]["queue"] == here.queue


def test_a_list_of_labs_on_live_hosts_asks_nothing_more_of_the_database(topology, beating, django_assert_num_queries):
    here = make_host("here", beating=beating)
    Lab.objects.filter(pk=topology.lab.pk).update(queue=here.queue, state=LabState.FAILED)
    lab = Lab.objects.get(pk=topology.lab.pk)
    with django_assert_num_queries(0):
        assert hosts.unreachable(lab) is False


def test_the_admins_list_of_hosts_costs_the_same_queries_for_one_host_or_five(admin_client, topology, beating):
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    def page_queries():
        with CaptureQueriesContext(db) as captured:
            assert admin_client.get("/admin/topology/labhost/").status_code == 200
        return len(captured)

    first = make_host("h0", beating=beating)
    Lab.objects.filter(pk=topology.lab.pk).update(queue=first.queue, state=LabState.RUNNING)
    one = page_queries()
    for i in range(1, 5):
        make_host(f"h{i}", beating=beating)
    assert page_queries() == one
    page = admin_client.get("/admin/topology/labhost/").content.decode()
    assert '<td class="field-labs">1</td>' in page and page.count('<td class="field-labs">0</td>') == 4


def test_unpinning_neither_a_user_nor_a_course_removes_nothing(alice, course, beating):
    host = make_host("pinned", beating=beating)
    hostctl.pin(host, user="alice")
    hostctl.pin(host, course=course.slug)
    for whom in ({}, {"user": "alice", "course": course.slug}):
        with pytest.raises(services.Conflict, match="unpin a user or a course, one of them"):
            hostctl.unpin(**whom)
    assert HostPin.objects.count() == 2


def test_the_list_of_hosts_costs_the_same_queries_for_one_host_or_five(django_user_model, beating):
    from django.test.utils import CaptureQueriesContext

    def listed():
        with CaptureQueriesContext(connection) as captured:
            assert "pin: user u0" in hosts_command() and "user u0" in hosts_command("--json")
        return len(captured)

    for i in range(5):
        django_user_model.objects.create_user(f"u{i}", None, None)
    hostctl.pin(make_host("h0", beating=beating), user="u0")
    one = listed()
    for i in range(1, 5):
        hostctl.pin(make_host(f"h{i}", beating=beating), user=f"u{i}")
    assert listed() == one
