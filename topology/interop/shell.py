"""The configuration commands both foreign formats carry in scripts, parsed into a document's terms and back.

containerlab's ``exec`` lists and Kathará's ``.startup`` scripts set addresses, routes and sysctls with
shell commands; :func:`parse` recognises the common forms (one command a line, no shell operators) and
says what each does. :func:`render_node` writes a node's addresses, routes, sysctls and link settings as
such commands for an export. What is not recognised stays a command (the node's ``exec``).

Recognised: ``ip [-4|-6] addr add A/L dev IF``, ``ip [-4|-6] route add P|default [via G] [dev IF]``,
``ip link set [dev] IF up|down|mtu N|address MAC|name NEW|master BR``, ``ip link add BR type bridge``,
``ifconfig IF A/L|A netmask M [up]``, ``route add default gw G``, ``route add -net P[/L] [netmask M] gw G
[dev IF]``, ``route add -host H gw G``, ``sysctl [-w] K=V``, ``echo V > /proc/sys/K``, ``tc qdisc add dev IF
root netem ...`` (delay, jitter, loss, duplicate, corrupt, rate) and FRR's start commands.
"""
from __future__ import annotations

import ipaddress
import re
import shlex
from dataclasses import dataclass

_OPERATORS = re.compile(r"[;&|<>`$(){}*?\\]")
_ECHO_SYSCTL = re.compile(r"^echo\s+(\S+)\s*>\s*/proc/sys/(net/[A-Za-z0-9_./-]+)$")
_FRR_START = re.compile(r"^(service\s+frr\s+(re)?start|systemctl\s+(re)?start\s+frr(\.service)?|"
                        r"/etc/init\.d/frr\s+(re)?start|/usr/lib/frr/frrinit\.sh\s+(re)?start)$")
_NUMBER = re.compile(r"^\d+(\.\d+)?$")


@dataclass(frozen=True)
class Action:
    """What one recognised command does: ``what`` and its arguments.

    ``addr`` (interface, cidr), ``route`` (to, via, dev), ``up``/``down`` (interface), ``mtu`` (interface, n),
    ``mac`` (interface, mac), ``rename`` (interface, new), ``master`` (interface, bridge), ``bridge`` (name),
    ``sysctl`` (key, value), ``netem`` (interface, impairment dict), ``frr`` (the FRR daemons' start).
    """

    what: str
    args: tuple = ()


def _number(text: str):
    return int(text) if "." not in text else float(text)


def _mask_length(mask: str) -> int | None:
    try:
        return ipaddress.IPv4Network(f"0.0.0.0/{mask}").prefixlen
    except ValueError:
        return None


def parse(line: str) -> Action | None:
    """The action of one command line, or None when it is not a form this module knows."""
    text = line.strip()
    if not text or text.startswith("#"):
        return Action("comment")
    match = _ECHO_SYSCTL.match(text)
    if match:
        return Action("sysctl", (match.group(2).replace("/", "."), match.group(1)))
    if _FRR_START.match(text):
        return Action("frr")
    if _OPERATORS.search(text):
        return None
    try:
        words = shlex.split(text)
    except ValueError:
        return None
    if not words:
        return Action("comment")
    head = words[0].rsplit("/", 1)[-1]
    handler = {"ip": _ip, "ifconfig": _ifconfig, "route": _route, "sysctl": _sysctl, "tc": _tc}.get(head)
    return handler(words[1:]) if handler else None


def _ip(words: list[str]) -> Action | None:
    while words and words[0] in ("-4", "-6"):
        words = words[1:]
    if len(words) < 2:
        return None
    obj, verb, rest = words[0], words[1], words[2:]
    if obj in ("a", "addr", "address") and verb == "add":
        return _ip_addr(rest)
    if obj in ("r", "ro", "route") and verb == "add":
        return _ip_route(rest)
    if obj in ("l", "link") and verb == "set":
        return _ip_link_set(rest)
    if obj in ("l", "link") and verb == "add" and len(rest) == 3 and rest[1] == "type" and rest[2] == "bridge":
        return Action("bridge", (rest[0],))
    return None


def _ip_addr(rest: list[str]) -> Action | None:
    if len(rest) == 3 and rest[1] == "dev":
        cidr, dev = rest[0], rest[2]
    elif len(rest) == 3 and rest[0] == "dev":
        dev, cidr = rest[1], rest[2]
    else:
        return None
    if "/" not in cidr:
        return None
    try:
        ipaddress.ip_interface(cidr)
    except ValueError:
        return None
    return Action("addr", (dev, cidr))


def _ip_route(rest: list[str]) -> Action | None:
    if not rest:
        return None
    to, options = rest[0], rest[1:]
    if len(options) % 2:
        return None
    pairs = dict(zip(options[::2], options[1::2], strict=True))
    if set(pairs) - {"via", "dev"} or len(pairs) * 2 != len(options):
        return None
    return _route_action(to, pairs.get("via"), pairs.get("dev"))


def _route_action(to: str, via: str | None, dev: str | None) -> Action | None:
    if to in ("default", "0.0.0.0/0") and via:
        to = "default"
    try:
        if to != "default":
            to = str(ipaddress.ip_network(to, strict=True))
        if via:
            ipaddress.ip_address(via)
    except ValueError:
        return None
    if not via and not dev:
        return None
    return Action("route", (to, via, None if via else dev))


