"""What users may do with courses: create them, enrol students, join by code, remove students (web side).

Like :mod:`topology.services`, this is the one place for the rules; views call it and it raises
:class:`topology.services.ServiceError` subclasses whose ``status`` is the HTTP answer.

Who is who: a superuser may do everything; a user with the permission ``topology.add_course`` (the
group "instructors" has it) may create courses; being an instructor *of a course* is a
:class:`CourseMember` row with the role "instructor" (the creator gets one), so a user may teach one
course and study in another. A course the caller is not a member of does not exist for them
(:class:`NotFound`), as another user's topology does not.
"""
from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import DatabaseError, IntegrityError, transaction
from django.utils.text import slugify

from . import services, signin
from .errors import NotFound
from .models import Course, CourseMember, LabState, Topology, UserFlags

Role = CourseMember.Role

MAX_CSV_BYTES = 256 * 1024
# Each new account costs a password hash (about 0.4 s of one core). They are hashed on every core at once
# (the hash releases the GIL), so 100 rows keep one request around 20 s on 2 cores; a bigger class is
# enrolled in several files.
MAX_CSV_ROWS = 100
CSV_COLUMNS = ("username", "name", "email")
# Crockford's base32 without the look-alikes: 16 characters of 5 bits = 80 bits, in 4 groups of 4.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ0123456789"
CODE_GROUPS, CODE_GROUP_LENGTH = 4, 4
PASSWORD_LENGTH = 16


class Forbidden(services.ServiceError):
    """The caller may not do this, and nothing's existence is at stake (creating a course)."""

    status = 403


class InvalidCsv(services.ServiceError):
    """The file as a whole is refused (too big, not UTF-8, too many rows): nothing was created."""

    status = 400


# -- codes and passwords --------------------------------------------------------------------------------------
def _random(length: int) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def new_join_code() -> str:
    """A readable random code such as ``K7QM-2XHD-9PRT-WB4N`` (80 bits: not guessable)."""
    return "-".join(_random(CODE_GROUP_LENGTH) for _ in range(CODE_GROUPS))


def normalise_code(text: str) -> str:
    """What a user typed, as stored: case, spaces and dashes do not matter; O is 0, I and L are 1."""
    raw = "".join(ch for ch in str(text).upper() if ch.isalnum()).translate(str.maketrans("OIL", "011"))
    return "-".join(raw[i:i + CODE_GROUP_LENGTH] for i in range(0, len(raw), CODE_GROUP_LENGTH))


def new_password() -> str:
    """A one-time password (80 bits), shown once; the student changes it at first sign-in."""
    return _random(PASSWORD_LENGTH)


# -- who may do what ------------------------------------------------------------------------------------------
def may_create(user) -> bool:
    """Superusers and holders of ``topology.add_course`` (the "instructors" group) create courses."""
    return bool(user and user.is_authenticated and user.is_active and user.has_perm("topology.add_course"))


def role_in(user, course: Course) -> str | None:
    """The user's role in the course ("instructor" for a superuser who is not a member), else None."""
    member = CourseMember.objects.filter(course=course, user=user).values_list("role", flat=True).first()
    if member is None and user.is_superuser:
        return Role.INSTRUCTOR
    return member


def courses_of(user):
    """The courses the user is a member of, as instructor or student, with the user's role."""
    return Course.objects.filter(members__user=user).distinct().order_by("name", "id")


def visible(user, course_id: int) -> tuple[Course, str]:
    """The course and the user's role in it, or :class:`NotFound` (not a member: it does not exist)."""
    course = Course.objects.filter(pk=course_id).select_related("created_by").first()
    role = role_in(user, course) if course is not None else None
    if role is None:
        raise NotFound("no such course")
    return course, role


def taught(user, course_id: int) -> Course:
    """A course the user instructs, else :class:`NotFound` (for its students too: its roster, code and
    enrolment do not exist for them)."""
    course, role = visible(user, course_id)
    if role != Role.INSTRUCTOR:
        raise NotFound("no such course")
    return course


