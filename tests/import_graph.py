"""The imports between Topolab's own modules, read from the source (every import, lazy ones in functions too).

    .venv/bin/python tests/import_graph.py          # one line per module: what it imports, and its side
    .venv/bin/python tests/import_graph.py --dot    # the same as a Graphviz drawing (dot -Tsvg > imports.svg)
    .venv/bin/python tests/import_graph.py --cycles # the import circles, if any (exit 1 when there are)

It reads files with :mod:`ast` and runs none of them, so an import hidden in
a function body counts as much as one at the top: a circle cannot hide behind
a lazy import. ``tests/unit/test_boundary.py`` uses it to prove there is no
circle and that the root side imports nothing of the web side.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "topology"

# Which side of the privilege boundary a module is on, by its name's prefix
# (the longest prefix wins). The web tier runs unprivileged; the root side
# runs Docker and netlink; neutral modules are imported by both.
SIDES = {
    "topology.services": "web",
    "topology.courses": "web",
    "topology.assignments": "web",
    "topology.quotas": "web",              # the limits' guards, called by the services
    "topology.api": "web",
    "topology.pages": "web",
    "topology.websockets": "web",
    "topology.admin": "web",
    "topology.operations": "root",
    "topology.recorder": "root",
    "topology.node_exec": "root",
    "topology.images": "root",
    "topology.apt_sources": "root",
    "topology.engine": "root",
    "topology.relay": "root",
    "topology.watcher": "root",            # the lab worker's Docker events thread
    "topology.check_runner": "root",       # runs an assignment's checks in the exec worker
    "topology.pingall": "root",            # "ping all": every node pings every address, in the exec worker
    "topology.probes": "root",             # checks run in a probe container in a node's network namespace
    "topology.frr_worker": "root",         # FRR's checker in a sandbox, running configs of FRR nodes
    "topology.checking": "web",            # asks for check runs
    "topology.signin": "web",              # the sign-in attempt limits (an authentication backend)
    "topology.live": "root",               # links changed on a running lab, on the lab worker
    "topology.kernel": "root",             # the kernel's capability probe
    "topology.links": "web",               # the rules of a live link change
    "topology.node_ops": "root",           # a node stopped, started or restarted, on the lab worker
    "topology.nodes": "web",               # the rules of stopping, starting and restarting a node
    "topology.lab_worker": "web",          # asking the lab worker for a live change and waiting for it
    "topology.placement": "web",           # which host a deploy goes to (room, drain, pins)
    "topology.hostctl": "web",             # the admin's host actions: drain, pin, forget
    "topology.host_agent": "root",         # the lab worker's host registration and load
    "topology.cli.hosts": "entry",         # ``lab hosts``: the admin's host actions from the command line
    "topology.engine.impair": "neutral",   # pure: the web tier checks an impairment against the capabilities
    "topology.engine.plan": "neutral",     # pure: the web tier checks deployability with it
    "topology.engine.node_plan": "neutral",   # pure: one node stopped and started again
    "topology.engine.apply_plan": "neutral",  # pure: the web tier previews Apply changes with it
    "topology.applier": "root",            # Apply changes, on the lab worker
    "topology.warm_pool": "root",          # the lab worker's warm pool of started containers
    "topology.apply": "web",               # the rules of Apply changes
    "topology.capture": "root",            # the packet capture service (manage.py capture) and its checks
    "topology.capture.client": "web",      # the web tier's requests to it, records, watchers
    "topology.capture.summary": "neutral",  # pure: a packet's row
    "topology.capture.decode": "neutral",  # pure: a packet's layers and hex dump
    "topology.capture.spool": "neutral",   # the capture's files, written by the service, read by the web tier
    "topology.engine.names": "neutral",
    "topology.engine.states": "neutral",
    "topology.tasks": "crossing",          # the one module both sides share: the web sends, the worker runs
    "topology.management": "entry",        # command-line entry points run as root and use both sides
    "topology.testing": "entry",
}
# Packages whose own __init__ is on another side than the modules below them.
PACKAGE_SIDES = {
    "topology.relay": "neutral",   # the relay's protocol: the web consumers read it too
    "topology.capture": "neutral",  # the capture service's protocol: the web tier reads it too
    "topology.engine": "neutral",  # a docstring only
}


def side(module: str) -> str:
    """``web``, ``root``, ``neutral``, ``crossing`` or ``entry`` (anything not named is neutral)."""
    if module in PACKAGE_SIDES:
        return PACKAGE_SIDES[module]
    best = ""
    for prefix in SIDES:
        if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
            best = prefix
    return SIDES.get(best, "neutral")


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package is named by itself, its file is __init__.py)."""
    found = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _resolve(current: str, is_package: bool, node: ast.ImportFrom) -> str:
    base = current if is_package else current.rsplit(".", 1)[0]
    for _ in range(node.level - 1):
        base = base.rsplit(".", 1)[0]
    if node.level == 0:
        return node.module or ""
    return f"{base}.{node.module}" if node.module else base


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's own modules that ``name`` imports (a name imported from a package counts as its module
    when there is one; otherwise as the package itself)."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            origin = _resolve(name, is_package, node)
            targets = [f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in known else origin
                       for alias in node.names]
        for target in targets:
            if target in known and target != name:
                found.add(target)
            # Importing a.b.c runs a/__init__ and a/b/__init__ first: those count too, except the
            # importer's own packages, which Python has always run before it (a package's __init__
            # importing its own modules is no circle).
            parts = target.split(".")
            for i in range(1, len(parts)):
                prefix = ".".join(parts[:i])
                if prefix in known and prefix != PACKAGE and not (name == prefix or name.startswith(prefix + ".")):
                    found.add(prefix)
    return found


def graph() -> dict[str, set[str]]:
    """``{module: the package's modules it imports}``."""
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (or a module importing itself): the circles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:  # iterative Tarjan: no recursion limit to meet
        nonlocal counter
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges.get(node, ()):
                    found.append(sorted(component))

    for name in sorted(edges):
        if name not in index:
            visit(name)
    return found


def reachable(edges: dict[str, set[str]], start: str) -> dict[str, str]:
    """Every module ``start`` imports directly or not, each with the module it was reached from."""
    seen: dict[str, str] = {}
    todo = [start]
    while todo:
        node = todo.pop()
        for child in edges.get(node, ()):
            if child not in seen and child != start:
                seen[child] = node
                todo.append(child)
    return seen


def main(argv: list[str]) -> int:
    edges = graph()
    if "--cycles" in argv:
        found = cycles(edges)
        for component in found:
            print(" <-> ".join(component))
        print(f"{len(found)} import circle(s) among {len(edges)} modules")
        return 1 if found else 0
    if "--dot" in argv:
        colours = {"web": "lightblue", "root": "salmon", "crossing": "gold", "entry": "grey90", "neutral": "white"}
        print("digraph imports {\n  rankdir=LR; node [shape=box, style=filled];")
        for name in sorted(edges):
            print(f'  "{name}" [fillcolor={colours[side(name)]}];')
        for name in sorted(edges):
            for target in sorted(edges[name]):
                print(f'  "{name}" -> "{target}";')
        print("}")
        return 0
    for name in sorted(edges):
        print(f"{name} [{side(name)}] -> {', '.join(sorted(edges[name])) or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
