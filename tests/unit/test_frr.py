"""The frr kind's pure parts (topology/frr.py) and what the planner makes of an frr node."""
from __future__ import annotations

import ipaddress

import pytest

from topology import frr, kinds
from topology.engine.plan import Context, CreateContainer, ExecSequence, build_plan, node_commands, node_files
from topology.schema import parse
from topology.schema.models import Node

CTX = Context(site="test", lab_id=7, owner="alice")


def document(nodes, links=()):
    return parse({"format": "topolab/v1", "name": "frr-test", "nodes": nodes, "links": list(links)})


def link(a, a_if, a_addrs, b, b_if, b_addrs, **extra):
    return {"endpoints": [{"node": a, "interface": a_if, "addresses": a_addrs},
                          {"node": b, "interface": b_if, "addresses": b_addrs}], **extra}


def kinds_of(doc):
    return {n.name: kinds.kind(n.kind) for n in doc.nodes}


def daemons_enabled(daemons_text: str) -> set[str]:
    return {line.split("=")[0] for line in daemons_text.splitlines() if line.endswith("d=yes")}


# -- which daemons a configuration needs ------------------------------------------------------------------------
@pytest.mark.parametrize("config, needed", [
    ("hostname f1\n", []),
    ("router ospf\n ospf router-id 1.1.1.1\n", ["ospfd"]),
    ("interface eth0\n ip ospf area 0\n", ["ospfd"]),
    ("router ospf6\n", ["ospf6d"]),
    ("interface eth0\n ipv6 ospf6 area 0\n", ["ospf6d"]),
    ("router bgp 65000\n neighbor 10.0.0.2 remote-as 65001\n", ["bgpd"]),
    ("router bgp 65000\n neighbor 10.0.0.2 bfd\n", ["bgpd", "bfdd"]),
    ("router isis core\ninterface eth0\n ip router isis core\n", ["isisd"]),
    ("router rip\n network eth0\n", ["ripd"]),
    ("router ripng\n", ["ripngd"]),
    ("router eigrp 10\n", ["eigrpd"]),
    ("router babel\n", ["babeld"]),
    ("interface eth0\n ip pim\n", ["pimd"]),
    ("router pim\n", ["pimd"]),
    ("bfd\n peer 10.0.0.2\n", ["bfdd"]),
    ("! router bgp 65000\n# router isis x\n", []),  # comments name nothing
])
def test_it_runs_zebra_staticd_and_the_daemons_the_config_uses(config, needed):
    found = frr.daemons_for(config)
    assert found[:1] == ["zebra"] and "staticd" in found
    assert set(found) - {"zebra", "staticd"} == set(needed)
    assert found == [d for d in frr.ALL_DAEMONS if d in found]  # in frrinit.sh's order


def test_the_daemons_file_says_yes_to_the_chosen_and_no_to_every_other():
    text = frr.daemons_file(["ospfd", "bgpd"])
    assert daemons_enabled(text) == {"ospfd", "bgpd"}
    assert "isisd=no" in text and "vtysh_enable=yes" in text
    assert 'zebra_options="-A 127.0.0.1 -s 90000000"' in text and 'ospf6d_options="-A ::1"' in text


# -- files and commands of an frr node --------------------------------------------------------------------------
def test_a_node_without_files_gets_defaults_derived_from_its_default_config():
    node = Node.model_validate({"name": "f1", "kind": "frr"})
    files = {path: (content, mode) for path, content, mode in frr.kind_files(node)}
    assert set(files) == {frr.CONF, frr.DAEMONS, frr.VTYSH_CONF, frr.START_PATH}
    assert "hostname f1\n" in files[frr.CONF][0]
    assert daemons_enabled(files[frr.DAEMONS][0]) == set()  # zebra and staticd run without saying so
    assert files[frr.VTYSH_CONF][0] == "service integrated-vtysh-config\n"
    assert files[frr.START_PATH][1] == 0o755 and files[frr.CONF][1] == 0o640


