"""Django admin: topologies and labs, read mostly (labs change through the worker)."""
from django.contrib import admin

from .models import ApiToken, Lab, LabEvent, LabNode, Topology


@admin.register(Topology)
class TopologyAdmin(admin.ModelAdmin):
    """Topologies with their owner and size."""

    list_display = ("name", "owner", "node_count", "link_count", "updated")
    list_filter = ("owner",)
    search_fields = ("name", "owner__username")


class LabNodeInline(admin.TabularInline):
    model = LabNode
    extra = 0
    readonly_fields = ("name", "state", "container_id", "interfaces", "reason")
    can_delete = False


@admin.register(Lab)
class LabAdmin(admin.ModelAdmin):
    """Labs with their state; the worker writes them, so everything is read-only."""

    list_display = ("id", "topology", "state", "queue", "state_changed")
    list_filter = ("state", "queue")
    readonly_fields = ("topology", "state", "reason", "queue", "operation", "state_changed")
    inlines = [LabNodeInline]


@admin.register(LabEvent)
class LabEventAdmin(admin.ModelAdmin):
    """Every step of every operation."""

    list_display = ("created", "lab", "step", "node", "status", "elapsed_ms")
    list_filter = ("status",)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """API tokens: an administrator can see and revoke them, never read a secret (only hashes are kept)."""

    list_display = ("name", "user", "prefix", "created", "last_used", "revoked")
    list_filter = ("revoked",)
    search_fields = ("name", "user__username", "prefix")
    readonly_fields = ("user", "name", "prefix", "key_hash", "created", "last_used")