def supervises(user, topology) -> bool:
    """True when ``user`` may look after ``topology`` without owning it: they instruct the course of the
    assignment it is a copy of, and its owner is still a member of that course (a superuser looks after
    every such copy). Read-only views, watching and taking
    over consoles, destroying the lab and re-running checks ask this; the owner is not asked."""
    if user is None or not user.is_authenticated or not user.is_active or topology.assignment_id is None:
        return False
    # The copy's owner must still be in the course: a student removed "keeping their work" keeps a copy
    # that is theirs alone from then on.
    owner_in = CourseMember.objects.filter(course__assignments=topology.assignment_id, user_id=topology.owner_id)
    if not owner_in.exists():
        return False
    if user.is_superuser:
        return True
    return CourseMember.objects.filter(course__assignments=topology.assignment_id, user=user,
                                       role=Role.INSTRUCTOR).exists()


# -- courses --------------------------------------------------------------------------------------------------
def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "course"
    slug, n = base, 1
    while Course.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def create_course(user, name: str) -> Course:
    """A new course taught by ``user``; :class:`Forbidden` unless they may create courses."""
    if not may_create(user):
        raise Forbidden("only instructors may create courses (an administrator adds you to the group 'instructors')")
    name = (name or "").strip()
    if not name:
        raise services.ServiceError("give the course a name", [services.schema.Problem("name", "required")])
    if len(name) > Course._meta.get_field("name").max_length:
        raise services.ServiceError("name too long", [services.schema.Problem("name", "at most 100 characters")])
    with transaction.atomic():
        course = Course.objects.create(name=name, slug=_unique_slug(name), join_code=new_join_code(), created_by=user)
        CourseMember.objects.create(course=course, user=user, role=Role.INSTRUCTOR)
    return course


def regenerate_code(course: Course) -> str:
    """A new join code for the course; the old one stops working."""
    course.join_code = new_join_code()
    course.save(update_fields=["join_code"])
    return course.join_code


def instructors(course: Course) -> list:
    return [m.user for m in course.members.filter(role=Role.INSTRUCTOR).select_related("user").order_by("user__username")]


# -- enrolment ------------------------------------------------------------------------------------------------
def enrol(course: Course, username: str) -> CourseMember:
    """Enrol an existing user as a student: 400 when there is no such user, 409 when already a member."""
    User = get_user_model()
    user = User.objects.filter(username=str(username or "").strip()).first()
    if user is None:
        raise services.ServiceError("no such user",
                                    [services.schema.Problem("username", f"no user is named '{username}'")])
    with transaction.atomic():
        existing = CourseMember.objects.filter(course=course, user=user).first()
        if existing is not None:
            raise services.Conflict(f"'{user.username}' is already in this course (as {existing.role})")
        return CourseMember.objects.create(course=course, user=user, role=Role.STUDENT)


class TooManyCodes(services.ServiceError):
    """Too many wrong join codes lately (:mod:`topology.signin`): ``retry_after`` seconds to wait."""

    status = 429

    def __init__(self, retry_after: int):
        super().__init__(f"too many wrong join codes: try again in {signin.in_words(retry_after)} "
                         "(ask your instructor for the current code)")
        self.retry_after = retry_after


def join(user, code: str) -> tuple[Course, bool]:
    """Join the course whose code this is, as a student: (course, newly joined). A wrong code is 404.

    After ``TOPOLAB_JOIN_FAILURES`` wrong codes in ``TOPOLAB_JOIN_WINDOW_SECONDS`` every code is refused
    (:class:`TooManyCodes`, 429), a right one too, until the window ends: 80 bits are not guessed, but
    nobody hammers the database either.
    """
    waiting = signin.join_attempt(user)  # counted before the look-up: codes sent at once cannot all pass
    if waiting:
        raise TooManyCodes(waiting)
    normal = normalise_code(code or "")
    course = Course.objects.filter(join_code=normal).first() if normal else None
    if course is None:
        raise NotFound("no course has this code (ask your instructor for the current one)")
    signin.join_right(user)
    member = CourseMember.objects.filter(course=course, user=user).first()
    if member is not None:
        if member.role == Role.INSTRUCTOR:
            raise services.Conflict("you are an instructor of this course")
        return course, False
    try:
        with transaction.atomic():
            CourseMember.objects.create(course=course, user=user, role=Role.STUDENT)
    except IntegrityError:  # joined twice at once
        return course, False
    return course, True


@dataclass
class Row:
    line: int
    username: str
    name: str
    email: str


@dataclass
class ParsedCsv:
    rows: list[Row] = field(default_factory=list)
    problems: list[dict] = field(default_factory=list)  # [{"line", "message"}]


