"""A site that admits lab hosts and a lab host that joins it, for real on this one machine.

compose/install writes the site into one tree (``--allow-lab-hosts``) and the lab host into another (``--lab-host
--join``); nothing of this machine's own Redis, dockerd or PostgreSQL is touched. What is proved:

- the site's Redis, started here from the TLS configuration and the ACL files compose/install wrote (a
  redis-server of this test's own, on a free port), speaks TLS only: a plaintext client gets nothing;
- ``compose/lab-host invite`` makes a one-time ticket (0600), the lab host's install reads it over TLS, checks the
  site's certificate against the ticket's CA, tries Redis as its own ACL user and the database, spends the
  ticket, and writes the lab host's units only (``systemd-analyze verify`` is clean);
- the lab host's environment reaches that Redis over TLS as its own user: its lab worker, started from its
  unit's ``ExecStart=``, runs a task the site sends to its queue; the leases client and both channel layers
  work through the same settings; the host's user may not administer Redis;
- a spent, wrong, expired or readable-by-others ticket, an unreachable Redis or database and a wrong CA are each
  refused with what failed and where, and leave the lab host's tree as it was; uninstall leaves both trees as
  they were before, and ``compose/lab-host remove`` locks the host out;
- with ``--postgres``, the PostgreSQL configuration (listen address, TLS, scram-sha-256, pg_hba rules for the lab
  network) is what it should be, and a PostgreSQL of this test's own running it admits a lab host's role over
  TLS from the lab network (a network namespace) and refuses plaintext, wrong passwords, the site's own role
  and a foreign CA.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from celery import Celery
from django.conf import settings

from labsite.settings import redis_url
from tests.integration.test_install import REPO, tree, unit
from topology.testing.process import ChildProcess

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("systemctl") is None
                                or shutil.which("redis-server") is None or shutil.which("openssl") is None,
                                reason="compose/install runs as root, with systemd, redis-server and openssl installed")

LAB_UNITS = ("topolab.target", "topolab-worker.service", "topolab-exec-worker.service", "topolab-relay.service",
             "topolab-capture.service")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", *argv], capture_output=True, text=True, timeout=180,
                          env=dict(os.environ, **(env or {})))


def env_of(root: Path) -> dict[str, str]:
    """A tree's topolab.env, its /etc/topolab paths read from the tree (as systemd would with the tree as /)."""
    env = {}
    if "TOPOLAB_REDIS_DB" in os.environ:  # this run's Redis database number (tests/environment.py), as the site's
        env["TOPOLAB_REDIS_DB"] = os.environ["TOPOLAB_REDIS_DB"]
    for line in (root / "etc/topolab/topolab.env").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value.replace("/etc/topolab/", f"{root}/etc/topolab/")
    return env


def database_url() -> str:
    """The test run's own database, as a URL a lab host could be given."""
    database = settings.DATABASES["default"]
    if "postgresql" in database["ENGINE"]:
        return (f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST']}:{database['PORT']}/"
                f"{database['NAME']}")
    return f"sqlite:///{database['NAME']}"


