"""The reference lab, end to end: if this breaks, nothing else matters.

    c1 (192.168.10.2/24) --eth0-- r1 --eth1-- c2 (192.168.11.2/24)
                         .10.1/24    .11.1/24
"""
import json
import re

from django.core.management import call_command

from tests.documents import reference_document


def test_it_pings_across_the_router_with_ttl_63_and_cleans_up(labs):
    lab = labs.deploy(reference_document())
    assert lab.state == "running", lab.reason

    code, output = labs.run(lab, "c1", "ping", "-c", "1", "-W", "2", "192.168.11.2")
    assert code == 0, output
    assert re.search(r"ttl=63\b", output), output

    states = {n.name: n.state for n in lab.nodes.all()}
    assert states == {"c1": "running", "r1": "running", "c2": "running"}
    r1 = lab.nodes.get(name="r1")
    assert {i["name"]: i["addresses"] for i in r1.interfaces} == {
        "eth0": ["192.168.10.1/24"], "eth1": ["192.168.11.1/24"]}

    lab = labs.destroy(lab)
    assert lab.state == "stopped"
    assert labs.containers(lab) == []
    assert set(lab.nodes.values_list("state", flat=True)) == {"stopped"}


def test_it_records_every_step_as_an_event(labs):
    lab = labs.deploy(reference_document())
    steps = list(lab.events.filter(operation=lab.operation).values_list("step", "status"))
    assert ("create c1", "ok") in steps
    assert ("link c1:eth0 - r1:eth0", "ok") in steps
    assert ("route c2: 0.0.0.0/0 via 192.168.11.1", "ok") in steps
    assert steps[-1] == ("lab running", "ok")
    labs.destroy(lab)


def test_it_drives_the_reference_lab_from_the_command_line(labs, capsys, tmp_path):
    path = tmp_path / "lab.json"
    path.write_text(json.dumps(reference_document()))
    call_command("lab", "import", str(path), "--user", "student")
    call_command("lab", "deploy", "router-between-two-clients", "--user", "student", "--wait", "--timeout", "120")
    out = capsys.readouterr().out
    assert re.search(r"\[(\d+)/\1\] add routes ok", out), out
    assert "'router-between-two-clients' is running" in out

    call_command("lab", "status", "router-between-two-clients", "--user", "student", "--json")
    status = json.loads(capsys.readouterr().out)
    assert status["state"] == "running"
    assert [n["state"] for n in status["nodes"]] == ["running"] * 3

    call_command("lab", "destroy", "router-between-two-clients", "--user", "student", "--wait")
    assert "is stopped" in capsys.readouterr().out