def decode_csv(data: bytes) -> str:
    """The file's text: UTF-8 (a byte-order mark is allowed), at most 256 KiB; else :class:`InvalidCsv`."""
    if len(data) > MAX_CSV_BYTES:
        raise InvalidCsv(f"the file is {len(data)} bytes; the limit is {MAX_CSV_BYTES} (256 KiB)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidCsv(f"the file is not UTF-8 text (byte {exc.start + 1}); save it as UTF-8 CSV") from None


def parse_csv(text: str) -> ParsedCsv:
    """Rows of ``username,name,email`` (a header line is optional; blank lines are skipped).

    Pure: it checks each row on its own and against the rows above it (wrong column count, a username
    Django's validator refuses, a duplicate in the file, an invalid email; name and email may be
    empty) and reports each bad row with its line number. More than MAX_CSV_ROWS rows: :class:`InvalidCsv`.
    """
    result = ParsedCsv()
    validator = UnicodeUsernameValidator()
    max_username = get_user_model()._meta.get_field("username").max_length
    seen: dict[str, int] = {}
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    line = 1  # where the next record starts
    first = True
    count = 0
    try:
        for record in reader:
            start, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in record):
                continue
            cells = [cell.strip() for cell in record]
            if first and [c.lower() for c in cells] == list(CSV_COLUMNS):
                first = False
                continue
            first = False
            count += 1
            if count > MAX_CSV_ROWS:
                raise InvalidCsv(f"line {start}: too many rows; at most {MAX_CSV_ROWS} students per file")
            if len(cells) != len(CSV_COLUMNS):
                result.problems.append({"line": start, "message": f"expected 3 columns (username, name, email), "
                                                                  f"found {len(cells)}"})
                continue
            username, name, email = cells
            try:
                if not username:
                    raise ValidationError("the username is empty")
                if len(username) > max_username:
                    raise ValidationError(f"the username is longer than {max_username} characters")
                validator(username)
            except ValidationError as exc:
                result.problems.append({"line": start, "message": f"bad username '{username}': {' '.join(exc.messages)}"})
                continue
            if username in seen:
                result.problems.append({"line": start, "message": f"'{username}' is already on line {seen[username]}"})
                continue
            seen[username] = start
            if email:
                try:
                    validate_email(email)
                except ValidationError:
                    result.problems.append({"line": start, "message": f"invalid email '{email}'"})
                    continue
            result.rows.append(Row(start, username, name[:150], email))
    except csv.Error as exc:
        result.problems.append({"line": line, "message": f"cannot read the CSV here: {exc}; the rest was not read"})
    return result


def _split_name(name: str) -> tuple[str, str]:
    first, _, last = name.rpartition(" ")
    return (first, last) if first else (last, "")


def _hash_one(password: str) -> tuple[str, str]:
    from django.contrib.auth.hashers import make_password

    return password, make_password(password)


