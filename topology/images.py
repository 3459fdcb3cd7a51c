"""Node images, built on this host from Debian packages: no registry, no Dockerfile.

Each recipe is a Debian suite plus a package list. A build runs ``debootstrap
--variant=minbase`` into a temporary directory, trims what a lab node never
reads (apt lists and caches, docs, logs), and imports the tree into the Docker
Engine as ``<name>:latest`` labelled with the recipe's digest. A later build
whose recipe has not changed finds that label and does nothing.

This runs as root (the ``lab images --build`` command, the CI set-up): every
subprocess takes an argv list, never a shell string, and the temporary tree is
only removed once nothing is mounted inside it.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path

from . import apt_sources
from .engine.docker_runtime import DockerRuntime, RuntimeStepError
from .kinds import KINDS

# Bump when a build step below changes what ends up in an image (trimming,
# labels, CMD, debootstrap options): every image is then rebuilt once.
BUILD_STEPS_VERSION = 1

LABEL_RECIPE = "topolab.recipe"
LABEL_IMAGE = "topolab.image"
TAG = "latest"
# debootstrap's mirror: TOPOLAB_DEBIAN_MIRROR, else the host's apt sources, else this (topology.apt_sources).
DEFAULT_MIRROR = apt_sources.FALLBACK_MIRROR
_TREE_PREFIX = "topolab-image-"
# C sources of the small libraries some images carry (see Recipe.libraries).
NATIVE_DIR = Path(__file__).resolve().parent / "native"

# What every node has: the tools a network engineer types in the first minute, including the old ones that
# labs written for other tools use (ifconfig, route, brctl).
BASE_PACKAGES = (
    "iproute2", "iputils-ping", "iputils-tracepath", "traceroute", "tcpdump", "netcat-openbsd", "procps",
    "iptables", "nftables", "ethtool", "iperf3", "mtr-tiny", "net-tools", "bridge-utils", "socat", "curl",
    "bind9-dnsutils", "bash", "less", "vim-tiny",
)


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How one node image is made; the kinds that run it by default say so in :mod:`topology.kinds`."""

    name: str
    packages: tuple[str, ...]
    suite: str = "bookworm"
    variant: str = "minbase"
    components: tuple[str, ...] = ("main",)
    # (C source in topology/native, path in the image) of shared libraries compiled on the build host into the
    # tree: what no Debian package provides (the frr image's capability shim, topology/native/frr_caps.c).
    libraries: tuple[tuple[str, str], ...] = ()

    @property
    def kinds(self) -> tuple[str, ...]:
        """The node kinds whose default image this is, in registry order."""
        return tuple(kind.name for kind in KINDS.values() if kind.image == self.name)

    @property
    def reference(self) -> str:
        """The tag the engine runs, e.g. ``topolab/base:latest``."""
        return f"{self.name}:{TAG}"


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe("topolab/base", packages=BASE_PACKAGES),
        Recipe("topolab/frr", packages=BASE_PACKAGES + ("frr",),
               libraries=(("frr_caps.c", "/usr/lib/topolab/frr_caps.so"),)),
    )
}


@dataclasses.dataclass
class ImageStatus:
    """What the Docker Engine holds for one recipe."""

    name: str
    kinds: tuple[str, ...]
    present: bool
    up_to_date: bool
    image_id: str | None = None
    size_bytes: int | None = None
    created: str | None = None


class ImageBuildError(RuntimeError):
    """A node image could not be built; the message says which step failed and why."""


