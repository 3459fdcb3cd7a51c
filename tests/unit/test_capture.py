"""Packet captures without Docker: the rows of crafted packets, a packet's layers, the spool files, the filter
check (the real tcpdump, as the service runs it), the command line, and the service's rules (its limits, when
a capture must stop) with the capture itself replaced. The real path is tests/integration/test_capture.py."""
from __future__ import annotations

import io
import json
import os
import socket
import struct
import time

import dpkt
import pytest
from django.conf import settings
from django.test import Client

from tests.deployed import make_running
from topology.capture import client as captures
from topology.capture import decode, filters, key, parse_target, spool, summary
from topology.capture.service import CaptureService, Limits, host_namespace, tcpdump_argv
from topology.models import ApiToken, Lab, LabState

MAC_A, MAC_B = b"\x02\x00\x00\x00\x00\x0a", b"\x02\x00\x00\x00\x00\x0b"


def ether(payload, kind=0x0800) -> bytes:
    return bytes(dpkt.ethernet.Ethernet(src=MAC_A, dst=MAC_B, type=kind, data=bytes(payload)))


def ipv4(proto: int, payload, src="10.0.0.1", dst="10.0.0.2") -> bytes:
    ip = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=proto, data=payload)
    ip.len = len(ip)
    return ether(ip)


def ipv6(nxt: int, payload, src="fe80::1", dst="fe80::2") -> bytes:
    body = bytes(payload)
    ip = dpkt.ip6.IP6(src=socket.inet_pton(socket.AF_INET6, src), dst=socket.inet_pton(socket.AF_INET6, dst),
                      nxt=nxt, hlim=64, plen=len(body), data=body)
    return ether(ip, 0x86DD)


def info(data: bytes) -> tuple[str, str]:
    found = summary.row(1, 0.0, data, len(data))
    return found["protocol"], found["info"]


# -- rows -------------------------------------------------------------------------------------------------
def test_it_summarises_arp_as_tcpdump_does():
    who = dpkt.arp.ARP(op=1, sha=MAC_A, spa=socket.inet_aton("10.0.0.1"), tpa=socket.inet_aton("10.0.0.2"))
    answer = dpkt.arp.ARP(op=2, sha=MAC_B, spa=socket.inet_aton("10.0.0.2"), tpa=socket.inet_aton("10.0.0.1"))
    assert info(ether(who, 0x0806)) == ("ARP", "who-has 10.0.0.2 tell 10.0.0.1")
    assert info(ether(answer, 0x0806)) == ("ARP", "10.0.0.2 is-at 02:00:00:00:00:0b")
    row = summary.row(3, 1.5, ether(who, 0x0806), 60)
    assert (row["no"], row["time"], row["src"], row["dst"], row["length"]) == (3, 1.5, "02:00:00:00:00:0a",
                                                                                "02:00:00:00:00:0b", 60)


def test_it_summarises_icmp_and_icmpv6():
    echo = dpkt.icmp.ICMP(type=8, data=dpkt.icmp.ICMP.Echo(id=7, seq=3, data=b"x" * 56))
    reply = dpkt.icmp.ICMP(type=0, data=dpkt.icmp.ICMP.Echo(id=7, seq=3, data=b"x" * 56))
    assert info(ipv4(1, echo)) == ("ICMP", "echo request, id 7, seq 3, length 64")
    assert info(ipv4(1, reply))[1].startswith("echo reply, id 7, seq 3")
    unreachable = dpkt.icmp.ICMP(type=3, code=3, data=dpkt.icmp.ICMP.Unreach(data=b""))
    assert info(ipv4(1, unreachable)) == ("ICMP", "destination unreachable (port unreachable)")
    row = summary.row(1, 0, ipv4(1, echo), 98)
    assert (row["src"], row["dst"]) == ("10.0.0.1", "10.0.0.2")
    echo6 = dpkt.icmp6.ICMP6(type=128, data=dpkt.icmp6.ICMP6.Echo(id=9, seq=2, data=b"hi"))
    assert info(ipv6(58, echo6)) == ("ICMPv6", "echo request, id 9, seq 2")
    solicit = bytes([135, 0, 0, 0]) + b"\0" * 4 + socket.inet_pton(socket.AF_INET6, "fe80::2")
    assert info(ipv6(58, solicit)) == ("ICMPv6", "neighbor solicitation, who has fe80::2")


