"""A switched LAN of three hosts and a router, dual stack, and a host behind the router.

    h1 ─┐                          10.1.0.0/24, fd00:1::/64
    h2 ─┼─ s1 (bridge) ─ r1 ─ h4   10.2.0.0/24, fd00:2::/64
    h3 ─┘
"""
import re


def switch_lan() -> dict:
    def host(name, gw4, gw6):
        return {"name": name, "kind": "host", "routes": [{"to": "default", "via": gw4}, {"to": "default", "via": gw6}]}

    return {
        "format": "topolab/v1",
        "name": "switch-lan",
        "nodes": [
            host("h1", "10.1.0.1", "fd00:1::1"), host("h2", "10.1.0.1", "fd00:1::1"),
            host("h3", "10.1.0.1", "fd00:1::1"), host("h4", "10.2.0.1", "fd00:2::1"),
            {"name": "s1", "kind": "switch"},
            {"name": "r1", "kind": "router"},
        ],
        "links": [
            *[{"endpoints": [{"node": f"h{i}", "interface": "eth0", "addresses": [f"10.1.0.{10 + i}/24", f"fd00:1::{10 + i}/64"]},
                             {"node": "s1", "interface": f"eth{i}"}]} for i in (1, 2, 3)],
            {"endpoints": [{"node": "r1", "interface": "eth0", "addresses": ["10.1.0.1/24", "fd00:1::1/64"]},
                           {"node": "s1", "interface": "eth4"}]},
            {"endpoints": [{"node": "r1", "interface": "eth1", "addresses": ["10.2.0.1/24", "fd00:2::1/64"]},
                           {"node": "h4", "interface": "eth0", "addresses": ["10.2.0.14/24", "fd00:2::14/64"]}]},
        ],
    }


def routes_both_families(labs, lab) -> None:
    """h1 reaches its own LAN directly (TTL 64) and the other LAN through r1 (63), in IPv4 and IPv6."""
    for target, ttl in (("10.1.0.12", 64), ("10.1.0.13", 64), ("10.2.0.14", 63)):
        code, out = labs.run(lab, "h1", "ping", "-c", "1", "-W", "2", target)
        assert code == 0 and f"ttl={ttl}" in out, out
    for target, hops in (("fd00:1::12", 64), ("fd00:2::14", 63)):
        code, out = labs.run(lab, "h1", "ping", "-6", "-c", "1", "-W", "2", target)
        assert code == 0 and re.search(rf"(ttl|hlim)={hops}\b", out), out


def test_it_switches_a_lan_and_routes_both_families(labs):
    lab = labs.deploy(switch_lan())
    assert lab.state == "running", lab.reason

    routes_both_families(labs, lab)

    code, out = labs.run(lab, "s1", "ip", "-o", "link", "show", "master", "br0")
    assert code == 0
    assert sorted(re.findall(r"\d+: (eth\d)@", out)) == ["eth1", "eth2", "eth3", "eth4"]
    labs.destroy(lab)
