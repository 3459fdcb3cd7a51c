#!/usr/bin/env python3
"""Measure a console through the whole path: browser websocket -> daphne -> consumer -> Redis
-> root relay -> ``docker exec`` TTY -> the shell, and back.

    .venv/bin/python bench/console.py [--keys 1000] [--megabytes 10] [--runs 3]     (as root)

It deploys the reference lab with a real worker, starts the real relay and
daphne on a database of its own, signs in with Debian's Chromium, and from the
page's own JavaScript (a plain WebSocket that paces output with ``flow=1``
acknowledgements, as the editor's terminal does) prints:

- keystroke to echo: one character sent as an ``input`` frame until its echo
  arrives as a binary frame, one at a time, over ``--keys`` keystrokes
  (p50, p95, worst). The line is cleared every 100 characters, untimed.
- output throughput: ``base64`` of random bytes, ``--megabytes`` MB of
  output, from the Enter key until the end marker arrives (MB/s, seconds).

Targets (issue 4): keystroke p95 under 15 ms; 10 MB in under 2 s.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.isolated import start_django  # noqa: E402

_run = start_django()

from bench.reference_lab import CHROMIUM_ARGS, deployed, signed_in  # noqa: E402
from topology.testing.relay import RelayProcess  # noqa: E402

# In the page: open the console with flow control, and expose the two measurements.
PAGE_SCRIPT = """
(path) => new Promise((resolve, reject) => {
  const ws = new WebSocket(`ws://${location.host}${path}?cols=200&rows=50&flow=1`);
  ws.binaryType = "arraybuffer";
  const decoder = new TextDecoder();
  let got = 0, acked = 0, waiter = null, tail = "";
  ws.onmessage = (event) => {
    if (typeof event.data === "string") {
      const status = JSON.parse(event.data);
      if (status.state === "open") resolve();
      else if (status.state !== "dropped") reject(new Error(status.message));
      else window.__dropped = (window.__dropped || 0) + 1;
      return;
    }
    got += event.data.byteLength;
    if (got - acked >= 128 * 1024) { acked = got; ws.send(JSON.stringify({type: "ack", bytes: got})); }
    tail = (tail + decoder.decode(event.data, {stream: true})).slice(-64);
    if (waiter && waiter.test(tail)) { const w = waiter; waiter = null; tail = ""; w.done(); }
  };
  ws.onclose = (event) => reject(new Error(`closed ${event.code}`));
  const until = (pattern) => new Promise((done) => { waiter = {test: (t) => pattern.test(t), done}; });
  const send = (data) => ws.send(JSON.stringify({type: "input", data}));
  window.bench = {
    async keystrokes(count) {
      const times = [];
      for (let i = 0; i < count; i++) {
        if (i % 100 === 0) { send("\\u0015"); await new Promise((r) => setTimeout(r, 50)); tail = ""; }
        const key = "abcdefghij"[i % 10];
        const echoed = until(new RegExp(key + "$"));
        const start = performance.now();
        send(key);
        await echoed;
        times.push(performance.now() - start);
      }
      send("\\u0015");
      return times;
    },
    async flood(megabytes) {
      await new Promise((r) => setTimeout(r, 200));
      tail = "";
      const raw = Math.floor(megabytes * 1e6 * 3 / 4);
      const before = got;
      const done = until(/FLOOD_42\\r?\\n/);
      const start = performance.now();
      send(`head -c ${raw} /dev/urandom | base64 -w 0; echo; echo FLOOD_$((40+2))\\n`);
      await done;
      return {seconds: (performance.now() - start) / 1000, bytes: got - before, dropped: window.__dropped || 0};
    },
  };
})
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--megabytes", type=float, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run me as root: the worker and the relay need Docker and netlink")

    with deployed(RelayProcess) as (_user, lab, server):
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = signed_in(browser, server)
            page.evaluate(PAGE_SCRIPT, f"/ws/topologies/{lab.topology_id}/nodes/c1/console")
            keys, floods = [], []
            for run in range(args.runs):
                times = page.evaluate("(n) => window.bench.keystrokes(n)", args.keys)
                flood = page.evaluate("(mb) => window.bench.flood(mb)", args.megabytes)
                keys.extend(times)
                floods.append(flood)
                ordered = sorted(times)
                print(f"run {run + 1}: keystroke p50 {statistics.median(times):.2f} ms, "
                      f"p95 {ordered[int(len(ordered) * 0.95) - 1]:.2f} ms; "
                      f"{flood['bytes'] / 1e6:.1f} MB in {flood['seconds']:.2f} s"
                      f"{'; output DROPPED' if flood['dropped'] else ''}")
            browser.close()
        ordered = sorted(keys)
        print(f"keystroke to echo over {len(keys)} keys: p50 {statistics.median(keys):.2f} ms, "
              f"p95 {ordered[int(len(ordered) * 0.95) - 1]:.2f} ms, worst {ordered[-1]:.2f} ms (target p95 < 15 ms)")
        seconds = statistics.median(f["seconds"] for f in floods)
        megabytes = statistics.median(f["bytes"] for f in floods) / 1e6
        print(f"output: {megabytes:.1f} MB in {seconds:.2f} s median, {megabytes / seconds:.1f} MB/s "
              f"(target 10 MB < 2 s)")


if __name__ == "__main__":
    main()
