"""Unit tests of :mod:`topology.engine.plan`: a valid document turns into phases of steps.

The planner is pure (no root, no I/O), so every test builds a document, plans
it and looks at the steps. Each test that builds a topology draws it.
"""
from __future__ import annotations

import dataclasses
import functools
import re

import pytest

from tests.documents import reference_document
from topology import kinds
from topology.engine import names
from topology.engine.names import LABEL_LAB, LABEL_NODE, LABEL_OWNER, LABEL_SITE
from topology.engine.plan import (
    AddRoute,
    ConfigureInterface,
    Context,
    CreateBridge,
    CreateContainer,
    CreateLink,
    ExecSequence,
    Impair,
    PlanError,
    SetSysctls,
    StartContainer,
    build_plan,
    check_deployable,
)
from topology.schema import Limits, Problem, parse
from topology.schema.models import Impairment

SITE, LAB, OWNER = "unit", 7, "alice"
ALIAS = f"topolab:{SITE}:{LAB}"
CTX = Context(site=SITE, lab_id=LAB, owner=OWNER)

def reference() -> dict:
    return reference_document()


def doc(nodes, links=(), name="unit-lab"):
    return parse({"format": "topolab/v1", "name": name, "nodes": list(nodes), "links": list(links)})


def link(a, a_if, b, b_if, a_addrs=(), b_addrs=(), **extra):
    return {"endpoints": [{"node": a, "interface": a_if, "addresses": list(a_addrs)},
                          {"node": b, "interface": b_if, "addresses": list(b_addrs)}], **extra}


def phase_names(plan):
    return [phase.name for phase in plan.phases]


def steps_of(plan, kind):
    return [step for step in plan.steps if isinstance(step, kind)]


def phase(plan, name):
    (found,) = [p for p in plan.phases if p.name == name]
    return found


# -- the reference document -------------------------------------------------------
#
#     c1 (192.168.10.2) eth0 ---- eth0 r1 eth1 ---- eth0 c2 (192.168.11.2)
#                       192.168.10.1 ^       ^ 192.168.11.1
#     default via 192.168.10.1 (c1), via 192.168.11.1 (c2); r1 forwards
#
def test_it_plans_the_reference_document_in_phase_order():
    plan = build_plan(parse(reference()), CTX)
    assert phase_names(plan) == ["create containers", "start containers", "create links", "set sysctls",
                                 "configure interfaces", "add routes"]
    sizes = {p.name: len(p) for p in plan.phases}
    assert {k: v for k, v in sizes.items() if k != "set sysctls"} == {
        "create containers": 3, "start containers": 3, "create links": 2, "configure interfaces": 4, "add routes": 2}
    assert 1 <= sizes["set sysctls"] <= 3  # the router's, and maybe the hosts' (forwarding off)
    assert len(plan) == sum(sizes.values()) == len(plan.steps)


def test_it_creates_the_reference_containers_with_names_images_labels_and_defaults():
    plan = build_plan(parse(reference()), CTX)
    creates = phase(plan, "create containers").steps
    assert [s.node for s in creates] == ["c1", "r1", "c2"]
    for step in creates:
        assert isinstance(step, CreateContainer)
        assert step.container == f"topolab-{SITE}-{LAB}-{step.node}"
        assert step.image == "topolab/base"
        assert step.labels == {LABEL_SITE: SITE, LABEL_LAB: str(LAB), LABEL_NODE: step.node, LABEL_OWNER: OWNER}
        assert step.env == {} and step.files == ()
        assert (step.cpus, step.memory_mb, step.pids) == (1.0, 256, 256)
        assert step.capabilities == ("NET_ADMIN",)
        assert step.command[:2] == ("/bin/sh", "-c") and step.command[2].endswith("; exec sleep infinity")
        assert step.title == f"create {step.node}"
    starts = phase(plan, "start containers").steps
    assert starts == (StartContainer("c1"), StartContainer("r1"), StartContainer("c2"))


