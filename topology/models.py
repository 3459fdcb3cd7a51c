"""What Topolab stores: topologies (intent) and labs (what was observed).

The topology document is kept exactly as its author wrote it; the lab rows are
written by the root worker as it builds and tears down.
"""
from __future__ import annotations

from django.conf import settings
from django.db import models


class LabState(models.TextChoices):
    """Where a lab is in its life: stopped -> deploying -> running | failed -> destroying -> stopped."""

    STOPPED = "stopped"
    DEPLOYING = "deploying"
    RUNNING = "running"
    FAILED = "failed"
    DESTROYING = "destroying"


BUSY_STATES = (LabState.DEPLOYING, LabState.DESTROYING)


class NodeStatus(models.TextChoices):
    """The state of one node of a lab."""

    PENDING = "pending"
    CREATING = "creating"
    RUNNING = "running"
    FAILED = "failed"
    STOPPED = "stopped"


class Topology(models.Model):
    """A user's ``topolab/v1`` document, unique by name per owner."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="topologies")
    name = models.CharField(max_length=40)
    document = models.JSONField()
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="unique_topology_name_per_owner")]
        ordering = ["owner_id", "name"]
        verbose_name_plural = "topologies"

    def __str__(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def node_count(self) -> int:
        return len(self.document.get("nodes", []))

    @property
    def link_count(self) -> int:
        return len(self.document.get("links", []))


class Lab(models.Model):
    """The running (or not) instance of a topology on one host.

    Its primary key names every container and interface the engine makes for
    it (``topolab.lab`` label), so it never changes while anything runs.
    """

    topology = models.OneToOneField(Topology, on_delete=models.CASCADE, related_name="lab")
    state = models.CharField(max_length=16, choices=LabState.choices, default=LabState.STOPPED)
    reason = models.TextField(blank=True, help_text="Why the last operation failed, in the user's words.")
    queue = models.CharField(max_length=200, help_text="The Celery queue of the host this lab lives on.")
    operation = models.CharField(max_length=64, blank=True, help_text="ID of the current or last operation.")
    state_changed = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"lab {self.pk} of {self.topology}"


class LabNode(models.Model):
    """What the worker observed of one node: its state, container and interfaces."""

    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="nodes")
    name = models.CharField(max_length=31)
    state = models.CharField(max_length=16, choices=NodeStatus.choices, default=NodeStatus.PENDING)
    container_id = models.CharField(max_length=64, blank=True)
    interfaces = models.JSONField(default=list, help_text="[{name, addresses, mac, mtu, state}] as deployed.")
    reason = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lab", "name"], name="unique_node_per_lab")]
        ordering = ["lab_id", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"


class LabEvent(models.Model):
    """One step of an operation as it happened, kept with the lab."""

    class Status(models.TextChoices):
        STARTED = "started"
        OK = "ok"
        FAILED = "failed"
        INFO = "info"

    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="events")
    operation = models.CharField(max_length=64, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    step = models.CharField(max_length=200)
    node = models.CharField(max_length=31, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    message = models.TextField(blank=True)
    elapsed_ms = models.PositiveIntegerField(null=True, blank=True)
    index = models.PositiveIntegerField(null=True, blank=True, help_text="Step number within the operation.")
    total = models.PositiveIntegerField(null=True, blank=True, help_text="Steps in the operation.")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.step}: {self.status}"
