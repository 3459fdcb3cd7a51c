"""A packet capture from the editor (issue 14), in a real browser, on the reference lab's real containers:

    c1 (192.168.10.2/24) --eth0-- r1 --eth1-- c2 (192.168.11.2/24)

A person selects the link r1-c2, clicks "Capture c2 eth0" in its panel, starts the capture with the filter
`icmp` on the page that opens, pings c2 from c1's console and sees the echoes in the table as they pass;
narrows the table with a display filter, opens a packet's layers and hex dump, stops the capture and
downloads its file, which holds every echo (read here with dpkt's pcap reader).
"""
from __future__ import annotations

import io
import re

import dpkt
from playwright.sync_api import expect

from .conftest import shot
from .test_console import SHELL, open_console_by_double_click, open_running_lab, type_in
from .test_live_links import select_link


def test_capturing_a_link_shows_pings_live_and_downloads_them_whole(signed_in, labs, relay, capture):
    page = signed_in
    open_running_lab(page, labs)
    c1 = open_console_by_double_click(page, "c1")

    problems: list[str] = []  # the capture page's own errors (a CSP violation would be one)
    page.context.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.context.on("weberror", lambda e: problems.append(str(e.error)))
    select_link(page)
    button = page.locator("#panel").get_by_role("link", name="Capture c2 eth0")
    expect(button).to_be_visible()
    with page.context.expect_page() as opened:
        button.click()
    view = opened.value
    view.wait_for_load_state()
    expect(view.get_by_label("Interface (node:interface)")).to_have_value("c2:eth0")
    view.get_by_label("Capture filter (tcpdump's syntax; empty: everything)").fill("icmp or bogus")
    view.get_by_role("button", name="Start capture").click()
    expect(view.locator("#cap-error")).to_contain_text("syntax error")  # refused with tcpdump's words
    view.get_by_label("Capture filter (tcpdump's syntax; empty: everything)").fill("icmp")
    view.get_by_role("button", name="Start capture").click()
    expect(view.locator("#cap-state")).to_have_text("capturing", timeout=15_000)
    assert re.search(r"\?capture=[0-9a-f]{16}$", view.url), view.url

    page.bring_to_front()
    type_in(c1, page, "ping -c 4 -i 0.5 192.168.11.2")
    view.bring_to_front()
    rows = view.locator("#cap-rows tr[data-no]")
    expect(rows).to_have_count(8, timeout=SHELL)  # 4 requests, 4 replies, as they passed
    expect(rows.first.locator(".c-proto")).to_have_text("ICMP")
    expect(rows.first.locator(".c-info")).to_contain_text("echo request")
    shot(view, "capture-live")

    view.get_by_label("Display filter").fill("reply")
    expect(rows).to_have_count(4)
    for text in rows.locator(".c-info").all_inner_texts():
        assert text.startswith("echo reply"), text
    rows.first.click()
    expect(view.locator("#cap-layers")).to_contain_text("Internet Protocol version 4")
    expect(view.locator("#cap-layers")).to_contain_text("Internet Control Message Protocol")
    expect(view.locator("#cap-hex")).to_contain_text("0000  ")
    shot(view, "capture-detail")

    view.get_by_role("button", name="Stop").click()
    expect(view.locator("#cap-state")).to_contain_text("ended: stopped by", timeout=15_000)
    with view.expect_download() as download:
        view.get_by_role("link", name="Download .pcap").click()
    data = open(download.value.path(), "rb").read()
    echoes = []
    for _, raw in dpkt.pcap.Reader(io.BytesIO(data)):
        ip = dpkt.ethernet.Ethernet(raw).data
        if isinstance(ip, dpkt.ip.IP) and isinstance(ip.data, dpkt.icmp.ICMP):
            echoes.append((ip.data.type, ip.data.data.seq))
    assert sorted(echoes) == sorted([(8, s) for s in range(1, 5)] + [(0, s) for s in range(1, 5)])
    assert download.value.suggested_filename.endswith(".pcap")
    shot(view, "capture-stopped")
    assert not [p for p in problems if "syntax error" not in p and "400" not in p], problems
    view.close()