def test_a_nodes_own_files_win_and_its_daemons_come_from_its_own_config():
    node = Node.model_validate({"name": "f1", "kind": "frr", "files": [
        {"path": frr.CONF, "content": "hostname f1\nrouter ospf\n!\nrouter bgp 65000\n"}]})
    files = {path: content for path, content, _ in frr.kind_files(node)}
    assert frr.CONF not in files  # the node's own goes in, untouched
    assert daemons_enabled(files[frr.DAEMONS]) == {"ospfd", "bgpd"}
    given = Node.model_validate({"name": "f1", "kind": "frr", "files": [
        {"path": frr.DAEMONS, "content": "isisd=yes\n"}, {"path": frr.VTYSH_CONF, "content": ""}]})
    assert {p for p, _, _ in frr.kind_files(given)} == {frr.CONF, frr.START_PATH}


def test_the_plan_puts_the_files_in_starts_frr_before_the_nodes_own_commands_and_adds_net_raw_only():
    #   h1 eth0 ---- eth0 f1 (frr)
    doc = document([{"name": "h1"}, {"name": "f1", "kind": "frr", "exec": ["echo mine"],
                                     "files": [{"path": "/etc/motd", "content": "hi\n"}]}],
                   [link("h1", "eth0", ["10.1.0.2/24"], "f1", "eth0", ["10.1.0.1/24"])])
    plan = build_plan(doc, CTX)
    creates = {s.node: s for s in plan.steps if isinstance(s, CreateContainer)}
    assert creates["f1"].image == "topolab/frr" and creates["f1"].capabilities == ("NET_ADMIN", "NET_RAW")
    paths = [p for p, _, _ in creates["f1"].files]
    assert paths[0] == "/etc/motd" and set(paths[1:]) == {frr.CONF, frr.DAEMONS, frr.VTYSH_CONF, frr.START_PATH}
    assert "SYS_ADMIN" not in creates["f1"].capabilities
    execs = {s.node: s.commands for s in plan.steps if isinstance(s, ExecSequence)}
    assert execs == {"f1": (frr.START_COMMAND, "echo mine")}  # the host runs nothing of FRR's
    assert plan.phases[-1].name == "run exec commands"  # after addresses and routes
    host = doc.node("h1")
    assert node_commands(host) == () and node_files(host) == ()


def test_the_start_script_checks_the_config_then_starts_with_the_preload_and_waits():
    script = frr.START_SCRIPT
    check, start, wait = (script.index("vtysh -C -f /etc/frr/frr.conf"), script.index("frrinit.sh start"),
                          script.index("-S /var/run/frr/$d.vty"))
    assert check < start < wait
    assert f"LD_PRELOAD={frr.PRELOAD}" in script and "chown frr:frr" in script and "chmod 0640" in script
    assert script.startswith("#!/bin/bash\n")


# -- FRR's answers -------------------------------------------------------------------------------------------------
def test_it_reads_the_checkers_complaints_with_their_lines():
    output = ("% Can't open configuration file /etc/frr/vtysh.conf due to 'Permission denied'.\n"
              "line 4: % Unknown command[41]:  bogus command here\n"
              "line 7: % Unknown command[17]:  ip address 1.2.3.4/33\n"
              "something else\n")
    assert frr.parse_check(output) == [
        {"line": 4, "message": "% Unknown command[41]:  bogus command here"},
        {"line": 7, "message": "% Unknown command[17]:  ip address 1.2.3.4/33"},
        {"line": None, "message": "something else"},
    ]
    assert frr.parse_check("") == []


def test_a_running_config_loses_its_header_lines():
    shown = ("Building configuration...\n\nCurrent configuration:\n!\nfrr version 8.4.4\nfrr defaults traditional\n"
             "hostname f1\nservice integrated-vtysh-config\n!\nrouter ospf\n ospf router-id 1.1.1.1\nexit\n!\nend\n")
    assert frr.clean_running_config(shown) == ("frr defaults traditional\nhostname f1\nservice integrated-vtysh-config\n"
                                               "!\nrouter ospf\n ospf router-id 1.1.1.1\nexit\n!\nend\n")
    assert frr.clean_running_config("Building configuration...\n") == ""


def test_the_diff_is_unified_and_empty_when_nothing_changed():
    diff = frr.config_diff("f1", "hostname f1\n", "hostname f1\nrouter ospf\n")
    assert diff.startswith("--- f1:/etc/frr/frr.conf (document)\n+++ f1:/etc/frr/frr.conf (running)\n")
    assert "+router ospf\n" in diff
    assert frr.config_diff("f1", "same\n", "same\n") == ""


