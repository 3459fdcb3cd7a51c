"""Builds that fail, teardowns that repeat, workers that die: the lab always ends clean.

    a ── b ── ghost (an image this host does not have)
"""
import json
import time

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from topology import leases, services
from topology.models import Lab
from topology.testing.labs import wait_for
from topology.testing.worker import WorkerProcess


def chain(*nodes, image_of=None) -> dict:
    image_of = image_of or {}
    return {
        "format": "topolab/v1",
        "name": "chain",
        "nodes": [dict({"name": n}, **({"image": image_of[n]} if n in image_of else {})) for n in nodes],
        "links": [
            {"endpoints": [{"node": a, "interface": f"to-{b}"}, {"node": b, "interface": f"to-{a}"}]}
            for a, b in zip(nodes, nodes[1:], strict=False)
        ],
    }


def test_it_rolls_a_failed_build_back_to_nothing(labs):
    lab = labs.deploy(chain("a", "b", "ghost", image_of={"ghost": "topolab/does-not-exist"}))
    assert lab.state == "failed"
    assert "create ghost failed" in lab.reason and "topolab/does-not-exist" in lab.reason
    assert labs.containers(lab) == []
    assert lab.nodes.get(name="ghost").state == "failed"
    assert lab.events.filter(operation=lab.operation, step="undo").exists()


def test_it_rolls_back_when_a_command_fails_after_the_network_is_up(labs):
    document = chain("a", "b")
    document["nodes"][1]["exec"] = ["echo starting", "echo broken >&2; exit 3"]
    lab = labs.deploy(document)
    assert lab.state == "failed"
    assert "exited with code 3" in lab.reason and "broken" in lab.reason
    assert labs.containers(lab) == []


def test_it_destroys_twice_in_a_row_and_after_a_container_was_removed_by_hand(labs):
    lab = labs.deploy(chain("a", "b", "c"))
    assert lab.state == "running", lab.reason
    labs.runtime.remove(lab.nodes.get(name="b").container_id)
    assert labs.destroy(lab).state == "stopped"
    assert labs.containers(lab) == []
    assert labs.destroy(lab).state == "stopped"
    # And it deploys again after all that.
    assert labs.deploy(chain("a", "b", "c")).state == "running"
    labs.destroy(lab)


def test_it_refuses_a_second_operation_while_one_runs(labs):
    document = chain("a", "b")
    document["nodes"][0]["exec"] = ["sleep 2"]
    topology = services.import_topology(labs.owner, document)
    lab = topology.lab
    operation = services.request_deploy(lab)
    try:
        services.request_destroy(lab)
    except services.Conflict as exc:
        assert exc.status == 409
    else:
        raise AssertionError("a destroy was accepted while a deploy ran")
    labs.deployed.append(wait_for(lab, operation))
    labs.destroy(lab)


def test_it_collects_what_a_killed_worker_left_behind(labs, tmp_path, capsys):
    """A worker dies in the middle of a build; `lab gc` ends the operation and removes its containers."""
    queue = settings.TOPOLAB_QUEUE + "-doomed"
    doomed = WorkerProcess(queue, tmp_path / "doomed.log")
    doomed.start()
    try:
        document = chain("a", "b", "c")
        document["nodes"][2]["exec"] = ["sleep 60"]
        topology = services.import_topology(labs.owner, document)
        Lab.objects.filter(pk=topology.lab.pk).update(queue=queue)
        lab = Lab.objects.get(pk=topology.lab.pk)
        services.request_deploy(lab)
        deadline = time.monotonic() + 60
        while not lab.events.filter(step="run exec commands", status="started").exists():
            assert time.monotonic() < deadline, "the build never reached its exec commands"
            time.sleep(0.1)
    finally:
        doomed.kill()
    assert len(labs.containers(lab)) == 3

    # Until the dead worker's lease runs out, gc leaves the lab alone...
    call_command("lab", "gc")
    assert len(labs.containers(lab)) == 3
    # ...and then ends the operation and removes everything it built.
    deadline = time.monotonic() + 30
    while leases.is_held(lab.pk):
        assert time.monotonic() < deadline, "the dead worker's lease never expired"
        time.sleep(0.5)
    capsys.readouterr()
    call_command("lab", "gc")
    out = capsys.readouterr().out
    assert f"lab {lab.pk}: interrupted" in out and "removed topolab-" in out
    assert labs.containers(lab) == []
    lab.refresh_from_db()
    assert lab.state == "failed" and "interrupted" in lab.reason
    call_command("lab", "gc")
    assert "nothing to clean up" in capsys.readouterr().out


def test_it_exits_1_with_the_reason_when_a_waited_deploy_fails(labs, tmp_path, capsys):
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(chain("a", "ghost", image_of={"ghost": "topolab/does-not-exist"})))
    call_command("lab", "import", str(path), "--user", "student")
    with pytest.raises(CommandError) as failed:
        call_command("lab", "deploy", "chain", "--user", "student", "--wait", "--timeout", "120")
    assert failed.value.returncode == 1
    assert "deploy failed: create ghost failed" in str(failed.value) and "topolab/does-not-exist" in str(failed.value)
    out = capsys.readouterr().out
    assert "create ghost failed" in out and "undo started" in out
    lab = Lab.objects.get(topology__name="chain")
    assert lab.state == "failed" and labs.containers(lab) == []