def _hashed_passwords(usernames: list[str], User) -> dict[str, tuple[str, str]]:
    """(one-time password, its hash) for each of ``usernames`` that has no account yet, hashed on every core."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    existing = set(User.objects.filter(username__in=usernames).values_list("username", flat=True))
    new = [u for u in usernames if u not in existing]
    if not new:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(len(new), os.cpu_count() or 1))) as pool:
        return dict(zip(new, pool.map(_hash_one, [new_password() for _ in new]), strict=True))


def enrol_csv(course: Course, data: bytes) -> dict:
    """Enrol every good row of a CSV file; each row is all or nothing (account, enrolment, password).

    Answers ``{"created": [{line, username, password}], "enrolled": [{line, username, note}],
    "problems": [{line, message}]}``. The passwords are in this answer only: Django keeps their hashes.
    An existing account is enrolled as it is (its password unchanged).
    """
    parsed = parse_csv(decode_csv(data))
    User = get_user_model()
    created, enrolled, problems = [], [], list(parsed.problems)
    hashed = _hashed_passwords([row.username for row in parsed.rows], User)
    for row in parsed.rows:
        try:
            with transaction.atomic():
                user = User.objects.filter(username=row.username).first()
                if user is not None:
                    member = CourseMember.objects.filter(course=course, user=user).first()
                    if member is not None:
                        problems.append({"line": row.line, "message": f"'{row.username}' is already enrolled"
                                         if member.role == Role.STUDENT else
                                         f"'{row.username}' is an instructor of this course"})
                        continue
                    CourseMember.objects.create(course=course, user=user, role=Role.STUDENT)
                    enrolled.append({"line": row.line, "username": row.username,
                                     "note": "existing account: enrolled, password unchanged"})
                    continue
                password, encoded = hashed.get(row.username) or _hash_one(new_password())
                first, last = _split_name(row.name)
                user = User.objects.create_user(row.username, row.email, None,
                                                first_name=first[:150], last_name=last[:150])
                user.password = encoded
                user.save(update_fields=["password"])
                UserFlags.objects.update_or_create(user=user, defaults={"must_change_password": True})
                CourseMember.objects.create(course=course, user=user, role=Role.STUDENT)
                created.append({"line": row.line, "username": row.username, "password": password})
        except (IntegrityError, DatabaseError) as exc:
            problems.append({"line": row.line, "message": f"'{row.username}' could not be created ({exc}); "
                                                          "nothing of this row was kept"})
    problems.sort(key=lambda p: p["line"])
    return {"created": created, "enrolled": enrolled, "problems": problems}


# -- removal --------------------------------------------------------------------------------------------------
def remove_student(course: Course, username: str, mode: str) -> dict:
    """Take a student out of the course, keeping their work (``keep``) or deleting it (``delete``).

    ``delete`` deletes the student's copies of this course's assignments (their other topologies are
    theirs, not the course's, and stay) whose lab is stopped; a lab that is not is asked to be destroyed
    (through the lab worker) and its topology reported as left, and the student stays enrolled until
    everything is gone (call again once the labs have stopped).
    """
    if mode not in ("keep", "delete"):
        raise services.ServiceError("bad mode", [services.schema.Problem("mode", "keep or delete")])
    member = (CourseMember.objects.filter(course=course, user__username=username, role=Role.STUDENT)
              .select_related("user").first())
    if member is None:
        raise NotFound("no such student in this course")
    student = member.user
    report = {"username": student.username, "removed": False, "deleted": [], "left": []}
    if mode == "delete":
        copies = Topology.objects.filter(owner=student, assignment__course=course)
        for topology in copies.select_related("lab").order_by("name"):
            try:
                services.delete_topology(topology)
                report["deleted"].append(topology.name)
                continue
            except services.ServiceError as exc:
                reason = exc.message
            lab = topology.lab
            lab.refresh_from_db()
            if lab.state in (LabState.RUNNING, LabState.DEGRADED, LabState.FAILED):
                try:
                    services.request_destroy(lab)
                    reason = "its lab was not stopped: destroy requested; remove the student again once it is stopped"
                except services.ServiceError as exc:
                    reason = f"its lab is {lab.state} and could not be destroyed: {exc.message}"
            report["left"].append({"name": topology.name, "reason": reason})
        if report["left"]:
            return report
    member.delete()
    report["removed"] = True
    return report


# -- co-instructors -------------------------------------------------------------------------------------------
def add_instructor(course: Course, username: str) -> CourseMember:
    """Make an existing user an instructor of the course (a student of it is promoted, keeping their work).

    400 when there is no such active user, 409 when they already teach it.
    """
    User = get_user_model()
    user = User.objects.filter(username=str(username or "").strip(), is_active=True).first()
    if user is None:
        raise services.ServiceError("no such user",
                                    [services.schema.Problem("username", f"no active user is named '{username}'")])
    with transaction.atomic():
        member = CourseMember.objects.select_for_update().filter(course=course, user=user).first()
        if member is not None and member.role == Role.INSTRUCTOR:
            raise services.Conflict(f"'{user.username}' already teaches this course")
        if member is not None:
            member.role = Role.INSTRUCTOR
            member.save(update_fields=["role"])
            return member
        return CourseMember.objects.create(course=course, user=user, role=Role.INSTRUCTOR)


def remove_instructor(course: Course, username: str) -> None:
    """Take an instructor off the course (they may remove themselves); the last one stays (409): a course
    nobody teaches could be managed by an administrator only."""
    with transaction.atomic():
        teachers = list(CourseMember.objects.select_for_update().filter(course=course, role=Role.INSTRUCTOR)
                        .select_related("user"))
        member = next((m for m in teachers if m.user.username == username), None)
        if member is None:
            raise NotFound("no such instructor in this course")
        if len(teachers) == 1:
            raise services.Conflict("this is the course's last instructor: add another one first")
        member.delete()


def roster(course: Course) -> list[dict]:
    return [{"username": m.user.username, "name": m.user.get_full_name(), "email": m.user.email,
             "role": m.role, "joined": m.joined}
            for m in course.members.select_related("user").order_by("role", "user__username")]
