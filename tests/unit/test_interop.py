"""Unit tests of importing containerlab topologies and Kathará labs (topology/interop): every mapping, the
labs of tests/data/interop, and malformed inputs (each error names its file and line; nothing is returned).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from topology import interop, schema
from topology.interop import Entry, InteropError, from_clab, from_kathara, shell

DATA = Path(__file__).resolve().parents[1] / "data" / "interop"


def lab(name: str) -> dict[str, Entry]:
    return interop.read_folder(str(DATA / name))


def files(**texts: str) -> dict[str, Entry]:
    return {path.replace("__", "/").replace("_DOT_", "."): Entry(text.encode()) for path, text in texts.items()}


def kathara(conf: str, **more: str) -> dict[str, Entry]:
    out = {"lab.conf": Entry(conf.encode())}
    out.update({path: Entry(text.encode()) for path, text in more.items()})
    return out


def node(document: dict, name: str) -> dict:
    return next(n for n in document["nodes"] if n["name"] == name)


def ends(document: dict) -> list[tuple]:
    return [tuple((e["node"], e["interface"]) for e in link["endpoints"]) for link in document["links"]]


def problems(exc: pytest.ExceptionInfo) -> list[tuple[str, int, str]]:
    return [(p.file, p.line, p.message) for p in exc.value.problems]


# -- the labs of tests/data/interop ----------------------------------------------------------------------------
def test_the_frr_lab_merges_defaults_kinds_groups_and_nodes_and_reads_binds_and_startup_configs():
    imported = interop.load(lab("clab-frr"), name="clab-frr")
    doc = imported.document
    assert imported.format == "clab" and doc["name"] == "frr-pair"
    assert doc["description"].startswith("Two FRR routers running OSPF")
    assert [(n["name"], n["kind"]) for n in doc["nodes"]] == [("r1", "frr"), ("r2", "frr"), ("h1", "host"),
                                                               ("h2", "host")]
    r1 = node(doc, "r1")
    assert "image" not in r1  # the FRR image of containerlab runs as this site's FRR image
    paths = {f["path"]: f["content"] for f in r1["files"]}
    assert set(paths) == {"/etc/frr/daemons", "/etc/frr/frr.conf"}  # the group's bind, the node's startup-config
    assert "hostname r1" in paths["/etc/frr/frr.conf"] and "ospfd=yes" in paths["/etc/frr/daemons"]
    assert node(doc, "h1")["env"] == {"LAB": "frr-pair"} and node(doc, "h2")["env"] == {"LAB": "frr-pair-h2"}
    assert node(doc, "h1")["routes"] == [{"to": "default", "via": "10.11.0.1"}]
    assert "exec" not in node(doc, "h1")  # every line was recognised: link up, address, route
    assert ends(doc) == [(("r1", "eth1"), ("r2", "eth1")), (("h1", "eth1"), ("r1", "eth2")),
                         (("h2", "eth1"), ("r2", "eth2"))]
    assert doc["links"][1]["endpoints"][0]["addresses"] == ["10.11.0.10/24"]
    assert doc["annotations"]["containerlab"]["labels"] == {"h1": {"role": "host"}, "h2": {"role": "host"}}
    replaced = [w for w in imported.warnings if "is not pulled here" in w.message]
    assert len(replaced) == 4 and all(w.file == "frr-pair.clab.yml" and w.line for w in replaced)
    assert schema.validate(doc).ok


def test_the_bridge_lab_makes_a_switch_a_router_by_its_sysctl_and_warns_about_management():
    imported = interop.load(lab("clab-bridge"))
    doc = imported.document
    kinds = {n["name"]: n["kind"] for n in doc["nodes"]}
    assert kinds == {"br": "switch", "h1": "host", "h2": "host", "h3": "host", "gw": "router", "srv": "host"}
    assert "sysctls" not in node(doc, "gw")  # forwarding is what the router kind sets
    assert node(doc, "h3")["exec"] == ['echo "h3 is up"']  # ifconfig and route were recognised, echo kept
    assert node(doc, "h3")["routes"] == [{"to": "default", "via": "192.168.50.1"}]
    assert doc["links"][2]["endpoints"][0]["addresses"] == ["192.168.50.13/24"]
    messages = " ".join(w.message for w in imported.warnings)
    assert "'mgmt' is ignored" in messages and "'mgmt-ipv4' is ignored" in messages
    assert "bridge of the host" in messages


def test_the_static_kathara_lab_takes_addresses_from_startups_and_leaves_the_routes_out():
    imported = interop.load(lab("kathara-static"), name="kathara-static")
    doc = imported.document
    assert imported.format == "kathara" and doc["name"] == "static-routing"
    assert "left for the student" in doc["description"]
    assert {n["name"]: n["kind"] for n in doc["nodes"]} == {"r1": "router", "r2": "router", "pc1": "host",
                                                            "pc2": "host"}
    assert all("routes" not in n and "exec" not in n for n in doc["nodes"])
    assert ends(doc) == [(("r1", "eth0"), ("pc1", "eth0")), (("r1", "eth1"), ("r2", "eth0")),
                         (("r2", "eth1"), ("pc2", "eth0"))]
    assert doc["links"][0]["endpoints"][1]["addresses"] == ["10.0.1.10/24"]  # ifconfig ... netmask
    assert node(doc, "pc1")["resources"] == {"memory_mb": 128} and node(doc, "pc2")["resources"] == {"cpus": 0.5}
    assert doc["annotations"]["kathara"] == {"lab_author": "Topolab tests", "lab_version": "1.0"}


def test_the_kathara_lan_makes_a_switch_of_a_collision_domain_of_three_and_reads_folders():
    imported = interop.load(lab("kathara-lan"))
    doc = imported.document
    switch = node(doc, "lan")
    assert switch["kind"] == "switch"
    assert ends(doc)[:3] == [(("pc1", "eth0"), ("lan", "eth0")), (("pc2", "eth0"), ("lan", "eth1")),
                             (("r1", "eth0"), ("lan", "eth2"))]
    assert doc["links"][3]["endpoints"][0]["mac"] == "02:00:00:00:dd:01"
    pc1 = {f["path"] for f in node(doc, "pc1")["files"]}
    assert pc1 == {"/etc/motd", "/shared/notes.txt"}
    srv = node(doc, "srv")
    assert srv["env"] == {"SITE": "dmz"} and srv["routes"] == [{"to": "172.16.0.0/16", "via": "172.16.1.1"}]
    assert len(srv["exec"]) == 1 and srv["exec"][0].startswith("if [ -f /srv/www/index.html ]")  # one script
    assert any("joins 3 machines" in w.message for w in imported.warnings)


# -- containerlab mappings -------------------------------------------------------------------------------------
CLAB_MIN = """
name: t
topology:
  nodes:
    a: {kind: linux, image: alpine}
    b: {kind: linux, image: alpine}
  links:
    - endpoints: ["a:eth1", "b:eth1"]
