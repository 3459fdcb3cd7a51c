"""What Topolab stores: topologies (intent) and labs (what was observed).

The topology document is kept exactly as its author wrote it; the lab rows
(state, nodes, events) are written only by :mod:`topology.labstate`.
"""
from __future__ import annotations

from django.conf import settings
from django.db import models

from .engine.states import NodeState


class LabState(models.TextChoices):
    """Where a lab is in its life: stopped -> deploying -> running | failed -> destroying -> stopped.

    A running lab one of whose nodes exited or vanished behind the engine's
    back is ``degraded`` (the rest still runs; destroy cleans it up).
    """

    STOPPED = "stopped"
    DEPLOYING = "deploying"
    RUNNING = "running"
    FAILED = "failed"
    DESTROYING = "destroying"
    DEGRADED = "degraded"


BUSY_STATES = (LabState.DEPLOYING, LabState.DESTROYING)
# A lab with containers to use: consoles, commands in nodes and destroy work on its running nodes.
LIVE_STATES = (LabState.RUNNING, LabState.DEGRADED)


class NodeStatus(models.TextChoices):
    """The state of one node of a lab: the engine's :class:`~topology.engine.states.NodeState`, as stored."""

    PENDING = NodeState.PENDING.value
    CREATING = NodeState.CREATING.value
    RUNNING = NodeState.RUNNING.value
    FAILED = NodeState.FAILED.value
    STOPPED = NodeState.STOPPED.value
    EXITED = NodeState.EXITED.value
    GONE = NodeState.GONE.value


class Topology(models.Model):
    """A user's ``topolab/v1`` document, unique by name per owner."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="topologies")
    name = models.CharField(max_length=40)
    # A copy of an assignment's template ("Start"): the topology then belongs to that assignment's course.
    # One copy per user and assignment; deleting the assignment keeps the copies, detached.
    assignment = models.ForeignKey("Assignment", on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="copies")
    document = models.JSONField()
    # The document's warnings, found when it was saved: a read never re-validates (a large document costs).
    # None for a topology saved before they were kept: the first read finds and keeps them.
    warnings = models.JSONField(null=True, blank=True, default=None,
                                help_text="[{path, message}] the document's warnings when it was saved.")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="unique_topology_name_per_owner"),
            models.UniqueConstraint(fields=["owner", "assignment"], condition=models.Q(assignment__isnull=False),
                                    name="one_copy_per_assignment_and_user"),
        ]
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
    running_document = models.JSONField(
        null=True, blank=True,
        help_text="The document the running lab was built from, with the changes applied to it live since (null "
                  "while nothing runs). The topology's document may have moved on: Apply changes compares the two.")
    applying_document = models.JSONField(
        null=True, blank=True,
        help_text="The document an Apply changes in progress makes the lab run (null when none runs).")

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


class ApiToken(models.Model):
    """A user's key for the REST API (``Authorization: Bearer tl_...``); only its SHA-256 is stored.

    The secret is shown once, when it is made; ``prefix`` (its first characters)
    lets the user tell tokens apart afterwards. A revoked token stays listed
    but authenticates nobody.
    """

    PREFIX_LENGTH = 8

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=PREFIX_LENGTH, help_text="The secret's first characters, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 (hex) of the secret.")
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)
    revoked = models.DateTimeField(null=True, blank=True, help_text="When it was revoked; empty while valid.")

    class Meta:
        ordering = ["user_id", "-created", "-id"]

    def __str__(self) -> str:
        return f"{self.user} / {self.name} ({self.prefix}...)"

    @staticmethod
    def hash(secret: str) -> str:
        """The stored form of a secret."""
        import hashlib

        return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()

    @classmethod
    def issue(cls, user, name: str) -> tuple["ApiToken", str]:
        """Make a token for ``user``: (the row, the secret to show once)."""
        import secrets

        secret = "tl_" + secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, name=name, prefix=secret[:cls.PREFIX_LENGTH], key_hash=cls.hash(secret))
        return token, secret

    @classmethod
    def user_for(cls, secret: str):
        """The active user a valid, unrevoked secret belongs to (noting its use), else None."""
        from datetime import timedelta

        from django.utils import timezone

        if not secret or not secret.startswith("tl_") or len(secret) > 200:
            return None
        token = cls.objects.select_related("user").filter(key_hash=cls.hash(secret), revoked__isnull=True).first()
        if token is None or not token.user.is_active:
            return None
        now = timezone.now()
        if token.last_used is None or now - token.last_used > timedelta(seconds=60):
            # At most one write a minute per token: a script polling a lab is not a write storm.
            cls.objects.filter(pk=token.pk).update(last_used=now)
        return token.user


class Course(models.Model):
    """A class of students and its instructors (:class:`CourseMember`); students join by enrolment or its code.

    ``join_code`` is random (see :func:`topology.courses.new_join_code`), unique, and regenerable by the
    course's instructors; a regenerated code makes the old one stop working at once.
    """

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=60, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    join_code = models.CharField(max_length=32, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="courses_created")

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class CourseMember(models.Model):
    """One user's place in one course: an instructor (sees the roster, enrols) or a student."""

    class Role(models.TextChoices):
        INSTRUCTOR = "instructor"
        STUDENT = "student"

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="course_memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.STUDENT)
    joined = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["course", "user"], name="unique_member_per_course")]
        ordering = ["course_id", "role", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.course} ({self.role})"


