"""Property-based fuzzing (Hypothesis): no document, however made, stalls or crashes the server.

Bodies are the reference lab with a few things changed anywhere in it, or
arbitrary JSON, written as raw text so that they can hold what ``json.dumps``
never writes: integers of thousands of digits, lone surrogates (``\\ud800``,
escaped or raw), ``NaN`` and ``Infinity``, deep nesting, broken syntax, bytes
that are not UTF-8. Each goes to ``POST /api/v1/validate`` and
``POST /api/v1/topologies`` as a signed-in user, and:

- no answer is a 5xx; ``validate`` always answers 200, ``create`` 201 or 400;
- the two agree: a document is created exactly when it is valid;
- a refused document writes no row (the count of topologies is unchanged);
- an accepted one reads back (``GET``), exports (``GET .../export``), and its
  export validates as the very same document and can be PUT back.

A last property holds the schema's fast address readers to ``ipaddress``.
The budget is fixed and the examples derandomized: CI runs the same cases
every time, in well under half a minute on two cores.
"""
from __future__ import annotations

import ipaddress
import json
import os
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from tests.documents import reference_document
from topology import schema
from topology.models import Topology
from topology.schema.models import address_key, interface_key, network_key, parse_interface_address

API = "/api/v1"
# Hypothesis keeps caches on disk: in the test run's own data directory, not in the checkout.
set_hypothesis_home_dir(os.path.join(os.environ.get("TOPOLAB_DATA_DIR", tempfile.gettempdir()), "hypothesis"))
BUDGET = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                         HealthCheck.data_too_large])


class Raw(str):
    """JSON text written as it is into a body (a token json.dumps would never write)."""


def render(value) -> str:
    """``value`` as JSON text, :class:`Raw` parts verbatim, other strings escaped as json.dumps does
    (so a lone surrogate becomes the escape \\ud800)."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{render(key)}: {render(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(render(item) for item in value) + "]"
    return json.dumps(value)


surrogates = st.characters(categories=["Cs"])
texts = st.text(st.characters(codec=None) | surrogates, max_size=12)
raw_tokens = st.sampled_from([
    "NaN", "-Infinity", "Infinity", "1e999", "-1e999", "1.5e-400", "-0", "0.0", "1E3",
    "9" * 4301, "-" + "1" * 5000, "9" * 4300, "1" + "0" * 10000 + ".5",
    '"\\ud800"', '"\\uDFFF"', '"a\\udbff"', '"\\ud83d\\ude00"', '"\\u0000"', '"\\\\ud800"',
    "[" * 50 + "]" * 50, "[" * 5000 + "]" * 5000, "{" * 3, '"', "tru", "nul", "01", "+1", ".5", "0x10",
    '"\x7f"', "\t", "[1,]", '{"a":1,}', "//", "\ufeff{}",
]).map(Raw)
ip_like = st.sampled_from([
    "10.0.0.1/24", "10.0.0.0/24", "10.0.0.255/24", "10.0.0.1", "10.0.0.1/33", "010.0.0.1/8", "10.0.0.1/024",
    "1.2.3.4/255.255.255.0", "0.0.0.0/0", "255.255.255.255/32", "2001:db8::1/64", "2001:db8::/129", "::/0",
    "::ffff:1.2.3.4/96", "fe80::1%eth0/64", "1:2:3:4:5:6:7::/64", "::1:2:3:4:5:6:7:8/64", "default",
    "192.168.10.1", "2001:db8::1", "10.1.0.5/24", "10.1.0.0/24", "1::2::3", " 10.0.0.1/24",
]) | st.text("0123456789abcdefABCDEF:./% ", max_size=45)
scalars = (st.none() | st.booleans() | st.integers(-10 ** 6, 10 ** 6) | st.floats(allow_nan=False, allow_infinity=False)
           | texts | ip_like | raw_tokens)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts | ip_like, children, max_size=4),
    max_leaves=12,
)


def _places(value, path=()):
    """Every ``(container path, key or index)`` of ``value`` that holds something."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield path, key
        yield from _places(child, path + (key,))


