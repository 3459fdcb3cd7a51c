"""Unit tests of API tokens: the ``/tokens/`` page (list, create, revoke) and what a token stores."""
from __future__ import annotations

import hashlib
import re

from django.test import Client

from topology.models import ApiToken

SECRET_RE = re.compile(r"tl_[A-Za-z0-9_-]{43}")


def test_it_needs_a_signed_in_user(db):
    for response in (Client().get("/tokens/"), Client().post("/tokens/", {"name": "x"})):
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert ApiToken.objects.count() == 0


def test_it_stores_only_the_hash_and_a_prefix(alice):
    token, secret = ApiToken.issue(alice, "script")
    assert SECRET_RE.fullmatch(secret)
    assert token.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert token.prefix == secret[:8]
    assert secret not in str(list(ApiToken.objects.values()))
    assert ApiToken.user_for(secret) == alice
    assert ApiToken.user_for(secret + "x") is None and ApiToken.user_for("") is None


def test_it_makes_a_different_secret_each_time(alice):
    secrets = {ApiToken.issue(alice, "t")[1] for _ in range(5)}
    assert len(secrets) == 5


def test_it_creates_a_token_and_shows_its_secret_once(client, alice):
    posted = client.post("/tokens/", {"name": "laptop script"})
    assert posted.status_code == 302 and posted["Location"] == "/tokens/"  # POST/redirect/GET
    response = client.get("/tokens/")
    html = response.content.decode()
    [secret] = set(SECRET_RE.findall(html))
    token = ApiToken.objects.get()
    assert (token.user, token.name, token.key_hash) == (alice, "laptop script", ApiToken.hash(secret))
    assert response["Cache-Control"] == "no-store"
    again = client.get("/tokens/").content.decode()
    assert secret not in again and SECRET_RE.search(again) is None
    assert "laptop script" in again and token.prefix in again and "never" in again


def test_it_refuses_a_token_without_a_name(client):
    response = client.post("/tokens/", {"name": "  "})
    assert response.status_code == 400 and b"Give the token a name" in response.content
    assert ApiToken.objects.count() == 0


def test_it_lists_only_your_tokens(client, alice, bob):
    ApiToken.issue(alice, "mine")
    ApiToken.issue(bob, "bobs-secret-script")
    html = client.get("/tokens/").content.decode()
    assert "mine" in html and "bobs-secret-script" not in html


def test_it_shows_when_a_token_was_last_used(client, alice):
    token, secret = ApiToken.issue(alice, "poller")
    Client().get("/api/v1/topologies", HTTP_AUTHORIZATION=f"Bearer {secret}")
    token.refresh_from_db()
    assert token.last_used is not None
    assert token.last_used.strftime("%Y-%m-%d %H:%M") in client.get("/tokens/").content.decode()


def test_it_revokes_a_token_so_the_api_refuses_it(client, alice):
    token, secret = ApiToken.issue(alice, "script")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    assert Client().get("/api/v1/topologies", **auth).status_code == 200
    response = client.post(f"/tokens/{token.pk}/revoke/")
    assert response.status_code == 302 and response["Location"] == "/tokens/"
    token.refresh_from_db()
    assert token.revoked is not None
    assert Client().get("/api/v1/topologies", **auth).status_code == 401
    assert "revoked" in client.get("/tokens/").content.decode()


def test_it_revokes_only_with_a_post(client, alice):
    token, _ = ApiToken.issue(alice, "script")
    assert client.get(f"/tokens/{token.pk}/revoke/").status_code == 405
    token.refresh_from_db()
    assert token.revoked is None


def test_it_does_not_let_you_revoke_another_users_token(client, bob):
    token, secret = ApiToken.issue(bob, "bobs")
    assert client.post(f"/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked is None
    assert Client().get("/api/v1/topologies", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200


def test_it_enforces_csrf_on_creating_and_revoking(alice):
    token, _ = ApiToken.issue(alice, "script")
    c = Client(enforce_csrf_checks=True)
    c.force_login(alice)
    assert c.post("/tokens/", {"name": "sneaky"}).status_code == 403
    assert c.post(f"/tokens/{token.pk}/revoke/").status_code == 403
    assert ApiToken.objects.count() == 1 and ApiToken.objects.get().revoked is None
    c.get("/tokens/")
    csrf = c.cookies["csrftoken"].value
    assert c.post("/tokens/", {"name": "fine", "csrfmiddlewaretoken": csrf}).status_code == 302
    assert c.post(f"/tokens/{token.pk}/revoke/", {"csrfmiddlewaretoken": csrf}).status_code == 302
    assert ApiToken.objects.count() == 2 and ApiToken.objects.get(pk=token.pk).revoked is not None


def test_it_links_every_page_to_the_tokens_and_the_api_docs(client, alice):
    html = client.get("/tokens/").content.decode()
    assert 'href="/tokens/"' in html and 'href="/api/v1/docs"' in html
    assert client.get("/api/v1/docs").status_code == 200
