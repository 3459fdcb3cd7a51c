"""The REST API against the real root worker: deploy, watch, exec, images and destroy over HTTP.

A script's view of Topolab: a bearer token and nothing else (no session, no
CSRF). The API only writes intent and waits for answers; the worker started
by ``lab_worker`` does the Docker and netlink work on this run's queue.

    c1 eth0 ---- eth0 r1 eth1 ---- eth0 c2
    192.168.10.2     (router)      192.168.11.2
"""
from __future__ import annotations

import json
import time

import pytest
from django.test import Client

from tests.documents import reference_document
from topology.models import ApiToken, Lab

pytestmark = pytest.mark.integration

API = "/api/v1"


def wait_until(client: Client, url: str, done, timeout: float = 120) -> dict:
    """Poll ``url`` until ``done(body)``; returns the last body."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        if done(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} still {body['state']} after {timeout} s: {body['reason']}")
        time.sleep(0.2)


def run(client: Client, topology_id: int, node: str, argv: list[str], timeout: float = 30):
    body = json.dumps({"argv": argv, "timeout": timeout})
    return client.post(f"{API}/topologies/{topology_id}/nodes/{node}/exec", body, content_type="application/json")


def test_it_drives_the_reference_lab_through_the_api(labs, owner):
    _, secret = ApiToken.issue(owner, "integration")
    client = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {secret}")

    created = client.post(f"{API}/topologies", json.dumps(reference_document()), content_type="application/json")
    assert created.status_code == 201, created.content
    topology_id = created.json()["id"]
    labs.deployed.append(Lab.objects.get(topology_id=topology_id))  # torn down by the fixture if we fail
    lab_url = f"{API}/topologies/{topology_id}/lab"

    # Deploy, and watch it come up.
    deploy = client.post(f"{API}/topologies/{topology_id}/deploy")
    assert deploy.status_code == 202 and deploy.json()["state"] == "deploying"
    operation = deploy.json()["operation"]
    assert client.post(f"{API}/topologies/{topology_id}/deploy").status_code == 409
    lab = wait_until(client, lab_url, lambda b: b["state"] not in ("deploying", "destroying") and not b["busy"])
    assert lab["state"] == "running", lab["reason"]
    assert lab["operation"] == operation
    assert [(n["name"], n["state"]) for n in lab["nodes"]] == [("c1", "running"), ("r1", "running"),
                                                               ("c2", "running")]
    c1 = lab["nodes"][0]
    assert c1["container"] and c1["interfaces"][0]["addresses"] == ["192.168.10.2/24"]
    assert lab["events"] and lab["events"][-1]["step"] == "lab running"
    assert client.delete(f"{API}/topologies/{topology_id}").status_code == 409  # destroy it first

    # Commands in a node: through the worker, argv only.
    ping = run(client, topology_id, "c1", ["ping", "-c", "1", "-W", "5", "192.168.11.2"])
    assert ping.status_code == 200, ping.content
    assert ping.json()["exit_code"] == 0 and "ttl=63" in ping.json()["output"], ping.json()
    failing = run(client, topology_id, "r1", ["sh", "-c", "echo oops >&2; exit 3"]).json()
    assert failing["exit_code"] == 3 and "oops" in failing["output"]
    started = time.monotonic()
    slow = run(client, topology_id, "c2", ["sleep", "3071"], timeout=1).json()
    assert slow["timed_out"] is True and slow["exit_code"] == 124 and time.monotonic() - started < 10
    left = run(client, topology_id, "c2", ["ps", "-eo", "args"]).json()["output"]
    assert "sleep 3071" not in left, "the timed-out command is still running"
    loud = run(client, topology_id, "c2", ["seq", "1", "400000"]).json()
    assert loud["truncated"] is True and len(loud["output"].encode()) == 1024 * 1024
    assert loud["output"].startswith("1\n2\n3\n")
    assert run(client, topology_id, "c9", ["true"]).status_code == 404

    # The node images on this host.
    images = client.get(f"{API}/images")
    assert images.status_code == 200, images.content
    base = {i["name"]: i for i in images.json()}["topolab/base"]
    assert base["present"] and base["up_to_date"] and base["size_bytes"] > 0
    assert {"host", "router", "switch"} <= set(base["kinds"])

    # Destroy, and see it stopped.
    destroy = client.post(f"{API}/topologies/{topology_id}/destroy")
    assert destroy.status_code == 202 and destroy.json()["state"] == "destroying"
    lab = wait_until(client, lab_url, lambda b: b["state"] not in ("deploying", "destroying") and not b["busy"])
    assert lab["state"] == "stopped", lab["reason"]
    assert all(n["state"] == "stopped" and n["container"] == "" for n in lab["nodes"])
    assert labs.containers(Lab.objects.get(topology_id=topology_id)) == []
    assert run(client, topology_id, "c1", ["true"]).status_code == 409

    assert client.delete(f"{API}/topologies/{topology_id}").status_code == 204
    labs.deployed.clear()
    assert client.get(lab_url).status_code == 404