def _at(document, path):
    for key in path:
        document = document[key]
    return document


@st.composite
def mutated_references(draw):
    """The reference lab with 1 to 3 changes: a value replaced, a key deleted, added or renamed, an item
    repeated (up to past the caps on addresses and routes)."""
    document = reference_document()
    for _ in range(draw(st.integers(1, 3))):
        places = list(_places(document))
        path, key = draw(st.sampled_from(places))
        container = _at(document, path)
        action = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add", "rename", "repeat"]))
        if action == "replace":
            container[key] = draw(json_values)
        elif action == "delete":
            del container[key]
        elif action == "add" and isinstance(container, dict):
            container[draw(texts | st.sampled_from(["nodse", "routes", "addresses", "mac", "env", "mtu"]))] = draw(json_values)
        elif action == "add":
            container.append(draw(json_values))
        elif action == "rename" and isinstance(container, dict):
            container[draw(texts)] = container.pop(key)
        elif action == "repeat" and isinstance(container, list):
            container.extend([container[key]] * draw(st.integers(1, 70)))
        elif isinstance(container[key], list) and container[key]:
            container[key] = container[key] * draw(st.integers(2, 70))
    return render(document)


# Where the format takes free text or any number: a value that is not text, or a number too long to
# write back, would be stored there unless the schema refuses it.
FREE = {
    "text": ["description", "nodes[0].env.GREETING", "nodes[0].files[0].content", "nodes[0].exec[0]",
             "annotations.note", "annotations.list[0]"],
    "key": ["nodes[0].env", "annotations"],
    "number": ["nodes[0].position.x", "nodes[1].resources.memory_mb", "links[0].mtu", "annotations.n"],
}
with_a_surrogate = st.text(st.characters(codec=None), max_size=4).flatmap(
    lambda text: st.builds(lambda s, i: text[:i] + s + text[i:], surrogates, st.integers(0, len(text))))
nasty_text = with_a_surrogate | st.sampled_from(
    ['"\\ud800"', '"\\uDC00 x"', '"x\\udbff"', '"\\ud83d\\ude00"', '"\\\\ud800"']).map(Raw)
nasty_number = (st.integers(4290, 4320).map(lambda n: Raw("7" * n))
                | st.integers(4290, 4320).map(lambda n: Raw("-" + "7" * n))
                | st.sampled_from(["NaN", "1e999", "-Infinity", "1" * 5000 + ".0"]).map(Raw))


def _keys(path: str) -> list:
    """``nodes[0].env`` -> ``["nodes", 0, "env"]``."""
    return [int(p) if p.isdigit() else p for p in path.replace("]", "").replace("[", ".").split(".")]


def _put(document: dict, path: str, value) -> None:
    *parents, last = _keys(path)
    _at(document, parents)[last] = value


@st.composite
def poisoned_references(draw):
    """The reference lab, filled in where it takes anything, with something that is not text or too long."""
    document = reference_document()
    document["nodes"][0].update({"env": {"GREETING": "hi"}, "files": [{"path": "/etc/motd", "content": ""}],
                                 "exec": ["true"]})
    document["nodes"][1]["resources"] = {}
    document["annotations"] = {"note": "", "list": [0], "n": 0}
    for _ in range(draw(st.integers(1, 2))):
        kind = draw(st.sampled_from(sorted(FREE)))
        path = draw(st.sampled_from(FREE[kind]))
        if kind == "text":
            _put(document, path, draw(nasty_text))
        elif kind == "number":
            _put(document, path, draw(nasty_number))
        else:  # a key (a Raw one is written as it is: a JSON string with an escape)
            _at(document, _keys(path))[draw(nasty_text)] = "x"
    return render(document)


