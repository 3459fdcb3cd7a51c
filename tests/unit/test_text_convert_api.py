"""Unit tests of the text view's conversions (``POST /convert/to-clab`` and ``POST /convert/from-clab``,
topology/api/convert.py): a document as containerlab YAML and back, saving nothing, every problem with its path
(the document's) or its line (the YAML's), and what the file does not carry said, not dropped."""
from __future__ import annotations

import json

import yaml
from django.test import Client

from tests.documents import reference_document
from tests.unit.test_interop_export import every_feature, normal
from topology import interop
from topology.models import Topology

API = "/api/v1"


def post(client, path: str, body) -> object:
    text = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(API + path, text, content_type="application/json")


def to_clab(client, document: dict) -> dict:
    response = post(client, "/convert/to-clab", document)
    assert response.status_code == 200, response.content
    return response.json()


def test_to_clab_writes_the_exports_yaml_and_reads_back_as_the_same_document(client):
    document = reference_document()
    answer = to_clab(client, document)
    assert set(answer) == {"text", "warnings"}
    assert answer["text"] == interop.to_clab(document)  # the export's own file
    data = yaml.safe_load(answer["text"])
    assert set(data["topology"]["nodes"]) == {"c1", "r1", "c2"}
    assert answer["warnings"] == []  # carried whole
    back = post(client, "/convert/from-clab", {"text": answer["text"]})
    assert back.status_code == 200, back.content
    assert normal(back.json()["document"]) == normal(document)
    assert Topology.objects.count() == 0
    assert post(client, "/convert/to-clab/", document).status_code == 200  # a trailing slash too


def test_to_clab_refuses_a_bad_document_with_the_paths_validate_gives(client):
    bad = reference_document()
    bad["links"][0]["endpoints"][0]["addresses"] = ["192.168.10.300/24"]
    bad["nodse"] = []
    response = post(client, "/convert/to-clab", bad)
    assert response.status_code == 400
    paths = {p["path"] for p in response.json()["errors"]}
    assert paths == {p["path"] for p in post(client, "/validate", bad).json()["errors"]}
    assert {"links[0].endpoints[0].addresses[0]", "nodse"} <= paths
    assert post(client, "/convert/to-clab", "{not json").status_code == 400


def test_to_clab_says_what_the_file_does_not_carry(client):
    document = every_feature()
    document["annotations"] = {"editor": {"zoom": 1.5}}
    document["nodes"][1]["image"] = "alpine:3.20"  # not a Topolab image: read back, it runs the kind's
    warnings = {w["path"]: w["message"] for w in to_clab(client, document)["warnings"]}
    assert warnings["nodes[1].image"] == 'the containerlab file does not carry this (read back, it is "topolab/base")'
    assert "the document's are kept" in warnings["annotations"]
    assert "nodes[0].resources.pids" in warnings  # the export's own warning
    # Files are binds of files beside the YAML: with the document they were written from, they read back.
    assert not any(p.endswith(".files") or ".files[" in p for p in warnings)


def test_from_clab_gives_the_document_with_the_files_and_annotations_of_the_one_it_was_written_from(client):
    document = every_feature()
    document["annotations"] = {"editor": {"zoom": 1.5}}
    text = to_clab(client, document)["text"]
    alone = post(client, "/convert/from-clab", {"text": text})
    assert alone.status_code == 400  # the binds name files that a lone text does not have
    assert all(e["line"] > 0 for e in alone.json()["errors"])
    edited = text.replace("image: topolab/base", "image: topolab/tools", 1)
    response = post(client, "/convert/from-clab", {"text": edited, "document": document})
    assert response.status_code == 200, response.content
    back = response.json()["document"]
    assert back["annotations"]["editor"] == {"zoom": 1.5}
    assert back["nodes"][0]["image"] == "topolab/tools"
    assert back["nodes"][0]["files"] == document["nodes"][0]["files"]
    assert Topology.objects.count() == 0


def test_from_clab_names_the_line_of_each_problem(client):
    text = to_clab(client, reference_document())["text"]
    lines = text.splitlines()
    broken = "\n".join(lines[:3] + ["  : : bad"] + lines[3:]) + "\n"
    response = post(client, "/convert/from-clab", {"text": broken})
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["line"] == 4 and error["message"].startswith("not valid YAML")
    # A schema problem: the document's path, and the line of the link it is in.
    address = next(i for i, line in enumerate(lines) if "192.168.10.2/24" in line)
    bad = "\n".join(lines[:address] + [lines[address].replace("192.168.10.2/24", "192.168.10.255/24")]
                    + lines[address + 1:]) + "\n"
    response = post(client, "/convert/from-clab", {"text": bad})
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [e["path"] for e in errors] == ["links[0].endpoints[0].addresses[0]"]
    at = errors[0]["line"] - 1
    assert lines[at].strip().startswith("- endpoints:") and "c1:eth0" in " ".join(lines[at:at + 3])
    # What the import could not carry is a warning with its line, not dropped.
    extra = text.replace("network-mode: none", "network-mode: none\n      mgmt-ipv4: 172.20.0.2", 1)
    response = post(client, "/convert/from-clab", {"text": extra})
    assert response.status_code == 200, response.content
    [warning] = response.json()["warnings"]
    assert "mgmt-ipv4" in warning["message"] and extra.splitlines()[warning["line"] - 1].strip().startswith("mgmt-ipv4")


def test_from_clab_refuses_a_body_that_is_not_text(client):
    for body in ("[1]", "{}", '{"text": 3}', "not json"):
        response = post(client, "/convert/from-clab", body)
        assert response.status_code == 400
        assert "the body is JSON" in response.json()["errors"][0]["message"]
    response = post(client, "/convert/from-clab", {"text": "name: x\n", "document": {"name": 1}})
    assert response.status_code == 400
    assert "'document'" in response.json()["errors"][0]["message"]


def test_the_conversions_need_a_signed_in_user():
    assert post(Client(), "/convert/to-clab", reference_document()).status_code == 401
    assert post(Client(), "/convert/from-clab", {"text": "name: x\n"}).status_code == 401


def test_one_conversion_per_user_at_a_time_a_second_waits_then_is_refused(client, monkeypatch):
    from django.contrib.auth import get_user_model

    from topology import leases
    from topology.api import convert

    monkeypatch.setattr(convert, "CONVERT_WAIT", 0.3)
    user = get_user_model().objects.get(pk=client.session["_auth_user_id"])
    held = leases.take_user_mark(user.pk, "convert", ttl_ms=10_000, busy="held by the test")
    try:
        refused = post(client, "/convert/to-clab", reference_document())
        assert refused.status_code == 429 and "a conversion of yours runs already" in refused.json()["detail"]
        assert post(client, "/convert/from-clab", {"text": "name: x\n"}).status_code == 429
    finally:
        held.release()
    assert post(client, "/convert/to-clab", reference_document()).status_code == 200  # given back after each
    assert post(client, "/convert/to-clab", reference_document()).status_code == 200
