#!/usr/bin/env python3
"""Measure a packet capture under a flood: tcpdump in a node's namespace -> the root capture service -> Redis
-> daphne's consumer -> a browser's websocket; and the capture's file.

    .venv/bin/python bench/capture.py [--seconds 5] [--runs 2]     (as root)

It deploys the reference lab with a real worker, starts the real capture service and daphne on a database of
its own, signs in with Debian's Chromium, and for each run starts a capture on r1 eth1 (filter ``icmp``), opens
its page (templates/topology/capture.html, the table and all) and floods c2 from c1 (``ping -f -w SECONDS``). It prints, per run:

- packets per second that reached the file, and whether the file is complete: its packets counted with
  dpkt's pcap reader against what tcpdump said it captured (and what the kernel dropped before tcpdump);
- rows per second that reached the browser, with the packets the service said it skipped (sampled out
  under the flood), whose sum must be every packet: the live view stays bounded, the file keeps all;
- the capture page's worst event-loop stall while it drew them (a frozen page would show seconds), and how
  many rows its (virtual) table has in the DOM at the end.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.isolated import start_django  # noqa: E402

_run = start_django()

import dpkt  # noqa: E402
from django.conf import settings  # noqa: E402

from bench.reference_lab import CHROMIUM_ARGS, deployed, signed_in  # noqa: E402
from topology.capture import client as captures  # noqa: E402
from topology.capture import spool  # noqa: E402
from topology.engine.docker_runtime import DockerRuntime  # noqa: E402
from topology.testing.capture import CaptureProcess  # noqa: E402

# Before the capture page's own script: count what its websocket brings (rows, packets skipped) and the
# longest stall of the page's event loop (a timer due every 50 ms that comes late) while it draws them.
PAGE_SCRIPT = """
(() => {
  const stats = {rows: 0, skipped: 0, first: 0, last: 0, stall: 0, ended: false};
  window.bench = stats;
  let due = performance.now() + 50;
  setInterval(() => { const now = performance.now(); stats.stall = Math.max(stats.stall, now - due); due = now + 50; }, 50);
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (event) => {
        const m = JSON.parse(event.data);
        if (m.type === 'rows') {
          const now = performance.now();
          if (!stats.first) stats.first = now;
          stats.last = now;
          stats.rows += m.rows.length; stats.skipped += m.skipped;
        }
        if (m.type === 'ended') stats.ended = true;
      });
    }
  };
})();
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run me as root: the worker and the capture service need Docker and namespaces")

    with deployed(CaptureProcess) as (user, lab, server):
        c1 = lab.nodes.get(name="c1").container_id
        runtime = DockerRuntime()
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = signed_in(browser, server, PAGE_SCRIPT)
            for run in range(args.runs):
                record = captures.ask(lab.queue, {"op": "start", "user": user.pk, "topology": lab.topology_id,
                                                  "target": "r1:eth1", "filter": "icmp"})
                page.goto(f"/topologies/{lab.topology_id}/capture/?capture={record['id']}")  # the real page
                page.wait_for_function("() => document.getElementById('cap-state').dataset.state === 'running'")
                page.wait_for_timeout(500)
                page.evaluate("() => { window.bench.stall = 0; }")  # the page's own load is not the flood's
                start = time.monotonic()
                runtime.exec(c1, ["ping", "-f", "-q", "-w", str(args.seconds), "192.168.11.2"])
                flood = time.monotonic() - start
                time.sleep(1)
                ended = captures.ask(lab.queue, {"op": "stop", "user": user.pk, "capture": record["id"]})
                page.wait_for_function("() => window.bench.ended", timeout=15_000)
                seen = page.evaluate("() => window.bench")
                shown = page.locator("#cap-rows tr[data-no]").count()
                path = spool.pcap_path(settings.TOPOLAB_CAPTURE_DIR, record["id"])
                in_file = sum(1 for _ in dpkt.pcap.Reader(io.BytesIO(path.read_bytes())))
                complete = in_file == ended["tcpdump_captured"] == ended["packets"]
                live = max(0.001, (seen["last"] - seen["first"]) / 1000)
                print(f"run {run + 1}: {in_file} packets in the file in {flood:.1f} s of flood "
                      f"({in_file / flood:,.0f} packets/s); tcpdump captured {ended['tcpdump_captured']}, "
                      f"the kernel dropped {ended['kernel_dropped']}: file {'COMPLETE' if complete else 'INCOMPLETE'}")
                print(f"        browser: {seen['rows']} rows in {live:.1f} s ({seen['rows'] / live:,.0f} rows/s) + "
                      f"{seen['skipped']} packets sampled out = {seen['rows'] + seen['skipped']} "
                      f"({'every packet accounted for' if seen['rows'] + seen['skipped'] == in_file else 'MISSING'}); "
                      f"worst page stall {seen['stall']:.0f} ms; {shown} rows drawn in the DOM")
            browser.close()


if __name__ == "__main__":
    main()
