"""A console on an frr node may run FRR's ``vtysh`` instead of the login shell (``?program=vtysh``), through the
real relay: it answers FRR's commands, and a shell's session is never resumed as a vtysh one or the reverse."""
from __future__ import annotations

from tests.integration.test_console import Terminal
from tests.websockets import run

FRR_LAB = {
    "format": "topolab/v1", "name": "vtysh-console",
    "nodes": [{"name": "h1", "routes": [{"to": "default", "via": "10.0.0.1"}]}, {"name": "f1", "kind": "frr"}],
    "links": [{"endpoints": [{"node": "h1", "interface": "eth0", "addresses": ["10.0.0.2/24"]},
                             {"node": "f1", "interface": "eth0", "addresses": ["10.0.0.1/24"]}]}],
}


def test_a_vtysh_console_answers_frrs_commands_and_is_not_the_shells_session(labs, owner, relay):
    lab = labs.deploy(FRR_LAB)
    assert lab.state == "running", lab.reason
    vtysh = Terminal(lab, "f1", owner, query="cols=100&rows=30&program=vtysh")
    shell = Terminal(lab, "f1", owner)

    async def body():
        opened = await vtysh.open()
        await vtysh.read_until(rb"f1# ?$", timeout=20)
        await vtysh.type("show interface brief\n")
        await vtysh.read_until(rb"eth0\s+up", timeout=15)
        await vtysh.type("show running-config\n")
        await vtysh.read_until(rb"hostname f1", timeout=15)
        # The shell's console is a shell: asking it to resume the vtysh session gives a new shell instead.
        await shell.open_with(f"cols=80&rows=24&session={opened['session']}")
        assert shell.statuses[-1]["resumed"] is False
        await shell.type("echo in-a-shell-$((40+2))\n")
        await shell.read_until(rb"in-a-shell-42\r\n")
        await vtysh.leave()
        await shell.leave()

    run(body)
