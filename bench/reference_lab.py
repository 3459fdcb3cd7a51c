"""What the benchmarks that drive a browser against the deployed reference lab share.

``deployed(*services)`` migrates this run's own database, makes the ``bench`` user, starts a real lab worker,
the root services the benchmark measures (the relay, the capture service...) and daphne, deploys the reference
lab and, at the end, destroys it and stops them all in reverse order; ``signed_in(browser, server)`` opens a
page of the live server signed in as that user. Call :func:`bench.isolated.start_django` first.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
USER, PASSWORD = "bench", "pw-bench-1"


@contextmanager
def deployed(*services) -> Iterator[tuple]:
    """``(user, lab, server)`` with the reference lab running; ``services``: process classes taking
    ``(queue, log_path)`` (``RelayProcess``, ``CaptureProcess``), started after the worker, before daphne."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from tests.documents import reference_document
    from tests.e2e.server import LiveServer
    from topology import services as topologies
    from topology.testing.labs import wait_for
    from topology.testing.worker import WorkerProcess

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    user = get_user_model().objects.create_user(USER, password=PASSWORD)
    lab = topologies.import_topology(user, reference_document()).lab
    data = Path(os.environ["TOPOLAB_DATA_DIR"])
    processes = [WorkerProcess(settings.TOPOLAB_QUEUE, data / "worker.log")]
    processes += [service(settings.TOPOLAB_QUEUE, data / f"{service.__name__.lower()}.log") for service in services]
    server = LiveServer(data / "daphne.log")
    processes.append(server)
    started = []
    try:
        for process in processes:
            process.start()
            started.append(process)
        lab = wait_for(lab, topologies.request_deploy(lab))
        if lab.state != "running":
            raise SystemExit(f"the reference lab did not deploy: {lab.reason}")
        yield user, lab, server
    finally:
        lab.refresh_from_db()
        if lab.state in ("running", "failed", "degraded"):
            wait_for(lab, topologies.request_destroy(lab))
        for process in reversed(started):
            process.stop()


def signed_in(browser, server, init_script: str = ""):
    """A new page of ``server``, signed in as the bench user (``init_script`` runs before every page's own)."""
    page = browser.new_page(base_url=server.url)
    if init_script:
        page.add_init_script(init_script)
    page.goto("/login/")
    page.get_by_label("User name").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")
    return page
