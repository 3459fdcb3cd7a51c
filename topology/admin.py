"""Django admin: topologies and labs, read mostly (labs change through the worker); courses and their members."""
from django.contrib import admin

from .models import ApiToken, Course, CourseMember, Lab, LabEvent, LabNode, Topology, UserFlags


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
