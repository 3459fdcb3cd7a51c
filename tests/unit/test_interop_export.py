"""Unit tests of exporting to containerlab and Kathará (topology/interop): the containerlab topology fits
containerlab's own JSON schema (vendored in tests/data/interop, see its NOTICE), and export then import gives
back an equal document for every example, every test topology and every lab of tests/data/interop."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.documents import reference_document
from tests.integration.test_switch_lan import switch_lan
from topology import interop, kinds, schema

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "interop"
CLAB_SCHEMA = json.loads((DATA / "clab.schema.json").read_text())
LABS = ["clab-frr", "clab-bridge", "kathara-static", "kathara-lan"]


def documents() -> list[tuple[str, dict]]:
    out = [(p.name, json.loads(p.read_text())) for p in sorted((ROOT / "examples").glob("*.json"))]
    out += [(p.name, json.loads(p.read_text())) for p in sorted((ROOT / "tests" / "data").glob("*.json"))]
    out += [("reference", reference_document()), ("switch-lan", switch_lan()), ("every-feature", every_feature())]
    out += [(name, interop.load(interop.read_folder(str(DATA / name))).document) for name in LABS]
    return out


def every_feature() -> dict:
    """A document using what the two formats must carry some other way: renamed and reordered interfaces,
    IPv6, shaping, a link down, MTU, MACs, routes by dev, sysctls, env, files with modes, resources, exec."""
    return {
        "format": "topolab/v1", "name": "every-feature", "description": "Line one.\n\nLine three: 'quoted'.",
        "nodes": [
            {"name": "a-1", "kind": "host", "position": {"x": 1.5, "y": -2},
             "routes": [{"to": "default", "via": "10.0.0.2"}, {"to": "default", "via": "fd00::2"},
                        {"to": "10.9.0.0/16", "dev": "uplink"}],
             "env": {"MODE": "test"}, "sysctls": {"net.ipv4.conf.all.rp_filter": "2"},
             "files": [{"path": "/usr/local/bin/hello", "content": "#!/bin/sh\necho hi\n", "mode": "0755"},
                       {"path": "/etc/motd", "content": "hi\n"}],
             "exec": ["hello", "for i in 1 2; do echo $i; done"], "resources": {"cpus": 1, "memory_mb": 64, "pids": 64}},
            {"name": "r", "kind": "router"},
            {"name": "one-armed", "kind": "router"},
            {"name": "multi", "kind": "host"},
            {"name": "sw", "kind": "switch"},
            {"name": "f", "kind": "frr", "files": [{"path": "/etc/frr/frr.conf", "content": "hostname f\n"}]},
        ],
        "links": [
            {"endpoints": [{"node": "a-1", "interface": "eth1", "addresses": ["10.0.0.1/24", "fd00::1/64"]},
                           {"node": "r", "interface": "eth0", "addresses": ["10.0.0.2/24", "fd00::2/64"],
                            "mac": "02:00:00:00:00:02"}],
             "impairment": {"delay_ms": 10, "jitter_ms": 2.5, "loss_percent": 1, "rate_kbit": 5000}, "mtu": 1400},
            {"endpoints": [{"node": "a-1", "interface": "uplink"}, {"node": "sw", "interface": "p1"}],
             "state": "down"},
            {"endpoints": [{"node": "r", "interface": "eth1"}, {"node": "sw", "interface": "p2"}]},
            {"endpoints": [{"node": "one-armed", "interface": "eth0", "addresses": ["10.1.0.1/24"]},
                           {"node": "f", "interface": "eth0", "addresses": ["10.1.0.2/24"]}]},
            {"endpoints": [{"node": "multi", "interface": "eth0"}, {"node": "sw", "interface": "p3"}]},
            {"endpoints": [{"node": "multi", "interface": "eth1"}, {"node": "f", "interface": "eth1"}]},
        ],
    }


def normal(document: dict) -> dict:
    """A valid document with every default filled, positions and annotations aside."""
    result = schema.validate(copy.deepcopy(document))
    assert result.ok, result.errors
    out = result.document.model_dump(mode="json")
    out.pop("annotations", None)
    for node in out["nodes"]:
        node.pop("position", None)
        node["image"] = node["image"] or kinds.kind(node["kind"]).image
    for link in out["links"]:
        if link["impairment"] is not None and not any(v is not None for v in link["impairment"].values()):
            link["impairment"] = None
    return out


@pytest.mark.parametrize("name,document", documents(), ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("fmt", ["clab", "kathara"])
def test_export_then_import_gives_back_an_equal_document(name, document, fmt):
    body, filename, _ = interop.export(document, fmt)
    imported = interop.load(interop.read_upload(filename, body), name=filename)
    assert imported.format == fmt
    assert normal(imported.document) == normal(document)


@pytest.mark.parametrize("name,document", documents(), ids=lambda v: v if isinstance(v, str) else "")
def test_the_containerlab_topology_fits_containerlabs_schema(name, document):
    data = yaml.safe_load(interop.to_clab(document))
    jsonschema.Draft7Validator(CLAB_SCHEMA).validate(data)
    for node in data["topology"]["nodes"].values():
        assert node["kind"] == "linux" and node["network-mode"] == "none"


def test_the_schema_check_can_fail():
    data = yaml.safe_load(interop.to_clab(reference_document()))
    data["topology"]["nodes"]["c1"]["colour"] = "red"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(CLAB_SCHEMA).validate(data)


def test_containerlab_export_writes_files_beside_it_and_exec_lines_for_the_rest():
    document = every_feature()
    files = interop.to_clab_files(document)
    assert files["a-1/usr/local/bin/hello"].mode == 0o755
    node = yaml.safe_load(files["every-feature.clab.yml"].data)["topology"]["nodes"]["a-1"]
    assert "a-1/usr/local/bin/hello:/usr/local/bin/hello" in node["binds"]
    assert "ip addr add fd00::1/64 dev eth1" in node["exec"]
    assert "ip -6 route add default via fd00::2" in node["exec"]
    assert "tc qdisc add dev eth1 root netem delay 10ms 2.5ms loss 1% rate 5000kbit" in node["exec"]
    assert "ip link set uplink down" in node["exec"]
    assert node["sysctls"] == {"net.ipv4.conf.all.rp_filter": "2"}
    sw = yaml.safe_load(files["every-feature.clab.yml"].data)["topology"]["nodes"]["sw"]
    assert sw["exec"][0] == "ip link add br0 type bridge"


def test_kathara_export_numbers_interfaces_and_renames_the_others():
    files = interop.to_kathara(every_feature())
    conf = files["lab.conf"].decode()
    assert 'a_1[0]="l0"' not in conf  # a-1's eth1 is its second interface...
    assert 'a_1[1]="l0"' in conf and 'a_1[0]="l1"' in conf and 'r[0]="l0/02:00:00:00:00:02"' in conf
    startup = files["a_1.startup"].decode()
    assert "ip link set eth0 down && ip link set eth0 name uplink && ip link set uplink up" in startup
    assert 'multi[sysctl]="net.ipv4.ip_forward=0"' in conf and 'one_armed[sysctl]="net.ipv4.ip_forward=1"' in conf
    assert "systemctl start frr" in files["f.startup"].decode()
    assert files["a_1/usr/local/bin/hello"] == b"#!/bin/sh\necho hi\n"


def test_the_api_export_format_names():
    body, name, kind = interop.export(reference_document(), "clab")
    assert name.endswith(".clab.yml") and kind == "application/yaml" and body.startswith(b"# ")
    body, name, kind = interop.export(reference_document(), "kathara")
    assert name.endswith(".zip") and body[:2] == b"PK"
