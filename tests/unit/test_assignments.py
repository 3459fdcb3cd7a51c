"""The assignment rules (topology.assignments) called directly: copy names, what Start copies and Reset gives
back, a template the server's limits no longer allow, and who is counted as having started."""
from __future__ import annotations

import re

import pytest

from tests.documents import reference_document
from topology import assignments, services
from topology.models import Assignment, CourseMember, Topology
from topology.schema.models import DOCUMENT_NAME_RE


@pytest.fixture(autouse=True)
def _clean(released):
    pass


def make(carol, course, **changes) -> Assignment:
    data = {"title": "Static routing", "template": reference_document(),
            "checks": [{"node": "c1", "argv": ["true"], "expect": "exit0", "description": "runs"}]}
    data.update(changes)
    return assignments.publish(assignments.create(carol, course, data))


@pytest.mark.parametrize("title", [
    "Static routing", "  Lab 1: OSPF & BGP  ", "Über_Straße ñ", "日本語のタイトル", "---", "a" * 100, "x-" * 50,
    "Lab #3 (part 2/3)", "9 to 5", "UPPER lower_Under", "tab\there", "a - - b",
])
def test_every_title_gives_a_valid_topology_name(alice, title):
    name = assignments.free_name(alice, title)
    assert re.fullmatch(DOCUMENT_NAME_RE, name) and len(name) <= 40 and not name.endswith("-") and "--" not in name


def test_free_names_count_up_past_what_is_taken(alice):
    for name in ["lab", "lab-2", "lab-3", "lab-4"]:
        services.import_topology(alice, {**reference_document(), "name": name})
    assert assignments.free_name(alice, "Lab") == "lab-5"
    assert assignments.free_name(alice, "Lab two") == "lab-two"
    long = "l" * 40
    services.import_topology(alice, {**reference_document(), "name": long})
    assert assignments.free_name(alice, long) == "l" * 38 + "-2"


def test_start_copies_the_template_and_reset_gives_the_current_one(carol, alice, course):
    a = make(carol, course)
    topology, created = assignments.start(alice, a.pk)
    assert created and topology.document["nodes"] == reference_document()["nodes"]
    changed = reference_document()
    changed["description"] = "version 2"
    assignments.update(carol, a, {"template": changed})
    topology.refresh_from_db()
    assert topology.document["description"] != "version 2"  # a copy is the student's: an update leaves it
    answer = assignments.reset(alice, a.pk, True)
    topology.refresh_from_db()
    assert answer["destroy"] == "not needed" and topology.document["description"] == "version 2"
    assert topology.name == "static-routing"


def test_reset_without_confirm_says_what_would_happen(carol, alice, course):
    a = make(carol, course)
    assignments.start(alice, a.pk)
    with pytest.raises(assignments.ConfirmationNeeded) as refused:
        assignments.reset(alice, a.pk, False)
    assert refused.value.status == 400 and "'static-routing'" in refused.value.message
    assert "destroyed" not in refused.value.message  # a stopped lab is not destroyed


def test_a_template_the_limits_no_longer_allow_is_refused_at_start(carol, alice, course, settings):
    a = make(carol, course)
    settings.TOPOLAB_MAX_NODES = 2
    with pytest.raises(assignments.Invalid) as refused:
        assignments.start(alice, a.pk)
    assert refused.value.status == 400 and all(p.path.startswith("template") for p in refused.value.problems)
    assert not Topology.objects.filter(owner=alice).exists()


def test_started_counts_students_only(carol, alice, bob, course):
    a = make(carol, course)
    assignments.start(carol, a.pk)
    assert assignments.started_count(a) == 0
    assignments.start(alice, a.pk)
    CourseMember.objects.create(course=course, user=bob, role=CourseMember.Role.STUDENT)
    assignments.start(bob, a.pk)
    assert assignments.started_count(a) == 2
    assert Topology.objects.filter(assignment=a).count() == 3


def test_a_templates_problems_are_reported_under_template(carol, course):
    broken = reference_document()
    broken["links"][0]["endpoints"][0]["node"] = "nowhere"
    with pytest.raises(assignments.Invalid) as refused:
        assignments.create(carol, course, {"title": "T", "template": broken})
    assert [p.path for p in refused.value.problems] == ["template.links[0].endpoints[0].node"]
    assert not Assignment.objects.exists()