def test_it_summarises_tcp_flags_and_ports_and_bgp_messages():
    syn_ack = dpkt.tcp.TCP(sport=80, dport=40000, flags=dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK, seq=5, ack=9, win=100)
    assert info(ipv4(6, syn_ack)) == ("TCP", "80 > 40000 [S.] seq 5, ack 9, win 100, length 0")
    syn = dpkt.tcp.TCP(sport=40000, dport=80, flags=dpkt.tcp.TH_SYN, seq=1, win=100)
    assert info(ipv4(6, syn)) == ("TCP", "40000 > 80 [S] seq 1, win 100, length 0")
    assert summary.tcp_flags(dpkt.tcp.TH_FIN | dpkt.tcp.TH_PUSH | dpkt.tcp.TH_ACK) == "FP."
    keepalive = b"\xff" * 16 + (19).to_bytes(2, "big") + bytes([4])
    opening = b"\xff" * 16 + (29).to_bytes(2, "big") + bytes([1]) + b"\0" * 10
    bgp = dpkt.tcp.TCP(sport=179, dport=40000, flags=dpkt.tcp.TH_PUSH | dpkt.tcp.TH_ACK, data=opening + keepalive)
    protocol, text = info(ipv4(6, bgp))
    assert protocol == "BGP" and text.startswith("OPEN, KEEPALIVE; 179 > 40000 [P.]")


def test_it_summarises_udp_dns_and_ospf():
    query = dpkt.dns.DNS(id=5, qd=[dpkt.dns.DNS.Q(name="example.org", type=28)])
    udp = dpkt.udp.UDP(sport=3333, dport=53, data=bytes(query))
    udp.ulen = len(udp)
    protocol, text = info(ipv4(17, udp))
    assert protocol == "DNS" and text.startswith("query 5: AAAA example.org; 3333 > 53")
    plain = dpkt.udp.UDP(sport=5000, dport=6000, data=b"hello")
    plain.ulen = len(plain)
    assert info(ipv4(17, plain)) == ("UDP", "5000 > 6000 length 5")
    hello = bytes([2, 1, 0, 44]) + b"\0" * 40
    assert info(ipv4(89, hello, dst="224.0.0.5")) == ("OSPF", "OSPFv2 Hello")
    assert info(ipv4(89, bytes([2, 4, 0, 44]) + b"\0" * 40))[1] == "OSPFv2 LS-Update"
    assert info(ipv6(89, bytes([3, 1, 0, 40]) + b"\0" * 36)) == ("OSPF", "OSPFv3 Hello")


def test_a_malformed_or_short_packet_still_gets_a_row():
    assert summary.row(1, 0, b"\x00" * 5, 5)["protocol"] == "?"
    protocol, text = info(ether(b"\x45\x00garbage"))
    assert protocol == "IPv4" and "malformed" in text
    assert info(ether(b"\x00" * 30, 0x88CC)) == ("LLDP", "ethertype LLDP (0x88cc)")


def test_a_packets_detail_has_its_layers_and_a_hex_dump():
    echo = dpkt.icmp.ICMP(type=8, data=dpkt.icmp.ICMP.Echo(id=7, seq=3, data=b"abcdefgh" * 7))
    data = ipv4(1, echo)
    found = decode.detail(4, 0.25, data, len(data))
    assert found["no"] == 4 and found["info"].startswith("echo request")
    names = [layer["name"] for layer in found["layers"]]
    assert names[:4] == ["Ethernet II", "Internet Protocol version 4", "Internet Control Message Protocol", "Echo"]
    ip_fields = dict(found["layers"][1]["fields"])
    assert ip_fields["src"] == "10.0.0.1" and ip_fields["dst"] == "10.0.0.2"
    assert dict(found["layers"][0]["fields"])["src"] == "02:00:00:00:00:0a"
    lines = found["hex"].splitlines()
    assert len(lines) == (len(data) + 15) // 16
    assert lines[0].startswith("0000  02 00 00 00 00 0b 02 00  00 00 00 0a 08 00 45 00")
    assert "abcdefgh" in found["hex"]
    assert decode.layers(b"\x01")[0]["name"] in ("Raw data", "Ethernet II")


