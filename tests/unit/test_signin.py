"""Sign-in and join-code attempt limits (topology/signin.py), sessions that expire, password validators.

Real Redis (the run's own database) holds the counters; every test starts and ends with none.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.test import Client, RequestFactory
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


def test_without_redis_sign_in_still_works(user, monkeypatch, caplog):
    import redis

    def broken():
        raise redis.ConnectionError("no Redis here")

    monkeypatch.setattr(signin, "leases", SimpleNamespace(client=broken))
    assert sign_in("alice", "wrong")[1].status_code == 200
    assert sign_in("alice", PASSWORD)[1].status_code == 302
    assert "cannot count an attempt: no Redis here" in caplog.text


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


def test_concurrent_wrong_join_codes_are_looked_up_at_most_the_limit(course, bob, monkeypatch):
    """Codes sent at once are counted before they are looked up: 30 at once look up 10, the rest wait."""
    from concurrent.futures import ThreadPoolExecutor

    from topology import courses
    from topology.models import Course

    looked_up = []
    real_filter = Course.objects.filter

    def slow_filter(*args, **kwargs):
        if "join_code" in kwargs:
            looked_up.append(kwargs["join_code"])
            time.sleep(0.2)  # every request is past the limit check before any look-up ends
        return real_filter(*args, **kwargs)

    monkeypatch.setattr(Course.objects, "filter", slow_filter)

    def guess(i):
        try:
            courses.join(bob, f"NOPE-NOPE-NOPE-{i:04d}")
        except courses.TooManyCodes:
            return "429"
        except courses.NotFound:
            return "404"
        finally:
            from django.db import connection

            connection.close()

    with ThreadPoolExecutor(30) as pool:
        answers = list(pool.map(guess, range(30)))
    assert answers.count("404") == settings.TOPOLAB_JOIN_FAILURES == 10 and answers.count("429") == 20
    assert len(looked_up) == 10


def test_the_join_route_documents_429(client):
    route = client.get("/api/v1/openapi.json").json()["paths"]["/api/v1/courses/join"]["post"]
    assert "429" in route["responses"]


# -- concurrent guesses ------------------------------------------------------------------------------------------
def race(monkeypatch, guesses):
    """Runs every ``(request, username)`` of ``guesses`` through ``authenticate`` at once, each in its own thread,
    and answers the user names whose password was checked (ModelBackend reached) and what each call answered.

    The check is made slow (as a real hasher is) so that every guess is in flight while the others count."""
    from django.contrib.auth.backends import ModelBackend
    from django.db import connection

    checked, lock = [], threading.Lock()
    real = ModelBackend.authenticate

    def slow_check(self, request, username=None, password=None, **kwargs):
        with lock:
            checked.append(username)
        time.sleep(0.3)
        return real(self, request, username=username, password=password, **kwargs)

    monkeypatch.setattr(ModelBackend, "authenticate", slow_check)
    start = threading.Barrier(len(guesses))
    answers = [Exception("not run")] * len(guesses)

    def guess(i, request, username):
        try:
            start.wait(timeout=30)
            answers[i] = authenticate(request, username=username, password="wrong")
        except Exception as exc:  # noqa: BLE001 (reported by the assertion below)
            answers[i] = exc
        finally:
            connection.close()  # this thread's own database connection

    threads = [threading.Thread(target=guess, args=(i, request, username)) for i, (request, username) in enumerate(guesses)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert answers == [None] * len(guesses)
    return checked


def test_concurrent_guesses_of_one_account_check_at_most_the_limit(user, monkeypatch):
    factory = RequestFactory()
    guesses = [(factory.post("/login/", REMOTE_ADDR=f"198.51.100.{i}"), "alice") for i in range(25)]
    checked = race(monkeypatch, guesses)
    assert len(checked) == settings.TOPOLAB_SIGNIN_ACCOUNT_FAILURES == 5
    assert leases.client().get(signin._key(signin.ACCOUNT, "alice")) == "5"
    assert sign_in("alice", PASSWORD)[1].status_code == 429


def test_concurrent_guesses_from_one_address_check_at_most_the_limit(user, monkeypatch):
    factory = RequestFactory()
    guesses = [(factory.post("/login/", REMOTE_ADDR="203.0.113.7"), f"guess{i}") for i in range(40)]
    checked = race(monkeypatch, guesses)
    assert len(checked) == settings.TOPOLAB_SIGNIN_ADDRESS_FAILURES == 20
    assert sign_in("alice", PASSWORD, REMOTE_ADDR="203.0.113.7")[1].status_code == 429
    assert sign_in("alice", PASSWORD, REMOTE_ADDR="203.0.113.8")[1].status_code == 302


def test_successes_from_one_address_neither_count_nor_clear_its_failures(user):
    # A classroom behind one address signs in far more often than the address limit.
    for _ in range(settings.TOPOLAB_SIGNIN_ADDRESS_FAILURES + 5):
        assert sign_in("alice", PASSWORD, REMOTE_ADDR="203.0.113.7")[1].status_code == 302
    assert leases.client().get(signin._key(signin.ADDRESS, "203.0.113.7")) is None
    for i in range(19):
        fail(f"guess{i}", 1, REMOTE_ADDR="203.0.113.7")
    for _ in range(3):
        assert sign_in("alice", PASSWORD, REMOTE_ADDR="203.0.113.7")[1].status_code == 302
    assert leases.client().get(signin._key(signin.ADDRESS, "203.0.113.7")) == "19"
    fail("guess19", 1, REMOTE_ADDR="203.0.113.7")  # the twentieth failure
    assert sign_in("alice", PASSWORD, REMOTE_ADDR="203.0.113.7")[1].status_code == 429


def test_only_a_counted_sign_in_gives_its_attempt_back(user):
    fail("guess", 1)
    assert leases.client().get(signin._key(signin.ADDRESS, "127.0.0.1")) == "1"
    c = Client()
    c.force_login(user)  # no password, no attempt counted: nothing to give back
    Client().login(username="alice", password=PASSWORD)  # no request: no address counted
    assert leases.client().get(signin._key(signin.ADDRESS, "127.0.0.1")) == "1"


def test_giving_back_after_the_window_ended_leaves_no_counter(settings):
    settings.TOPOLAB_SIGNIN_WINDOW_SECONDS = 1
    assert signin.attempt([(signin.ADDRESS, "192.0.2.1", 3)], 1) == 0
    assert 0 < leases.client().pttl(signin._key(signin.ADDRESS, "192.0.2.1")) <= 1000
    time.sleep(1.2)
    signin.release(signin.ADDRESS, "192.0.2.1")
    assert leases.client().exists(signin._key(signin.ADDRESS, "192.0.2.1")) == 0


def test_an_attempt_is_refused_whole_when_one_counter_is_at_its_limit():
    for _ in range(2):
        assert signin.attempt([(signin.ACCOUNT, "x", 2)], 60) == 0
    assert 55 <= signin.attempt([(signin.ADDRESS, "192.0.2.1", 20), (signin.ACCOUNT, "x", 2)], 60) <= 60
    assert leases.client().get(signin._key(signin.ADDRESS, "192.0.2.1")) is None  # not counted either
    assert leases.client().get(signin._key(signin.ACCOUNT, "x")) == "2"


# -- the old password when changing it ---------------------------------------------------------------------------
WRONG_OLD = "Your old password was entered incorrectly"
LIMITED_OLD = "Too many wrong current passwords. Try again in 15 minutes."
NEW = "a-Better-pass-42"


def change(c, old, new=NEW, again=None):
    return c.post("/password/change/", {"old_password": old, "new_password1": new, "new_password2": again or new})


def test_wrong_old_passwords_are_limited(user, django_user_model):
    UserFlags.objects.create(user=user, must_change_password=True)
    c = Client()
    c.force_login(user)
    for _ in range(5):
        response = change(c, "wrong")
        assert response.status_code == 200 and WRONG_OLD in response.content.decode()
    response = change(c, PASSWORD)  # the right one too, now
    assert response.status_code == 429
    page = response.content.decode()
    assert LIMITED_OLD in page and WRONG_OLD not in page
    assert 890 <= int(response["Retry-After"]) <= 900
    user.refresh_from_db()
    assert user.check_password(PASSWORD) and UserFlags.objects.get(user=user).must_change_password
    # Per user: bob is not limited by alice's guesses; and alice's sign-in has its own counter.
    bob = django_user_model.objects.create_user("bob", None, PASSWORD)
    other = Client()
    other.force_login(bob)
    assert change(other, PASSWORD).status_code == 302
    assert sign_in("alice", PASSWORD)[1].status_code == 302


def test_the_right_old_password_clears_the_count(user, settings):
    c = Client()
    c.force_login(user)
    for _ in range(4):
        assert change(c, "wrong").status_code == 200
    response = change(c, PASSWORD, NEW, "not-the-same-42")  # right old password, new ones differ
    assert response.status_code == 200 and WRONG_OLD not in response.content.decode()
    for _ in range(4):
        assert change(c, "wrong").status_code == 200  # four more: the count started again
    assert change(c, PASSWORD).status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW)


def test_the_old_password_limit_ends_with_its_window(user, settings):
    settings.TOPOLAB_SIGNIN_WINDOW_SECONDS = 2
    c = Client()
    c.force_login(user)
    for _ in range(5):
        assert change(c, "wrong").status_code == 200
    assert change(c, PASSWORD).status_code == 429
    time.sleep(2.2)
    assert change(c, PASSWORD).status_code == 302


def test_concurrent_old_password_guesses_check_at_most_the_limit(user, monkeypatch):
    from topology.pages.password import LimitedPasswordChangeForm

    checked, lock = [], threading.Lock()
    real = type(user).check_password

    def slow_check(self, raw):
        with lock:
            checked.append(raw)
        time.sleep(0.3)  # as a real hasher: every guess is in flight while the others count
        return real(self, raw)

    monkeypatch.setattr(type(user), "check_password", slow_check)
    start = threading.Barrier(20)
    valid = []

    def guess(i):
        start.wait(timeout=30)
        form = LimitedPasswordChangeForm(user, {"old_password": f"wrong{i}", "new_password1": NEW, "new_password2": NEW})
        valid.append((form.is_valid(), form.limited_for))

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(valid) == 20 and not any(ok for ok, _ in valid)
    assert len(checked) == settings.TOPOLAB_SIGNIN_ACCOUNT_FAILURES == 5
    assert sum(1 for _, limited in valid if limited) == 15


def test_without_redis_the_password_can_still_be_changed(user, monkeypatch, caplog):
    import redis

    def broken():
        raise redis.ConnectionError("no Redis here")

    monkeypatch.setattr(signin, "leases", SimpleNamespace(client=broken))
    c = Client()
    c.force_login(user)
    assert change(c, "wrong").status_code == 200
    assert change(c, PASSWORD).status_code == 302
    assert "attempt limit old-password: cannot count an attempt: no Redis here" in caplog.text
