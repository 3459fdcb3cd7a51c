"""The kind registry is the one place that says what a node kind is."""
from __future__ import annotations

import ast
from pathlib import Path

from topology import images, kinds
from topology.engine.plan import Context, build_plan, check_deployable
from topology.schema import KINDS, validate

ROOT = Path(__file__).resolve().parents[2] / "topology"


def test_the_schema_accepts_exactly_the_registry_s_kinds():
    assert KINDS == kinds.NAMES == tuple(kinds.KINDS)
    for name in kinds.NAMES:
        assert validate({"format": "topolab/v1", "name": "k", "nodes": [{"name": "a", "kind": name}]}).ok
    result = validate({"format": "topolab/v1", "name": "k", "nodes": [{"name": "a", "kind": "firewall"}]})
    assert [p.path for p in result.errors] == ["nodes[0].kind"]


def test_every_kind_has_an_image_recipe_and_every_recipe_serves_a_kind():
    for kind in kinds.KINDS.values():
        assert kind.image in images.RECIPES, f"{kind.name} runs {kind.image}, which no recipe builds"
        assert kind.name in images.RECIPES[kind.image].kinds
    assert all(recipe.kinds for recipe in images.RECIPES.values())


def test_the_planner_takes_sysctls_capabilities_bridges_and_deployability_from_the_registry():
    doc = validate({"format": "topolab/v1", "name": "k", "nodes": [{"name": n, "kind": n} for n in kinds.deployable()],
                    "links": [{"endpoints": [{"node": "host", "interface": "e0"}, {"node": "switch", "interface": "p0"}]}]
                    }).document
    plan = build_plan(doc, Context(site="unit", lab_id=1, owner="alice"))
    creates = {s.node: s for s in plan.steps if type(s).__name__ == "CreateContainer"}
    sysctls = {s.node: dict(s.values) for s in plan.steps if type(s).__name__ == "SetSysctls"}
    bridges = [(s.node, s.bridge) for s in plan.steps if type(s).__name__ == "CreateBridge"]
    for name in kinds.deployable():
        kind = kinds.kind(name)
        assert creates[name].capabilities == kind.capabilities and creates[name].image == f"{kind.image}"
        assert kind.sysctls.items() <= sysctls[name].items()
    assert bridges == [(k.name, k.bridge) for k in kinds.KINDS.values() if k.bridge and k.deployable]
    refused = [k.name for k in kinds.KINDS.values() if not k.deployable]
    for name in refused:
        doc = validate({"format": "topolab/v1", "name": "k", "nodes": [{"name": "a", "kind": name}]}).document
        try:
            check_deployable(doc)
        except ValueError as exc:
            assert f"kind '{name}' cannot be deployed yet" in str(exc)
        else:
            raise AssertionError(f"{name} should be refused")


def test_no_module_but_the_registry_names_a_kind():
    """Kind names as string literals outside topology/kinds.py would be a second place that says what a kind is."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        # topology/interop translates other tools' vocabularies, where "host" and "bridge" are their own words
        # (containerlab's kinds, Kathará's machines): its tables map them onto ours and its tests hold them.
        if path.name == "kinds.py" or "migrations" in path.parts or "interop" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)
                      and isinstance(node.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in kinds.NAMES and id(node) not in docstrings:
                found.append(f"{path.relative_to(ROOT.parent)}: {node.value!r}")
    # The frr image's recipe installs the Debian package named "frr": a package, not the kind.
    assert found == ["topology/images.py: 'frr'"], found