# -- starting configurations -----------------------------------------------------------------------------------------
#
#   h1 --/24-- f1 --/30-- f2 --/24-- h2           f1 also: an IPv6 /64 to f2
#
def pair():
    return document(
        [{"name": "h1"}, {"name": "f1", "kind": "frr"}, {"name": "f2", "kind": "frr"}, {"name": "h2"}],
        [link("h1", "eth0", ["192.168.1.2/24"], "f1", "eth1", ["192.168.1.1/24"]),
         link("f1", "eth0", ["10.0.12.1/30", "2001:db8:12::1/64"], "f2", "eth0", ["10.0.12.2/30", "2001:db8:12::2/64"]),
         link("f2", "eth1", ["192.168.2.1/24"], "h2", "eth0", ["192.168.2.2/24"])])


def config_of(doc, node, choices):
    files = frr.starting_config(doc, node, choices, kinds_of(doc))
    assert [f["path"] for f in files] == [frr.CONF, frr.DAEMONS]
    return files[0]["content"], files[1]["content"]


def block(config: str, head: str) -> list[str]:
    lines = config.splitlines()
    start = lines.index(head)
    return lines[start + 1:lines.index("exit", start)]


def test_ospf_runs_area_0_on_every_addressed_interface_point_to_point_on_a_30_and_passive_towards_hosts():
    config, daemons = config_of(pair(), "f1", ["ospf"])
    assert block(config, "interface eth0") == [" ip ospf area 0", " ip ospf network point-to-point",
                                               " ipv6 ospf6 area 0"]
    assert block(config, "interface eth1") == [" ip ospf area 0", " ip ospf passive"]
    assert block(config, "router ospf") == [" ospf router-id 10.0.12.1"]  # the lowest IPv4 address
    assert block(config, "router ospf6") == [" ospf6 router-id 10.0.12.1"]
    assert "hostname f1" in config and "router bgp" not in config
    assert daemons_enabled(daemons) == {"ospfd", "ospf6d"}


def test_bgp_has_an_as_per_node_a_neighbour_per_frr_peer_and_its_connected_networks():
    config, daemons = config_of(pair(), "f1", ["bgp"])
    assert block(config, "router bgp 64513") == [  # f1 is node 1: 64512 + 1
        " bgp router-id 10.0.12.1", " no bgp ebgp-requires-policy", " no bgp default ipv4-unicast",
        " neighbor 10.0.12.2 remote-as 64514", " neighbor 2001:db8:12::2 remote-as 64514",
        " address-family ipv4 unicast", "  network 192.168.1.0/24", "  network 10.0.12.0/30",
        "  neighbor 10.0.12.2 activate", " exit-address-family",
        " address-family ipv6 unicast", "  network 2001:db8:12::/64", "  neighbor 2001:db8:12::2 activate",
        " exit-address-family"]
    assert "neighbor 192.168.1.2" not in config  # h1 is a host, not a BGP speaker
    assert daemons_enabled(daemons) == {"bgpd"}


def test_isis_gets_a_net_from_the_router_id_and_runs_on_every_addressed_interface():
    config, daemons = config_of(pair(), "f1", ["isis"])
    assert block(config, "router isis topolab") == [" is-type level-2-only", " net 49.0001.0100.0001.2001.00"]
    assert block(config, "interface eth0") == [" ip router isis topolab", " ipv6 router isis topolab",
                                               " isis network point-to-point"]
    assert block(config, "interface eth1") == [" ip router isis topolab", " isis passive"]
    assert daemons_enabled(daemons) == {"isisd"}
    assert frr.isis_net("192.168.1.1") == "49.0001.1921.6800.1001.00"


def test_all_three_at_once_and_the_order_of_the_choices_does_not_matter():
    doc = pair()
    assert config_of(doc, "f2", ["isis", "bgp", "ospf"]) == config_of(doc, "f2", ["ospf", "bgp", "isis"])
    config, daemons = config_of(doc, "f2", ["ospf", "bgp", "isis"])
    assert "router bgp 64514" in config and " neighbor 10.0.12.1 remote-as 64513" in config
    assert daemons_enabled(daemons) == {"ospfd", "ospf6d", "bgpd", "isisd"}


