"""Unit tests of what Kathará's lab.conf cannot say as topolab does (topology/interop): device names of 31
characters (Kathará takes 30) and names it keeps for itself, environment values with quotes, spaces at their
ends, line breaks, ``$`` and backslashes; and the warnings an export gives about what the other tool loses.

Kathará's rules, as its parser applies them (src/Kathara/parser/netkit/LabParser.py and model/Machine.py): a
line is ``device[arg]=value`` with a device name of 1 to 30 of ``[a-z0-9_]``, the value optionally quoted and
holding no quote; an env value is what follows the first ``=``, stripped of spaces at both ends; a machine's
``.startup`` runs with bash before its commands.
"""
from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import zipfile

import pytest

from tests.documents import reference_document
from topology import interop
from topology.interop import startup_env

NAME_31 = "r" + "0123456789" * 3  # 31 characters, the longest a topolab node name may be
KATHARA_LINE = re.compile(r"^(?P<device>[a-z0-9_]{1,30})\[(?P<arg>\w+)\]=([\"']?)(?P<value>[^\"']+)(\3)$")
VALUES = {
    "PLAIN": "simple",
    "SPACES": "two words and $HOME and C:\\dir\\n",  # fits lab.conf: Kathará passes $ and \ through
    "DOUBLE": 'say "hi"',
    "SINGLE": "it's",
    "MIXED": """a 'b' "c" $d `e` \\f""",
    "ENDS": "  padded  ",
    "LINES": "first line\nsecond line\n",
    "DASH": "-n\tno option",
    "PERCENT": "100% \\045 %s\n%%",
    "BREAK": "a\u2028b\x85c\rd",
    "EMPTY": "",
    "UNICODE": "héllo wörld ✓",
}


def two_nodes(first: str, second: str, **extra) -> dict:
    a = {"name": first, "kind": "host", **extra}
    return {"format": "topolab/v1", "name": "names", "nodes": [a, {"name": second, "kind": "host"}],
            "links": [{"endpoints": [{"node": first, "interface": "eth0", "addresses": ["10.0.0.1/24"]},
                                     {"node": second, "interface": "eth0", "addresses": ["10.0.0.2/24"]}]}]}


def kathara_round_trip(document: dict) -> tuple[dict, dict[str, bytes], list]:
    warnings: list = []
    body, name, _ = interop.export(document, "kathara", warnings)
    files = {i.filename: zipfile.ZipFile(io.BytesIO(body)).read(i) for i in zipfile.ZipFile(io.BytesIO(body)).infolist()}
    return interop.load(interop.read_upload(name, body), name=name).document, files, warnings


def kathara_devices(conf: str) -> set[str]:
    """The device names of a lab.conf, each line checked against Kathará's own rule."""
    devices = set()
    for line in conf.splitlines():
        if not line or line.startswith("#") or line.startswith("LAB_"):
            continue
        match = KATHARA_LINE.match(line)
        assert match, f"Kathará would refuse the line {line!r}"
        devices.add(match.group("device"))
    return devices


# -- names ---------------------------------------------------------------------------------------------------
def test_a_31_character_node_is_a_30_character_device_and_comes_back_with_its_name():
    document = two_nodes(NAME_31, NAME_31[:30] + "x")  # two names Kathará would cut to the same 30 characters
    document["nodes"].append({"name": "short-one", "kind": "host"})
    back, files, warnings = kathara_round_trip(document)
    devices = kathara_devices(files["lab.conf"].decode())
    assert len(devices) == 3 and all(len(d) <= 30 for d in devices) and "short_one" in devices
    assert [n["name"] for n in back["nodes"]] == [NAME_31, NAME_31[:30] + "x", "short-one"]
    assert back["links"][0]["endpoints"][0]["node"] == NAME_31
    renamed = [w for w in warnings if w.path.endswith(".name")]
    assert [w.path for w in renamed] == ["nodes[0].name", "nodes[1].name"]
    assert renamed[0].file == "lab.conf" and "at most 30 characters" in renamed[0].message
    device = re.search(r"the device '([a-z0-9_]+)'", renamed[0].message).group(1)
    assert device in devices and f"{device}.startup" in files  # its script and folder go by the device's name