class Site:
    """The site's tree, and its Redis started from the configuration compose/install wrote into it."""

    def __init__(self, root: Path, work: Path):
        self.root, self.work = root, work
        self.port = free_port()
        self.redis: subprocess.Popen | None = None

    def install(self) -> None:
        done = run(str(REPO / "compose/install"), "--root", str(self.root), "--allow-lab-hosts", "127.0.0.1",
                   "--lab-network", "127.0.0.0/8", env={"TOPOLAB_REDIS_TLS_PORT": str(self.port)})
        assert done.returncode == 0, done.stdout + done.stderr

    def start_redis(self) -> None:
        """redis-server with the drop-in's settings (less Debian's redis.conf, whose pid and log files are the
        system Redis's): the ACLs and the TLS file as written, the paths read from the tree."""
        etc = self.root / "etc/topolab"
        dropin = (self.root / "etc/systemd/system/redis-server.service.d/topolab.conf").read_text()
        includes = re.findall(r"--include (\S+)", dropin)
        assert includes == ["/etc/topolab/redis-users.acl", "/etc/topolab/redis-tls.conf",
                            "/etc/topolab/redis-lab-hosts.acl"], dropin
        tls = (etc / "redis-tls.conf").read_text().replace("/etc/topolab/", f"{etc}/")
        (self.work / "redis-tls.conf").write_text(tls)
        # 127.0.0.2 too: an address the server's certificate does not name (lo holds all of 127/8).
        lines = ["bind 127.0.0.1 127.0.0.2", 'save ""', "appendonly no", f"dir {self.work}"]
        for path in includes:
            lines.append(f"include {self.work / 'redis-tls.conf'}" if path.endswith("redis-tls.conf")
                         else f"include {self.root}{path}")
        (self.work / "redis.conf").write_text("\n".join(lines) + "\n")
        self.log = open(self.work / "redis.log", "ab")
        start = self.log.tell()  # a restart appends: only what this one logs counts
        self.redis = subprocess.Popen(["redis-server", str(self.work / "redis.conf")], stdout=self.log,
                                      stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while b"Ready to accept connections" not in (self.work / "redis.log").read_bytes()[start:]:
            assert self.redis.poll() is None and time.monotonic() < deadline, (self.work / "redis.log").read_text()
            time.sleep(0.1)

    def stop_redis(self) -> None:
        if self.redis and self.redis.poll() is None:
            self.redis.terminate()
            self.redis.wait(15)
        if self.redis:
            self.log.close()

    def admin(self) -> redis.Redis:
        """The site's own client, from the site's environment (TLS over loopback, as the site's user)."""
        return redis.Redis.from_url(redis_url(env_of(self.root)), decode_responses=True)

    def invite(self, name: str, out: Path, *args: str, database: str | None = None) -> subprocess.CompletedProcess:
        return run(str(REPO / "compose/lab-host"), "--root", str(self.root), "invite", name, "--out", str(out), *args,
                   env={"TOPOLAB_LAB_HOST_DATABASE_URL": database or database_url()})


@pytest.fixture
def site(tmp_path):
    work = tmp_path / "site-work"
    work.mkdir()
    site = Site(tmp_path / "site", work)
    before = None
    try:
        (site.root / "etc/systemd/system").mkdir(parents=True)
        before = tree(site.root)
        site.install()
        site.start_redis()
        yield site
    finally:
        site.stop_redis()
        if (site.root / "etc/topolab/installed").exists():
            gone = run(str(REPO / "compose/uninstall"), "--root", str(site.root))
            assert gone.returncode == 0, gone.stdout + gone.stderr
            assert tree(site.root) == before


def join(root: Path, ticket: Path) -> subprocess.CompletedProcess:
    root.mkdir(exist_ok=True)
    (root / "etc/systemd/system").mkdir(parents=True, exist_ok=True)
    return run(str(REPO / "compose/install"), "--root", str(root), "--lab-host", "--join", str(ticket))


class HostService(ChildProcess):
    """One of the lab host's services from its unit's ``ExecStart=`` and its environment (nothing of the test
    run's own Redis settings)."""

    def __init__(self, root: Path, name: str, log: Path, ready: bytes):
        env = env_of(root)
        env.pop("DATABASE_URL")  # the test run's database instead (ChildProcess: the one the test's rows are in)
        # Nothing of this run's own Redis settings may leak in: REDIS_URL would win over the host's.
        env.update(REDIS_URL="", TOPOLAB_POOL_SIZE="0")
        command = re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], unit(root, f"topolab-{name}.service")["ExecStart"][0])
        self.name, self.ready_mark = f"lab host's {name}", ready
        super().__init__(shlex.split(command.replace("%%", "%")), log, env=env)

    def ready(self) -> bool:
        return self.ready_mark in self.logged()


