"""Who may open a websocket, and whether its user is still signed in (shared by every socket).

A topology's lab is the owner's; a supervisor (:func:`topology.courses.supervises`: an instructor of
the course whose assignment the topology copies) may follow it too, read-only, and watch or take over
its consoles. A user who must change their password first (a one-time password) gets no socket.
"""
from __future__ import annotations

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.utils import timezone

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
    return bool(session is not None and session.session_key and session.session_key in ended_sessions([session]))


def ended_sessions(sessions) -> set[str]:
    """The keys of those of ``sessions`` that ended (as :func:`signed_out` says), read together: one
    query per few hundred for sessions kept in the database (as the ``db`` and ``cached_db`` engines
    keep them, the database being the truth for both), one load per distinct key from any other store.
    A session without a key (None, or an anonymous visitor's) never ends here."""
    keys_of: dict[type, set[str]] = {}
    for session in sessions:
        if session is not None and session.session_key:
            keys_of.setdefault(session.__class__, set()).add(session.session_key)
    ended: set[str] = set()
    for store, keys in keys_of.items():
        if not issubclass(store, DatabaseSessionStore):
            ended |= {key for key in keys if not store(key).load()}
            continue
        decoder, model, alive = store(), store.get_model_class(), set()
        for part in chunks(sorted(keys)):
            rows = model.objects.filter(session_key__in=part, expire_date__gt=timezone.now())
            # As load() does: a row whose data does not decode (tampered, another secret key) is no session.
            alive |= {key for key, data in rows.values_list("session_key", "session_data") if decoder.decode(data)}
        ended |= keys - alive
    return ended


def must_change_password(user) -> bool:
    """True when ``user`` was given a one-time password and has not changed it yet."""
    return bool(user is not None and user.is_authenticated
                and UserFlags.objects.filter(user_id=user.pk, must_change_password=True).exists())


def must_change_passwords(user_ids) -> set[int]:
    """Those of ``user_ids`` who must change their password first (:func:`must_change_password`), in one query
    per few hundred."""
    flagged: set[int] = set()
    for part in chunks(sorted(set(user_ids))):
        flagged |= set(UserFlags.objects.filter(user_id__in=part, must_change_password=True)
                       .values_list("user_id", flat=True))
    return flagged


def chunks(items: list, size: int = 500):
    """``items`` in lists of at most ``size``: an ``__in`` query stays well under SQLite's limit of variables."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


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
