"""The pop-out terminal page for supervisors, ``/topologies/<id>/nodes/<name>/console/?mode=watch|control``
(and the logs page): who gets which page, and what its bar says. The owner's page is in test_terminal_pages.py.
"""
from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.documents import reference_document
from topology.models import Assignment, Topology


@pytest.fixture
def copy(topology, course, carol) -> Topology:
    """Alice's topology as her copy of an assignment of carol's course: carol supervises it."""
    assignment = Assignment.objects.create(course=course, title="Lab 1", template=reference_document(), created_by=carol)
    Topology.objects.filter(pk=topology.pk).update(assignment=assignment)
    alice = topology.owner
    alice.first_name, alice.last_name = "Alice", "Liddell"
    alice.save()
    return topology


def browser(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def config_of(html: str) -> dict:
    return json.loads(html.split('id="terminal-config" type="application/json">', 1)[1].split("</script>", 1)[0])


def test_a_supervisor_watches_with_a_bar_that_says_so_and_a_take_over_button(copy, carol):
    response = browser(carol).get(f"/topologies/{copy.pk}/nodes/c1/console/?mode=watch")
    assert response.status_code == 200
    html = response.content.decode()
    assert config_of(html) == {"topology": copy.pk, "topologyName": copy.name, "node": "c1", "kind": "console",
                               "mode": "watch", "student": "Alice Liddell"}
    assert ">Watching Alice Liddell's console on c1: you cannot type</span>" in html
    assert 'id="watch-take-over"' in html and ">Take over</button>" in html
    assert "topolab/watch.css" in html
    assert "<style" not in html and " style=" not in html and "<script>" not in html  # the CSP allows no inline


def test_in_control_mode_the_bar_says_the_student_sees_it(copy, carol):
    html = browser(carol).get(f"/topologies/{copy.pk}/nodes/c1/console/?mode=control").content.decode()
    assert ">You can type in Alice Liddell's console; they see that you joined</span>" in html
    assert config_of(html)["mode"] == "control"
    assert 'id="watch-take-over" type="button" hidden' in html


def test_a_supervisor_asking_for_the_console_itself_is_sent_to_watch_it(copy, carol):
    response = browser(carol).get(f"/topologies/{copy.pk}/nodes/c1/console/")
    assert response.status_code == 302
    assert response["Location"] == f"/topologies/{copy.pk}/nodes/c1/console/?mode=watch"


def test_a_supervisor_gets_the_logs_page(copy, carol):
    response = browser(carol).get(f"/topologies/{copy.pk}/nodes/c1/logs/")
    assert response.status_code == 200
    assert "mode" not in config_of(response.content.decode())


@pytest.mark.parametrize("query", ["?mode=watch", "?mode=control", "?mode=other"])
def test_the_owner_has_no_watch_modes(copy, client, query):
    assert client.get(f"/topologies/{copy.pk}/nodes/c1/console/{query}").status_code == 404


def test_nobody_else_gets_any_of_it(copy, bob, django_user_model):
    dave = django_user_model.objects.create_user("dave", "dave@example.org", None, is_staff=False)
    for user in (bob, dave):
        for path in ("console/?mode=watch", "console/?mode=control", "console/", "logs/"):
            assert browser(user).get(f"/topologies/{copy.pk}/nodes/c1/{path}").status_code == 404, (user, path)


def test_a_supervisor_of_no_assignment_copy_gets_nothing(topology, carol, course):
    assert browser(carol).get(f"/topologies/{topology.pk}/nodes/c1/console/?mode=watch").status_code == 404