def test_a_lab_host_joins_over_tls_as_its_own_user_and_its_worker_serves_the_site(site, tmp_path, transactional_db):
    port = site.port
    # TLS only: no plaintext port, and a plaintext client on the TLS port gets no answer.
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=port, socket_timeout=5, username="topolab",
                    password=Path(os.environ["TOPOLAB_REDIS_PASSWORD_FILE"]).read_text().strip()).ping()
    assert re.search(r"^port 0$", (site.root / "etc/topolab/redis-tls.conf").read_text(), re.M)
    # The site's own services use TLS over loopback, as its user.
    site_env = env_of(site.root)
    assert site_env["TOPOLAB_REDIS_PORT"] == str(port) and redis_url(site_env).startswith("rediss://topolab:")
    assert site.admin().acl_whoami() == "topolab"
    tls = site.root / "etc/topolab/tls"
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in tls.iterdir()} == {
        "ca.key": 0o600, "ca.pem": 0o644, "server.crt": 0o644, "redis.key": 0o640}

    ticket = tmp_path / "hostb.json"
    made = site.invite("hostb", ticket)
    assert made.returncode == 0, made.stdout + made.stderr
    assert stat.S_IMODE(ticket.stat().st_mode) == 0o600
    assert json.loads(ticket.read_text())["token"] not in made.stdout + made.stderr  # never printed
    assert 0 < site.admin().ttl("topolab:join:hostb") <= 3600  # the invitation lapses by itself

    lab = tmp_path / "lab"
    joined = join(lab, ticket)
    assert joined.returncode == 0, joined.stdout + joined.stderr
    listed = (lab / "etc/topolab/installed").read_text().split()
    assert sorted(listed) == sorted(
        [f"/etc/systemd/system/{name}" for name in LAB_UNITS]
        + ["/etc/systemd/system/docker.service.d/topolab.conf", "/etc/topolab/topolab.env",
           "/etc/topolab/redis-password", "/etc/topolab/tls/", "/etc/topolab/tls/ca.pem", "/etc/topolab/installed"])
    for secret in ("topolab.env", "redis-password"):
        assert stat.S_IMODE((lab / "etc/topolab" / secret).stat().st_mode) == 0o600, secret
    # The site keeps the host's password hashed only (the restart in the next test proves the file loads).
    password = (lab / "etc/topolab/redis-password").read_text().strip()
    assert len(password) == 64 and password not in (site.root / "etc/topolab/redis-lab-hosts.acl").read_text()
    env = env_of(lab)
    assert env["TOPOLAB_QUEUE"] == "lab.hostb" and env["TOPOLAB_HOST_NAME"] == "hostb"
    assert env["TOPOLAB_REDIS_USER"] == "host.hostb" and env["TOPOLAB_REDIS_PORT"] == str(port)
    assert (lab / "etc/topolab/tls/ca.pem").read_text() == (tls / "ca.pem").read_text()
    # Only the root services, with no local Redis or database to wait for.
    wants = lab / "etc/systemd/system/topolab.target.wants"
    assert sorted(p.name for p in wants.iterdir()) == sorted(LAB_UNITS[1:])
    for name in LAB_UNITS[1:]:
        keys = unit(lab, name)
        assert "redis-server.service" not in keys["After"][0] + keys["Wants"][0], name
    units = lab / "etc/systemd/system"
    checked = subprocess.run(["systemd-analyze", "verify", *[str(units / name) for name in LAB_UNITS], "docker.service"],
                             capture_output=True, text=True, env=dict(os.environ, SYSTEMD_UNIT_PATH=f"{units}:"),
                             timeout=60)
    assert checked.returncode == 0 and checked.stdout + checked.stderr == "", checked.stdout + checked.stderr

    # A spent ticket is refused, and says so.
    again = join(tmp_path / "lab-again", ticket)
    assert again.returncode != 0 and "was used already" in again.stderr, again.stderr
    assert not (tmp_path / "lab-again/etc/topolab").exists()

    # The host's environment reaches the site's Redis over TLS as its own user, for every client of the root side.
    assert env["TOPOLAB_SITE"] == settings.TOPOLAB_SITE  # the site's (this run's), so its keys are the site's
    host = {**os.environ, **env, "REDIS_URL": ""}
    host.pop("DATABASE_URL")
    probe = subprocess.run([sys.executable, "-c", CLIENTS], capture_output=True, text=True, env=host, cwd=REPO,
                           timeout=60)
    assert probe.returncode == 0, probe.stdout + probe.stderr
    assert probe.stdout.split() == ["rediss", "host.hostb", "host.hostb", "event", "tty", "refused"], probe.stdout

    started = []
    try:
        for name, ready in (("worker", b" ready"), ("exec-worker", b" ready"), ("relay", b"relay ready"),
                            ("capture", b"capture service ready")):
            started.append(HostService(lab, name, tmp_path / f"{name}.log", ready))
            started[-1].start()
        assert f"rediss://host.hostb:**@127.0.0.1:{port}" in started[0].logged().decode()
        users = [c["user"] for c in site.admin().client_list()]
        assert users.count("host.hostb") >= 4 and set(users) <= {"host.hostb", "topolab"}, users
        # The site sends a task to the host's queue over TLS; the host's worker answers it.
        url = redis_url(site_env)
        app = Celery("site", broker=url, backend=url, set_as_current=False)  # not the run's own app after this
        try:
            answer = app.send_task("topology.list_images", queue="lab.hostb").get(timeout=60)
        finally:
            app.close()
        assert isinstance(answer, dict) and answer, answer
    finally:
        for process in reversed(started):
            process.stop()

    # Removed at the site: the host's user can no longer get in.
    removed = run(str(REPO / "compose/lab-host"), "--root", str(site.root), "remove", "hostb")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(redis_url(env)).ping()
    assert "host.hostb" not in (site.root / "etc/topolab/redis-lab-hosts.acl").read_text()

    gone = run(str(REPO / "compose/uninstall"), "--root", str(lab))
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert tree(lab) == {"etc": "drwxr-xr-x", "etc/systemd": "drwxr-xr-x", "etc/systemd/system": "drwxr-xr-x"}


