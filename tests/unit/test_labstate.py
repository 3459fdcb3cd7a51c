"""One owner of lab state: only :mod:`topology.labstate` writes a lab's or a node's state and its events.

Read from the source with :mod:`ast`, so a new writer anywhere in ``topology/``
fails here, wherever it hides (a lazy import, a helper, a management command).
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "topology"
OWNER = ROOT / "labstate.py"
MODELS = {"Lab", "LabNode", "LabEvent"}
WRITES = {"update", "create", "bulk_create", "update_or_create", "get_or_create", "bulk_update", "save"}
RELATED = {"nodes", "events"}  # lab.nodes..., lab.events...: the related managers of a lab


def _root(node: ast.AST) -> ast.AST:
    """The start of a chain such as ``Lab.objects.filter(...).update`` (here ``Lab``)."""
    while True:
        if isinstance(node, ast.Attribute):
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Subscript):
            node = node.value
        else:
            return node


def _chain_names(node: ast.AST) -> set[str]:
    names = set()
    while isinstance(node, (ast.Attribute, ast.Call, ast.Subscript)):
        if isinstance(node, ast.Attribute):
            names.add(node.attr)
            node = node.value
        else:
            node = node.func if isinstance(node, ast.Call) else node.value
    return names


def writers(source: str, filename: str) -> list[str]:
    """Where ``source`` writes Lab, LabNode or LabEvent rows: ``file:line: code``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in WRITES:
            root = _root(node.func)
            through = _chain_names(node.func.value)
            if (isinstance(root, ast.Name) and root.id in MODELS) or (through & RELATED and "objects" not in through):
                found.append(f"{filename}:{node.lineno}: {ast.unparse(node)[:80]}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in MODELS:
            found.append(f"{filename}:{node.lineno}: {ast.unparse(node)[:80]}")  # a row made to be saved later
    return found


def test_only_labstate_writes_lab_state():
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        if path == OWNER or "migrations" in path.parts:
            continue
        source = path.read_text()
        for where in writers(source, str(path.relative_to(ROOT.parent))):
            # The recorder builds unsaved event rows that labstate.do_record writes in a batch.
            if path.name == "recorder.py" and ": LabEvent(" in where:
                continue
            found.append(where)
    assert found == [], "lab state written outside topology/labstate.py:\n" + "\n".join(found)


def test_the_writer_check_sees_every_way_of_writing():
    # The check must be able to fail: each of these is a write it has to find.
    for code in (
        "Lab.objects.filter(pk=1).update(state='running')",
        "LabNode.objects.filter(lab=lab).update(state='stopped')",
        "LabEvent.objects.create(lab=lab, step='x')",
        "LabEvent.objects.bulk_create(events)",
        "LabNode.objects.update_or_create(lab=lab, name='a')",
        "lab.nodes.filter(name='a').update(reason='')",
        "lab.events.create(step='x')",
        "Lab(topology=t).save()",
    ):
        assert writers(code, "x.py"), code
    for code in ("Lab.objects.filter(pk=1).first()", "topology.save()", "cache.set('a', 1)",
                 "Topology.objects.create(owner=o, name='n', document={})"):
        assert writers(code, "x.py") == [], code


# -- node states travel typed, from the executor to the rows ------------------------------------------


def test_the_executor_says_which_state_each_step_left_its_node_in():
    from tests.documents import reference_document
    from tests.unit.test_executor import FakeNetwork, FakeRuntime
    from topology.engine.executor import Executor
    from topology.engine.plan import Context, build_plan
    from topology.engine.states import NodeState
    from topology.schema import parse

    runtime = FakeRuntime()
    executor = Executor(runtime, FakeNetwork(), site="unit")
    seen = []
    executor.deploy(7, build_plan(parse(reference_document()), Context(site="unit", lab_id=7, owner="alice")),
                    seen.append)
    states = {(r.title, r.node_state) for r in seen if r.node_state is not None}
    assert states == {("create c1", NodeState.CREATING), ("create r1", NodeState.CREATING),
                      ("create c2", NodeState.CREATING)}
    seen.clear()
    executor.teardown(7, seen.append)
    assert sorted((r.node, r.node_state) for r in seen if r.node_state is not None) == [
        ("c1", NodeState.STOPPED), ("c2", NodeState.STOPPED), ("r1", NodeState.STOPPED)]


def test_the_recorder_writes_the_reported_state_and_never_reads_a_title(topology):
    from topology.engine.executor import Report
    from topology.engine.states import NodeState
    from topology.models import LabNode
    from topology.recorder import Recorder

    lab = topology.lab
    LabNode.objects.bulk_create(LabNode(lab=lab, name=name) for name in ("c1", "r1", "c2"))
    recorder = Recorder(lab, "op-1")
    recorder(Report("create c1", "ok", node="c1"))                                # a title alone: no state
    recorder(Report("anything", "ok", node="r1", node_state=NodeState.CREATING))   # the state, whatever the title
    recorder(Report("remove c2", "failed", node="c2", message="boom", node_state=NodeState.FAILED))
    recorder.flush()
    assert dict(LabNode.objects.filter(lab=lab).values_list("name", "state")) == {
        "c1": "pending", "r1": "creating", "c2": "failed"}
    assert LabNode.objects.get(lab=lab, name="c2").reason == "boom"


def test_the_engine_and_the_database_name_the_same_node_states():
    from topology.engine.states import NodeState
    from topology.models import NodeStatus

    assert [s.value for s in NodeState] == [s.value for s in NodeStatus]


def test_busy_has_two_names_for_its_two_meanings(topology, released):
    from topology import labview, leases
    from topology.models import LabState

    lab = topology.lab
    assert not any("def is_busy(" in path.read_text() for path in ROOT.rglob("*.py"))
    assert leases.acquire(lab.pk, "op-x")
    # The instant between "stopped" being written and the lease given back: held, but no operation runs.
    assert leases.is_held(lab.pk) and not labview.operation_running(lab)
    lab.state = LabState.DEPLOYING
    assert labview.operation_running(lab) and not labview.stale(lab)
    leases.release(lab.pk, "op-x")
    assert not leases.is_held(lab.pk) and labview.stale(lab)  # left deploying by a worker that died
