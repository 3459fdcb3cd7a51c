"""The typed shape of a ``topolab/v1`` document (described field by field in ``docs/topolab-v1.md``).

These pydantic models check types, patterns and ranges of single fields; rules
that look across the document (unique names, dangling endpoints, duplicate
addresses...) live in :mod:`topology.schema.checks`. Every model forbids unknown
keys, so a typo such as ``"nodse"`` is an error instead of being dropped.
"""
from __future__ import annotations

import ipaddress
import math
import re
import socket
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Annotated, Iterator, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from .. import kinds

FORMAT = "topolab/v1"
KINDS = kinds.NAMES
DEFAULT_IMAGES = kinds.default_images()

DOCUMENT_NAME_RE = r"^[a-z0-9][a-z0-9-]{0,39}$"
NODE_NAME_RE = r"^[a-z][a-z0-9-]{0,30}$"
INTERFACE_RE = r"^[a-zA-Z][a-zA-Z0-9_.-]{0,14}$"
MAC_RE = r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$"
ENV_KEY_RE = r"^[A-Za-z_][A-Za-z0-9_]*$"
SYSCTL_RE = r"^net\.(ipv4|ipv6|core)\.[A-Za-z0-9_.-]+$"
MODE_RE = r"^0?[0-7]{3,4}$"
# A Docker image reference: repository path, optional tag, optional digest.
# Components are separated as Docker's grammar allows: '.', '_', '__' or a run of '-'.
IMAGE_RE = (
    r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(:[0-9]+)?"          # a host or first component, an optional port
    r"(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*"                 # the rest of the repository path
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$"  # a tag, a digest
)

MAX_FILE_BYTES = 256 * 1024
MAX_PATH_CHARS = 4096
# Annotations are free-form, but a document must dump back (export) without
# hitting the serializer's depth limit; an editor's view state is shallow.
MAX_ANNOTATION_DEPTH = 64
MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
# Caps on the lists the cross-document checks walk, far above any real lab (an interface has a few
# addresses, a node a few dozen routes), so that the work a document costs stays bounded. They are
# the format's, not a server's: a document valid on one server has the same shape everywhere.
MAX_ADDRESSES_PER_INTERFACE = 64
MAX_ROUTES_PER_NODE = 1024
# An integer written with more digits cannot be read back: Python refuses to convert it (to and
# from text) past its default limit, 4300 digits.
MAX_INTEGER_DIGITS = 4300

Number = StrictInt | StrictFloat
Text = Annotated[StrictStr, Field(max_length=65536)]


class Strict(BaseModel):
    """Base of every model here: unknown keys are errors, values are not coerced."""

    # NaN and infinities are not JSON numbers: a document holding one could not be exported.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


_PREFIX_LENGTH_RE = re.compile(r"/(0|[1-9][0-9]{0,2})\Z")


def _example_prefix(text: str) -> str:
    """A typical prefix length for the family ``text`` looks like."""
    return "64" if ":" in text else "24"


