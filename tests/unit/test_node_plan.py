"""Unit tests of :mod:`topology.engine.node_plan`: one node of a running lab stopped and started again, wired to
its running neighbours as a deploy wires it, and nothing else touched."""
from __future__ import annotations

from tests.unit.test_plan import ALIAS, CTX, doc, link, phase, phase_names, reference, steps_of
from topology.engine import names
from topology.engine.node_plan import StopContainer, UnplugNode, restart_plan, start_plan, stop_plan
from topology.engine.plan import (
    AddRoute,
    ConfigureInterface,
    CreateBridge,
    CreateContainer,
    CreateLink,
    ExecSequence,
    Impair,
    SetSysctls,
    StartContainer,
    build_plan,
)
from topology.schema import parse
from topology.schema.models import Impairment

RUNNING_BUT_R1 = {"c1", "c2"}


def test_stopping_unplugs_the_node_then_stops_its_container():
    plan = stop_plan(CTX, "r1")
    assert phase_names(plan) == ["unplug", "stop container"]
    # Every interface with the lab's alias goes, whatever the document calls them since it was edited.
    assert plan.steps == [UnplugNode(node="r1", alias=ALIAS), StopContainer(node="r1")]


# -- the reference lab: r1 started again ----------------------------------------------
#
#     c1 eth0 ---- eth0 r1 eth1 ---- eth0 c2        r1 starts; c1 and c2 run
#
def test_a_started_router_gets_the_same_steps_for_its_own_part_as_at_deploy():
    document = parse(reference())
    plan = start_plan(document, CTX, "r1", RUNNING_BUT_R1, container_exists=True)
    deploy = build_plan(document, CTX)
    assert phase_names(plan) == ["start container", "create links", "set sysctls", "configure interfaces",
                                 "add routes"]
    assert steps_of(plan, StartContainer) == [StartContainer(node="r1")]
    assert steps_of(plan, CreateContainer) == []  # its container is kept
    # The veths are born again under the same names, between the same ends, with the lab's alias.
    assert steps_of(plan, CreateLink) == [
        CreateLink(node="r1", interface="eth0", peer_node="c1", peer_interface="eth0", alias=ALIAS),
        CreateLink(node="r1", interface="eth1", peer_node="c2", peer_interface="eth0", alias=ALIAS),
    ]
    # Both ends of both links are configured as at deploy: same addresses and MACs.
    assert sorted(steps_of(plan, ConfigureInterface), key=repr) == sorted(steps_of(deploy, ConfigureInterface), key=repr)
    assert steps_of(plan, SetSysctls) == [s for s in steps_of(deploy, SetSysctls) if s.node == "r1"]


def test_the_neighbours_routes_come_back_and_those_still_there_are_fine():
    plan = start_plan(parse(reference()), CTX, "r1", RUNNING_BUT_R1, container_exists=True)
    assert steps_of(plan, AddRoute) == [
        AddRoute(node="c1", to="0.0.0.0/0", via="192.168.10.1", exist_ok=True),
        AddRoute(node="c2", to="0.0.0.0/0", via="192.168.11.1", exist_ok=True),
    ]


def test_a_client_started_again_touches_only_the_routers_end_of_its_link():
    plan = start_plan(parse(reference()), CTX, "c1", {"r1", "c2"}, container_exists=True)
    assert steps_of(plan, CreateLink) == [
        CreateLink(node="c1", interface="eth0", peer_node="r1", peer_interface="eth0", alias=ALIAS)]
    assert {(s.node, s.interface) for s in steps_of(plan, ConfigureInterface)} == {("c1", "eth0"), ("r1", "eth0")}
    assert {s.node for s in plan.steps} == {"c1", "r1"}  # nothing of c2
    # c1's own sysctls again (a host does not forward); r1's are not of this interface: none is written again.
    assert steps_of(plan, SetSysctls) == [s for s in steps_of(build_plan(parse(reference()), CTX), SetSysctls)
                                          if s.node == "c1"]
    assert steps_of(plan, AddRoute) == [AddRoute(node="c1", to="0.0.0.0/0", via="192.168.10.1", exist_ok=True)]


def test_a_link_to_a_neighbour_that_is_not_running_is_left_for_that_neighbours_start():
    plan = start_plan(parse(reference()), CTX, "r1", {"c1"}, container_exists=True)
    assert steps_of(plan, CreateLink) == [
        CreateLink(node="r1", interface="eth0", peer_node="c1", peer_interface="eth0", alias=ALIAS)]
    assert {(s.node, s.interface) for s in steps_of(plan, ConfigureInterface)} == {("r1", "eth0"), ("c1", "eth0")}
    assert "c2" not in {s.node for s in plan.steps}
    # ...and c2, started later, gets its link to r1 and its default route.
    later = start_plan(parse(reference()), CTX, "c2", {"c1", "r1"}, container_exists=True)
    assert steps_of(later, CreateLink) == [
        CreateLink(node="c2", interface="eth0", peer_node="r1", peer_interface="eth1", alias=ALIAS)]
    assert steps_of(later, AddRoute) == [AddRoute(node="c2", to="0.0.0.0/0", via="192.168.11.1", exist_ok=True)]


def test_a_route_through_a_neighbour_that_is_not_running_is_left_out():
    # c1's default route is via r1: with r1 stopped, c1 started alone gets its container and no route.
    plan = start_plan(parse(reference()), CTX, "c1", {"c2"}, container_exists=True)
    assert steps_of(plan, CreateLink) == [] and steps_of(plan, AddRoute) == []
    assert phase_names(plan) == ["start container", "set sysctls"]


