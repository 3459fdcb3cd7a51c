"""The API tokens page: list your tokens, make one (its secret shown once, after a redirect), revoke one."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from ..models import ApiToken

MAX_NAME = ApiToken._meta.get_field("name").max_length


# The session key that holds a new token's secret between the POST that made it and the one GET that shows it.
NEW_TOKEN = "topolab-new-token"


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request):
    """GET: the list; POST: make a token named by the form's ``name``, then redirect (POST/redirect/GET).

    The secret travels to the next GET in the session (server-side rows: it never sits in a cookie) and is
    taken out as it is shown, so it shows once: a reload of that page, or the Back button, does not make a
    second token and does not show the secret again. A refused name answers the form again (400), unsaved.
    """
    context = {"secret": None, "error": "", "name": ""}
    status = 200
    if request.method == "POST":
        name = request.POST.get("name", "").strip()
        if not name:
            context["error"], status = "Give the token a name (what will use it, e.g. 'laptop script').", 400
        elif len(name) > MAX_NAME:
            context["error"], status = f"The name is longer than {MAX_NAME} characters.", 400
        else:
            token, secret = ApiToken.issue(request.user, name)
            request.session[NEW_TOKEN] = {"id": token.pk, "secret": secret}
            return redirect("api-tokens")
        context["name"] = name
    else:
        fresh = request.session.pop(NEW_TOKEN, None)
        if fresh:
            context["created_token"] = ApiToken.objects.filter(pk=fresh.get("id"), user=request.user).first()
            context["secret"] = fresh.get("secret") if context["created_token"] else None
    context["tokens"] = ApiToken.objects.filter(user=request.user).order_by("-created", "-id")
    response = render(request, "topology/tokens.html", context, status=status)
    if context["secret"]:
        response["Cache-Control"] = "no-store"  # the secret must not sit in a cache (nor come back with Back)
    return response


@login_required
@require_POST
def revoke(request, pk: int):
    """Revoke one of your tokens (another user's is a 404)."""
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    if token.revoked is None:
        token.revoked = timezone.now()
        token.save(update_fields=["revoked"])
    return redirect("api-tokens")
