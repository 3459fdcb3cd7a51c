"""Who is calling the API: a bearer token (scripts) or the browser's session (with CSRF on unsafe methods)."""
from __future__ import annotations

from django.http import HttpRequest
from ninja.errors import HttpError
from ninja.security import HttpBearer, SessionAuth
from ninja.utils import check_csrf

from ..models import ApiToken, UserFlags


class TokenBearer(HttpBearer):
    """``Authorization: Bearer tl_...``: a token made on the tokens page, not revoked."""

    def authenticate(self, request: HttpRequest, token: str):
        user = ApiToken.user_for(token.strip())
        if user is not None and UserFlags.objects.filter(user_id=user.pk, must_change_password=True).exists():
            raise HttpError(403, "change your one-time password first")
        return user


class SessionWithCsrf(SessionAuth):
    """Django's session; unsafe methods also need the CSRF token (header ``X-CSRFToken``).

    Unlike ninja's own, a request without a signed-in session is simply not
    authenticated here (401), instead of failing the CSRF check first (403).
    """

    def __call__(self, request: HttpRequest):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if self.csrf and not getattr(request, "_ninja_csrf_exempt", False) and check_csrf(request):
            raise HttpError(403, "CSRF check failed: send the csrftoken cookie's value in an X-CSRFToken header")
        return user
