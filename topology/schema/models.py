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
from typing import Annotated, Literal

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


def _check_address(text: str) -> str:
    parse_interface_address(text)
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
        if value == "default":
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
                ipaddress.ip_address(value)
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
        if self.via is not None and ipaddress.ip_address(self.via).version != ipaddress.ip_network(self.to).version:
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
    routes: list[Route] = []
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
    addresses: list[Address] = []
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


class Impairment(Strict):
    """Traffic shaping applied to both ends of a link."""

    delay_ms: Annotated[Number, Field(ge=0, le=60000)] | None = None
    jitter_ms: Annotated[Number, Field(ge=0, le=60000)] | None = None
    loss_percent: Annotated[Number, Field(ge=0, le=100)] | None = None
    rate_kbit: Annotated[StrictInt, Field(gt=0, le=100_000_000)] | None = None

    @model_validator(mode="after")
    def _check(self) -> "Impairment":
        if self.jitter_ms and not self.delay_ms:
            raise ValueError("'jitter_ms' needs a 'delay_ms' to vary around")
        return self

    @property
    def needs_netem(self) -> bool:
        """Delay, jitter and loss need the kernel's netem; a rate alone does not."""
        return bool(self.delay_ms or self.jitter_ms or self.loss_percent)


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
