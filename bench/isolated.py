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
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labsite.settings")
    import django

    django.setup()
    return run
