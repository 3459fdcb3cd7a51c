"""Unit tests of the safe reader of uploaded labs (topology/interop/archive.py): zip and tar.gz members that
climb out, absolute paths, links leaving the folder, devices, and bombs are refused; nothing is written."""
from __future__ import annotations

import io
import os
import tarfile
import zipfile

import pytest

from topology.interop import InteropError, archive, read_folder, read_upload


def zip_of(members: dict[str, bytes], links: dict[str, str] | None = None, compress=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compress) as z:
        for name, data in members.items():
            z.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777) << 16
            z.writestr(info, target)
    return buffer.getvalue()


def tar_of(build) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as t:
        build(t)
    return buffer.getvalue()


def add(t: tarfile.TarFile, name: str, data: bytes = b"", **attrs) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    t.addfile(info, io.BytesIO(data) if data else None)


def test_a_zip_reads_into_memory_with_its_modes_and_its_top_folder_stripped():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("lab/lab.conf", 'a[0]="X"\n')
        info = zipfile.ZipInfo("lab/a.startup")
        info.external_attr = (0o100755) << 16
        z.writestr(info, "echo hi\n")
    files = read_upload("lab.zip", buffer.getvalue())
    assert set(files) == {"lab.conf", "a.startup"} and files["a.startup"].mode == 0o755


def test_a_tar_gz_reads_with_links_inside_followed():
    def build(t):
        add(t, "lab.conf", b'a[0]="X"\n')
        add(t, "a/etc/real.conf", b"x=1\n")
        add(t, "a/etc/alias.conf", type=tarfile.SYMTYPE, linkname="real.conf")
    files = read_upload("lab.tar.gz", tar_of(build))
    assert files["a/etc/alias.conf"].data == b"x=1\n"


@pytest.mark.parametrize("name", ["/etc/passwd", "../outside.txt", "a/../../outside.txt", "C:/windows/x"])
def test_a_zip_member_that_leaves_the_folder_is_refused(name):
    with pytest.raises(InteropError) as exc:
        read_upload("lab.zip", zip_of({"lab.conf": b"", name: b"x"}))
    assert exc.value.problems[0].file == "lab.zip"
    assert "absolute" in str(exc.value) or "climbs out" in str(exc.value)


@pytest.mark.parametrize("target", ["/etc/shadow", "../../../etc/shadow"])
def test_a_zip_symlink_out_of_the_folder_is_refused(target):
    with pytest.raises(InteropError, match="outside the lab's folder"):
        read_upload("lab.zip", zip_of({"lab.conf": b""}, {"r1/etc/shadow": target}))


@pytest.mark.parametrize("kind,linkname", [(tarfile.SYMTYPE, "/etc/shadow"), (tarfile.SYMTYPE, "../../../x"),
                                           (tarfile.LNKTYPE, "/etc/shadow")])
def test_a_tar_link_out_of_the_folder_is_refused(kind, linkname):
    def build(t):
        add(t, "lab.conf", b"")
        add(t, "r1/etc/x", type=kind, linkname=linkname)
    with pytest.raises(InteropError, match="outside the lab's folder|absolute"):
        read_upload("lab.tar.gz", tar_of(build))


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
def test_a_tar_device_or_fifo_is_refused(kind):
    def build(t):
        add(t, "lab.conf", b"")
        add(t, "r1/dev/sda", type=kind)
    with pytest.raises(InteropError, match="not a regular file"):
        read_upload("lab.tar.gz", tar_of(build))


def test_a_zip_bomb_is_refused_before_it_is_inflated(monkeypatch):
    bomb = zip_of({"lab.conf": b"", "zeros": b"\0" * (20 * 1024 * 1024)})
    assert len(bomb) < 100 * 1024  # it is a bomb: tiny compressed
    read = []
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda *a, **k: read.append(a) or pytest.fail("inflated"))
    with pytest.raises(InteropError, match="past the limits"):
        read_upload("bomb.zip", bomb)
    assert not read


def test_a_tar_bomb_is_refused():
    def build(t):
        add(t, "lab.conf", b"")
        add(t, "zeros", b"\0" * (20 * 1024 * 1024))
    with pytest.raises(InteropError, match="inflates|a lab's file is at most"):
        read_upload("bomb.tar.gz", tar_of(build))


def test_a_tar_that_inflates_too_much_is_refused(monkeypatch):
    def build(t):
        add(t, "lab.conf", b"")
        for i in range(4):
            add(t, f"zeros{i}", b"\0" * (1024 * 1024))
    with pytest.raises(InteropError, match="inflates more than 100 times"):
        read_upload("bomb.tar.gz", tar_of(build))


def test_a_link_inside_the_folder_is_followed_even_upwards():
    files = read_upload("lab.zip", zip_of({"lab.conf": b"", "etc/shadow": b"lab's own\n"},
                                          {"r1/etc/shadow": "../../etc/shadow"}))
    assert files["r1/etc/shadow"].data == b"lab's own\n"


def test_too_many_files_are_refused(monkeypatch):
    monkeypatch.setattr(archive, "MAX_FILES", 5)
    with pytest.raises(InteropError, match="files"):
        read_upload("many.zip", zip_of({f"f{i}": b"x" for i in range(6)}))


def test_an_oversized_upload_is_refused_unread(monkeypatch):
    monkeypatch.setattr(archive, "MAX_ARCHIVE_BYTES", 100)
    with pytest.raises(InteropError, match="the limit is 100"):
        read_upload("big.zip", zip_of({"a": os.urandom(200)}))


def test_a_folder_with_a_link_out_is_refused_and_one_inside_is_followed(tmp_path):
    (tmp_path / "lab.conf").write_text('a[0]="X"\n')
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "real").write_text("inside\n")
    (tmp_path / "a" / "alias").symlink_to("real")
    assert read_folder(str(tmp_path))["a/alias"].data == b"inside\n"
    (tmp_path / "a" / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(InteropError) as exc:
        read_folder(str(tmp_path))
    assert exc.value.problems[0].file == "a/passwd" and "outside" in exc.value.problems[0].message


def test_a_single_file_upload_is_the_file_itself():
    assert set(read_upload("x/lab.clab.yml", b"name: x\n")) == {"lab.clab.yml"}
