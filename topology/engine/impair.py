"""What one link end's impairment needs of the kernel, and whether this kernel can do it (pure: no I/O).

The kernel's capabilities are the probe's answer (:mod:`topology.kernel`), in
the form ``GET /api/v1/capabilities`` shows: ``{"impairments": {"delay": bool,
"jitter": bool, "loss": "netem" | "nftables" | None, "duplicate": "netem" |
"nftables" | None, "corrupt": bool, "rate": "tbf" | "htb" | None}, ...}``.

netem does delay, jitter, loss, duplication and corruption in one qdisc; a
kernel without it still drops a share of the packets arriving on each end with
an nftables rule on the interface's netdev ingress hook (``numgen random mod
10000 < N drop``: silent, as a lost packet is; both ends do it, so each
direction loses its share once) and copies a share of those it sends on the
egress hook (``... dup to <interface>``); a rate is
a token bucket (tbf), under netem when there is one. Everything else is refused
with the reason, before anything changes.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..schema import Problem

NETEM_MISSING = "and this kernel has no netem (sch_netem)"
MISSING = {  # a sentence per feature the kernel does not offer (the capabilities' "missing")
    "delay": f"delay and jitter need the kernel's netem, {NETEM_MISSING}",
    "loss": "loss needs netem or an nftables netdev ingress hook, neither of which this kernel offers",
    "duplicate": "duplication needs netem or an nftables netdev egress hook with dup, neither of which this kernel "
                 "offers",
    "corrupt": f"corruption needs the kernel's netem, {NETEM_MISSING}",
    "rate": "a rate needs a token bucket (sch_tbf), which this kernel lacks",
}


def capabilities_key(site: str, queue: str) -> str:
    """The Redis key under which the lab worker of ``queue`` keeps its kernel's capabilities (a name: no I/O)."""
    return f"topolab:{site}:capabilities:{queue}"


@dataclass(frozen=True)
class Shaping:
    """What to set on one interface: a netem qdisc (pyroute2's ``tc`` arguments), a tbf rate under or
    instead of it, and nftables rules for the loss and duplication netem cannot take. None: nothing of it."""

    netem: dict | None = None
    rate_kbit: int | None = None
    nft_loss_percent: float | None = None
    nft_duplicate_percent: float | None = None

    @property
    def empty(self) -> bool:
        return (self.netem is None and self.rate_kbit is None and self.nft_loss_percent is None
                and self.nft_duplicate_percent is None)


def _value(impairment, key: str):
    if impairment is None:
        return None
    return impairment.get(key) if isinstance(impairment, dict) else getattr(impairment, key, None)


def capabilities(features: dict[str, bool]) -> dict:
    """The capabilities (the ``impairments`` and ``link_state`` of the API's answer) of a kernel whose probe
    (:func:`netlink.probe_features`) found ``features``: ``{"netem", "tbf", "nft_drop", "nft_dup"}`` -> bool."""
    netem, tbf, nft = bool(features.get("netem")), bool(features.get("tbf")), bool(features.get("nft_drop"))
    nft_dup = nft and bool(features.get("nft_dup"))
    return {"impairments": {
        "delay": netem, "jitter": netem,
        "loss": "netem" if netem else "nftables" if nft else None,
        "duplicate": "netem" if netem else "nftables" if nft_dup else None,
        "corrupt": netem,
        "rate": "tbf" if tbf else None,
    }, "link_state": True}


def missing(capabilities: dict) -> list[str]:
    """A sentence for each impairment the kernel cannot do."""
    offered = capabilities.get("impairments", {})
    return [sentence for feature, sentence in MISSING.items() if not offered.get(feature)]


def problems(impairment, capabilities: dict, path: str = "impairment") -> list[Problem]:
    """Every part of ``impairment`` (the schema's object or its JSON) this kernel cannot do, at its JSON path."""
    offered = capabilities.get("impairments", {})
    found = []
    for key, feature in (("delay_ms", "delay"), ("jitter_ms", "jitter"), ("loss_percent", "loss"),
                         ("duplicate_percent", "duplicate"), ("corrupt_percent", "corrupt"), ("rate_kbit", "rate")):
        if _value(impairment, key) and not offered.get(feature):
            found.append(Problem(f"{path}.{key}", MISSING["delay" if feature == "jitter" else feature]))
    return found


class Unsupported(ValueError):
    """This kernel cannot do (part of) an impairment; ``problems`` say which part and why."""

    def __init__(self, problems_: list[Problem]):
        self.problems = problems_
        super().__init__("; ".join(p.message for p in problems_))


def plan(impairment, capabilities: dict) -> Shaping:
    """The shaping of one end for ``impairment`` (None: none) on a kernel with ``capabilities``.

    Raises :class:`Unsupported` when the kernel cannot do part of it.
    """
    refused = problems(impairment, capabilities)
    if refused:
        raise Unsupported(refused)
    if impairment is None:
        return Shaping()
    offered = capabilities.get("impairments", {})
    delay, jitter = _value(impairment, "delay_ms") or 0, _value(impairment, "jitter_ms") or 0
    loss = _value(impairment, "loss_percent") or 0
    duplicate, corrupt = _value(impairment, "duplicate_percent") or 0, _value(impairment, "corrupt_percent") or 0
    nft_loss = nft_duplicate = None
    if loss and offered.get("loss") == "nftables":
        nft_loss, loss = float(loss), 0
    if duplicate and offered.get("duplicate") == "nftables":
        nft_duplicate, duplicate = float(duplicate), 0
    netem = None
    if delay or jitter or loss or duplicate or corrupt:
        netem = {"delay": int(delay * 1000), "jitter": int(jitter * 1000), "loss": float(loss),
                 "duplicate": float(duplicate), "prob_corrupt": float(corrupt)}
    return Shaping(netem=netem, rate_kbit=_value(impairment, "rate_kbit") or None, nft_loss_percent=nft_loss,
                   nft_duplicate_percent=nft_duplicate)
