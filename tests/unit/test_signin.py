"""Sign-in and join-code attempt limits (topology/signin.py), sessions that expire, password validators.

Real Redis (the run's own database) holds the counters; every test starts and ends with none.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from tests.unit.test_security import ROOT, SECURITY_VARIABLES
from topology import leases, signin
from topology.models import ApiToken, CourseMember, UserFlags

PASSWORD = "correct-Horse-42"
LIMITED = "Too many failed sign-ins for this user name or from your"


@pytest.fixture(autouse=True)
def no_counters(fast_passwords):
    """No attempt counter of this site before or after the test."""
    def wipe():
        r = leases.client()
        for key in r.scan_iter(f"topolab:{settings.TOPOLAB_SITE}:attempts:*"):
            r.delete(key)
    wipe()
    yield
    wipe()


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.org", PASSWORD)


def sign_in(username, password, client=None, **extra):
    c = client or Client()
    return c, c.post("/login/", {"username": username, "password": password}, **extra)


def signed_in(c: Client) -> bool:
    return settings.SESSION_COOKIE_NAME in c.cookies and bool(c.cookies[settings.SESSION_COOKIE_NAME].value)


def fail(username, times, **extra):
    for _ in range(times):
        _, response = sign_in(username, "wrong", **extra)
        assert response.status_code == 200 and LIMITED not in response.content.decode()


# -- per account -------------------------------------------------------------------------------------------------
def test_five_failures_refuse_even_the_right_password(user):
    _, response = sign_in("alice", PASSWORD)
    assert response.status_code == 302  # it works at first
    fail("alice", 5)
    c, response = sign_in("alice", PASSWORD)
    assert response.status_code == 429
    page = response.content.decode()
    assert LIMITED in page and "Try again in 15 minutes" in page
    assert "do not match" not in page
    assert 890 <= int(response["Retry-After"]) <= 900
    assert not signed_in(c)
    assert c.get("/").status_code == 302  # still signed out


def test_the_answer_does_not_say_whether_the_account_exists(user):
    fail("alice", 5)
    fail("nobody-at-all", 5)
    _, real = sign_in("alice", "wrong")
    _, unknown = sign_in("nobody-at-all", "wrong")
    assert real.status_code == unknown.status_code == 429
    strip = [line for line in real.content.decode().splitlines() if "csrf" not in line and "value=" not in line]
    assert strip == [line for line in unknown.content.decode().splitlines()
                     if "csrf" not in line and "value=" not in line]


def test_the_account_is_the_name_as_typed_normalised(user):
    fail("Alice", 2)
    fail(" alice ", 2)
    fail("ALICE", 1)
    _, response = sign_in("alice", PASSWORD)
    assert response.status_code == 429


def test_a_success_clears_the_accounts_failures(user):
    fail("alice", 4)
    c, response = sign_in("alice", PASSWORD)
    assert response.status_code == 302 and signed_in(c)
    fail("alice", 4)  # four more: the count started again
    _, response = sign_in("alice", PASSWORD)
    assert response.status_code == 302


def test_refused_attempts_do_not_extend_the_window(user, settings):
    settings.TOPOLAB_SIGNIN_WINDOW_SECONDS = 2
    fail("alice", 5)
    for _ in range(3):
        assert sign_in("alice", "wrong")[1].status_code == 429
    assert leases.client().get(signin._key(signin.ACCOUNT, "alice")) == "5"
    time.sleep(2.2)
    _, response = sign_in("alice", PASSWORD)
    assert response.status_code == 302


def test_other_accounts_are_not_limited_by_one(user, django_user_model):
    django_user_model.objects.create_user("bob", None, PASSWORD)
    fail("alice", 5)
    assert sign_in("bob", PASSWORD)[1].status_code == 302


# -- per address -------------------------------------------------------------------------------------------------
def test_twenty_failures_from_one_address_refuse_it(user):
    for i in range(20):
        fail(f"guess{i}", 1, REMOTE_ADDR="203.0.113.7")
    _, response = sign_in("alice", PASSWORD, REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 429 and LIMITED in response.content.decode()
    assert sign_in("alice", PASSWORD, REMOTE_ADDR="203.0.113.8")[1].status_code == 302


def test_forwarded_for_is_ignored_without_a_trusted_proxy(user, settings):
    settings.TOPOLAB_TRUSTED_PROXY = False
    for i in range(20):
        fail(f"guess{i}", 1, REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}")
    _, response = sign_in("alice", PASSWORD, REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR="198.51.100.99")
    assert response.status_code == 429


def test_behind_a_trusted_proxy_the_hop_it_wrote_counts(user, settings):
    settings.TOPOLAB_TRUSTED_PROXY = True
    for i in range(20):
        # What the client sent first varies; the proxy's own hop (the last) does not.
        fail(f"guess{i}", 1, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}, 203.0.113.7")
    _, response = sign_in("alice", PASSWORD, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert response.status_code == 429
    # Another client behind the same proxy is not limited.
    assert sign_in("alice", PASSWORD, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")[1].status_code == 302


def test_client_address():
    class Request:
        def __init__(self, **meta):
            self.META = meta

    assert signin.client_address(Request(REMOTE_ADDR="2001:db8:1:2:3:4:5:6")) == "2001:db8:1:2::/64"
    assert signin.client_address(Request(REMOTE_ADDR="::ffff:192.0.2.1")) == "192.0.2.1"
    assert signin.client_address(Request(REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="198.51.100.1")) == "192.0.2.1"
    with pytest.MonkeyPatch.context() as m:
        m.setattr(settings, "TOPOLAB_TRUSTED_PROXY", True)
        assert signin.client_address(Request(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="a, 198.51.100.1 ")) == \
            "198.51.100.1"
        # A last hop that is no address: the proxy's own address counts.
        assert signin.client_address(Request(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="junk")) == "10.0.0.1"


# -- every way of signing in with a password ---------------------------------------------------------------------
def test_the_admins_sign_in_and_client_login_are_limited_too(user):
    user.is_staff = user.is_superuser = True
    user.save()
    fail("alice", 5)
    c = Client()
    response = c.post("/admin/login/?next=/admin/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200 and not signed_in(c)
    assert Client().login(username="alice", password=PASSWORD) is False


def test_failures_on_the_admins_page_count(user):
    for _ in range(5):
        Client().post("/admin/login/?next=/admin/", {"username": "alice", "password": "wrong"})
    assert sign_in("alice", PASSWORD)[1].status_code == 429


def test_api_tokens_are_not_sign_ins(user):
    _, secret = ApiToken.issue(user, "script")
    fail("alice", 5)
    response = Client().get("/api/v1/topologies", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200


def test_without_redis_sign_in_still_works(user, monkeypatch):
    import redis

    def broken():
        raise redis.ConnectionError("no Redis here")

    monkeypatch.setattr(signin, "leases", SimpleNamespace(client=broken))
    assert sign_in("alice", "wrong")[1].status_code == 200
    assert sign_in("alice", PASSWORD)[1].status_code == 302


# -- passwords and sessions --------------------------------------------------------------------------------------
def test_passwords_follow_djangos_validators(user):
    names = [v["NAME"].rsplit(".", 1)[1] for v in settings.AUTH_PASSWORD_VALIDATORS]
    assert names == ["UserAttributeSimilarityValidator", "MinimumLengthValidator", "CommonPasswordValidator",
                     "NumericPasswordValidator"]
    for weak in ("short-1", "password123", "1234567890123", "alice@example.org"):
        with pytest.raises(ValidationError):
            validate_password(weak, user)
    validate_password("a-Better-pass-42", user)


@pytest.mark.parametrize("weak", ["short-1", "password123", "8416273950", "alice-example"])
def test_the_forced_password_change_refuses_weak_passwords(user, weak):
    UserFlags.objects.create(user=user, must_change_password=True)
    c = Client()
    assert c.login(username="alice", password=PASSWORD)
    response = c.post("/password/change/", {"old_password": PASSWORD, "new_password1": weak, "new_password2": weak})
    assert response.status_code == 200 and "field-error" in response.content.decode()
    assert UserFlags.objects.get(user=user).must_change_password
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_sessions_expire(user):
    assert settings.SESSION_COOKIE_AGE == 12 * 3600
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE is True
    assert settings.SESSION_SAVE_EVERY_REQUEST is False
    c, response = sign_in("alice", PASSWORD)
    cookie = c.cookies[settings.SESSION_COOKIE_NAME]
    assert not cookie["max-age"] and not cookie["expires"]  # ends with the browser
    assert cookie["httponly"]
    session = Session.objects.get(session_key=cookie.value)
    left = (session.expire_date - timezone.now()).total_seconds()
    assert 12 * 3600 - 60 < left <= 12 * 3600
    # Past its age the session is gone: the next page asks to sign in.
    Session.objects.filter(pk=session.pk).update(expire_date=timezone.now())
    assert c.get("/").status_code == 302


def test_session_settings_come_from_the_environment(tmp_path):
    code = ("import django, json; django.setup(); from django.conf import settings as s; print(json.dumps("
            "[s.SESSION_COOKIE_AGE, s.SESSION_EXPIRE_AT_BROWSER_CLOSE, s.TOPOLAB_TRUSTED_PROXY, "
            "s.TOPOLAB_SIGNIN_ACCOUNT_FAILURES, s.TOPOLAB_SIGNIN_ADDRESS_FAILURES, s.TOPOLAB_JOIN_FAILURES]))")

    def read(**env):
        environment = {k: v for k, v in os.environ.items() if k not in SECURITY_VARIABLES}
        environment.update(TOPOLAB_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="labsite.settings", **env)
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    assert read() == [43200, True, False, 5, 20, 10]
    assert read(TOPOLAB_HTTPS="1", TOPOLAB_SESSION_SECONDS="3600", TOPOLAB_SESSION_AT_BROWSER_CLOSE="0",
                TOPOLAB_SIGNIN_ACCOUNT_FAILURES="3", TOPOLAB_SIGNIN_ADDRESS_FAILURES="50",
                TOPOLAB_JOIN_FAILURES="4") == [3600, False, True, 3, 50, 4]
    assert read(TOPOLAB_HTTPS="1", TOPOLAB_TRUSTED_PROXY="0")[2] is False


# -- join codes --------------------------------------------------------------------------------------------------
def join(c, code):
    return c.post("/api/v1/courses/join", json.dumps({"code": code}), content_type="application/json")


def test_ten_wrong_join_codes_then_429(course, bob):
    c = Client()
    c.force_login(bob)
    for _ in range(10):
        assert join(c, "NOPE-NOPE-NOPE-NOPE").status_code == 404
    response = join(c, course.join_code)  # the right code too: hammering stops here
    assert response.status_code == 429
    assert response.json()["detail"].startswith("too many wrong join codes: try again in 15 minutes")
    assert 890 <= int(response["Retry-After"]) <= 900
    assert not CourseMember.objects.filter(course=course, user=bob).exists()
    # Another user is not limited by bob's guesses.
    from django.contrib.auth import get_user_model

    dave = get_user_model().objects.create_user("dave")
    other = Client()
    other.force_login(dave)
    assert join(other, course.join_code).status_code == 201


def test_right_join_codes_do_not_count(course, bob, settings):
    settings.TOPOLAB_JOIN_WINDOW_SECONDS = 2
    c = Client()
    c.force_login(bob)
    for _ in range(9):
        assert join(c, "NOPE-NOPE-NOPE-NOPE").status_code == 404
    for _ in range(3):
        assert join(c, course.join_code).status_code in (200, 201)
    assert join(c, "NOPE-NOPE-NOPE-NOPE").status_code == 404  # the tenth wrong one
    assert join(c, course.join_code).status_code == 429
    time.sleep(2.2)
    assert join(c, course.join_code).status_code == 200


def test_the_join_route_documents_429(client):
    route = client.get("/api/v1/openapi.json").json()["paths"]["/api/v1/courses/join"]["post"]
    assert "429" in route["responses"]
