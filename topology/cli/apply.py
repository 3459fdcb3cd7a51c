"""``manage.py lab apply``: what Apply changes does, in lines a person reads (the API's ``changes``)."""
from __future__ import annotations


def describe(changes: dict) -> list[str]:
    """One line per change: nodes, links, addresses, routes, sysctls, files; the nodes left for their start."""
    lines = [f"+ node {name}" for name in changes["nodes_created"]]
    lines += [f"- node {name}" for name in changes["nodes_removed"]]
    lines += [f"~ node {item['node']} restarts ({', '.join(item['why'])})" for item in changes["nodes_restarted"]]
    lines += [f"+ link {text}" for text in changes["links_added"]]
    lines += [f"- link {text}" for text in changes["links_removed"]]
    lines += [f"~ link {item['link']} ({', '.join(item['what'])})" for item in changes["links_changed"]]
    lines += [f"+ address {text}" for text in changes["addresses_added"]]
    lines += [f"- address {text}" for text in changes["addresses_removed"]]
    lines += [f"+ route {text}" for text in changes["routes_added"]]
    lines += [f"- route {text}" for text in changes["routes_removed"]]
    lines += [f"~ sysctl {text}" for text in changes["sysctls"]]
    lines += [f"~ file {text}" for text in changes["files"]]
    lines += [f"  {name} is not running: it starts with these changes" for name in changes["left"]]
    return lines