def test_a_node_called_shared_is_another_device_since_kathara_keeps_that_name():
    back, files, warnings = kathara_round_trip(two_nodes("shared", "b"))
    assert "shared" not in kathara_devices(files["lab.conf"].decode()) and "shared.startup" not in files
    assert [w.path for w in warnings] == ["nodes[0].name"] and "every Kathará device shares" in warnings[0].message
    assert [n["name"] for n in back["nodes"]] == ["shared", "b"]


def test_containerlab_keeps_a_31_character_name_as_it_is():
    document = two_nodes(NAME_31, "b")
    warnings: list = []
    body, name, _ = interop.export(document, "clab", warnings)
    assert warnings == [] and f"{NAME_31}:eth0" in body.decode()
    back = interop.load(interop.read_upload(name, body), name=name).document
    assert [n["name"] for n in back["nodes"]] == [NAME_31, "b"]


def lab(conf: str) -> dict[str, interop.Entry]:
    return {"lab.conf": interop.Entry(conf.encode())}


def test_a_kathara_device_of_31_characters_imports_with_a_warning_saying_kathara_refuses_it():
    device = "d" * 31
    imported = interop.load(lab(f'{device}[0]="A"\nb[0]="A"\n'))
    assert [n["name"] for n in imported.document["nodes"]] == [device, "b"]
    warning = next(w for w in imported.warnings if device in w.message)
    assert (warning.file, warning.line) == ("lab.conf", 1) and "Kathará refuses more than 30" in warning.message


def test_a_kathara_device_longer_than_a_topolab_name_is_renamed_saying_where():
    device = "e" * 40
    imported = interop.load(lab(f'b[0]="A"\n{device}[0]="A"\n'))
    names = [n["name"] for n in imported.document["nodes"]]
    assert names == ["b", "e" * 31]
    warning = next(w for w in imported.warnings if "is called" in w.message)
    assert (warning.file, warning.line) == ("lab.conf", 2) and "at most 31 characters" in warning.message


def test_a_kathara_device_called_shared_is_refused_as_kathara_refuses_it():
    with pytest.raises(interop.InteropError) as caught:
        interop.load(lab('shared[0]="A"\nb[0]="A"\n'))
    assert (caught.value.problems[0].file, caught.value.problems[0].line) == ("lab.conf", 1)
    assert "Kathará refuses it" in caught.value.problems[0].message


# -- env ---------------------------------------------------------------------------------------------------------
def test_every_env_value_comes_back_exactly_from_a_kathara_export():
    back, files, warnings = kathara_round_trip(two_nodes("a", "b", env=dict(VALUES)))
    assert back["nodes"][0]["env"] == VALUES
    conf = files["lab.conf"].decode()
    kathara_devices(conf)  # every line one Kathará reads
    in_conf = {"PLAIN", "SPACES", "UNICODE", "EMPTY"}
    for key, value in VALUES.items():
        assert (f'a[env]="{key}={value}"' in conf) == (key in in_conf), key
    moved = {w.path.rsplit(".", 1)[-1]: w for w in warnings if ".env." in w.path}
    assert set(moved) == set(VALUES) - in_conf
    assert moved["DOUBLE"].file == "a.startup" and "quotes" in moved["DOUBLE"].message
    assert "line breaks" in moved["LINES"].message and "spaces at its ends" in moved["ENDS"].message


def test_a_value_lab_conf_holds_is_read_by_kathara_s_rule_as_it_is():
    _, files, _ = kathara_round_trip(two_nodes("a", "b", env={"SPACES": VALUES["SPACES"]}))
    line = next(x for x in files["lab.conf"].decode().splitlines() if "[env]" in x)
    value = KATHARA_LINE.match(line).group("value").replace('"', "").replace("'", "")
    key, _, rest = value.partition("=")
    assert (key, rest.strip()) == ("SPACES", VALUES["SPACES"])


