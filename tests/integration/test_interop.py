"""The labs of tests/data/interop, imported from containerlab and Kathará, deployed on the local images through
the real worker: each behaves as its own text says (who pings whom, by ``topology.pingall.ping_all``).

    clab-bridge     h1, h2, h3 -- br (a switch) -- gw (router) -- srv: everyone reaches everyone
    kathara-static  pc1 - r1 - r2 - pc2 with addresses only: each reaches its own subnets, until the student
                    adds the routes, then pc1 reaches pc2
    kathara-lan     pc1, pc2, r1 on collision domain LAN (a switch here), r1 - srv: everyone reaches everyone,
                    and the machines' folders are their files
    clab-frr        h1 - r1 - r2 - h2, FRR routers running OSPF: h1 reaches h2 once OSPF has converged
"""
from __future__ import annotations

import ipaddress
import time
from pathlib import Path

from topology import interop, pingall, schema

DATA = Path(__file__).resolve().parents[1] / "data" / "interop"


def imported(name: str) -> dict:
    result = interop.load(interop.read_folder(str(DATA / name)), name=name)
    assert schema.validate(result.document).ok
    return result.document


def reach(lab) -> dict[tuple[str, str], bool]:
    answer = pingall.ping_all(lab.pk)
    assert "error" not in answer, answer
    return {(source, address): cell["ok"] for source, row in answer["results"].items() for address, cell in row.items()}


def same_subnet(document: dict) -> set[tuple[str, str]]:
    """The (source, address) pairs a lab without routes answers: addresses of a subnet the source is on."""
    mine: dict[str, list] = {}
    for link in document["links"]:
        for end in link["endpoints"]:
            mine.setdefault(end["node"], []).extend(ipaddress.ip_interface(a) for a in end.get("addresses", []))
    out = set()
    for source, interfaces in mine.items():
        for target in (i for others in mine.values() for i in others):
            if target not in interfaces and any(target.ip in i.network for i in interfaces):
                out.add((source, str(target.ip)))
    return out


def test_the_bridged_containerlab_lan_reaches_everyone(labs):
    lab = labs.deploy(imported("clab-bridge"))
    assert lab.state == "running", lab.reason
    cells = reach(lab)
    assert ("h1", "192.168.60.10") in cells and ("srv", "192.168.50.13") in cells
    assert all(cells.values()), [pair for pair, ok in cells.items() if not ok]
    code, out = labs.run(lab, "br", "ip", "-o", "link", "show", "master", "br0")
    assert code == 0 and all(port in out for port in ("h1-port", "h2-port", "h3-port", "gw-port"))
    labs.destroy(lab)


def test_the_static_kathara_lab_needs_the_students_routes(labs):
    document = imported("kathara-static")
    lab = labs.deploy(document)
    assert lab.state == "running", lab.reason
    cells = reach(lab)
    assert {pair for pair, ok in cells.items() if ok} == same_subnet(document)
    assert cells[("pc1", "10.0.1.1")] and not cells[("pc1", "10.0.2.10")]
    for node, argv in (("pc1", "default via 10.0.1.1"), ("r1", "10.0.2.0/24 via 10.0.100.2"),
                       ("r2", "10.0.1.0/24 via 10.0.100.1"), ("pc2", "default via 10.0.2.1")):
        code, out = labs.run(lab, node, "ip", "route", "add", *argv.split())
        assert code == 0, out
    code, out = labs.run(lab, "pc1", "ping", "-c", "1", "-W", "2", "10.0.2.10")
    assert code == 0 and "ttl=62" in out, out
    labs.destroy(lab)


def test_the_kathara_lan_reaches_everyone_and_has_its_folders(labs):
    lab = labs.deploy(imported("kathara-lan"))
    assert lab.state == "running", lab.reason
    cells = reach(lab)
    assert ("pc1", "172.16.1.10") in cells
    assert all(cells.values()), [pair for pair, ok in cells.items() if not ok]
    code, out = labs.run(lab, "pc1", "cat", "/etc/motd", "/shared/notes.txt")
    assert code == 0 and "Welcome to pc1" in out and "notes shared" in out, out
    code, out = labs.run(lab, "srv", "printenv", "SITE")
    assert code == 0 and out.strip() == "dmz"
    labs.destroy(lab)


def test_the_frr_containerlab_lab_routes_with_ospf(labs):
    lab = labs.deploy(imported("clab-frr"))
    assert lab.state == "running", lab.reason
    deadline, out = time.monotonic() + 90, ""
    while time.monotonic() < deadline:
        code, out = labs.run(lab, "h1", "ping", "-c", "1", "-W", "2", "10.22.0.10")
        if code == 0:
            break
        time.sleep(2)
    assert code == 0 and "ttl=62" in out, out
    labs.destroy(lab)
