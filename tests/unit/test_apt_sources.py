"""Unit tests of :mod:`topology.apt_sources`: the mirror the node images are built from.

Every test writes an apt configuration (``sources.list``, ``sources.list.d``)
into a temporary directory and passes it as ``root``; none reads the host's
``/etc/apt``, so the answers are exact. ``environ={}`` keeps the caller's
``TOPOLAB_DEBIAN_MIRROR`` out of them.
"""
from __future__ import annotations

import functools
from pathlib import Path

import pytest

from topology import apt_sources, images
from topology.apt_sources import FALLBACK_MIRROR, host_mirror

MIRROR = "http://mirror.example.org/debian"
OTHER = "http://other.example.net/debian"

# Debian 12's own deb822 file (as the debian:bookworm image and this project's CI host have it),
# with the URIs pointing at a mirror instead of deb.debian.org.
BOOKWORM_SOURCES = f"""\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: {MIRROR}
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://security.example.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


def write(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (paths relative to ``root``) and return ``root``."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def pick(root: Path, suite: str = "bookworm", components=("main",), environ=None) -> apt_sources.Mirror:
    return host_mirror(suite, components, root=root, environ={} if environ is None else environ)


def mirror_tree(path: Path, suite: str = "bookworm", release: str = "InRelease") -> Path:
    """A local mirror tree as debmirror or apt-mirror leave it (just the file that proves it)."""
    (path / "dists" / suite).mkdir(parents=True)
    (path / "dists" / suite / release).write_text("Origin: Debian\n")
    return path


# --- one-line format -------------------------------------------------------------------------


def test_one_line_sources_list(tmp_path):
    root = write(tmp_path, {"sources.list": f"deb {MIRROR} bookworm main\n"})
    mirror = pick(root)
    assert (mirror.uri, mirror.origin, mirror.path, mirror.line) == (MIRROR, "apt", str(root / "sources.list"), 1)
    assert mirror.note == f"from {root / 'sources.list'}:1"
    assert str(mirror) == f"{MIRROR} (from {root / 'sources.list'}:1)"


def test_one_line_comments_blank_lines_and_deb_src(tmp_path):
    root = write(tmp_path, {"sources.list": "\n".join([
        "# deb http://commented.example.org/debian bookworm main",
        "",
        "   ",
        "#deb http://commented2.example.org/debian bookworm main",
        "deb-src http://source.example.org/debian bookworm main",
        f"deb {MIRROR} bookworm main contrib non-free-firmware # the local mirror",
        "",
    ])})
    mirror = pick(root)
    assert (mirror.uri, mirror.line) == (MIRROR, 6)


@pytest.mark.parametrize("line", [
    f"deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {MIRROR} bookworm main",
    f"deb [ arch=amd64,arm64 ] {MIRROR} bookworm main",
    f"deb [arch=amd64]\t{MIRROR}\tbookworm\tmain",
    f"deb[arch=amd64] {MIRROR} bookworm main",
    f"deb [signed-by=/etc/keys/a#b.gpg] {MIRROR} bookworm main  # '#' inside [...] is not a comment",
    f"  deb {MIRROR}/ bookworm main",  # leading blanks, trailing slash
    f"deb {MIRROR}// bookworm main",
])
def test_one_line_options_and_spelling(tmp_path, line):
    root = write(tmp_path, {"sources.list": line + "\n"})
    assert pick(root).uri == MIRROR


def test_a_trailing_comment_ends_the_entry(tmp_path):
    root = write(tmp_path, {"sources.list": f"deb {OTHER} bookworm # main\ndeb {MIRROR} bookworm main#contrib\n"})
    assert (pick(root).uri, pick(root).line) == (MIRROR, 2)
    assert [e.components for e in apt_sources.read_entries(root)] == [("main",)]


def test_a_malformed_uri_is_skipped_not_an_error(tmp_path):
    root = write(tmp_path, {"sources.list": f"deb http://[oops]x/debian bookworm main\ndeb {MIRROR} bookworm main\n"})
    assert (pick(root).uri, pick(root).line) == (MIRROR, 2)


@pytest.mark.parametrize("uri", ["http://[::1]:3142/debian", "http://apt-cacher.example.org:3142/deb.debian.org/debian"])
def test_a_proxy_or_ipv6_mirror(tmp_path, uri):
    root = write(tmp_path, {"sources.list": f"deb {uri}/ bookworm main\n"})
    assert pick(root).uri == uri


def test_unterminated_options_are_refused(tmp_path):
    root = write(tmp_path, {"sources.list": f"deb [arch=amd64 {OTHER} bookworm main\ndeb {MIRROR} bookworm main\n"})
    assert (pick(root).uri, pick(root).line) == (MIRROR, 2)


def test_cdrom_is_ignored(tmp_path):
    root = write(tmp_path, {"sources.list": "\n".join([
        "deb cdrom:[Debian GNU/Linux 12.5.0 _Bookworm_ - Official amd64 DVD Binary-1 20240210-11:28]/ bookworm contrib main",
        f"deb {MIRROR} bookworm main",
    ])})
    assert (pick(root).uri, pick(root).line) == (MIRROR, 2)


@pytest.mark.parametrize("uri", [
    "mirror+file:/etc/apt/mirrors/debian.list",
    "mirror+http://mirrors.example.org/debian.list",
    "mirror://mirrors.example.org/debian.list",
    "tor+http://vwakviie2ienjx6t.onion/debian",
    "ssh://user@host/srv/debian",
    "rsh://host/srv/debian",
])
def test_transports_debootstrap_lacks_are_ignored(tmp_path, uri):
    root = write(tmp_path, {"sources.list": f"deb {uri} bookworm main\ndeb {MIRROR} bookworm main\n"})
    assert (pick(root).uri, pick(root).line) == (MIRROR, 2)


@pytest.mark.parametrize("scheme", ["https", "ftp", "HTTP"])
def test_https_and_ftp_are_used(tmp_path, scheme):
    root = write(tmp_path, {"sources.list": f"deb {scheme}://mirror.example.org/debian/ bookworm main\n"})
    assert pick(root).uri == f"{scheme.lower()}://mirror.example.org/debian"


def test_flat_repository_is_ignored(tmp_path):
    root = write(tmp_path, {"sources.list": f"deb {OTHER} ./\ndeb {OTHER}/bookworm bookworm/\ndeb {MIRROR} bookworm main\n"})
    assert pick(root).uri == MIRROR


# --- local mirror trees (file:, copy:) --------------------------------------------------------


@pytest.mark.parametrize("spelling", ["file:{}", "file://{}", "file://localhost{}", "copy:{}", "file:{}/"])
def test_local_mirror_tree(tmp_path, spelling):
    tree = mirror_tree(tmp_path / "srv" / "debian")
    root = write(tmp_path / "etc", {"sources.list": f"deb {spelling.format(tree)} bookworm main\n"})
    assert pick(root).uri == f"file://{tree}"


def test_local_mirror_tree_with_only_a_release_file(tmp_path):
    tree = mirror_tree(tmp_path / "debian", release="Release")
    root = write(tmp_path / "etc", {"sources.list": f"deb file:{tree} bookworm main\n"})
    assert pick(root).uri == f"file://{tree}"


def test_file_uri_without_the_suite_is_ignored(tmp_path):
    mirror_tree(tmp_path / "trixie-only", suite="trixie")
    (tmp_path / "empty").mkdir()
    root = write(tmp_path / "etc", {"sources.list": "\n".join([
        f"deb file:{tmp_path / 'missing'} bookworm main",  # no such directory
        f"deb file:{tmp_path / 'empty'} bookworm main",  # a directory, not a mirror
        f"deb file:{tmp_path / 'trixie-only'} bookworm main",  # a mirror, but not of bookworm
        "deb file://fileserver.example.org/srv/debian bookworm main",  # not on this host
        f"deb {MIRROR} bookworm main",
    ])})
    assert (pick(root).uri, pick(root).line) == (MIRROR, 5)


# --- deb822 format ----------------------------------------------------------------------------


def test_deb822_only_as_on_debian_12(tmp_path):
    # No sources.list at all: Debian 12 images have only sources.list.d/debian.sources.
    root = write(tmp_path, {"sources.list.d/debian.sources": BOOKWORM_SOURCES})
    mirror = pick(root)
    where = root / "sources.list.d" / "debian.sources"
    assert (mirror.uri, mirror.path, mirror.line) == (MIRROR, str(where), 3)
    assert str(mirror) == f"{MIRROR} (from {where}:3)"


def test_deb822_disabled_stanza_is_skipped(tmp_path):
    root = write(tmp_path, {"sources.list.d/debian.sources": f"""\
