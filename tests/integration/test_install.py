"""compose/install and compose/uninstall for real, into a tree of their own (``--root``), and the units they write.

This machine has no systemd as PID 1, so nothing here starts a unit. What is proved instead:

- install writes exactly the files it lists, with their modes, and enables the units (the ``systemctl``
  symlinks); uninstall leaves the tree as it was before;
- ``systemd-analyze verify`` finds nothing to say about the units nor about Debian's docker.service and
  redis-server.service with the drop-ins;
- the root services run with nothing but the capabilities their units keep: the lab worker, the exec worker,
  the relay and the capture service are started from the units' own ``ExecStart=`` lines, under the units'
  bounding sets and ``NoNewPrivileges``, and the reference lab deploys, pings with TTL 63, serves a console,
  captures its packets and is destroyed.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest
from django.conf import settings

from tests.documents import reference_document
from tests.websockets import fresh_channel_layer, run  # noqa: F401 (autouse)
from topology import tasks, workers
from topology.capture import client as captures
from topology.testing.process import ChildProcess

REPO = Path(__file__).resolve().parents[2]
UNITS = ("topolab.target", "topolab-web.service", "topolab-worker.service", "topolab-exec-worker.service",
         "topolab-relay.service", "topolab-capture.service")

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("systemctl") is None,
                                reason="compose/install runs as root on a host with systemd installed")


def install(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / "compose" / "install"), "--root", str(root), *args],
                          capture_output=True, text=True, timeout=120)


def uninstall(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / "compose" / "uninstall"), "--root", str(root)],
                          capture_output=True, text=True, timeout=60)


def tree(root: Path) -> dict[str, str]:
    """Every path below ``root`` with its kind and mode (a link: where it points)."""
    found = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        found[str(path.relative_to(root))] = (f"-> {os.readlink(path)}" if path.is_symlink()
                                              else f"{stat.filemode(info.st_mode)}")
    return found


def unit(root: Path, name: str) -> dict[str, list[str]]:
    """A unit file's keys, each with its values in order (comments left out)."""
    keys: dict[str, list[str]] = {}
    for line in (root / "etc/systemd/system" / name).read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            keys.setdefault(key, []).append(value)
    return keys


@pytest.fixture
def installed(tmp_path):
    root = tmp_path / "root"
    done = install(root)
    assert done.returncode == 0, done.stdout + done.stderr
    yield root
    if (root / "etc/topolab/installed").exists():
        uninstall(root)


def test_install_writes_what_it_lists_enables_it_and_uninstall_removes_exactly_that(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "etc/systemd/system/someone-elses.service").write_text("[Service]\nExecStart=/bin/true\n")
    before = tree(root)

    done = install(root)
    assert done.returncode == 0, done.stdout + done.stderr
    listed = (root / "etc/topolab/installed").read_text().split()
    assert sorted(listed) == sorted(
        [f"/etc/systemd/system/{name}" for name in UNITS]
        + ["/etc/systemd/system/docker.service.d/topolab.conf", "/etc/systemd/system/redis-server.service.d/topolab.conf",
           "/etc/topolab/topolab.env", "/etc/topolab/redis-users.acl", "/etc/topolab/installed"])
    for path in listed:
        assert (root / path.lstrip("/")).is_file(), path
    # The ACL holds the Redis password: root and Redis only. The rest is no secret.
    assert stat.S_IMODE((root / "etc/topolab/redis-users.acl").stat().st_mode) == 0o640
    assert stat.S_IMODE((root / "etc/topolab/installed").stat().st_mode) == 0o640
    assert stat.S_IMODE((root / "etc/systemd/system/topolab-web.service").stat().st_mode) == 0o644
    acl = (root / "etc/topolab/redis-users.acl").read_text()
    secret = Path(os.environ.get("TOPOLAB_REDIS_PASSWORD_FILE", Path(settings.DATA_DIR) / "redis-password"))
    assert acl.startswith("user default off\n") and f"\nuser topolab on >{secret.read_text().strip()} ~* &* +@all" in acl
    env = dict(line.split("=", 1) for line in (root / "etc/topolab/topolab.env").read_text().splitlines()
               if line and not line.startswith("#"))
    assert env["TOPOLAB_DATA_DIR"] == str(Path(settings.DATA_DIR).resolve())
    assert env["TOPOLAB_QUEUE"] == settings.TOPOLAB_QUEUE and env["TOPOLAB_EXEC_QUEUE"].startswith(settings.TOPOLAB_QUEUE)
    assert env["TOPOLAB_REDIS_PASSWORD_FILE"] == str(secret)
    # Enabled: systemctl's own symlinks, the target at boot and every service with the target.
    wants = root / "etc/systemd/system"
    assert os.readlink(wants / "multi-user.target.wants/topolab.target") == "/etc/systemd/system/topolab.target"
    assert sorted(p.name for p in (wants / "topolab.target.wants").iterdir()) == sorted(UNITS[1:])

    # A second install is the same install (the manifest is written anew, nothing doubles).
    again = install(root)
    assert again.returncode == 0, again.stdout + again.stderr
    assert sorted((root / "etc/topolab/installed").read_text().split()) == sorted(listed)

    gone = uninstall(root)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert tree(root) == before  # someone-elses.service stays; nothing of Topolab's does
    refused = uninstall(root)
    assert refused.returncode != 0 and "nothing that compose/install wrote is installed here" in refused.stderr


