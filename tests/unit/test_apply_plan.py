"""Unit tests of :mod:`topology.engine.apply_plan`: what "Apply changes" does to a running lab, step by step, and
that it touches nothing that did not change."""
from __future__ import annotations

import copy
import dataclasses

import pytest

from tests.unit.test_plan import ALIAS, CTX, phase_names, reference, steps_of
from topology import kinds
from topology.engine.apply_plan import (
    DeleteInterface,
    DeleteRoute,
    ReconfigureInterface,
    RemoveContainer,
    WriteFiles,
    apply_plan,
)
from topology.engine.node_plan import UnplugNode
from topology.engine.plan import (
    AddRoute,
    ConfigureInterface,
    CreateContainer,
    CreateLink,
    Impair,
    PlanError,
    SetSysctls,
    StartContainer,
)
from topology.schema import parse
from topology.schema.models import Impairment

ALL = {"c1", "r1", "c2"}


def edited(change) -> dict:
    data = reference()
    change(data)
    return data


def node(data, name) -> dict:
    return next(n for n in data["nodes"] if n["name"] == name)


def plan_for(change, running=ALL):
    return apply_plan(parse(reference()), parse(edited(change)), CTX, set(running))


def touched(plan) -> set[str]:
    nodes = {step.node for step in plan.steps}
    return nodes | {step.peer_node for step in steps_of(plan, CreateLink)}


#     c1 ---- r1 ---- c2           + c3 (192.168.12.2/24) on r1:eth2 (192.168.12.1/24)
#              \\---- c3
def add_c3(data):
    data["nodes"].append({"name": "c3", "routes": [{"to": "default", "via": "192.168.12.1"}]})
    data["links"].append({"endpoints": [{"node": "c3", "interface": "eth0", "addresses": ["192.168.12.2/24"]},
                                        {"node": "r1", "interface": "eth2", "addresses": ["192.168.12.1/24"]}]})


def test_a_client_added_on_the_router_is_created_and_wired_and_nothing_else_is_touched():
    plan, changes = plan_for(add_c3)
    assert phase_names(plan) == ["create container", "start container", "create links", "set sysctls",
                                 "configure interfaces", "add routes"]
    assert [s.node for s in steps_of(plan, CreateContainer)] == ["c3"]
    assert steps_of(plan, StartContainer) == [StartContainer(node="c3")]
    assert steps_of(plan, CreateLink) == [
        CreateLink(node="c3", interface="eth0", peer_node="r1", peer_interface="eth2", alias=ALIAS)]
    assert {(s.node, s.interface) for s in steps_of(plan, ConfigureInterface)} == {("c3", "eth0"), ("r1", "eth2")}
    assert steps_of(plan, AddRoute) == [AddRoute(node="c3", to="0.0.0.0/0", via="192.168.12.1", exist_ok=True)]
    assert touched(plan) == {"c3", "r1"} and not [s for s in plan.steps if s.node == "r1" and
                                                   not isinstance(s, ConfigureInterface)]
    assert changes.nodes_created == ["c3"] and changes.links_added == ["c3:eth0 - r1:eth2"]
    assert changes.nodes_restarted == [] and changes.nodes_removed == []
    assert changes.addresses_added == ["c3:eth0 192.168.12.2/24", "r1:eth2 192.168.12.1/24"]  # both ends


def test_an_address_changed_on_c2_is_changed_in_place_and_its_routes_given_again():
    def move(data):
        data["links"][1]["endpoints"][0]["addresses"] = ["192.168.11.3/24"]

    plan, changes = plan_for(move)
    assert steps_of(plan, ReconfigureInterface) == [ReconfigureInterface(
        node="c2", interface="eth0", addresses=("192.168.11.3/24",), remove=("192.168.11.2/24",))]
    assert steps_of(plan, AddRoute) == [AddRoute(node="c2", to="0.0.0.0/0", via="192.168.11.1", exist_ok=True)]
    assert touched(plan) == {"c2"}  # no restart, nothing of c1 or r1
    assert changes.addresses_added == ["c2:eth0 192.168.11.3/24"]
    assert changes.addresses_removed == ["c2:eth0 192.168.11.2/24"]
    assert changes.links_changed == [{"link": "c2:eth0 - r1:eth1", "what": ["addresses"]}]


