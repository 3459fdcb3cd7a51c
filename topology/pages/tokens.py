"""The API tokens page: list your tokens, make one (its secret shown once), revoke one."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from ..models import ApiToken

MAX_NAME = ApiToken._meta.get_field("name").max_length


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request):
    """GET: the list; POST: make a token named by the form's ``name`` and show its secret once."""
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
            context["secret"], context["created_token"] = secret, token
        context["name"] = name if context["error"] else ""
    context["tokens"] = ApiToken.objects.filter(user=request.user).order_by("-created", "-id")
    response = render(request, "topology/tokens.html", context, status=status)
    if context["secret"]:
        response["Cache-Control"] = "no-store"  # the secret must not sit in a cache
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
