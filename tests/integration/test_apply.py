"""Apply changes to a running lab through the API and the CLI, the real lab worker, Docker Engine and kernel.

    c1 (192.168.10.2/24) --eth0-- r1 --eth1-- c2 (192.168.11.2/24)      + c3 (192.168.12.2/24) on r1:eth2
                         .10.1/24    .11.1/24

Only what changed changes: the containers of the nodes that did not change keep
their IDs and their start times, and traffic between them goes on.
"""
from __future__ import annotations

import copy
import io
import json
import re
import threading
import time

import pytest
from django.core.management import call_command
from django.test import Client

from tests.documents import reference_document
from topology.models import ApiToken, Lab, LabEvent, Topology

API = "/api/v1"


def api(owner) -> Client:
    _, secret = ApiToken.issue(owner, "apply")
    return Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {secret}")


def with_c3(document: dict) -> dict:
    changed = copy.deepcopy(document)
    changed["nodes"].append({"name": "c3", "routes": [{"to": "default", "via": "192.168.12.1"}]})
    changed["links"].append({"endpoints": [{"node": "c3", "interface": "eth0", "addresses": ["192.168.12.2/24"]},
                                           {"node": "r1", "interface": "eth2", "addresses": ["192.168.12.1/24"]}]})
    return changed


def post_apply(client: Client, topology: Topology, document: dict, dry_run: bool = False):
    return client.post(f"{API}/topologies/{topology.pk}/apply" + ("?dry_run=true" if dry_run else ""),
                       json.dumps(document), content_type="application/json")


def settled(lab: Lab, timeout: float = 60) -> Lab:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lab.refresh_from_db()
        if lab.state not in ("deploying", "destroying"):
            return lab
        time.sleep(0.1)
    raise AssertionError(f"the apply did not end within {timeout} s (the lab is {lab.state})")


def started_at(labs, lab: Lab) -> dict[str, tuple[str, str]]:
    """``{node: (container, its start time)}``: a node restarted or made again has another one."""
    found = {}
    for name, container in lab.nodes.values_list("name", "container_id"):
        state = labs.runtime.container_state(container)
        found[name] = (container, state["StartedAt"] if state else "")
    return found


def reaches(labs, lab, node: str, target: str) -> bool:
    return labs.run(lab, node, "ping", "-n", "-c", "1", "-W", "1", target)[0] == 0


@pytest.fixture
def running(labs, owner):
    lab = labs.deploy(reference_document())
    assert lab.state == "running", lab.reason
    return Topology.objects.get(lab=lab), lab


def test_a_third_client_added_live_is_reached_while_c1_c2_pings_lose_at_most_one(labs, owner, running):
    topology, lab = running
    client = api(owner)
    before = started_at(labs, lab)
    preview = post_apply(client, topology, with_c3(topology.document), dry_run=True)
    assert preview.status_code == 200, preview.content
    assert preview.json()["changes"]["nodes_created"] == ["c3"] and preview.json()["queued"] is False
    assert Topology.objects.get(pk=topology.pk).document == topology.document  # a dry run changes nothing
    assert LabEvent.objects.filter(lab=lab, step="apply requested").count() == 0

    pings: dict = {}

    def background():  # 10 pings a second from c1 to c2 while the change is applied
        pings["out"] = labs.run(lab, "c1", "ping", "-n", "-i", "0.1", "-c", "50", "-W", "1", "192.168.11.2")[1]

    thread = threading.Thread(target=background)
    thread.start()
    time.sleep(1.0)
    answer = post_apply(client, topology, with_c3(topology.document))
    assert answer.status_code == 202, answer.content
    assert answer.json()["queued"] is True and answer.json()["operation"]
    lab = settled(lab)
    thread.join(30)
    assert lab.state == "running" and lab.reason == "", lab.reason
    sent, received = map(int, re.search(r"(\d+) packets transmitted, (\d+) received", pings["out"]).groups())
    assert sent - received <= 1, pings["out"]
    assert reaches(labs, lab, "c1", "192.168.12.2") and reaches(labs, lab, "c3", "192.168.11.2")
    after = started_at(labs, lab)
    assert {k: after[k] for k in before} == before  # c1, r1, c2: same containers, not restarted
    assert lab.nodes.get(name="c3").state == "running"
    assert [n["name"] for n in lab.running_document["nodes"]] == ["c1", "r1", "c2", "c3"]
    steps = list(LabEvent.objects.filter(lab=lab, operation=lab.operation).values_list("step", flat=True))
    assert steps[0] == "apply requested" and "create c3" in steps and steps[-1] == "lab running"


