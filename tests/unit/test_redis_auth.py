"""Redis trusts only Topolab: every component reaches it as the ``topolab`` ACL user, and nobody else gets in.

compose/up makes the password (``<data dir>/redis-password``, root and the
service group only) and starts Redis with its default user off; the settings
build every Redis URL from that file.
"""
import os

import pytest
import redis
from django.conf import settings

from labsite.settings import redis_url


def test_it_reaches_the_local_redis_as_topolab_with_the_kept_password(tmp_path):
    assert redis_url({}, tmp_path) == "redis://127.0.0.1:6379/0"  # not set up yet: no credentials
    (tmp_path / "redis-password").write_text("s3cr/t+?\n")
    assert redis_url({}, tmp_path) == "redis://topolab:s3cr%2Ft%2B%3F@127.0.0.1:6379/0"
    assert redis_url({"TOPOLAB_REDIS_DB": "15"}, tmp_path).endswith("@127.0.0.1:6379/15")
    other = tmp_path / "elsewhere"
    other.write_text("x")
    assert redis_url({"TOPOLAB_REDIS_PASSWORD_FILE": str(other)}, tmp_path) == "redis://topolab:x@127.0.0.1:6379/0"
    assert redis_url({"REDIS_URL": "redis://:pw@db.example:6380/2"}, tmp_path) == "redis://:pw@db.example:6380/2"


def test_every_component_uses_the_same_credentials():
    assert settings.CELERY_BROKER_URL == settings.CELERY_RESULT_BACKEND == settings.REDIS_URL
    assert settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]["address"] == settings.REDIS_URL
    assert settings.CHANNEL_LAYERS["consoles"]["CONFIG"]["hosts"] == [settings.REDIS_URL]


def _default_user_is_off() -> bool:
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        flags = client.acl_getuser("default")["flags"]
    finally:
        client.close()
    return "off" in flags


def test_nobody_else_reaches_redis():
    if "@" not in settings.REDIS_URL or not _default_user_is_off():
        reason = ("this Redis was not set up by compose/up (its default user is open, or Topolab has no "
                  "password for it): run the suite with bash compose/test")
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    host = redis.Redis(host="127.0.0.1", port=6379, socket_timeout=5)
    try:
        with pytest.raises(redis.AuthenticationError):
            host.lpush(settings.TOPOLAB_QUEUE, "a task from a stranger")
        wrong = redis.Redis(host="127.0.0.1", port=6379, username="topolab", password="guess", socket_timeout=5)
        with pytest.raises(redis.AuthenticationError):
            wrong.ping()
    finally:
        host.close()
    assert redis.Redis.from_url(settings.REDIS_URL).ping()
