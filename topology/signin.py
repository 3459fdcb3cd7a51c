"""Attempt limits (web side): failed sign-ins per account and per client address, wrong join codes per user.

Each limit is a counter in Redis (the leases' connection, :func:`topology.leases.client`) whose key
expires a window after its first failure: ``limit`` failures within ``window`` seconds refuse every
further attempt, a correct one too, until the key expires (its time to live is the "try again in").
Keys hold a hash of what they count, never a typed user name or an address in clear.

Sign-in (settings ``TOPOLAB_SIGNIN_ACCOUNT_FAILURES``, ``TOPOLAB_SIGNIN_ADDRESS_FAILURES``,
``TOPOLAB_SIGNIN_WINDOW_SECONDS``):

- :class:`AttemptLimit`, the first of ``AUTHENTICATION_BACKENDS``, refuses (``PermissionDenied``, which
  ends Django's ``authenticate``) while the account as typed or the caller's address is limited. So every
  way of signing in with a password is limited alike: the sign-in page, the admin's, ``Client.login``.
- Django's ``user_login_failed`` signal counts a failure for the account and the address; a refusal
  because of the limit is not counted again (the window is not extended by hammering).
- ``user_logged_in`` clears the account's failures (not the address's: one address may try many accounts).
- :class:`SignIn` (the ``login/`` page) says that sign-in is limited and when to retry, in the same words
  whether or not the account exists (the counter is of the name as typed), and answers 429.

The account is the user name as typed, normalised (NFKC, surrounding spaces dropped, case folded): "Alice"
and "alice " share one counter. The address is ``REMOTE_ADDR``; behind a trusted proxy
(``TOPOLAB_TRUSTED_PROXY``, on with ``TOPOLAB_HTTPS``) it is the last address of ``X-Forwarded-For``, the
one the proxy itself wrote (the hops before it are whatever the client sent). An IPv6 address counts as
its /64, which one host usually has whole.

API tokens are not sign-ins: they never go through ``authenticate``.

Join codes (``TOPOLAB_JOIN_FAILURES`` wrong codes per user per ``TOPOLAB_JOIN_WINDOW_SECONDS``):
:func:`join_wait` and :func:`join_failed`, used by :func:`topology.courses.join`.

When Redis cannot be reached, attempts are let through (and the failure logged): the limits slow guessing
down, they are not what keeps an account safe (its password is).
"""
from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import unicodedata

import redis
from django.conf import settings
from django.contrib.auth import user_logged_in, user_login_failed
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.exceptions import PermissionDenied, ValidationError
from django.dispatch import receiver

from . import leases

log = logging.getLogger(__name__)

ACCOUNT, ADDRESS, JOIN = "signin-account", "signin-address", "join"


