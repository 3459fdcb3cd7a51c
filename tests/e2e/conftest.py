"""Fixtures of the browser tests: the real ASGI app (daphne) on this run's test database,
Debian's Chromium through Playwright, and a signed-in page.

The integration fixtures (the leak check, the test user, labs) are reused from
tests/integration/conftest.py; the root worker and relay come from tests/conftest.py.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.e2e.server import LiveServer
from tests.integration.conftest import Labs, labs, no_leftovers, owner  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
PASSWORD = "pw-student-1"  # the `owner` fixture's


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def web(django_db_setup, django_db_blocker, tmp_path_factory):
    """The web tier as it runs in production: daphne, WhiteNoise serving collected static files."""
    if not (ROOT / "node_modules" / "cytoscape" / "dist").is_dir():
        pytest.fail("the editor's JavaScript libraries are missing: run `npm ci` (compose/test does it)")
    call_command("collectstatic", interactive=False, verbosity=0)
    server = LiveServer(tmp_path_factory.mktemp("web") / "daphne.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (compose/test does it)")
    # Playwright's sync API keeps an asyncio loop in this thread; the tests' own ORM
    # calls are synchronous and safe, so tell Django not to refuse them.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, web, transactional_db, request):
    """A fresh 1280x720 tab; JavaScript errors fail the test; a screenshot is kept on failure."""
    context = browser.new_context(viewport={"width": 1280, "height": 720}, base_url=web.url,
                                  accept_downloads=True)
    context.set_default_timeout(15000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    yield tab
    ARTIFACTS.mkdir(exist_ok=True)
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        tab.screenshot(path=str(ARTIFACTS / f"failed-{request.node.name}.png"))
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def signed_in(page, owner):
    """The page, signed in as the `owner` fixture's user, on the topologies list."""
    page.goto("/login/")
    page.get_by_label("User name").fill(owner.get_username())
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")
    return page


def shot(page, name: str) -> Path:
    """Save a screenshot into tests/artifacts/ (git-ignored) and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
