"""One packet as a row of the live table: source, destination, protocol, length and a one-line summary in the
manner of tcpdump's (ARP who-has / is-at, ICMP and ICMPv6 echo id and seq, TCP flags and ports, UDP ports, DNS
query names, OSPF and BGP message types). Pure: bytes in, a dict out; never raises on a malformed packet.
"""
from __future__ import annotations

import socket

import dpkt

ICMP_TYPES = {0: "echo reply", 3: "destination unreachable", 4: "source quench", 5: "redirect", 8: "echo request",
              11: "time exceeded", 12: "parameter problem", 13: "timestamp request", 14: "timestamp reply"}
UNREACHABLE = {0: "net unreachable", 1: "host unreachable", 2: "protocol unreachable", 3: "port unreachable",
               4: "fragmentation needed", 9: "net prohibited", 10: "host prohibited", 13: "administratively prohibited"}
ICMP6_TYPES = {1: "destination unreachable", 2: "packet too big", 3: "time exceeded", 4: "parameter problem",
               128: "echo request", 129: "echo reply", 133: "router solicitation", 134: "router advertisement",
               135: "neighbor solicitation", 136: "neighbor advertisement", 137: "redirect", 143: "multicast listener report v2"}
OSPF_TYPES = {1: "Hello", 2: "Database Description", 3: "LS-Request", 4: "LS-Update", 5: "LS-Ack"}
BGP_TYPES = {1: "OPEN", 2: "UPDATE", 3: "NOTIFICATION", 4: "KEEPALIVE", 5: "ROUTE-REFRESH"}
DNS_TYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV", 255: "ANY"}
TCP_FLAGS = ((dpkt.tcp.TH_SYN, "S"), (dpkt.tcp.TH_FIN, "F"), (dpkt.tcp.TH_RST, "R"), (dpkt.tcp.TH_PUSH, "P"),
             (dpkt.tcp.TH_URG, "U"), (dpkt.tcp.TH_ECE, "E"), (dpkt.tcp.TH_CWR, "W"))
IP_PROTO_OSPF = 89
BGP_PORT = 179
DNS_PORTS = (53, 5353)
ETHERTYPES = {0x0800: "IPv4", 0x0806: "ARP", 0x86DD: "IPv6", 0x8100: "802.1Q", 0x88CC: "LLDP", 0x8809: "Slow"}


def mac(raw: bytes) -> str:
    """``aa:bb:cc:dd:ee:ff``."""
    return ":".join(f"{b:02x}" for b in raw)


def address(raw: bytes) -> str:
    """An IPv4 or IPv6 address as text (anything else as hex)."""
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw)
    if len(raw) == 16:
        return socket.inet_ntop(socket.AF_INET6, raw)
    return raw.hex()


def tcp_flags(flags: int) -> str:
    """tcpdump's flag letters: ``S``, ``S.`` (SYN-ACK), ``P.``, ``.`` (ACK alone), ``R``..."""
    letters = "".join(letter for bit, letter in TCP_FLAGS if flags & bit)
    if flags & dpkt.tcp.TH_ACK:
        letters += "."
    return letters or "none"


def row(no: int, time: float, data: bytes, length: int) -> dict:
    """The table's row of packet number ``no`` (from 1), captured ``time`` seconds after the first, whose bytes
    (as captured, maybe cut at the snap length) are ``data`` and whose length on the wire was ``length``."""
    summary = {"no": no, "time": round(time, 6), "src": "", "dst": "", "protocol": "", "length": length, "info": ""}
    try:
        summary.update(_ethernet(data))
    except Exception as exc:  # noqa: BLE001 - a malformed packet must give a row, whatever dpkt raises
        summary.update(protocol=summary["protocol"] or "?", info=f"malformed packet ({type(exc).__name__})")
    return summary


def _ethernet(data: bytes) -> dict:
    if len(data) < 14:
        return {"protocol": "?", "info": f"{len(data)} bytes: shorter than an Ethernet header"}
    eth = dpkt.ethernet.Ethernet(data)
    found = {"src": mac(eth.src), "dst": mac(eth.dst)}
    payload = eth.data
    if isinstance(payload, dpkt.arp.ARP):
        return {**found, **_arp(payload)}
    if isinstance(payload, dpkt.ip.IP):
        return {**found, "src": address(payload.src), "dst": address(payload.dst), **_ip(payload, payload.p)}
    if isinstance(payload, dpkt.ip6.IP6):
        return {**found, "src": address(payload.src), "dst": address(payload.dst), **_ip(payload, payload.nxt)}
    kind = getattr(eth, "type", None)
    if kind is None or kind <= 1500:
        if eth.dst[:5] == b"\x01\x80\xc2\x00\x00":
            return {**found, "protocol": "STP", "info": "spanning tree"}
        return {**found, "protocol": "LLC", "info": f"802.3, length {kind}"}
    name = ETHERTYPES.get(kind)
    if kind in (0x0800, 0x0806, 0x86DD):  # dpkt left the payload as bytes: it did not parse
        return {**found, "protocol": name, "info": f"malformed {name} packet"}
    return {**found, "protocol": name or f"0x{kind:04x}", "info": f"ethertype {name or 'unknown'} (0x{kind:04x})"}


