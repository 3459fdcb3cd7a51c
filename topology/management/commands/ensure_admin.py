"""``manage.py ensure_admin``: make sure someone can log in, once, without asking anything.

The first run creates a superuser ``admin`` whose password is either
``TOPOLAB_ADMIN_PASSWORD`` or a random one written to ``<DATA_DIR>/admin-password``
(mode 0600, readable by the user who ran the command and by root). Any later
run finds a superuser and changes nothing, so set-up scripts may call it every time.
"""
import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction


class Command(BaseCommand):
    help = "Create the superuser 'admin' if there is no superuser yet; otherwise change nothing."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin", help="name of the superuser to create (default: admin)")

    def handle(self, *args, username, **options):
        User = get_user_model()
        existing = list(User.objects.filter(is_superuser=True).values_list("username", flat=True)[:5])
        if existing:
            self.stdout.write(f"A superuser exists already ({', '.join(existing)}); nothing changed.")
            return
        if User.objects.filter(username=username).exists():
            # Promoting an ordinary account behind the operator's back would be worse than stopping.
            raise CommandError(f"user {username!r} exists but is not a superuser; "
                               f"pass --username NAME to create a superuser with another name")

        from_env = os.environ.get("TOPOLAB_ADMIN_PASSWORD", "")
        password = from_env or secrets.token_urlsafe(18)
        if from_env:
            try:
                validate_password(from_env)
            except ValidationError as exc:
                raise CommandError("TOPOLAB_ADMIN_PASSWORD: " + " ".join(exc.messages)) from exc

        password_file = settings.DATA_DIR / "admin-password"
        with transaction.atomic():
            User.objects.create_superuser(username=username, email="", password=password)
            if not from_env:
                # Written inside the transaction: if the file cannot be written, no
                # account exists whose password nobody knows.
                _write_private(password_file, password + "\n")

        self.stdout.write(self.style.SUCCESS(f"Created the superuser {username!r}."))
        if from_env:
            self.stdout.write("Its password is the value of TOPOLAB_ADMIN_PASSWORD.")
        else:
            self.stdout.write(f"Its password is in {password_file} (mode 0600): sudo cat {password_file}")
        self.stdout.write("Log in at /admin/ (and change the password there).")


def _write_private(path, text):
    """Write ``text`` to ``path``, readable by its owner only, even if the file was there before."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(fd, 0o600)
        f.write(text)
