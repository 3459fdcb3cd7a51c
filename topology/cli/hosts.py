"""``manage.py lab hosts``: list the lab hosts, drain or undrain one, pin a user or a course to one, forget a lab.

The same rules and words as the admin's actions (:mod:`topology.hostctl`)::

    lab hosts [--json]                         every host: alive, drained, capacity, load, labs
    lab hosts drain HOST | undrain HOST        HOST: its name or its queue
    lab hosts pin HOST --user NAME | --course SLUG
    lab hosts unpin --user NAME | --course SLUG
    lab hosts forget TOPOLOGY [--user NAME]    stop a lab of an unreachable host without it
"""
from __future__ import annotations

import json

from django.core.management.base import CommandError


def add_parser(sub, with_user) -> None:
    """Register ``lab hosts [ACTION ...]``."""
    p = sub.add_parser("hosts", help="the lab hosts: list them; drain, undrain, pin a user or a course, forget a lab "
                                     "of an unreachable host")
    p.add_argument("--json", action="store_true", help="machine-readable output (the list)")
    actions = p.add_subparsers(dest="host_action", metavar="ACTION")
    for action, text in (("drain", "no new labs on HOST (its running labs stay)"),
                         ("undrain", "HOST takes new labs again")):
        a = actions.add_parser(action, help=text)
        a.add_argument("target", metavar="HOST", help="the host's name or queue")
    a = actions.add_parser("pin", help="send a user's or a course's labs to HOST (or refuse them, saying why)")
    a.add_argument("target", metavar="HOST", help="the host's name or queue")
    _whom(a)
    _whom(actions.add_parser("unpin", help="remove a user's or a course's pin"))
    a = with_user(actions.add_parser("forget", help="stop a lab whose host is unreachable, without it (the host "
                                                    "removes what it left once it is back)"))
    a.add_argument("name", help="the topology whose lab to forget")


def _whom(parser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--user", dest="pin_user", help="a user name")
    group.add_argument("--course", dest="pin_course", help="a course's slug")


def _lines(found) -> list[str]:
    if not found:
        return ["no lab host has registered yet (a lab worker registers its host when it starts)"]
    lines = [f"{'NAME':20} {'QUEUE':28} {'STATE':12} {'CORES':>5} {'MEMORY':>9} {'LOAD':>5} {'LABS':>4} "
             f"{'NODES':>5}  IMAGES"]
    for row in found:
        h, load = row.host, row.load or {}
        state = ("up" if row.alive else "unreachable") + (", drained" if h.drained else "")
        lines.append(f"{h.name[:20]:20} {h.queue[:28]:28} {state:12} {h.cores:5} {h.memory_mb:7}MB "
                     f"{(load.get('load') or ['-'])[0]!s:>5} {row.labs:4} {load.get('nodes', '-')!s:>5}  "
                     f"{', '.join(h.images or ()) or 'none'}")
        caps = [f"max {h.max_nodes} nodes" if h.max_nodes is not None else "",
                f"max {h.max_memory_mb} MB" if h.max_memory_mb is not None else ""]
        pins = [str(p) for p in h.pins.all()]  # (prefetched by hostctl.rows)
        if any(caps) or pins:
            lines.append("    " + "; ".join([c for c in caps if c] + [f"pin: {p}" for p in pins]))
    return lines


def run(command, options: dict) -> None:
    """Carry out ``lab hosts ...`` for ``command`` (the ``lab`` command: its output and its refusals)."""
    from .. import hostctl
    from ..errors import ServiceError

    action = options.get("host_action")
    try:
        if action is None:
            found = hostctl.rows()
            if options.get("json"):
                command.stdout.write(json.dumps([row.as_dict() for row in found], indent=2))
            else:
                for line in _lines(found):
                    command.stdout.write(line)
        elif action in ("drain", "undrain"):
            host = hostctl.set_drained(hostctl.host(options["target"]), action == "drain")
            said = "drained (no new labs; its running labs stay)" if host.drained else "takes new labs"
            command.stdout.write(f"{host.name}: {said}")
        elif action == "pin":
            pin = hostctl.pin(hostctl.host(options["target"]), user=options.get("pin_user"),
                              course=options.get("pin_course"))
            command.stdout.write(f"pinned: {pin}")
        elif action == "unpin":
            removed = hostctl.unpin(user=options.get("pin_user"), course=options.get("pin_course"))
            command.stdout.write("pin removed" if removed else "there was no such pin")
        elif action == "forget":
            topology = command._topology(options["name"], options.get("user"))
            lab = hostctl.forget(topology.lab, "the command line (lab hosts forget)")
            command.stdout.write(f"'{topology.name}' forgotten: it is {lab.state}")
    except ServiceError as exc:
        raise CommandError(exc.message, returncode=1) from None
