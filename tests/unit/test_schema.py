"""Unit tests of the ``topolab/v1`` format (``shared/spec/topology-v1.md``) as ``topology.schema`` reads it.

Most tests take the spec's reference example, change one thing with :func:`put`
and check that exactly the expected problem comes back, at its exact JSON path.
"""
from __future__ import annotations

import copy
import json
import re

import pytest

from tests.documents import SHARED_REFERENCE_FILE, reference_document
from topology.schema import (
    FORMAT,
    KINDS,
    Document,
    DocumentError,
    Limits,
    Problem,
    dump,
    loads,
    parse,
    validate,
)
from topology.schema.models import MAX_ADDRESSES_PER_INTERFACE, MAX_INTEGER_DIGITS, MAX_ROUTES_PER_NODE

# The example of the spec ("the router between two clients").
EXAMPLE = reference_document()

# A document that uses every field of the format at least once.
RICH = {
    "format": "topolab/v1",
    "name": "rich-lab-2",
    "description": "Every field of topolab/v1: IPv6, a switch, impairment, files, env, exec, resources.",
    "nodes": [
        {
            "name": "h1",
            "kind": "host",
            "image": "registry:5000/team/img:1.0",
            "position": {"x": 1.5, "y": -2},
            "routes": [
                {"to": "default", "via": "192.168.1.1"},
                {"to": "default", "via": "2001:db8:1::1"},
                {"to": "10.0.0.0/8", "dev": "eth0"},
                {"to": "2001:db8:ff::/48", "via": "2001:db8:1::1"},
            ],
            "sysctls": {"net.ipv6.conf.all.disable_ipv6": "0", "net.core.somaxconn": "1024",
                        "net.ipv4.tcp_ecn": "1"},
            "env": {"GREETING": "hello world", "EMPTY": "", "_private1": "x=y"},
            "files": [
                {"path": "/etc/motd", "content": "hi\n", "mode": "0600"},
                {"path": "/opt/run.sh", "content": "#!/bin/sh\necho ok\n"},
            ],
            "exec": ["sh /opt/run.sh", "ip -6 addr show dev eth0"],
            "resources": {"cpus": 0.5, "memory_mb": 256, "pids": 100},
        },
        {"name": "r1", "kind": "router", "position": {"x": 0, "y": 0}},
        {"name": "s1", "kind": "switch", "image": "topolab/base"},
        {"name": "h2", "position": {"x": -3.25, "y": 7}},
        {
            "name": "f1",
            "kind": "frr",
            "image": "topolab/frr@sha256:" + "0123456789abcdef" * 4,
            "files": [
                {"path": "/etc/frr/frr.conf", "content": "hostname f1\nrouter ospf\n", "mode": "0640"},
                {"path": "/etc/frr/daemons", "content": "ospfd=yes\n"},
            ],
        },
    ],
    "links": [
        {
            "endpoints": [
                {"node": "h1", "interface": "eth0", "addresses": ["192.168.1.2/24", "2001:db8:1::2/64"],
                 "mac": "02:00:00:00:00:01"},
                {"node": "r1", "interface": "eth0", "addresses": ["192.168.1.1/24", "2001:db8:1::1/64"],
                 "mac": "AA:BB:CC:DD:EE:FE"},
            ],
            "impairment": {"delay_ms": 20, "jitter_ms": 5, "loss_percent": 0.5, "rate_kbit": 10000},
            "mtu": 9000,
        },
        {
            "endpoints": [
                {"node": "r1", "interface": "eth1", "addresses": ["10.0.0.0/31", "2001:db8:2::/127"]},
                {"node": "f1", "interface": "eth0", "addresses": ["10.0.0.1/31", "2001:db8:2::1/127"]},
            ],
            "state": "down",
            "mtu": 68,
        },
        {"endpoints": [{"node": "s1", "interface": "p1"},
                       {"node": "h2", "interface": "eth0", "addresses": ["172.16.0.2/24"]}],
         "state": "up"},
        {"endpoints": [{"node": "s1", "interface": "p2"},
                       {"node": "r1", "interface": "eth2", "addresses": ["172.16.0.1/24"]}],
         "impairment": {"rate_kbit": 1}},
    ],
    "annotations": {"editor": {"zoom": 1.25, "selected": ["h1", None], "dark": True, "pan": {"x": 0, "y": -1.5}}},
}

DELETE = object()


def put(data: dict, path: str, value: object) -> dict:
    """A copy of ``data`` with ``value`` at ``path`` (``links[0].endpoints[1].node``).

    An index one past the end of a list appends; ``DELETE`` removes the key.
    """
    data = copy.deepcopy(data)
    parts = [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)]
    target = data
    for part in parts[:-1]:
        target = target[part]
    last = parts[-1]
    if value is DELETE:
        del target[last]
    elif isinstance(last, int) and last == len(target):
        target.append(value)
    else:
        target[last] = value
    return data


def example(path: str | None = None, value: object = None) -> dict:
    return copy.deepcopy(EXAMPLE) if path is None else put(EXAMPLE, path, value)


def with_node(**fields) -> dict:
    """The example with a fourth node ``x`` (nodes[3]) holding ``fields``."""
    return example("nodes[3]", {"name": "x", **fields})


def with_address(*addresses) -> dict:
    """The example with c1's eth0 (links[0].endpoints[0]) holding ``addresses``."""
    return example("links[0].endpoints[0].addresses", list(addresses))


def assert_only_error(data: dict, path: str, *words: str, limits: Limits | None = None) -> Problem:
    """``data`` is rejected with exactly one error, at ``path``, whose message holds every word."""
    result = validate(data, limits)
    assert not result.ok
    assert result.document is None
    assert [p.path for p in result.errors] == [path], result.errors
    message = result.errors[0].message
    for word in words:
        assert word in message, (word, message)
    return result.errors[0]


def assert_valid(data: dict, limits: Limits | None = None):
    result = validate(data, limits)
    assert result.errors == [], result.errors
    assert result.ok
    assert isinstance(result.document, Document)
    return result


# --- the reference example and round trips ----------------------------------------------------------


def test_it_accepts_the_reference_example_with_no_errors_and_no_warnings():
    result = validate(example())
    assert result.ok
    assert result.errors == []
    assert result.warnings == []
    assert result.as_dict() == {"valid": True, "errors": [], "warnings": []}
    assert [n.name for n in result.document.nodes] == ["c1", "r1", "c2"]


def test_it_reads_the_shared_example_file_as_the_spec_example():
    if not SHARED_REFERENCE_FILE.is_file():
        pytest.skip("shared/examples is not next to this checkout")
    text = SHARED_REFERENCE_FILE.read_text(encoding="utf-8")
    assert json.loads(text) == EXAMPLE
    result = loads(text)
    assert (result.errors, result.warnings) == ([], [])
    assert dump(result.document) == EXAMPLE


@pytest.mark.parametrize("doc", [EXAMPLE, RICH], ids=["example", "rich"])
def test_it_round_trips_a_document(doc):
    result = validate(copy.deepcopy(doc))
    assert (result.errors, result.warnings) == ([], [])
    assert dump(result.document) == doc
    # Through JSON text as well (export to a file, import it back): same text.
    text = json.dumps(dump(result.document), sort_keys=True)
    again = loads(text)
    assert again.ok
    assert json.dumps(dump(again.document), sort_keys=True) == text == json.dumps(doc, sort_keys=True)


def test_it_keeps_numbers_as_written_in_a_round_trip():
    dumped = dump(parse(copy.deepcopy(RICH)))
    assert type(dumped["nodes"][0]["position"]["y"]) is int
    assert type(dumped["nodes"][0]["position"]["x"]) is float
    assert type(dumped["links"][0]["impairment"]["delay_ms"]) is int
    assert type(dumped["links"][0]["impairment"]["loss_percent"]) is float


def test_it_adds_no_defaults_when_dumping():
    minimal = {"format": "topolab/v1", "name": "m", "nodes": [{"name": "a"}, {"name": "b"}],
               "links": [{"endpoints": [{"node": "a", "interface": "e"}, {"node": "b", "interface": "e"}]}]}
    document = parse(copy.deepcopy(minimal))
    assert dump(document) == minimal
    # ...while the typed document knows the defaults.
    a = document.node("a")
    assert (a.kind, a.routes, a.sysctls, a.env, a.files, a.exec, a.resources) == ("host", [], {}, {}, [], [], None)
    assert document.links[0].state == "up" and document.links[0].mtu is None
    assert dump(parse({"format": "topolab/v1", "name": "e", "nodes": []})) == {
        "format": "topolab/v1", "name": "e", "nodes": []}