# Run with the lab host's environment: Topolab's Redis clients, each through labsite.settings.
CLIENTS = """
import asyncio, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labsite.settings")
import django
django.setup()
import redis
from channels.layers import get_channel_layer
from django.conf import settings
from topology import leases

print(settings.CELERY_BROKER_URL.split(":")[0])
print(leases.client().acl_whoami())
print(redis.Redis.from_url(settings.CELERY_RESULT_BACKEND, decode_responses=True).acl_whoami())

async def layers():
    for alias, text in (("default", "event"), ("consoles", "tty")):
        layer = get_channel_layer(alias)
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "x", "text": text})
        print((await asyncio.wait_for(layer.receive(channel), 10))["text"])

asyncio.run(layers())
try:
    leases.client().config_get("*")
except redis.exceptions.NoPermissionError:
    print("refused")
"""


def test_a_bad_ticket_an_unreachable_site_or_a_wrong_ca_is_refused_and_leaves_nothing(site, tmp_path):
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "etc/systemd/system").mkdir(parents=True)
    before = tree(lab)

    def refused(ticket: Path, says: str) -> None:
        done = join(lab, ticket)
        assert done.returncode != 0 and says in done.stderr, done.stdout + done.stderr
        assert tree(lab) == before

    ticket = tmp_path / "hostc.json"
    assert site.invite("hostc", ticket).returncode == 0
    good = json.loads(ticket.read_text())

    def variant(name: str, **changes) -> Path:
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({**good, **changes}))
        path.chmod(0o600)
        return path

    ticket.chmod(0o640)
    refused(ticket, "may be read by others")
    ticket.chmod(0o600)
    refused(variant("wrong-token", token="0" * 64), "refused the user 'join.hostc'")
    refused(variant("unreachable", redis_port=free_port()), "cannot reach the site's Redis at 127.0.0.1:")
    other_ca = tmp_path / "other-ca"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "1", "-subj", "/CN=someone else", "-keyout", f"{other_ca}.key", "-out", f"{other_ca}.pem"],
                   check=True, capture_output=True)
    refused(variant("wrong-ca", ca=Path(f"{other_ca}.pem").read_text()), "a certificate that the ticket's CA did not sign")
    # The right CA, but an address its certificate was not made for: the name is checked, not only the signature.
    refused(variant("wrong-address", redis_host="127.0.0.2"), "certificate is not valid for '127.0.0.2'")
    refused(variant("expired", expires="2020-01-01T00:00:00+00:00"), "expired at 2020-01-01")
    refused(tmp_path / "nothing.json", "no join ticket at")
    # None of those spent it: the invitation is still there, and the good ticket still joins.
    assert site.admin().exists("topolab:join:hostc") == 1

    # The site's database does not answer: refused before the ticket is spent.
    unreachable_db = tmp_path / "hostd.json"
    assert site.invite("hostd", unreachable_db,
                       database=f"postgres://lab_hostd:x@127.0.0.1:{free_port()}/topolab?sslmode=require").returncode == 0
    refused(unreachable_db, "the site's database at 127.0.0.1 refuses this host or does not answer")
    assert site.admin().exists("topolab:join:hostd") == 1

    # What the site sends becomes lines of topolab.env: a value of several lines (here written by the site's user; any
    # lab host's user could write it too) is refused before anything is written, the ticket unspent.
    crafted = tmp_path / "hostf.json"
    assert site.invite("hostf", crafted).returncode == 0
    key = json.loads(crafted.read_text())["key"]
    bundle = json.loads(site.admin().get(key))
    site.admin().set(key, json.dumps({**bundle, "site": "default\nLD_PRELOAD=/tmp/evil.so"}), keepttl=True)
    refused(crafted, "the site sent a site of several lines")
    assert site.admin().exists(key) == 1

    # A failure once the ticket is spent (systemctl enable, made to fail here): the units are disabled again and
    # everything written goes.
    fake = tmp_path / "fake-bin"
    fake.mkdir()
    calls = tmp_path / "systemctl.calls"
    (fake / "systemctl").write_text(f'#!/bin/sh\necho "$*" >>{calls}\ncase " $* " in *" enable "*) exit 1 ;; esac\n'
                                    f'exec {shutil.which("systemctl")} "$@"\n')
    (fake / "systemctl").chmod(0o755)
    late = tmp_path / "hoste.json"
    assert site.invite("hoste", late).returncode == 0
    failed = run(str(REPO / "compose/install"), "--root", str(lab), "--lab-host", "--join", str(late),
                 env={"PATH": f"{fake}:{os.environ['PATH']}"})
    assert failed.returncode != 0 and "removed what this join had written" in failed.stdout, failed.stdout + failed.stderr
    assert tree(lab) == before
    assert f"--root={lab} disable topolab.target topolab-worker.service" in calls.read_text(), calls.read_text()

    # The site's Redis restarted: it keeps no invitations (nothing on disk), but the hosts' users persist.
    joined = join(lab, ticket)
    assert joined.returncode == 0, joined.stdout + joined.stderr
    site.stop_redis()
    site.start_redis()
    assert redis.Redis.from_url(redis_url(env_of(lab)), decode_responses=True).acl_whoami() == "host.hostc"
    refused_after = join(tmp_path / "lab-d", unreachable_db)
    assert refused_after.returncode != 0 and "refused the user 'join.hostd'" in refused_after.stderr
    assert run(str(REPO / "compose/uninstall"), "--root", str(lab)).returncode == 0
    assert tree(lab) == before