def _ip_link_set(rest: list[str]) -> Action | None:
    if rest and rest[0] == "dev":
        rest = rest[1:]
    if len(rest) == 2 and rest[1] in ("up", "down"):
        return Action(rest[1], (rest[0],))
    if len(rest) == 3 and rest[1] == "mtu" and rest[2].isdigit():
        return Action("mtu", (rest[0], int(rest[2])))
    if len(rest) == 3 and rest[1] == "address":
        return Action("mac", (rest[0], rest[2].lower()))
    if len(rest) == 3 and rest[1] == "name":
        return Action("rename", (rest[0], rest[2]))
    if len(rest) == 3 and rest[1] == "master":
        return Action("master", (rest[0], rest[2]))
    return None


def _ifconfig(words: list[str]) -> Action | None:
    if words and words[-1] == "up":
        words = words[:-1]
    if len(words) == 1:
        return Action("up", (words[0],))
    if len(words) == 2 and "/" in words[1]:
        cidr = words[1]
    elif len(words) == 4 and words[2] == "netmask" and _mask_length(words[3]) is not None:
        cidr = f"{words[1]}/{_mask_length(words[3])}"
    else:
        return None
    try:
        ipaddress.ip_interface(cidr)
    except ValueError:
        return None
    return Action("addr", (words[0], cidr))


def _route(words: list[str]) -> Action | None:
    if words and words[0] in ("-A",) and len(words) > 1:
        words = words[2:]
    if not words or words[0] != "add":
        return None
    words = words[1:]
    to = None
    if words and words[0] == "default":
        to, words = "default", words[1:]
    elif len(words) >= 2 and words[0] in ("-net", "-host"):
        to, host, words = words[1], words[0] == "-host", words[2:]
        if len(words) >= 2 and words[0] == "netmask":
            length = _mask_length(words[1])
            if length is None:
                return None
            to, words = f"{to}/{length}", words[2:]
        elif "/" not in to:
            to = f"{to}/32" if host else to
    if to is None or len(words) % 2:
        return None
    pairs = dict(zip(words[::2], words[1::2], strict=True))
    if set(pairs) - {"gw", "dev"} or len(pairs) * 2 != len(words):
        return None
    return _route_action(to, pairs.get("gw"), pairs.get("dev"))


def _sysctl(words: list[str]) -> Action | None:
    words = [w for w in words if w not in ("-w", "-q")]
    if len(words) != 1 or "=" not in words[0]:
        return None
    key, value = words[0].split("=", 1)
    return Action("sysctl", (key.strip().replace("/", "."), value.strip()))


_NETEM_KEYS = {"loss": "loss_percent", "duplicate": "duplicate_percent", "corrupt": "corrupt_percent"}


def _tc(words: list[str]) -> Action | None:
    if words[:4] != ["qdisc", "add", "dev", words[3] if len(words) > 3 else ""] or len(words) < 7:
        return None
    dev, rest = words[3], words[4:]
    if rest[:2] != ["root", "netem"]:
        return None
    rest, impairment = rest[2:], {}
    while rest:
        word = rest.pop(0)
        if word == "delay" and rest and rest[0].endswith("ms") and _NUMBER.match(rest[0][:-2]):
            impairment["delay_ms"] = _number(rest.pop(0)[:-2])
            if rest and rest[0].endswith("ms") and _NUMBER.match(rest[0][:-2]):
                impairment["jitter_ms"] = _number(rest.pop(0)[:-2])
        elif word in _NETEM_KEYS and rest and rest[0].endswith("%") and _NUMBER.match(rest[0][:-1]):
            impairment[_NETEM_KEYS[word]] = _number(rest.pop(0)[:-1])
        elif word == "rate" and rest and rest[0].endswith("kbit") and rest[0][:-4].isdigit():
            impairment["rate_kbit"] = int(rest.pop(0)[:-4])
        else:
            return None
    return Action("netem", (dev, impairment)) if impairment else None


# -- writing ---------------------------------------------------------------------------------------------------
def _num(value) -> str:
    return str(int(value)) if float(value).is_integer() and not isinstance(value, float) else repr(float(value))


def netem(dev: str, impairment: dict) -> str | None:
    """``tc qdisc add ... netem`` for an impairment (None when it shapes nothing)."""
    words = []
    if impairment.get("delay_ms") is not None:
        words += ["delay", f"{_num(impairment['delay_ms'])}ms"]
        if impairment.get("jitter_ms"):
            words.append(f"{_num(impairment['jitter_ms'])}ms")
    for word, key in _NETEM_KEYS.items():
        if impairment.get(key) is not None:
            words += [word, f"{_num(impairment[key])}%"]
    if impairment.get("rate_kbit") is not None:
        words += ["rate", f"{impairment['rate_kbit']}kbit"]
    return f"tc qdisc add dev {dev} root netem {' '.join(words)}" if words else None


def route(route_: dict) -> str:
    """``ip route add`` for a document's route."""
    to, via, dev = route_["to"], route_.get("via"), route_.get("dev")
    family = "-6 " if (via and ":" in via) or ":" in to else ""
    return f"ip {family}route add {to} " + (f"via {via}" if via else f"dev {dev}")


def address(dev: str, cidr: str) -> str:
    return f"ip addr add {cidr} dev {dev}"


def sysctl(key: str, value: str) -> str:
    return f"sysctl -w {key}={value}" if not re.search(r"\s", value) else f"sysctl -w {shlex.quote(f'{key}={value}')}"
