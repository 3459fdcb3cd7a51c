"""The HTML pages: server-rendered shells whose data comes from the REST API.

Each view only checks who may see the page; the ES modules under
``static/topolab/`` fetch and change everything through ``/api/v1/``. What
the browser must know before its first request (the node kinds, the
server's patterns and limits, the console's pacing) comes in the page's
config, rendered with ``json_script``, so that no module re-declares it.
"""
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render
from django.views.decorators.csrf import ensure_csrf_cookie

from .. import kinds, relay
from ..models import Topology
from ..schema import models as schema_models


def kind_config(kind: kinds.Kind) -> dict:
    """One kind as the editor reads it (canvas style, palette, names, "Assign addresses", Deploy)."""
    light, dark = kind.colour
    width, height = kind.size
    return {
        "name": kind.name, "summary": kind.summary, "defaultImage": kind.image, "prefix": kind.prefix,
        "shape": kind.shape, "colour": {"light": light, "dark": dark}, "size": {"width": width, "height": height},
        "bridge": kind.bridge, "forwards": kind.forwards,
        "deployable": kind.deployable, "deployRefusal": kind.deploy_refusal,
    }


def kinds_config() -> list[dict]:
    """Every kind of the registry, in its order (read at each request: the registry is the only list)."""
    return [kind_config(kind) for kind in kinds.KINDS.values()]


def console_config() -> dict:
    """The relay's pacing, so that a terminal acknowledges and waits by the same numbers as the server."""
    return {"keepSeconds": relay.KEEP_DETACHED, "ackEvery": relay.ACK_EVERY, "window": relay.WINDOW}


@login_required
@ensure_csrf_cookie
def topology_list(request):
    """The signed-in user's topologies (rows are filled and kept live by list.js)."""
    return render(request, "topology/list.html")


@login_required
@ensure_csrf_cookie
def editor(request, pk: int):
    """The editor of one topology; 404 when it is not the user's (existence is not revealed)."""
    topology = get_object_or_404(Topology, pk=pk, owner=request.user)
    registry = kinds_config()
    config = {
        "id": topology.pk,
        "kinds": registry,
        "defaultKind": kinds.DEFAULT,
        # The server's own patterns, so that fields are checked as you type by the same rules.
        "patterns": {
            "documentName": schema_models.DOCUMENT_NAME_RE, "nodeName": schema_models.NODE_NAME_RE,
            "interface": schema_models.INTERFACE_RE, "mac": schema_models.MAC_RE, "envKey": schema_models.ENV_KEY_RE,
            "sysctl": schema_models.SYSCTL_RE, "mode": schema_models.MODE_RE, "image": schema_models.IMAGE_RE,
        },
        "limits": {"maxResources": settings.TOPOLAB_MAX_RESOURCES},
        "console": console_config(),
    }
    modules = [f"topolab/{name}.js" for name in
               ("editor", "api", "dom", "document-model", "canvas", "panel", "live", "problems", "dock")]
    return render(request, "topology/editor.html",
                  {"topology": topology, "kinds": registry, "config": config, "modules": modules})


@login_required
def terminal(request, pk: int, name: str, kind: str):
    """One node's console or logs filling a window of its own (the dock's pop-out); owner only, as the editor.

    Whether the node runs is the websocket's business: it says so in the terminal. The console's
    pacing travels in a script of its own (``console-config``), beside the page's ``terminal-config``.
    """
    topology = get_object_or_404(Topology, pk=pk, owner=request.user)
    config = {"topology": topology.pk, "topologyName": topology.name, "node": name, "kind": kind}
    return render(request, "topology/terminal.html", {"topology": topology, "node": name, "kind": kind,
                                                      "config": config, "console": console_config()})
