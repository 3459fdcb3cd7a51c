"""Who may open a websocket, and whether its user is still signed in (shared by every socket)."""
from __future__ import annotations

from ..models import Lab

FORBIDDEN = 4403  # close code for "not yours, or no such topology": existence is never revealed


def signed_out(session) -> bool:
    """True once the session the socket was opened with has ended (the user signed out, in any tab).

    A socket keeps the session it was opened with, so this asks the session
    store whether that session still exists.
    """
    return session is not None and bool(session.session_key) and not session.exists(session.session_key)


def owned_lab(user, topology_id: int) -> Lab | None:
    """The lab of ``user``'s topology ``topology_id``, or None (signed out, not theirs, or no such topology)."""
    if user is None or not user.is_authenticated:
        return None
    return Lab.objects.filter(topology_id=topology_id, topology__owner_id=user.pk).first()
