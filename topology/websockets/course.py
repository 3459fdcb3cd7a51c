"""``/ws/courses/<id>/``: the student x assignment grid of a course, live, for its instructors (web side)."""
from __future__ import annotations

from channels.db import database_sync_to_async

from .. import classview, coursefeed
from ..models import Course, CourseMember
from .access import FORBIDDEN, must_change_password, signed_out
from .following import FollowingConsumer


def instructs(user, course_id: int) -> Course | None:
    """The course, if ``user`` may follow its grid: an active instructor of it or a superuser, who has no
    one-time password left to change (the pages send such a user to the password form first); else None."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if must_change_password(user):
        return None
    course = Course.objects.filter(pk=course_id).first()
    if course is None:
        return None
    if user.is_superuser or CourseMember.objects.filter(course=course, user_id=user.pk,
                                                        role=CourseMember.Role.INSTRUCTOR).exists():
        return course
    return None


class CourseConsumer(FollowingConsumer):
    """``/ws/courses/<course_id>/``: the grid's snapshot first, then each cell as it changes.

    The messages are described in :mod:`topology.coursefeed`. Only the course's instructors (and
    superusers) may subscribe; anybody else (signed out, a student of the course, another course's
    instructor, a course that does not exist, a user who must still change a one-time password) is
    accepted and closed at once with 4403, as the lab's socket does. Read-only: what the client sends is
    ignored. Every ``TOPOLAB_HEARTBEAT`` seconds it checks that the user is still signed in and still
    instructs the course; if not, it sends ``gone`` and closes with 4403.
    """

    async def connect(self) -> None:
        course_id = self.scope["url_route"]["kwargs"]["course_id"]
        course = await self._course(self.scope.get("user"), course_id)
        await self.accept()
        if course is None:
            await self.close(code=FORBIDDEN)
            return
        # Join before reading the snapshot: a cell changed meanwhile arrives after it, never gets lost.
        await self.follow(coursefeed.group_name(course.pk))
        await self.send_json({"type": "snapshot", "grid": await self._grid(course)})
        self.keep_checking(course.pk)

    async def course_cell(self, message: dict) -> None:
        """One cell published by :func:`topology.coursefeed.publish_cell`: one frame."""
        await self.send_json(message["message"])

    @staticmethod
    @database_sync_to_async
    def _course(user, course_id: int) -> Course | None:
        return instructs(user, course_id)

    @staticmethod
    @database_sync_to_async
    def _grid(course: Course) -> dict:
        return classview.grid(course)

    @staticmethod
    @database_sync_to_async
    def _gone(session, user, course_id: int) -> tuple[str, str] | None:
        if signed_out(session):
            return "signed_out", "You signed out. Sign in again to follow this course."
        if instructs(user, course_id) is None:
            return "forbidden", "You no longer teach this course."
        return None