def _arp(arp) -> dict:
    sender, target = address(bytes(arp.spa)), address(bytes(arp.tpa))
    if arp.op == dpkt.arp.ARP_OP_REQUEST:
        info = f"who-has {target} tell {sender}"
    elif arp.op == dpkt.arp.ARP_OP_REPLY:
        info = f"{sender} is-at {mac(bytes(arp.sha))}"
    else:
        info = f"operation {arp.op}"
    return {"protocol": "ARP", "info": info}


def _ip(ip, proto: int) -> dict:
    payload = ip.data
    if isinstance(payload, dpkt.icmp.ICMP):
        return {"protocol": "ICMP", "info": _icmp(payload)}
    if isinstance(payload, dpkt.icmp6.ICMP6):
        return {"protocol": "ICMPv6", "info": _icmp6(payload)}
    if isinstance(payload, dpkt.tcp.TCP):
        return _tcp(payload)
    if isinstance(payload, dpkt.udp.UDP):
        return _udp(payload)
    if proto == IP_PROTO_OSPF:
        raw = bytes(payload) if not isinstance(payload, bytes) else payload
        if len(raw) >= 2:
            return {"protocol": "OSPF", "info": f"OSPFv{raw[0]} {OSPF_TYPES.get(raw[1], f'type {raw[1]}')}"}
        return {"protocol": "OSPF", "info": "OSPF, truncated"}
    name = {dpkt.ip.IP_PROTO_IGMP: "IGMP", dpkt.ip.IP_PROTO_GRE: "GRE", dpkt.ip.IP_PROTO_SCTP: "SCTP"}.get(proto)
    return {"protocol": name or f"IP proto {proto}", "info": f"{name or 'protocol ' + str(proto)}, length {len(ip.data)}"}


def _icmp(icmp) -> str:
    name = ICMP_TYPES.get(icmp.type, f"type {icmp.type}")
    if icmp.type in (0, 8) and isinstance(icmp.data, dpkt.icmp.ICMP.Echo):
        return f"echo {'request' if icmp.type == 8 else 'reply'}, id {icmp.data.id}, seq {icmp.data.seq}, " \
               f"length {len(icmp)}"
    if icmp.type == 3:
        return f"{name} ({UNREACHABLE.get(icmp.code, f'code {icmp.code}')})"
    if icmp.type == 11:
        return f"{name} ({'in transit' if icmp.code == 0 else 'reassembly'})"
    return name


def _icmp6(icmp) -> str:
    name = ICMP6_TYPES.get(icmp.type, f"type {icmp.type}")
    body = bytes(icmp.data) if not isinstance(icmp.data, bytes) else icmp.data
    if icmp.type in (128, 129):
        echo = icmp.data
        if isinstance(echo, dpkt.icmp6.ICMP6.Echo):
            return f"{name}, id {echo.id}, seq {echo.seq}"
        if len(body) >= 4:
            return f"{name}, id {int.from_bytes(body[0:2], 'big')}, seq {int.from_bytes(body[2:4], 'big')}"
    if icmp.type in (135, 136) and len(body) >= 20:
        target = address(body[4:20])
        return f"{name}, who has {target}" if icmp.type == 135 else f"{name}, tgt is {target}"
    return name


def _tcp(tcp) -> dict:
    data = bytes(tcp.data)
    info = f"{tcp.sport} > {tcp.dport} [{tcp_flags(tcp.flags)}] seq {tcp.seq}"
    if tcp.flags & dpkt.tcp.TH_ACK:
        info += f", ack {tcp.ack}"
    info += f", win {tcp.win}, length {len(data)}"
    if BGP_PORT in (tcp.sport, tcp.dport) and len(data) >= 19 and data[:16] == b"\xff" * 16:
        types = []
        offset = 0
        while offset + 19 <= len(data) and len(types) < 8:  # one segment may carry several messages
            size = int.from_bytes(data[offset + 16:offset + 18], "big")
            types.append(BGP_TYPES.get(data[offset + 18], f"type {data[offset + 18]}"))
            if size < 19:
                break
            offset += size
        return {"protocol": "BGP", "info": f"{', '.join(types)}; {info}"}
    return {"protocol": "TCP", "info": info}


def _udp(udp) -> dict:
    data = bytes(udp.data)
    info = f"{udp.sport} > {udp.dport} length {len(data)}"
    if udp.sport in DNS_PORTS or udp.dport in DNS_PORTS:
        dns = _dns(data)
        if dns:
            return {"protocol": "DNS" if 53 in (udp.sport, udp.dport) else "MDNS", "info": f"{dns}; {info}"}
    return {"protocol": "UDP", "info": info}


def _dns(data: bytes) -> str:
    try:
        message = dpkt.dns.DNS(data)
    except (dpkt.UnpackError, IndexError, ValueError):
        return ""
    questions = ", ".join(f"{DNS_TYPES.get(q.type, q.type)} {q.name or '.'}" for q in message.qd[:4])
    if message.qr == dpkt.dns.DNS_R:
        return f"response {message.id}: {questions} ({len(message.an)} answers)"
    return f"query {message.id}: {questions}"
