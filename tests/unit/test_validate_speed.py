"""What checking a document costs: work that grows with its size, never with its square; and a read
of a stored topology that does not check it again.

No timings here (``bench/validate.py`` prints those): each test counts the
function calls a check makes (Python's and C's, through ``sys.setprofile``)
for an input and for one twice its size. Work that grows linearly, or as
n log n, about doubles; work that compares every item with every other
quadruples. Inputs are built with ``model_construct`` where the schema's caps
(64 addresses an interface) would refuse a size large enough to tell the two
apart: the checks must not lean on the caps.
"""
from __future__ import annotations

import copy
import json
import sys

import pytest

from tests.documents import reference_document
from topology import schema, services
from topology.models import Topology
from topology.schema import checks, messages
from topology.schema.models import Endpoint, Link, Node, Route

API = "/api/v1"
GROWTH = 2.6  # doubling the input may cost at most this much more (a quadratic check costs about 4x)


def operations(function, *args) -> int:
    """How many function calls (Python and built-in) ``function(*args)`` makes."""
    count = 0

    def profile(frame, event, arg):
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        function(*args)
    finally:
        sys.setprofile(None)
    return count


def growth(make, function, n: int) -> float:
    """How much more work ``function`` does on ``make(2 * n)`` than on ``make(n)``."""
    small, large = make(n), make(2 * n)
    return operations(function, *large) / operations(function, *small)


def v4(i: int, host: int, prefix: int = 24) -> str:
    """Host ``host`` of the i-th /24 out of 10.0.0.0/8."""
    return f"10.{i // 256 % 256}.{i % 256}.{host}/{prefix}"


def two_ends(a: list[str], b: list[str]) -> Link:
    """A link from a:e0 to b:e0 with those addresses, built without the schema's checks or caps."""
    ends = [Endpoint.model_construct(node=node, interface="e0", addresses=addresses, mac=None)
            for node, addresses in (("a", a), ("b", b))]
    return Link.model_construct(endpoints=ends, impairment=None, state="up", mtu=None)


def test_the_subnet_check_does_not_compare_every_address_with_every_other():
    # Each end has n addresses, every one in a subnet of its own: no address of b is in a subnet of a.
    def make(n):
        link = two_ends([v4(i, 1) for i in range(n)], [v4(n + i, 2) for i in range(n)])
        return ([(0, link)],)

    assert checks.check_subnets(*make(8)) == [
        schema.Problem("links[0]", "the two ends have IPv4 addresses in different subnets")]
    assert growth(make, checks.check_subnets, 1000) < GROWTH


def test_the_route_check_does_not_compare_every_gateway_with_every_subnet():
    # Node a has n subnets and n routes whose gateways are in none of them.
    def make(n):
        link = two_ends([v4(i, 1) for i in range(n)], [v4(i, 2) for i in range(n)])
        routes = [Route.model_construct(to=f"172.16.{i // 256}.{i % 256}/32", dev=None,
                                        via=f"192.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}") for i in range(n)]
        node = Node.model_construct(name="a", routes=routes)
        return ([(0, node)], [(0, link)])

    errors, warnings = checks.check_routes(*make(3))
    assert errors == [] and [w.path for w in warnings] == [f"nodes[0].routes[{j}].via" for j in range(3)]
    assert growth(make, checks.check_routes, 1000) < GROWTH


def test_the_address_check_grows_linearly():
    def make(n):
        return ([(0, two_ends([v4(i, 1) for i in range(n)], [v4(i, 1) for i in range(n)]))],)

    assert len(checks.check_addresses(*make(5))) == 5  # every address of b is one of a's
    assert growth(make, checks.check_addresses, 1000) < GROWTH


class CountedProblem(schema.Problem):
    """A Problem whose comparisons are function calls the profile sees (a tuple's are not)."""

    __slots__ = ()

    def __eq__(self, other):
        return tuple.__eq__(self, other)

    __hash__ = tuple.__hash__


def test_many_errors_are_gathered_without_comparing_each_with_every_other(monkeypatch):
    monkeypatch.setattr(messages, "Problem", CountedProblem)
    monkeypatch.setattr(checks, "Problem", CountedProblem)

    def make(n):  # n nodes with a bad name each, and n links naming nodes that do not exist
        nodes = [{"name": f"N{i}"} for i in range(n)]
        links = [{"endpoints": [{"node": f"x{i}", "interface": "e0"}, {"node": f"y{i}", "interface": "e0"}]}
                 for i in range(n)]
        return ({"format": "topolab/v1", "name": "many", "nodes": nodes, "links": links},)

    assert len(schema.validate(*make(4)).errors) == 4 + 4 * 2
    assert growth(make, schema.validate, 1000) < GROWTH