def test_a_node_whose_container_is_gone_gets_a_new_one_as_at_deploy():
    document = parse(reference())
    plan = start_plan(document, CTX, "r1", RUNNING_BUT_R1, container_exists=False)
    assert phase_names(plan)[:2] == ["create container", "start container"]
    assert steps_of(plan, CreateContainer) == [s for s in steps_of(build_plan(document, CTX), CreateContainer)
                                              if s.node == "r1"]


def test_a_restart_stops_then_starts_keeping_the_container():
    plan = restart_plan(parse(reference()), CTX, "r1", RUNNING_BUT_R1)
    assert phase_names(plan)[:3] == ["unplug", "stop container", "start container"]
    assert steps_of(plan, CreateContainer) == []


# -- state, impairment, MTU, MAC, exec ------------------------------------------------------
#
#     a eth0 ==(down, mtu 9000, 30 % loss, a's mac given)== eth0 b        a restarts
#
def test_a_down_impaired_link_comes_back_down_impaired_with_its_mtu_and_macs():
    data = link("a", "eth0", "b", "eth0", ["10.0.0.1/30"], ["10.0.0.2/30"], state="down", mtu=9000,
                impairment={"loss_percent": 30})
    data["endpoints"][0]["mac"] = "02:00:00:00:00:0a"
    document = doc([{"name": "a", "routes": [{"to": "10.9.0.0/16", "via": "10.0.0.2"}],
                     "exec": ["echo hi"]}, {"name": "b"}], [data])
    plan = start_plan(document, CTX, "a", {"b"}, container_exists=True)
    assert sorted(steps_of(plan, ConfigureInterface), key=repr) == sorted([
        ConfigureInterface(node="a", interface="eth0", addresses=("10.0.0.1/30",), mac="02:00:00:00:00:0a",
                           mtu=9000, up=False),
        ConfigureInterface(node="b", interface="eth0", addresses=("10.0.0.2/30",),
                           mac=names.interface_mac(CTX.site, CTX.lab_id, "b", "eth0"), mtu=9000, up=False),
    ], key=repr)
    assert steps_of(plan, Impair) == [Impair(node="a", interface="eth0", impairment=Impairment(loss_percent=30)),
                                      Impair(node="b", interface="eth0", impairment=Impairment(loss_percent=30))]
    assert steps_of(plan, AddRoute) == []  # through a down link: it comes back when the link is set up
    assert steps_of(plan, ExecSequence) == [ExecSequence(node="a", commands=("echo hi",))]
    assert phase_names(plan)[-1] == "run exec commands"


def test_interface_sysctls_follow_the_ends_that_are_made_again():
    document = doc([
        {"name": "r", "kind": "router", "sysctls": {"net.ipv4.conf.eth0.rp_filter": "2",
                                                     "net.ipv4.conf.eth1.rp_filter": "2"}},
        {"name": "x", "sysctls": {"net.ipv4.conf.eth0.rp_filter": "0", "net.ipv4.tcp_syncookies": "0"}},
        {"name": "y"},
    ], [link("r", "eth0", "x", "eth0", ["10.0.0.1/30"], ["10.0.0.2/30"]),
        link("r", "eth1", "y", "eth0", ["10.0.1.1/30"], ["10.0.1.2/30"])])
    # r starts while y is stopped: its own sysctls but eth1's; x's of the interface made again, nothing else.
    plan = start_plan(document, CTX, "r", {"x"}, container_exists=True)
    by_node = {s.node: dict(s.values) for s in steps_of(plan, SetSysctls)}
    assert "net.ipv4.conf.eth1.rp_filter" not in by_node["r"]
    assert by_node["r"]["net.ipv4.conf.eth0.rp_filter"] == "2" and by_node["r"]["net.ipv4.ip_forward"] == "1"
    assert by_node["x"] == {"net.ipv4.conf.eth0.rp_filter": "0"}


#     h1 eth0 ---- p1 [sw1 br0] p2 ---- eth0 h2        sw1 restarts
def test_a_switch_started_again_gets_its_bridge_and_its_ports_back():
    document = doc([{"name": "h1"}, {"name": "sw1", "kind": "switch"}, {"name": "h2"}],
                   [link("h1", "eth0", "sw1", "p1", ["10.0.0.1/24"]), link("h2", "eth0", "sw1", "p2", ["10.0.0.2/24"])])
    plan = start_plan(document, CTX, "sw1", {"h1", "h2"}, container_exists=True)
    assert phase(plan, "create bridge").steps == (CreateBridge(node="sw1", bridge="br0", alias=ALIAS),)
    order = phase_names(plan)
    assert order.index("create links") < order.index("create bridge") < order.index("configure interfaces")
    masters = {(s.node, s.interface): s.master for s in steps_of(plan, ConfigureInterface)}
    assert masters == {("sw1", "p1"): "br0", ("h1", "eth0"): None, ("sw1", "p2"): "br0", ("h2", "eth0"): None}
    # h1, started again while sw1 runs, becomes a port of sw1's bridge again.
    plan = start_plan(document, CTX, "h1", {"sw1", "h2"}, container_exists=True)
    masters = {(s.node, s.interface): s.master for s in steps_of(plan, ConfigureInterface)}
    assert masters == {("h1", "eth0"): None, ("sw1", "p1"): "br0"}
