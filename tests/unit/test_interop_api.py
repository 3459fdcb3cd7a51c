"""Unit tests of importing and exporting other tools' labs through the API and the CLI
(``POST /api/v1/topologies/import``, ``GET .../export?format=``, ``lab import PATH``, ``lab export --format``)."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from topology import interop
from topology.models import Topology

API = "/api/v1"
DATA = Path(__file__).resolve().parents[1] / "data" / "interop"


def folder_zip(name: str, extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for path in sorted((DATA / name).rglob("*")):
            if path.is_file():
                z.write(path, f"{name}/{path.relative_to(DATA / name)}")
        for path, data in (extra or {}).items():
            z.writestr(path, data)
    return buffer.getvalue()


def upload(client, name: str, data: bytes, **fields):
    return client.post(f"{API}/topologies/import", {"file": SimpleUploadedFile(name, data), **fields})


def test_it_imports_a_zipped_kathara_lab_with_its_warnings(client, alice):
    response = upload(client, "lan.zip", folder_zip("kathara-lan"))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["format"] == "kathara" and body["topology"]["name"] == "office-lan"
    assert any("joins 3 machines" in w["message"] and w["file"] == "lab.conf" for w in body["warnings"])
    saved = Topology.objects.get(owner=alice, name="office-lan")
    assert {n["name"] for n in saved.document["nodes"]} == {"pc1", "pc2", "r1", "srv", "lan"}


def test_it_imports_a_single_clab_file_and_a_forced_format(client, alice):
    text = (DATA / "clab-bridge" / "lan.clab.yml").read_bytes()
    response = upload(client, "lan.yaml", text, format="clab")
    assert response.status_code == 201, response.content
    assert response.json()["topology"]["node_count"] == 6
    again = upload(client, "lan.yaml", text)
    assert again.status_code == 400 and "already have" in again.json()["errors"][0]["message"]
    assert upload(client, "lan.yaml", text, replace="true").status_code == 201


def test_errors_name_the_file_and_line_and_nothing_is_saved(client, alice):
    bad = b"name: broken\ntopology:\n  nodes:\n    a: {kind: linux}\n  links:\n    - endpoints: [\"a:eth1\", \"z:eth1\"]\n"
    response = upload(client, "broken.clab.yml", bad)
    assert response.status_code == 400
    assert response.json()["errors"] == [{"file": "broken.clab.yml", "line": 6, "path": "topology.links[0]",
                                          "message": "no node named 'z'"}]
    assert not Topology.objects.filter(owner=alice).exists()


def test_a_binds_without_the_folder_says_to_upload_an_archive(client, alice):
    response = upload(client, "frr-pair.clab.yml", (DATA / "clab-frr" / "frr-pair.clab.yml").read_bytes())
    assert response.status_code == 400
    assert all("upload a .zip" in e["message"] for e in response.json()["errors"])
    assert not Topology.objects.filter(owner=alice).exists()


def test_an_unsafe_archive_is_refused(client, alice):
    response = upload(client, "evil.zip", folder_zip("kathara-lan", {"../../etc/cron.d/x": b"* * * * * root id\n"}))
    assert response.status_code == 400 and "climbs out" in response.json()["errors"][0]["message"]
    assert not Topology.objects.filter(owner=alice).exists()


def test_no_file_is_a_400(client):
    response = client.post(f"{API}/topologies/import", {})
    assert response.status_code == 400 and "no file" in response.json()["errors"][0]["message"]


def test_it_needs_credentials(alice):
    from django.test import Client
    assert Client().post(f"{API}/topologies/import", {}).status_code == 401


def test_it_exports_clab_and_kathara_downloads(client, topology):
    response = client.get(f"{API}/topologies/{topology.pk}/export?format=clab")
    assert response.status_code == 200 and response["Content-Type"] == "application/yaml"
    assert 'filename="router-between-two-clients.clab.yml"' in response["Content-Disposition"]
    assert set(yaml.safe_load(response.content)["topology"]["nodes"]) == {"c1", "r1", "c2"}
    response = client.get(f"{API}/topologies/{topology.pk}/export?format=kathara")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert "lab.conf" in zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    plain = client.get(f"{API}/topologies/{topology.pk}/export")
    assert plain.status_code == 200 and json.loads(plain.content) == topology.document
    assert client.get(f"{API}/topologies/{topology.pk}/export?format=gns3").status_code == 400


def test_another_users_topology_does_not_export(bob, topology):
    from django.test import Client
    c = Client()
    c.force_login(bob)
    assert c.get(f"{API}/topologies/{topology.pk}/export?format=clab").status_code == 404


# -- the command line ----------------------------------------------------------------------------------------------
def test_lab_import_reads_a_folder_and_export_writes_it_back(alice, tmp_path, capsys):
    call_command("lab", "import", str(DATA / "kathara-static"), "--user", "alice")
    assert "imported 'static-routing' (kathara)" in capsys.readouterr().out
    out = tmp_path / "static.zip"
    call_command("lab", "export", "static-routing", "--user", "alice", "--format", "kathara", "-o", str(out))
    again = interop.load(interop.read_upload("static.zip", out.read_bytes()))
    assert again.document["name"] == "static-routing"
    call_command("lab", "export", "static-routing", "--user", "alice", "--format", "clab")
    assert "name: static-routing" in capsys.readouterr().out


def test_lab_import_reports_problems_with_lines_and_saves_nothing(alice, tmp_path, capsys):
    bad = tmp_path / "lab.conf"
    bad.write_text('a[0]="X"\nnot a line\n')
    with pytest.raises(CommandError) as exc:
        call_command("lab", "import", str(bad), "--user", "alice", "--format", "kathara")
    assert exc.value.returncode == 2 and "nothing saved" in str(exc.value)
    assert "lab.conf:2" in capsys.readouterr().err
    assert not Topology.objects.filter(owner=alice).exists()


def test_lab_import_of_a_topology_file_reads_the_files_beside_it(alice, capsys):
    call_command("lab", "import", str(DATA / "clab-frr" / "frr-pair.clab.yml"), "--user", "alice")
    assert "imported 'frr-pair' (clab)" in capsys.readouterr().out
    r1 = next(n for n in Topology.objects.get(owner=alice, name="frr-pair").document["nodes"] if n["name"] == "r1")
    assert {f["path"] for f in r1["files"]} == {"/etc/frr/daemons", "/etc/frr/frr.conf"}


def test_the_sites_image_map_applies_to_imports(client, alice, settings):
    settings.TOPOLAB_IMAGE_MAP = {"alpine": "registry:5000/lab-tools"}
    response = upload(client, "lan.clab.yml", (DATA / "clab-bridge" / "lan.clab.yml").read_bytes())
    assert response.status_code == 201, response.content
    nodes = {n["name"]: n for n in response.json()["topology"]["document"]["nodes"]}
    assert nodes["h1"]["image"] == "registry:5000/lab-tools" and "image" not in nodes["br"]
    assert any("TOPOLAB_IMAGE_MAP" in w["message"] for w in response.json()["warnings"])
