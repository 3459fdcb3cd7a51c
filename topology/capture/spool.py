"""A capture's files: ``<id>.pcap`` (whole packets only, as tcpdump wrote them) and ``<id>.idx`` (each packet's
offset in the pcap, 8 bytes little-endian), written by the service (:class:`SpoolWriter`), read by the web tier
(:func:`read_packet`, :func:`pcap_path`). Pure file handling: no Redis, no root."""
from __future__ import annotations

import os
import struct
from pathlib import Path

from . import ID_PATTERN

GLOBAL_HEADER = 24
RECORD_HEADER = 16
MAGICS = {b"\xd4\xc3\xb2\xa1": ("<", 1e-6), b"\xa1\xb2\xc3\xd4": (">", 1e-6),
          b"\x4d\x3c\xb2\xa1": ("<", 1e-9), b"\xa1\xb2\x3c\x4d": (">", 1e-9)}
INDEX = struct.Struct("<Q")
FILE_MODE = 0o640  # the web tier (the data dir's group) reads them; nobody else


LINKTYPE_ETHERNET = 1


def global_header(snaplen: int) -> bytes:
    """The pcap header tcpdump writes for an Ethernet interface on this (little-endian) host."""
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, LINKTYPE_ETHERNET)


class SpoolError(ValueError):
    """What tcpdump wrote is not a pcap stream."""


def pcap_path(directory: Path, capture_id: str) -> Path:
    if not ID_PATTERN.match(capture_id):
        raise ValueError("not a capture id")
    return Path(directory) / f"{capture_id}.pcap"


def index_path(directory: Path, capture_id: str) -> Path:
    return pcap_path(directory, capture_id).with_suffix(".idx")


class SpoolWriter:
    """Takes tcpdump's ``-w -`` output as it comes, keeps whole packets in the files and says which came."""

    def __init__(self, directory: Path, capture_id: str):
        Path(directory).mkdir(parents=True, exist_ok=True)
        self.path = pcap_path(directory, capture_id)
        self.index = index_path(directory, capture_id)
        self._pcap = _create(self.path)
        self._idx = _create(self.index)
        self.pending = bytearray()
        self.header: tuple[str, float] | None = None
        self.offset = 0            # bytes written to the pcap
        self.packets = 0
        self.first: float | None = None

    def feed(self, chunk: bytes, sample: int) -> tuple[list[tuple[int, float, bytes, int]], int]:
        """Add ``chunk``; return (the first ``sample`` new packets as (number, seconds since the first packet,
        captured bytes, length on the wire), how many new packets came in all)."""
        self.pending += chunk
        if self.header is None:
            if len(self.pending) < GLOBAL_HEADER:
                return [], 0
            found = MAGICS.get(bytes(self.pending[:4]))
            if found is None:
                raise SpoolError("the capture did not start with a pcap header")
            self.header = found
            self._write(self.pending[:GLOBAL_HEADER])
            del self.pending[:GLOBAL_HEADER]
        order, unit = self.header
        record = struct.Struct(order + "IIII")
        rows: list[tuple[int, float, bytes, int]] = []
        offsets = bytearray()
        position, count, view = 0, 0, self.pending
        while len(view) - position >= RECORD_HEADER:
            seconds, fraction, captured, length = record.unpack_from(view, position)
            end = position + RECORD_HEADER + captured
            if end > len(view):
                break
            count += 1
            self.packets += 1
            offsets += INDEX.pack(self.offset + position)
            stamp = seconds + fraction * unit
            if self.first is None:
                self.first = stamp
            if len(rows) < sample:
                rows.append((self.packets, stamp - self.first, bytes(view[position + RECORD_HEADER:end]), length))
            position = end
        if position:
            self._write(view[:position])
            self._idx.write(offsets)
            del self.pending[:position]
        return rows, count

    def _write(self, data) -> None:
        self._pcap.write(data)
        self.offset += len(data)

    def flush(self) -> None:
        """Make what was fed readable by the web tier (a download, a packet's detail)."""
        self._pcap.flush()
        self._idx.flush()

    def close(self) -> None:
        self.flush()
        self._pcap.close()
        self._idx.close()


def _create(path: Path):
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
    os.fchmod(descriptor, FILE_MODE)  # whatever the umask
    return os.fdopen(descriptor, "wb", buffering=256 * 1024)


def read_packet(directory: Path, capture_id: str, number: int) -> tuple[float, bytes, int] | None:
    """Packet ``number`` (from 1) of a capture: (seconds since its first packet, captured bytes, length on the
    wire), or None when the file has no such packet (yet)."""
    if number < 1:
        return None
    try:
        with open(index_path(directory, capture_id), "rb") as idx, open(pcap_path(directory, capture_id), "rb") as pcap:
            header = pcap.read(GLOBAL_HEADER)
            found = MAGICS.get(header[:4])
            if found is None:
                return None
            order, unit = found
            record = struct.Struct(order + "IIII")
            first = _stamp(pcap, record, unit, GLOBAL_HEADER)
            idx.seek((number - 1) * INDEX.size)
            raw = idx.read(INDEX.size)
            if len(raw) < INDEX.size or first is None:
                return None
            (offset,) = INDEX.unpack(raw)
            pcap.seek(offset)
            head = pcap.read(RECORD_HEADER)
            if len(head) < RECORD_HEADER:
                return None
            seconds, fraction, captured, length = record.unpack(head)
            data = pcap.read(captured)
            if len(data) < captured:
                return None
            return seconds + fraction * unit - first[0], data, length
    except FileNotFoundError:
        return None


def _stamp(pcap, record: struct.Struct, unit: float, offset: int):
    pcap.seek(offset)
    head = pcap.read(RECORD_HEADER)
    if len(head) < RECORD_HEADER:
        return None
    seconds, fraction, _, _ = record.unpack(head)
    return (seconds + fraction * unit,)


def remove(directory: Path, capture_id: str) -> None:
    for path in (pcap_path(directory, capture_id), index_path(directory, capture_id)):
        path.unlink(missing_ok=True)


def whole_length(directory: Path, capture_id: str) -> int:
    """How many bytes of the pcap hold whole packets now (the file may end in a packet half-written while the
    capture runs): the end of the last indexed packet that is all in the file; 0 before the header is."""
    path, index = pcap_path(directory, capture_id), index_path(directory, capture_id)
    try:
        size, entries = path.stat().st_size, index.stat().st_size // INDEX.size
        if size < GLOBAL_HEADER:
            return 0
        with open(path, "rb") as pcap, open(index, "rb") as idx:
            found = MAGICS.get(pcap.read(4))
            if found is None:
                return 0
            record = struct.Struct(found[0] + "IIII")
            for number in range(entries, max(0, entries - 64), -1):  # the last few only: the rest is written
                idx.seek((number - 1) * INDEX.size)
                (offset,) = INDEX.unpack(idx.read(INDEX.size))
                pcap.seek(offset)
                head = pcap.read(RECORD_HEADER)
                if len(head) == RECORD_HEADER and offset + RECORD_HEADER + record.unpack(head)[2] <= size:
                    return offset + RECORD_HEADER + record.unpack(head)[2]
            return GLOBAL_HEADER
    except FileNotFoundError:
        return 0
