"""The editor says "host unreachable" beside the lab's state while the lab's host's lab worker is silent, and
stops saying it by itself once that host is back (issue 17), in a real browser against daphne and Redis.

The lab is put in the database as running on a host of its own (a queue no process consumes): its host's
heartbeat is this test's, started and stopped by hand.
"""
from __future__ import annotations

import uuid

from playwright.sync_api import expect

from tests.documents import reference_document
from topology import services
from topology.models import Lab, LabState
from topology.workers import Heartbeat

from .conftest import shot
from .helpers import open_editor

BADGE = "#host-unreachable"


def test_the_editor_says_host_unreachable_and_clears_it_when_the_host_is_back(signed_in, owner):
    page = signed_in
    queue = f"lab.e2e-{uuid.uuid4().hex[:8]}"
    topology = services.import_topology(owner, reference_document())
    Lab.objects.filter(pk=topology.lab.pk).update(state=LabState.RUNNING, queue=queue)
    open_editor(page, topology.pk)
    expect(page.locator("#lab-state")).to_have_text("running")
    expect(page.locator(BADGE)).to_be_visible()
    expect(page.locator(BADGE)).to_have_text("host unreachable")
    assert queue in page.locator(BADGE).get_attribute("title")
    shot(page, "host-unreachable")
    heartbeat = Heartbeat([queue], instance=uuid.uuid4().hex).start()
    try:
        expect(page.locator(BADGE)).to_be_hidden(timeout=25_000)  # the next look (every 15 s) finds it back
    finally:
        heartbeat.stop()
    Lab.objects.filter(pk=topology.lab.pk).update(state=LabState.STOPPED)
