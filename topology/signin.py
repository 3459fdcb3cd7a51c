"""Attempt limits (web side): sign-ins per account and per client address, old passwords when changing one's
password, wrong join codes per user.

Each limit is a counter in Redis (the leases' connection, :func:`topology.leases.client`) whose key
expires a window after its first count: ``limit`` counts within ``window`` seconds refuse every
further attempt, a correct one too, until the key expires (its time to live is the "try again in").
Keys hold a hash of what they count, never a typed user name or an address in clear.

Sign-ins and old passwords are counted BEFORE the password is checked, in one Redis script that also
refuses (:func:`attempt`): concurrent guesses cannot all see a count below the limit, so at most ``limit``
passwords are ever checked per window. What turns out right is then given back (:func:`release`) or
forgets the count (:func:`clear`), so the counters hold failures, as a reader expects.

Sign-in (settings ``TOPOLAB_SIGNIN_ACCOUNT_FAILURES``, ``TOPOLAB_SIGNIN_ADDRESS_FAILURES``,
``TOPOLAB_SIGNIN_WINDOW_SECONDS``):

- :class:`AttemptLimit`, the first of ``AUTHENTICATION_BACKENDS``, counts the attempt for the account as
  typed and the caller's address, or refuses it (``PermissionDenied``, which ends Django's
  ``authenticate`` before the password is checked) when either is at its limit. So every way of signing
  in with a password is limited alike: the sign-in page, the admin's, ``Client.login``. A refused attempt
  counts nothing (the window is not extended, nor the count raised, by hammering).
- ``user_logged_in`` clears the account's count and gives the address back the attempt that succeeded
  (without clearing it: one address may try many accounts, and a classroom behind one address signs in
  many times).
- :class:`SignIn` (the ``login/`` page) says that sign-in is limited and when to retry, in the same words
  whether or not the account exists (the counter is of the name as typed), and answers 429.

The account is the user name as typed, normalised (NFKC, surrounding spaces dropped, case folded): "Alice"
and "alice " share one counter. The address is ``REMOTE_ADDR``; behind a trusted proxy
(``TOPOLAB_TRUSTED_PROXY``, on with ``TOPOLAB_HTTPS``) it is the last address of ``X-Forwarded-For``, the
one the proxy itself wrote (the hops before it are whatever the client sent). An IPv6 address counts as
its /64, which one host usually has whole.

API tokens are not sign-ins: they never go through ``authenticate``.

Changing one's password (:func:`old_password_attempt`, used by :mod:`topology.pages.password`): wrong old
passwords per user, at most ``TOPOLAB_SIGNIN_ACCOUNT_FAILURES`` per ``TOPOLAB_SIGNIN_WINDOW_SECONDS`` (a
session is no licence to guess its account's password faster than the sign-in page allows); the right one
clears the count. Its own counter: a signed-in user's guesses do not lock the account's sign-in.

Join codes (``TOPOLAB_JOIN_FAILURES`` wrong codes per user per ``TOPOLAB_JOIN_WINDOW_SECONDS``):
:func:`join_attempt` and :func:`join_right`, used by :func:`topology.courses.join`.

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
from django.contrib.auth import user_logged_in
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.exceptions import PermissionDenied, ValidationError
from django.dispatch import receiver

from . import leases

log = logging.getLogger(__name__)

ACCOUNT, ADDRESS, JOIN, OLD_PASSWORD = "signin-account", "signin-address", "join", "old-password"
#: The request attribute on which :class:`AttemptLimit` leaves what it did (a :class:`SignInAttempt`).
MARK = "topolab_signin_attempt"


# -- counters --------------------------------------------------------------------------------------------------
def _key(kind: str, ident: str) -> str:
    digest = hashlib.sha256(f"{kind}\x00{ident}".encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return f"topolab:{settings.TOPOLAB_SITE}:attempts:{kind}:{digest}"



# Counts one attempt on every key (KEYS; ARGV[1] the window in seconds, ARGV[1 + i] the limit of KEYS[i]),
# or none when any key is at its limit: then it answers the longest time to live (ms) of those at it.
# One script, so no other attempt can count between the reading and the counting.
_ATTEMPT = """
local refused = 0
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[i + 1]) then
    local ttl = redis.call('PTTL', key)
    if ttl > refused then refused = ttl end
  end
end
if refused > 0 then return refused end
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 or redis.call('PTTL', key) < 0 then
    redis.call('EXPIRE', key, ARGV[1])
  end
end
return 0
"""

# Takes one count back, if the key still holds one (it may have expired since: then there is nothing to take).
_RELEASE = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 1 then redis.call('DECR', KEYS[1]) elseif count == 1 then redis.call('DEL', KEYS[1]) end
return count
"""


def attempt(counters, window: int) -> int | None:
    """Counts one attempt on every ``(kind, ident, limit)`` of ``counters`` before it is made, atomically.

    Answers 0 when counted (go ahead), the seconds to wait when refused because a counter is at its limit
    (then nothing is counted), None when Redis cannot be reached (let through, uncounted)."""
    counters = list(counters)
    keys = [_key(kind, ident) for kind, ident, _ in counters]
    try:
        client = leases.client()
        refused_ms = int(client.register_script(_ATTEMPT)(keys=keys, args=[int(window)] + [int(c[2]) for c in counters]))
    except redis.RedisError as exc:
        log.error("attempt limit %s: cannot count an attempt: %s", "+".join(c[0] for c in counters), exc)
        return None
    return max(1, math.ceil(refused_ms / 1000)) if refused_ms > 0 else 0


