"""``manage.py lab link``: set a link of a topology up or down and set or clear its impairment.

The same rules and path as the API's ``PATCH .../links/{end}`` (:mod:`topology.links`): on a running lab the
lab worker applies the change at once on both ends; on a stopped one it is saved for the next deploy.
"""
from __future__ import annotations

import json

IMPAIRMENT_OPTIONS = (  # option, key of the impairment, type, help
    ("--delay", "delay_ms", float, "delay in milliseconds"),
    ("--jitter", "jitter_ms", float, "jitter in milliseconds (with --delay)"),
    ("--loss", "loss_percent", float, "share of packets dropped, in percent"),
    ("--duplicate", "duplicate_percent", float, "share of packets sent twice, in percent"),
    ("--corrupt", "corrupt_percent", float, "share of packets corrupted, in percent"),
    ("--rate", "rate_kbit", int, "the most each end sends, in kbit/s"),
)


def add_parser(sub, with_user) -> None:
    """Register ``lab link NAME NODE:IFACE [--down|--up] [--delay MS] ... [--clear]``."""
    p = with_user(sub.add_parser("link", help="set a link down or up and set or clear its impairment (at once on "
                                              "a running lab): lab link NAME NODE:IFACE --down|--up [--loss PCT] ..."))
    p.add_argument("name")
    p.add_argument("end", help="either end of the link, node:interface")
    state = p.add_mutually_exclusive_group()
    state.add_argument("--down", dest="state", action="store_const", const="down")
    state.add_argument("--up", dest="state", action="store_const", const="up")
    for option, key, kind, text in IMPAIRMENT_OPTIONS:
        p.add_argument(option, dest=key, type=kind, help=text)
    p.add_argument("--clear", action="store_true", help="remove the link's impairment")


def change_of(options: dict) -> dict:
    """The API's change body from the parsed options (impairment options replace the whole impairment)."""
    change: dict = {}
    if options.get("state"):
        change["state"] = options["state"]
    impairment = {key: options[key] for _, key, _, _ in IMPAIRMENT_OPTIONS if options.get(key) is not None}
    if options.get("clear"):
        change["impairment"] = None
    elif impairment:
        change["impairment"] = impairment
    return change


def describe(answer: dict) -> str:
    """One line saying what became of the link."""
    link = answer["link"]
    ends = " - ".join(f"{e['node']}:{e['interface']}" for e in link["endpoints"])
    impairment = json.dumps(link["impairment"], sort_keys=True) if link.get("impairment") else "no impairment"
    where = "applied to the running lab" if answer["applied"] else "saved (the lab is not running)"
    return f"{ends}: {link.get('state', 'up')}, {impairment}; {where}"