@pytest.mark.parametrize("annotations", [
    {},
    {"editor": {"zoom": 2, "view": [1, 2.5, None, True, "x", {"deep": {"er": []}}]}},
    {"Any Key At All": "kept", "": 0, "nodse": []},
])
def test_it_keeps_annotations_as_is(annotations):
    doc = example("annotations", annotations)
    result = assert_valid(doc)
    assert result.document.annotations == annotations
    assert dump(result.document) == doc


def test_it_rejects_annotations_nested_too_deeply_to_export():
    deep: dict = {}
    inner = deep
    for _ in range(64):
        inner["a"] = {}
        inner = inner["a"]
    assert_only_error(example("annotations", deep), "annotations", "nested more than 64 levels")
    shallower = example("annotations", deep["a"])
    assert dump(assert_valid(shallower).document) == shallower


# --- top level ------------------------------------------------------------------------------------------


def test_it_names_the_format():
    assert FORMAT == "topolab/v1"
    assert KINDS == ("host", "router", "switch", "frr")


@pytest.mark.parametrize("path, value, where, words", [
    ("format", "topolab/v2", "format", ["must be 'topolab/v1'", "'topolab/v2'"]),
    ("format", "Topolab/V1", "format", ["must be 'topolab/v1'"]),
    ("format", 1, "format", ["must be 'topolab/v1', not 1"]),
    ("format", None, "format", ["must be 'topolab/v1', not null"]),
    ("format", DELETE, "format", ["is required"]),
    ("name", "Router", "name", ["'Router'", "lowercase letters, digits and '-'"]),
    ("name", "-lab", "name", ["'-lab'", "not start with '-'"]),
    ("name", "lab_1", "name", ["'lab_1'"]),
    ("name", "lab 1", "name", ["'lab 1'"]),
    ("name", "", "name", ["at most 40"]),
    ("name", "a" * 41, "name", ["at most 40"]),
    ("name", "lab\n", "name", ["lowercase"]),
    ("name", 7, "name", ["must be a string, not 7"]),
    ("name", DELETE, "name", ["is required"]),
    ("description", "d" * 4001, "description", ["at most 4000 characters"]),
    ("description", ["text"], "description", ["must be a string, not a list"]),
    ("nodes", DELETE, "nodes", ["is required"]),
    ("nodes", {"c1": {}}, "nodes", ["must be a list, not an object"]),
    ("links", "none", "links", ["must be a list, not a string"]),
    ("annotations", ["view"], "annotations", ["must be an object, not a list"]),
    ("nodse", [], "nodse", ["unknown key", "topolab/v1"]),
    ("version", 1, "version", ["unknown key"]),
])
def test_it_checks_the_top_level(path, value, where, words):
    assert_only_error(example(path, value), where, *words)


@pytest.mark.parametrize("path, value", [
    ("name", "a"),
    ("name", "0lab"),
    ("name", "9"),
    ("name", "a" * 40),
    ("name", "lab-"),
    ("description", "d" * 4000),
    ("description", ""),
    ("description", DELETE),
    ("links", DELETE),
])
def test_it_accepts_top_level_values_the_spec_allows(path, value):
    assert_valid(example(path, value))


def test_it_accepts_an_empty_lab():
    result = validate({"format": "topolab/v1", "name": "empty", "nodes": []})
    assert (result.errors, result.warnings) == ([], [])
    assert result.document.links == []


@pytest.mark.parametrize("data", [[], "topolab/v1", None, 3, [EXAMPLE]])
def test_it_wants_a_json_object(data):
    result = validate(data)
    assert result.errors == [Problem("", "a topolab/v1 document is a JSON object")]
    assert result.document is None


# --- nodes ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["X", "1a", "-a", "a_b", "a.b", "a b", "", "a" * 32, "é", "a\n"])
def test_it_checks_node_names(name):
    assert_only_error(with_node(name=name), "nodes[3].name", "must start with a lowercase letter", "at most 31")


@pytest.mark.parametrize("name", ["a", "a" * 31, "a-1", "a-", "router-1"])
def test_it_accepts_node_names(name):
    assert_valid(with_node(name=name))


def test_it_wants_node_names_unique():
    assert_only_error(example("nodes[3]", {"name": "r1"}), "nodes[3].name", "'r1'", "already the name of nodes[1]")


def test_it_wants_a_node_name():
    assert_only_error(example("nodes[3]", {"kind": "host"}), "nodes[3].name", "is required")


@pytest.mark.parametrize("kind", ["hub", "Host", "", "docker", None])
def test_it_checks_kinds(kind):
    problem = assert_only_error(with_node(kind=kind), "nodes[3].kind")
    assert problem.message.startswith("must be 'host', 'router', 'switch' or 'frr'"), problem.message


@pytest.mark.parametrize("kind, image", [("host", "topolab/base"), ("router", "topolab/base"),
                                         ("switch", "topolab/base"), ("frr", "topolab/frr")])
def test_it_gives_each_kind_its_default_image(kind, image):
    document = parse(with_node(kind=kind))
    assert document.node("x").effective_image == image
    assert parse(with_node(kind=kind, image="alpine:3.20")).node("x").effective_image == "alpine:3.20"


@pytest.mark.parametrize("image", [
    "topolab/base", "alpine", "alpine:3.20", "ubuntu:22.04", "registry:5000/team/img:1.0",
    "ghcr.io/owner/img", "quay.io/a__b/c--d:v1.2-rc_3", "localhost:5000/x",
    "nginx@sha256:" + "a" * 64, "my.registry.example/team/app:latest@sha256:" + "b" * 64,
])
def test_it_accepts_docker_image_references(image):
    assert_valid(with_node(image=image))


@pytest.mark.parametrize("image", [
    "Topolab/Base", "topolab/base:", "a b", "", "/img", "img/", "img:tag with space", "-img", "img@sha256:abc",
    "img:" + "t" * 129, "img___x",
])
def test_it_checks_image_references(image):
    assert_only_error(with_node(image=image), "nodes[3].image", "Docker image reference")


def test_it_caps_the_length_of_an_image_reference():
    assert_only_error(with_node(image="a" * 256), "nodes[3].image", "at most 255 characters")


@pytest.mark.parametrize("position, where, words", [
    ({"x": 0}, "nodes[3].position.y", ["is required"]),
    ({"x": "1", "y": 0}, "nodes[3].position.x", ["must be a number, not a string"]),
    ({"x": 0, "y": True}, "nodes[3].position.y", ["must be a number, not true"]),
    ({"x": 0, "y": None}, "nodes[3].position.y", ["must be a number, not null"]),
    ({"x": 0, "y": float("nan")}, "nodes[3].position.y", ["must be a finite number"]),
    ({"x": float("inf"), "y": 0}, "nodes[3].position.x", ["must be a finite number"]),
    ({"x": 0, "y": 0, "z": 0}, "nodes[3].position.z", ["unknown key"]),
    ([0, 0], "nodes[3].position", ["must be an object"]),
])
def test_it_checks_positions(position, where, words):
    assert_only_error(with_node(position=position), where, *words)