# -- the spool --------------------------------------------------------------------------------------------
def pcap_stream(packets: list[bytes], start: float = 1000.0) -> bytes:
    out = io.BytesIO()
    writer = dpkt.pcap.Writer(out, snaplen=262144)
    for i, data in enumerate(packets):
        writer.writepkt(data, ts=start + i * 0.5)
    return out.getvalue()


def test_the_spool_keeps_whole_packets_indexes_them_and_reads_one_back(tmp_path):
    packets = [ipv4(1, dpkt.icmp.ICMP(type=8, data=dpkt.icmp.ICMP.Echo(id=1, seq=i, data=b"z" * i))) for i in range(1, 30)]
    stream = pcap_stream(packets)
    writer = spool.SpoolWriter(tmp_path, "0123456789abcdef")
    rows, total = [], 0
    for start in range(0, len(stream), 37):  # odd chunks: headers and packets cut anywhere
        got, count = writer.feed(stream[start:start + 37], 5)
        rows += got
        total += count
        writer.flush()
        whole = spool.whole_length(tmp_path, "0123456789abcdef")
        assert whole <= writer.offset and list(dpkt.pcap.Reader(io.BytesIO(writer.path.read_bytes()[:whole]))) is not None
    writer.close()
    assert total == writer.packets == 29 and writer.path.read_bytes() == stream
    assert oct(writer.path.stat().st_mode & 0o777) == oct(spool.FILE_MODE)
    assert len(list(dpkt.pcap.Reader(io.BytesIO(writer.path.read_bytes())))) == 29
    assert rows[0][:2] == (1, 0.0) and rows[0][2] == packets[0]
    when, data, length = spool.read_packet(tmp_path, "0123456789abcdef", 7)
    assert (when, data, length) == (3.0, packets[6], len(packets[6]))
    assert spool.read_packet(tmp_path, "0123456789abcdef", 30) is None
    assert spool.read_packet(tmp_path, "0123456789abcdef", 0) is None
    assert spool.whole_length(tmp_path, "0123456789abcdef") == len(stream)


def test_the_spool_gives_a_sample_of_a_flood_but_counts_every_packet(tmp_path):
    stream = pcap_stream([ether(b"\0" * 46, 0x88B5)] * 1000)
    writer = spool.SpoolWriter(tmp_path, "00000000000000ff")
    rows, count = writer.feed(stream, 200)
    writer.close()
    assert len(rows) == 200 and count == 1000 and writer.packets == 1000
    with pytest.raises(spool.SpoolError):
        spool.SpoolWriter(tmp_path, "00000000000000fe").feed(b"not a pcap stream at all!", 1)
    with pytest.raises(ValueError):
        spool.pcap_path(tmp_path, "../../etc/passwd")


def test_the_followed_streams_header_is_the_one_tcpdump_writes():
    assert spool.global_header(262144) == pcap_stream([])


# -- the filter and the command -----------------------------------------------------------------------------
def test_a_filter_is_compiled_by_tcpdump_and_a_bad_one_gets_its_words():
    assert filters.check("icmp or arp") is None
    assert filters.check("") is None
    assert filters.check("tcp port 179 and not host 10.0.0.1") is None
    assert "syntax error" in filters.check("icmp or bogus")
    assert "65535" in filters.check("port 99999")
    assert filters.check("-w /tmp/x").startswith("must not start with '-'")
    assert filters.check("icmp\x00") == "must not hold control characters"
    assert filters.check("x" * 1001).startswith("must be at most")
    assert filters.form_problem(7) == "must be a string"


def test_the_capture_runs_in_the_nodes_namespace_with_the_filter_as_one_argument():
    argv = tcpdump_argv(4242, "eth0", "icmp or arp", 65535)
    assert argv[:3] == ["/usr/bin/nsenter", "--net=/proc/4242/ns/net", "--"]
    assert argv[-2:] == ["--", "icmp or arp"] and argv[argv.index("-i") + 1] == "eth0"
    assert argv[argv.index("-w") + 1] == "-" and "-U" in argv
    assert tcpdump_argv(4242, "eth0", " ", 65535)[-1] == "--"  # no filter: everything
    assert host_namespace(os.getpid())  # the service's own namespace is the host's: never captured
    assert host_namespace(999_999_999)  # a process not there counts as the host too