class UserFlags(models.Model):
    """Per-user flags kept beside Django's user: ``must_change_password`` (a one-time password was given)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True,
                                related_name="flags")
    must_change_password = models.BooleanField(
        default=False, help_text="Sent to the password-change page on every request until the password is changed.")

    class Meta:
        verbose_name_plural = "user flags"

    def __str__(self) -> str:
        return f"flags of {self.user}"


class Assignment(models.Model):
    """An exercise of a course: a template topology, Markdown instructions, checks and an optional due date.

    Students see it once it is ``published``; "Start" gives each one their own copy of ``template`` (a
    :class:`Topology` whose ``assignment`` is this one). ``checks`` is a list validated by
    :mod:`topology.checks` (node, argv, what must hold, points...). After ``due``, a student's grade is the
    ``grading`` ("best" or "last") result of the runs that finished before it; later runs are late.
    """

    class Grading(models.TextChoices):
        BEST = "best"
        LAST = "last"

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="assignments")
    title = models.CharField(max_length=100)
    instructions = models.TextField(blank=True, help_text="Markdown, rendered without raw HTML.")
    template = models.JSONField(help_text="The topolab/v1 document each student starts from.")
    checks = models.JSONField(default=list, blank=True, help_text="[{node, argv, expect, pattern, ...}]")
    due = models.DateTimeField(null=True, blank=True)
    grading = models.CharField(max_length=8, choices=Grading.choices, default=Grading.BEST)
    published = models.DateTimeField(null=True, blank=True, help_text="When students got it; empty: a draft.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="assignments_created")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["course", "title"], name="unique_assignment_title_per_course")]
        ordering = ["course_id", "created", "id"]

    def __str__(self) -> str:
        return f"{self.course} / {self.title}"


class CheckRun(models.Model):
    """One run of an assignment's checks on one user's copy, and what each check saw.

    ``results`` is ``[{index, description, node, points, passed, seen, exit_code, timed_out, error}]``
    (a hidden check's details are not shown to its student before the due date). A ``trial`` is an
    instructor's "try on my lab": never a grade. ``late``: it finished after the due date.
    """

    class State(models.TextChoices):
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"  # could not run at all (lab not running, no worker): ``reason`` says why

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="runs")
    topology = models.ForeignKey(Topology, on_delete=models.SET_NULL, null=True, blank=True, related_name="check_runs")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="check_runs",
                             help_text="Whose work was checked (the copy's owner).")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+")
    state = models.CharField(max_length=8, choices=State.choices, default=State.RUNNING)
    started = models.DateTimeField(auto_now_add=True)
    finished = models.DateTimeField(null=True, blank=True)
    score = models.PositiveIntegerField(default=0)
    max_score = models.PositiveIntegerField(default=0)
    late = models.BooleanField(default=False)
    trial = models.BooleanField(default=False)
    results = models.JSONField(default=list, blank=True)
    reason = models.TextField(blank=True)
    # A trial's own checks (the form's, unsaved), checked by the web tier and read back by the runner: the
    # task carries the run's ID only. Empty for a graded run, which runs its assignment's checks.
    checks = models.JSONField(default=list, blank=True, help_text="A trial's unsaved checks; [] for a graded run.")

    class Meta:
        ordering = ["-started", "-id"]
        indexes = [models.Index(fields=["assignment", "user", "-started"], name="checkrun_latest")]

    def __str__(self) -> str:
        return f"checks of {self.user} on {self.assignment}: {self.score}/{self.max_score} ({self.state})"


class SiteLimits(models.Model):
    """The site's default limits (one row, ``pk=1``; :meth:`current` makes it): per user, per course, per node.

    :class:`UserLimits` and :class:`CourseLimits` override them for one user or course.
    Read by :mod:`topology.quotas`; a node's resources also by :mod:`topology.limits`.
    """

    max_running_labs = models.PositiveIntegerField(default=3, help_text="Labs one user may have deploying or running.")
    max_running_nodes = models.PositiveIntegerField(default=60, help_text="Nodes of one user's labs, in all.")
    max_nodes_per_topology = models.PositiveIntegerField(default=100, help_text="Nodes a user's topology may deploy.")
    max_topologies = models.PositiveIntegerField(default=100, help_text="Topologies one user may keep.")
    course_max_running_nodes = models.PositiveIntegerField(
        default=1000, help_text="Nodes running in one course's labs (its assignments' copies), in all.")
    node_default_cpus = models.FloatField(default=1.0, help_text="CPUs of a node that asks for none.")
    node_default_memory_mb = models.PositiveIntegerField(default=256)
    node_default_pids = models.PositiveIntegerField(default=256)
    node_max_cpus = models.FloatField(default=2.0, help_text="The most CPUs a node may ask for.")
    node_max_memory_mb = models.PositiveIntegerField(default=2048)
    node_max_pids = models.PositiveIntegerField(default=4096)
    pool_size = models.PositiveIntegerField(
        default=20, help_text="Started, unconfigured containers the lab worker keeps ready per node image (the warm "
                              "pool: deploys take them instead of starting containers); 0 turns it off.")
    pool_memory_mb = models.PositiveIntegerField(
        default=256, help_text="The most host memory the warm pool's idle containers may use, in all (measured).")

    class Meta:
        verbose_name = verbose_name_plural = "site limits"

    def __str__(self) -> str:
        return "site limits"

    @classmethod
    def current(cls) -> "SiteLimits":
        """The one row, made the first time with a node's resources and the warm pool's budget from the settings
        (``TOPOLAB_DEFAULT_RESOURCES``, ``TOPOLAB_MAX_RESOURCES``, ``TOPOLAB_POOL_SIZE``,
        ``TOPOLAB_POOL_MEMORY_MB``); after that the admin sets them."""
        seed = {f"node_{which}_{key}": value
                for which, values in (("default", settings.TOPOLAB_DEFAULT_RESOURCES),
                                      ("max", settings.TOPOLAB_MAX_RESOURCES))
                for key, value in values.items()}
        seed.update(pool_size=settings.TOPOLAB_POOL_SIZE, pool_memory_mb=settings.TOPOLAB_POOL_MEMORY_MB)
        row, _ = cls.objects.get_or_create(pk=1, defaults=seed)
        return row


class UserLimits(models.Model):
    """One user's overrides of the site's per-user limits; an empty field means the site's default."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True,
                                related_name="limits")
    max_running_labs = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: the site's default.")
    max_running_nodes = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: the site's default.")
    max_nodes_per_topology = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: the site's default.")
    max_topologies = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: the site's default.")

    class Meta:
        verbose_name = verbose_name_plural = "user limits"

    def __str__(self) -> str:
        return f"limits of {self.user}"