def test_the_whole_check_grows_linearly_with_the_document():
    def make(n):  # n routers in a line, each link dual-stack, each router with routes
        nodes = [{"name": f"r{i}", "kind": "router",
                  "routes": [{"to": f"172.{16 + i // 256}.{i % 256}.0/24", "via": v4(i, 2).split("/")[0]},
                             {"to": "default", "via": "192.0.2.1"}]} for i in range(n)]
        links = [{"endpoints": [{"node": f"r{i}", "interface": "e1", "addresses": [v4(i, 1), f"2001:db8:{i:x}::1/64"]},
                                {"node": f"r{i + 1}", "interface": "e0",
                                 "addresses": [v4(i, 2), f"2001:db8:{i:x}::2/64"]}]} for i in range(n - 1)]
        return ({"format": "topolab/v1", "name": "line", "nodes": nodes, "links": links},)

    assert schema.validate(*make(3)).ok
    assert growth(make, schema.validate, 200) < GROWTH


# --- a read does not check the document again -----------------------------------------------------------------


def _no_validation(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a read must not validate the document")

    for target in ("topology.schema.validate", "topology.schema.loads", "topology.schema.check_document",
                   "topology.services.validate", "topology.services.parse"):
        monkeypatch.setattr(target, refuse)


WARNED = [{"path": "nodes[0].routes[0].via", "message": "10.9.9.9 is in no subnet connected to 'c1'"}]


def warned_document() -> dict:
    document = reference_document()
    document["nodes"][0]["routes"][0]["via"] = "10.9.9.9"
    return document


def test_saving_keeps_the_warnings_and_a_read_returns_them_without_validating(client, alice, monkeypatch):
    created = client.post(f"{API}/topologies", json.dumps(warned_document()), content_type="application/json")
    assert created.status_code == 201, created.content
    assert created.json()["warnings"] == WARNED
    row = Topology.objects.get(pk=created.json()["id"])
    assert row.warnings == WARNED

    _no_validation(monkeypatch)
    read = client.get(f"{API}/topologies/{row.pk}")
    assert read.status_code == 200
    assert read.json()["warnings"] == WARNED
    assert read.json()["document"] == warned_document()


def test_replacing_a_document_keeps_its_new_warnings(client, topology, monkeypatch):
    assert Topology.objects.get(pk=topology.pk).warnings == []
    replaced = client.put(f"{API}/topologies/{topology.pk}", json.dumps(warned_document()),
                          content_type="application/json")
    assert replaced.status_code == 200, replaced.content
    assert replaced.json()["warnings"] == WARNED
    assert Topology.objects.get(pk=topology.pk).warnings == WARNED
    _no_validation(monkeypatch)
    assert client.get(f"{API}/topologies/{topology.pk}").json()["warnings"] == WARNED


def test_the_services_keep_the_warnings_for_every_caller(alice):
    topology = services.import_topology(alice, warned_document())
    assert Topology.objects.get(pk=topology.pk).warnings == WARNED
    services.update_topology(topology, reference_document())
    assert Topology.objects.get(pk=topology.pk).warnings == []
    again = services.import_topology(alice, warned_document(), replace=True)
    assert again.pk == topology.pk and Topology.objects.get(pk=topology.pk).warnings == WARNED


def test_a_row_saved_before_warnings_were_kept_gets_them_once(client, alice, monkeypatch):
    topology = services.import_topology(alice, warned_document())
    Topology.objects.filter(pk=topology.pk).update(warnings=None)  # as migration 0003 left older rows
    updated = Topology.objects.get(pk=topology.pk).updated

    first = client.get(f"{API}/topologies/{topology.pk}")
    assert first.status_code == 200 and first.json()["warnings"] == WARNED
    row = Topology.objects.get(pk=topology.pk)
    assert row.warnings == WARNED and row.updated == updated  # kept, without touching the document's date

    _no_validation(monkeypatch)
    assert client.get(f"{API}/topologies/{topology.pk}").json()["warnings"] == WARNED


@pytest.mark.parametrize("method", ["post", "put"])
def test_a_document_is_checked_once_when_saved(client, topology, monkeypatch, method):
    calls = []
    real = schema.check_document  # what every full check of a valid document ends with

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr("topology.schema.check_document", counted)
    document = copy.deepcopy(warned_document())
    if method == "post":
        document["name"] = "another"
        response = client.post(f"{API}/topologies", json.dumps(document), content_type="application/json")
    else:
        response = client.put(f"{API}/topologies/{topology.pk}", json.dumps(document), content_type="application/json")
    assert response.status_code in (200, 201), response.content
    assert len(calls) == 1