def test_a_target_is_a_node_and_one_interface():
    assert parse_target("c1:eth0") == ("c1", "eth0")
    assert parse_target("r1:eth1.10") == ("r1", "eth1.10")
    for bad in ("c1", "c1:", ":eth0", "C1:eth0", "c1:eth0:x", "c1:-i", "c1:" + "e" * 16, None, 5):
        assert parse_target(bad) is None, bad


# -- the service's rules ----------------------------------------------------------------------------------------
class FakeCapture:
    """What :meth:`CaptureService.check` looks at of a running capture."""

    def __init__(self, record: dict, started: float):
        self.id, self.record, self.started = record["id"], record, started
        self.pid = os.getpid()
        self.netns = os.stat("/proc/self/ns/net").st_ino
        self.reason = None
        self.had_watcher = False
        self.idle_since = None

    def stop(self, reason: str) -> None:
        self.reason = reason

    def namespace_alive(self) -> bool:
        return True

    def kill_if_stuck(self) -> None:
        pass


@pytest.fixture
def service(db, tmp_path):
    made = CaptureService(settings.TOPOLAB_SITE, settings.TOPOLAB_QUEUE, runtime=object(), directory=tmp_path,
                          limits=Limits(per_user=2, per_host=3, idle=0.5, max_seconds=60, keep=60))
    yield made
    db_ = made.redis
    for found in db_.scan_iter(key(settings.TOPOLAB_SITE, "*")):
        db_.delete(found)


def request(topology, **extra) -> dict:
    return {"op": "start", "deadline": time.time() + 10, "user": topology.owner_id, "topology": topology.pk,
            "target": "c1:eth0", "filter": "icmp", **extra}


def test_the_service_refuses_what_the_database_does_not_allow(service, topology, bob):
    assert service.handle(request(topology))["status"] == 409  # the lab is stopped
    make_running(topology)
    assert service.handle(request(topology, user=bob.pk)) == {"ok": False, "status": 404,
                                                              "message": "no such topology", "path": ""}
    answer = service.handle(request(topology, target="c1:eth7"))
    assert answer["status"] == 400 and answer["path"] == "target" and "it has: eth0" in answer["message"]
    assert service.handle(request(topology, target="zz:eth0"))["path"] == "target"
    assert service.handle(request(topology, target="c1"))["path"] == "target"
    assert service.handle(request(topology, filter="-w /etc/x"))["path"] == "filter"
    assert service.handle(request(topology, deadline=time.time() - 1))["status"] == 504


def test_the_service_keeps_to_its_limits_per_user_and_per_host(service, topology):
    make_running(topology)
    running = key(settings.TOPOLAB_SITE, "running")
    service.redis.hset(running, mapping={"a" * 16: f"{topology.owner_id} elsewhere", "b" * 16: f"{topology.owner_id} x"})
    answer = service.handle(request(topology))
    assert answer["status"] == 429 and "TOPOLAB_CAPTURE_MAX_PER_USER" in answer["message"]
    service.redis.delete(running)
    service.captures = {str(i): object() for i in range(3)}
    answer = service.handle(request(topology))
    assert answer["status"] == 429 and "TOPOLAB_CAPTURE_MAX_PER_HOST" in answer["message"]


def test_a_capture_stops_at_its_time_limit_without_watchers_and_with_its_lab(service, topology):
    lab = make_running(topology)
    record = {"id": "c" * 16, "lab": lab.pk, "node": "c1", "topology": topology.pk}
    old = FakeCapture(record, time.monotonic() - 61)
    service.captures = {old.id: old}
    service.check()
    assert old.reason == "the time limit (60 s) was reached"

    watched = FakeCapture({**record, "id": "d" * 16}, time.monotonic())
    service.captures = {watched.id: watched}
    service.check()
    assert watched.reason is None and not watched.had_watcher  # never watched: it waits for its watchers
    captures.watch(watched.id, "page-1")
    service.check()
    assert watched.had_watcher and watched.reason is None
    captures.unwatch(watched.id, "page-1")
    service.check()
    assert watched.reason is None  # a grace first: a reload comes back
    time.sleep(0.6)
    service.check()
    assert watched.reason == "nobody watched it for 0 s" or watched.reason.startswith("nobody watched it")

    gone = FakeCapture({**record, "id": "e" * 16}, time.monotonic())
    service.captures = {gone.id: gone}
    Lab.objects.filter(pk=lab.pk).update(state=LabState.DESTROYING)
    service.check()
    assert gone.reason == "the lab was destroyed"