def test_an_address_change_on_c2_restarts_nothing(labs, owner, running, tmp_path):
    topology, lab = running
    before = started_at(labs, lab)
    document = copy.deepcopy(topology.document)
    document["links"][1]["endpoints"][0]["addresses"] = ["192.168.11.3/24"]
    path = tmp_path / "moved.json"
    path.write_text(json.dumps(document))
    out = io.StringIO()
    call_command("lab", "apply", topology.name, str(path), "--wait", "--user", owner.username, stdout=out)
    text = out.getvalue()
    assert "+ address c2:eth0 192.168.11.3/24" in text and "- address c2:eth0 192.168.11.2/24" in text
    lab = settled(lab)
    assert lab.state == "running", lab.reason
    assert started_at(labs, lab) == before  # c1, r1 and c2 itself: changed in place
    assert reaches(labs, lab, "c1", "192.168.11.3") and not reaches(labs, lab, "c1", "192.168.11.2")
    assert labs.run(lab, "c2", "ip", "route")[1].startswith("default via 192.168.11.1")


def test_an_image_or_env_change_makes_only_that_node_again(labs, owner, running):
    topology, lab = running
    before = started_at(labs, lab)
    document = copy.deepcopy(topology.document)
    document["nodes"][2]["env"] = {"LAB_ROLE": "server"}
    assert post_apply(api(owner), topology, document).status_code == 202
    lab = settled(lab)
    assert lab.state == "running", lab.reason
    after = started_at(labs, lab)
    assert after["c1"] == before["c1"] and after["r1"] == before["r1"] and after["c2"][0] != before["c2"][0]
    assert "LAB_ROLE=server" in labs.run(lab, "c2", "env")[1]
    assert reaches(labs, lab, "c1", "192.168.11.2")


def test_a_node_removed_live_goes_and_a_failed_apply_puts_the_lab_back(labs, owner, running):
    topology, lab = running
    client = api(owner)
    broken = with_c3(topology.document)
    broken["nodes"][-1]["exec"] = ["echo no way >&2; exit 5"]
    before = started_at(labs, lab)
    assert post_apply(client, topology, broken).status_code == 202
    lab = settled(lab)
    assert lab.state == "running"
    assert "the changes were not applied" in lab.reason and "exec c3" in lab.reason and "no way" in lab.reason
    assert "the lab runs as before" in lab.reason
    assert set(lab.nodes.values_list("name", flat=True)) == {"c1", "r1", "c2"}
    assert [n["name"] for n in lab.running_document["nodes"]] == ["c1", "r1", "c2"]
    assert not labs.runtime.list([f"topolab.lab={lab.pk}", "topolab.node=c3"])  # no c3 left behind
    assert "eth2" not in labs.run(lab, "r1", "ip", "-o", "link")[1]
    assert reaches(labs, lab, "c1", "192.168.11.2")
    assert started_at(labs, lab)["c1"] == before["c1"]  # untouched by the undoing

    without_c2 = copy.deepcopy(reference_document())
    without_c2["nodes"] = without_c2["nodes"][:2]
    without_c2["links"] = without_c2["links"][:1]
    answer = post_apply(client, Topology.objects.get(pk=topology.pk), without_c2)
    assert answer.status_code == 202 and answer.json()["changes"]["nodes_removed"] == ["c2"]
    lab = settled(lab)
    assert lab.state == "running" and lab.reason == "", lab.reason
    assert not labs.runtime.list([f"topolab.lab={lab.pk}", "topolab.node=c2"])
    assert "eth1" not in labs.run(lab, "r1", "ip", "-o", "link")[1]
    assert reaches(labs, lab, "c1", "192.168.10.1")


def test_what_cannot_be_applied_is_refused_before_anything_changes(labs, owner, running):
    topology, lab = running
    client = api(owner)
    bad = copy.deepcopy(topology.document)
    bad["links"][0]["endpoints"][0]["addresses"] = ["300.1.1.1/24"]
    refused = post_apply(client, topology, bad)
    assert refused.status_code == 400
    assert [e["path"] for e in refused.json()["errors"]] == ["links[0].endpoints[0].addresses[0]"]
    nothing = post_apply(client, topology, topology.document)
    assert nothing.status_code == 200 and nothing.json()["nothing_to_do"] is True
    labs.destroy(lab)
    stopped = post_apply(client, topology, with_c3(topology.document))
    assert stopped.status_code == 409 and "running lab" in stopped.json()["detail"]
