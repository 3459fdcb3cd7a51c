"""Unit tests of what the editor page (``/topologies/<id>/``) and the pop-out terminal page tell the browser
before its first request: the node kinds, straight from the registry (topology/kinds.py), and the console's
pacing, straight from the relay (topology/relay). The JavaScript declares neither.
"""
from __future__ import annotations

import html as htmlparse
import json
import re

import pytest

from topology import kinds, relay
from topology.kinds import Kind


def script(html: str, element_id: str) -> dict:
    """The JSON of the page's ``json_script`` element ``element_id``."""
    return json.loads(html.split(f'id="{element_id}" type="application/json">', 1)[1].split("</script>", 1)[0])


def palette(html: str) -> list[dict]:
    """The palette's buttons, in page order: kind, title and the icon's classes."""
    buttons = re.findall(r'<button class="kind-btn"[^>]*data-kind="([^"]*)" title="([^"]*)">\s*'
                         r'<span class="([^"]*)" aria-hidden="true"></span>([^<]*)</button>', html)
    return [{"kind": kind, "title": htmlparse.unescape(title), "icon": icon.split(), "label": label.strip()}
            for kind, title, icon, label in buttons]


def editor_page(client, topology) -> str:
    response = client.get(f"/topologies/{topology.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def test_it_serves_every_kind_of_the_registry_with_its_fields_in_registry_order(client, topology):
    config = script(editor_page(client, topology), "editor-config")
    assert [k["name"] for k in config["kinds"]] == list(kinds.KINDS)
    for served, kind in zip(config["kinds"], kinds.KINDS.values(), strict=True):
        assert served == {
            "name": kind.name, "summary": kind.summary, "defaultImage": kind.image, "prefix": kind.prefix,
            "shape": kind.shape, "colour": {"light": kind.colour[0], "dark": kind.colour[1]},
            "size": {"width": kind.size[0], "height": kind.size[1]}, "bridge": kind.bridge,
            "forwards": kind.forwards, "deployable": kind.deployable, "deployRefusal": kind.deploy_refusal,
        }
    assert config["defaultKind"] == kinds.DEFAULT
    assert "defaultImages" not in config  # each kind carries its own


def test_it_draws_the_palette_from_the_registry_by_shape(client, topology):
    buttons = palette(editor_page(client, topology))
    assert [b["kind"] for b in buttons] == list(kinds.KINDS)
    for button, kind in zip(buttons, kinds.KINDS.values(), strict=True):
        assert button["icon"] == ["kind-icon", f"shape-{kind.shape}"]
        assert button["label"] == kind.name
        assert kind.summary in button["title"]


def test_it_serves_the_relays_console_numbers_to_the_editor_and_the_pop_out(client, topology):
    expected = {"keepSeconds": relay.KEEP_DETACHED, "ackEvery": relay.ACK_EVERY, "window": relay.WINDOW}
    assert script(editor_page(client, topology), "editor-config")["console"] == expected
    for view in ("console", "logs"):
        page = client.get(f"/topologies/{topology.pk}/nodes/c1/{view}/").content.decode()
        assert script(page, "console-config") == expected


@pytest.fixture
def gateway(monkeypatch) -> Kind:
    """A kind added to the registry, and nothing else changed."""
    kind = Kind("gateway", "a made-up kind for this test: forwards, & says so", image="topolab/base", prefix="gw",
                shape="octagon", colour=("#123456", "#654321"), forwards=True, size=(44, 30),
                deploy_refusal="not in this engine")
    monkeypatch.setattr(kinds, "KINDS", {**kinds.KINDS, kind.name: kind})
    return kind


def test_a_kind_added_to_the_registry_reaches_the_config_and_the_palette(client, topology, gateway):
    html = editor_page(client, topology)
    config = script(html, "editor-config")
    assert [k["name"] for k in config["kinds"]] == [*kinds.KINDS]
    assert config["kinds"][-1] == {
        "name": "gateway", "summary": gateway.summary, "defaultImage": "topolab/base", "prefix": "gw",
        "shape": "octagon", "colour": {"light": "#123456", "dark": "#654321"}, "size": {"width": 44, "height": 30},
        "bridge": None, "forwards": True, "deployable": False, "deployRefusal": "not in this engine",
    }
    last = palette(html)[-1]
    assert last["kind"] == "gateway" and last["label"] == "gateway"
    assert last["icon"] == ["kind-icon", "shape-octagon"]
    assert gateway.summary in last["title"]  # escaped in the page, the same words once parsed
