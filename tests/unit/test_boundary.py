"""The privilege boundary: the web tier never loads docker or pyroute2, and Celery speaks JSON only."""
import subprocess
import sys
from pathlib import Path

from django.conf import settings

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
