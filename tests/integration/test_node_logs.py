"""A node's Logs tell what Topolab did to it: sysctls, links, addresses, routes, each ``exec`` command with its
output and exit status; again after a restart. The real lab worker, relay, Docker Engine and kernel::

    c1 eth0 ---- eth0 r1 eth1 ---- eth0 c2

The lines are written into the container's own output, so ``docker logs`` and the Logs websocket (the
browser's Logs view and its pop-out) show the same.
"""
from __future__ import annotations

import re

from tests.documents import reference_document
from tests.integration.test_console import Terminal
from tests.integration.test_node_restart import act, api
from tests.websockets import fresh_channel_layer, run  # noqa: F401 (autouse)
from topology.engine import node_log
from topology.models import Topology

NOISE = 1_000_000  # bytes a noisy command prints: far more than a node's log keeps of it


def lab_document() -> dict:
    document = reference_document()
    for node in document["nodes"]:
        if node["name"] == "c1":
            node["exec"] = ["echo exec-out-$((6*7)); echo exec-err-$((6*8)) >&2",
                            f"head -c {NOISE} /dev/zero | tr '\\0' x"]
    return document


def docker_logs(labs, lab, node: str) -> str:
    container = lab.nodes.get(name=node).container_id
    return labs.runtime.api.logs(container, stdout=True, stderr=True).decode("utf-8", "replace")


START = "c1: started by Topolab"
EXPECTED = [
    r"^\[topolab\] eth0: linked to r1:eth0$",
    r"^\[topolab\] eth0: address 192\.168\.10\.2/24.*, up$",
    r"^\[topolab\] route (default|0\.0\.0\.0/0) via 192\.168\.10\.1$",
    r"^\[topolab\] \$ echo exec-out-\$\(\(6\*7\)\); echo exec-err-\$\(\(6\*8\)\) >&2$",
    # (its stdout and stderr, in either order: the two streams race)
    r"^(exec-out-42\nexec-err-48|exec-err-48\nexec-out-42)\n\[topolab\] exit status 0$",
]


def assert_told(text: str) -> None:
    """``text`` (a node's log since a start) has the start-up lines, in order."""
    at = 0
    for pattern in EXPECTED:
        found = re.compile(pattern, re.M).search(text, at)
        assert found, f"no {pattern!r} after position {at} in:\n{text[:3000]}"
        at = found.end()


def test_logs_show_what_the_deploy_and_a_restart_did_to_the_node(labs, owner, relay):
    lab = labs.deploy(lab_document())
    assert lab.state == "running", lab.reason
    logs = Terminal(lab, "c1", owner, kind="logs", query="")

    async def follow():
        await logs.open()
        await logs.read_until(rb"more bytes of output left out\)\n\[topolab\] exit status 0\n")  # the last command
        await logs.leave()

    run(follow)
    seen = logs.output.decode("utf-8", "replace")
    assert seen.startswith(START), seen[:300]
    assert_told(seen)
    # The noisy command is there, cut: its output is bounded, and says how much was left out.
    noisy = seen.index("[topolab] $ head -c")
    assert seen.count("x") < node_log.OUTPUT_LIMIT + 100
    assert re.search(r"\[topolab\] \(\d+ more bytes of output left out\)\n\[topolab\] exit status 0", seen[noisy:])
    # docker logs says the same (the lines are the container's own output).
    assert_told(docker_logs(labs, lab, "c1"))
    # r1 got its sysctls, links on both sides, and no exec lines.
    r1 = docker_logs(labs, lab, "r1")
    assert re.search(r"^\[topolab\] sysctl net\.ipv4\.ip_forward=1$", r1, re.M), r1
    assert "[topolab] eth0: linked to c1:eth0" in r1 and "[topolab] eth1: linked to c2:eth0" in r1
    assert "[topolab] $" not in r1

    # A restart: the node says it stopped, started again, and the lines come again.
    topology = Topology.objects.get(lab=lab)
    response = act(api(owner), topology.pk, "c1", "restart")
    assert response.status_code == 200, response.content
    after = docker_logs(labs, lab, "c1")
    assert after.count(START) == 2, after[:2000]
    first, second = after.split(START)[1:]
    assert "[topolab] stopping (by Topolab)" in first
    assert_told(second)
    again = Terminal(lab, "c1", owner, kind="logs", query="")

    async def follow_again():
        await again.open()
        end = rb"more bytes of output left out\)\n\[topolab\] exit status 0\n"
        first = await again.read_until(end)  # the first start's
        await again.read_until(end, since=first.end())
        await again.leave()

    run(follow_again)
    assert_told(again.output.decode("utf-8", "replace").split(START)[2])


def test_an_apply_tells_the_nodes_it_changed(labs, owner):
    import copy

    from tests.integration.test_apply import api as apply_api
    from tests.integration.test_apply import post_apply, settled

    lab = labs.deploy(reference_document())
    assert lab.state == "running", lab.reason
    topology = Topology.objects.get(lab=lab)
    document = copy.deepcopy(topology.document)
    document["links"][1]["endpoints"][0]["addresses"] = ["192.168.11.3/24"]
    response = post_apply(apply_api(owner), topology, document)
    assert response.status_code in (200, 202), response.content
    lab = settled(lab)
    assert lab.state == "running", lab.reason
    c2 = docker_logs(labs, lab, "c2")
    assert c2.count("c2: started by Topolab") == 1  # changed in place, not restarted
    assert re.search(r"^\[topolab\] eth0: address 192\.168\.11\.3/24, address 192\.168\.11\.2/24 removed", c2, re.M), c2
    assert "192.168.11.3" not in docker_logs(labs, lab, "c1")  # only the nodes the apply changed are told