# -- counters --------------------------------------------------------------------------------------------------
def _key(kind: str, ident: str) -> str:
    digest = hashlib.sha256(f"{kind}\x00{ident}".encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return f"topolab:{settings.TOPOLAB_SITE}:attempts:{kind}:{digest}"


def count_failure(kind: str, ident: str, window: int) -> int:
    """One more failure of ``ident``; the first of a window starts its clock. Answers the count (0 if unknown)."""
    key = _key(kind, ident)
    try:
        pipe = leases.client().pipeline()
        pipe.incr(key)
        pipe.expire(key, int(window), nx=True)
        count, _ = pipe.execute()
    except redis.RedisError as exc:
        log.error("attempt limit %s: cannot count a failure: %s", kind, exc)
        return 0
    return int(count)


def wait(kind: str, ident: str, limit: int) -> int:
    """Seconds until ``ident`` may try again (0: now): it has failed ``limit`` times in the current window."""
    key = _key(kind, ident)
    try:
        pipe = leases.client().pipeline()
        pipe.get(key)
        pipe.pttl(key)
        count, ttl_ms = pipe.execute()
    except redis.RedisError as exc:
        log.error("attempt limit %s: cannot read the count: %s", kind, exc)
        return 0
    if count is None or int(count) < int(limit) or ttl_ms is None or ttl_ms < 0:
        return 0  # (a key without a time to live cannot be: count_failure sets both in one transaction)
    return max(1, math.ceil(ttl_ms / 1000))


def clear(kind: str, ident: str) -> None:
    """Forget ``ident``'s failures."""
    try:
        leases.client().delete(_key(kind, ident))
    except redis.RedisError as exc:
        log.error("attempt limit %s: cannot clear: %s", kind, exc)


def in_words(seconds: int) -> str:
    """``"14 minutes"``, ``"1 minute"``, ``"40 seconds"``: a wait as the pages say it."""
    if seconds >= 60:
        minutes = math.ceil(seconds / 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


# -- who is signing in -----------------------------------------------------------------------------------------
def account(username) -> str:
    """The account a sign-in names, as counted: the user name as typed, normalised."""
    return unicodedata.normalize("NFKC", str(username or "")).strip().casefold()[:255]


def _normal_address(text: str) -> str | None:
    try:
        address = ipaddress.ip_address(text.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def client_address(request) -> str:
    """The caller's address as counted: ``REMOTE_ADDR``, or behind a trusted proxy the last
    ``X-Forwarded-For`` hop (the one the proxy wrote); an IPv6 address as its /64."""
    meta = getattr(request, "META", {}) or {}
    remote = str(meta.get("REMOTE_ADDR", ""))
    if settings.TOPOLAB_TRUSTED_PROXY:
        hops = [h for h in str(meta.get("HTTP_X_FORWARDED_FOR", "")).split(",") if h.strip()]
        if hops and (found := _normal_address(hops[-1])):
            return found
    return _normal_address(remote) or remote or "unknown"


def signin_wait(request, username) -> int:
    """Seconds until this sign-in may be tried (0: now): the longer of the account's and the address's waits."""
    waits = [wait(ACCOUNT, account(username), settings.TOPOLAB_SIGNIN_ACCOUNT_FAILURES)]
    if request is not None:
        waits.append(wait(ADDRESS, client_address(request), settings.TOPOLAB_SIGNIN_ADDRESS_FAILURES))
    return max(waits)


class AttemptLimit:
    """The first authentication backend: refuses every password sign-in while its account or address is limited.

    It authenticates nobody itself (no ``get_user``: sessions name the backend that did). Raising
    ``PermissionDenied`` stops Django's ``authenticate`` before the password is even checked.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is not None and signin_wait(request, username):
            raise PermissionDenied("too many failed sign-ins")
        return None


@receiver(user_login_failed, dispatch_uid="topology.signin.failed")
def _count_failed_signin(sender, credentials=None, request=None, **kwargs) -> None:
    username = (credentials or {}).get("username")
    if username is None or signin_wait(request, username):
        return  # not a password sign-in, or refused by the limit itself: not counted again
    window = settings.TOPOLAB_SIGNIN_WINDOW_SECONDS
    count_failure(ACCOUNT, account(username), window)
    if request is not None:
        count_failure(ADDRESS, client_address(request), window)


@receiver(user_logged_in, dispatch_uid="topology.signin.succeeded")
def _clear_account(sender, user=None, request=None, **kwargs) -> None:
    if user is not None:
        clear(ACCOUNT, account(user.get_username()))


# -- the sign-in page ------------------------------------------------------------------------------------------
class SignInForm(AuthenticationForm):
    """Django's sign-in form, refusing (before any password is checked) while the attempt is limited."""

    limited_error = ("Too many failed sign-ins for this user name or from your address. "
                     "Try again in %(wait)s.")

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.limited_for = 0

    def clean(self):
        username = self.cleaned_data.get("username")
        if username is not None and self.cleaned_data.get("password"):
            self.limited_for = signin_wait(self.request, username)
            if self.limited_for:
                raise ValidationError(self.limited_error, code="limited", params={"wait": in_words(self.limited_for)})
        return super().clean()

    @property
    def retry_in(self) -> str:
        """The wait, in words, for the page."""
        return in_words(self.limited_for) if self.limited_for else ""


class SignIn(LoginView):
    """``/login/``: Django's sign-in with :class:`SignInForm`; a limited attempt answers 429 with Retry-After."""

    form_class = SignInForm
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.limited_for:
            response.status_code = 429
            response["Retry-After"] = str(form.limited_for)
        return response


# -- join codes ------------------------------------------------------------------------------------------------
def _joiner(user) -> str:
    # The account, not just its number: a number SQLite gives again after the last account was deleted
    # does not inherit that account's count.
    joined = getattr(user, "date_joined", None)
    return f"{user.pk}:{joined.timestamp() if joined else ''}"


def join_wait(user) -> int:
    """Seconds until ``user`` may type a join code again (0: now)."""
    return wait(JOIN, _joiner(user), settings.TOPOLAB_JOIN_FAILURES)


def join_failed(user) -> None:
    """``user`` typed a code that is no course's."""
    count_failure(JOIN, _joiner(user), settings.TOPOLAB_JOIN_WINDOW_SECONDS)
