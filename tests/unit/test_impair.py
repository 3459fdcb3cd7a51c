"""The impairment plan (pure) and the exact netlink calls that shape a link end, against fake sockets.

netem's path cannot run on a kernel without sch_netem (this CI machine's), so its messages are checked here:
each pyroute2 call with its arguments, in order, on both a netem kernel and one that falls back to nftables.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager

import pytest

from topology.engine import impair, netlink
from topology.schema.models import Impairment

NETEM = impair.capabilities({"netem": True, "tbf": True, "nft_drop": True, "nft_dup": True})
NFTABLES = impair.capabilities({"netem": False, "tbf": True, "nft_drop": True, "nft_dup": True})  # this CI machine
NO_NETEM = impair.capabilities({"netem": False, "tbf": True, "nft_drop": True})
BARE = impair.capabilities({})


# -- the plan ----------------------------------------------------------------------------------------------
def test_capabilities_say_what_each_feature_uses():
    assert NETEM["impairments"] == {"delay": True, "jitter": True, "loss": "netem", "duplicate": "netem",
                                    "corrupt": True, "rate": "tbf"}
    assert NO_NETEM["impairments"] == {"delay": False, "jitter": False, "loss": "nftables", "duplicate": None,
                                       "corrupt": False, "rate": "tbf"}
    assert NFTABLES["impairments"]["duplicate"] == "nftables" and NFTABLES["impairments"]["loss"] == "nftables"
    assert BARE["impairments"]["loss"] is None and BARE["impairments"]["rate"] is None
    assert NO_NETEM["link_state"] is True


def test_missing_features_get_a_sentence_each():
    assert impair.missing(NETEM) == []
    sentences = impair.missing(NO_NETEM)
    assert [s.split()[0] for s in sentences] == ["delay", "duplication", "corruption"]
    assert "no netem (sch_netem)" in sentences[0] and "nftables" in sentences[1]
    assert [s.split()[0] for s in impair.missing(NFTABLES)] == ["delay", "corruption"]
    assert len(impair.missing(BARE)) == 5


def test_netem_takes_everything_and_tbf_the_rate():
    shaping = impair.plan(Impairment(delay_ms=20, jitter_ms=2.5, loss_percent=0.5, duplicate_percent=1,
                                     corrupt_percent=0.1, rate_kbit=8000), NETEM)
    assert shaping == impair.Shaping(netem={"delay": 20000, "jitter": 2500, "loss": 0.5, "duplicate": 1.0,
                                            "prob_corrupt": 0.1}, rate_kbit=8000, nft_loss_percent=None)


def test_without_netem_loss_goes_to_nftables_and_a_rate_alone_to_tbf():
    assert impair.plan({"loss_percent": 50, "rate_kbit": 100}, NO_NETEM) == impair.Shaping(
        netem=None, rate_kbit=100, nft_loss_percent=50.0)
    assert impair.plan({"rate_kbit": 100}, NO_NETEM) == impair.Shaping(rate_kbit=100)
    assert impair.plan({"duplicate_percent": 2, "loss_percent": 1}, NFTABLES) == impair.Shaping(
        nft_loss_percent=1.0, nft_duplicate_percent=2.0)
    assert impair.problems({"duplicate_percent": 2}, NO_NETEM)[0].path == "impairment.duplicate_percent"
    assert impair.plan(None, NO_NETEM).empty and impair.plan({}, BARE).empty


def test_what_the_kernel_cannot_do_is_refused_with_its_path_and_why():
    refused = impair.problems({"delay_ms": 20, "jitter_ms": 1, "loss_percent": 1, "duplicate_percent": 2,
                               "corrupt_percent": 3, "rate_kbit": 10}, NO_NETEM)
    assert [p.path for p in refused] == ["impairment.delay_ms", "impairment.jitter_ms",
                                         "impairment.duplicate_percent", "impairment.corrupt_percent"]
    assert "delay and jitter need" in refused[0].message
    with pytest.raises(impair.Unsupported) as caught:
        impair.plan(Impairment(delay_ms=5), NO_NETEM)
    assert "no netem (sch_netem)" in str(caught.value)
    assert [p.path for p in impair.problems({"loss_percent": 1, "rate_kbit": 5}, BARE)] == [
        "impairment.loss_percent", "impairment.rate_kbit"]
    assert impair.problems({"loss_percent": 0}, BARE) == []  # zero asks nothing


# -- the netlink calls -------------------------------------------------------------------------------------
class FakeIPRoute:
    """Records every call; knows one interface, eth0 (index 7); its root qdisc may be missing."""

    def __init__(self, calls: list, root_missing: bool = False):
        self.calls, self.root_missing = calls, root_missing

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def link_lookup(self, ifname):
        return [7] if ifname == "eth0" else []

    def tc(self, command, **kwargs):
        self.calls.append(("tc", command, kwargs))
        if command == "del" and self.root_missing:
            raise netlink.NetlinkError(2)

    def link(self, command, **kwargs):
        self.calls.append(("link", command, kwargs))


class FakeNFTables:
    def __init__(self, calls: list, table_missing: bool = True):
        self.calls, self.table_missing = calls, table_missing

    def table(self, command, **kwargs):
        self.calls.append(("nft table", command, kwargs))
        if command == "del" and self.table_missing:
            raise netlink.NetlinkError(2)

    def rule(self, command, **kwargs):
        self.calls.append(("nft rule", command, kwargs))

    def _run_with_cleanup(self, func, msg_class, commands, command, kwargs):
        self.calls.append(("nft chain", command, kwargs))

    class asyncore:
        _command = None

    def close(self):
        self.calls.append(("nft close",))


@pytest.fixture
def calls(monkeypatch):
    recorded: list = []

    @contextmanager
    def inside(pid):
        recorded.append(("inside", pid))
        yield

    monkeypatch.setattr(netlink, "socket_in", lambda pid: FakeIPRoute(recorded, root_missing=True))
    monkeypatch.setattr(netlink, "inside", inside)
    monkeypatch.setattr(netlink, "_nft_socket", lambda: FakeNFTables(recorded))
    return recorded


def test_a_netem_kernel_gets_netem_then_tbf_under_it(calls, monkeypatch):
    monkeypatch.setattr(netlink, "_features", {"netem": True, "tbf": True, "nft_drop": True})
    netlink.impair(4242, "eth0", Impairment(delay_ms=20, jitter_ms=2, loss_percent=0.5, duplicate_percent=1,
                                            corrupt_percent=0.25, rate_kbit=8000))
    assert calls == [
        ("tc", "del", {"index": 7, "parent": 0xFFFFFFFF}),  # what was there goes first (nothing: fine)
        ("tc", "add", {"kind": "netem", "index": 7, "handle": 0x10000, "delay": 20000, "jitter": 2000,
                       "loss": 0.5, "duplicate": 1.0, "prob_corrupt": 0.25}),
        ("tc", "add", {"kind": "tbf", "index": 7, "handle": 0x20000, "rate": "8000kbit", "burst": 10000,
                       "latency": "50ms", "parent": 0x10001}),
        ("inside", 4242),
        ("nft table", "del", {"name": "topolab_eth0"}),
        ("nft close",),
    ]


def test_without_netem_loss_is_an_nftables_ingress_rule_and_the_rate_a_root_tbf(calls, monkeypatch):
    monkeypatch.setattr(netlink, "_features", {"netem": False, "tbf": True, "nft_drop": True})
    netlink.impair(4242, "eth0", Impairment(loss_percent=12.5, rate_kbit=100))
    assert calls[:2] == [
        ("tc", "del", {"index": 7, "parent": 0xFFFFFFFF}),
        ("tc", "add", {"kind": "tbf", "index": 7, "handle": 0x20000, "rate": "100kbit", "burst": 4 * 1514,
                       "latency": "50ms"}),
    ]
    assert calls[2:6] == [
        ("inside", 4242),
        ("nft table", "del", {"name": "topolab_eth0"}),
        ("nft table", "add", {"name": "topolab_eth0"}),
        ("nft chain", "add", {"table": "topolab_eth0", "name": "ingress", "type": "filter", "hook": {"attrs": [
            ["NFTA_HOOK_HOOKNUM", 0], ["NFTA_HOOK_PRIORITY", 0], ["NFTA_HOOK_DEV", "eth0"]]}}),
    ]
    assert calls[6] == ("nft rule", "add", {"table": "topolab_eth0", "chain": "ingress",
                                            "expressions": [netlink.loss_rule(12.5)]})
    assert calls[7:] == [("nft close",)]


def test_without_netem_duplication_is_an_nftables_egress_dup_rule_guarded_by_a_mark(calls, monkeypatch):
    monkeypatch.setattr(netlink, "_features", {"netem": False, "tbf": True, "nft_drop": True, "nft_dup": True})
    netlink.impair(4242, "eth0", Impairment(duplicate_percent=5))
    assert calls[:3] == [("tc", "del", {"index": 7, "parent": 0xFFFFFFFF}), ("inside", 4242),
                         ("nft table", "del", {"name": "topolab_eth0"})]
    assert calls[3:] == [
        ("nft table", "add", {"name": "topolab_eth0"}),
        ("nft chain", "add", {"table": "topolab_eth0", "name": "egress", "type": "filter", "hook": {"attrs": [
            ["NFTA_HOOK_HOOKNUM", 1], ["NFTA_HOOK_PRIORITY", 0], ["NFTA_HOOK_DEV", "eth0"]]}}),
        ("nft rule", "add", {"table": "topolab_eth0", "chain": "egress",
                             "expressions": [netlink.duplicate_rule(5, 7)]}),
        ("nft close",),
    ]
    rule = netlink.duplicate_rule(5, 7)
    assert [e["attrs"][0][1] for e in rule] == ["meta", "cmp", "numgen", "byteorder", "cmp", "immediate", "meta",
                                                "immediate", "dup"]
    mark = netlink.DUP_MARK.to_bytes(4, sys.byteorder)
    assert dict(rule[1]["attrs"][1][1]["attrs"])["NFTA_CMP_OP"] == 1  # != the mark: a copy is not copied again
    assert rule[1]["attrs"][1][1]["attrs"][2][1] == {"attrs": [("NFTA_DATA_VALUE", mark)]}
    assert dict(rule[6]["attrs"][1][1]["attrs"]) == {"NFTA_META_KEY": 3, "NFTA_META_SREG": 1}  # mark set
    assert rule[7]["attrs"][1][1]["attrs"][1][1] == {"attrs": [("NFTA_DATA_VALUE", (7).to_bytes(4, sys.byteorder))]}
    assert dict(rule[8]["attrs"][1][1]["attrs"]) == {"NFTA_DUP_SREG_DEV": 1}


def test_the_loss_rule_draws_0_to_9999_and_drops_below_the_share():
    numgen, byteorder, cmp, verdict = netlink.loss_rule(12.5)
    assert numgen["attrs"][0] == ("NFTA_EXPR_NAME", "numgen")
    assert dict(numgen["attrs"][1][1]["attrs"]) == {"NFTA_NG_DREG": 1, "NFTA_NG_MODULUS": 10000, "NFTA_NG_TYPE": 1,
                                                    "NFTA_NG_OFFSET": 0}
    assert dict(byteorder["attrs"][1][1]["attrs"])["NFTA_BYTEORDER_OP"] == 1  # to network order
    data = dict(cmp["attrs"][1][1]["attrs"])
    assert data["NFTA_CMP_OP"] == 2  # less than
    assert data["NFTA_CMP_DATA"] == {"attrs": [("NFTA_DATA_VALUE", (1250).to_bytes(4, "big"))]}
    assert verdict["attrs"][0] == ("NFTA_EXPR_NAME", "immediate")
    assert netlink.loss_rule(100)[2]["attrs"][1][1]["attrs"][2][1]["attrs"][0][1] == (10000).to_bytes(4, "big")


def test_clearing_removes_the_qdisc_and_the_table_and_adds_nothing(calls, monkeypatch):
    monkeypatch.setattr(netlink, "_features", {"netem": False, "tbf": True, "nft_drop": True})
    netlink.impair(1, "eth0", None)
    assert [c[:2] for c in calls] == [("tc", "del"), ("inside", 1), ("nft table", "del"), ("nft close",)]


def test_an_impairment_the_kernel_cannot_do_fails_before_any_call(calls, monkeypatch):
    monkeypatch.setattr(netlink, "_features", {"netem": False, "tbf": True, "nft_drop": True})
    with pytest.raises(netlink.NetlinkStepError, match="delay and jitter need the kernel's netem"):
        netlink.impair(1, "eth0", Impairment(delay_ms=10))
    assert calls == []


def test_link_state_and_restored_routes(calls):
    netlink.set_state(9, "eth0", False)
    assert calls == [("link", "set", {"index": 7, "state": "down"})]
    with pytest.raises(netlink.NetlinkStepError, match="no interface named eth9"):
        netlink.set_state(9, "eth9", True)


# -- a deploy with a link saved down ----------------------------------------------------------------------
def test_a_deploy_leaves_out_the_routes_through_a_down_link_and_keeps_the_others():
    from tests.documents import reference_document
    from topology import schema
    from topology.engine.plan import AddRoute, Context, Impair, build_plan

    data = reference_document()
    data["links"][0]["state"] = "down"
    data["links"][0]["impairment"] = {"loss_percent": 100}
    data["nodes"][1]["routes"] = [{"to": "10.9.0.0/16", "via": "192.168.11.2"}, {"to": "10.8.0.0/16", "dev": "eth0"}]
    plan = build_plan(schema.parse(data), Context(site="unit", lab_id=1, owner="alice"))
    routes = [(s.node, s.to) for s in plan.steps if isinstance(s, AddRoute)]
    assert routes == [("r1", "10.9.0.0/16"), ("c2", "0.0.0.0/0")]  # c1's default and r1's dev eth0 wait for "up"
    assert [(s.node, s.interface) for s in plan.steps if isinstance(s, Impair)] == [("c1", "eth0"), ("r1", "eth0")]
