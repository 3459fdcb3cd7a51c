"""The websockets of the web tier (unprivileged), one module per socket.

- ``/ws/topologies/<id>/``: :mod:`.lab`, the lab's live state (messages in :mod:`topology.broadcast`);
- ``/ws/topologies/<id>/nodes/<name>/console``: :mod:`.console`, a node's shell;
- ``/ws/topologies/<id>/nodes/<name>/logs``: :mod:`.logs`, a node's own output.

The two terminals share :mod:`.relayed` (the handshake with the root relay,
pacing, heartbeats); every socket asks :mod:`.access` who may open it and
whether its user is still signed in. :mod:`.routes` maps the paths.
"""