def test_with_postgresql_the_database_url_is_root_only_and_the_units_come_after_it(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://topolab:s3cret@127.0.0.1:5432/topolab")
    root = tmp_path / "root"
    done = install(root)
    assert done.returncode == 0, done.stdout + done.stderr
    env = root / "etc/topolab/topolab.env"
    assert "\nDATABASE_URL=postgres://topolab:s3cret@127.0.0.1:5432/topolab\n" in env.read_text()
    assert stat.S_IMODE(env.stat().st_mode) == 0o600  # it holds the database's password
    for name in UNITS[1:]:
        keys = unit(root, name)
        assert "postgresql.service" in keys["After"][0].split() and "postgresql.service" in keys["Wants"][0].split(), name
    units = root / "etc/systemd/system"
    checked = subprocess.run(["systemd-analyze", "verify", *[str(units / name) for name in UNITS]], capture_output=True,
                             text=True, env=dict(os.environ, SYSTEMD_UNIT_PATH=f"{units}:"), timeout=60)
    assert checked.returncode == 0 and checked.stdout + checked.stderr == "", checked.stdout + checked.stderr
    assert uninstall(root).returncode == 0


def test_uninstall_refuses_a_manifest_that_lists_what_install_never_writes(installed):
    manifest = installed / "etc/topolab/installed"
    victim = installed / "etc/passwd"
    victim.write_text("root:x:0:0::/root:/bin/bash\n")
    manifest.write_text(manifest.read_text() + "/etc/passwd\n")
    refused = uninstall(installed)
    assert refused.returncode != 0 and "'/etc/passwd', which compose/install never writes" in refused.stderr
    assert victim.exists() and (installed / "etc/systemd/system/topolab-web.service").exists()  # nothing removed
    # A path that starts as one of install's and climbs out of it is refused the same way.
    manifest.write_text(manifest.read_text().replace("/etc/passwd\n", "/etc/topolab/../passwd\n"))
    refused = uninstall(installed)
    assert refused.returncode != 0 and "'/etc/topolab/../passwd', which compose/install never" in refused.stderr
    assert victim.exists()


def test_the_units_and_the_drop_ins_pass_systemd_analyze_verify(installed):
    units = installed / "etc/systemd/system"
    # The tree's units first, then the host's own (docker.service, redis-server.service: their drop-ins apply).
    env = dict(os.environ, SYSTEMD_UNIT_PATH=f"{units}:")
    names = [str(units / name) for name in UNITS] + ["docker.service", "redis-server.service"]
    checked = subprocess.run(["systemd-analyze", "verify", *names], capture_output=True, text=True, env=env, timeout=60)
    assert checked.returncode == 0 and checked.stdout + checked.stderr == "", checked.stdout + checked.stderr
    # The check does look: a key systemd does not know is said.
    broken = units / "docker.service.d/topolab.conf"
    broken.write_text(broken.read_text() + "NoSuchKey=1\n")
    said = subprocess.run(["systemd-analyze", "verify", "docker.service"], capture_output=True, text=True, env=env,
                          timeout=60)
    assert "Unknown key 'NoSuchKey'" in said.stderr


def test_the_web_unit_is_unprivileged_and_sandboxed_and_the_root_units_keep_their_capabilities_only(installed):
    web = unit(installed, "topolab-web.service")
    assert web["User"] == ["topolab"] and web["NoNewPrivileges"] == ["yes"] and web["CapabilityBoundingSet"] == [""]
    assert web["ProtectSystem"] == ["strict"] and web["PrivateTmp"] == ["yes"]
    assert web["ReadWritePaths"] == [str(Path(settings.DATA_DIR).resolve())]
    table = {line.split()[0]: line.split()[1:] for line in (REPO / "compose/systemd/capabilities").read_text().splitlines()
             if line.strip() and not line.startswith("#")}
    assert set(table) == {"worker", "exec-worker", "relay", "capture"}
    for name, caps in table.items():
        keys = unit(installed, f"topolab-{name}.service")
        assert keys["CapabilityBoundingSet"] == [" ".join(caps)] and keys["NoNewPrivileges"] == ["yes"], name
        assert keys["Restart"] == ["on-failure"] and "User" not in keys, name
        assert "CAP_SYS_MODULE" not in caps and "CAP_SYS_BOOT" not in caps, name
    docker = (installed / "etc/systemd/system/docker.service.d/topolab.conf").read_text()
    assert "--bridge=none --iptables=false" in docker
    redis = (installed / "etc/systemd/system/redis-server.service.d/topolab.conf").read_text()
    assert "--bind 127.0.0.1 -::1" in redis and "--include /etc/topolab/redis-users.acl" in redis


class UnitProcess(ChildProcess):
    """A root service started from its installed unit's ``ExecStart=``, as systemd would: the unit's environment
    file, its bounding set and NoNewPrivileges (setpriv), its working directory."""

    def __init__(self, root: Path, name: str, log_path: Path, ready: bytes):
        keys = unit(root, f"topolab-{name}.service")
        env = dict(line.split("=", 1) for line in (root / "etc/topolab/topolab.env").read_text().splitlines()
                   if line and not line.startswith("#"))
        command = re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], keys["ExecStart"][0]).replace("%%", "%")
        caps = ",".join(f"+{c.lower().removeprefix('cap_')}" for c in keys["CapabilityBoundingSet"][0].split())
        self.name = f"{name} (from its unit)"
        self.ready_mark = ready
        super().__init__(["setpriv", f"--bounding-set=-all,{caps}", "--no-new-privs", "--", *shlex.split(command)],
                         log_path, env=env)

    def ready(self) -> bool:
        return self.ready_mark in self.logged()