@pytest.mark.parametrize("routes, where, words", [
    ([{"to": "default"}], "nodes[0].routes[0]", ["exactly one of 'via'", "'dev'"]),
    ([{"to": "default", "via": "192.168.10.1", "dev": "eth0"}], "nodes[0].routes[0]", ["exactly one of"]),
    ([{"to": "default", "dev": "eth0"}], "nodes[0].routes[0]", ["0.0.0.0/0", "::/0"]),
    ([{"via": "192.168.10.1"}], "nodes[0].routes[0].to", ["is required"]),
    ([{"to": "10.0.0.1/8", "via": "192.168.10.1"}], "nodes[0].routes[0].to",
     ["'10.0.0.1/8' has host bits set", "'10.0.0.0/8'"]),
    ([{"to": "2001:db8::1/32", "via": "2001:db8::1"}], "nodes[0].routes[0].to",
     ["host bits", "'2001:db8::/32'"]),
    ([{"to": "nowhere", "via": "192.168.10.1"}], "nodes[0].routes[0].to",
     ["must be 'default' or a network", "'nowhere'"]),
    ([{"to": "10.0.0.0/33", "via": "192.168.10.1"}], "nodes[0].routes[0].to", ["'default' or a network"]),
    ([{"to": "10.0.0.0/255.0.0.0", "via": "192.168.10.1"}], "nodes[0].routes[0].to",
     ["prefix length", "'10.0.0.0/8'"]),
    ([{"to": "10.0.0.0/8", "via": "192.168.10.256"}], "nodes[0].routes[0].via",
     ["must be an IP address", "'192.168.10.256'"]),
    ([{"to": "10.0.0.0/8", "via": "192.168.10.1/24"}], "nodes[0].routes[0].via", ["must be an IP address"]),
    ([{"to": "2001:db8::/32", "via": "192.168.10.1"}], "nodes[0].routes[0]", ["different IP families"]),
    ([{"to": "10.0.0.0/8", "via": "fe80::1"}], "nodes[0].routes[0]", ["different IP families"]),
    ([{"to": "10.0.0.0/8", "dev": "eth1"}], "nodes[0].routes[0].dev", ["'c1' has no interface 'eth1'"]),
    ([{"to": "10.0.0.0/8", "dev": "lo"}], "nodes[0].routes[0].dev", ["no interface 'lo'"]),
    ([{"to": "10.0.0.0/8", "dev": "eth 0"}], "nodes[0].routes[0].dev", ["'eth 0' must start with a letter"]),
    ([{"to": "10.0.0.0/8", "via": "192.168.10.1", "metric": 5}], "nodes[0].routes[0].metric", ["unknown key"]),
    ([{"to": "default", "via": 3232238081}], "nodes[0].routes[0].via", ["must be a string"]),
    ("default via 192.168.10.1", "nodes[0].routes", ["must be a list"]),
])
def test_it_checks_routes(routes, where, words):
    assert_only_error(example("nodes[0].routes", routes), where, *words)


@pytest.mark.parametrize("routes", [
    [{"to": "default", "via": "192.168.10.1"}],
    [{"to": "10.0.0.0/8", "via": "192.168.10.1"}, {"to": "172.16.0.0/12", "dev": "eth0"}],
    [{"to": "0.0.0.0/0", "dev": "eth0"}],
    [{"to": "::/0", "dev": "eth0"}],
    [{"to": "192.168.99.7", "via": "192.168.10.1"}],
    [{"to": "192.168.99.7/32", "via": "192.168.10.1"}],
    [],
])
def test_it_accepts_routes(routes):
    result = assert_valid(example("nodes[0].routes", routes))
    assert result.warnings == []


def test_it_takes_the_family_of_default_from_via():
    document = parse(put(with_address("192.168.10.2/24", "2001:db8::2/64"), "nodes[0].routes",
                         [{"to": "default", "via": "192.168.10.1"}, {"to": "default", "via": "2001:db8::1"}]))
    assert [str(r.network()) for r in document.node("c1").routes] == ["0.0.0.0/0", "::/0"]


@pytest.mark.parametrize("sysctls", [
    {"kernel.shmmax": "1"},
    {"vm.swappiness": "10"},
    {"net.netfilter.nf_conntrack_max": "1"},
    {"net.ipv4": "1"},
    {"net.ipv4.": "1"},
    {"net.ipv4..ip_forward": "1"},
    {"net.ipv4.ip_forward.": "1"},
    {"net.ipv4.ip_forward\n": "1"},
    {"net.ipv4/ip_forward": "1"},
    {"net.ipv4.ip/../forward": "1"},
    {"net.unix.max_dgram_qlen": "1"},
])
def test_it_allows_only_namespaced_sysctls(sysctls):
    (key,) = sysctls
    assert_only_error(with_node(sysctls=sysctls), "nodes[3].sysctls", f"'{key}' is not allowed",
                      "net.ipv4., net.ipv6. and net.core.")


def test_it_lists_every_bad_sysctl():
    problem = assert_only_error(with_node(sysctls={"kernel.a": "1", "net.ipv4.ok": "1", "vm.b": "2"}),
                                "nodes[3].sysctls")
    assert "'kernel.a'" in problem.message and "'vm.b'" in problem.message
    assert "net.ipv4.ok" not in problem.message


@pytest.mark.parametrize("sysctls, where, words", [
    ({"net.ipv4.ip_forward": 1}, "nodes[3].sysctls.net.ipv4.ip_forward", ["must be a string, not 1"]),
    ({"net.ipv4.ip_forward": "1\n0"}, "nodes[3].sysctls", ["'net.ipv4.ip_forward'", "single line"]),
    ({"net.ipv4.ip_forward": "1" * 257}, "nodes[3].sysctls.net.ipv4.ip_forward", ["at most 256"]),
    (["net.ipv4.ip_forward=1"], "nodes[3].sysctls", ["must be an object"]),
])
def test_it_checks_sysctl_values(sysctls, where, words):
    assert_only_error(with_node(sysctls=sysctls), where, *words)


def test_it_accepts_namespaced_sysctls():
    sysctls = {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1", "net.core.somaxconn": "4096",
               "net.ipv4.conf.eth0.rp_filter": "0", "net.ipv4.ip_local_port_range": "1024 65000"}
    assert parse(with_node(sysctls=sysctls)).node("x").sysctls == sysctls


@pytest.mark.parametrize("env, where, words", [
    ({"1A": "x"}, "nodes[3].env", ["'1A' is not a valid environment variable name"]),
    ({"A-B": "x"}, "nodes[3].env", ["'A-B'"]),
    ({"": "x"}, "nodes[3].env", ["'' is not a valid"]),
    ({"A B": "x"}, "nodes[3].env", ["'A B'"]),
    ({"A\n": "x"}, "nodes[3].env", ["not a valid environment variable name"]),
    ({"A": "x\x00y"}, "nodes[3].env", ["'A'", "NUL"]),
    ({"A": 1}, "nodes[3].env.A", ["must be a string, not 1"]),
    ({"int": 1}, "nodes[3].env.int", ["must be a string, not 1"]),
    ({"float": None}, "nodes[3].env.float", ["must be a string, not null"]),
    ({"A": "v" * 65537}, "nodes[3].env.A", ["at most 65536"]),
    ("A=1", "nodes[3].env", ["must be an object"]),
])
def test_it_checks_env(env, where, words):
    assert_only_error(with_node(env=env), where, *words)


def test_it_accepts_env():
    env = {"A": "1", "_x": "", "PATH": "/usr/bin:/bin", "LONG_NAME_2": "a b\nc", "int": "ok"}
    assert parse(with_node(env=env)).node("x").env == env


@pytest.mark.parametrize("files, where, words", [
    ([{"path": "etc/motd"}], "nodes[3].files[0].path", ["absolute path"]),
    ([{"path": ""}], "nodes[3].files[0].path", ["absolute path"]),
    ([{"path": "/etc/../root/.ssh/authorized_keys"}], "nodes[3].files[0].path", ["must not contain '..'"]),
    ([{"path": "/.."}], "nodes[3].files[0].path", ["'..'"]),
    ([{"path": "/etc/frr/"}], "nodes[3].files[0].path", ["name a file, not a directory"]),
    ([{"path": "/"}], "nodes[3].files[0].path", ["not a directory"]),
    ([{"path": "/etc/."}], "nodes[3].files[0].path", ["not a directory"]),
    ([{"path": "/a" * 2049}], "nodes[3].files[0].path", ["4098 characters", "at most 4096"]),
    ([{"path": "/etc/a\x00b"}], "nodes[3].files[0].path", ["NUL"]),
    ([{"content": "x"}], "nodes[3].files[0].path", ["is required"]),
    ([{"path": 5}], "nodes[3].files[0].path", ["must be a string"]),
    ([{"path": "/x", "mode": "999"}], "nodes[3].files[0].mode", ["'999'", "octal mode such as \"0644\""]),
    ([{"path": "/x", "mode": "rw-r--r--"}], "nodes[3].files[0].mode", ["octal mode"]),
    ([{"path": "/x", "mode": "77777"}], "nodes[3].files[0].mode", ["octal mode"]),
    ([{"path": "/x", "mode": "64"}], "nodes[3].files[0].mode", ["octal mode"]),
    ([{"path": "/x", "mode": 420}], "nodes[3].files[0].mode", ["must be a string, not 420"]),
    ([{"path": "/x", "content": ["line"]}], "nodes[3].files[0].content", ["must be a string"]),
    ([{"path": "/x", "owner": "root"}], "nodes[3].files[0].owner", ["unknown key"]),
    ([{"path": "/x", "content": "a" * (256 * 1024 + 1)}], "nodes[3].files[0].content",
     ["262145 bytes", "at most 262144 bytes (256 KiB)"]),
    # The limit is on bytes of UTF-8, not on characters.
    ([{"path": "/x", "content": "é" * (128 * 1024 + 1)}], "nodes[3].files[0].content", ["262146 bytes"]),
    ([{"path": "/etc/x"}, {"path": "/etc/x"}], "nodes[3].files[1].path",
     ["'/etc/x' is given twice", "nodes[3].files[0]"]),
    ([{"path": "/etc/x"}, {"path": "/etc/y"}, {"path": "/etc//x"}], "nodes[3].files[2].path", ["given twice"]),
    ([{"path": "/etc/x"}, {"path": "/etc/./x"}], "nodes[3].files[1].path", ["given twice"]),
    ({"path": "/x"}, "nodes[3].files", ["must be a list"]),
])
def test_it_checks_files(files, where, words):
    assert_only_error(with_node(files=files), where, *words)


