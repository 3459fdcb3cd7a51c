"""Gives a benchmark its own world before Django starts: data dir, site label, queue, Redis database.

Like ``tests/environment.py`` for the tests: a benchmark never sees or cleans
up the labs of a Topolab running on the same host.
"""
import os
import tempfile


def start_django() -> str:
    """Set the environment, set Django up, and return this run's site name."""
    run = f"bench{os.getpid()}"
    os.environ["TOPOLAB_DATA_DIR"] = tempfile.mkdtemp(prefix="topolab-bench-")
    os.environ["TOPOLAB_SITE"] = run
    os.environ["TOPOLAB_QUEUE"] = f"lab.{run}"
    os.environ.setdefault("TOPOLAB_REDIS_DB", "14")
    # No warm pool unless the benchmark turns it on (its site limits): cold figures stay cold.
    os.environ.setdefault("TOPOLAB_POOL_SIZE", "0")
    # The host's Redis, with the password compose/up made for it (this run's data dir has none).
    secret = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "var", "redis-password")
    if os.path.exists(secret):
        os.environ.setdefault("TOPOLAB_REDIS_PASSWORD_FILE", secret)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labsite.settings")
    import django

    django.setup()
    return run