def parse_interface_address(text: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    """Parse ``192.168.10.2/24`` or ``2001:db8::1/64``, enforcing the spec's rules.

    Raises ValueError with a message fit for a user.
    """
    if "/" not in text:
        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise ValueError(f"'{text}' is not an IPv4 or IPv6 address with a prefix length") from None
        raise ValueError(f"'{text}' needs a prefix length, for example '{text}/{_example_prefix(text)}'")
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError:
        raise ValueError(f"'{text}' is not an IPv4 or IPv6 address with a prefix length") from None
    if not _PREFIX_LENGTH_RE.search(text):
        # ipaddress also takes netmasks (/255.255.255.0) and leading zeros (/024); the format is CIDR.
        raise ValueError(f"'{text}' must give a prefix length, as in '{iface.with_prefixlen}'")
    if iface.version == 4 and iface.network.prefixlen <= 30:
        if iface.ip == iface.network.network_address:
            raise ValueError(f"'{text}' is the network address of {iface.network}; use a host address")
        if iface.ip == iface.network.broadcast_address:
            raise ValueError(f"'{text}' is the broadcast address of {iface.network}; use a host address")
    return iface


# The usual spellings are read by the C library's inet_pton, without building ipaddress objects
# (which cost ~10 us an address): a dotted quad (four decimal octets, no leading zeros: as strict
# as ipaddress), hex groups with at most one '::', a prefix length without leading zeros. Anything
# else goes to ipaddress, which has the last word and the user's messages.
_PREFIXES = {4: {str(n): n for n in range(33)}, 6: {str(n): n for n in range(129)}}
_HEX_TEXT = re.compile(r"[0-9A-Fa-f:]{2,39}")


def _v4_int(text: str) -> int | None:
    """The value of a dotted quad, or None for any other text."""
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except (OSError, ValueError):  # not a dotted quad (ValueError: a NUL in it)
        return None


def _v6_int(text: str) -> int | None:
    """The value of an IPv6 address written as hex groups, or None for any other text. Hex groups only:
    inet_pton and ipaddress read those alike (a differential test in tests/unit/test_fuzz.py holds them to it);
    an embedded IPv4 address or a scope goes to ipaddress."""
    if not _HEX_TEXT.fullmatch(text):
        return None
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
    except OSError:
        return None


def _fast_key(text: str, default_prefix: bool) -> tuple[int, int, int] | None:
    """``(version, value, prefix length)`` of ``address/prefix`` (or of a bare address when
    ``default_prefix``: the whole length) in a usual spelling; None for anything else."""
    address, slash, prefix = text.partition("/")
    for version, read in ((4, _v4_int), (6, _v6_int)):
        value = read(address)
        if value is None:
            continue
        if slash:
            length = _PREFIXES[version].get(prefix)
        else:
            length = (32 if version == 4 else 128) if default_prefix else None
        return None if length is None else (version, value, length)
    return None


def address_key(text: str) -> tuple[int, int]:
    """``(IP version, the address as an integer)`` of an address (``192.168.10.1``, ``2001:db8::1``).

    Raises ValueError when ``text`` is not one.
    """
    for version, read in ((4, _v4_int), (6, _v6_int)):
        value = read(text)
        if value is not None:
            return version, value
    ip = ipaddress.ip_address(text)
    return ip.version, int(ip)


def network_key(text: str) -> tuple[int, int, int] | None:
    """``(IP version, first address as an integer, prefix length)`` of a network written in a usual
    spelling (``10.0.0.0/8``, ``2001:db8::/32``, a bare address for one host) with no host bits set;
    None for anything else (which ipaddress then reads, or refuses with the user's message)."""
    key = _fast_key(text, default_prefix=True)
    if key is None:
        return None
    version, value, prefix = key
    return key if not value & ((1 << ((32 if version == 4 else 128) - prefix)) - 1) else None


# The interface addresses read so far in one validation (see :func:`remembered_addresses`): the
# cross-document checks read every address again.
_remembered: ContextVar[dict[str, tuple[int, int, int]] | None] = ContextVar("topolab_addresses", default=None)


@contextmanager
def remembered_addresses() -> Iterator[None]:
    """Within it (one validation, in this thread or task), :func:`interface_key` reads an address once."""
    token = _remembered.set({})
    try:
        yield
    finally:
        _remembered.reset(token)


def interface_key(text: str) -> tuple[int, int, int]:
    """``(IP version, the address as an integer, prefix length)`` of an interface address, as
    :func:`parse_interface_address` reads it (and with its errors), in a fraction of its time."""
    remembered = _remembered.get()
    if remembered is None:
        return _interface_key(text)
    key = remembered.get(text)
    if key is None:
        key = remembered[text] = _interface_key(text)
    return key


def _interface_key(text: str) -> tuple[int, int, int]:
    key = _fast_key(text, default_prefix=False)
    if key is not None:
        version, value, prefix = key
        if version == 6 or prefix > 30:
            return key
        host_mask = (1 << (32 - prefix)) - 1
        if value & host_mask not in (0, host_mask):  # not the network or broadcast address
            return key
    iface = parse_interface_address(text)  # the one that says what is wrong
    return iface.version, int(iface.ip), iface.network.prefixlen


def _check_address(text: str) -> str:
    interface_key(text)
    return text


Address = Annotated[StrictStr, AfterValidator(_check_address)]


def _check_mapping(value: dict[str, str], bad_key, key_message: str, bad_value, value_message: str) -> dict[str, str]:
    """``value`` if no key is ``bad_key`` and no value ``bad_value``; else every problem in one ValueError,
    not just the first (the messages are formatted with the ``key``)."""
    problems = []
    for key, val in value.items():
        if bad_key(key):
            problems.append(key_message.format(key=key))
        elif bad_value(val):
            problems.append(value_message.format(key=key))
    if problems:
        raise ValueError("; ".join(problems))
    return value


class Position(Strict):
    """Where the editor draws a node."""

    x: Number
    y: Number


class Route(Strict):
    """A static route: ``{"to": "default" | CIDR, "via": IP}`` or ``{"to": CIDR, "dev": interface}``."""

    to: StrictStr
    via: StrictStr | None = None
    dev: Annotated[StrictStr, Field(pattern=INTERFACE_RE)] | None = None

    @field_validator("to")
    @classmethod
    def _to(cls, value: str) -> str:
        if value == "default" or network_key(value) is not None:
            return value
        try:
            ipaddress.ip_network(value)
        except ValueError:
            try:
                loose = ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise ValueError(f"must be 'default' or a network such as 10.0.0.0/8, not '{value}'") from None
            raise ValueError(f"'{value}' has host bits set; did you mean '{loose}'?") from None
        if "/" in value and not _PREFIX_LENGTH_RE.search(value):
            raise ValueError(f"'{value}' must give a prefix length, as in '{ipaddress.ip_network(value)}'")
        return value

    @field_validator("via")
    @classmethod
    def _via(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                address_key(value)
            except ValueError:
                raise ValueError(f"must be an IP address, not '{value}'") from None
        return value

    @model_validator(mode="after")
    def _check(self) -> "Route":
        if (self.via is None) == (self.dev is None):
            raise ValueError("a route takes exactly one of 'via' (a gateway) or 'dev' (an interface)")
        if self.to == "default":
            if self.via is None:
                raise ValueError("'default' takes its family from 'via'; with 'dev' write 0.0.0.0/0 or ::/0")
            return self
        # Both are valid here, and only an IPv6 address or network is written with a ':'.
        if self.via is not None and (":" in self.via) != (":" in self.to):
            raise ValueError(f"'to' {self.to} and 'via' {self.via} are of different IP families")
        return self

    def network(self, fallback_version: int = 4) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        """The destination as a network object (``default`` by the family of ``via``)."""
        if self.to == "default":
            version = ipaddress.ip_address(self.via).version if self.via else fallback_version
            return ipaddress.ip_network("0.0.0.0/0" if version == 4 else "::/0")
        return ipaddress.ip_network(self.to, strict=False)


class File(Strict):
    """A text file put into the container before it starts."""

    path: StrictStr
    content: StrictStr = ""
    mode: Annotated[StrictStr, Field(pattern=MODE_RE)] = "0644"

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        _no_nul(value)
        if not value.startswith("/"):
            raise ValueError("must be an absolute path (starting with '/')")
        if ".." in value.split("/"):
            raise ValueError("must not contain '..'")
        if len(value) > MAX_PATH_CHARS:
            raise ValueError(f"is {len(value)} characters long; a path may hold at most {MAX_PATH_CHARS}")
        if value.endswith("/") or value.split("/")[-1] == ".":
            raise ValueError("must name a file, not a directory")
        return value

    @field_validator("content")
    @classmethod
    def _content(cls, value: str) -> str:
        size = len(value.encode("utf-8"))
        if size > MAX_FILE_BYTES:
            raise ValueError(f"is {size} bytes; a file may hold at most {MAX_FILE_BYTES} bytes (256 KiB)")
        return value


class Resources(Strict):
    """CPU, memory and process limits of a node (capped by the server's limits)."""

    cpus: Annotated[Number, Field(gt=0)] | None = None
    memory_mb: Annotated[StrictInt, Field(ge=6)] | None = None
    pids: Annotated[StrictInt, Field(ge=8)] | None = None


class Node(Strict):
    """One container of the lab."""

    name: Annotated[StrictStr, Field(pattern=NODE_NAME_RE)]
    kind: Literal[kinds.NAMES] = kinds.DEFAULT  # type: ignore[valid-type] - the registry's names
    image: Annotated[StrictStr, Field(max_length=255, pattern=IMAGE_RE)] | None = None
    position: Position | None = None
    routes: Annotated[list[Route], Field(max_length=MAX_ROUTES_PER_NODE)] = []
    sysctls: dict[StrictStr, Annotated[StrictStr, Field(max_length=256)]] = {}
    env: dict[StrictStr, Text] = {}
    files: list[File] = []
    exec: list[Annotated[StrictStr, Field(min_length=1, max_length=65536)]] = []
    resources: Resources | None = None

    @field_validator("sysctls")
    @classmethod
    def _sysctls(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_mapping(
            value,
            lambda key: not re.fullmatch(SYSCTL_RE, key) or ".." in key or key.endswith("."),
            "'{key}' is not allowed: only keys under net.ipv4., net.ipv6. and net.core.",
            lambda val: any(c in val for c in "\n\r\x00"),
            "the value of '{key}' must be a single line",
        )

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_mapping(
            value,
            lambda key: not re.fullmatch(ENV_KEY_RE, key), "'{key}' is not a valid environment variable name",
            lambda val: "\x00" in val, "the value of '{key}' must not contain a NUL character",
        )

    @field_validator("exec")
    @classmethod
    def _exec(cls, value: list[str]) -> list[str]:
        for command in value:
            _no_nul(command)
        return value

    @property
    def effective_image(self) -> str:
        """The image this node runs: its own, or its kind's default."""
        return self.image or DEFAULT_IMAGES[self.kind]


class Endpoint(Strict):
    """One end of a link: a node's interface, its addresses and MAC."""

    node: StrictStr
    interface: Annotated[StrictStr, Field(pattern=INTERFACE_RE)]
    addresses: Annotated[list[Address], Field(max_length=MAX_ADDRESSES_PER_INTERFACE)] = []
    mac: Annotated[StrictStr, Field(pattern=MAC_RE)] | None = None

    @field_validator("interface")
    @classmethod
    def _interface(cls, value: str) -> str:
        if value == "lo":
            raise ValueError("'lo' is the loopback interface; choose another name")
        return value

    @field_validator("mac")
    @classmethod
    def _mac(cls, value: str | None) -> str | None:
        if value is not None:
            first = int(value[:2], 16)
            if first & 1:
                raise ValueError(f"'{value}' is a multicast address; the first byte must be even")
            if value.replace(":", "") == "0" * 12:
                raise ValueError("'00:00:00:00:00:00' is not a usable address")
        return value

    def interface_addresses(self) -> list[ipaddress.IPv4Interface | ipaddress.IPv6Interface]:
        """The addresses as ``ipaddress`` interface objects."""
        return [ipaddress.ip_interface(a) for a in self.addresses]

    def address_keys(self) -> list[tuple[int, int, int]]:
        """The addresses as ``(IP version, address as an integer, prefix length)``: cheap to compare."""
        return [interface_key(a) for a in self.addresses]


class Impairment(Strict):
    """Traffic shaping applied to both ends of a link."""

    delay_ms: Annotated[Number, Field(ge=0, le=60000)] | None = None
    jitter_ms: Annotated[Number, Field(ge=0, le=60000)] | None = None
    loss_percent: Annotated[Number, Field(ge=0, le=100)] | None = None
    duplicate_percent: Annotated[Number, Field(ge=0, le=100)] | None = None
    corrupt_percent: Annotated[Number, Field(ge=0, le=100)] | None = None
    rate_kbit: Annotated[StrictInt, Field(gt=0, le=100_000_000)] | None = None

    @model_validator(mode="after")
    def _check(self) -> "Impairment":
        if self.jitter_ms and not self.delay_ms:
            raise ValueError("'jitter_ms' needs a 'delay_ms' to vary around")
        return self

    @property
    def needs_netem(self) -> bool:
        """Delay, jitter, loss, duplication and corruption are netem's; a rate alone is not (on a kernel
        without netem, loss has a fallback: see :mod:`topology.engine.impair`)."""
        return bool(self.delay_ms or self.jitter_ms or self.loss_percent or self.duplicate_percent
                    or self.corrupt_percent)


class Link(Strict):
    """A veth pair between two endpoints."""

    endpoints: Annotated[list[Endpoint], Field(min_length=2, max_length=2)]
    impairment: Impairment | None = None
    state: Literal["up", "down"] = "up"
    mtu: Annotated[StrictInt, Field(ge=68, le=65535)] | None = None


class Document(Strict):
    """The whole ``topolab/v1`` document."""

    format: Literal["topolab/v1"]
    name: Annotated[StrictStr, Field(pattern=DOCUMENT_NAME_RE)]
    description: Annotated[StrictStr, Field(max_length=4000)] | None = None
    nodes: list[Node]
    links: list[Link] = []
    annotations: dict | None = None

    @field_validator("annotations")
    @classmethod
    def _annotations(cls, value: dict | None) -> dict | None:
        stack = [(value, 1)] if value is not None else []
        while stack:  # no recursion: the depth is the thing being checked
            item, depth = stack.pop()
            if depth > MAX_ANNOTATION_DEPTH:
                raise ValueError(f"are nested more than {MAX_ANNOTATION_DEPTH} levels deep")
            children = item.values() if isinstance(item, dict) else item
            for child in children:
                if isinstance(child, float) and not math.isfinite(child):
                    raise ValueError(f"hold {child}, which is not a JSON number")
                if isinstance(child, (dict, list)):
                    stack.append((child, depth + 1))
        return value

    def node(self, name: str) -> Node:
        """The node called ``name`` (KeyError if there is none)."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)