@pytest.mark.parametrize("files", [
    [{"path": "/x"}],
    [{"path": "/etc/frr/frr.conf", "content": "a" * (256 * 1024), "mode": "0640"}],
    [{"path": "/x", "content": "é" * (128 * 1024)}],
    [{"path": "/x", "mode": "644"}, {"path": "/y", "mode": "4755"}, {"path": "/z", "mode": "00600"}],
    [{"path": "/etc/x"}, {"path": "/etc/X"}, {"path": "/etc/x.d/x"}],
    [{"path": "/etc/..x/a...b"}],
])
def test_it_accepts_files(files):
    assert_valid(with_node(files=files))


def test_it_checks_duplicate_file_paths_per_node():
    doc = put(with_node(files=[{"path": "/etc/x"}]), "nodes[4]", {"name": "y", "files": [{"path": "/etc/x"}]})
    assert_valid(doc)


@pytest.mark.parametrize("exec_, where, words", [
    ([""], "nodes[3].exec[0]", ["must not be empty"]),
    (["ok", ""], "nodes[3].exec[1]", ["must not be empty"]),
    ([1], "nodes[3].exec[0]", ["must be a string, not 1"]),
    (["echo a\x00b"], "nodes[3].exec", ["NUL"]),
    ("ip link", "nodes[3].exec", ["must be a list, not a string"]),
    (["x" * 65537], "nodes[3].exec[0]", ["at most 65536"]),
])
def test_it_checks_exec(exec_, where, words):
    assert_only_error(with_node(exec=exec_), where, *words)


def test_it_keeps_exec_in_order():
    commands = ["ip link set eth0 up", "sysctl -w net.ipv4.ip_forward=1", "echo 'a; b' > /tmp/x"]
    assert parse(with_node(exec=commands)).node("x").exec == commands


@pytest.mark.parametrize("resources, where, words", [
    ({"cpus": 0}, "nodes[3].resources.cpus", ["must be greater than 0"]),
    ({"cpus": -1.5}, "nodes[3].resources.cpus", ["greater than 0"]),
    ({"cpus": "1"}, "nodes[3].resources.cpus", ["must be a number, not a string"]),
    ({"cpus": float("inf")}, "nodes[3].resources.cpus", ["finite"]),
    ({"memory_mb": 5}, "nodes[3].resources.memory_mb", ["must be at least 6"]),
    ({"memory_mb": 256.0}, "nodes[3].resources.memory_mb", ["must be a whole number, not 256.0"]),
    ({"memory_mb": "256"}, "nodes[3].resources.memory_mb", ["whole number"]),
    ({"pids": 7}, "nodes[3].resources.pids", ["must be at least 8"]),
    ({"pids": True}, "nodes[3].resources.pids", ["whole number, not true"]),
    ({"disk_mb": 10}, "nodes[3].resources.disk_mb", ["unknown key"]),
    (2, "nodes[3].resources", ["must be an object"]),
])
def test_it_checks_resources(resources, where, words):
    assert_only_error(with_node(resources=resources), where, *words)


@pytest.mark.parametrize("resources", [
    {}, {"cpus": 1}, {"cpus": 0.25}, {"memory_mb": 6}, {"pids": 8}, {"cpus": 2, "memory_mb": 2048, "pids": 4096},
])
def test_it_accepts_resources_within_the_caps(resources):
    result = assert_valid(put(with_node(resources=resources), "links[2]", {
        "endpoints": [{"node": "x", "interface": "eth0"}, {"node": "c1", "interface": "eth9"}]}))
    assert result.warnings == []


def test_it_rejects_unknown_node_keys():
    assert_only_error(with_node(interfaces=[]), "nodes[3].interfaces", "unknown key")


# --- links ------------------------------------------------------------------------------------------------


ONE_END = {"node": "c1", "interface": "eth5"}


@pytest.mark.parametrize("path, value, where, words", [
    ("links[0].endpoints", [ONE_END], "links[0].endpoints", ["exactly 2 endpoints, not 1"]),
    ("links[0].endpoints", [], "links[0].endpoints", ["exactly 2 endpoints, not 0"]),
    ("links[0].endpoints[2]", ONE_END, "links[0].endpoints", ["exactly 2 endpoints, not 3"]),
    ("links[0].endpoints", DELETE, "links[0].endpoints", ["is required"]),
    ("links[0].endpoints", {"a": ONE_END}, "links[0].endpoints", ["must be a list"]),
    ("links[0].endpoints[1]", "r1:eth0", "links[0].endpoints[1]", ["must be an object"]),
    ("links[0]", ["c1", "r1"], "links[0]", ["must be an object"]),
    ("links[0].state", "off", "links[0].state", ["must be 'up' or 'down'", "'off'"]),
    ("links[0].state", "UP", "links[0].state", ["'up' or 'down'"]),
    ("links[0].state", True, "links[0].state", ["must be 'up' or 'down', not true"]),
    ("links[0].mtu", 67, "links[0].mtu", ["must be at least 68, not 67"]),
    ("links[0].mtu", 65536, "links[0].mtu", ["must be at most 65535, not 65536"]),
    ("links[0].mtu", 0, "links[0].mtu", ["at least 68"]),
    ("links[0].mtu", "1500", "links[0].mtu", ["must be a whole number, not a string"]),
    ("links[0].mtu", 1500.0, "links[0].mtu", ["whole number"]),
    ("links[0].name", "uplink", "links[0].name", ["unknown key"]),
    ("links[0].impairment", {"delay_ms": -1}, "links[0].impairment.delay_ms", ["must be at least 0"]),
    ("links[0].impairment", {"delay_ms": 60001}, "links[0].impairment.delay_ms", ["must be at most 60000"]),
    ("links[0].impairment", {"delay_ms": "10ms"}, "links[0].impairment.delay_ms", ["must be a number"]),
    ("links[0].impairment", {"delay_ms": 10, "jitter_ms": -1}, "links[0].impairment.jitter_ms", ["at least 0"]),
    ("links[0].impairment", {"delay_ms": 10, "jitter_ms": 60000.5}, "links[0].impairment.jitter_ms",
     ["at most 60000"]),
    ("links[0].impairment", {"jitter_ms": 5}, "links[0].impairment", ["'jitter_ms' needs a 'delay_ms'"]),
    ("links[0].impairment", {"delay_ms": 0, "jitter_ms": 5}, "links[0].impairment", ["needs a 'delay_ms'"]),
    ("links[0].impairment", {"loss_percent": 100.5}, "links[0].impairment.loss_percent", ["at most 100"]),
    ("links[0].impairment", {"loss_percent": -0.1}, "links[0].impairment.loss_percent", ["at least 0"]),
    ("links[0].impairment", {"loss_percent": float("nan")}, "links[0].impairment.loss_percent", ["finite"]),
    ("links[0].impairment", {"rate_kbit": 0}, "links[0].impairment.rate_kbit", ["must be greater than 0"]),
    ("links[0].impairment", {"rate_kbit": 1.5}, "links[0].impairment.rate_kbit", ["whole number, not 1.5"]),
    ("links[0].impairment", {"rate_kbit": 100_000_001}, "links[0].impairment.rate_kbit", ["at most 100000000"]),
    ("links[0].impairment", {"reorder_percent": 1}, "links[0].impairment.reorder_percent", ["unknown key"]),
    ("links[0].impairment", "slow", "links[0].impairment", ["must be an object"]),
])
def test_it_checks_links(path, value, where, words):
    assert_only_error(example(path, value), where, *words)


