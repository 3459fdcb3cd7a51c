"""The site's security headers and production settings.

- A Content-Security-Policy on every answer: scripts and styles from the site's own files only (the two
  pages that hold a terminal allow inline styles, which xterm.js writes itself), no inline script, no
  inline event handler, nothing framed, no base or plugin. The pages themselves carry nothing inline.
- ``manage.py check --deploy`` is clean with the production variables of the README (HTTPS behind a
  proxy), and the plain ``check`` is clean without them, as local development runs.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"

STRICT = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
# xterm.js writes <style> elements and style attributes of its own (its theme, its cell size, 24-bit colours).
WITH_A_TERMINAL = {**STRICT, "style-src": ["'self'", "'unsafe-inline'"]}


def policy(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.request['PATH_INFO']}"
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        assert name not in directives, header
        directives[name] = values
    return directives


def pages(topology) -> dict[str, tuple[str, dict]]:
    """Every page of the site a signed-in user opens (path -> expected policy)."""
    t = topology.pk
    return {
        "list": ("/", STRICT),
        "editor": (f"/topologies/{t}/", WITH_A_TERMINAL),
        "console": (f"/topologies/{t}/nodes/c1/console/", WITH_A_TERMINAL),
        "logs": (f"/topologies/{t}/nodes/c1/logs/", WITH_A_TERMINAL),
        "tokens": ("/tokens/", STRICT),
        "courses": ("/courses/", STRICT),
        "password": ("/password/change/", STRICT),
        "format": ("/help/format/", STRICT),
        "api-docs": ("/api/v1/docs", STRICT),
        "admin": ("/admin/", STRICT),
        "api": ("/api/v1/topologies", STRICT),
        "example": ("/help/examples/router-between-two-clients.json", STRICT),
        "not-found": ("/no/such/page/", STRICT),
    }


PAGE_NAMES = ["list", "editor", "console", "logs", "tokens", "courses", "password", "format", "api-docs", "admin", "api",
              "example", "not-found"]


@pytest.fixture
def staff_client(alice):
    alice.is_staff = alice.is_superuser = True
    alice.save()
    c = Client()
    c.force_login(alice)
    return c


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_every_answer_carries_the_policy(staff_client, topology, name):
    path, expected = pages(topology)[name]
    response = staff_client.get(path)
    assert response.status_code in (200, 404), (path, response.status_code)
    assert policy(response) == expected


@pytest.mark.parametrize("path", ["/login/", "/help/format/", "/api/v1/docs", "/admin/login/", "/", "/ws/x"])
def test_the_anonymous_get_the_same_policy(path):
    response = Client().get(path)
    assert policy(response) == STRICT


def test_no_answer_allows_inline_script_or_eval(staff_client, topology):
    for path, _ in pages(topology).values():
        directives = policy(staff_client.get(path))
        for name in ("default-src", "script-src"):
            assert not [v for v in directives[name] if v.startswith("'unsafe") or v.startswith("'nonce")], path


def test_the_other_security_headers(client, topology):
    response = client.get("/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


# -- nothing inline in the pages ------------------------------------------------------------------


class Inline(HTMLParser):
    """Collects what a policy without 'unsafe-inline' would refuse: inline scripts, handlers, styles."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
        if "style" in attrs:
            self.found.append(f"<{tag} style=...>")
        if tag == "style":
            self.found.append("<style>")
        if tag == "script":
            # json_script's data blocks are not executed; an import map is inline script to a CSP.
            if "src" not in attrs and attrs.get("type") != "application/json":
                self.found.append(f"<script type={attrs.get('type')!r}> without src")
        if tag == "a" and (attrs.get("href") or "").strip().lower().startswith("javascript:"):
            self.found.append("<a href=javascript:...>")


def inline_in(html: str) -> list[str]:
    parser = Inline()
    parser.feed(html)
    return parser.found


@pytest.mark.parametrize("name", [n for n in PAGE_NAMES if n not in ("api", "example", "admin")])
def test_the_pages_hold_nothing_inline(staff_client, topology, name):
    path, _ = pages(topology)[name]
    assert inline_in(staff_client.get(path).content.decode()) == []


def test_the_page_that_shows_a_new_token_holds_nothing_inline(client):
    response = client.post("/tokens/", {"name": "laptop"}, follow=True)  # the secret shows once, after the redirect
    html = response.content.decode()
    assert 'id="token-secret-value"' in html
    assert inline_in(html) == []


def test_the_sign_in_page_holds_nothing_inline():
    assert inline_in(Client().get("/login/").content.decode()) == []


@pytest.mark.parametrize("template", sorted(str(p.relative_to(TEMPLATES)) for p in TEMPLATES.rglob("*.html")))
def test_no_template_holds_anything_inline(template):
    """Every template, rendered or not by the tests above (template tags are blanked out first)."""
    source = (TEMPLATES / template).read_text()
    source = re.sub(r"{%.*?%}|{{.*?}}|{#.*?#}", "x", source, flags=re.S)
    assert inline_in(source) == []


# -- production settings ------------------------------------------------------------------------


PRODUCTION = {
    "TOPOLAB_HTTPS": "1",
    "TOPOLAB_ALLOWED_HOSTS": "lab.example.org",
    "TOPOLAB_CSRF_TRUSTED_ORIGINS": "https://lab.example.org",
    "TOPOLAB_HSTS_INCLUDE_SUBDOMAINS": "1",
    "TOPOLAB_HSTS_PRELOAD": "1",
}
# Not handed on to the subprocesses: a production server has none of our test run's own (the browser
# tests set DJANGO_ALLOW_ASYNC_UNSAFE for Playwright, which check --deploy rightly refuses).
SECURITY_VARIABLES = [v for v in os.environ if v.startswith(("TOPOLAB_HTTPS", "TOPOLAB_HSTS", "TOPOLAB_CSRF",
                                                                 "TOPOLAB_DEBUG", "TOPOLAB_SECRET_KEY",
                                                                 "TOPOLAB_ALLOWED_HOSTS"))]