Types: deb
URIs: {OTHER}
Suites: bookworm
Components: main
Enabled: no

Types: deb
URIs: {MIRROR}
Suites: bookworm
Components: main
Enabled: yes
"""})
    assert (pick(root).uri, pick(root).line) == (MIRROR, 8)


@pytest.mark.parametrize("value", ["no", "No", "false", "off", "0"])
def test_deb822_every_spelling_of_disabled(tmp_path, value):
    root = write(tmp_path, {"sources.list.d/a.sources": f"Types: deb\nURIs: {OTHER}\nSuites: bookworm\n"
                                                        f"Components: main\nEnabled: {value}\n",
                            "sources.list.d/b.list": f"deb {MIRROR} bookworm main\n"})
    assert pick(root).uri == MIRROR


def test_deb822_several_uris_and_suites(tmp_path):
    root = write(tmp_path, {"sources.list.d/debian.sources": f"""\
Types: deb-src
URIs: http://source.example.org/debian
Suites: bookworm
Components: main

types: deb deb-src
uris: {MIRROR}/ {OTHER}
suites: bookworm-updates bookworm
components: main contrib
"""})
    mirror = pick(root)
    assert (mirror.uri, mirror.line) == (MIRROR, 7)
    entries = list(apt_sources.read_entries(root))
    assert [(e.uri, e.suite) for e in entries] == [
        (f"{MIRROR}/", "bookworm-updates"), (OTHER, "bookworm-updates"), (f"{MIRROR}/", "bookworm"), (OTHER, "bookworm"),
    ]


def test_deb822_comments_continuations_and_an_embedded_key(tmp_path):
    root = write(tmp_path, {"sources.list.d/debian.sources": f"""\