@pytest.mark.parametrize("path, value", [
    ("links[0].state", "down"),
    ("links[0].state", "up"),
    ("links[0].mtu", 68),
    ("links[0].mtu", 65535),
    ("links[0].mtu", 1500),
    ("links[0].impairment", {}),
    ("links[0].impairment", {"delay_ms": 0}),
    ("links[0].impairment", {"delay_ms": 2.5, "jitter_ms": 0.5}),
    ("links[0].impairment", {"delay_ms": 60000, "jitter_ms": 60000}),
    ("links[0].impairment", {"loss_percent": 0}),
    ("links[0].impairment", {"loss_percent": 100}),
    ("links[0].impairment", {"rate_kbit": 1}),
    ("links[0].impairment", {"rate_kbit": 100_000_000}),
])
def test_it_accepts_link_settings(path, value):
    document = assert_valid(example(path, value)).document
    assert dump(document)["links"][0][path.split(".")[-1]] == value


def test_it_knows_which_impairments_need_netem():
    def needs(impairment):
        return parse(example("links[0].impairment", impairment)).links[0].impairment.needs_netem
    assert needs({"delay_ms": 10}) and needs({"loss_percent": 1})
    assert not needs({"rate_kbit": 100})


# --- endpoints --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path, value, where, words", [
    ("links[0].endpoints[1].node", "r9", "links[0].endpoints[1].node", ["no node named 'r9'"]),
    ("links[1].endpoints[0].node", "C2", "links[1].endpoints[0].node", ["no node named 'C2'"]),
    ("links[0].endpoints[1].node", DELETE, "links[0].endpoints[1].node", ["is required"]),
    ("links[0].endpoints[1].node", 1, "links[0].endpoints[1].node", ["must be a string"]),
    ("links[0].endpoints[0].interface", "lo", "links[0].endpoints[0].interface", ["'lo' is the loopback"]),
    ("links[0].endpoints[0].interface", "0eth", "links[0].endpoints[0].interface",
     ["'0eth' must start with a letter", "at most 15"]),
    ("links[0].endpoints[0].interface", "eth 0", "links[0].endpoints[0].interface", ["must start with a letter"]),
    ("links[0].endpoints[0].interface", "eth/0", "links[0].endpoints[0].interface", ["must start with a letter"]),
    ("links[0].endpoints[0].interface", "e" * 16, "links[0].endpoints[0].interface", ["at most 15"]),
    ("links[0].endpoints[0].interface", "", "links[0].endpoints[0].interface", ["must start with a letter"]),
    ("links[0].endpoints[0].interface", DELETE, "links[0].endpoints[0].interface", ["is required"]),
    ("links[0].endpoints[0].ip", "10.0.0.1/24", "links[0].endpoints[0].ip", ["unknown key"]),
    ("links[0].endpoints[0].addresses", "192.168.10.2/24", "links[0].endpoints[0].addresses",
     ["must be a list"]),
    ("links[1].endpoints[1].interface", "eth0", "links[1].endpoints[1].interface",
     ["r1:eth0 is already used by links[0]"]),
    ("links[2]", {"endpoints": [{"node": "c1", "interface": "eth1"}, {"node": "c1", "interface": "eth1"}]},
     "links[2].endpoints[1].interface", ["c1:eth1 is already used by links[2]"]),
    ("links[0].endpoints[0].mac", "02:00:00:00:00:0g", "links[0].endpoints[0].mac",
     ["'02:00:00:00:00:0g' must be a MAC address"]),
    ("links[0].endpoints[0].mac", "02-00-00-00-00-01", "links[0].endpoints[0].mac", ["MAC address"]),
    ("links[0].endpoints[0].mac", "02:00:00:00:00", "links[0].endpoints[0].mac", ["MAC address"]),
    ("links[0].endpoints[0].mac", "0200.0000.0001", "links[0].endpoints[0].mac", ["MAC address"]),
    ("links[0].endpoints[0].mac", "01:00:5e:00:00:01", "links[0].endpoints[0].mac",
     ["multicast", "first byte must be even"]),
    ("links[0].endpoints[0].mac", "ff:ff:ff:ff:ff:ff", "links[0].endpoints[0].mac", ["multicast"]),
    ("links[0].endpoints[0].mac", "00:00:00:00:00:00", "links[0].endpoints[0].mac", ["not a usable address"]),
])
def test_it_checks_endpoints(path, value, where, words):
    assert_only_error(example(path, value), where, *words)


@pytest.mark.parametrize("interface", ["e", "e" * 15, "eth0.100", "veth_a-b", "E", "br0", "lo0", "lan"])
def test_it_accepts_interface_names(interface):
    assert_valid(example("links[0].endpoints[1].interface", interface))


@pytest.mark.parametrize("mac", ["02:00:00:00:00:01", "AA:BB:CC:DD:EE:FE", "fe:ff:ff:ff:ff:ff", "00:00:00:00:00:01"])
def test_it_accepts_unicast_macs(mac):
    assert_valid(example("links[0].endpoints[0].mac", mac))


def test_it_allows_a_node_linked_to_itself_on_two_interfaces():
    assert_valid(example("links[2]", {"endpoints": [{"node": "c1", "interface": "eth1"},
                                                    {"node": "c1", "interface": "eth2"}]}))


def test_it_reports_a_missing_node_once_per_endpoint():
    doc = example("links[2]", {"endpoints": [{"node": "r8", "interface": "eth0"},
                                             {"node": "r9", "interface": "eth0"}]})
    assert validate(doc).errors == [
        Problem("links[2].endpoints[0].node", "no node named 'r8'"),
        Problem("links[2].endpoints[1].node", "no node named 'r9'"),
    ]


# --- addresses --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("address, words", [
    ("192.168.10.2", ["needs a prefix length", "'192.168.10.2/24'"]),
    ("2001:db8::2", ["needs a prefix length", "'2001:db8::2/64'"]),
    ("garbage", ["'garbage' is not an IPv4 or IPv6 address"]),
    ("300.1.1.1/24", ["not an IPv4 or IPv6 address with a prefix length"]),
    ("10.0.0.1/33", ["not an IPv4 or IPv6 address"]),
    ("2001:db8::1/129", ["not an IPv4 or IPv6 address"]),
    ("10.0.0.1/", ["not an IPv4 or IPv6 address"]),
    ("10.0.0.1/x", ["not an IPv4 or IPv6 address"]),
    ("192.168.10.2/255.255.255.0", ["prefix length", "'192.168.10.2/24'"]),
    ("192.168.10.2/024", ["prefix length", "'192.168.10.2/24'"]),
    ("192.168.10.0/24", ["network address of 192.168.10.0/24", "host address"]),
    ("192.168.10.255/24", ["broadcast address of 192.168.10.0/24", "host address"]),
    ("10.0.0.0/8", ["network address of 10.0.0.0/8"]),
    ("10.255.255.255/8", ["broadcast address"]),
    ("10.0.0.0/30", ["network address of 10.0.0.0/30"]),
    ("10.0.0.3/30", ["broadcast address of 10.0.0.0/30"]),
    ("10.0.0.8/29", ["network address of 10.0.0.8/29"]),
    ("10.0.0.15/29", ["broadcast address of 10.0.0.8/29"]),
])
def test_it_checks_interface_addresses(address, words):
    assert_only_error(with_address(address), "links[0].endpoints[0].addresses[0]", f"'{address}'", *words)


def test_it_checks_each_address_of_an_endpoint():
    assert_only_error(with_address("192.168.10.2/24", "10.0.0.0/24"), "links[0].endpoints[0].addresses[1]",
                      "network address")
    assert_only_error(with_address("192.168.10.2/24", 5), "links[0].endpoints[0].addresses[1]",
                      "must be a string, not 5")


@pytest.mark.parametrize("address", [
    "192.168.10.2/24", "10.0.0.1/30", "10.0.0.2/30",
    "10.0.0.0/31", "10.0.0.1/31",  # RFC 3021: a /31 takes both addresses
    "10.0.0.0/32", "10.0.0.255/32", "0.0.0.0/32",
    "2001:db8::/64", "2001:db8::ffff:ffff:ffff:ffff/64",  # IPv6: any address, no broadcast
    "2001:db8::/127", "2001:db8::1/127",  # RFC 6164
    "2001:db8::1/128", "fe80::1/64", "::1/128",
])
def test_it_accepts_interface_addresses(address):
    assert_valid(with_address(address))


def test_it_accepts_several_addresses_of_both_families_on_one_interface():
    document = parse(with_address("192.168.10.2/24", "192.168.10.3/24", "2001:db8::2/64"))
    assert [str(a) for a in document.links[0].endpoints[0].interface_addresses()] == [
        "192.168.10.2/24", "192.168.10.3/24", "2001:db8::2/64"]