def recipe_digest(recipe: Recipe) -> str:
    """A stable hash of everything that shapes the image (not of the mirror it came from)."""
    shape = {
        "name": recipe.name,
        "suite": recipe.suite,
        "variant": recipe.variant,
        "components": sorted(recipe.components),
        "packages": sorted(set(recipe.packages)),
        "steps": BUILD_STEPS_VERSION,
    }
    if recipe.libraries:  # only then: the digests of images without any stay what they were
        shape["libraries"] = [[source, target, hashlib.sha256((NATIVE_DIR / source).read_bytes()).hexdigest()]
                              for source, target in recipe.libraries]
    blob = json.dumps(shape, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def _runtime(runtime: DockerRuntime | None = None) -> DockerRuntime:
    """The given runtime, or one with room for slow imports."""
    if runtime is not None:
        return runtime
    try:
        return DockerRuntime(timeout=900)
    except RuntimeStepError as exc:
        raise ImageBuildError(str(exc)) from None


def _status(recipe: Recipe, runtime: DockerRuntime) -> ImageStatus:
    """Look up ``recipe``'s image and compare its label with the recipe's digest."""
    try:
        info = runtime.image_info(recipe.reference)
    except RuntimeStepError as exc:
        raise ImageBuildError(f"{recipe.name}: {exc}") from None
    if info is None:
        return ImageStatus(recipe.name, recipe.kinds, present=False, up_to_date=False)
    return ImageStatus(
        recipe.name,
        recipe.kinds,
        present=True,
        up_to_date=info["labels"].get(LABEL_RECIPE) == recipe_digest(recipe),
        image_id=info["id"],
        size_bytes=info["size"],
        created=info["created"],
    )


def list_images(runtime: DockerRuntime | None = None) -> list[ImageStatus]:
    """The status of every recipe's image, in recipe order."""
    runtime = _runtime(runtime)
    return [_status(recipe, runtime) for recipe in RECIPES.values()]


def build_images(names: Iterable[str] | None = None, force: bool = False,
                 log: Callable[[str], None] = print, runtime: DockerRuntime | None = None) -> list[ImageStatus]:
    """Build the named recipes' images (all by default) unless already up to date; return their status."""
    names = list(RECIPES) if names is None else list(names)
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        raise ImageBuildError(f"unknown image {', '.join(unknown)}; known: {', '.join(RECIPES)}")
    runtime = _runtime(runtime)
    started = time.monotonic()

    def say(message: str) -> None:
        log(f"[{time.monotonic() - started:6.1f}s] {message}")

    statuses = []
    with _build_lock(say), _sigterm_raises():
        _remove_stale_trees(say)
        for name in names:
            recipe = RECIPES[name]
            status = _status(recipe, runtime)
            if status.up_to_date and not force:
                say(f"{name}: up to date ({status.image_id[:19]})")
            else:
                _build(recipe, runtime, say, replaces=status.image_id)
                status = _status(recipe, runtime)
                if not status.up_to_date:
                    raise ImageBuildError(f"{name}: imported, but the engine does not show the new label")
            statuses.append(status)
    say("images ready")
    return statuses


@contextlib.contextmanager
def _build_lock(say):
    """Serialise builds on this host: two set-ups at once would otherwise both debootstrap."""
    path = "/run/lock/topolab-images.lock" if os.path.isdir("/run/lock") else "/tmp/topolab-images.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)  # world-writable dir: no symlinks
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for another image build to finish ({path})")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextlib.contextmanager
def _sigterm_raises():
    """In the main thread, turn SIGTERM into an exception so that the temporary tree is cleaned up."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupted(signum, frame):
        raise ImageBuildError("image build interrupted by SIGTERM")

    previous = signal.signal(signal.SIGTERM, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _build_dir() -> Path:
    """Where trees are built: /var/tmp (on disk, and not noexec/nodev, which debootstrap needs)."""
    return Path(os.environ.get("TOPOLAB_BUILD_DIR", "/var/tmp"))


def _remove_stale_trees(say) -> None:
    """Remove trees that a killed build left behind (we hold the build lock, so none is in use)."""
    for stale in sorted(_build_dir().glob(_TREE_PREFIX + "*")):
        # Only our own directories: anyone may create names in /var/tmp.
        if stale.is_symlink() or not stale.is_dir() or stale.stat().st_uid != os.geteuid():
            continue
        say(f"removing {stale}, left by an interrupted build")
        _remove_tree(stale)


def _build(recipe: Recipe, runtime: DockerRuntime, say, replaces: str | None) -> None:
    """Debootstrap, trim and import one recipe; the temporary tree is removed whatever happens."""
    digest = recipe_digest(recipe)
    mirror = apt_sources.host_mirror(recipe.suite, recipe.components)
    workdir = Path(tempfile.mkdtemp(prefix=_TREE_PREFIX, dir=_build_dir()))
    root = workdir / "rootfs"
    try:
        say(f"{recipe.name}: debootstrap {recipe.suite} ({recipe.variant}, {len(recipe.packages)} packages) from {mirror}")
        _run(
            [
                "debootstrap",
                f"--variant={recipe.variant}",
                f"--components={','.join(recipe.components)}",
                f"--include={','.join(sorted(set(recipe.packages)))}",
                recipe.suite, str(root), mirror.uri,
            ],
            f"{recipe.name}: debootstrap",
        )
        say(f"{recipe.name}: debootstrap done; trimming")
        _trim(root)
        _compile_libraries(recipe, root, say)
        say(f"{recipe.name}: importing into the Docker Engine as {recipe.reference}")
        _import(root, recipe, digest, runtime)
        say(f"{recipe.name}: built {recipe.reference} ({digest[:19]})")
    finally:
        _remove_tree(workdir)
    if replaces:
        # The previous build is now untagged; drop it unless a container still uses it.
        reason = runtime.remove_image(replaces)
        if reason:
            say(f"{recipe.name}: kept the previous image {replaces[:19]}: {reason}")


def _compile_libraries(recipe: Recipe, root: Path, say) -> None:
    """Compile the recipe's C sources into shared libraries inside the tree (the host's ``cc``; the host and
    the image are both Debian, so the C library the result links against is the image's or older)."""
    for source, target in recipe.libraries:
        out = root / target.lstrip("/")
        out.parent.mkdir(parents=True, exist_ok=True)
        say(f"{recipe.name}: compiling {source} into {target}")
        _run(["cc", "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(out),
              str(NATIVE_DIR / source), "-ldl"], f"{recipe.name}: compiling {source} (needs gcc and libc6-dev)")
        out.chmod(0o644)


def _run(argv: list[str], what: str) -> None:
    """Run ``argv`` in its own process group; on failure raise ImageBuildError with its last lines.

    If we are interrupted, the whole group (debootstrap, dpkg, maintainer scripts)
    is stopped before the caller's clean-up starts deleting the tree under it.
    """
    tail: deque[str] = deque(maxlen=40)
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace", start_new_session=True)
    except FileNotFoundError as exc:
        raise ImageBuildError(f"{what}: {argv[0]} is not installed (bash compose/up installs it)") from exc
    try:
        for line in proc.stdout:
            tail.append(line.rstrip())
        proc.wait()
    except BaseException:
        _stop_group(proc)
        raise
    finally:
        proc.stdout.close()
    if proc.returncode != 0:
        raise ImageBuildError(f"{what} failed (exit {proc.returncode}):\n" + "\n".join(tail))


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the process group led by ``proc``, then SIGKILL it if it is still there after 20 s."""
    for sig, grace in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


# What a lab node never reads. Directories are emptied, not removed, so that
# packages find the directories they own (e.g. /var/log/frr, owned by frr).
_TRIM_CONTENTS = ("var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man",
                  "usr/share/info", "usr/share/lintian", "dev")
# Docker mounts its own /dev, /etc/hostname and /etc/resolv.conf, so the build
# host's copies (debootstrap copies them in) go.
_TRIM_FILES = ("etc/hostname", "etc/resolv.conf", "var/cache/debconf/config.dat-old",
               "var/cache/debconf/templates.dat-old", "var/lib/dpkg/status-old")


def _trim(root: Path) -> None:
    """Empty caches, package lists, docs, translations and logs (log files, not their directories)."""
    if _mounts_under(root):
        raise ImageBuildError(f"trim: something is still mounted under {root}; refusing to touch it")
    for rel in _TRIM_CONTENTS:
        top = root / rel
        if top.is_dir() and not top.is_symlink():
            for child in top.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
    locales = root / "usr/share/locale"  # translations (a third of the image); keep locale.alias
    for child in locales.iterdir() if locales.is_dir() else ():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
    for dirpath, _dirs, files in os.walk(root / "var/log"):
        for name in files:
            os.unlink(os.path.join(dirpath, name))
    for rel in _TRIM_FILES:
        (root / rel).unlink(missing_ok=True)
    if (root / "debootstrap").is_dir():  # only left behind by a failed run, but be sure
        shutil.rmtree(root / "debootstrap")
    # apt expects these to exist; keep `apt-get` working inside a node.
    for rel in ("var/cache/apt/archives/partial", "var/lib/apt/lists/partial"):
        (root / rel).mkdir(parents=True, exist_ok=True)


def _import(root: Path, recipe: Recipe, digest: str, runtime: DockerRuntime) -> None:
    """Stream the tree as a tar into the engine's image import, with labels and a CMD."""
    changes = [
        f"LABEL {LABEL_RECIPE}={digest}",
        f"LABEL {LABEL_IMAGE}={recipe.name}",
        # An imported image has no config at all: say PATH so `docker exec` finds the tools.
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        'CMD ["sleep", "infinity"]',
    ]
    # --numeric-owner: the build host's user names mean nothing in the image.
    # --xattrs: keeps file capabilities (ping's cap_net_raw).
    argv = ["tar", "--create", "--file=-", f"--directory={root}", "--numeric-owner", "--sort=name",
            "--xattrs", "--xattrs-include=security.capability", "."]
    # tar's complaints go to a file: a pipe nobody reads could fill up and stall it.
    with tempfile.TemporaryFile() as errors, \
            subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors) as tar:
        failure = None
        try:
            runtime.import_image(iter(lambda: tar.stdout.read(1 << 20), b""), recipe.name, TAG, changes)
        except RuntimeStepError as exc:
            failure = exc
            tar.kill()  # does nothing if tar has already finished
        except BaseException:
            tar.kill()
            raise
        tar.wait()
        errors.seek(0)
        # A tar that failed on its own explains a failed import better than the engine does.
        if tar.returncode != 0 and not (failure and tar.returncode == -signal.SIGKILL):
            message = errors.read().decode(errors="replace").strip()
            raise ImageBuildError(f"{recipe.name}: tar failed (exit {tar.returncode}): {message}")
    if failure:
        raise ImageBuildError(f"{recipe.name}: {failure}")


def _mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path`` (debootstrap mounts /proc, /sys and maybe /dev in its target)."""
    prefix = str(path.resolve())
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mount_point = line.split()[4].replace("\\040", " ")
            if mount_point == prefix or mount_point.startswith(prefix + "/"):
                found.append(mount_point)
    return found


def _remove_tree(path: Path) -> None:
    """Unmount what a failed debootstrap left mounted inside ``path``, then delete it.

    Deleting through a leftover bind mount of /dev would delete the host's /dev,
    so if anything is still mounted afterwards the tree is left in place.
    """
    if not path.exists():
        return
    for mount_point in sorted(_mounts_under(path), key=len, reverse=True):
        subprocess.run(["umount", "--lazy", mount_point], stdin=subprocess.DEVNULL, check=False)
    left = _mounts_under(path)
    if left:
        raise ImageBuildError(f"could not unmount {', '.join(left)}; remove {path} by hand")
    shutil.rmtree(path)
