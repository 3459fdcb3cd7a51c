"""What the HTTP tests share: a user's browser, signed in, and JSON posts (the websocket side is
tests/websockets.py)."""
from __future__ import annotations

import json

from django.test import Client


def signed_in(user) -> Client:
    """``user``'s browser: signed in (no password asked), CSRF not enforced, as Django's test client does."""
    c = Client()
    c.force_login(user)
    return c


def post(client: Client, url: str, body=None):
    """POST ``body`` as JSON (``{}`` when there is none) to ``url``."""
    return client.post(url, json.dumps({} if body is None else body), content_type="application/json")