@pytest.mark.parametrize("path, value, where, words", [
    ("links[1].endpoints[0].addresses", ["192.168.10.2/24"], "links[1].endpoints[0].addresses[0]",
     ["192.168.10.2 is already used at links[0].endpoints[0].addresses[0]"]),
    # The same address with another prefix is the same address.
    ("links[1].endpoints[0].addresses", ["192.168.10.1/16"], "links[1].endpoints[0].addresses[0]",
     ["192.168.10.1 is already used at links[0].endpoints[1].addresses[0]"]),
    ("links[0].endpoints[0].addresses", ["192.168.10.2/24", "192.168.10.2/25"],
     "links[0].endpoints[0].addresses[1]", ["already used at links[0].endpoints[0].addresses[0]"]),
    ("links[0].endpoints[1].addresses", ["192.168.10.2/24"], "links[0].endpoints[1].addresses[0]",
     ["already used at links[0].endpoints[0].addresses[0]"]),
])
def test_it_wants_every_address_used_once(path, value, where, words):
    assert_only_error(example(path, value), where, *words)


def test_it_compares_ipv6_addresses_not_their_spelling():
    doc = put(with_address("192.168.10.2/24", "2001:db8::1/64"), "links[1].endpoints[0].addresses",
              ["2001:DB8:0:0::0001/64"])
    problem = assert_only_error(doc, "links[1].endpoints[0].addresses[0]", "2001:db8::1 is already used at",
                                "links[0].endpoints[0].addresses[1]")
    assert problem.message.startswith("2001:db8::1 ")


# --- switches ---------------------------------------------------------------------------------------------


SWITCHED = {
    "format": "topolab/v1",
    "name": "switched",
    "nodes": [{"name": "s1", "kind": "switch"}, {"name": "a"}, {"name": "b"}],
    "links": [
        {"endpoints": [{"node": "s1", "interface": "p1"}, {"node": "a", "interface": "eth0",
                                                             "addresses": ["10.1.0.1/24"]}]},
        {"endpoints": [{"node": "b", "interface": "eth0", "addresses": ["10.1.0.2/24"]},
                       {"node": "s1", "interface": "p2"}]},
    ],
}


def test_it_accepts_a_switch_without_addresses():
    result = validate(copy.deepcopy(SWITCHED))
    assert (result.errors, result.warnings) == ([], [])


@pytest.mark.parametrize("path, value, where, words", [
    ("links[0].endpoints[0].addresses", ["10.1.0.254/24"], "links[0].endpoints[0].addresses",
     ["'s1' is a switch", "carry no addresses"]),
    ("links[1].endpoints[1].addresses", ["2001:db8::1/64"], "links[1].endpoints[1].addresses", ["is a switch"]),
    ("links[0].endpoints[0].interface", "br0", "links[0].endpoints[0].interface", ["'br0' is the switch's own bridge"]),
])
def test_it_keeps_switch_interfaces_bare(path, value, where, words):
    assert_only_error(put(SWITCHED, path, value), where, *words)


def test_it_allows_an_empty_address_list_on_a_switch():
    assert_valid(put(SWITCHED, "links[0].endpoints[0].addresses", []))


# --- limits -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("limits, where, words", [
    (Limits(max_nodes=2), "nodes", ["3 nodes", "at most 2"]),
    (Limits(max_links=1), "links", ["2 links", "at most 1"]),
    (Limits(max_nodes=0), "nodes", ["3 nodes", "at most 0"]),
])
def test_it_enforces_the_servers_limits(limits, where, words):
    assert_only_error(example(), where, *words, limits=limits)


def test_it_allows_exactly_the_limits():
    assert_valid(example(), Limits(max_nodes=3, max_links=2))


def test_it_has_default_limits():
    limits = Limits()
    assert (limits.max_nodes, limits.max_links) == (500, 2000)
    many = {"format": "topolab/v1", "name": "many", "nodes": [{"name": f"n{i}"} for i in range(501)]}
    assert_only_error(many, "nodes", "501 nodes", "at most 500")
    many["nodes"].pop()
    assert validate(many).ok


# --- JSON text: size and syntax ----------------------------------------------------------------------------


FIVE_MIB = 5 * 1024 * 1024


def padded(size: int) -> str:
    """The example as JSON text padded with spaces to exactly ``size`` bytes."""
    text = json.dumps(EXAMPLE)
    return text[:-1] + " " * (size - len(text.encode())) + "}"


def test_it_reads_json_text():
    result = loads(json.dumps(EXAMPLE))
    assert (result.errors, result.warnings) == ([], [])
    assert dump(result.document) == EXAMPLE
    assert loads(json.dumps(EXAMPLE).encode("utf-8")).ok


@pytest.mark.parametrize("as_bytes", [False, True])
def test_it_accepts_a_document_of_exactly_5_mib(as_bytes):
    text = padded(FIVE_MIB)
    assert len(text.encode()) == FIVE_MIB
    assert loads(text.encode() if as_bytes else text).ok


@pytest.mark.parametrize("as_bytes", [False, True])
def test_it_rejects_a_document_over_5_mib(as_bytes):
    text = padded(FIVE_MIB + 1)
    result = loads(text.encode() if as_bytes else text)
    assert result.errors == [Problem("", f"the document is {FIVE_MIB + 1} bytes; the limit is {FIVE_MIB} (5 MiB)")]
    assert result.document is None