def release(kind: str, ident: str) -> None:
    """Gives back one attempt :func:`attempt` counted for ``ident``: it turned out not to be a failure."""
    try:
        client = leases.client()
        client.register_script(_RELEASE)(keys=[_key(kind, ident)])
    except redis.RedisError as exc:
        log.error("attempt limit %s: cannot give an attempt back: %s", kind, exc)


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
        return 0  # (a key without a time to live cannot be: attempt sets both in one script)
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
    """Seconds until this sign-in may be tried (0: now): the longer of the account's and the address's waits.

    A reading only, for pages that tell; what refuses is :class:`AttemptLimit`, which reads and counts at once."""
    waits = [wait(ACCOUNT, account(username), settings.TOPOLAB_SIGNIN_ACCOUNT_FAILURES)]
    if request is not None:
        waits.append(wait(ADDRESS, client_address(request), settings.TOPOLAB_SIGNIN_ADDRESS_FAILURES))
    return max(waits)


class SignInAttempt:
    """What :class:`AttemptLimit` did with one sign-in, left on its request: the seconds it must wait if
    refused (0: it went ahead), and the address it counted an attempt for (None: none, or given back)."""

    def __init__(self, refused_for: int, address: str | None):
        self.refused_for = refused_for
        self.address = address


class AttemptLimit:
    """The first authentication backend: counts every password sign-in for its account and address before
    the password is checked, or refuses it while either is at its limit.

    It authenticates nobody itself (no ``get_user``: sessions name the backend that did). Raising
    ``PermissionDenied`` stops Django's ``authenticate`` before the password is even checked.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            return None  # not a password sign-in
        counters = [(ACCOUNT, account(username), settings.TOPOLAB_SIGNIN_ACCOUNT_FAILURES)]
        if request is not None:
            counters.append((ADDRESS, client_address(request), settings.TOPOLAB_SIGNIN_ADDRESS_FAILURES))
        refused_for = attempt(counters, settings.TOPOLAB_SIGNIN_WINDOW_SECONDS)
        if request is not None:
            # The address to give back if the password is right (only what was counted is given back).
            counted = counters[1][1] if refused_for == 0 else None
            setattr(request, MARK, SignInAttempt(refused_for or 0, counted))
        if refused_for:
            raise PermissionDenied("too many failed sign-ins")
        return None


@receiver(user_logged_in, dispatch_uid="topology.signin.succeeded")
def _signed_in(sender, user=None, request=None, **kwargs) -> None:
    if user is not None:
        clear(ACCOUNT, account(user.get_username()))
    done = getattr(request, MARK, None) if request is not None else None
    if isinstance(done, SignInAttempt) and done.address is not None:
        release(ADDRESS, done.address)  # a success is no failure of the address; its other counts stay
        done.address = None


# -- the sign-in page ------------------------------------------------------------------------------------------
class SignInForm(AuthenticationForm):
    """Django's sign-in form, saying so when :class:`AttemptLimit` refused the attempt (before any password was checked)."""

    limited_error = ("Too many failed sign-ins for this user name or from your address. "
                     "Try again in %(wait)s.")

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.limited_for = 0

    def clean(self):
        try:
            return super().clean()
        except ValidationError:
            done = getattr(self.request, MARK, None) if self.request is not None else None
            if isinstance(done, SignInAttempt) and done.refused_for:
                self.limited_for = done.refused_for
                raise ValidationError(self.limited_error, code="limited",
                                      params={"wait": in_words(self.limited_for)}) from None
            raise

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
def _person(user) -> str:
    # The account, not just its number: a number SQLite gives again after the last account was deleted
    # does not inherit that account's count.
    joined = getattr(user, "date_joined", None)
    return f"{user.pk}:{joined.timestamp() if joined else ''}"


def join_attempt(user) -> int | None:
    """Counts one join code typed by ``user`` before it is looked up; as :func:`attempt` answers (counted
    first, so that codes sent at once cannot all pass the limit)."""
    return attempt([(JOIN, _person(user), settings.TOPOLAB_JOIN_FAILURES)], settings.TOPOLAB_JOIN_WINDOW_SECONDS)


def join_right(user) -> None:
    """The code ``user`` typed was a course's: its attempt is given back (only wrong codes count)."""
    release(JOIN, _person(user))


# -- the old password when changing it -------------------------------------------------------------------------
def old_password_attempt(user) -> int | None:
    """Counts one try of ``user``'s old password before it is checked; as :func:`attempt` answers."""
    return attempt([(OLD_PASSWORD, _person(user), settings.TOPOLAB_SIGNIN_ACCOUNT_FAILURES)],
                   settings.TOPOLAB_SIGNIN_WINDOW_SECONDS)


def old_password_right(user) -> None:
    """``user`` typed the right old password: their count of wrong ones is forgotten."""
    clear(OLD_PASSWORD, _person(user))