def test_with_postgresql_the_site_listens_for_lab_hosts_over_tls_with_scram_from_their_network_only(tmp_path):
    if shutil.which("pg_lsclusters") is None or not subprocess.run(["pg_lsclusters", "-h"], capture_output=True,
                                                                   text=True).stdout.strip():
        pytest.skip("Debian's PostgreSQL is not installed here")
    version = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True).stdout.split()[0]
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)
    before = tree(root)
    done = run(str(REPO / "compose/install"), "--root", str(root), "--postgres", "--allow-lab-hosts", "10.0.0.5",
               "--lab-network", "10.0.0.0/24")
    assert done.returncode == 0, done.stdout + done.stderr
    conf = root / f"etc/postgresql/{version}/main/conf.d/topolab.conf"
    lines = [line for line in conf.read_text().splitlines() if line and not line.startswith("#")]
    assert lines == ["listen_addresses = 'localhost,10.0.0.5'", "ssl = on",
                     "ssl_cert_file = '/etc/topolab/tls/server.crt'", "ssl_key_file = '/etc/topolab/tls/postgres.key'",
                     "ssl_min_protocol_version = 'TLSv1.2'", "password_encryption = scram-sha-256",
                     "hba_file = '/etc/topolab/pg_hba.conf'"]
    hba = [line.split() for line in (root / "etc/topolab/pg_hba.conf").read_text().splitlines()
           if line and not line.startswith("#")]
    debian = [line.split() for line in Path(f"/etc/postgresql/{version}/main/pg_hba.conf").read_text().splitlines()
              if line.strip() and not line.lstrip().startswith("#")]
    # Debian's rules as they were, then: lab hosts' roles over TLS with scram, and nothing else from their network.
    assert hba == [*debian, ["hostssl", "topolab", "+topolab_lab_hosts", "10.0.0.0/24", "scram-sha-256"],
                   ["host", "all", "all", "10.0.0.0/24", "reject"]]
    assert stat.S_IMODE((root / "etc/topolab/pg_hba.conf").stat().st_mode) == 0o640
    assert stat.S_IMODE((root / "etc/topolab/tls/postgres.key").stat().st_mode) == 0o640
    assert "LAB_HOSTS_DATABASE=local" in (root / "etc/topolab/lab-hosts.conf").read_text()
    cert = subprocess.run(["openssl", "x509", "-in", str(root / "etc/topolab/tls/server.crt"), "-noout", "-ext",
                           "subjectAltName"], capture_output=True, text=True, check=True).stdout
    assert "IP Address:10.0.0.5" in cert and "IP Address:127.0.0.1" in cert
    redis_dropin = (root / "etc/systemd/system/redis-server.service.d/topolab.conf").read_text()
    assert "--bind 127.0.0.1 -::1 10.0.0.5 " in redis_dropin

    # A second install goes on admitting lab hosts, with the same CA (hosts trust it).
    ca = (root / "etc/topolab/tls/ca.pem").read_text()
    again = run(str(REPO / "compose/install"), "--root", str(root), "--postgres")
    assert again.returncode == 0, again.stdout + again.stderr
    assert (root / "etc/topolab/tls/ca.pem").read_text() == ca and conf.exists()
    # Without --postgres, what was written for PostgreSQL goes (it was ours), lab hosts are still admitted.
    third = run(str(REPO / "compose/install"), "--root", str(root))
    assert third.returncode == 0, third.stdout + third.stderr
    assert not conf.exists() and not (root / "etc/topolab/pg_hba.conf").exists()
    assert not (root / "etc/topolab/tls/postgres.key").exists() and (root / "etc/topolab/tls/ca.pem").read_text() == ca
    assert "LAB_HOSTS_DATABASE=none" in (root / "etc/topolab/lab-hosts.conf").read_text()
    gone = run(str(REPO / "compose/uninstall"), "--root", str(root))
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert tree(root) == before


