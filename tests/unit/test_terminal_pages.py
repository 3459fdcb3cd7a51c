"""Unit tests of the pop-out terminal pages, ``/topologies/<id>/nodes/<name>/console/`` and ``.../logs/``:
the topology's owner only, exactly as the editor page (anybody else gets 404, the anonymous the sign-in page).
"""
from __future__ import annotations

import json

import pytest
from django.test import Client

KINDS = ["console", "logs"]


@pytest.mark.parametrize("kind", KINDS)
def test_it_shows_the_owner_one_terminal_titled_with_node_kind_and_topology(client, topology, kind):
    response = client.get(f"/topologies/{topology.pk}/nodes/c1/{kind}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f"<title>c1 · {kind} · {topology.name}</title>" in html
    assert 'id="term-host"' in html and "topolab/terminal-page.js" in html
    config = json.loads(html.split('id="terminal-config" type="application/json">', 1)[1].split("</script>", 1)[0])
    assert config == {"topology": topology.pk, "topologyName": topology.name, "node": "c1", "kind": kind}


@pytest.mark.parametrize("kind", KINDS)
def test_it_answers_404_to_another_user_as_for_a_topology_that_does_not_exist(bob, topology, kind):
    other = Client()
    other.force_login(bob)
    assert other.get(f"/topologies/{topology.pk}/nodes/c1/{kind}/").status_code == 404
    assert other.get(f"/topologies/{topology.pk + 1000}/nodes/c1/{kind}/").status_code == 404


@pytest.mark.parametrize("kind", KINDS)
def test_it_sends_the_anonymous_to_sign_in(topology, kind):
    response = Client().get(f"/topologies/{topology.pk}/nodes/c1/{kind}/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_it_escapes_a_node_name_from_the_address(client, topology):
    response = client.get(f"/topologies/{topology.pk}/nodes/%3Cb%3Ex/console/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<b>x" not in html and "&lt;b&gt;x" in html