def test_it_links_the_reference_nodes_with_the_lab_alias():
    plan = build_plan(parse(reference()), CTX)
    assert phase(plan, "create links").steps == (
        CreateLink(node="c1", interface="eth0", peer_node="r1", peer_interface="eth0", alias=ALIAS),
        CreateLink(node="c2", interface="eth0", peer_node="r1", peer_interface="eth1", alias=ALIAS),
    )
    assert [s.title for s in phase(plan, "create links").steps] == ["link c1:eth0 - r1:eth0", "link c2:eth0 - r1:eth1"]


def test_it_turns_forwarding_on_in_the_reference_router_only():
    plan = build_plan(parse(reference()), CTX)
    sysctls = {s.node: dict(s.values) for s in phase(plan, "set sysctls").steps}
    assert sysctls["r1"] == {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1"}
    for host in ("c1", "c2"):
        assert sysctls.get(host, {}).get("net.ipv4.ip_forward", "0") == "0"
        assert sysctls.get(host, {}).get("net.ipv6.conf.all.forwarding", "0") == "0"
    assert len(sysctls) == len(phase(plan, "set sysctls").steps)  # one step per node


def test_it_addresses_every_reference_interface():
    plan = build_plan(parse(reference()), CTX)
    mac = functools.partial(names.interface_mac, SITE, LAB)
    assert phase(plan, "configure interfaces").steps == (
        ConfigureInterface(node="c1", interface="eth0", addresses=("192.168.10.2/24",), mac=mac("c1", "eth0")),
        ConfigureInterface(node="r1", interface="eth0", addresses=("192.168.10.1/24",), mac=mac("r1", "eth0")),
        ConfigureInterface(node="c2", interface="eth0", addresses=("192.168.11.2/24",), mac=mac("c2", "eth0")),
        ConfigureInterface(node="r1", interface="eth1", addresses=("192.168.11.1/24",), mac=mac("r1", "eth1")),
    )
    for step in phase(plan, "configure interfaces").steps:
        assert step.up is True and step.mtu is None and step.master is None


def test_an_end_without_a_mac_gets_the_same_one_every_time_and_one_of_its_own():
    macs = [step.mac for step in phase(build_plan(parse(reference()), CTX), "configure interfaces").steps]
    again = [step.mac for step in phase(build_plan(parse(reference()), CTX), "configure interfaces").steps]
    other_lab = [step.mac for step in phase(build_plan(parse(reference()), Context(site=SITE, lab_id=LAB + 1,
                                                                                  owner=OWNER)),
                                            "configure interfaces").steps]
    assert macs == again and len(set(macs)) == 4 and not set(macs) & set(other_lab)
    for mac in macs:  # locally administered unicast
        first = int(mac.split(":")[0], 16)
        assert first & 0b11 == 0b10 and re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", mac)


def test_it_routes_the_reference_clients_through_the_router():
    plan = build_plan(parse(reference()), CTX)
    routes = phase(plan, "add routes").steps
    assert routes == (AddRoute(node="c1", to="0.0.0.0/0", via="192.168.10.1"),
                      AddRoute(node="c2", to="0.0.0.0/0", via="192.168.11.1"))
    assert [r.title for r in routes] == ["route c1: 0.0.0.0/0 via 192.168.10.1",
                                        "route c2: 0.0.0.0/0 via 192.168.11.1"]


def test_it_names_containers_after_the_context():
    plan = build_plan(parse(reference()), Context(site="other", lab_id=99, owner="bob"))
    create = steps_of(plan, CreateContainer)[0]
    assert create.container == "topolab-other-99-c1"
    assert create.labels[LABEL_OWNER] == "bob" and create.labels[LABEL_LAB] == "99"
    assert {s.alias for s in steps_of(plan, CreateLink)} == {"topolab:other:99"}


def test_it_plans_an_empty_lab_as_nothing_to_do():
    plan = build_plan(doc([]), CTX)
    assert plan.phases == () and len(plan) == 0 and plan.steps == []


# -- switches --------------------------------------------------------------------
#
#     h1 eth0 ---- p1 [sw1 br0] p2 ---- eth0 h2
#     10.0.0.1/24                      10.0.0.2/24
#
def switch_doc():
    return doc(
        [{"name": "h1"}, {"name": "sw1", "kind": "switch"}, {"name": "h2"}],
        [link("h1", "eth0", "sw1", "p1", ["10.0.0.1/24"]), link("h2", "eth0", "sw1", "p2", ["10.0.0.2/24"])],
    )


def test_it_gives_a_switch_a_bridge_before_its_interfaces_are_configured():
    plan = build_plan(switch_doc(), CTX)
    assert phase(plan, "create bridges").steps == (CreateBridge(node="sw1", bridge="br0", alias=ALIAS),)
    order = phase_names(plan)
    assert order.index("create links") < order.index("create bridges") < order.index("configure interfaces")


def test_it_makes_a_switch_interfaces_ports_of_its_bridge():
    plan = build_plan(switch_doc(), CTX)
    masters = {(s.node, s.interface): s.master for s in steps_of(plan, ConfigureInterface)}
    assert masters == {("h1", "eth0"): None, ("sw1", "p1"): "br0", ("h2", "eth0"): None, ("sw1", "p2"): "br0"}


def test_it_gives_no_bridge_to_a_lab_without_switches():
    plan = build_plan(parse(reference()), CTX)
    assert "create bridges" not in phase_names(plan) and steps_of(plan, CreateBridge) == []


# -- IPv6 --------------------------------------------------------------------------
#
#     v6a eth0 ---- eth0 v6r eth1 ---- eth0 v4b
#     2001:db8::2/64   2001:db8::1/64   10.0.0.1/24   10.0.0.2/24
#
def test_it_turns_ipv6_on_in_nodes_given_ipv6_addresses():
    plan = build_plan(doc(
        [{"name": "v6a", "routes": [{"to": "default", "via": "2001:db8::1"}]},
         {"name": "v6r", "kind": "router"}, {"name": "v4b"}],
        [link("v6a", "eth0", "v6r", "eth0", ["2001:db8::2/64"], ["2001:db8::1/64"]),
         link("v6r", "eth1", "v4b", "eth0", ["10.0.0.1/24"], ["10.0.0.2/24"])],
    ), CTX)
    sysctls = {s.node: dict(s.values) for s in steps_of(plan, SetSysctls)}
    ipv6_on = {"net.ipv6.conf.all.disable_ipv6": "0", "net.ipv6.conf.default.disable_ipv6": "0"}
    assert sysctls["v6a"].items() >= ipv6_on.items()
    assert sysctls["v6r"].items() >= {**ipv6_on, "net.ipv4.ip_forward": "1",
                                      "net.ipv6.conf.all.forwarding": "1"}.items()
    assert not any("disable_ipv6" in key for key in sysctls.get("v4b", {}))  # IPv4 only: left as it is
    assert steps_of(plan, AddRoute) == [AddRoute(node="v6a", to="::/0", via="2001:db8::1")]
    order = phase_names(plan)
    assert order.index("set sysctls") < order.index("configure interfaces")


def test_it_lets_a_node_sysctls_win_over_its_kind():
    #   r1 (router, forwarding explicitly off, rp_filter set) - no links
    plan = build_plan(doc([{"name": "r1", "kind": "router",
                            "sysctls": {"net.ipv4.ip_forward": "0", "net.ipv4.conf.all.rp_filter": "2"}}]), CTX)
    (step,) = steps_of(plan, SetSysctls)
    assert dict(step.values) == {"net.ipv4.ip_forward": "0", "net.ipv6.conf.all.forwarding": "1",
                                 "net.ipv4.conf.all.rp_filter": "2"}


# -- resources -----------------------------------------------------------------------
def resources_of(plan):
    return {s.node: (s.cpus, s.memory_mb, s.pids) for s in steps_of(plan, CreateContainer)}


def test_it_gives_resources_defaults_and_caps_them_by_the_limits():
    #   small  big  half   (three unlinked hosts)
    plan = build_plan(doc([
        {"name": "small"},
        {"name": "big", "resources": {"cpus": 64, "memory_mb": 1_000_000, "pids": 1_000_000}},
        {"name": "half", "resources": {"cpus": 0.5}},
    ]), Context(site=SITE, lab_id=LAB, owner=OWNER,
                limits=Limits(max_cpus=3.0, max_memory_mb=1024, max_pids=500),
                default_resources={"cpus": 1.0, "memory_mb": 128, "pids": 100}))
    assert resources_of(plan) == {"small": (1.0, 128, 100), "big": (3.0, 1024, 500), "half": (0.5, 128, 100)}


def test_it_caps_server_defaults_by_the_limits_too():
    plan = build_plan(doc([{"name": "a"}]), Context(
        site=SITE, lab_id=LAB, owner=OWNER, limits=Limits(max_cpus=0.25, max_memory_mb=64, max_pids=32),
        default_resources={"cpus": 1.0, "memory_mb": 256, "pids": 256}))
    assert resources_of(plan) == {"a": (0.25, 64, 32)}


def test_it_gives_resources_the_types_the_runtime_expects():
    plan = build_plan(doc([{"name": "a", "resources": {"cpus": 1, "memory_mb": 512, "pids": 64}}]), CTX)
    (step,) = steps_of(plan, CreateContainer)
    assert (step.cpus, step.memory_mb, step.pids) == (1.0, 512, 64)
    assert type(step.cpus) is float and type(step.memory_mb) is int and type(step.pids) is int


# -- link options -----------------------------------------------------------------------
#
#     a eth0 ==(mtu 9000, down)== eth0 b
#     mac 02:00:00:00:00:0a
#
def test_it_passes_link_mtu_mac_and_state_down_to_both_interfaces():
    data = link("a", "eth0", "b", "eth0", ["10.0.0.1/30"], ["10.0.0.2/30"], mtu=9000, state="down")
    data["endpoints"][0]["mac"] = "02:00:00:00:00:0a"
    plan = build_plan(doc([{"name": "a"}, {"name": "b"}], [data]), CTX)
    assert steps_of(plan, ConfigureInterface) == [
        ConfigureInterface(node="a", interface="eth0", addresses=("10.0.0.1/30",), mac="02:00:00:00:00:0a",
                           mtu=9000, up=False),
        ConfigureInterface(node="b", interface="eth0", addresses=("10.0.0.2/30",),
                           mac=names.interface_mac(SITE, LAB, "b", "eth0"), mtu=9000, up=False),
    ]


def test_it_leaves_an_up_link_up():
    plan = build_plan(doc([{"name": "a"}, {"name": "b"}], [link("a", "eth0", "b", "eth0", state="up")]), CTX)
    assert [s.up for s in steps_of(plan, ConfigureInterface)] == [True, True]


# -- impairment --------------------------------------------------------------------------
#
#     a eth0 ~~(20 ms +- 5, 1.5 % loss, 1000 kbit)~~ eth0 b     c eth1 ---- eth1 b
#
def test_it_impairs_both_ends_of_an_impaired_link_only():
    impairment = {"delay_ms": 20, "jitter_ms": 5, "loss_percent": 1.5, "rate_kbit": 1000}
    plan = build_plan(doc(
        [{"name": "a"}, {"name": "b"}, {"name": "c"}],
        [link("a", "eth0", "b", "eth0", impairment=impairment), link("c", "eth1", "b", "eth1")],
    ), CTX)
    assert phase(plan, "impair links").steps == (
        Impair(node="a", interface="eth0", impairment=Impairment(**impairment)),
        Impair(node="b", interface="eth0", impairment=Impairment(**impairment)),
    )
    order = phase_names(plan)
    assert order.index("configure interfaces") < order.index("impair links")


def test_it_passes_a_partial_impairment_as_given():
    plan = build_plan(doc([{"name": "a"}, {"name": "b"}],
                          [link("a", "eth0", "b", "eth0", impairment={"rate_kbit": 64})]), CTX)
    for step in steps_of(plan, Impair):
        got = step.impairment
        assert (got.delay_ms, got.jitter_ms, got.loss_percent, got.rate_kbit) == (None, None, None, 64)


# -- exec ---------------------------------------------------------------------------------
#
#     a eth0 ---- eth0 b        c (no commands)
#
def test_it_makes_one_exec_sequence_per_node_with_commands_last():
    plan = build_plan(doc(
        [{"name": "a", "exec": ["ip link show", "ping -c1 10.0.0.2", "echo done"]},
         {"name": "b", "exec": ["true"]}, {"name": "c"}],
        [link("a", "eth0", "b", "eth0", ["10.0.0.1/24"], ["10.0.0.2/24"])],
    ), CTX)
    assert phase_names(plan)[-1] == "run exec commands"
    assert phase(plan, "run exec commands").steps == (
        ExecSequence(node="a", commands=("ip link show", "ping -c1 10.0.0.2", "echo done")),
        ExecSequence(node="b", commands=("true",)),
    )
    assert [s.title for s in steps_of(plan, ExecSequence)] == ["exec a (3 commands)", "exec b (1 command)"]


def test_it_has_no_exec_phase_without_commands():
    assert "run exec commands" not in phase_names(build_plan(parse(reference()), CTX))


# -- kinds ---------------------------------------------------------------------------------
#
#     h1 ---- f1 (frr) ---- f2 (frr)
#
@pytest.fixture
def frr_refused(monkeypatch):
    """The frr kind as it was before it could be deployed: a kind this engine refuses."""
    monkeypatch.setitem(kinds.KINDS, "frr", dataclasses.replace(kinds.KINDS["frr"],
                                                                deploy_refusal="FRR support has not landed yet"))


def test_it_refuses_a_kind_that_cannot_be_deployed_with_the_kind_path_of_every_such_node(frr_refused):
    document = doc([{"name": "h1"}, {"name": "f1", "kind": "frr"}, {"name": "f2", "kind": "frr"}],
                   [link("h1", "eth0", "f1", "eth0"), link("f1", "eth1", "f2", "eth0")])
    with pytest.raises(PlanError) as caught:
        build_plan(document, CTX)
    assert [p.path for p in caught.value.problems] == ["nodes[1].kind", "nodes[2].kind"]
    assert all(isinstance(p, Problem) and "frr" in p.message for p in caught.value.problems)
    assert isinstance(caught.value, ValueError)


def test_it_checks_deployable_kinds_without_planning(frr_refused):
    check_deployable(parse(reference()))  # host and router: fine
    with pytest.raises(PlanError) as caught:
        check_deployable(doc([{"name": "f0", "kind": "frr"}]))
    assert caught.value.problems == [caught.value.problems[0]._replace(path="nodes[0].kind")]


@pytest.mark.parametrize("kind", ["host", "router", "switch"])
def test_it_gives_every_deployable_kind_only_net_admin(kind):
    (step,) = steps_of(build_plan(doc([{"name": "n1", "kind": kind}]), CTX), CreateContainer)
    assert step.capabilities == ("NET_ADMIN",)


# -- files, env, image --------------------------------------------------------------------------
def test_it_keeps_file_modes_as_integers():
    #   n1 (three files, no links)
    plan = build_plan(doc([{"name": "n1", "files": [
        {"path": "/etc/motd", "content": "hi\n"},
        {"path": "/usr/local/bin/go", "content": "#!/bin/sh\n", "mode": "0755"},
        {"path": "/root/secret", "content": "s", "mode": "600"},
    ]}]), CTX)
    (step,) = steps_of(plan, CreateContainer)
    assert step.files == (("/etc/motd", "hi\n", 0o644), ("/usr/local/bin/go", "#!/bin/sh\n", 0o755),
                          ("/root/secret", "s", 0o600))
    assert all(type(mode) is int for _, _, mode in step.files)


def test_it_passes_env_and_a_custom_image_through():
    plan = build_plan(doc([{"name": "n1", "image": "alpine:3.20", "env": {"GREETING": "hello"}}]), CTX)
    (step,) = steps_of(plan, CreateContainer)
    assert step.image == "alpine:3.20" and step.env == {"GREETING": "hello"}
