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


# -- the warm pool (topology/engine/pool.py) ----------------------------------------------------------------
#
# A pool member is a started, unconfigured container of this site, labelled ``topolab.pool`` (its pool's key)
# and named ``topolab-<site>-pool-<token>``. Labels cannot change after a container is created, so a lab that
# takes a member gives it the lab's name for the node instead (``docker rename``, atomic in the engine): from
# then on its name is its identity. :func:`effective_labels` reads the lab and node back from that name, so
# everything that selects a lab's containers by label (destroy, gc, the watcher, the relay) finds a taken
# member as it finds a cold-started container.
LABEL_POOL = "topolab.pool"
# The lab host (its lab worker's queue) whose pool a member is in: two hosts sharing one Docker Engine (tests, a
# host running two workers) never take, count or remove each other's members.
LABEL_HOST = "topolab.host"


def pool_labels(site: str, key: str, host: str | None = None) -> dict[str, str]:
    """The labels of a pool member of ``site``'s pool ``key`` (of the lab host ``host``, when given)."""
    return {LABEL_SITE: check_site(site), LABEL_POOL: key, **({LABEL_HOST: host} if host else {})}


def pool_member_name(site: str, token: str) -> str:
    """The Docker name of a pool member not taken yet."""
    return f"topolab-{check_site(site)}-pool-{token}"


def lab_and_node_of(site: str, name: str) -> tuple[int, str] | None:
    """``(lab, node)`` from a container name :func:`container_name` made for ``site``, else None."""
    prefix = f"topolab-{check_site(site)}-"
    name = name.lstrip("/")
    if not name.startswith(prefix):
        return None
    lab, sep, node = name[len(prefix):].partition("-")
    if not sep or not (lab.isascii() and lab.isdigit()) or not re.fullmatch(r"[a-z][a-z0-9-]{0,30}", node):
        return None
    return int(lab), node


def effective_labels(labels: dict, name: str) -> dict:
    """A container's labels, with the lab and node of a taken pool member (read from its name) added."""
    if LABEL_POOL not in labels or LABEL_LAB in labels or LABEL_SITE not in labels:
        return labels
    try:
        found = lab_and_node_of(labels[LABEL_SITE], name)
    except ValueError:
        return labels
    if found is None:
        return labels
    return {**labels, LABEL_LAB: str(found[0]), LABEL_NODE: found[1]}
