"""The editor preloads every module it imports, found by reading the modules (topology/pages/modules.py)."""
import re

import pytest
from django.contrib.staticfiles import finders

from topology.pages import modules
from topology.pages.modules import module_graph


def test_the_editor_graph_follows_imports_through_every_level_and_leaves_dynamic_imports_out():
    graph = module_graph("topolab/editor.js")
    assert graph[0] == "topolab/editor.js"
    assert len(graph) == len(set(graph))
    # canvas-labels.js is imported by canvas.js only, Cytoscape by canvas.js by a path out of topolab/.
    assert {"topolab/canvas.js", "topolab/canvas-labels.js", "topolab/layout.js",
            "vendor/cytoscape/cytoscape.esm.min.mjs"} <= set(graph)
    # terminal.js and instructions-panel.js are import()ed on demand by the dock and the editor.
    assert "topolab/terminal.js" not in graph and "topolab/instructions-panel.js" not in graph


def test_every_static_import_of_every_module_in_the_graph_is_in_it():
    graph = set(module_graph("topolab/editor.js"))
    for path in graph:
        text = open(finders.find(path), encoding="utf-8").read()
        for spec in re.findall(r"^import .*? from '(\.[^']+)';$", text, re.MULTILINE):
            target = ("vendor/" + spec.split("/vendor/", 1)[1]) if "/vendor/" in spec else "topolab/" + spec[2:]
            assert target in graph, (path, spec)


def test_imports_are_read_over_several_lines_and_re_exports_count(tmp_path, monkeypatch):
    (tmp_path / "a.js").write_text("import {x,\n  y} from './b.js';\nexport {z} from \"./sub/c.js\";\n"
                                   "const t = await import('./d.js');\n// see import from './e.js'\nimport './f.js';\n")
    for name in ("b.js", "sub/c.js", "f.js"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("import {q} from '../a.js';\n" if name == "sub/c.js" else "")
    monkeypatch.setattr(modules.finders, "find", lambda path: str(tmp_path / path.removeprefix("t/")))
    module_graph.cache_clear()
    try:
        assert module_graph("t/a.js") == ("t/a.js", "t/b.js", "t/sub/c.js", "t/f.js")
    finally:
        module_graph.cache_clear()


def test_a_module_that_is_not_there_says_which(monkeypatch):
    monkeypatch.setattr(modules.finders, "find", lambda path: None)
    module_graph.cache_clear()
    try:
        with pytest.raises(FileNotFoundError, match="topolab/gone.js"):
            module_graph("topolab/gone.js")
    finally:
        module_graph.cache_clear()


@pytest.mark.django_db
def test_the_editor_page_preloads_the_whole_graph(client, django_user_model):
    from topology import services

    user = django_user_model.objects.create_user("u1", password="pw-u1-12345")
    topology = services.import_topology(user, {"format": "topolab/v1", "name": "t", "nodes": [], "links": []})
    client.force_login(user)
    html = client.get(f"/topologies/{topology.pk}/").content.decode()
    preloaded = re.findall(r'<link rel="modulepreload" href="/static/([^"]+)">', html)
    assert set(preloaded) == set(module_graph("topolab/editor.js"))
    assert preloaded[0].startswith("vendor/")
