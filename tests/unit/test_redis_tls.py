"""Redis over TLS in the settings (a lab host, a site that admits lab hosts): the URL every client reads.

The real connection (a redis-server with compose/install's TLS configuration, the lab host's worker and every
Redis client of the root side through it) is tests/integration/test_join.py; here, the URL and what each
library makes of it.
"""
from __future__ import annotations

import ssl

from celery.backends.redis import RedisBackend
from kombu import Connection
from redis.connection import SSLConnection, parse_url

from labsite.celery import app
from labsite.settings import redis_url


def test_a_ca_makes_the_url_tls_with_the_servers_certificate_checked(tmp_path):
    (tmp_path / "redis-password").write_text("s3cr/t\n")
    env = {"TOPOLAB_REDIS_HOST": "10.0.0.5", "TOPOLAB_REDIS_PORT": "6380", "TOPOLAB_REDIS_USER": "host.b1",
           "TOPOLAB_REDIS_CA": "/etc/topolab/tls/ca.pem", "TOPOLAB_REDIS_DB": "2"}
    url = redis_url(env, tmp_path)
    assert url == ("rediss://host.b1:s3cr%2Ft@10.0.0.5:6380/2?ssl_cert_reqs=required"
                   "&ssl_ca_certs=/etc/topolab/tls/ca.pem")
    # redis-py (leases, captures, the relay, channels_redis): TLS, the CA, certificates required.
    parsed = parse_url(url)
    assert parsed["connection_class"] is SSLConnection and parsed["ssl_ca_certs"] == "/etc/topolab/tls/ca.pem"
    assert parsed["ssl_cert_reqs"] == "required" and parsed["username"] == "host.b1"
    # Celery's broker (kombu) and result backend read the same.
    broker = Connection(url)
    assert broker.transport_cls == "rediss" and broker.ssl == {"ssl_cert_reqs": ssl.CERT_REQUIRED,
                                                               "ssl_ca_certs": "/etc/topolab/tls/ca.pem"}
    backend = RedisBackend(url=url, app=app)
    assert backend.connparams["ssl_cert_reqs"] == ssl.CERT_REQUIRED
    assert backend.connparams["ssl_ca_certs"] == "/etc/topolab/tls/ca.pem"
    # An IPv6 site address is bracketed.
    assert "@[fd00::5]:6380/" in redis_url({**env, "TOPOLAB_REDIS_HOST": "fd00::5"}, tmp_path)


def test_without_a_ca_nothing_changes_and_a_bare_rediss_url_still_checks_certificates(tmp_path):
    (tmp_path / "redis-password").write_text("pw")
    assert redis_url({}, tmp_path) == "redis://topolab:pw@127.0.0.1:6379/0"
    assert redis_url({"REDIS_URL": "rediss://:pw@r.example:6380/0"}, tmp_path) == \
        "rediss://:pw@r.example:6380/0?ssl_cert_reqs=required"
    assert redis_url({"REDIS_URL": "rediss://r.example/0?ssl_cert_reqs=none"}, tmp_path) == \
        "rediss://r.example/0?ssl_cert_reqs=none"  # said out loud: the administrator's choice
