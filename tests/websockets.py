"""What the async and websocket tests share: running an async body, a browser's origin, session cookie
and socket, how a socket was closed, and a fresh channel layer (an autouse fixture for the modules that import it)."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

ORIGIN = "http://localhost:8000"  # an origin ALLOWED_HOSTS accepts, as a browser on the site sends it


def cookie_of(user) -> str:
    """The session cookie of ``user``, signed in, as a ``Cookie`` header's value."""
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def session_socket(path: str, session_cookie: str | None, origin: str | None = ORIGIN) -> WebsocketCommunicator:
    """A websocket to ``path`` through the whole ASGI stack, opened with that ``Cookie`` header (None: anonymous)
    by a browser on ``origin``."""
    from labsite.asgi import application

    headers = []
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if session_cookie:
        headers.append((b"cookie", session_cookie.encode()))
    return WebsocketCommunicator(application, path, headers=headers)


def browser_socket(path: str, user=None, origin: str | None = ORIGIN) -> WebsocketCommunicator:
    """A websocket to ``path`` through the whole ASGI stack, as ``user``'s browser on ``origin`` opens it."""
    return session_socket(path, cookie_of(user) if user is not None else None, origin)


async def refused(ws: WebsocketCommunicator) -> int | None:
    """The close code of a connection the server refused (accepted then closed, or never accepted)."""
    connected, code = await ws.connect()
    if not connected:
        return code
    output = await ws.receive_output(timeout=2)
    assert output["type"] == "websocket.close", output  # nothing else is ever sent first
    await ws.disconnect()
    return output["code"]


async def close_code(path: str, session_cookie: str | None, wait: float = 5) -> int | None:
    """The code a socket opened with that session cookie was closed with within ``wait`` seconds (refused or
    closed later), or None when it stayed open."""
    ws = session_socket(path, session_cookie)
    connected, code = await ws.connect(timeout=10)
    if not connected:
        return code
    try:
        while True:
            output = await ws.receive_output(timeout=wait)
            if output["type"] == "websocket.close":
                await ws.disconnect()
                return output.get("code")
    except TimeoutError:
        return None  # still open (the test communicator stops the consumer on a timeout)


async def accepted(ws: WebsocketCommunicator) -> bool:
    """Whether the server accepts the handshake at all (the origin check answers before any consumer)."""
    connected, _ = await ws.connect()
    await ws.disconnect()
    return connected


def run(coroutine_function, *args):
    """Run an async test body from a sync test (pytest-asyncio is not used here).

    When the browser tests ran earlier in the same process, Playwright keeps an
    event loop running in this thread, and ``async_to_sync`` refuses to run
    there: the body then runs from a thread of its own.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        loop_here = False
    else:
        loop_here = True
    if not loop_here:
        return async_to_sync(coroutine_function)(*args)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(async_to_sync(coroutine_function), *args).result()


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """A channel layer of the test's own: channels_redis binds its layers to the first event loop
    that uses them, and every ``async_to_sync`` call runs on a new one."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()
