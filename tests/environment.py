"""Pytest plugin loaded first (``-p tests.environment``): gives the test run its own world.

It runs before Django's settings are read, so every test run gets its own data
directory, Redis database, Celery queue and ``topolab.site`` label: a test can
never see or clean up the labs of a Topolab installed on the same host, nor
those of another test run.
"""
import os
import tempfile

_run = f"t{os.getpid()}"
os.environ.setdefault("TOPOLAB_DATA_DIR", tempfile.mkdtemp(prefix="topolab-test-"))
os.environ.setdefault("TOPOLAB_SITE", f"test-{_run}")
os.environ.setdefault("TOPOLAB_QUEUE", f"lab.test-{_run}")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ["TOPOLAB_TEST_DATABASE_PATH"] = os.path.join(os.environ["TOPOLAB_DATA_DIR"], "test.sqlite3")
