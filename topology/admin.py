"""Django admin: topologies and labs, read mostly (labs change through the worker); courses and their members;
assignments and their check runs (read-only); the limits: the site's defaults and per-user or per-course overrides;
the lab hosts (capacity, load, heartbeat; drain, undrain; pins) and forgetting a lab of a dead host."""
from django.contrib import admin, messages
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

from . import hostctl, hosts, quotas
from .errors import ServiceError
from .models import (
    BUSY_STATES,
    LIVE_STATES,
    ApiToken,
    Assignment,
    CheckRun,
    Course,
    CourseLimits,
    CourseMember,
    HostPin,
    Lab,
    LabEvent,
    LabHost,
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

    list_display = ("id", "topology", "state", "queue", "host_status", "state_changed")
    list_filter = ("state", "queue")
    readonly_fields = ("topology", "state", "reason", "queue", "operation", "state_changed")
    inlines = [LabNodeInline]
    actions = ["forget"]

    @admin.display(description="its host")
    def host_status(self, obj) -> str:
        return "unreachable" if hosts.unreachable(obj) else ""

    @admin.action(description="Forget the selected labs of unreachable hosts (stopped at once; the host cleans up "
                              "when it is back)")
    def forget(self, request, queryset):
        for lab in queryset:
            try:
                hostctl.forget(lab, f"the administrator {request.user.get_username()}")
            except ServiceError as exc:
                self.message_user(request, f"lab {lab.pk}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"lab {lab.pk} forgotten: it is stopped", messages.SUCCESS)


class HostPinInline(admin.TabularInline):
    """The users and courses pinned to a host, on its page."""

    model = HostPin
    extra = 0
    autocomplete_fields = ("user", "course")
    readonly_fields = ("created",)


@admin.register(LabHost)
class LabHostAdmin(admin.ModelAdmin):
    """The lab hosts: what each registered (capacity, images), its heartbeat and load, its labs; drain or
    undrain; its caps and pins are editable. A host registers itself (its lab worker), so none is added here."""

    list_display = ("name", "queue", "alive", "drained", "cores", "memory_mb", "load", "memory_in_use", "labs",
                    "nodes", "last_heartbeat", "image_list")
    list_filter = ("drained",)
    search_fields = ("name", "queue")
    readonly_fields = ("queue", "cores", "memory_mb", "images", "registered", "last_seen", "alive", "load",
                       "memory_in_use", "labs", "nodes")
    fields = ("name", "queue", "drained", "max_nodes", "max_memory_mb", "alive", "load", "memory_in_use", "labs",
              "nodes", "cores", "memory_mb", "images", "registered", "last_seen")
    inlines = [HostPinInline]
    actions = ["drain", "undrain"]

    def get_queryset(self, request):
        # Each row's labs are counted in the list's one query (a lab names its host by queue), not a query per row.
        labs = Lab.objects.filter(queue=OuterRef("queue"), state__in=(*LIVE_STATES, *BUSY_STATES))
        return super().get_queryset(request).annotate(
            held_labs=Coalesce(Subquery(labs.order_by().values("queue").annotate(n=Count("pk")).values("n")), 0))

    @staticmethod
    def _load(obj) -> dict:
        """The host's last load, read once per row and request (kept on the row's instance, which is the
        request's own: an admin instance serves every request at once, so nothing is kept on it)."""
        if not hasattr(obj, "_load_read"):
            try:
                obj._load_read = hosts.load(obj.queue) or {}
            except Exception:  # noqa: BLE001 - Redis down: the page still shows the rows
                obj._load_read = {}
        return obj._load_read

    @admin.display(boolean=True, description="alive")
    def alive(self, obj) -> bool:
        try:
            return bool(hosts.alive_queues([obj.queue]))
        except Exception:  # noqa: BLE001 - Redis down: not known to be alive
            return False

    @admin.display(description="load (1, 5, 15 min)")
    def load(self, obj) -> str:
        found = self._load(obj).get("load")
        return " ".join(f"{v:.2f}" for v in found) if found else "-"

    @admin.display(description="memory in use")
    def memory_in_use(self, obj) -> str:
        found = self._load(obj)
        return f"{found['memory_used_mb']} of {found['memory_mb']} MB" if "memory_used_mb" in found else "-"

    @admin.display(description="labs")
    def labs(self, obj) -> int:
        """Its labs deploying, running, degraded or destroying (from the database: a dead host's too)."""
        return obj.held_labs

    @admin.display(description="nodes")
    def nodes(self, obj) -> str:
        found = self._load(obj)
        return str(found["nodes"]) if "nodes" in found else "-"

    @admin.display(description="last heartbeat")
    def last_heartbeat(self, obj) -> str:
        at = self._load(obj).get("at")
        if at is not None:
            return f"{max(0, timezone.now().timestamp() - at):.0f} s ago"
        return f"none lately (last seen {timezone.localtime(obj.last_seen):%Y-%m-%d %H:%M:%S})" if obj.last_seen \
            else "never"

    @admin.display(description="images")
    def image_list(self, obj) -> str:
        return ", ".join(obj.images or ()) or "none"

    @admin.action(description="Drain the selected hosts (no new labs; running labs stay)")
    def drain(self, request, queryset):
        for host in queryset:
            hostctl.set_drained(host, True)
        self.message_user(request, f"drained: {', '.join(h.name for h in queryset)}", messages.SUCCESS)

    @admin.action(description="Undrain the selected hosts (they take new labs again)")
    def undrain(self, request, queryset):
        for host in queryset:
            hostctl.set_drained(host, False)
        self.message_user(request, f"undrained: {', '.join(h.name for h in queryset)}", messages.SUCCESS)

    def has_add_permission(self, request):
        return False


@admin.register(HostPin)
class HostPinAdmin(admin.ModelAdmin):
    """Pins: a user's or a course's labs go to one host (or are refused, saying why), never elsewhere."""

    list_display = ("lab_host", "user", "course", "created")
    list_filter = ("lab_host",)
    search_fields = ("user__username", "course__name", "lab_host__name")
    autocomplete_fields = ("user", "course")


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