@pytest.mark.parametrize("shell", ["bash", "sh"])
def test_the_startup_lines_give_the_exact_values_to_the_shell(shell, tmp_path):
    path = shutil.which(shell)
    if path is None:
        pytest.skip(f"no {shell}")
    _, files, _ = kathara_round_trip(two_nodes("a", "b", env=dict(VALUES)))
    lines = [x for x in files["a.startup"].decode().split("\n") if x.endswith(startup_env.MARK)]
    assert len(lines) == len(VALUES) - 4
    # As Kathará runs a .startup: with "set -x" first (its trace goes to stderr); then print what it set.
    script = "set -x\n" + "\n".join(lines) + "\n" + "".join(
        f'printf "%s\\0" "${key}"\n' for key in VALUES if f"{key}=" in "".join(lines))
    (tmp_path / "a.startup").write_text(script)
    out = subprocess.run([path, str(tmp_path / "a.startup")], capture_output=True, env={"PATH": "/usr/bin:/bin"},
                         check=True, timeout=20).stdout
    got = out.decode("utf-8").split("\0")[:-1]
    assert got == [v for k, v in VALUES.items() if f"{k}=" in "".join(lines)]


def test_a_line_not_written_by_the_export_stays_a_command():
    files = lab('a[0]="A"\nb[0]="A"\n')
    files["a.startup"] = interop.Entry(b"export MODE=test\nexport X='y'  # a comment\n")
    node = interop.load(files).document["nodes"][0]
    assert node.get("env", {}) == {} and node["exec"] == ["export MODE=test", "export X='y'  # a comment"]
    assert startup_env.read_line("X=\"$(printf 'xa')\" && X=\"${X#x}\" && export X=\"${X%x}\"  # topolab env") is None


# -- what an export says it loses --------------------------------------------------------------------------------
def test_an_export_says_what_the_other_tool_does_not_carry():
    document = two_nodes("a", "b", position={"x": 1, "y": 2}, resources={"pids": 64})
    document["annotations"] = {"editor": {"zoom": 1}}
    kathara: list = []
    interop.export(document, "kathara", kathara)
    assert {w.path for w in kathara} == {"nodes", "annotations", "nodes[0].resources.pids"}
    clab: list = []
    interop.export(document, "clab", clab)
    assert {w.path for w in clab} == {"annotations", "nodes[0].resources.pids"}
    assert all(w.file == "names.clab.yml" for w in clab)
    quiet: list = []
    interop.export(reference_document(), "kathara", quiet)
    interop.export(reference_document(), "clab", quiet)
    assert [w for w in quiet if w.path != "nodes"] == []  # the reference lab loses only its positions


def test_the_api_sends_the_warnings_beside_the_download(client, alice):
    from topology import services
    topology = services.import_topology(alice, two_nodes(NAME_31, "b", env={"Q": 'say "hi"'}))
    response = client.get(f"/api/v1/topologies/{topology.pk}/export?format=kathara")
    assert response.status_code == 200
    warnings = json.loads(response["X-Topolab-Warnings"])
    assert {w["path"] for w in warnings} == {"nodes[0].name", "nodes[0].env.Q"}
    assert all(set(w) == {"file", "line", "path", "message"} for w in warnings)
    response = client.get(f"/api/v1/topologies/{topology.pk}/export?format=clab")
    assert json.loads(response["X-Topolab-Warnings"]) == []


def test_lab_export_writes_the_warnings_to_standard_error(alice, tmp_path, capsys):
    from django.core.management import call_command

    from topology import services
    services.import_topology(alice, two_nodes(NAME_31, "b", env={"Q": "a\nb"}))
    out = tmp_path / "names.zip"
    call_command("lab", "export", "names", "--user", "alice", "--format", "kathara", "-o", str(out))
    err = capsys.readouterr().err
    assert "warning: lab.conf: nodes[0].name: node" in err and f"{NAME_31[:30]}.startup: nodes[0].env.Q" in err
    back = interop.load(interop.read_upload("names.zip", out.read_bytes())).document
    assert back["nodes"][0]["name"] == NAME_31 and back["nodes"][0]["env"] == {"Q": "a\nb"}


def test_the_export_warnings_header_stays_small_enough_for_a_proxy_and_says_what_it_left_out():
    from topology.api.interop import WARNINGS_HEADER_BYTES, warnings_header

    few = [{"file": "lab.conf", "line": 3, "path": "nodes[0]", "message": "x"}]
    assert json.loads(warnings_header(few)) == few
    many = [{"file": "lab.conf", "line": i, "path": f"nodes[{i}].env", "message": "moved to the .startup " * 3}
            for i in range(500)]
    text = warnings_header(many)
    assert len(text) <= WARNINGS_HEADER_BYTES
    said = json.loads(text)
    assert said[:-1] == many[:len(said) - 1] and said[-1]["message"] == f"and {500 - (len(said) - 1)} more"