bodies = (
    mutated_references()
    | poisoned_references()
    | json_values.map(render)
    | st.dictionaries(st.sampled_from(["format", "name", "nodes", "links", "annotations"]), json_values).map(render)
)


def _check(client, body) -> None:
    """Every property of the module for one request body (text or bytes)."""
    checked = client.post(f"{API}/validate", body, content_type="application/json")
    assert checked.status_code == 200, (checked.status_code, checked.content[:500])
    valid = checked.json()["valid"]

    before = Topology.objects.count()
    created = client.post(f"{API}/topologies", body, content_type="application/json")
    assert created.status_code in (201, 400), (created.status_code, created.content[:500])
    assert (created.status_code == 201) == valid, (valid, created.content[:500])
    if created.status_code == 400:
        assert Topology.objects.count() == before
        assert created.json()["errors"]
        return
    assert Topology.objects.count() == before + 1
    topology = created.json()
    read = client.get(f"{API}/topologies/{topology['id']}")
    assert read.status_code == 200 and read.json()["document"] == topology["document"]
    exported = client.get(f"{API}/topologies/{topology['id']}/export")
    assert exported.status_code == 200
    again = schema.loads(exported.content)
    assert again.ok, again.errors
    assert schema.dump(again.document) == topology["document"]
    replaced = client.put(f"{API}/topologies/{topology['id']}", exported.content, content_type="application/json")
    assert replaced.status_code == 200, replaced.content[:500]
    Topology.objects.filter(pk=topology["id"]).delete()  # the next example may take the same name


@BUDGET
@given(body=mutated_references())
def test_a_changed_reference_lab_never_crashes_the_api(client, body):
    _check(client, body)


@BUDGET
@given(body=poisoned_references())
def test_what_is_not_text_or_too_long_is_never_stored(client, body):
    _check(client, body)


@BUDGET
@given(body=bodies)
def test_any_json_never_crashes_the_api(client, body):
    _check(client, body)


@BUDGET
@given(body=st.binary(max_size=64) | bodies.map(lambda text: text.encode("utf-8", "surrogatepass")))
def test_any_bytes_never_crash_the_api(client, body):
    _check(client, body)


# --- the fast address readers read as ipaddress does ---------------------------------------------------------


def _outcome(function, text):
    try:
        return function(text)
    except ValueError as exc:
        return ("refused", str(exc))


def _slow_interface(text):
    iface = parse_interface_address(text)
    return iface.version, int(iface.ip), iface.network.prefixlen


def _slow_address(text):
    ip = ipaddress.ip_address(text)
    return ip.version, int(ip)


addresses_text = (
    st.text("0123456789.", max_size=18) | st.text("0123456789abcdefABCDEF:", max_size=41)
    | st.lists(st.sampled_from(["0", "00", "1", "01", "255", "256", "ffff", "fFfF0", "", "1.2.3.4"]),
               max_size=9).map(":".join)
    | st.lists(st.sampled_from(["0", "00", "1", "01", "9", "99", "199", "255", "256", "", " 1", "٣"]),
               max_size=5).map(".".join)
)
prefixes = st.sampled_from(["", "/", "/0", "/8", "/24", "/30", "/31", "/32", "/33", "/64", "/128", "/129", "/024",
                            "/-1", "/ 8", "/255.0.0.0"])


@settings(max_examples=3000, deadline=None, derandomize=True, database=None)
@given(address=addresses_text, prefix=prefixes)
def test_the_fast_address_readers_agree_with_ipaddress(address, prefix):
    text = address + prefix
    assert _outcome(interface_key, text) == _outcome(_slow_interface, text)
    assert _outcome(address_key, address) == _outcome(_slow_address, address)
    network = network_key(text)
    if network is not None:  # what the fast path takes, ipaddress takes the same way
        net = ipaddress.ip_network(text)
        assert network == (net.version, int(net.network_address), net.prefixlen)
