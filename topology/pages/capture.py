"""The capture page: one capture of a running lab's interface, live (``/topologies/<id>/capture/``).

``?target=node:interface`` offers to start one there (with a capture filter); ``?capture=<id>`` follows one
already running (the page puts it in its address once started, so a reload, or a colleague given the address,
joins the same capture). The owner's and a supervisor's (:func:`topology.courses.supervises`), as the editor.
"""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.views.decorators.csrf import ensure_csrf_cookie

from .. import courses
from ..capture import parse_target
from ..models import Topology


@login_required
@ensure_csrf_cookie
def capture(request, pk: int):
    """The live table, display filter, row detail, Stop and Download of one capture."""
    topology = get_object_or_404(Topology.objects.select_related("owner"), pk=pk)
    if topology.owner_id != request.user.pk and not courses.supervises(request.user, topology):
        raise Http404("no such topology")
    target = request.GET.get("target", "")
    config = {"topology": topology.pk, "topologyName": topology.name,
              "target": target if parse_target(target) else "", "capture": request.GET.get("capture", "")[:16]}
    return render(request, "topology/capture.html", {"topology": topology, "config": config})
