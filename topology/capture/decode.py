"""One packet in detail, for the row a user clicks: its layers (each header's fields, outermost first) and a hex
dump. Pure: bytes in, a dict out; a layer that does not parse ends the list with what is left as raw data."""
from __future__ import annotations

import dpkt

from .summary import address, mac, row

MAX_LAYERS = 8
ADDRESS_FIELDS = {"src", "dst", "spa", "tpa"}
MAC_FIELDS = {"sha", "tha"}
NAMES = {"Ethernet": "Ethernet II", "IP": "Internet Protocol version 4", "IP6": "Internet Protocol version 6",
         "ARP": "Address Resolution Protocol", "ICMP": "Internet Control Message Protocol", "ICMP6": "ICMPv6",
         "TCP": "Transmission Control Protocol", "UDP": "User Datagram Protocol", "DNS": "Domain Name System",
         "Echo": "Echo", "OSPF": "Open Shortest Path First", "BGP": "Border Gateway Protocol"}


def hexdump(data: bytes) -> str:
    """Lines of 16 bytes: offset, hex, and the printable characters (``.`` for the others)."""
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset:offset + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:04x}  {hexes[:23]:<23}  {hexes[24:]:<23}  {text}")
    return "\n".join(lines)


def _value(layer, name: str, value) -> str:
    if isinstance(value, bytes):
        if name in ADDRESS_FIELDS and len(value) in (4, 16):
            return address(value)
        if (name in MAC_FIELDS or isinstance(layer, dpkt.ethernet.Ethernet)) and len(value) == 6:
            return mac(value)
        return value.hex() if value else "(none)"
    if isinstance(value, int):
        return f"{value} (0x{value:x})" if value > 9 else str(value)
    return str(value)


def _fields(layer) -> list[list[str]]:
    fields = []
    for name in getattr(layer, "__hdr_fields__", ()):
        if name.startswith("_"):
            continue
        fields.append([name, _value(layer, name, getattr(layer, name, ""))])
    # dpkt keeps bit fields (an IP header's version, ihl, flags, offset) behind properties
    for name in ("v", "hl", "df", "mf", "offset", "qr", "opcode", "rcode"):
        if hasattr(layer, name) and name not in getattr(layer, "__hdr_fields__", ()):
            try:
                fields.append([name, _value(layer, name, getattr(layer, name))])
            except Exception:  # noqa: BLE001 - a property of a malformed header: leave it out
                continue
    if isinstance(layer, dpkt.dns.DNS):
        fields += [["question", f"{q.name} type {q.type}"] for q in layer.qd[:16]]
        fields += [["answer", f"{a.name} type {a.type} ttl {a.ttl}"] for a in layer.an[:16]]
    return fields


def layers(data: bytes) -> list[dict]:
    """The packet's layers, outermost first: ``[{"name": ..., "fields": [[name, value], ...]}, ...]``."""
    found: list[dict] = []
    try:
        layer = dpkt.ethernet.Ethernet(data)
    except Exception as exc:  # noqa: BLE001 - whatever dpkt raises, the packet is shown as raw bytes
        return [{"name": "Raw data", "fields": [["length", str(len(data))], ["error", type(exc).__name__]]}]
    while layer is not None and len(found) < MAX_LAYERS:
        if isinstance(layer, bytes):
            if layer:
                found.append({"name": "Data", "fields": [["length", str(len(layer))]]})
            break
        kind = type(layer).__name__
        found.append({"name": NAMES.get(kind, kind), "fields": _fields(layer)})
        inner = getattr(layer, "data", None)
        if isinstance(layer, dpkt.udp.UDP) and 53 in (layer.sport, layer.dport) and isinstance(inner, bytes):
            try:
                inner = dpkt.dns.DNS(inner)
            except (dpkt.UnpackError, IndexError, ValueError):
                pass
        layer = inner if inner is not layer else None
    return found


def detail(no: int, time: float, data: bytes, length: int) -> dict:
    """Everything the page shows of one packet: its row, layers and hex dump."""
    return {**row(no, time, data, length), "layers": layers(data), "hex": hexdump(data), "captured": len(data)}
