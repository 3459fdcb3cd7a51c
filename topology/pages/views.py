"""The HTML pages: server-rendered shells whose data comes from the REST API.

Each view only checks who may see the page; the ES modules under
``static/topolab/`` fetch and change everything through ``/api/v1/``. What
the browser must know before its first request (the node kinds, the
server's patterns and limits, the console's pacing) comes in the page's
config, rendered with ``json_script``, so that no module re-declares it.
"""
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import ensure_csrf_cookie

from .. import courses, kinds, relay
from ..limits import node_resources
from ..models import Topology
from ..schema import messages as schema_messages
from ..schema import models as schema_models
from .modules import module_graph


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
    """The signed-in user's topologies (rows are filled and kept live by list.js).

    A name's rule comes in the page's config, the server's pattern and its words, so that the create and
    rename dialogs check and explain it as the server will (``name_rule``).
    """
    return render(request, "topology/list.html", {"config": {"documentName": name_rule()}})


def name_rule() -> dict:
    """A topology's name as the server checks it: the schema's pattern, and the sentence its errors say."""
    pattern = schema_models.DOCUMENT_NAME_RE
    return {"pattern": pattern, "rule": schema_messages.PATTERN_HINTS[pattern]}


@login_required
@ensure_csrf_cookie
def editor(request, pk: int):
    """The editor of one topology; 404 when it is not the user's (existence is not revealed).

    A supervisor of an assignment copy (:func:`topology.courses.supervises`: an instructor of its course)
    gets the same page read-only (``readonly`` in the config, with the owner's name): the canvas and the
    panels cannot change anything, and the API answers them only the reads.
    """
    topology = get_object_or_404(Topology.objects.select_related("owner"), pk=pk)
    readonly = topology.owner_id != request.user.pk
    if readonly and not courses.supervises(request.user, topology):
        raise Http404("no such topology")
    registry = kinds_config()
    config = {
        "id": topology.pk,
        "readonly": readonly,
        "owner": topology.owner.get_username() if readonly else "",
        # The copy's assignment, for the instructions panel (None: no panel, and no request for one).
        "assignment": topology.assignment_id,
        "kinds": registry,
        "defaultKind": kinds.DEFAULT,
        # The server's own patterns, so that fields are checked as you type by the same rules.
        "patterns": {
            "documentName": schema_models.DOCUMENT_NAME_RE, "nodeName": schema_models.NODE_NAME_RE,
            "interface": schema_models.INTERFACE_RE, "mac": schema_models.MAC_RE, "envKey": schema_models.ENV_KEY_RE,
            "sysctl": schema_models.SYSCTL_RE, "mode": schema_models.MODE_RE, "image": schema_models.IMAGE_RE,
        },
        # And the words their errors say (the document's name in the panel: the same sentence as the server's).
        "rules": {"documentName": name_rule()["rule"]},
        "limits": {"maxResources": node_resources()["max"]},
        "console": console_config(),
    }
    # The libraries first: the biggest files, wanted by the first modules to run.
    modules = sorted(module_graph("topolab/editor.js"), key=lambda m: not m.startswith("vendor/"))
    if topology.assignment_id is not None:  # imported on demand by editor.js, wanted at once here
        modules += [m for m in module_graph("topolab/instructions-panel.js") if m not in modules]
    return render(request, "topology/editor.html",
                  {"topology": topology, "kinds": registry, "config": config, "modules": modules, "readonly": readonly})


@login_required
def terminal(request, pk: int, name: str, kind: str):
    """One node's console or logs filling a window of its own (the dock's pop-out); the owner's, as the editor.

    A supervisor (:func:`topology.courses.supervises`) gets the logs, and the console only as
    ``?mode=watch`` (look) or ``?mode=control`` (take over); a console address without a mode sends them
    to watch. The owner has no such modes (404, as for anybody else). Whether the node runs is the
    websocket's business: it says so in the terminal. The console's pacing travels in a script of its
    own (``console-config``), beside the page's ``terminal-config``.
    """
    topology = get_object_or_404(Topology.objects.select_related("owner"), pk=pk)
    mode = request.GET.get("mode", "") if kind == "console" else ""
    own = topology.owner_id == request.user.pk
    if not own and not courses.supervises(request.user, topology):
        raise Http404("no such topology")
    if kind == "console" and not own and not mode:
        return redirect(f"{request.path}?mode=watch")
    if mode and (own or mode not in relay.WATCH_MODES):
        raise Http404("no such console")
    config = {"topology": topology.pk, "topologyName": topology.name, "node": name, "kind": kind}
    student = ""
    if mode:
        student = topology.owner.get_full_name().strip() or topology.owner.get_username()
        config.update(mode=mode, student=student)
    return render(request, "topology/terminal.html", {"topology": topology, "node": name, "kind": kind, "mode": mode,
                                                      "student": student, "config": config,
                                                      "console": console_config()})