# -- the web tier's side ---------------------------------------------------------------------------------------------
def test_the_api_answers_503_without_a_capture_service_and_404_to_a_stranger(client, topology, bob):
    make_running(topology)
    url = f"/api/v1/topologies/{topology.pk}/captures"
    answer = client.post(url, json.dumps({"target": "c1:eth0"}), content_type="application/json")
    assert answer.status_code == 503 and "capture service" in answer.json()["detail"]
    assert client.get(url).json() == []
    assert client.post(url, b"[1]", content_type="application/json").status_code == 400
    _, secret = ApiToken.issue(bob, "t")
    other = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert other.post(url, json.dumps({"target": "c1:eth0"}), content_type="application/json").status_code == 404
    assert other.get(url).status_code == 404
    assert client.get(f"{url}/{'f' * 16}.pcap").status_code == 404
    assert client.get(f"{url}/{'f' * 16}").status_code == 404


def test_the_api_says_409_for_a_lab_that_does_not_run(client, topology):
    answer = client.post(f"/api/v1/topologies/{topology.pk}/captures", json.dumps({"target": "c1:eth0"}),
                         content_type="application/json")
    assert answer.status_code == 409 and "not running" in answer.json()["detail"]


def test_the_capture_page_is_the_owners_and_passes_its_target(client, topology, bob):
    page = client.get(f"/topologies/{topology.pk}/capture/?target=c1:eth0")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="capture-config"' in html and '"target": "c1:eth0"' in html and "topolab/capture.js" in html
    assert '"target": ""' in client.get(f"/topologies/{topology.pk}/capture/?target=;rm").content.decode()
    stranger = Client()
    stranger.force_login(bob)
    assert stranger.get(f"/topologies/{topology.pk}/capture/").status_code == 404


def test_records_of_a_topology_are_listed_newest_first_and_forgotten_ones_dropped(db, topology):
    db_ = captures.client()
    site = settings.TOPOLAB_SITE
    try:
        for i, name in enumerate(("1" * 16, "2" * 16, "3" * 16)):
            db_.zadd(key(site, "topology", topology.pk), {name: 100 + i})
            if name != "2" * 16:
                db_.set(key(site, name), json.dumps({"id": name, "topology": topology.pk}))
        assert [c["id"] for c in captures.of_topology(topology.pk)] == ["3" * 16, "1" * 16]
        assert db_.zcard(key(site, "topology", topology.pk)) == 2
        assert captures.record("../x") is None
    finally:
        for found in db_.scan_iter(key(site, "*")):
            db_.delete(found)


def test_the_index_holds_one_offset_per_packet(tmp_path):
    stream = pcap_stream([ether(b"\0" * 50, 0x88B5), ether(b"\0" * 60, 0x88B5)])
    writer = spool.SpoolWriter(tmp_path, "abcdefabcdefabcd")
    writer.feed(stream, 0)
    writer.close()
    offsets = struct.unpack("<2Q", spool.index_path(tmp_path, "abcdefabcdefabcd").read_bytes())
    assert offsets == (24, 24 + 16 + 64)


def test_the_services_own_rule_of_who_may_capture_is_the_web_tiers(topology, course, carol, bob, alice,
                                                                    django_user_model):
    from tests.classroom import assign, other_instructor
    from topology import courses
    from topology.capture import access
    from topology.models import CourseMember, Topology

    admin = django_user_model.objects.create_superuser("root-user", "r@example.org", None)
    dave = other_instructor()
    people = (alice, bob, carol, dave, admin)

    def agree():
        fresh = Topology.objects.get(pk=topology.pk)
        for user in people:
            expected = fresh.owner_id == user.pk or courses.supervises(user, fresh)
            assert access.may_capture(user, fresh) == expected, user

    agree()  # not a copy: the owner only
    assign(topology.pk, course, carol)
    agree()
    assert access.may_capture(carol, Topology.objects.get(pk=topology.pk))
    CourseMember.objects.filter(course=course, user=alice).delete()  # a removed student's copy is hers alone
    agree()
    assert not access.may_capture(carol, Topology.objects.get(pk=topology.pk))
    assert access.resolve_user(alice.pk, topology.pk) == "alice" and access.resolve_user(bob.pk, topology.pk) == ""
