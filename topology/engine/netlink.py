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
import os
from contextlib import contextmanager
from typing import Iterator

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

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


def configure_interface(pid: int, ifname: str, *, addresses=(), mac=None, mtu=None, up=True, master=None) -> None:
    """Set MAC, MTU, bridge port, addresses and state of one interface."""
    with socket_in(pid) as ipr:
        index = _index(ipr, ifname)
        try:
            attrs: dict = {}
            if mac:
                attrs["address"] = mac.lower()
            if mtu:
                attrs["mtu"] = mtu
            if master:
                attrs["master"] = _index(ipr, master)
            if attrs:
                ipr.link("set", index=index, **attrs)
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


def add_route(pid: int, to: str, via: str | None = None, dev: str | None = None) -> None:
    """A static route in the namespace of ``pid``."""
    network = ipaddress.ip_network(to)
    with socket_in(pid) as ipr:
        spec: dict = {"dst": str(network.network_address), "dst_len": network.prefixlen}
        if network.version == 6:
            spec["family"] = 10
        if via:
            spec["gateway"] = via
        if dev:
            spec["oif"] = _index(ipr, dev)
        try:
            ipr.route("add", **spec)
        except NetlinkError as exc:
            target = f"via {via}" if via else f"dev {dev}"
            raise NetlinkStepError(f"cannot add route {to} {target}: {_reason(exc)}") from None


def impair(pid: int, ifname: str, impairment) -> None:
    """Shape a link end by its ``impairment`` (the schema's value object): netem for delay, jitter and
    loss; a token bucket (tbf) for the rate."""
    delay_ms, jitter_ms, loss_percent = impairment.delay_ms, impairment.jitter_ms, impairment.loss_percent
    rate_kbit = impairment.rate_kbit
    with socket_in(pid) as ipr:
        index = _index(ipr, ifname)
        parent = None
        try:
            if impairment.needs_netem:
                ipr.tc("add", kind="netem", index=index, handle=0x10000,
                       delay=int((delay_ms or 0) * 1000), jitter=int((jitter_ms or 0) * 1000),
                       loss=float(loss_percent or 0))
                parent = 0x10001
            if rate_kbit:
                rate_bytes = rate_kbit * 1000 // 8
                # A burst of 10 ms of traffic (at least a few full frames) keeps
                # the bucket from starving at low rates.
                burst = max(rate_bytes // 100, 4 * 1514)
                extra = {"parent": parent} if parent else {}
                ipr.tc("add", kind="tbf", index=index, handle=0x20000, rate=f"{rate_kbit}kbit",
                       burst=burst, latency="50ms", **extra)
        except NetlinkError as exc:
            if exc.code == 2 and parent is None and impairment.needs_netem:
                raise NetlinkStepError(
                    f"cannot impair {ifname}: this host's kernel has no netem (sch_netem), "
                    "so delay, jitter and loss are not available; a rate alone works"
                ) from None
            raise NetlinkStepError(f"cannot impair {ifname}: {_reason(exc)}") from None


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
