"""Changing one's password (Django's views), which also ends a one-time password's reign.

The old password is a password check like a sign-in: wrong ones are limited per user
(:func:`topology.signin.old_password_attempt`), counted before the check so that concurrent tries cannot
slip past the limit.
"""
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordChangeForm
from django.core.exceptions import ValidationError
from django.views.decorators.debug import sensitive_variables

from .. import signin
from ..models import UserFlags


class LimitedPasswordChangeForm(PasswordChangeForm):
    """Django's password change form, refusing (without checking it) the old password of a user who has
    typed too many wrong ones lately."""

    limited_error = "Too many wrong current passwords. Try again in %(wait)s."

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.limited_for = 0

    @sensitive_variables("old_password")
    def clean_old_password(self):
        waiting = signin.old_password_attempt(self.user)
        if waiting:
            self.limited_for = waiting
            raise ValidationError(self.limited_error, code="limited", params={"wait": signin.in_words(waiting)})
        old_password = super().clean_old_password()  # a wrong one raises; its attempt stays counted
        signin.old_password_right(self.user)
        return old_password


class PasswordChange(auth_views.PasswordChangeView):
    """Django's password change; once it succeeds, the user is no longer sent here (the flag is cleared).
    Too many wrong old passwords answer 429 with Retry-After."""

    form_class = LimitedPasswordChangeForm

    def form_valid(self, form):
        response = super().form_valid(form)
        UserFlags.objects.filter(user=form.user).update(must_change_password=False)
        return response

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.limited_for:
            response.status_code = 429
            response["Retry-After"] = str(form.limited_for)
        return response
