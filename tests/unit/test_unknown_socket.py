"""A websocket to a path no route matches: accepted and closed with 4404, and one line in the log.

Before, Channels' URLRouter raised ``ValueError("No route found for path ...")`` out of the
application: the server answered the handshake with a 500 and logged a whole traceback, for
anybody, signed in or not.
"""
from __future__ import annotations

import logging

import pytest
from django.test import Client

from tests.websockets import ORIGIN, accepted, browser_socket, fresh_channel_layer, refused, run  # noqa: F401
from topology.websockets.routes import NOT_FOUND

pytestmark = pytest.mark.django_db(transaction=True)

UNKNOWN = [
    "/ws/nope",
    "/ws/topologies/abc/",
    "/ws/topologies/1/nodes/x/bogus",
    "/ws/topologies/1",  # the lab's socket wants its trailing slash
    "/ws/topologies/1/console/",
    "/nope",
    "/",
]


@pytest.mark.parametrize("path", UNKNOWN)
@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "signed-in"])
def test_an_unknown_path_closes_with_4404_and_logs_one_line(path, signed_in, alice, caplog):
    caplog.set_level(logging.DEBUG)
    ws = browser_socket(path, alice if signed_in else None)

    assert run(refused, ws) == NOT_FOUND == 4404

    about_it = [r for r in caplog.records if path in r.getMessage()]
    assert len(about_it) == 1, [r.getMessage() for r in caplog.records]
    record = about_it[0]
    assert "\n" not in record.getMessage()
    assert record.exc_info is None and record.exc_text is None and record.stack_info is None
    assert record.levelno < logging.ERROR
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def test_an_unknown_path_from_another_site_is_still_refused_at_the_handshake(caplog):
    assert run(accepted, browser_socket("/ws/nope", origin="https://evil.example")) is False
    assert not [r for r in caplog.records if r.exc_info]


def test_a_query_string_does_not_change_the_answer(alice):
    ws = browser_socket("/ws/nope?cols=80&rows=24", alice)
    assert run(refused, ws) == NOT_FOUND


def test_a_path_with_a_line_break_stays_on_one_line_of_the_log(caplog):
    caplog.set_level(logging.DEBUG)
    assert run(refused, browser_socket("/ws/a%0Aforged%20line")) == NOT_FOUND
    lines = [r.getMessage() for r in caplog.records if "forged" in r.getMessage()]
    assert len(lines) == 1 and "\n" not in lines[0] and "\\n" in lines[0], lines


def test_known_paths_still_reach_their_consumers(topology, alice):
    """The catch-all comes last: the lab's socket of a stranger's topology still answers 4403, not 4404."""
    assert run(refused, browser_socket(f"/ws/topologies/{topology.pk + 1000}/", alice)) == 4403
    assert run(refused, browser_socket(f"/ws/topologies/{topology.pk}/nodes/c1/console")) == 4403
    assert run(refused, browser_socket(f"/ws/topologies/{topology.pk}/nodes/c1/logs")) == 4403


@pytest.mark.parametrize("path", ["/nope", "/ws/nope", "/api/v1/nope", "/topologies/abc/"])
def test_unknown_http_paths_still_answer_404(path, alice):
    client = Client()
    assert client.get(path).status_code == 404
    client.force_login(alice)
    assert client.get(path).status_code == 404
