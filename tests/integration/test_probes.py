"""Probes on the reference lab, for real: they read the node's kernel state with Topolab's binaries.

    c1 (192.168.10.2/24) --eth0-- r1 --eth1-- c2 (192.168.11.2/24)

A student who is root in c1 and replaces ``/bin/ping`` with a script fakes a pass of a check run in c1
itself, never of one run in a probe; and no probe outlives its call, its session or the lab.
"""
from __future__ import annotations

import re
import time

from django.conf import settings

from tests.documents import reference_document
from topology import probes
from topology.engine import names

FAKE_PING = "#!/bin/sh\necho '64 bytes from 192.168.11.2: icmp_seq=1 ttl=63 time=0.1 ms'\necho '1 received'\nexit 0\n"


def probe_containers(labs, lab):
    return [c for c in labs.containers(lab) if c.labels.get(probes.LABEL_PROBE) == "1"]


def test_a_probe_reads_the_nodes_kernel_and_a_faked_ping_does_not_fool_it(labs):
    lab = labs.deploy(reference_document())
    assert lab.state == "running", lab.reason

    routes = probes.run_in_probe(lab.pk, "c1", ["ip", "-4", "route"], 10)
    assert routes["exit_code"] == 0, routes
    assert "default via 192.168.10.1 dev eth0" in routes["output"], routes
    addresses = probes.run_in_probe(lab.pk, "c1", ["ip", "-4", "-o", "addr", "show", "dev", "eth0"], 10)
    assert "inet 192.168.10.2/24" in addresses["output"], addresses
    ping = probes.run_in_probe(lab.pk, "c1", ["ping", "-c1", "-W2", "192.168.11.2"], 10)
    assert ping["exit_code"] == 0 and re.search(r"ttl=63\b", ping["output"]), ping
    # Sysctls under net. are the node's namespace's: r1 forwards, c1 does not.
    assert probes.run_in_probe(lab.pk, "r1", ["sysctl", "-n", "net.ipv4.ip_forward"], 10)["output"].strip() == "1"
    assert probes.run_in_probe(lab.pk, "c1", ["sysctl", "-n", "net.ipv4.ip_forward"], 10)["output"].strip() == "0"
    # Without CAP_NET_ADMIN a probe cannot read (nor change) nftables: such checks run "in": "node".
    assert probes.run_in_probe(lab.pk, "c1", ["nft", "list", "ruleset"], 10)["exit_code"] != 0
    assert probe_containers(labs, lab) == []

    # The student, root in c1, fakes ping and breaks the route.
    c1 = lab.nodes.get(name="c1").container_id
    code, output = labs.run(lab, "c1", "sh", "-c", 'printf "%s" "$1" > /bin/ping && chmod 755 /bin/ping', "sh", FAKE_PING)
    assert code == 0, output
    code, output = labs.run(lab, "c1", "ip", "route", "del", "default")
    assert code == 0, output
    code, output = labs.run(lab, "c1", "ping", "-c1", "-W1", "192.168.11.2")
    assert code == 0 and "ttl=63" in output  # in the node itself the fake passes
    ping = probes.run_in_probe(lab.pk, "c1", ["ping", "-c1", "-W1", "192.168.11.2"], 10)
    assert ping["exit_code"] != 0 and "ttl=63" not in ping["output"], ping
    assert "unreachable" in ping["output"].lower(), ping
    routes = probes.run_in_probe(lab.pk, "c1", ["ip", "-4", "route"], 10)
    assert "default" not in routes["output"], routes
    assert probe_containers(labs, lab) == []
    assert lab.nodes.get(name="c1").container_id == c1

    lab = labs.destroy(lab)
    assert labs.containers(lab) == []
    assert probes.run_in_probe(lab.pk, "c1", ["true"], 5)["error"] == "not_running"


def test_a_session_keeps_one_probe_per_node_and_a_timeout_ends_the_command(labs):
    lab = labs.deploy(reference_document())
    assert lab.state == "running", lab.reason
    with probes.Session(lab.pk) as session:
        for _ in range(3):
            assert session.run("c1", ["ping", "-c1", "-W2", "192.168.10.1"], 10)["exit_code"] == 0
            assert session.run("c2", ["ip", "-o", "-4", "addr"], 10)["exit_code"] == 0
        running = probe_containers(labs, lab)
        assert sorted(c.labels[probes.LABEL_PROBE_NODE] for c in running) == ["c1", "c2"]
        for container in running:
            assert names.LABEL_NODE not in container.labels  # the watcher never takes it for its node
            assert container.labels[names.LABEL_SITE] == settings.TOPOLAB_SITE
            inspected = labs.runtime.api.inspect_container(container.id)["HostConfig"]
            assert inspected["NetworkMode"] == "container:" + lab.nodes.get(
                name=container.labels[probes.LABEL_PROBE_NODE]).container_id
            assert inspected["CapDrop"] == ["ALL"] and inspected["CapAdd"] == ["NET_RAW"]
            assert inspected["ReadonlyRootfs"] is True and inspected["Privileged"] is False

        started = time.monotonic()
        answer = session.run("c1", ["sleep", "30"], 1)
        assert answer["timed_out"] is True and answer["exit_code"] == 124, answer
        assert time.monotonic() - started < 8
        assert session.run("c1", ["true"], 5)["exit_code"] == 0  # the probe outlives a command's timeout
        assert session.run("nosuch", ["true"], 5)["error"] == "no_node"
    assert probe_containers(labs, lab) == []
    labs.destroy(lab)


def test_a_probe_left_behind_is_removed_with_its_lab(labs):
    lab = labs.deploy(reference_document())
    assert lab.state == "running", lab.reason
    node = lab.nodes.get(name="c2")
    # As a worker that crashed mid-call would leave it: opened, never closed.
    probe = probes.Probe(labs.runtime, probes.probe_spec(settings.TOPOLAB_SITE, lab.pk, "c2", "student",
                                                         node.container_id, "topolab/base"))
    probe.open()
    assert [c.id for c in probe_containers(labs, lab)] == [probe.container_id]
    lab = labs.destroy(lab)
    assert lab.state == "stopped", lab.reason
    assert labs.containers(lab) == []
