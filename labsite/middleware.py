"""Site-wide HTTP middleware of the web tier."""
from __future__ import annotations

from csp.constants import SELF, UNSAFE_INLINE
from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings


class HeadAsGet:
    """Answer ``HEAD`` exactly as ``GET``, without the body (RFC 9110, 9.3.2), on every view.

    django-ninja registers an operation for the methods it is given, so the API's GET routes
    answered HEAD with 405; so did views that allow only GET and POST. Here the view sees a
    GET, and the answer keeps its status and headers (Content-Length is the GET body's, set by
    CommonMiddleware, which runs inside this one) and loses its body, whatever server runs it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method != "HEAD":
            return self.get_response(request)
        request.method = "GET"
        try:
            response = self.get_response(request)
        finally:
            request.method = "HEAD"
        if response.streaming:
            response.streaming_content = []
        else:
            response.content = b""
        return response


class ContentSecurityPolicy(CSPMiddleware):
    """django-csp's middleware (the policy is settings.CONTENT_SECURITY_POLICY), plus inline styles on
    the pages that hold a terminal (settings.TOPOLAB_CSP_TERMINAL_PAGES, by URL name).

    xterm.js writes <style> elements and style attributes of its own, with contents made at run
    time (its theme, its cell size, 24-bit colours), so no nonce or hash can cover them. Scripts
    stay 'self' only everywhere.
    """

    def get_policy_parts(self, request, response, report_only=False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        match = getattr(request, "resolver_match", None)
        if (not report_only and parts.replace is None and match is not None
                and match.url_name in settings.TOPOLAB_CSP_TERMINAL_PAGES):
            parts.replace = {"style-src": [SELF, UNSAFE_INLINE]}
        return parts


class ForcePasswordChange:
    """A user flagged ``must_change_password`` (a one-time password from a course's CSV) changes it first.

    Every page sends them to ``/password/change/`` (but static files, that page and its "done" page,
    and signing out); the API answers 403 ``{"detail": "change your one-time password first"}``.
    The password-change view clears the flag (:class:`topology.pages.password.PasswordChange`); API
    tokens of a flagged user are refused by the API's authentication (:mod:`topology.api.auth`).
    """

    ALLOWED = ("/password/change/", "/password/change/done/", "/logout/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and self._applies(request.path_info) and must_change(user):
            if request.path_info.startswith("/api/"):
                from django.http import JsonResponse

                return JsonResponse({"detail": "change your one-time password first"}, status=403)
            from django.shortcuts import redirect

            return redirect("password_change")
        return self.get_response(request)

    def _applies(self, path: str) -> bool:
        static = "/" + settings.STATIC_URL.lstrip("/")
        return not (path.startswith(static) or path in self.ALLOWED)


def must_change(user) -> bool:
    """Whether the user still has to change a one-time password."""
    from topology.models import UserFlags

    return UserFlags.objects.filter(user_id=user.pk, must_change_password=True).exists()
