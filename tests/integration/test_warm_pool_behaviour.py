"""A lab deployed from the warm pool is the same as one started cold, and its take is cheap: the real lab worker,
Docker Engine and kernel.

    h1 ─┐                          10.1.0.0/24, fd00:1::/64
    h2 ─┼─ s1 (bridge) ─ r1 ─ h4   10.2.0.0/24, fd00:2::/64
    h3 ─┘

The dual-stack switched LAN (examples/switch-lan.json) is deployed cold, then from the pool: what its nodes
say of themselves (host name, /etc/hostname, /etc/hosts, addresses, routes) is the same, and both families
route alike. A take runs no command in the member (no ``docker exec``) and changes no limit of a node that
has the site's defaults (no ``docker update``); a pooled node restarted keeps its node's name.
"""
from __future__ import annotations

import re
import time

import pytest

from tests.integration.test_node_restart import act, api
from tests.integration.test_pool import members, wait_for
from tests.integration.test_switch_lan import routes_both_families, switch_lan
from topology.models import LabEvent, SiteLimits

NODES = ("h1", "h2", "h3", "h4", "s1", "r1")
SELF = ("hostname", "cat /etc/hostname", "cat /etc/hosts", "ip -o addr show | sed 's/ valid_lft.*//'",
        "ip -4 route", "ip -6 route", "cat /proc/sys/net/ipv4/ip_forward")


@pytest.fixture
def pool_of_six(lab_worker, transactional_db):
    """Turns the pool on with room for the whole LAN (the filler fills it); drains it at the end."""
    from topology.engine.docker_runtime import DockerRuntime

    row = SiteLimits.current()
    runtime = DockerRuntime()

    def on(size: int) -> None:
        SiteLimits.objects.filter(pk=row.pk).update(pool_size=size, pool_memory_mb=256)
        wait_for(lambda: len([m for m in members(runtime) if m.state == "running"]) >= size, 60, "the pool to fill")

    yield on
    SiteLimits.objects.filter(pk=row.pk).update(pool_size=0)
    wait_for(lambda: not members(runtime), 60, "the pool to drain")


def what_nodes_say(labs, lab) -> dict:
    """Per node, what it says of itself: each answer's lines in order, but for the interfaces' index numbers
    and order (links are made in parallel: the kernel numbers them as they come, cold or not)."""
    said = {}
    # IPv6 duplicate address detection runs a while after an address is set (its "tentative" flag, in the
    # addresses' listing): the node is read once it has settled, cold or not.
    wait_for(lambda: not any("tentative" in labs.run(lab, n, "ip", "-o", "addr", "show")[1] for n in NODES), 15,
             "IPv6 address detection to end")
    for node in NODES:
        code, out = labs.run(lab, node, "/bin/sh", "-c", "; echo ---; ".join(SELF))
        assert code == 0, out
        # The words, not the padding: `ip -o` pads a line's end by what it printed before (a flag while DAD runs).
        said[node] = [sorted(re.sub(r"\s+", " ", re.sub(r"^\d+: ", "", line)).rstrip(" \\")
                             for line in part.strip().splitlines())
                      for part in out.split("---")]
    return said


def engine_events(labs, since: float, until: float, containers) -> list[str]:
    """What the engine did to ``containers`` between the two times: its event names ("exec_create: ...")."""
    stream = labs.runtime.api.events(since=since, until=until, decode=True, filters={"type": ["container"]})
    return [e.get("status") or e.get("Action") for e in stream if e.get("id") in containers]


def test_the_switched_dual_stack_lan_from_the_pool_is_the_cold_one_and_is_taken_without_exec(labs, pool_of_six):
    cold = labs.deploy(switch_lan())
    assert cold.state == "running", cold.reason
    routes_both_families(labs, cold)
    expected = what_nodes_say(labs, cold)
    labs.destroy(cold)

    pool_of_six(len(NODES))
    started = time.time()
    lab = labs.deploy(switch_lan())
    ended = time.time()
    assert lab.state == "running", lab.reason
    assert lab.pk == cold.pk  # the same lab again: its MACs, and so its link-local addresses, are the same
    # The take was a rename (the filler's refill meanwhile is on other containers; nothing has run in the lab
    # yet): no command run in the members, no limit changed (they were started with the site's default node
    # limits, the nodes' own).
    taken = set(lab.nodes.values_list("container_id", flat=True))
    done = engine_events(labs, started, ended, taken)
    assert "rename" in done and len([e for e in done if e == "rename"]) == len(NODES), done
    assert not [e for e in done if e.startswith("exec_") or e == "update"], done
    steps = {f"create {n}" for n in NODES}
    events = dict(LabEvent.objects.filter(lab=lab, operation=lab.operation, step__in=steps).values_list("step", "message"))
    assert events == {step: "from the warm pool" for step in steps}
    routes_both_families(labs, lab)
    said = what_nodes_say(labs, lab)
    differ = [f"{node}: {SELF[i]}: cold {part} pooled {said[node][i]}" for node, parts in expected.items()
              for i, part in enumerate(parts) if said[node][i] != part]
    assert not differ, "\n".join(differ)
    code, out = labs.run(lab, "s1", "ip", "-o", "link", "show", "master", "br0")
    assert code == 0 and sorted(re.findall(r"\d+: (eth\d)@", out)) == ["eth1", "eth2", "eth3", "eth4"]

    # Its start-up line is in its log all the same (written to its main process's output from the host).
    for node, container in lab.nodes.values_list("name", "container_id"):
        logs = labs.runtime.api.logs(container).decode()
        assert logs.startswith(f"{node}: started by Topolab (from the warm pool)\n"), logs[:200]
    labs.destroy(lab)


def test_a_pooled_node_restarted_keeps_its_nodes_name(labs, owner, pool_of_six):
    from tests.documents import reference_document

    pool_of_six(3)
    lab = labs.deploy(reference_document())
    assert lab.state == "running", lab.reason
    assert LabEvent.objects.filter(lab=lab, operation=lab.operation, step="create r1", message="from the warm pool").exists()
    response = act(api(owner), lab.topology_id, "r1", "restart")
    assert response.status_code == 200 and response.json()["state"] == "running", response.content
    lab.refresh_from_db()
    assert labs.run(lab, "r1", "hostname")[1].strip() == "r1"  # Docker gave it its member's name again
    assert labs.run(lab, "r1", "cat", "/etc/hostname")[1].strip() == "r1"
    logs = labs.runtime.api.logs(lab.nodes.get(name="r1").container_id).decode()
    assert logs.count("r1: started by Topolab (from the warm pool)") == 2, logs[:500]
    code, out = labs.run(lab, "c1", "ping", "-c", "1", "-W", "2", "192.168.11.2")
    assert code == 0 and "ttl=63" in out, out
    labs.destroy(lab)