PG_BIN = Path("/usr/lib/postgresql/15/bin")


@pytest.mark.skipif(not (PG_BIN / "postgres").exists() or shutil.which("ip") is None,
                    reason="Debian's PostgreSQL 15 and iproute2 are needed")
def test_a_lab_host_reaches_postgresql_over_tls_with_its_own_role_and_nothing_else_gets_in(tmp_path):
    """A PostgreSQL of this test's own (a fresh cluster on a free port) with the conf.d file and the pg_hba rules
    compose/install wrote, listening on the site's end of a veth pair; the "lab host" is a network namespace at
    the other end (addresses of the pair only: nothing leaves this machine)."""
    site, lab_net, site_address, host_address = "tl-pgs", "tlpghost", "10.250.77.1", "10.250.77.2"
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)
    done = run(str(REPO / "compose/install"), "--root", str(root), "--postgres", "--allow-lab-hosts", site_address,
               "--lab-network", "10.250.77.0/30")
    assert done.returncode == 0, done.stdout + done.stderr
    work = Path(subprocess.run(["mktemp", "-d", "/tmp/topolab-pg-XXXXXX"], capture_output=True, text=True,
                               check=True).stdout.strip())
    server = None
    try:
        shutil.chown(work, "postgres", "postgres")
        # The server reads its files as compose/install left them (root:postgres 0640), from paths it can reach.
        etc = root / "etc/topolab"
        for source, name in ((etc / "tls/server.crt", "server.crt"), (etc / "tls/postgres.key", "postgres.key"),
                             (etc / "pg_hba.conf", "pg_hba.conf")):
            shutil.copy(source, work / name)
            shutil.chown(work / name, "root", "postgres")
            (work / name).chmod(stat.S_IMODE(source.stat().st_mode))
        conf = next(root.glob("etc/postgresql/*/main/conf.d/topolab.conf")).read_text()
        (work / "topolab.conf").write_text(conf.replace("/etc/topolab/tls/", f"{work}/").replace(
            "/etc/topolab/pg_hba.conf", f"{work}/pg_hba.conf"))
        data = work / "data"
        subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "initdb"), "-D", str(data), "-A", "peer"],
                       check=True, capture_output=True, timeout=120)
        port = free_port()
        with open(data / "postgresql.conf", "a") as extra:
            extra.write(f"port = {port}\nunix_socket_directories = '{work}'\ninclude '{work}/topolab.conf'\n")
        subprocess.run(["ip", "link", "add", site, "type", "veth", "peer", "name", "tl-pgh"], check=True)
        subprocess.run(["ip", "netns", "add", lab_net], check=True)
        subprocess.run(["ip", "link", "set", "tl-pgh", "netns", lab_net], check=True)
        subprocess.run(["ip", "addr", "add", f"{site_address}/30", "dev", site], check=True)
        subprocess.run(["ip", "link", "set", site, "up"], check=True)
        for command in (["ip", "addr", "add", f"{host_address}/30", "dev", "tl-pgh"], ["ip", "link", "set", "tl-pgh", "up"],
                        ["ip", "link", "set", "lo", "up"]):
            subprocess.run(["ip", "netns", "exec", lab_net, *command], check=True)
        log = open(work / "postgres.log", "ab")
        server = subprocess.Popen(["runuser", "-u", "postgres", "--", str(PG_BIN / "postgres"), "-D", str(data)],
                                  stdout=log, stderr=subprocess.STDOUT)
        env = dict(os.environ, PGHOST=str(work), PGPORT=str(port))
        deadline = time.monotonic() + 30
        while subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_isready"), "-q"], env=env).returncode:
            assert server.poll() is None and time.monotonic() < deadline, (work / "postgres.log").read_text()
            time.sleep(0.2)
        # The site's role and database as compose/install makes them, then the lab host's role as
        # compose/lab-host invite makes it (the same shell function), and a table of the site's.
        for sql in ("CREATE ROLE topolab LOGIN PASSWORD 'site-pw'", "CREATE DATABASE topolab OWNER topolab"):
            subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-c", sql], env=env, check=True,
                           capture_output=True)
        subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-d", "topolab", "-c",
                        "SET ROLE topolab; CREATE TABLE labs (id int)"], env=env, check=True, capture_output=True)
        made = subprocess.run(["bash", "-c", f"source {REPO}/compose/lib.sh; make_lab_host_role lab_b1 \"$(cat)\""],
                              input="host-pw", env=env, capture_output=True, text=True, timeout=60)
        assert made.returncode == 0, made.stdout + made.stderr

        def connect(url: str) -> str:
            """Connect from the lab host's namespace: 'ok' or PostgreSQL's refusal."""
            script = ("import sys, psycopg\ntry:\n    with psycopg.connect(sys.stdin.read(), connect_timeout=10) as c:\n"
                      "        c.execute('INSERT INTO labs VALUES (1)')\n        print('ok')\n"
                      "except psycopg.Error as e:\n    print(str(e).strip().splitlines()[-1])\n")
            done = subprocess.run(["ip", "netns", "exec", lab_net, sys.executable, "-c", script], input=url,
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            return done.stdout.strip()

        ca = etc / "tls/ca.pem"
        base = f"postgres://lab_b1:host-pw@{site_address}:{port}/topolab"
        assert connect(f"{base}?sslmode=verify-full&sslrootcert={ca}") == "ok"  # TLS, the site's name checked, scram
        assert "no encryption" in connect(f"{base}?sslmode=disable")  # plaintext: no rule admits it
        assert "password authentication failed" in connect(
            f"postgres://lab_b1:wrong@{site_address}:{port}/topolab?sslmode=verify-full&sslrootcert={ca}")
        # The site's own role is not a lab host: refused from the lab network even over TLS with its password.
        assert "rejects connection" in connect(
            f"postgres://topolab:site-pw@{site_address}:{port}/topolab?sslmode=verify-full&sslrootcert={ca}")
        other = tmp_path / "other"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-days", "1", "-subj", "/CN=other", "-keyout", f"{other}.key", "-out", f"{other}.pem"],
                       check=True, capture_output=True)
        assert "certificate verify failed" in connect(f"{base}?sslmode=verify-full&sslrootcert={other}.pem")

        # compose/lab-host remove (the same shell function): the role goes, and a session it has open ends with it.
        import psycopg
        session = psycopg.connect(f"{base}?sslmode=verify-full&sslrootcert={ca}", connect_timeout=10, autocommit=True)
        try:
            session.execute("SELECT 1")
            dropped = subprocess.run(["bash", "-c", f"source {REPO}/compose/lib.sh; drop_lab_host_role lab_b1"], env=env,
                                     capture_output=True, text=True, timeout=60)
            assert dropped.returncode == 0, dropped.stdout + dropped.stderr
            with pytest.raises(psycopg.OperationalError):
                session.execute("SELECT 1")
        finally:
            session.close()
        assert "rejects connection" in connect(f"{base}?sslmode=verify-full&sslrootcert={ca}")  # no longer a lab host
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        subprocess.run(["ip", "netns", "del", lab_net], capture_output=True)
        subprocess.run(["ip", "link", "del", site], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
        assert run(str(REPO / "compose/uninstall"), "--root", str(root)).returncode == 0
