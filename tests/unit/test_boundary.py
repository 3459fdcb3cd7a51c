"""The privilege boundary: the web tier never loads docker or pyroute2, and Celery speaks JSON only."""
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from tests import import_graph

ROOT = Path(__file__).resolve().parents[2]

WEB_PROCESS = """
import django, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labsite.settings")
from labsite.asgi import application            # what daphne loads
from django.urls import resolve
import labsite.urls, topology.admin, topology.services, topology.tasks
from labsite.celery import app
app.loader.import_default_modules()            # what autodiscovery imports
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("docker", "pyroute2"))
print(",".join(bad))
"""


def test_it_keeps_docker_and_pyroute2_out_of_the_web_process():
    out = subprocess.run([sys.executable, "-c", WEB_PROCESS], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"the web process imported {out.stdout.strip()}"


def test_it_accepts_json_only_on_the_broker():
    assert settings.CELERY_ACCEPT_CONTENT == ["json"]
    assert settings.CELERY_TASK_SERIALIZER == "json"
    assert settings.CELERY_RESULT_ACCEPT_CONTENT == ["json"]


def test_it_lists_topologies_and_labs_in_the_admin(admin_client, admin_user):
    from topology import services

    services.import_topology(admin_user, {"format": "topolab/v1", "name": "admin-lab", "nodes": [{"name": "a"}]})
    for url in ("/admin/topology/topology/", "/admin/topology/lab/", "/admin/topology/labevent/",
                "/admin/topology/apitoken/"):
        response = admin_client.get(url)
        assert response.status_code == 200, url
    assert b"admin-lab" in admin_client.get("/admin/topology/topology/").content


# -- the shape of the imports (read from the source, lazy imports included) -----------------------------


def test_it_has_no_import_circle_in_topology():
    found = import_graph.cycles(import_graph.graph())
    assert found == [], f"import circles: {found} (see: python tests/import_graph.py --cycles)"


def test_it_finds_a_circle_where_there_is_one():
    # The check itself must be able to fail: the circle the tree once had, services -> tasks -> operations.
    edges = {"services": {"tasks"}, "tasks": {"operations"}, "operations": {"services", "engine"}, "engine": set()}
    assert import_graph.cycles(edges) == [["operations", "services", "tasks"]]
    assert import_graph.cycles({"a": {"a"}}) == [["a"]]
    assert import_graph.cycles({"a": {"b"}, "b": set()}) == []


def test_it_keeps_the_root_side_and_the_neutral_modules_away_from_the_web_side():
    edges = import_graph.graph()
    for module in sorted(edges):
        if import_graph.side(module) not in ("root", "neutral", "crossing"):
            continue
        reached = import_graph.reachable(edges, module)
        web = sorted(m for m in reached if import_graph.side(m) == "web")
        assert not web, f"{module} ({import_graph.side(module)} side) imports the web side: " + ", ".join(
            f"{m} (through {reached[m]})" for m in web)


def test_it_names_the_side_of_the_modules_that_cross():
    side = import_graph.side
    assert side("topology.services") == side("topology.api.views") == side("topology.websockets.lab") == "web"
    assert side("topology.operations") == side("topology.relay.server") == side("topology.engine.netlink") == "root"
    assert side("topology.tasks") == "crossing"
    assert side("topology.relay") == side("topology.labstate") == side("topology.kinds") == "neutral"
    # Every module the graph knows exists, and the root side is really read (not an empty graph).
    edges = import_graph.graph()
    assert {"topology.operations", "topology.services", "topology.labstate"} <= set(edges)
    assert "topology.labstate" in edges["topology.operations"]
