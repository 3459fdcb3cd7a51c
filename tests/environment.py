"""Pytest plugin loaded first (``-p tests.environment``): gives the test run its own world.

It runs before Django's settings are read, so every test run gets its own data
directory, Redis database (on the host's Redis, with its credentials), Celery
queue and ``topolab.site`` label: a test can
never see or clean up the labs of a Topolab installed on the same host, nor
those of another test run.
"""
import os
import tempfile

_run = f"t{os.getpid()}"
os.environ.setdefault("TOPOLAB_DATA_DIR", tempfile.mkdtemp(prefix="topolab-test-"))
os.environ.setdefault("TOPOLAB_SITE", f"test-{_run}")
os.environ.setdefault("TOPOLAB_QUEUE", f"lab.test-{_run}")
# No warm pool unless a test asks for one (its site limits): its containers would be every test's leftovers.
os.environ.setdefault("TOPOLAB_POOL_SIZE", "0")
# The host's Redis, as the host's Topolab reaches it (compose/test says where its password is;
# a checkout's own var/ otherwise), in a database of its own.
os.environ.setdefault("TOPOLAB_REDIS_DB", "15")
_secret = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "var", "redis-password")
if os.path.exists(_secret):
    os.environ.setdefault("TOPOLAB_REDIS_PASSWORD_FILE", _secret)
os.environ["TOPOLAB_TEST_DATABASE_PATH"] = os.path.join(os.environ["TOPOLAB_DATA_DIR"], "test.sqlite3")
