"""Changing one's password (Django's views), which also ends a one-time password's reign."""
from django.contrib.auth import views as auth_views

from ..models import UserFlags


class PasswordChange(auth_views.PasswordChangeView):
    """Django's password change; once it succeeds, the user is no longer sent here (the flag is cleared)."""

    def form_valid(self, form):
        response = super().form_valid(form)
        UserFlags.objects.filter(user=form.user).update(must_change_password=False)
        return response