"""


def test_clab_precedence_is_node_over_group_over_kind_over_defaults():
    text = """
name: prec
topology:
  defaults: {kind: linux, env: {A: d, B: d, C: d, D: d}, image: alpine}
  kinds: {linux: {env: {B: k, C: k, D: k}, cpu: 1}}
  groups: {g: {env: {C: g, D: g}, cpu: 0.5, memory: 1GB}}
  nodes:
    n: {group: g, env: {D: n}}
"""
    doc, _ = from_clab(text)
    n = node(doc, "n")
    assert n["env"] == {"A": "d", "B": "k", "C": "g", "D": "n"}
    assert n["resources"] == {"cpus": 0.5, "memory_mb": 1024}


def test_clab_extended_links_keep_macs_and_mtu_and_link_addresses():
    text = """
name: ext
topology:
  nodes: {a: {kind: linux}, b: {kind: linux}}
  links:
    - type: veth
      mtu: 1400
      endpoints:
        - {node: a, interface: e1-1, mac: "02:00:00:00:00:0A"}
        - {node: b, interface: e1-1}
      ipv4: ["10.9.0.1/24", "10.9.0.2/24"]
"""
    doc, _ = from_clab(text)
    link = doc["links"][0]
    assert link["mtu"] == 1400
    assert link["endpoints"][0] == {"node": "a", "interface": "e1-1", "mac": "02:00:00:00:00:0a",
                                    "addresses": ["10.9.0.1/24"]}
    assert link["endpoints"][1]["addresses"] == ["10.9.0.2/24"]


def test_clab_names_are_made_topolab_names_with_a_warning():
    doc, warnings = from_clab(CLAB_MIN.replace("a:", "PC_1:").replace("a: {", "PC_1: {").replace("name: t",
                                                                                                  "name: My_Lab"))
    assert doc["name"] == "my-lab" and node(doc, "pc-1")
    assert ends(doc) == [(("pc-1", "eth1"), ("b", "eth1"))]
    assert any("'PC_1' is called 'pc-1'" in w.message for w in warnings)


def test_clab_unrecognised_exec_lines_stay_commands_and_recognised_ones_are_read():
    text = CLAB_MIN.replace("a: {kind: linux, image: alpine}", """a:
      kind: linux
      exec:
        - ip -6 addr add 2001:db8::1/64 dev eth1
        - ip link set eth1 mtu 9000
        - sysctl -w net.ipv4.conf.all.rp_filter=0
        - ip addr add 10.255.255.1/32 dev lo
        - apk add tcpdump && echo done
        - tc qdisc add dev eth1 root netem delay 20ms 5ms loss 1%""")
    doc, warnings = from_clab(text)
    a = node(doc, "a")
    assert doc["links"][0]["endpoints"][0]["addresses"] == ["2001:db8::1/64"]
    assert doc["links"][0]["mtu"] == 9000
    assert doc["links"][0]["impairment"] == {"delay_ms": 20, "jitter_ms": 5, "loss_percent": 1}
    assert a["sysctls"] == {"net.ipv4.conf.all.rp_filter": "0"}
    assert a["exec"] == ["ip addr add 10.255.255.1/32 dev lo", "apk add tcpdump && echo done"]
    assert any("set its mtu differently" in w.message for w in warnings)  # only one end said it


def test_clab_unknown_keys_are_warnings_naming_the_line():
    text = CLAB_MIN.replace("name: t", "name: t\nfancy: 1").replace("a: {kind: linux, image: alpine}",
                                                                    "a: {kind: linux, image: alpine, colour: red}")
    _, warnings = from_clab(text)
    found = {(w.path, w.line) for w in warnings if "unknown key" in w.message}
    assert found == {("fancy", 3), ("topology.nodes.a.colour", 6)}


def test_clab_image_map_maps_foreign_images_to_the_sites_own():
    doc, warnings = from_clab(CLAB_MIN, image_map={"alpine": "registry:5000/tools"})
    assert node(doc, "a")["image"] == "registry:5000/tools"
    assert any("TOPOLAB_IMAGE_MAP" in w.message for w in warnings)


@pytest.mark.parametrize("text,where,words", [
    ("name: t\ntopology:\n  nodes:\n    a: {kind: linux\n", 5, "not valid YAML"),
    ("name: t\ntopology:\n  nodes:\n    a: {kind: linux}\n    a: {kind: linux}\n", 5, "given twice"),
    (CLAB_MIN.replace('"b:eth1"', '"c:eth1"'), 8, "no node named 'c'"),
    (CLAB_MIN + '    - endpoints: ["a:eth1", "b:eth2"]\n', 9, "a:eth1 is in two links"),
    (CLAB_MIN.replace("a: {kind: linux, image: alpine}", "a: {kind: nokia_srlinux}"), 5, "cannot run here"),
    (CLAB_MIN.replace("a: {kind: linux, image: alpine}", "a: {kind: ext-container}"), 5, "ext-container"),
    (CLAB_MIN.replace('"b:eth1"', '"host:veth-a"'), 8, "never reaches its host"),
    (CLAB_MIN.replace('"b:eth1"', '"mgmt-net:a-eth1"'), 8, "management network"),
    (CLAB_MIN + "    - {type: macvlan, endpoint: {node: a, interface: eth2}, host-interface: eno1}\n", 9, "macvlan"),
    (CLAB_MIN.replace("image: alpine}", "image: alpine, binds: ['../secret:/etc/secret']}", 1), 5, "climbs out"),
    (CLAB_MIN.replace("image: alpine}", "image: alpine, binds: ['conf/a.txt:/etc/a.txt']}", 1), 5,
     "is not in the lab"),
    (CLAB_MIN.replace("image: alpine}", "image: alpine, binds: ['a.txt:/etc/../shadow']}", 1), 5, "'..'"),
])
def test_malformed_clab_topologies_are_refused_with_file_and_line(text, where, words):
    with pytest.raises(InteropError) as exc:
        from_clab(text, file="lab.clab.yml")
    assert any(file == "lab.clab.yml" and line == where and words in message for file, line, message in problems(exc)), \
        problems(exc)


def test_a_billion_laughs_is_refused():
    text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefg", "bcdefgh", strict=True))
    with pytest.raises(InteropError) as exc:
        from_clab(text)
    assert "values" in str(exc.value)


def test_a_bind_of_a_binary_or_oversized_file_is_refused_with_its_path():
    text = CLAB_MIN.replace("image: alpine}", "image: alpine, binds: ['bin/x:/usr/bin/x', 'big.txt:/big.txt']}", 1)
    lab_files = {"lab.clab.yml": Entry(text.encode()), "bin/x": Entry(b"\x7fELF\x00\x01"),
                 "big.txt": Entry(b"a" * (300 * 1024))}
    with pytest.raises(InteropError) as exc:
        interop.load(lab_files)
    messages = [p.message for p in exc.value.problems]
    assert any("'bin/x' is not a text file" in m for m in messages)
    assert any("'big.txt' is" in m and "256 KiB" in m for m in messages)


def test_a_schema_problem_names_the_file_and_line_of_its_node():
    text = CLAB_MIN.replace("a: {kind: linux, image: alpine}", """a:
      kind: linux
      exec: ["ip addr add 10.0.0.1/24 dev eth1"]""").replace(
        "b: {kind: linux, image: alpine}", 'b: {kind: linux, exec: ["ip addr add 10.0.0.1/24 dev eth1"]}')
    with pytest.raises(InteropError) as exc:
        interop.load({"x.clab.yml": Entry(text.encode())})
    assert any(p.file == "x.clab.yml" and p.line in (5, 8, 10) and p.path.startswith("links[0]")
               for p in exc.value.problems), problems(exc)


# -- Kathará mappings ------------------------------------------------------------------------------------------
def test_kathara_options_sysctls_env_and_exec_and_the_interface_rule_of_forwarding():
    conf = """LAB_NAME=opts
