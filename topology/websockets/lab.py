"""``/ws/topologies/<id>/``: a lab's live state for its owner's browser, or a supervisor's (web side, unprivileged)."""
from __future__ import annotations

from channels.db import database_sync_to_async

from .. import broadcast
from .access import CHANGE_PASSWORD, FORBIDDEN, OWNER, lab_and_role, must_change_password, signed_out
from .following import FollowingConsumer

PASSWORD = "change_password"  # _access's answer for a user who must change their password first


class LabConsumer(FollowingConsumer):
    """``/ws/topologies/<topology_id>/``: the lab's snapshot first, then every change as it happens.

    The topology's owner may subscribe, and so may a supervisor of it
    (:func:`topology.courses.supervises`); anybody else (signed out, another
    user, a topology that does not exist) is accepted and closed at once with
    code 4403, so a browser can tell "forbidden" from a dropped connection and
    stop retrying. Read-only: whatever the client sends is ignored (nothing sent
    here is anything to act on, so a supervisor gets the same). The messages
    are described in :mod:`topology.broadcast`, plus one of its own:
    ``{"type": "gone", "reason": "signed_out" | "deleted" | "change_password", "message": ...}``
    just before it closes with 4403 because the user signed out (in any tab),
    the topology was deleted (or is no longer theirs to follow), or the user
    must change their one-time password first (checked on connecting too). A deletion is heard at once:
    the ``topology`` message that says it (``deleted``, :func:`topology.broadcast.topology_message`) makes
    the socket check right away rather than at its next periodic check; the other ``topology`` messages
    (the document was saved: its new ``updated`` time) are forwarded like the rest.
    """

    snapshot_event_id: int = 0
    role: str = OWNER

    async def connect(self) -> None:
        access = await self._access(self.scope.get("user"), self.scope["url_route"]["kwargs"]["topology_id"])
        await self.accept()
        if access is None:
            await self.close(code=FORBIDDEN)
            return
        if access == PASSWORD:
            await self.leave(PASSWORD, CHANGE_PASSWORD)
            return
        lab_id, self.role = access
        # Join before reading the snapshot: a change made meanwhile arrives after it, never gets lost.
        await self.follow(broadcast.group_name(lab_id))
        snapshot = await self._snapshot(lab_id)
        self.snapshot_event_id = max((e["id"] or 0 for e in snapshot["events"]), default=0)
        await self.send_json({"type": "snapshot", "lab": snapshot})
        self.keep_checking(self.scope["url_route"]["kwargs"]["topology_id"], self.role)

    async def lab_message(self, message: dict) -> None:
        """Messages published together to the lab's group (:func:`topology.broadcast.publish_many`): one frame each."""
        for payload in message["messages"]:
            if payload.get("type") == "topology" and payload.get("deleted"):
                kwargs = self.scope["url_route"]["kwargs"]
                gone = await self._gone(self.scope.get("session"), self.scope.get("user"), kwargs["topology_id"], self.role)
                if gone:
                    await self.leave(*gone)
                    return
                continue
            if payload.get("type") == "events" and self.snapshot_event_id:
                fresh = [e for e in payload["events"] if not e.get("id") or e["id"] > self.snapshot_event_id]
                if not fresh:
                    continue
                payload = {**payload, "events": fresh}
            await self.send_json(payload)

    @staticmethod
    @database_sync_to_async
    def _access(user, topology_id: int) -> tuple[int, str] | str | None:
        """(lab id, role), :data:`PASSWORD`, or None (not theirs to follow, or no such topology)."""
        found = lab_and_role(user, topology_id)
        if found is None:
            return None
        if must_change_password(user):
            return PASSWORD
        return found[0].pk, found[1]

    @staticmethod
    @database_sync_to_async
    def _gone(session, user, topology_id: int, role: str = OWNER) -> tuple[str, str] | None:
        if signed_out(session):
            return "signed_out", "You signed out. Sign in again to follow this lab."
        if must_change_password(user):
            return PASSWORD, CHANGE_PASSWORD
        found = lab_and_role(user, topology_id)
        if found is None or found[1] != role:
            return "deleted", "This topology was deleted." if role == OWNER else \
                "This topology was deleted, or you no longer look after it."
        return None

    @staticmethod
    @database_sync_to_async
    def _snapshot(lab_id: int) -> dict:
        return broadcast.lab_snapshot(lab_id)