#
#   f1 ---- s1 (switch) ---- f2,   s1 ---- h1
#
def test_bgp_finds_peers_behind_a_switch_and_a_host_behind_it_makes_no_interface_passive():
    doc = document(
        [{"name": "f1", "kind": "frr"}, {"name": "s1", "kind": "switch"}, {"name": "f2", "kind": "frr"}, {"name": "h1"}],
        [link("f1", "eth0", ["10.0.0.1/24"], "s1", "p1", []), link("f2", "eth0", ["10.0.0.2/24"], "s1", "p2", []),
         link("h1", "eth0", ["10.0.0.9/24"], "s1", "p3", [])])
    config, _ = config_of(doc, "f1", ["bgp", "ospf"])
    assert " neighbor 10.0.0.2 remote-as 64514" in config and "10.0.0.9 remote-as" not in config
    assert block(config, "interface eth0") == [" ip ospf area 0"]


def test_a_node_without_ipv4_gets_a_router_id_of_its_own_and_an_unknown_node_is_a_key_error():
    doc = document([{"name": "f1", "kind": "frr"}, {"name": "f2", "kind": "frr"}],
                   [link("f1", "eth0", ["2001:db8::1/127"], "f2", "eth0", ["2001:db8::/127"])])
    config, _ = config_of(doc, "f2", ["ospf"])
    assert " ospf6 router-id 10.255.0.2" in config and "router ospf\n" not in config
    assert " ipv6 ospf6 network point-to-point" in config
    ipaddress.ip_address("10.255.0.2")
    with pytest.raises(KeyError):
        frr.starting_config(doc, "nosuch", ["ospf"], kinds_of(doc))


@pytest.mark.parametrize("value, expected", [
    (["ospf"], ["ospf"]), (["isis", "ospf"], ["ospf", "isis"]), ([], None), (["rip"], None), ("ospf", None),
    ([1], None), (None, None),
])
def test_the_choices_are_a_non_empty_list_of_known_protocols(value, expected):
    assert frr.valid_choices(value) == expected


# -- the image's capability shim -------------------------------------------------------------------------------------
def test_the_frr_images_digest_follows_its_shims_source_and_the_base_image_has_none(monkeypatch, tmp_path):
    from topology import images

    frr_recipe, base = images.RECIPES["topolab/frr"], images.RECIPES["topolab/base"]
    assert frr_recipe.libraries == (("frr_caps.c", frr.PRELOAD),) and base.libraries == ()
    before = images.recipe_digest(frr_recipe), images.recipe_digest(base)
    changed = tmp_path / "frr_caps.c"
    changed.write_text((images.NATIVE_DIR / "frr_caps.c").read_text() + "/* changed */\n")
    monkeypatch.setattr(images, "NATIVE_DIR", tmp_path)
    assert images.recipe_digest(frr_recipe) != before[0]
    assert images.recipe_digest(base) == before[1]


def test_the_shim_compiles_into_a_shared_library_that_defines_cap_set_proc(tmp_path):
    import shutil
    import subprocess

    from topology import images

    if shutil.which("cc") is None:
        pytest.skip("no C compiler on this host (compose/up installs gcc)")
    said = []
    images._compile_libraries(images.RECIPES["topolab/frr"], tmp_path, said.append)
    built = tmp_path / frr.PRELOAD.lstrip("/")
    assert built.read_bytes()[:4] == b"\x7fELF" and said == [f"topolab/frr: compiling frr_caps.c into {frr.PRELOAD}"]
    symbols = subprocess.run(["nm", "-D", "--defined-only", str(built)], capture_output=True, text=True).stdout
    assert " T cap_set_proc" in symbols, symbols


def test_a_config_given_under_another_spelling_of_its_path_is_still_the_nodes_own():
    node = Node.model_validate({"name": "f1", "kind": "frr", "files": [
        {"path": "/etc//frr/./frr.conf", "content": "router bgp 65000\n"}]})
    files = {path: content for path, content, _ in frr.kind_files(node)}
    assert frr.CONF not in files and daemons_enabled(files[frr.DAEMONS]) == {"bgpd"}
