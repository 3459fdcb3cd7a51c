"""The websockets of the web tier (unprivileged), one module per socket.

- ``/ws/topologies/<id>/``: :mod:`.lab`, the lab's live state (messages in :mod:`topology.broadcast`);
  the owner's, and read-only for the instructors of the course the topology is a copy for;
- ``/ws/topologies/<id>/nodes/<name>/console``: :mod:`.console`, a node's shell (the owner's;
  ``?mode=watch|control``: an instructor watching or taking over the student's shell);
- ``/ws/topologies/<id>/nodes/<name>/logs``: :mod:`.logs`, a node's own output (owner and instructors);
- ``/ws/courses/<id>/``: :mod:`.course`, the live Class work grid of a course, for its instructors
  (messages in :mod:`topology.coursefeed`).

The two terminals share :mod:`.relayed` (the handshake with the root relay,
pacing, heartbeats); every socket asks :mod:`.access` who may open it and
whether its user is still signed in. :mod:`.routes` maps the paths.
"""
