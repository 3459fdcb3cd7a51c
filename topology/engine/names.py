"""Every name and label the engine gives to what it creates, derived, never typed by a user.

Containers are ``topolab-<site>-<lab>-<node>``; every container carries the
labels below, and every interface the engine creates carries an alias
``topolab:<site>:<lab>`` so that cleanup finds things by label, never by a name
pattern. Interfaces are born inside their containers' namespaces under the
names the user gave, so no interface of a lab ever needs a host-side name.
"""
from __future__ import annotations

import hashlib
import re

LABEL_SITE = "topolab.site"
LABEL_LAB = "topolab.lab"
LABEL_NODE = "topolab.node"
LABEL_OWNER = "topolab.owner"

SITE_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")
ALIAS_PREFIX = "topolab:"


def check_site(site: str) -> str:
    """The site name, if it is fit for container names and labels."""
    if not SITE_RE.fullmatch(site):
        raise ValueError(f"TOPOLAB_SITE {site!r} must match {SITE_RE.pattern}")
    return site


def container_name(site: str, lab_id: int, node: str) -> str:
    """The Docker name of a node's container (node names are already ``[a-z][a-z0-9-]*``)."""
    return f"topolab-{check_site(site)}-{int(lab_id)}-{node}"


def labels(site: str, lab_id: int, node: str, owner: str) -> dict[str, str]:
    """The labels every container of a lab carries."""
    return {LABEL_SITE: check_site(site), LABEL_LAB: str(int(lab_id)), LABEL_NODE: node, LABEL_OWNER: owner}


def lab_filter(site: str, lab_id: int | None = None) -> list[str]:
    """Docker label filters selecting a site's containers, or one lab's."""
    selected = [f"{LABEL_SITE}={check_site(site)}"]
    if lab_id is not None:
        selected.append(f"{LABEL_LAB}={int(lab_id)}")
    return selected


def interface_alias(site: str, lab_id: int) -> str:
    """The alias (IFLA_IFALIAS) set on every interface the engine creates for a lab."""
    return f"{ALIAS_PREFIX}{check_site(site)}:{int(lab_id)}"


def parse_alias(alias: str | None) -> tuple[str, int] | None:
    """``(site, lab_id)`` from an interface alias the engine set, else None."""
    if not alias or not alias.startswith(ALIAS_PREFIX):
        return None
    parts = alias[len(ALIAS_PREFIX):].split(":")
    if len(parts) != 2 or not (parts[1].isascii() and parts[1].isdigit()):
        return None
    return parts[0], int(parts[1])



def interface_mac(site: str, lab_id: int, node: str, interface: str) -> str:
    """The MAC address of a link end the document gives none: derived from the lab, node and interface, so a
    node that restarts (or a lab deployed again) comes back with the MACs its neighbours' caches hold.

    Locally administered unicast (``x2:...``), 46 bits of a hash: two ends of one site meet by chance with odds
    far below anything a lab's few hundred interfaces could reach.
    """
    digest = hashlib.sha256(f"{check_site(site)}/{int(lab_id)}/{node}/{interface}".encode()).digest()
    first = (digest[0] & 0xFC) | 0x02  # bit 0 off: unicast; bit 1 on: locally administered
    return ":".join(f"{b:02x}" for b in (first, *digest[1:6]))
