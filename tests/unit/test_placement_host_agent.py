"""The lab worker's side of hosts (:mod:`topology.host_agent`): its registration and load, and what it removes of
the labs an admin forgot while it was unreachable (a fake engine; the real one: tests/integration/test_two_hosts.py)."""
from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from topology import host_agent, hosts, leases
from topology.engine import names
from topology.models import Lab, LabHost, LabNode, LabState


@dataclass
class Container:
    id: str
    name: str
    labels: dict
    state: str = "running"


class FakeEngine:
    """Containers by lab label, as DockerRuntime.list selects them; removals recorded."""

    def __init__(self, containers):
        self.containers = {c.id: c for c in containers}
        self.removed = []

    def list(self, filters):
        wanted = dict(f.split("=", 1) for f in filters)
        return [c for c in self.containers.values() if all(c.labels.get(k) == v for k, v in wanted.items())]

    def remove(self, cid):
        self.removed.append(cid)
        self.containers.pop(cid)


def container(lab: Lab, cid: str) -> Container:
    return Container(cid, f"c-{cid}", names.labels(settings.TOPOLAB_SITE, lab.pk, "c1", "alice"))


def test_it_removes_only_what_a_forgotten_lab_running_elsewhere_left_here(topology, released):
    lab = topology.lab
    here = LabHost.objects.create(queue="lab.here", name="here", forgotten=[lab.pk])
    Lab.objects.filter(pk=lab.pk).update(queue="lab.elsewhere", state=LabState.RUNNING)
    LabNode.objects.create(lab=lab, name="c1", state="running", container_id="new")  # its node now, elsewhere
    engine = FakeEngine([container(lab, "old"), container(lab, "new")])  # one engine for both hosts
    assert host_agent.sweep_forgotten(here.queue, engine) == ["container c-old of forgotten lab %d" % lab.pk]
    assert engine.removed == ["old"] and LabHost.objects.get(pk=here.pk).forgotten == []


def test_a_forgotten_lab_being_deployed_is_left_for_the_next_start(topology, released):
    lab = topology.lab
    here = LabHost.objects.create(queue="lab.here", name="here", forgotten=[lab.pk])
    Lab.objects.filter(pk=lab.pk).update(queue="lab.elsewhere", state=LabState.DEPLOYING)
    leases.acquire(lab.pk, "op")
    engine = FakeEngine([container(lab, "creating")])  # its new containers, no ID recorded yet
    assert host_agent.sweep_forgotten(here.queue, engine) == [] and not engine.removed
    assert LabHost.objects.get(pk=here.pk).forgotten == [lab.pk]


def test_a_forgotten_lab_stopped_here_is_the_gcs(topology, released):
    lab = topology.lab
    here = LabHost.objects.create(queue="lab.here", name="here", forgotten=[lab.pk])
    Lab.objects.filter(pk=lab.pk).update(queue=here.queue, state=LabState.STOPPED)
    engine = FakeEngine([container(lab, "left")])
    assert host_agent.sweep_forgotten(here.queue, engine) == [] and not engine.removed  # gc removes it (stopped)
    assert LabHost.objects.get(pk=here.pk).forgotten == []


def test_it_registers_its_host_once_and_keeps_the_admins_name_and_caps(db, monkeypatch):
    monkeypatch.setattr(host_agent, "node_images", lambda runtime=None: ["topolab/base:latest"])
    monkeypatch.setenv("TOPOLAB_HOST_NAME", "")
    first = host_agent.register("lab.b1")
    assert (first.name, first.images) == ("b1", ["topolab/base:latest"]) and first.cores >= 1 and first.memory_mb > 0
    LabHost.objects.filter(pk=first.pk).update(name="rack 3", max_nodes=40)
    again = host_agent.register("lab.b1")
    assert (again.pk, again.name, again.max_nodes) == (first.pk, "rack 3", 40)
    monkeypatch.setenv("TOPOLAB_HOST_NAME", "lab-host-7")
    assert host_agent.host_name("lab.x") == "lab-host-7"


def test_its_beat_makes_a_lost_row_again_and_says_the_load(db, monkeypatch):
    monkeypatch.setattr(host_agent, "node_images", lambda runtime=None: [])
    monkeypatch.setattr(host_agent, "close_old_connections", lambda: None)  # the test's own connection stays
    agent = host_agent.Agent("lab.unit-agent")
    agent.beat()
    LabHost.objects.all().delete()  # a flush, or an admin's delete
    agent.beat()
    assert LabHost.objects.filter(queue="lab.unit-agent").exists()
    load = hosts.load("lab.unit-agent")
    assert load["labs"] == 0 and load["nodes"] == 0 and len(load["load"]) == 3 and load["memory_mb"] > 0
    agent.stop()
    assert hosts.load("lab.unit-agent") is None
