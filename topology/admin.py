"""Django admin: topologies and labs, read mostly (labs change through the worker); courses and their members;
assignments and their check runs (read-only); the limits: the site's defaults and per-user or per-course overrides."""
from django.contrib import admin
from django.shortcuts import redirect
from django.urls import reverse

from . import quotas
from .models import (
    ApiToken,
    Assignment,
    CheckRun,
    Course,
    CourseLimits,
    CourseMember,
    Lab,
    LabEvent,
    LabNode,
    SiteLimits,
    Topology,
    UserFlags,
    UserLimits,
)


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


class CourseMemberInline(admin.TabularInline):
    model = CourseMember
    extra = 0
    autocomplete_fields = ("user",)
    readonly_fields = ("joined",)


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    """Courses with their members (instructors and students) inline; the join code is regenerable in the API."""

    list_display = ("name", "slug", "created_by", "created")
    search_fields = ("name", "slug", "created_by__username")
    list_filter = ("created",)
    readonly_fields = ("created",)
    prepopulated_fields = {"slug": ("name",)}
    inlines = [CourseMemberInline]


@admin.register(CourseMember)
class CourseMemberAdmin(admin.ModelAdmin):
    """Who is in which course, in which role."""

    list_display = ("course", "user", "role", "joined")
    list_filter = ("role", "course")
    search_fields = ("course__name", "user__username", "user__email")
    autocomplete_fields = ("user", "course")


@admin.register(UserFlags)
class UserFlagsAdmin(admin.ModelAdmin):
    """Per-user flags: ``must_change_password`` sends the user to the password-change page."""

    list_display = ("user", "must_change_password")
    list_filter = ("must_change_password",)
    search_fields = ("user__username",)
    autocomplete_fields = ("user",)


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    """A course's assignments: template, instructions, checks, due date and publication."""

    list_display = ("course", "title", "published", "due")
    list_filter = ("course",)
    search_fields = ("title", "course__name")
    autocomplete_fields = ("course",)
    readonly_fields = ("created", "updated")


@admin.register(CheckRun)
class CheckRunAdmin(admin.ModelAdmin):
    """Every run of an assignment's checks, as it was recorded: read-only (the worker writes them)."""

    list_display = ("started", "assignment", "user", "state", "score", "max_score", "late", "trial")
    list_filter = ("state", "late", "trial")
    search_fields = ("user__username", "assignment__title")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SiteLimits)
class SiteLimitsAdmin(admin.ModelAdmin):
    """The site's one row of default limits: edited, never added (it exists once) or deleted.

    Its list goes straight to the row (made with the settings' node resources the first time, see
    :func:`topology.quotas.site_limits`).
    """

    fieldsets = (
        ("Per user (defaults; a user's limits override them)",
         {"fields": ("max_running_labs", "max_running_nodes", "max_nodes_per_topology", "max_topologies")}),
        ("Per course (default; a course's limits override it)", {"fields": ("course_max_running_nodes",)}),
        ("Per node: what a node that asks for nothing gets",
         {"fields": ("node_default_cpus", "node_default_memory_mb", "node_default_pids")}),
        ("Per node: the most a node may ask for", {"fields": ("node_max_cpus", "node_max_memory_mb", "node_max_pids")}),
        ("The warm pool (started containers deploys take)", {"fields": ("pool_size", "pool_memory_mb", "pool_now")}),
    )
    readonly_fields = ("pool_now",)

    @admin.display(description="The pool now")
    def pool_now(self, obj) -> str:
        """What the lab worker says its pool holds (it publishes it after each round of upkeep)."""
        from . import pool_status

        try:
            found = pool_status.read()
        except Exception as exc:  # noqa: BLE001 - Redis down: say so in the page
            return f"unknown (Redis cannot be reached: {exc})"
        if not found:
            return "no lab worker has said so lately (is it running?)"
        pools = ", ".join(f"{p['image']}: {p['members']}" for p in found["pools"]) or "no pool image"
        return f"{pools}; {found['used_mb']} MB used of {found['memory_mb']} MB"

    def has_add_permission(self, request):
        return not SiteLimits.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        row = quotas.site_limits()
        return redirect(reverse("admin:topology_sitelimits_change", args=[row.pk]))


@admin.register(UserLimits)
class UserLimitsAdmin(admin.ModelAdmin):
    """One user's overrides of the site's per-user limits (an empty field keeps the site's default)."""

    list_display = ("user", "max_running_labs", "max_running_nodes", "max_nodes_per_topology", "max_topologies")
    search_fields = ("user__username",)
    autocomplete_fields = ("user",)


@admin.register(CourseLimits)
class CourseLimitsAdmin(admin.ModelAdmin):
    """One course's override of the site's per-course limit (empty: the site's default)."""

    list_display = ("course", "max_running_nodes")
    search_fields = ("course__name",)
    autocomplete_fields = ("course",)
