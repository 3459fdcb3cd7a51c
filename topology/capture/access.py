"""The service's own check of a capture request against the database (root side): the user may capture this
topology's lab (its owner, or a supervisor of the copy: the rule of :func:`topology.courses.supervises`, read
here from the models because the root side imports nothing of the web tier), the lab runs, the node runs with
a container, and the interface is one of the node's link ends in the document the lab runs."""
from __future__ import annotations

from django.contrib.auth import get_user_model

from ..models import LIVE_STATES, CourseMember, LabNode, NodeStatus, Topology


class Refused(Exception):
    """A request the service does not run: ``status`` is the HTTP answer, ``path`` the request's key at fault."""

    def __init__(self, status: int, message: str, path: str = ""):
        super().__init__(message)
        self.status, self.message, self.path = status, message, path


def may_capture(user, topology: Topology) -> bool:
    """The topology's owner, or a supervisor of its copy (as :func:`topology.courses.supervises` says)."""
    if user is None or not user.is_active:
        return False
    if topology.owner_id == user.pk:
        return True
    if topology.assignment_id is None:
        return False
    if not CourseMember.objects.filter(course__assignments=topology.assignment_id, user_id=topology.owner_id).exists():
        return False
    return user.is_superuser or CourseMember.objects.filter(
        course__assignments=topology.assignment_id, user=user, role=CourseMember.Role.INSTRUCTOR).exists()


def interfaces(document: dict | None, node: str) -> list[str]:
    """The interfaces ``node`` has in a topolab/v1 document: its link ends."""
    found = []
    for link in (document or {}).get("links") or []:
        for end in link.get("endpoints") or []:
            if isinstance(end, dict) and end.get("node") == node and isinstance(end.get("interface"), str):
                found.append(end["interface"])
    return found


def resolve(user_id, topology_id, node: str, interface: str) -> dict:
    """What a capture of ``node:interface`` in that topology's lab needs (lab, node, container), for that user;
    :class:`Refused` otherwise (404 for a topology the user may not see, as the web tier says)."""
    user = get_user_model().objects.filter(pk=user_id).first()
    topology = Topology.objects.select_related("lab").filter(pk=topology_id).first() if isinstance(topology_id, int) \
        else None
    if topology is None or not may_capture(user, topology):
        raise Refused(404, "no such topology")
    lab = getattr(topology, "lab", None)
    if lab is None or lab.state not in LIVE_STATES:
        raise Refused(409, f"the lab is {lab.state if lab else 'stopped'}, not running")
    row = LabNode.objects.filter(lab=lab, name=node).values_list("state", "container_id").first()
    if row is None:
        raise Refused(400, f"the lab has no node '{node}'", "target")
    state, container = row
    if state != NodeStatus.RUNNING or not container:
        raise Refused(409, f"node '{node}' is {state}, not running", "target")
    known = interfaces(lab.running_document or topology.document, node)
    if interface not in known:
        listed = ", ".join(known) or "none"
        raise Refused(400, f"node '{node}' has no interface '{interface}' (it has: {listed})", "target")
    return {"lab": lab.pk, "queue": lab.queue, "owner": topology.owner_id, "container": container}


def resolve_user(user_id, topology_id) -> str:
    """The name of that user when they may capture (and so stop captures of) that topology, or ""."""
    user = get_user_model().objects.filter(pk=user_id).first()
    topology = Topology.objects.filter(pk=topology_id).first() if isinstance(topology_id, int) else None
    if user is None or topology is None or not may_capture(user, topology):
        return ""
    return user.get_full_name().strip() or user.get_username()
