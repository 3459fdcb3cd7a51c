"""Unit tests of the pages' honest controls (issue 13): the token page's POST/redirect/GET, the error pages
(Django's real handlers with the site's templates), the list page's name rule, and the import's ``name``."""
from __future__ import annotations

import json
import re

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import include, path

from tests.documents import reference_document
from topology import services
from topology.models import ApiToken, Topology
from topology.pages.tokens import NEW_TOKEN
from topology.schema.messages import PATTERN_HINTS
from topology.schema.models import DOCUMENT_NAME_RE

SECRET_RE = re.compile(r"tl_[A-Za-z0-9_-]{43}")


def _forbidden(request):
    raise PermissionDenied("not yours")


def _broken(request):
    raise RuntimeError("a bug")


# The site's routes, and two that fail (for the 403 and 500 handlers), for the tests marked with this module.
urlpatterns = [
    path("boom/403/", _forbidden),
    path("boom/500/", _broken),
    path("", include("labsite.urls")),
]


# -- the token page -------------------------------------------------------------------------------------------
def test_creating_a_token_redirects_and_the_secret_shows_on_one_get_only(client, alice):
    posted = client.post("/tokens/", {"name": "ci runner"})
    assert posted.status_code == 302 and posted["Location"] == "/tokens/"
    assert SECRET_RE.search(posted.content.decode()) is None  # not in the redirect itself
    token = ApiToken.objects.get()
    assert client.session[NEW_TOKEN]["id"] == token.pk

    shown = client.get("/tokens/")
    [secret] = set(SECRET_RE.findall(shown.content.decode()))
    assert ApiToken.user_for(secret) == alice and shown["Cache-Control"] == "no-store"
    assert 'id="token-copy"' in shown.content.decode()
    assert NEW_TOKEN not in client.session

    again = client.get("/tokens/")  # a reload: no second token, no secret
    assert SECRET_RE.search(again.content.decode()) is None and "ci runner" in again.content.decode()
    assert ApiToken.objects.count() == 1


def test_a_refused_token_name_answers_the_form_again_without_a_redirect(client):
    response = client.post("/tokens/", {"name": "x" * 101})
    assert response.status_code == 400 and b"longer than 100" in response.content
    assert ApiToken.objects.count() == 0 and NEW_TOKEN not in client.session


def test_a_secret_in_the_session_shows_only_to_its_owner(client, alice, bob):
    token, secret = ApiToken.issue(bob, "bobs")
    session = client.session
    session[NEW_TOKEN] = {"id": token.pk, "secret": secret}
    session.save()
    assert secret not in client.get("/tokens/").content.decode()


# -- the error pages ------------------------------------------------------------------------------------------
def test_a_page_that_is_not_found_has_the_header_and_a_way_back(client, alice, settings):
    settings.DEBUG = False
    response = client.get("/no/such/page/")
    html = response.content.decode()
    assert response.status_code == 404
    assert 'class="topbar"' in html and 'id="account-toggle"' in html and "Back to your topologies" in html
    assert "/no/such/page/" in html


@pytest.mark.urls(__name__)
def test_a_refusal_has_the_header_and_a_way_back(client, alice, settings):
    settings.DEBUG = False
    response = client.get("/boom/403/")
    html = response.content.decode()
    assert response.status_code == 403 and 'class="topbar"' in html and "Back to your topologies" in html


@pytest.mark.urls(__name__)
def test_a_server_error_has_the_header_and_a_way_back(alice, settings):
    settings.DEBUG = False
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    response = client.get("/boom/500/")
    html = response.content.decode()
    assert response.status_code == 500 and 'class="topbar"' in html and 'href="/"' in html
    assert "a bug" not in html and "Traceback" not in html


def test_the_api_docs_page_has_the_site_header(client, alice):
    html = client.get("/api/v1/docs").content.decode()
    assert 'class="topbar"' in html and "Back to your topologies" in html
    assert 'id="swagger-settings"' in html and "swagger-ui-bundle.js" in html and 'data-api-csrf="true"' in html


# -- the list page's name rule, the import's name -------------------------------------------------------------
def test_the_list_page_has_the_servers_name_rule(client, alice):
    html = client.get("/").content.decode()
    config = json.loads(re.search(r'<script id="list-config" type="application/json">(.*?)</script>', html).group(1))
    assert config["documentName"] == {"pattern": DOCUMENT_NAME_RE, "rule": PATTERN_HINTS[DOCUMENT_NAME_RE]}


def test_an_import_saves_under_another_name_when_given_one(client, alice):
    services.import_topology(alice, reference_document())
    body = json.dumps(reference_document()).encode()

    def upload(**fields):
        return client.post("/api/v1/topologies/import", {"file": SimpleUploadedFile("lab.json", body), **fields})

    refused = upload()
    assert refused.status_code == 400 and refused.json()["errors"][0]["path"] == "name"
    copy = upload(name="router-copy")
    assert copy.status_code == 201 and copy.json()["topology"]["name"] == "router-copy"
    assert Topology.objects.filter(owner=alice).count() == 2
    bad = upload(name="Not A Name")
    assert bad.status_code == 400 and bad.json()["errors"][0]["path"] == "name"
    assert PATTERN_HINTS[DOCUMENT_NAME_RE] in bad.json()["errors"][0]["message"]