@pytest.mark.parametrize("change, why", [
    (lambda d: node(d, "c2").update(image="debian:12"), "image topolab/base → debian:12"),
    (lambda d: node(d, "c2").update(env={"A": "1"}), "env changed"),
    (lambda d: node(d, "c2").update(exec=["true"]), "exec commands changed"),
    (lambda d: node(d, "c2").update(kind="router"), "kind host → router"),
])
def test_what_cannot_change_in_place_makes_that_node_again_and_keeps_its_neighbours(change, why):
    plan, changes = plan_for(change)
    assert changes.nodes_restarted == [{"node": "c2", "why": [why]}]
    # Made again with what it had: no address or route is new (only the reason is).
    assert changes.addresses_added == changes.routes_added == changes.routes_removed == []
    assert phase_names(plan)[:5] == ["unplug", "remove containers", "create container", "start container",
                                     "create links"]
    assert steps_of(plan, UnplugNode) == [UnplugNode(node="c2", alias=ALIAS)]
    assert steps_of(plan, RemoveContainer) == [RemoveContainer(node="c2")]
    assert [s.node for s in steps_of(plan, CreateContainer)] == ["c2"]
    assert steps_of(plan, CreateLink) == [
        CreateLink(node="c2", interface="eth0", peer_node="r1", peer_interface="eth1", alias=ALIAS)]
    assert "c1" not in touched(plan) and not [s for s in plan.steps if s.node == "r1"
                                              and not isinstance(s, ConfigureInterface)]


def test_a_node_removed_is_unplugged_and_removed_its_neighbours_end_going_with_it():
    def drop(data):
        data["nodes"] = [n for n in data["nodes"] if n["name"] != "c2"]
        data["links"] = data["links"][:1]

    plan, changes = plan_for(drop)
    assert plan.steps == [UnplugNode(node="c2", alias=ALIAS), RemoveContainer(node="c2")]
    assert changes.nodes_removed == ["c2"] and changes.links_removed == ["c2:eth0 - r1:eth1"]


def test_a_link_removed_between_nodes_that_stay_is_deleted_on_one_end():
    plan, changes = plan_for(lambda d: d.update(links=d["links"][:1]))
    assert plan.steps == [DeleteInterface(node="c2", interface="eth0")] + steps_of(plan, AddRoute)
    assert changes.links_removed == ["c2:eth0 - r1:eth1"]
    # c2's default route was through that link: the kernel drops it; it is not given again while unreachable.
    assert steps_of(plan, AddRoute) == []


def test_routes_added_and_removed_and_a_changed_gateway():
    def reroute(data):
        node(data, "c1")["routes"] = [{"to": "10.0.0.0/8", "via": "192.168.10.1"}]

    plan, changes = plan_for(reroute)
    assert steps_of(plan, DeleteRoute) == [DeleteRoute(node="c1", to="0.0.0.0/0", via="192.168.10.1")]
    assert steps_of(plan, AddRoute) == [AddRoute(node="c1", to="10.0.0.0/8", via="192.168.10.1", exist_ok=True)]
    assert phase_names(plan) == ["remove routes", "add routes"]
    assert changes.routes_removed == ["c1: 0.0.0.0/0 via 192.168.10.1"]
    assert changes.routes_added == ["c1: 10.0.0.0/8 via 192.168.10.1"]


def test_a_changed_sysctl_is_written_and_a_removed_one_makes_the_node_again():
    plan, changes = plan_for(lambda d: node(d, "r1").setdefault("sysctls", {}).update(
        {"net.ipv4.conf.eth0.rp_filter": "2", "net.ipv4.tcp_syncookies": "0"}))
    assert steps_of(plan, SetSysctls) == [SetSysctls(node="r1", values=(("net.ipv4.conf.eth0.rp_filter", "2"),
                                                                        ("net.ipv4.tcp_syncookies", "0")))]
    assert touched(plan) == {"r1"} and changes.sysctls == ["r1: net.ipv4.conf.eth0.rp_filter=2",
                                                           "r1: net.ipv4.tcp_syncookies=0"]
    with_one = edited(lambda d: node(d, "r1").update(sysctls={"net.ipv4.tcp_syncookies": "0"}))
    _, changes = apply_plan(parse(with_one), parse(reference()), CTX, ALL)
    assert changes.nodes_restarted == [{"node": "r1", "why": ["sysctl removed (net.ipv4.tcp_syncookies)"]}]