a[0]="X"
a[sysctl]="net.ipv4.ip_forward=1"
a[env]="GREETING=hello world"
a[exec]="touch /tmp/last"
b[0]="X"
b[1]="Y"
b[sysctl]="net.ipv4.ip_forward=0"
c[0]="Y"
c[image]="kathara/frr"
"""
    doc, warnings = from_kathara(kathara(conf, **{"a.startup": "touch /tmp/first\n",
                                                  "shared.startup": "echo shared\n",
                                                  "c.startup": "systemctl start frr\n"}))
    a, b, c = (node(doc, n) for n in "abc")
    assert (a["kind"], b["kind"], c["kind"]) == ("router", "host", "frr")
    assert "sysctls" not in a and "sysctls" not in b and "exec" in c and c["exec"] == ["echo shared"]
    assert a["env"] == {"GREETING": "hello world"}
    assert a["exec"] == ["echo shared", "touch /tmp/first", "touch /tmp/last"]  # Kathará's order
    assert any("kathara/frr" in w.message for w in warnings)


def test_kathara_renamed_interfaces_keep_their_names():
    conf = 'a[0]="X"\nb[0]="X"\n'
    doc, _ = from_kathara(kathara(conf, **{
        "a.startup": "ip link set eth0 down && ip link set eth0 name wan0 && ip link set wan0 up\n"
                     "ip addr add 10.0.0.1/31 dev wan0\n"}))
    assert doc["links"][0]["endpoints"][0] == {"node": "a", "interface": "wan0", "addresses": ["10.0.0.1/31"]}


@pytest.mark.parametrize("conf,more,file,line,words", [
    ('a[0]="X"\nb[0]="X"\nb[bridged]="true"\n', {}, "lab.conf", 3, "bridged"),
    ('a[0]="X"\nb[0]="X"\n', {"lab.ext": "eth0 X\n"}, "lab.ext", 0, "lab.ext is refused"),
    ('a[0]="X"\nthis is not kathara\n', {}, "lab.conf", 2, "not a line of lab.conf"),
    ('a[0]="X"\na[0]="Y"\n', {}, "lab.conf", 2, "given twice"),
    ('a[0]="X"\na[2]="Y"\n', {}, "lab.conf", 1, "not numbered 0, 1, 2"),
    ('a[0]="X-1"\n', {}, "lab.conf", 1, "not letters, digits"),
    ('a[0]="X"\nb[0]="X"\n', {"a/etc/bin": "\x00\x01binary"}, "a/etc/bin", 0, "not a text file"),
    ('a[0]="X"\nb[0]="X"\n', {"a/big": "x" * 300_000}, "a/big", 0, "256 KiB"),
    ('a[0]="X"\nb[0]="X"\na[mem]="lots"\n', {}, "lab.conf", 3, "not a size"),
])
def test_malformed_kathara_labs_are_refused_with_file_and_line(conf, more, file, line, words):
    with pytest.raises(InteropError) as exc:
        from_kathara(kathara(conf, **more))
    assert any(f == file and ln == line and words in m for f, ln, m in problems(exc)), problems(exc)


def test_a_kathara_folder_path_with_dotdot_is_refused():
    with pytest.raises(InteropError) as exc:
        interop.archive.clean_path("r1/../../etc/passwd", "lab.zip")
    assert "climbs out" in str(exc.value)


def test_no_lab_conf_is_a_clear_error():
    with pytest.raises(InteropError, match="lab.conf"):
        from_kathara({"r1.startup": Entry(b"echo\n")})


# -- commands --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("line,what,args", [
    ("ip addr add 10.0.0.1/24 dev eth1", "addr", ("eth1", "10.0.0.1/24")),
    ("ip address add dev eth0 10.0.0.1/24", "addr", ("eth0", "10.0.0.1/24")),
    ("ifconfig eth0 10.0.0.1 netmask 255.255.0.0 up", "addr", ("eth0", "10.0.0.1/16")),
    ("ip route add 10.0.0.0/8 via 192.0.2.1 dev eth0", "route", ("10.0.0.0/8", "192.0.2.1", None)),
    ("ip -6 route add default via fd00::1", "route", ("default", "fd00::1", None)),
    ("ip route add 10.1.0.0/16 dev eth2", "route", ("10.1.0.0/16", None, "eth2")),
    ("route add -net 10.2.0.0 netmask 255.255.0.0 gw 10.0.0.1", "route", ("10.2.0.0/16", "10.0.0.1", None)),
    ("route add -host 10.3.0.7 gw 10.0.0.1", "route", ("10.3.0.7/32", "10.0.0.1", None)),
    ("echo 1 > /proc/sys/net/ipv4/ip_forward", "sysctl", ("net.ipv4.ip_forward", "1")),
    ("/etc/init.d/frr start", "frr", ()),
])
def test_the_commands_it_recognises(line, what, args):
    assert shell.parse(line) == shell.Action(what, args)


@pytest.mark.parametrize("line", ["ip route add 10.0.0.0/8 via 192.0.2.1 metric 5", "ip addr add 10.0.0.1 dev eth0",
                                  "ip route add 10.0.0.5/8 via 192.0.2.1", "ip addr add $ADDR dev eth0",
                                  "ifconfig eth0 10.0.0.1 netmask 255.0.255.0"])
def test_the_commands_it_leaves_alone(line):
    assert shell.parse(line) is None


def test_detect():
    assert interop.detect(files(lab_DOT_conf="")) == "kathara"
    assert interop.detect(files(x_DOT_clab_DOT_yml="")) == "clab"
    assert interop.detect(files(lab_DOT_yaml="name: x\ntopology:\n  nodes: {}\n")) == "clab"
    assert interop.detect(files(doc_DOT_json=json.dumps({"format": "topolab/v1"}))) == "topolab"
    assert interop.detect(files(notes_DOT_txt="hello")) is None


def test_a_kathara_collision_domain_of_one_machine_is_a_switch_so_that_its_interface_exists():
    doc, warnings = from_kathara(kathara('a[0]="X"\na[1]="LONE"\nb[0]="X"\n',
                                         **{"a.startup": "ip addr add 10.5.0.1/24 dev eth1\n"}))
    assert node(doc, "lone")["kind"] == "switch"
    assert ends(doc)[1] == (("a", "eth1"), ("lone", "eth0"))
    assert doc["links"][1]["endpoints"][0]["addresses"] == ["10.5.0.1/24"] and "exec" not in node(doc, "a")
    assert any("has a alone" in w.message for w in warnings)


def test_an_upload_of_several_containerlab_topologies_is_refused():
    with pytest.raises(InteropError, match="2 containerlab topologies"):
        interop.load({"a.clab.yml": Entry(CLAB_MIN.encode()), "b.clab.yml": Entry(CLAB_MIN.encode())})
    chosen = interop.load({"a.clab.yml": Entry(CLAB_MIN.encode()), "b.clab.yml": Entry(b"x: [")}, topology="a.clab.yml")
    assert chosen.document["name"] == "t"


def test_a_kathara_lab_one_folder_down_beside_a_readme_is_found():
    inner = {f"exam/lab/{p}": e for p, e in lab("kathara-static").items()}
    inner["README.md"] = Entry(b"# the exam\n")
    assert interop.detect(inner) == "kathara"
    assert interop.load(inner).document["name"] == "static-routing"