SECURITY_VARIABLES.append("DJANGO_ALLOW_ASYNC_UNSAFE")


def manage(tmp_path, *args, **env) -> subprocess.CompletedProcess:
    """``manage.py ARGS`` in a process of its own, with a data dir of its own and ``env`` on top of ours."""
    environment = {k: v for k, v in os.environ.items() if k not in SECURITY_VARIABLES}
    environment.update(TOPOLAB_DATA_DIR=str(tmp_path), **env)
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=120)


def settings_in(tmp_path, **env) -> dict:
    """Some settings as a process started with ``env`` reads them."""
    code = ("import django, json; django.setup(); from django.conf import settings as s; print(json.dumps({k: "
            "getattr(s, k, None) for k in ['DEBUG', 'SECURE_PROXY_SSL_HEADER', 'SECURE_SSL_REDIRECT', "
            "'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', "
            "'SECURE_HSTS_PRELOAD', 'CSRF_TRUSTED_ORIGINS', 'ALLOWED_HOSTS', 'SILENCED_SYSTEM_CHECKS', "
            "'X_FRAME_OPTIONS', 'SECURE_CONTENT_TYPE_NOSNIFF', 'SECURE_REFERRER_POLICY']}))")
    environment = {k: v for k, v in os.environ.items() if k not in SECURITY_VARIABLES}
    environment.update(TOPOLAB_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="labsite.settings", **env)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_check_deploy_is_clean_with_the_production_variables(tmp_path):
    done = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_check_deploy_is_clean_when_subdomains_and_preload_are_declined(tmp_path):
    """Each HSTS extension is the administrator's choice: saying no (0) is an answer, not a warning."""
    declined = {**PRODUCTION, "TOPOLAB_HSTS_INCLUDE_SUBDOMAINS": "0", "TOPOLAB_HSTS_PRELOAD": "0"}
    done = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **declined)
    assert done.returncode == 0, done.stdout + done.stderr


def test_check_deploy_still_catches_what_is_missing(tmp_path):
    """Undecided HSTS extensions, a weak secret key or debug mode still fail it."""
    undecided = {k: v for k, v in PRODUCTION.items() if not k.startswith("TOPOLAB_HSTS")}
    done = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **undecided)
    assert done.returncode != 0 and "security.W005" in done.stderr and "security.W021" in done.stderr
    done = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", TOPOLAB_SECRET_KEY="short", **PRODUCTION)
    assert done.returncode != 0 and "security.W009" in done.stderr
    done = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", TOPOLAB_DEBUG="1", **PRODUCTION)
    assert done.returncode != 0 and "security.W018" in done.stderr


def test_local_development_passes_the_plain_check(tmp_path):
    done = manage(tmp_path, "check", "--fail-level", "WARNING")
    assert done.returncode == 0, done.stdout + done.stderr


def test_https_behind_a_proxy(tmp_path):
    s = settings_in(tmp_path, **PRODUCTION)
    assert s["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert s["SECURE_SSL_REDIRECT"] is s["SESSION_COOKIE_SECURE"] is s["CSRF_COOKIE_SECURE"] is True
    assert s["SECURE_HSTS_SECONDS"] >= 31536000
    assert s["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is s["SECURE_HSTS_PRELOAD"] is True
    assert s["CSRF_TRUSTED_ORIGINS"] == ["https://lab.example.org"]
    assert s["ALLOWED_HOSTS"] == ["lab.example.org"]
    assert s["DEBUG"] is False
    assert settings_in(tmp_path, **PRODUCTION, TOPOLAB_HSTS_SECONDS="3600")["SECURE_HSTS_SECONDS"] == 3600


def test_local_development_is_plain_http_as_before(tmp_path):
    s = settings_in(tmp_path)
    assert s["SECURE_PROXY_SSL_HEADER"] is None
    assert s["SECURE_SSL_REDIRECT"] is s["SESSION_COOKIE_SECURE"] is s["CSRF_COOKIE_SECURE"] is False
    assert s["SECURE_HSTS_SECONDS"] == 0
    assert s["CSRF_TRUSTED_ORIGINS"] == []
    assert s["ALLOWED_HOSTS"] == ["localhost", "127.0.0.1"]
    assert (s["X_FRAME_OPTIONS"], s["SECURE_CONTENT_TYPE_NOSNIFF"], s["SECURE_REFERRER_POLICY"]) == (
        "DENY", True, "same-origin")


def test_plain_http_is_not_redirected_in_local_development(client):
    """This test run has no TOPOLAB_HTTPS: http://127.0.0.1:8000 answers as it always did."""
    assert not settings.SECURE_SSL_REDIRECT
    response = client.get("/")
    assert response.status_code == 200 and "Strict-Transport-Security" not in response


def test_the_secret_key_made_once_is_long_random_and_private(tmp_path):
    s = settings_in(tmp_path)  # makes tmp_path/secret_key
    key_file = tmp_path / "secret_key"
    key = key_file.read_text().strip()
    assert len(key) >= 50 and len(set(key)) >= 5 and not key.startswith("django-insecure")
    assert key_file.stat().st_mode & 0o007 == 0  # nobody but its owner and group reads it
    assert s["DEBUG"] is False
    other = tmp_path / "other"
    settings_in(other)
    assert (other / "secret_key").read_text().strip() != key
