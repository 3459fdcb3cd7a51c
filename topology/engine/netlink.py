"""Everything the engine does to the kernel's network, over netlink (pyroute2). Root-only.

The only module that imports pyroute2. It works inside a container's network
namespace by switching the *calling thread* into it with ``setns(2)`` just long
enough to open a netlink socket (a socket stays bound to the namespace it was
opened in) or to write a sysctl, then switching back: much cheaper than a
helper process per namespace, and safe on a thread pool because namespaces
are per thread.
"""
from __future__ import annotations

import ctypes
import ipaddress
import logging
import os
import socket
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from . import impair as impair_plan

log = logging.getLogger(__name__)
CLONE_NEWNET = 0x40000000
IFA_F_NODAD = 0x02  # no duplicate address detection: IPv6 addresses work at once
_libc = ctypes.CDLL(None, use_errno=True)


class NetlinkStepError(RuntimeError):
    """A netlink operation failed; the message says what, where and the kernel's reason."""


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextmanager
def inside(pid: int) -> Iterator[None]:
    """Run the body with the current thread in the network namespace of process ``pid``."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(f"/proc/{int(pid)}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        os.close(own)
        raise NetlinkStepError(f"process {pid} is gone (did its container stop?)") from None
    try:
        _setns(target)
        try:
            yield
        finally:
            # Never leave a pool thread in a container's namespace.
            _setns(own)
    finally:
        os.close(target)
        os.close(own)


CLONE_NEWUTS = 0x04000000


def set_hostname(pid: int, hostname: str) -> None:
    """Give the UTS namespace of process ``pid`` (a node's container) the host name ``hostname``, from the host:
    a container taken from the warm pool was started under another one. In a thread of its own, which ends
    in that namespace rather than going back: a thread's UTS namespace only matters to the thread itself."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fd = os.open(f"/proc/{int(pid)}/ns/uts", os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            errors.append(NetlinkStepError(f"process {pid} is gone (did its container stop?)"))
            return
        try:
            if _libc.setns(fd, CLONE_NEWUTS) != 0:
                err = ctypes.get_errno()
                errors.append(NetlinkStepError(f"setns (uts): {os.strerror(err)}"))
                return
            socket.sethostname(hostname)
        except OSError as exc:
            errors.append(NetlinkStepError(f"cannot set the host name {hostname}: {exc.strerror}"))
        finally:
            os.close(fd)

    thread = threading.Thread(target=run, name="topolab-uts")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def socket_in(pid: int | None) -> IPRoute:
    """A netlink socket bound to the namespace of ``pid`` (None: the host's)."""
    if pid is None:
        return IPRoute()
    with inside(pid):
        return IPRoute()


def _reason(exc: NetlinkError) -> str:
    return f"{os.strerror(exc.code)} (errno {exc.code})" if exc.code else str(exc)


def _index(ipr: IPRoute, ifname: str) -> int:
    found = ipr.link_lookup(ifname=ifname)
    if not found:
        raise NetlinkStepError(f"no interface named {ifname}")
    return found[0]


def create_veth(pid: int, ifname: str, peer_pid: int, peer_ifname: str, alias: str) -> None:
    """One veth pair, each end born in its namespace under its final name, in one netlink call."""
    peer: dict = {"ifname": peer_ifname}
    with socket_in(pid) as ipr:
        peer_fd = None
        if peer_pid != pid:
            peer_fd = os.open(f"/proc/{int(peer_pid)}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            peer["net_ns_fd"] = peer_fd
        try:
            ipr.link("add", ifname=ifname, kind="veth", peer=peer)
        except NetlinkError as exc:
            raise NetlinkStepError(f"cannot create {ifname} - {peer_ifname}: {_reason(exc)}") from None
        finally:
            if peer_fd is not None:
                os.close(peer_fd)
        ipr.link("set", index=_index(ipr, ifname), ifalias=alias)
    with socket_in(peer_pid) as ipr:
        ipr.link("set", index=_index(ipr, peer_ifname), ifalias=alias)


def create_bridge(pid: int, name: str, alias: str) -> None:
    """A Linux bridge (no STP), up, in the namespace of ``pid``."""
    with socket_in(pid) as ipr:
        try:
            ipr.link("add", ifname=name, kind="bridge", ifalias=alias)
            ipr.link("set", index=_index(ipr, name), state="up")
        except NetlinkError as exc:
            raise NetlinkStepError(f"cannot create bridge {name}: {_reason(exc)}") from None


def _set_link(ipr: IPRoute, index: int, mac=None, mtu=None, master=None) -> None:
    """Set what is given of an interface's MAC, MTU and bridge (one netlink call, none when nothing is)."""
    attrs: dict = {}
    if mac:
        attrs["address"] = mac.lower()
    if mtu:
        attrs["mtu"] = mtu
    if master:
        attrs["master"] = _index(ipr, master)
    if attrs:
        ipr.link("set", index=index, **attrs)


def configure_interface(pid: int, ifname: str, *, addresses=(), mac=None, mtu=None, up=True, master=None) -> None:
    """Set MAC, MTU, bridge port, addresses and state of one interface."""
    with socket_in(pid) as ipr:
        index = _index(ipr, ifname)
        try:
            _set_link(ipr, index, mac, mtu, master)
            for text in addresses:
                iface = ipaddress.ip_interface(text)
                flags = IFA_F_NODAD if iface.version == 6 else 0
                ipr.addr("add", index=index, address=str(iface.ip), prefixlen=iface.network.prefixlen, flags=flags)
            ipr.link("set", index=index, state="up" if up else "down")
        except NetlinkError as exc:
            raise NetlinkStepError(f"cannot configure {ifname}: {_reason(exc)}") from None


def _sysctl_path(key: str) -> str:
    return "/proc/sys/" + key.replace(".", "/")


def set_sysctls(pid: int, values: list[tuple[str, str]]) -> None:
    """Write namespaced sysctls of ``pid``'s network namespace (keys checked by the spec)."""
    with inside(pid):
        for key, value in values:
            try:
                # /proc/sys/net resolves to the namespace of the thread that opens it.
                with open(_sysctl_path(key), "w") as f:
                    f.write(str(value))
            except FileNotFoundError:
                raise NetlinkStepError(f"sysctl {key} does not exist in this kernel or namespace") from None
            except OSError as exc:
                raise NetlinkStepError(f"sysctl {key}={value}: {exc.strerror}") from None


def _route_spec(to: str, via: str | None) -> dict:
    """pyroute2's arguments for the route to ``to`` (a prefix) via ``via`` (or none: a device route)."""
    network = ipaddress.ip_network(to)
    spec: dict = {"dst": str(network.network_address), "dst_len": network.prefixlen}
    if network.version == 6:
        spec["family"] = 10
    if via:
        spec["gateway"] = via
    return spec


def add_route(pid: int, to: str, via: str | None = None, dev: str | None = None, exist_ok: bool = False) -> None:
    """A static route in the namespace of ``pid`` (``exist_ok``: one already there is fine)."""
    with socket_in(pid) as ipr:
        spec = _route_spec(to, via)
        if dev:
            spec["oif"] = _index(ipr, dev)
        try:
            ipr.route("add", **spec)
        except NetlinkError as exc:
            if exist_ok and exc.code == 17:  # EEXIST
                return
            target = f"via {via}" if via else f"dev {dev}"
            raise NetlinkStepError(f"cannot add route {to} {target}: {_reason(exc)}") from None


TC_H_ROOT = 0xFFFFFFFF
NETDEV = 5  # nftables' netdev family
NF_NETDEV_INGRESS = 0
NF_NETDEV_EGRESS = 1
LOSS_SCALE = 10000  # numgen draws 0..9999: loss and duplication in steps of 0.01 %
DUP_MARK = 0x7D0B1E  # the packet mark of a copy made by the duplication rule (see duplicate_rule)


def _nft_table(ifname: str) -> str:
    """The nftables table (netdev family) holding one interface's loss rule: one table per interface, so that
    clearing it is one delete."""
    return f"topolab_{ifname}"


def _nft_socket():
    from pyroute2.nftables.main import NFTables

    return NFTables(nfgen_family=NETDEV)


def _expr(name: str, attrs: list) -> dict:
    return {"attrs": [("NFTA_EXPR_NAME", name), ("NFTA_EXPR_DATA", {"attrs": attrs})]}


def _share(percent: float) -> list[dict]:
    """Matches ``percent`` % of packets: ``numgen random mod 10000 < N`` (the register turned big-endian first:
    the kernel compares "less than" byte by byte)."""
    threshold = max(0, min(LOSS_SCALE, round(float(percent) * LOSS_SCALE / 100)))
    return [
        _expr("numgen", [("NFTA_NG_DREG", 1), ("NFTA_NG_MODULUS", LOSS_SCALE), ("NFTA_NG_TYPE", 1),
                         ("NFTA_NG_OFFSET", 0)]),
        _expr("byteorder", [("NFTA_BYTEORDER_SREG", 1), ("NFTA_BYTEORDER_DREG", 1), ("NFTA_BYTEORDER_OP", 1),
                            ("NFTA_BYTEORDER_LEN", 4), ("NFTA_BYTEORDER_SIZE", 4)]),
        _expr("cmp", [("NFTA_CMP_SREG", 1), ("NFTA_CMP_OP", 2),  # NFT_CMP_LT
                      ("NFTA_CMP_DATA", {"attrs": [("NFTA_DATA_VALUE", threshold.to_bytes(4, "big"))]})]),
    ]


def _load(value: int) -> dict:
    """Register 1 := ``value`` (a host-order u32, as the kernel keeps marks and interface indexes)."""
    return _expr("immediate", [("NFTA_IMMEDIATE_DREG", 1),
                               ("NFTA_IMMEDIATE_DATA", {"attrs": [("NFTA_DATA_VALUE", value.to_bytes(4, sys.byteorder))]})])


def loss_rule(percent: float) -> list[dict]:
    """``numgen random mod 10000 < N drop`` as netlink expressions."""
    return _share(percent) + [
        _expr("immediate", [("NFTA_IMMEDIATE_DREG", 0),  # NFT_REG_VERDICT
                            ("NFTA_IMMEDIATE_DATA", {"attrs": [("NFTA_DATA_VERDICT", {"attrs": [
                                ("NFTA_VERDICT_CODE", 0)]})]})]),  # NF_DROP
    ]


def duplicate_rule(percent: float, ifindex: int) -> list[dict]:
    """``meta mark != M numgen random mod 10000 < N meta mark set M dup to <ifindex>`` as netlink expressions.

    The copy goes out through the egress hook again; marked, it is not copied once more (without the mark
    every copy would be copied again with the same chance). Crossing the veth into the peer's namespace
    clears the mark, so the peer never sees it.
    """
    return [
        _expr("meta", [("NFTA_META_DREG", 1), ("NFTA_META_KEY", 3)]),  # NFT_META_MARK
        _expr("cmp", [("NFTA_CMP_SREG", 1), ("NFTA_CMP_OP", 1),  # NFT_CMP_NEQ
                      ("NFTA_CMP_DATA", {"attrs": [("NFTA_DATA_VALUE", DUP_MARK.to_bytes(4, sys.byteorder))]})]),
        *_share(percent),
        _load(DUP_MARK),
        _expr("meta", [("NFTA_META_KEY", 3), ("NFTA_META_SREG", 1)]),
        _load(ifindex),
        _expr("dup", [("NFTA_DUP_SREG_DEV", 1)]),
    ]


def _nft_chain(nft, table: str, name: str, hook: int, ifname: str) -> None:
    from pyroute2.netlink.nfnetlink.nftsocket import NFT_MSG_NEWCHAIN, nft_chain_msg

    # pyroute2's chain() knows only the inet hooks: a netdev hook, with its device, is sent as it is.
    nft._run_with_cleanup(nft.asyncore._command, nft_chain_msg, {"add": NFT_MSG_NEWCHAIN}, "add", {
        "table": table, "name": name, "type": "filter",
        "hook": {"attrs": [["NFTA_HOOK_HOOKNUM", hook], ["NFTA_HOOK_PRIORITY", 0], ["NFTA_HOOK_DEV", ifname]]}})


def nft_add_rules(nft, ifname: str, ifindex: int, loss: float | None = None, duplicate: float | None = None) -> None:
    """A netdev table for ``ifname`` with its loss and duplication rules, through an open NFTables socket bound
    to the interface's namespace.

    Loss drops on the interface's *ingress* hook: a drop on egress would answer the sending socket with
    ENOBUFS (ping then sends again, TCP backs off as from local congestion), while one on arrival is silent,
    as a lost packet is. Both ends do it, so each direction still loses its share once. Duplication copies on
    egress (a copy sent on ingress would go back to the sender).
    """
    table = _nft_table(ifname)
    nft.table("add", name=table)
    if loss:
        _nft_chain(nft, table, "ingress", NF_NETDEV_INGRESS, ifname)
        nft.rule("add", table=table, chain="ingress", expressions=[loss_rule(loss)])
    if duplicate:
        _nft_chain(nft, table, "egress", NF_NETDEV_EGRESS, ifname)
        nft.rule("add", table=table, chain="egress", expressions=[duplicate_rule(duplicate, ifindex)])


def _nft_clear(nft, ifname: str) -> None:
    try:
        nft.table("del", name=_nft_table(ifname))
    except NetlinkError as exc:
        if exc.code != 2:  # ENOENT: there was none
            raise


def add_netem(ipr: IPRoute, index: int, netem: dict) -> None:
    """netem at the root of interface ``index`` (handle 1:), with pyroute2's netem arguments."""
    ipr.tc("add", kind="netem", index=index, handle=0x10000, **netem)


def add_tbf(ipr: IPRoute, index: int, rate_kbit: int, parent: int | None = None) -> None:
    """A token bucket of ``rate_kbit`` (handle 2:), at the root or under ``parent``."""
    rate_bytes = rate_kbit * 1000 // 8
    # A burst of 10 ms of traffic (at least a few full frames) keeps the bucket from starving at low rates.
    burst = max(rate_bytes // 100, 4 * 1514)
    extra = {"parent": parent} if parent else {}
    ipr.tc("add", kind="tbf", index=index, handle=0x20000, rate=f"{rate_kbit}kbit", burst=burst, latency="50ms",
           **extra)


def clear_qdisc(ipr: IPRoute, index: int) -> None:
    """Remove the root qdisc (and its children) of interface ``index``; nothing there is fine."""
    try:
        ipr.tc("del", index=index, parent=TC_H_ROOT)
    except NetlinkError as exc:
        if exc.code not in (2, 22):  # ENOENT / EINVAL: only the default qdisc is there
            raise


def shape(pid: int, ifname: str, shaping) -> None:
    """Make one interface's shaping exactly ``shaping`` (an :class:`impair.Shaping`): what was there goes first."""
    with socket_in(pid) as ipr:
        index = _index(ipr, ifname)
        try:
            clear_qdisc(ipr, index)
            parent = None
            if shaping.netem is not None:
                add_netem(ipr, index, shaping.netem)
                parent = 0x10001
            if shaping.rate_kbit:
                add_tbf(ipr, index, shaping.rate_kbit, parent)
        except NetlinkError as exc:
            raise NetlinkStepError(f"cannot shape {ifname}: {_reason(exc)}") from None
    with inside(pid):
        nft = _nft_socket()  # bound to the node's namespace, like an IPRoute opened here
    try:
        _nft_clear(nft, ifname)
        if shaping.nft_loss_percent or shaping.nft_duplicate_percent:
            nft_add_rules(nft, ifname, index, shaping.nft_loss_percent, shaping.nft_duplicate_percent)
    except NetlinkError as exc:
        raise NetlinkStepError(f"cannot set the loss or duplication of {ifname} (nftables): {_reason(exc)}") from None
    finally:
        nft.close()


def impair(pid: int, ifname: str, impairment) -> None:
    """Shape a link end by its ``impairment`` (the schema's object, or None: no shaping), as this host's kernel
    can (:func:`features`); the deploy's step and a live change both come here."""
    try:
        shaping = impair_plan.plan(impairment, impair_plan.capabilities(features()))
    except impair_plan.Unsupported as exc:
        raise NetlinkStepError(f"cannot impair {ifname}: {exc}") from None
    shape(pid, ifname, shaping)


PROBE_IFNAME = "tlprobe0"
_features_lock = threading.Lock()
_features: dict[str, bool] | None = None


def _try(what: str, action) -> bool:
    try:
        action()
    except Exception as exc:  # noqa: BLE001 - any failure means "not offered"; the log says why
        log.info("kernel probe: %s not available: %s", what, exc)
        return False
    return True


def _probe_here() -> dict[str, bool]:
    """Try each feature in the current thread's (throwaway) namespace, on a veth pair made for it."""
    with IPRoute() as ipr:
        ipr.link("add", ifname=PROBE_IFNAME, kind="veth", peer={"ifname": PROBE_IFNAME + "p"})
        index = _index(ipr, PROBE_IFNAME)
        ipr.link("set", index=index, state="up")

        def netem():
            add_netem(ipr, index, {"delay": 1000})
            clear_qdisc(ipr, index)

        def tbf():
            add_tbf(ipr, index, 1000)
            clear_qdisc(ipr, index)

        def nft(loss=None, duplicate=None):
            def attempt():
                socket = _nft_socket()
                try:
                    nft_add_rules(socket, PROBE_IFNAME, index, loss, duplicate)
                    _nft_clear(socket, PROBE_IFNAME)
                finally:
                    socket.close()
            return attempt

        return {"netem": _try("netem", netem), "tbf": _try("tbf", tbf),
                "nft_drop": _try("nftables ingress drop", nft(loss=50)),
                "nft_dup": _try("nftables egress dup", nft(duplicate=50))}


def probe_features() -> dict[str, bool]:
    """Probe the kernel now: ``{"netem", "tbf", "nft_drop", "nft_dup"}`` -> whether it works (all False if the probe
    itself cannot run). In a new thread that enters a new, empty network namespace (``unshare(2)`` is per
    thread): no lab is touched, the thread never goes back to a pool, and the namespace dies with its sockets."""
    global _features
    found: dict = {}

    def run():
        if _libc.unshare(CLONE_NEWNET) != 0:
            found["error"] = f"unshare: {os.strerror(ctypes.get_errno())}"
            return
        try:
            found.update(_probe_here())
        except Exception as exc:  # noqa: BLE001 - reported below: nothing offered
            found["error"] = str(exc)

    thread = threading.Thread(target=run, name="topolab-kernel-probe", daemon=True)
    thread.start()
    thread.join()
    if "error" in found:
        log.warning("kernel probe failed: %s", found.pop("error"))
    result = {key: bool(found.get(key)) for key in ("netem", "tbf", "nft_drop", "nft_dup")}
    with _features_lock:
        _features = result
    return result


def features() -> dict[str, bool]:
    """The kernel's features as this process last probed them (probing now if it never did)."""
    with _features_lock:
        known = _features
    return known if known is not None else probe_features()


def add_addresses(pid: int, ifname: str, addresses) -> None:
    """Give an interface these addresses again (those it still has are fine): a link set down loses its IPv6
    ones."""
    with socket_in(pid) as ipr:
        index = _index(ipr, ifname)
        for text in addresses:
            iface = ipaddress.ip_interface(text)
            flags = IFA_F_NODAD if iface.version == 6 else 0
            try:
                ipr.addr("add", index=index, address=str(iface.ip), prefixlen=iface.network.prefixlen, flags=flags)
            except NetlinkError as exc:
                if exc.code != 17:  # EEXIST: it kept it
                    raise NetlinkStepError(f"cannot address {ifname} with {text}: {_reason(exc)}") from None


def set_state(pid: int, ifname: str, up: bool) -> None:
    """Set one interface administratively up or down (down, the kernel drops the routes through it: see
    :func:`add_addresses` and ``add_route(exist_ok=True)`` to give them back)."""
    with socket_in(pid) as ipr:
        try:
            ipr.link("set", index=_index(ipr, ifname), state="up" if up else "down")
        except NetlinkError as exc:
            raise NetlinkStepError(f"cannot set {ifname} {'up' if up else 'down'}: {_reason(exc)}") from None


def unplug(pid: int, alias: str) -> list[str]:
    """Delete every interface of ``pid``'s namespace carrying ``alias`` (the lab's: the engine's veth ends and
    bridges), whatever the document calls them now; a veth's other end goes with it, at once. Returns their
    names."""
    deleted = []
    with socket_in(pid) as ipr:
        for link in ipr.get_links():
            if link.get("IFLA_IFALIAS") != alias:
                continue
            try:
                ipr.link("del", index=link["index"])
            except NetlinkError as exc:
                if exc.code != 19:  # ENODEV: gone meanwhile (its other end was deleted first)
                    raise NetlinkStepError(f"cannot delete {link.get('IFLA_IFNAME')}: {_reason(exc)}") from None
            deleted.append(link.get("IFLA_IFNAME"))
    return deleted


def delete_interface(pid: int, name: str) -> None:
    """Delete one interface of ``pid``'s namespace (a veth's other end goes with it); one not there is fine."""
    with socket_in(pid) as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            return
        try:
            ipr.link("del", index=found[0])
        except NetlinkError as exc:
            if exc.code != 19:  # ENODEV: gone meanwhile
                raise NetlinkStepError(f"cannot delete {name}: {_reason(exc)}") from None


def reconfigure_interface(pid: int, ifname: str, *, addresses=(), remove=(), mac=None, mtu=None, up=None) -> None:
    """Change an interface in place: ``remove`` goes, then ``addresses`` are given (those it has are fine), then
    MAC, MTU and state when given. Old before new: removing an IPv4 address takes the later ones of its subnet
    with it (the kernel's secondaries), so a new address of the same subnet must come after."""
    with socket_in(pid) as ipr:
        index = _index(ipr, ifname)
        try:
            for text in remove:
                iface = ipaddress.ip_interface(text)
                try:
                    ipr.addr("del", index=index, address=str(iface.ip), prefixlen=iface.network.prefixlen)
                except NetlinkError as exc:
                    if exc.code not in (99, 19):  # EADDRNOTAVAIL: it was not there
                        raise
        except NetlinkError as exc:
            raise NetlinkStepError(f"cannot reconfigure {ifname}: {_reason(exc)}") from None
    add_addresses(pid, ifname, addresses)
    with socket_in(pid) as ipr:
        index = _index(ipr, ifname)
        try:
            _set_link(ipr, index, mac, mtu)
            if up is not None:
                ipr.link("set", index=index, state="up" if up else "down")
        except NetlinkError as exc:
            raise NetlinkStepError(f"cannot reconfigure {ifname}: {_reason(exc)}") from None


def delete_route(pid: int, to: str, via: str | None = None, dev: str | None = None) -> None:
    """Delete a static route in the namespace of ``pid``; one already gone (with its interface) is fine."""
    with socket_in(pid) as ipr:
        spec = _route_spec(to, via)
        if dev:
            found = ipr.link_lookup(ifname=dev)
            if not found:
                return
            spec["oif"] = found[0]
        try:
            ipr.route("del", **spec)
        except NetlinkError as exc:
            if exc.code not in (3, 19):  # ESRCH / ENODEV: not there
                target = f"via {via}" if via else f"dev {dev}"
                raise NetlinkStepError(f"cannot delete route {to} {target}: {_reason(exc)}") from None


def interfaces_of(pid: int) -> list[dict]:
    """The interfaces of ``pid``'s namespace (but lo): name, MAC, MTU, state, addresses."""
    with socket_in(pid) as ipr:
        addrs: dict[int, list[str]] = {}
        for msg in ipr.get_addr():
            if msg["scope"] == 253:  # link-local: the kernel's own, not the user's
                continue
            addrs.setdefault(msg["index"], []).append(f"{msg.get('IFA_ADDRESS')}/{msg['prefixlen']}")
        result = []
        for link in ipr.get_links():
            name = link.get("IFLA_IFNAME")
            if name == "lo":
                continue
            result.append({
                "name": name,
                "mac": link.get("IFLA_ADDRESS"),
                "mtu": link.get("IFLA_MTU"),
                "state": "up" if link["flags"] & 1 else "down",
                "addresses": addrs.get(link["index"], []),
            })
        return result


def host_interfaces_with_alias(prefix: str) -> list[tuple[str, str]]:
    """``(name, alias)`` of host-namespace interfaces whose alias starts with ``prefix``."""
    with IPRoute() as ipr:
        return [
            (link.get("IFLA_IFNAME"), link.get("IFLA_IFALIAS"))
            for link in ipr.get_links()
            if (link.get("IFLA_IFALIAS") or "").startswith(prefix)
        ]


def delete_host_interface(name: str) -> bool:
    """Delete a host-namespace interface by name; False if it was already gone."""
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            return False
        try:
            ipr.link("del", index=found[0])
        except NetlinkError as exc:
            if exc.code == 19:  # ENODEV: gone meanwhile (its peer's namespace died)
                return False
            raise
        return True