class CourseLimits(models.Model):
    """One course's override of the site's per-course limit; empty means the site's default."""

    course = models.OneToOneField(Course, on_delete=models.CASCADE, primary_key=True, related_name="limits")
    max_running_nodes = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: the site's default.")

    class Meta:
        verbose_name = verbose_name_plural = "course limits"

    def __str__(self) -> str:
        return f"limits of {self.course}"


class LabHost(models.Model):
    """A lab host: the machine of one lab worker (and its relay, exec worker and capture service).

    Its ``queue`` (the lab worker's Celery queue, a lab's ``Lab.queue``) is its identity. The worker writes the
    row when it starts and keeps it current (:mod:`topology.host_agent`: capacity, images, ``last_seen``); the
    fast-changing load and the heartbeat are in Redis (:mod:`topology.hosts`). The admin sets the rest: a
    drained host takes no new labs (its running labs stay); ``max_nodes`` and ``max_memory_mb`` cap what
    placement (:mod:`topology.placement`) puts on it.
    """

    queue = models.CharField(max_length=200, unique=True, help_text="The Celery queue of the host's lab worker.")
    name = models.CharField(max_length=100, help_text="A readable name (the worker's host name, unless changed).")
    cores = models.PositiveIntegerField(default=0, help_text="CPU cores, as the worker found them.")
    memory_mb = models.PositiveIntegerField(default=0, help_text="Memory, as the worker found it (MB).")
    images = models.JSONField(default=list, blank=True,
                              help_text="The Topolab node images the host has (references, e.g. topolab/base:latest).")
    drained = models.BooleanField(default=False, help_text="Takes no new labs; its running labs stay until destroyed.")
    max_nodes = models.PositiveIntegerField(
        null=True, blank=True, help_text="The most nodes its labs may hold at once; empty: no cap but memory.")
    max_memory_mb = models.PositiveIntegerField(
        null=True, blank=True, help_text="The most memory its labs' nodes may ask for, in all (their limits, MB); "
                                         "empty: the host's memory times the placement's overcommit.")
    registered = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(null=True, blank=True, help_text="The worker's last word (also in Redis).")
    forgotten = models.JSONField(
        default=list, blank=True, help_text="IDs of labs an admin forgot while this host was unreachable: when it is "
                                            "back, it removes what they left there (even if they run elsewhere now).")

    class Meta:
        ordering = ["name", "queue"]

    def __str__(self) -> str:
        return self.name if self.name == self.queue else f"{self.name} ({self.queue})"


class HostPin(models.Model):
    """The admin's choice of a host for one user's labs, or for the labs of one course's copies.

    A pinned deploy goes to that host or is refused, saying why (down, drained, full): never elsewhere. A
    user's pin wins over their course's.
    """

    lab_host = models.ForeignKey(LabHost, on_delete=models.CASCADE, related_name="pins")
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True,
                                related_name="host_pin")
    course = models.OneToOneField(Course, on_delete=models.CASCADE, null=True, blank=True, related_name="host_pin")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(user__isnull=False, course__isnull=True)
                           | models.Q(user__isnull=True, course__isnull=False)),
                name="host_pin_user_or_course"),
        ]
        ordering = ["lab_host_id", "id"]

    def __str__(self) -> str:
        whom = f"user {self.user}" if self.user_id else f"course {self.course}"
        return f"{whom} on {self.lab_host}"
