"""A lab as if deployed, for the unit tests (no worker, no containers): the rows a deploy leaves behind."""
from __future__ import annotations

from topology.models import Lab, LabNode, LabState, NodeStatus, Topology


def make_running(topology: Topology) -> Lab:
    """The topology's lab as if deployed: running (operation "op1"), each node of the reference lab
    (c1, r1, c2) running with a container."""
    lab = topology.lab
    Lab.objects.filter(pk=lab.pk).update(state=LabState.RUNNING, operation="op1")
    for i, node in enumerate(("c1", "r1", "c2")):
        LabNode.objects.create(lab=lab, name=node, state=NodeStatus.RUNNING, container_id=f"{i:064x}")
    lab.refresh_from_db()
    return lab