def test_it_measures_the_document_in_utf8_bytes():
    # 2 bytes a character: under 5 MiB characters, over 5 MiB bytes.
    text = json.dumps({**EXAMPLE, "annotations": {"pad": "é" * (FIVE_MIB // 2)}}, ensure_ascii=False)
    assert len(text) < FIVE_MIB < len(text.encode())
    (problem,) = loads(text).errors
    assert problem.path == "" and "5 MiB" in problem.message


@pytest.mark.parametrize("text, words", [
    ('{"format": "topolab/v1", ', ["not valid JSON", "line 1, column 26"]),
    ('{"format": "topolab/v1",}', ["not valid JSON", "line 1"]),
    ("{'format': 'topolab/v1'}", ["not valid JSON"]),
    ('{\n  "name": "a",\n  "nodes": [01]\n}', ["not valid JSON", "line 3"]),
    ("", ["not valid JSON", "line 1, column 1"]),
    ('{"format": "topolab/v1", "name": "a", "nodes": [{"name": "a", "position": {"x": NaN, "y": 0}}]}',
     ["not valid JSON", "NaN"]),
    ('{"format": "topolab/v1", "name": "a", "nodes": [], "annotations": {"z": -Infinity}}',
     ["not valid JSON", "-Infinity"]),
    ("[" * 100_000, ["nested too deeply"]),
])
def test_it_reports_json_syntax_errors(text, words):
    result = loads(text)
    assert result.document is None
    assert [p.path for p in result.errors] == [""]
    for word in words:
        assert word in result.errors[0].message, result.errors[0].message


def test_it_rejects_bytes_that_are_not_utf8():
    result = loads(b'{"format": "topolab/v1", "name": "\xff\xfe", "nodes": []}')
    assert result.errors == [Problem("", "the document is not UTF-8 text")]


def test_it_wants_json_text_to_hold_an_object():
    assert loads("[]").errors == [Problem("", "a topolab/v1 document is a JSON object")]


def test_it_applies_limits_when_reading_text():
    assert_problem = loads(json.dumps(EXAMPLE), Limits(max_links=1)).errors
    assert [p.path for p in assert_problem] == ["links"]


# --- warnings ------------------------------------------------------------------------------------------------


def assert_warnings(data: dict, expected: list[Problem], limits: Limits | None = None):
    result = validate(data, limits)
    assert result.errors == []
    assert result.ok and result.document is not None
    assert result.warnings == expected
    assert result.as_dict()["warnings"] == [p.as_dict() for p in expected]


@pytest.mark.parametrize("data, expected", [
    (example("nodes[0].routes[0].via", "10.9.9.9"),
     [Problem("nodes[0].routes[0].via", "10.9.9.9 is in no subnet connected to 'c1'")]),
    (example("nodes[1].routes", [{"to": "10.0.0.0/8", "via": "192.168.12.1"}]),
     [Problem("nodes[1].routes[0].via", "192.168.12.1 is in no subnet connected to 'r1'")]),
    (example("nodes[0].routes", [{"to": "default", "via": "2001:db8::1"}]),
     [Problem("nodes[0].routes[0].via", "2001:db8::1 is in no subnet connected to 'c1'")]),
    (example("links[0].endpoints[1].addresses", ["192.168.99.1/24"]),
     [Problem("links[0]", "the two ends have IPv4 addresses in different subnets")]),
    (put(with_address("192.168.10.2/24", "2001:db8:1::2/64"), "links[0].endpoints[1].addresses",
         ["192.168.10.1/24", "2001:db8:2::1/64"]),
     [Problem("links[0]", "the two ends have IPv6 addresses in different subnets")]),
    (example("nodes[3]", {"name": "lonely"}), [Problem("nodes[3]", "'lonely' has no link")]),
    (put(example("nodes[3]", {"name": "a"}), "nodes[4]", {"name": "b", "kind": "switch"}),
     [Problem("nodes[3]", "'a' has no link"), Problem("nodes[4]", "'b' has no link")]),
    (example("nodes[0].resources", {"cpus": 4, "memory_mb": 4096, "pids": 10000}),
     [Problem("nodes[0].resources.cpus", "asks for 4; this server caps it at 2.0"),
      Problem("nodes[0].resources.memory_mb", "asks for 4096; this server caps it at 2048"),
      Problem("nodes[0].resources.pids", "asks for 10000; this server caps it at 4096")]),
    (example("nodes[2].resources", {"cpus": 2.5}),
     [Problem("nodes[2].resources.cpus", "asks for 2.5; this server caps it at 2.0")]),
])
def test_it_warns_without_rejecting(data, expected):
    assert_warnings(data, expected)


@pytest.mark.parametrize("data", [
    # Ends with addresses of different families only, or one end bare: nothing to compare.
    put(example("links[0].endpoints[1].addresses", ["2001:db8::1/64"]), "nodes[0].routes", []),
    put(example("links[0].endpoints[1].addresses", []), "nodes[0].routes", []),
    # The other end's address inside this end's (larger) subnet.
    example("links[0].endpoints[1].addresses", ["192.168.10.1/16"]),
    # Exactly at the caps.
    example("nodes[0].resources", {"cpus": 2, "memory_mb": 2048, "pids": 4096}),
    # A node on a down link still has a link.
    example("links[0].state", "down"),
])
def test_it_does_not_warn_when_nothing_is_wrong(data):
    assert_warnings(data, [])


def test_it_warns_about_resources_against_the_servers_own_caps():
    data = example("nodes[0].resources", {"cpus": 4, "memory_mb": 4096})
    assert_warnings(data, [], Limits(max_cpus=8, max_memory_mb=8192))
    assert_warnings(data, [Problem("nodes[0].resources.cpus", "asks for 4; this server caps it at 3")],
                    Limits(max_cpus=3, max_memory_mb=8192))


# --- every problem in one run ----------------------------------------------------------------------------


def test_it_reports_every_problem_of_a_document_at_once():
    doc = example()
    doc["format"] = "topolab/v2"                                    # type error, top level
    doc["nodse"] = []                                               # unknown key
    doc["nodes"][1]["kind"] = "hub"                                 # type error in a node still linked
    doc["nodes"][2]["sysctls"] = {"kernel.panic": "1"}              # type error in another node
    doc["nodes"].append({"name": "c1"})                             # duplicate name (cross-document)
    doc["nodes"].append({"name": "f1", "files": [{"path": "/a"}, {"path": "/a"}]})  # duplicate file path
    doc["links"][0]["endpoints"][1]["node"] = "r9"                  # dangling endpoint
    doc["links"][1]["endpoints"][0]["addresses"] = ["192.168.10.2/24"]  # address used twice
    doc["links"].append({"endpoints": [{"node": "c1", "interface": "eth1"}], "mtu": 1})  # two type errors
    doc["links"].append({"endpoints": [{"node": "c2", "interface": "eth0"},            # interface used twice
                                       {"node": "f1", "interface": "eth0"}]})
    result = validate(doc)
    assert result.document is None and not result.ok
    assert result.warnings == []
    expected = {
        ("format", "must be 'topolab/v1', not 'topolab/v2'"),
        ("nodse", "unknown key (not part of topolab/v1)"),
        ("nodes[1].kind", "must be 'host', 'router', 'switch' or 'frr', not 'hub'"),
        ("nodes[2].sysctls", "'kernel.panic' is not allowed: only keys under net.ipv4., net.ipv6. and net.core."),
        ("nodes[3].name", "'c1' is already the name of nodes[0]"),
        ("nodes[4].files[1].path", "'/a' is given twice (also nodes[4].files[0])"),
        ("links[0].endpoints[1].node", "no node named 'r9'"),
        ("links[1].endpoints[0].addresses[0]", "192.168.10.2 is already used at links[0].endpoints[0].addresses[0]"),
        ("links[2].endpoints", "a link has exactly 2 endpoints, not 1"),
        ("links[2].mtu", "must be at least 68, not 1"),
        ("links[3].endpoints[0].interface", "c2:eth0 is already used by links[1]"),
    }
    assert {(p.path, p.message) for p in result.errors} == expected
    assert len(result.errors) == len(expected)  # and no problem twice


def test_it_reports_every_problem_through_parse():
    doc = put(example("name", "Bad Name"), "links[0].endpoints[1].node", "r9")
    with pytest.raises(DocumentError) as caught:
        parse(doc)
    assert [p.path for p in caught.value.problems] == ["name", "links[0].endpoints[1].node"]
    assert "name: 'Bad Name'" in str(caught.value)
    assert "links[0].endpoints[1].node: no node named 'r9'" in str(caught.value)


def test_it_does_not_call_a_mistyped_node_missing():
    # r1 has a mistake of its own; the links naming it must not add "no node named 'r1'".
    assert_only_error(example("nodes[1].position", {"x": 0}), "nodes[1].position.y", "is required")


def test_it_knows_interfaces_named_by_mistyped_links():
    # c1:eth0 is on a link with a mistake; a route through it is not a second mistake.
    doc = put(example("nodes[0].routes[1]", {"to": "10.0.0.0/8", "dev": "eth0"}), "links[0].mtu", 1)
    assert_only_error(doc, "links[0].mtu", "at least 68")
    # ...but an interface no link names is still reported.
    doc = put(doc, "nodes[0].routes[1].dev", "eth7")
    assert [(p.path, p.message) for p in validate(doc).errors] == [
        ("links[0].mtu", "must be at least 68, not 1"),
        ("nodes[0].routes[1].dev", "'c1' has no interface 'eth7'"),
    ]


@pytest.mark.parametrize("limits, mistake, where", [
    (Limits(max_nodes=2), ("nodes[1].kind", "hub"), "nodes"),
    (Limits(max_links=1), ("links[1].mtu", 1), "links"),
])
def test_it_counts_mistyped_items_against_the_limits(limits, mistake, where):
    # A mistyped item still counts; and a document over a limit is refused with that problem alone,
    # before anything is read (its excess would otherwise cost time to check).
    errors = validate(example(*mistake), limits).errors
    assert [p.path for p in errors] == [where]


@pytest.mark.parametrize("limits, where, words", [
    (Limits(max_addresses=3), "links", "4 addresses in all; this server allows at most 3"),
    (Limits(max_routes=1), "nodes", "2 routes in all; this server allows at most 1"),
])
def test_it_caps_addresses_and_routes_in_the_whole_document(limits, where, words):
    assert [(p.path, p.message) for p in validate(example(), limits).errors] == [(where, words)]
    assert validate(example(), Limits(max_addresses=4, max_routes=2)).ok


def test_it_refuses_a_document_far_over_a_limit_without_reading_its_items():
    calls = []
    original = Document.model_validate
    try:
        Document.model_validate = classmethod(lambda cls, data: calls.append(1) or original(data))
        errors = validate({"format": "topolab/v1", "name": "x", "nodes": [{"name": "a"}] * 600}).errors
    finally:
        Document.model_validate = original
    assert [p.message for p in errors] == ["600 nodes; this server allows at most 500"] and calls == []


def test_it_never_raises_whatever_value_is_put_anywhere():
    weird = [None, True, 0, -1, 1.5, float("nan"), "", "x", "\x00", [], {}, [None], {"": None}]

    def paths(value, prefix=()):
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, child in items:
            yield prefix + (key,)
            yield from paths(child, prefix + (key,))

    for base in (RICH,):
        for keys in paths(base):
            for value in weird:
                doc = copy.deepcopy(base)
                target = doc
                for key in keys[:-1]:
                    target = target[key]
                target[keys[-1]] = value
                result = validate(doc)
                assert result.ok == (result.errors == []) == (result.document is not None), (keys, value)
                if result.ok:
                    assert dump(result.document) == doc, (keys, value)


def test_it_rejects_numbers_json_has_not_in_annotations():
    assert_only_error(example("annotations", {"view": [1, {"zoom": float("nan")}]}), "annotations",
                      "nan", "not a JSON number")
    assert_only_error(example("annotations", {"zoom": float("inf")}), "annotations", "inf")


def test_it_holds_back_warnings_while_there_are_errors():
    doc = put(example("nodes[3]", {"name": "lonely"}), "format", "v1")
    result = validate(doc)
    assert [p.path for p in result.errors] == ["format"]
    assert result.warnings == []


def test_it_gives_problems_as_path_and_message():
    result = validate(example("links[0].endpoints[1].node", "r9"))
    assert result.as_dict() == {
        "valid": False,
        "errors": [{"path": "links[0].endpoints[1].node", "message": "no node named 'r9'"}],
        "warnings": [],
    }
    assert str(Problem("", "whole document")) == "whole document"
    assert str(Problem("name", "bad")) == "name: bad"


def test_it_does_not_change_the_input():
    doc = copy.deepcopy(RICH)
    validate(doc)
    validate(put(doc, "nodes[0].kind", "hub"))
    assert doc == RICH


# --- caps on what the checks walk ----------------------------------------------------------------------------


def test_it_caps_the_addresses_of_an_interface():
    assert MAX_ADDRESSES_PER_INTERFACE == 64
    many = [f"192.168.{10 + i // 200}.{i % 200 + 2}/16" for i in range(MAX_ADDRESSES_PER_INTERFACE + 1)]
    assert_valid(with_address(*many[:-1]))
    assert_only_error(with_address(*many), "links[0].endpoints[0].addresses", "must hold at most 64 items, not 65")


def test_it_caps_the_routes_of_a_node():
    assert MAX_ROUTES_PER_NODE == 1024
    routes = [{"to": f"10.{i // 256}.{i % 256}.0/24", "via": "192.168.10.1"} for i in range(MAX_ROUTES_PER_NODE + 1)]
    assert_valid(example("nodes[0].routes", routes[:-1]))
    assert_only_error(example("nodes[0].routes", routes), "nodes[0].routes", "must hold at most 1024 items, not 1025")


# --- numbers too long to read, strings that are not text ---------------------------------------------------


def text_with(path: str, raw: str, base: dict = EXAMPLE) -> str:
    """``base`` as JSON text with the JSON token ``raw`` written at ``path``."""
    return json.dumps(put(base, path, "@RAW@")).replace('"@RAW@"', raw)


@pytest.mark.parametrize("path", ["nodes[0].position.x", "links[0].mtu", "nodes[1].resources.memory_mb",
                                  "annotations.view.zoom", "annotations.list[1]"])
@pytest.mark.parametrize("sign", ["", "-"])
def test_it_refuses_an_integer_too_long_to_read(path, sign):
    doc = example("annotations", {"view": {"zoom": 1}, "list": [0, 1]})
    if path.startswith("nodes[1].resources"):
        doc["nodes"][1]["resources"] = {}
    result = loads(text_with(path, sign + "7" * 5000, doc))
    assert result.document is None
    assert result.errors == [Problem(path, "is an integer of 5000 digits; a number has at most 4300")]
    # A value given as data, not text, is refused the same way (it could not be exported).
    result = validate(put(doc, path, int(sign + "7" * 4000) * 10 ** 1000))
    assert result.errors == [Problem(path, "is an integer of 5000 digits; a number has at most 4300")]


def test_it_reads_an_integer_of_4300_digits():
    assert MAX_INTEGER_DIGITS == 4300
    result = loads(text_with("annotations", '{"n": ' + "9" * 4300 + "}"))
    assert result.ok and result.document.annotations["n"] == 10 ** 4300 - 1
    assert loads(json.dumps(dump(result.document))).ok  # and it exports


def test_it_reports_every_integer_too_long_with_its_path():
    doc = text_with("nodes[0].position", '{"x": ' + "1" * 4301 + ', "y": -' + "2" * 6000 + "}")
    assert loads(doc).errors == [
        Problem("nodes[0].position.x", "is an integer of 4301 digits; a number has at most 4300"),
        Problem("nodes[0].position.y", "is an integer of 6000 digits; a number has at most 4300"),
    ]


SURROGATE = "holds a lone UTF-16 surrogate (\\ud800), which is not text"


@pytest.mark.parametrize("path", [
    "name", "description", "format", "nodes[0].name", "nodes[0].kind", "nodes[0].image",
    "nodes[0].routes[0].to", "nodes[0].routes[0].via", "nodes[0].routes[2].dev",
    "nodes[0].env.GREETING", "nodes[0].sysctls.net.core.somaxconn",
    "nodes[0].files[0].path", "nodes[0].files[0].content", "nodes[0].files[0].mode", "nodes[0].exec[1]",
    "links[0].endpoints[0].node", "links[0].endpoints[0].interface", "links[0].endpoints[0].addresses[1]",
    "links[0].endpoints[0].mac", "links[1].state", "annotations.editor.selected[0]",
])
@pytest.mark.parametrize("spelled", ["escaped", "raw str", "raw bytes", "data"])
@pytest.mark.parametrize("text", ["\ud800", "10.0.0.1/24 \ud800 and more"])
def test_it_refuses_a_lone_surrogate_in_any_string(path, spelled, text):
    doc = put(RICH, path, text) if "sysctls" not in path else copy.deepcopy(RICH)
    if "sysctls" in path:
        doc["nodes"][0]["sysctls"]["net.core.somaxconn"] = text
    if spelled == "escaped":
        result = loads(json.dumps(doc))  # ensure_ascii: the text holds \ud800, six ASCII characters
    elif spelled == "raw str":
        result = loads(json.dumps(doc, ensure_ascii=False))
    elif spelled == "raw bytes":
        result = loads(json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    else:
        result = validate(doc)
    assert result.errors == [Problem(path, SURROGATE)]
    assert result.document is None


@pytest.mark.parametrize("where, make", [
    ("nodes[0].env.\\ud800", lambda doc: doc["nodes"][0]["env"].update({"\ud800": "x"})),
    ("nodes[0].env.A\\udfffB", lambda doc: doc["nodes"][0]["env"].update({"A\udfffB": "x"})),
    ("nodes[0].sysctls.net.ipv4.\\ud800", lambda doc: doc["nodes"][0]["sysctls"].update({"net.ipv4.\ud800": "1"})),
    ("annotations.editor.\\ud800", lambda doc: doc["annotations"]["editor"].update({"\ud800": 1})),
    ("\\ud800", lambda doc: doc.update({"\ud800": 1})),
    ("nodes[0].\\ud800", lambda doc: doc["nodes"][0].update({"\ud800": 1})),
])
def test_it_refuses_a_lone_surrogate_in_a_key_and_says_which(where, make):
    doc = copy.deepcopy(RICH)
    make(doc)
    surrogate = "\\udfff" if "udfff" in where else "\\ud800"
    expected = [Problem(where, f"the key holds a lone UTF-16 surrogate ({surrogate}), which is not text")]
    assert loads(json.dumps(doc)).errors == expected
    assert validate(doc).errors == expected
    assert all(problem.path.isascii() for problem in expected)  # the answer itself is text


def test_it_lists_every_string_that_is_not_text_in_document_order():
    doc = put(put(RICH, "nodes[0].exec[0]", "\udc00"), "links[0].endpoints[1].addresses[0]", "x\ud800")
    doc["nodes"][0]["env"]["\udbff"] = "\ud800"
    assert loads(json.dumps(doc)).errors == [
        Problem("nodes[0].env.\\udbff", "the key holds a lone UTF-16 surrogate (\\udbff), which is not text"),
        Problem("nodes[0].env.\\udbff", SURROGATE),
        Problem("nodes[0].exec[0]", "holds a lone UTF-16 surrogate (\\udc00), which is not text"),
        Problem("links[0].endpoints[1].addresses[0]", SURROGATE),
    ]


def test_it_takes_a_surrogate_pair_as_the_character_it_spells():
    text = json.dumps(example("description", "\U0001f600 a smile")).replace("\\ud83d\\ude00", "\\uD83D\\uDE00")
    assert "\\uD83D\\uDE00" in text
    result = loads(text)
    assert result.ok and result.document.description == "\U0001f600 a smile"
    assert loads(json.dumps(dump(result.document), ensure_ascii=False).encode("utf-8")).ok
