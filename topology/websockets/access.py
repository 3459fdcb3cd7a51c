"""Who may open a websocket, and whether its user is still signed in (shared by every socket).

A topology's lab is the owner's; a supervisor (:func:`topology.courses.supervises`: an instructor of
the course whose assignment the topology copies) may follow it too, read-only, and watch or take over
its consoles. A user who must change their password first (a one-time password) gets no socket.
"""
from __future__ import annotations

from .. import courses
from ..models import Lab, UserFlags

FORBIDDEN = 4403  # close code for "not yours, or no such topology": existence is never revealed
CHANGE_PASSWORD = "change your password first"
OWNER, SUPERVISOR = "owner", "supervisor"


def signed_out(session) -> bool:
    """True once the session the socket was opened with has ended: the user signed out (in any tab) or
    it expired (``SESSION_COOKIE_AGE``).

    A socket keeps the session it was opened with, so this reads that session
    afresh from the store. ``exists`` alone is not enough: the database keeps
    an expired row until ``clearsessions`` runs, but loading it gives nothing.
    """
    if session is None or not session.session_key:
        return False
    return not session.__class__(session.session_key).load()


def must_change_password(user) -> bool:
    """True when ``user`` was given a one-time password and has not changed it yet."""
    return bool(user is not None and user.is_authenticated
                and UserFlags.objects.filter(user_id=user.pk, must_change_password=True).exists())


def owned_lab(user, topology_id: int) -> Lab | None:
    """The lab of ``user``'s topology ``topology_id``, or None (signed out, not theirs, or no such topology)."""
    if user is None or not user.is_authenticated:
        return None
    return Lab.objects.filter(topology_id=topology_id, topology__owner_id=user.pk).first()


def lab_and_role(user, topology_id: int) -> tuple[Lab, str] | None:
    """(the lab of topology ``topology_id``, :data:`OWNER` or :data:`SUPERVISOR`), or None for anybody else."""
    if user is None or not user.is_authenticated:
        return None
    lab = Lab.objects.select_related("topology", "topology__owner").filter(topology_id=topology_id).first()
    if lab is None:
        return None
    if lab.topology.owner_id == user.pk:
        return lab, OWNER
    if courses.supervises(user, lab.topology):
        return lab, SUPERVISOR
    return None


def display_name(user) -> str:
    """How a user is named to another: their full name, else their username."""
    return user.get_full_name().strip() or user.get_username()