def test_a_link_set_down_impaired_and_given_an_mtu_changes_both_ends_in_place():
    def change(data):
        data["links"][0].update(state="down", mtu=1400, impairment={"loss_percent": 10})

    plan, changes = plan_for(change)
    assert steps_of(plan, ReconfigureInterface) == [
        ReconfigureInterface(node="c1", interface="eth0", addresses=("192.168.10.2/24",), mtu=1400, up=False),
        ReconfigureInterface(node="r1", interface="eth0", addresses=("192.168.10.1/24",), mtu=1400, up=False)]
    assert steps_of(plan, Impair) == [Impair(node=n, interface="eth0", impairment=Impairment(loss_percent=10))
                                      for n in ("c1", "r1")]
    assert changes.links_changed == [{"link": "c1:eth0 - r1:eth0", "what": ["up → down", "mtu default → 1400",
                                                                             "impairment set"]}]
    # Cleared again: the impairment goes from both ends.
    back, _ = apply_plan(parse(edited(change)), parse(reference()), CTX, ALL)
    assert steps_of(back, Impair) == [Impair(node=n, interface="eth0", impairment=None) for n in ("c1", "r1")]
    assert {s.up for s in steps_of(back, ReconfigureInterface)} == {True}
    assert [s.node for s in steps_of(back, AddRoute)] == ["c1"]  # up again: the routes through it come back


def test_files_are_written_in_place_and_removed_ones_deleted():
    with_file = edited(lambda d: node(d, "c1").update(files=[{"path": "/etc/motd", "content": "one\n"},
                                                             {"path": "/etc/old", "content": "x"}]))
    later = copy.deepcopy(with_file)
    node(later, "c1")["files"] = [{"path": "/etc/motd", "content": "two\n"}]
    plan, changes = apply_plan(parse(with_file), parse(later), CTX, ALL)
    assert plan.steps == [WriteFiles(node="c1", files=(("/etc/motd", "two\n", 0o644),), remove=("/etc/old",))]
    assert changes.files == ["c1: /etc/motd (written)", "c1: /etc/old (deleted)"]


def test_nothing_changed_is_nothing_to_do_and_a_stopped_node_is_left_for_its_start():
    plan, changes = plan_for(lambda d: None)
    assert plan.steps == [] and changes.empty
    plan, changes = plan_for(lambda d: d["links"][1]["endpoints"][0].update(addresses=["192.168.11.3/24"]),
                             running={"c1", "r1"})
    assert plan.steps == [] and changes.left == ["c2"]
    assert changes.addresses_added == ["c2:eth0 192.168.11.3/24"]  # said, done when c2 starts


def test_a_kind_that_cannot_be_deployed_is_refused_with_its_path(monkeypatch):
    monkeypatch.setitem(kinds.KINDS, "frr", dataclasses.replace(kinds.KINDS["frr"], deploy_refusal="not here"))
    with pytest.raises(PlanError) as refused:
        plan_for(lambda d: node(d, "c2").update(kind="frr"))
    assert refused.value.problems[0].path == "nodes[2].kind"


def test_an_frr_nodes_config_changed_restarts_that_node_and_other_files_change_in_place():
    def frr(conf):
        def change(data):
            node(data, "r1").update(kind="frr", files=[{"path": "/etc/frr/frr.conf", "content": conf},
                                                       {"path": "/etc/motd", "content": conf}])
        return change

    old, new = parse(edited(frr("hostname r1\n"))), parse(edited(frr("hostname r1\nrouter ospf\n")))
    plan, changes = apply_plan(old, new, CTX, ALL)
    assert changes.nodes_restarted == [{"node": "r1", "why": ["FRR's files changed (FRR starts again with them)"]}]
    assert steps_of(plan, RemoveContainer) == [RemoveContainer(node="r1")] and steps_of(plan, WriteFiles) == []