def test_the_root_services_do_their_work_with_only_their_units_capabilities(tmp_path, owner, labs, monkeypatch):
    """Their own queue, so that the session's workers (with every capability) take none of this test's work."""
    queue = f"{settings.TOPOLAB_QUEUE}-units"
    monkeypatch.setenv("TOPOLAB_QUEUE", queue)
    done = install(tmp_path / "root")
    assert done.returncode == 0, done.stdout + done.stderr
    monkeypatch.setattr(settings, "TOPOLAB_QUEUE", queue)
    from tests.integration.test_console import Terminal

    started = []
    try:
        for name, ready in (("worker", b" ready"), ("exec-worker", b" ready"), ("relay", b"relay ready"),
                            ("capture", b"capture service ready")):
            process = UnitProcess(tmp_path / "root", name, tmp_path / f"{name}.log", ready)
            process.start()
            started.append(process)
        for process in started:
            caps = Path(f"/proc/{process.pid}/status").read_text()
            assert re.search(r"^NoNewPrivs:\s+1$", caps, re.M), process.name
        # Placement would choose between this queue's host and the session's: pin the owner to this one.
        from topology import hostctl
        from topology.models import LabHost
        deadline = time.monotonic() + 30  # the worker registers its host as it starts
        while not LabHost.objects.filter(queue=queue).exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        hostctl.pin(hostctl.host(queue), user=owner.username)

        lab = labs.deploy(reference_document())
        assert lab.queue == queue and lab.state == "running", lab.reason
        # A command in a node, through the exec worker (the API's path).
        answer = tasks.exec_in_node.apply_async(args=[lab.pk, "c1", ["ping", "-c", "1", "-W", "3", "192.168.11.2"], 10],
                                                queue=workers.exec_queue(queue)).get(timeout=30)
        assert answer.get("exit_code") == 0 and "ttl=63" in answer["output"], answer

        record = captures.ask(queue, {"op": "start", "user": owner.pk, "topology": lab.topology_id,
                                      "target": "r1:eth1", "filter": "icmp"})
        assert record.get("state") in ("starting", "running"), record
        deadline = time.monotonic() + 20  # tcpdump listens once it says so
        while (captures.record(record["id"]) or {}).get("state") != "running" and time.monotonic() < deadline:
            time.sleep(0.2)
        console = Terminal(lab, "c1", owner)

        async def body():
            await console.open()
            await console.type("ping -c 2 -W 3 192.168.11.2\n")
            await console.read_until(rb"ttl=63", timeout=20)
            await console.read_until(rb"2 received", timeout=20)
            await console.leave()

        run(body)
        deadline = time.monotonic() + 15  # tcpdump writes its buffer out about once a second
        while (captures.record(record["id"]) or {}).get("packets", 0) < 4 and time.monotonic() < deadline:
            time.sleep(0.2)
        ended = captures.ask(queue, {"op": "stop", "user": owner.pk, "capture": record["id"]})
        assert ended["packets"] >= 4, ended  # 2 requests and 2 replies, seen on r1's side of c2's link
        labs.destroy(lab)
        lab.refresh_from_db()
        assert lab.state == "stopped", lab.reason
    finally:
        for lab in labs.deployed:  # while the workers of this queue still run
            lab.refresh_from_db()
            if lab.state != "stopped":
                labs.destroy(lab)
        for process in reversed(started):
            process.stop()
