"""``manage.py lab routes NAME [--apply] [--json]``: Compute routes for a saved topology, in lines a person reads.

The routes and notes are :func:`topology.routes.compute`'s, as the API's ``POST .../routes`` gives them; with
``--apply`` the document with the routes added is saved as a PUT (and an import) saves it.
"""
from __future__ import annotations


def add_parser(sub, with_user) -> None:
    """Register ``lab routes NAME [--apply] [--json]``."""
    p = with_user(sub.add_parser("routes", help="compute the static routes that make every node reach every subnet "
                                                "by a shortest path; --apply saves them into the document"))
    p.add_argument("name")
    p.add_argument("--apply", dest="apply_routes", action="store_true",
                   help="save the document with the routes added (the node's own routes are kept)")
    p.add_argument("--json", action="store_true", help="machine-readable output (the API's answer)")


def describe(answer: dict) -> list[str]:
    """A line per route (``+ node  to via VIA``), a line per note, then what was done."""
    width = max((len(r["node"]) for r in answer["routes"]), default=0)
    lines = [f"+ {r['node']:{width}}  {r['to']} via {r['via']}" for r in answer["routes"]]
    lines += [f"  note: {note}" for note in answer["notes"]]
    count = len(answer["routes"])
    if not count:
        lines.append("no routes to add")
    elif answer["applied"]:
        lines.append(f"{count} route{'s' if count != 1 else ''} added and saved")
    else:
        lines.append(f"{count} route{'s' if count != 1 else ''} proposed, nothing saved (--apply saves them)")
    return lines