# a comment before the stanza
Types: deb
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mDMEZx/URIs: {OTHER}
 -----END PGP PUBLIC KEY BLOCK-----
# a comment inside it
URIs:
# old: {OTHER}
 {MIRROR}
Suites: bookworm
Components: main
"""})
    assert pick(root).uri == MIRROR


def test_deb822_without_types_or_components_is_ignored(tmp_path):
    root = write(tmp_path, {"sources.list.d/debian.sources": f"""\
URIs: {OTHER}
Suites: bookworm
Components: main

Types: deb
URIs: {OTHER}
Suites: bookworm

Types: deb
URIs: {MIRROR}
Suites: bookworm
Components: main
"""})
    assert pick(root).uri == MIRROR


# --- both formats, and apt's order ------------------------------------------------------------


def test_sources_list_comes_before_sources_list_d(tmp_path):
    root = write(tmp_path, {"sources.list": f"deb {OTHER} bookworm main\n",
                            "sources.list.d/debian.sources": BOOKWORM_SOURCES})
    assert pick(root).uri == OTHER
    assert pick(root).path == str(root / "sources.list")


def test_parts_are_read_in_name_order_whatever_their_format(tmp_path):
    root = write(tmp_path, {"sources.list.d/20-b.list": f"deb {OTHER} bookworm main\n",
                            "sources.list.d/10-a.sources": BOOKWORM_SOURCES})
    assert pick(root).uri == MIRROR


def test_sources_list_with_only_security_defers_to_sources_list_d(tmp_path):
    root = write(tmp_path, {"sources.list": "deb http://security.debian.org/debian-security bookworm-security main\n",
                            "sources.list.d/debian.sources": BOOKWORM_SOURCES})
    assert pick(root).uri == MIRROR


@pytest.mark.parametrize("name", ["debian.sources.disabled-by-farm", "debian.list.dpkg-old", "debian.list~",
                                  "debian list.list", "debian.sources.save"])
def test_files_apt_ignores_are_ignored(tmp_path, name):
    root = write(tmp_path, {f"sources.list.d/{name}": f"deb {OTHER} bookworm main\n",
                            "sources.list.d/z.list": f"deb {MIRROR} bookworm main\n"})
    assert pick(root).uri == MIRROR


def test_a_directory_named_like_a_part_is_ignored(tmp_path):
    (tmp_path / "sources.list.d" / "weird.list").mkdir(parents=True)
    root = write(tmp_path, {"sources.list.d/z.list": f"deb {MIRROR} bookworm main\n"})
    assert pick(root).uri == MIRROR


# --- what is not the archive of the suite -----------------------------------------------------


def test_security_updates_and_backports_only_fall_back(tmp_path):
    root = write(tmp_path, {
        "sources.list": "\n".join([
            "deb http://security.debian.org/debian-security bookworm-security main",
            "deb http://security.debian.org/ bookworm/updates main",  # the pre-bullseye spelling
            "deb http://security.debian.org/debian-security bookworm main",  # wrong suite, still security
            "deb http://deb.debian.org/debian-security bookworm main",
            f"deb {OTHER} bookworm-updates main",
            f"deb {OTHER} bookworm-backports main",
            f"deb {OTHER} bookworm-proposed-updates main",
        ]),
        "sources.list.d/security.sources": "Types: deb\nURIs: http://mirror.example.org/debian-security/\n"
                                           "Suites: bookworm\nComponents: main\n",
    })
    mirror = pick(root)
    assert (mirror.uri, mirror.origin, mirror.path, mirror.line) == (FALLBACK_MIRROR, "fallback", None, None)


def test_updates_listed_first_do_not_win(tmp_path):
    root = write(tmp_path, {"sources.list": "\n".join([
        f"deb {OTHER} bookworm-updates main",
        "deb http://security.debian.org/debian-security bookworm-security main",
        f"deb {MIRROR} bookworm main",
    ])})
    assert (pick(root).uri, pick(root).line) == (MIRROR, 3)


def test_the_components_must_all_be_listed(tmp_path):
    root = write(tmp_path, {"sources.list": f"deb {OTHER} bookworm contrib non-free\ndeb {MIRROR} bookworm main\n"})
    assert pick(root).uri == MIRROR
    root = write(tmp_path / "two", {"sources.list": f"deb {OTHER} bookworm main\ndeb {MIRROR} bookworm main contrib\n"})
    assert pick(root, components=("main", "contrib")).uri == MIRROR


def test_exact_suite_beats_another_release_listed_earlier(tmp_path):
    root = write(tmp_path, {"sources.list": f"deb {OTHER} trixie main\n",
                            "sources.list.d/bookworm.list": f"deb {MIRROR} bookworm main\n"})
    assert pick(root).uri == MIRROR


@pytest.mark.parametrize("suite", ["trixie", "stable", "sid", "testing"])
def test_a_debian_archive_for_another_release_is_used(tmp_path, suite):
    # A Debian 13 host building bookworm images: its (local) mirror serves bookworm too.
    root = write(tmp_path, {"sources.list.d/debian.sources":
                            f"Types: deb\nURIs: {MIRROR}\nSuites: {suite} {suite}-updates\nComponents: main\n"})
    mirror = pick(root)
    where = root / "sources.list.d" / "debian.sources"
    assert (mirror.uri, mirror.origin) == (MIRROR, "apt")
    assert mirror.note == f"from {where}:2, a Debian archive listed there for {suite}"


def test_another_distribution_is_not_a_debian_archive(tmp_path):
    root = write(tmp_path, {"sources.list": "\n".join([
        "deb http://archive.ubuntu.com/ubuntu jammy main restricted",
        "deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main",
        "deb https://deb.nodesource.com/node_20.x nodistro main",
    ])})
    assert pick(root).uri == FALLBACK_MIRROR


def test_a_non_debian_suite_only_matches_exactly(tmp_path):
    root = write(tmp_path, {"sources.list": f"deb {OTHER} trixie main\ndeb {MIRROR} jammy main\n"})
    assert pick(root, suite="jammy").uri == MIRROR
    assert pick(root, suite="noble").uri == FALLBACK_MIRROR


# --- missing files, the environment, the fallback ---------------------------------------------


def test_no_apt_directory_at_all(tmp_path):
    mirror = pick(tmp_path / "nowhere")
    assert (mirror.uri, mirror.origin) == (FALLBACK_MIRROR, "fallback")
    assert mirror.note == (f"the default: the apt sources in {tmp_path / 'nowhere'} name no usable Debian archive"
                           " for bookworm main")


def test_empty_sources(tmp_path):
    root = write(tmp_path, {"sources.list": "# nothing here\n", "sources.list.d/empty.sources": "\n\n"})
    assert pick(root).uri == FALLBACK_MIRROR


def test_fallback_note_is_clear(tmp_path):
    root = write(tmp_path, {"sources.list": "deb cdrom:[Debian 12]/ bookworm main\n"})
    assert str(pick(root, components=("main", "contrib"))) == (
        f"http://deb.debian.org/debian (the default: the apt sources in {root} name no usable Debian archive"
        " for bookworm main contrib)")


def test_an_unreadable_file_is_skipped(tmp_path, monkeypatch):
    root = write(tmp_path, {"sources.list": f"deb {OTHER} bookworm main\n",
                            "sources.list.d/z.list": f"deb {MIRROR} bookworm main\n"})
    real = Path.read_text

    def read_text(self, *args, **kwargs):
        if self.name == "sources.list":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)
    assert pick(root).uri == MIRROR


def test_environment_wins(tmp_path):
    root = write(tmp_path, {"sources.list.d/debian.sources": BOOKWORM_SOURCES})
    mirror = pick(root, environ={"TOPOLAB_DEBIAN_MIRROR": " http://env.example.org/debian "})
    assert (mirror.uri, mirror.origin, mirror.path) == ("http://env.example.org/debian", "env", None)
    assert str(mirror) == "http://env.example.org/debian (from TOPOLAB_DEBIAN_MIRROR)"


def test_environment_wins_over_the_fallback_too(tmp_path):
    mirror = pick(tmp_path, environ={"TOPOLAB_DEBIAN_MIRROR": "file:///srv/debian"})
    assert (mirror.uri, mirror.origin) == ("file:///srv/debian", "env")


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_environment_variable_is_unset(tmp_path, blank):
    root = write(tmp_path, {"sources.list.d/debian.sources": BOOKWORM_SOURCES})
    assert pick(root, environ={"TOPOLAB_DEBIAN_MIRROR": blank}).uri == MIRROR


def test_the_process_environment_is_the_default(tmp_path, monkeypatch):
    root = write(tmp_path, {"sources.list.d/debian.sources": BOOKWORM_SOURCES})
    monkeypatch.setenv("TOPOLAB_DEBIAN_MIRROR", "http://env.example.org/debian")
    assert host_mirror("bookworm", root=root).uri == "http://env.example.org/debian"
    monkeypatch.delenv("TOPOLAB_DEBIAN_MIRROR")
    assert host_mirror("bookworm", root=root).uri == MIRROR


def test_a_password_is_not_logged(tmp_path):
    root = write(tmp_path, {"sources.list": "deb https://me:s3cret@mirror.example.org/debian bookworm main\n"})
    mirror = pick(root)
    assert mirror.uri == "https://me:s3cret@mirror.example.org/debian"
    assert str(mirror) == f"https://me:***@mirror.example.org/debian (from {root / 'sources.list'}:1)"


# --- the build uses it ------------------------------------------------------------------------


def test_build_debootstraps_from_the_host_mirror_and_says_where_it_came_from(tmp_path, monkeypatch):
    apt = write(tmp_path / "apt", {"sources.list.d/debian.sources": BOOKWORM_SOURCES})
    monkeypatch.delenv("TOPOLAB_DEBIAN_MIRROR", raising=False)
    monkeypatch.setattr(images.apt_sources, "host_mirror", functools.partial(host_mirror, root=apt))
    monkeypatch.setenv("TOPOLAB_BUILD_DIR", str(tmp_path))
    ran = []
    monkeypatch.setattr(images, "_run", lambda argv, what: ran.append(argv))
    monkeypatch.setattr(images, "_trim", lambda root: None)
    monkeypatch.setattr(images, "_import", lambda root, recipe, digest, runtime: None)
    said = []
    images._build(images.RECIPES["topolab/base"], runtime=None, say=said.append, replaces=None)
    assert ran[0][0] == "debootstrap"
    assert ran[0][-3] == images.RECIPES["topolab/base"].suite and ran[0][-1] == MIRROR
    assert said[0].endswith(f"from {MIRROR} (from {apt / 'sources.list.d' / 'debian.sources'}:3)")
    assert images.DEFAULT_MIRROR == FALLBACK_MIRROR == "http://deb.debian.org/debian"
