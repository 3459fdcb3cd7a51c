"""containerlab topologies (``*.clab.yml``) in and out.

Import reads ``name``, ``topology.nodes``/``kinds``/``groups``/``defaults`` (merged as containerlab does: a
node's own value over its group's, over its kind's, over the defaults), ``links`` in the short form
(``endpoints: ["a:eth1", "b:eth1"]``) and the extended one (``type: veth``), and of each node ``kind``,
``image``, ``exec``, ``env``, ``binds`` of the lab's files, ``startup-config``, ``labels``, ``cpu``,
``memory`` and ``sysctls``. Kind ``linux`` is a router when something turns forwarding on (its sysctls or
an ``exec`` line), else a host; an image of FRR makes it an ``frr`` node; ``bridge``/``ovs-bridge`` are
switches. Nodes that are not containers of the lab (``ext-container``, ``host``) and links out of it
(``host``, ``mgmt-net``, ``macvlan``, ``vxlan``) are refused, saying why. Management settings are ignored
with a warning: Topolab nodes have no management network.

Export writes each node as kind ``linux`` with ``network-mode: none`` (no management interface, so that
``eth0`` is a lab interface as it is here) on its Topolab image, its sysctls (a router's forwarding too) as
``sysctls``, what containerlab cannot say (addresses, routes, a switch's bridge, a link's state and shaping) as
``exec`` lines, files as ``binds`` of files beside the topology (:func:`to_clab_files`), a node's position as
the ``graph-posX``/``graph-posY`` labels, its ``pids`` as the ``topolab.pids`` label and the description as the
file's leading comment.
"""
from __future__ import annotations

import posixpath
from typing import Any

import yaml

from .. import kinds as kind_registry
from . import images, shell
from .archive import Entry
from .common import document_name, memory_mb, text_file
from .draft import FORWARDING, Draft, Where
from .errors import InteropError, Issue
from .yamlsrc import Source, dotted, load

TOP_KEYS = {"name", "topology", "mgmt", "prefix", "settings", "debug"}
TOPOLOGY_KEYS = {"nodes", "kinds", "groups", "defaults", "links"}
HANDLED = {"kind", "image", "group", "exec", "env", "binds", "startup-config", "labels", "cpu", "memory", "sysctls",
           "network-mode", "type"}
MANAGEMENT = {"mgmt-ipv4", "mgmt-ipv6", "ports", "dns", "network-mode", "aliases"}
# containerlab's node keys (its JSON schema's node-config) that mean nothing for a Topolab node.
IGNORED = {"image-pull-policy", "restart-policy", "license", "startup-delay", "enforce-startup-config",
           "suppress-startup-config", "auto-remove", "volumes", "credentials", "env-files", "user", "hostname",
           "entrypoint", "cmd", "runtime", "link-apply-mode", "cpu-set", "extras", "config", "stages", "certificate",
           "healthcheck", "components", "shm-size", "cap-add", "privileged", "cgroupns-mode", "cgroup-parent",
           "pid-mode", "tmpfs", "security-opts", "devices", "wait-for"}
SWITCH_KINDS = {"bridge", "ovs-bridge"}
REFUSED_KINDS = {
    "ext-container": "an ext-container is a container containerlab does not run; a Topolab lab holds only its own nodes",
    "host": "the 'host' node is the machine containerlab runs on; a Topolab lab never reaches its host",
}
REFUSED_ENDS = {
    "host": "a link to the host's own network; a Topolab lab never reaches its host",
    "mgmt-net": "a link to the management network; Topolab nodes have none",
    "macvlan": "a macvlan link onto a host interface; a Topolab lab never reaches the host's network",
}
LINK_TYPES = {"veth"}
FRR_CONF = "/etc/frr/frr.conf"
POS_X, POS_Y, PIDS_LABEL = "graph-posX", "graph-posY", "topolab.pids"


def is_clab(name: str, text: str | None = None) -> bool:
    """Whether a file looks like a containerlab topology (by name, or by a top-level ``topology:`` key)."""
    lower = name.lower()
    if lower.endswith((".clab.yml", ".clab.yaml")):
        return True
    return bool(text) and lower.endswith((".yml", ".yaml")) and any(
        line.startswith("topology:") for line in text.splitlines())


def _leading_comment(text: str) -> str | None:
    lines = []
    for line in text.splitlines():
        if line.startswith("#"):
            lines.append(line[1:].strip())
        elif line.strip():
            break
    return "\n".join(lines).strip() or None


class _Reader:
    """One import: the topology file's values, the lab's files, and the draft being built."""

    def __init__(self, source: Source, files: dict[str, Entry], image_map: dict | None):
        self.src, self.files, self.image_map = source, files, image_map or {}
        self.folder = posixpath.dirname(source.file)
        self.problems: list[Issue] = []
        self.warnings: list[Issue] = []

    def at(self, *path) -> Where:
        return Where(self.src.file, self.src.line(path), dotted(path))

    def problem(self, path: tuple, message: str) -> None:
        self.problems.append(self.at(*path).issue(message))

    def warn(self, path: tuple, message: str) -> None:
        self.warnings.append(self.at(*path).issue(message))

    def mapping(self, value, path: tuple) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(path, "must be a mapping")
            return {}
        return value


def from_clab(text: str, files: dict[str, Entry] | None = None, *, file: str = "topology.clab.yml",
              image_map: dict | None = None) -> tuple[dict, list[Issue]]:
    """The topolab/v1 document of a containerlab topology and the warnings; :class:`InteropError` otherwise.

    ``files`` are the lab's files (relative paths, the topology file among them or not) that ``binds`` and
    ``startup-config`` name; ``file`` is the topology's own path among them.
    """
    document, warnings, _ = read(text, files, file=file, image_map=image_map)
    return document, warnings


def read(text: str, files: dict[str, Entry] | None, *, file: str, image_map: dict | None):
    """:func:`from_clab`, plus where each of the document's nodes and links came from."""
    reader = _Reader(load(text, file), files or {}, image_map)
    top = reader.src.value
    if not isinstance(top, dict):
        raise InteropError([Issue(file, 1, "a containerlab topology is a mapping with 'name' and 'topology'")])
    for key in top:
        if key in ("mgmt", "prefix", "settings", "debug"):
            reader.warn((key,), f"'{key}' is ignored: Topolab nodes have no management network or lab prefix")
        elif key not in TOP_KEYS:
            reader.warn((key,), f"unknown key '{key}' (ignored)")
    raw_name = top.get("name")
    name = document_name(raw_name, document_name(posixpath.basename(file).split(".")[0]))
    if raw_name is None:
        reader.warn((), f"no 'name'; the lab is called '{name}'")
    elif str(raw_name) != name:
        reader.warn(("name",), f"the lab '{raw_name}' is called '{name}' here")
    draft = Draft(name, _leading_comment(text))
    topology = reader.mapping(top.get("topology"), ("topology",))
    if "topology" not in top:
        reader.problem((), "no 'topology' (its 'nodes' and 'links')")
    for key in topology:
        if key not in TOPOLOGY_KEYS:
            reader.warn(("topology", key), f"unknown key '{key}' (ignored)")
    _nodes(reader, draft, topology)
    _links(reader, draft, topology)
    if reader.problems:  # a group's or the defaults' problem is found once per node that uses them: once here
        raise InteropError(list(dict.fromkeys(reader.problems + draft.problems)), reader.warnings + draft.warnings)
    document, origins = draft.finish()
    warnings = reader.warnings + draft.warnings
    if draft.problems:
        raise InteropError(draft.problems, warnings)
    return document, warnings, origins


SHAPES = {"kind": (str, "a kind's name"), "image": (str, "an image reference"), "group": (str, "a group's name"),
          "exec": (list, "a list of commands"), "env": (dict, "a mapping of names to values"),
          "binds": (list, "a list of 'host-path:container-path'"), "startup-config": (str, "a file's path"),
          "labels": (dict, "a mapping"), "cpu": ((int, float), "a number"), "memory": ((str, int), "a size"),
          "sysctls": (dict, "a mapping of sysctls to values"), "network-mode": (str, "a string")}


def _typed(reader: _Reader, layer, path: tuple) -> dict:
    """A layer of settings (a node, group, kind or the defaults) less the values of the wrong shape (each a
    problem)."""
    out = {}
    for key, value in reader.mapping(layer, path).items():
        shape = SHAPES.get(key)
        if shape and value is not None and (not isinstance(value, shape[0]) or isinstance(value, bool)):
            reader.problem(path + (key,), f"'{key}' must be {shape[1]}")
            continue
        out[key] = value
    return out


def _merged(reader: _Reader, topology: dict, name: str, node: dict) -> dict[str, tuple[Any, tuple]]:
    """The node's settings, each with the YAML path it came from: node > group > kind > defaults."""
    defaults = _typed(reader, topology.get("defaults"), ("topology", "defaults"))
    groups = reader.mapping(topology.get("groups"), ("topology", "groups"))
    kinds = reader.mapping(topology.get("kinds"), ("topology", "kinds"))
    node = _typed(reader, node, ("topology", "nodes", name))
    group_name = node.get("group")
    group = {}
    if group_name is not None:
        if group_name not in groups:
            reader.problem(("topology", "nodes", name, "group"), f"no group named '{group_name}'")
        group = _typed(reader, groups.get(group_name), ("topology", "groups", group_name))
    kind = node.get("kind") or group.get("kind") or defaults.get("kind")
    layers = [(defaults, ("topology", "defaults"))]
    if kind is not None and kind in kinds:
        layers.append((_typed(reader, kinds[kind], ("topology", "kinds", kind)), ("topology", "kinds", kind)))
    layers += [(group, ("topology", "groups", group_name)), (node, ("topology", "nodes", name))]
    merged: dict[str, tuple[Any, tuple]] = {}
    for layer, path in layers:
        for key, value in layer.items():
            if key in ("env", "labels", "sysctls") and isinstance(value, dict) and key in merged \
                    and isinstance(merged[key][0], dict):
                merged[key] = ({**merged[key][0], **value}, path + (key,))
            elif key == "binds" and isinstance(value, list) and key in merged and isinstance(merged[key][0], list):
                merged[key] = (merged[key][0] + value, path + (key,))
            else:
                merged[key] = (value, path + (key,))
    if kind is not None:
        merged["kind"] = (kind, merged.get("kind", (None, ("topology", "nodes", name)))[1])
    return merged


def _nodes(reader: _Reader, draft: Draft, topology: dict) -> None:
    nodes = reader.mapping(topology.get("nodes"), ("topology", "nodes"))
    if not nodes and "nodes" not in topology:
        reader.problem(("topology",), "no 'nodes'")
    for name, config in nodes.items():
        path = ("topology", "nodes", name)
        config = reader.mapping(config, path)
        settings = _merged(reader, topology, name, config)
        node = draft.add_node(name, reader.at(*path))
        kind, kind_path = settings.get("kind", (None, path))
        image, image_path = settings.get("image", (None, path))
        for key, (_, key_path) in settings.items():
            if key in HANDLED:
                continue
            if key in MANAGEMENT:
                reader.warn(key_path, f"'{key}' is ignored: Topolab nodes have no management network")
            elif key in IGNORED:
                reader.warn(key_path, f"'{key}' is ignored: it means nothing for a Topolab node")
            else:
                reader.warn(key_path, f"unknown key '{key}' (ignored)")
        mode, mode_path = settings.get("network-mode", (None, path))
        if mode not in (None, "none"):
            reader.warn(mode_path, f"network-mode '{mode}' is ignored: Topolab nodes have no management network")
        if kind is None:
            reader.problem(path, "no 'kind' (on the node, its group or the defaults)")
            continue
        if kind in REFUSED_KINDS:
            reader.problem(kind_path, f"kind '{kind}' is refused: {REFUSED_KINDS[kind]}")
            continue
        if kind in SWITCH_KINDS:
            node.hint = "switch"
            if kind == "bridge":
                reader.warn(kind_path, f"node {node.name}: containerlab's bridge is a bridge of the host; here it is "
                                       "a switch node of the lab")
        elif kind != "linux":
            reader.problem(kind_path, f"kind '{kind}' cannot run here: Topolab runs Linux containers (kind 'linux', "
                                      "FRR images, 'bridge'), not a vendor's network OS")
            continue
        elif images.looks_like_frr(image):
            node.hint = "frr"
        local_kind = node.hint or "host"  # a host's and a router's image are one
        if node.hint != "switch" and image is not None:
            node.image, warning = images.local(local_kind, str(image), reader.image_map, node.name)
            if warning:
                reader.warn(image_path, warning)
        _node_values(reader, node, settings)


def _node_values(reader: _Reader, node, settings: dict) -> None:
    exec_lines, exec_path = settings.get("exec", ([], ()))
    if not isinstance(exec_lines, list):
        reader.problem(exec_path, "must be a list of commands")
        exec_lines = []
    for i, line in enumerate(exec_lines):
        if not isinstance(line, str):
            reader.problem(exec_path + (i,), "a command is a string")
            continue
        node.lines.append((line, reader.at(*exec_path, i)))
    env, env_path = settings.get("env", ({}, ()))
    for key, value in reader.mapping(env, env_path).items():
        node.env[str(key)] = "" if value is None else (str(value).lower() if isinstance(value, bool) else str(value))
    sysctls, sysctl_path = settings.get("sysctls", ({}, ()))
    for key, value in reader.mapping(sysctls, sysctl_path).items():
        node.sysctls[str(key)] = str(value)
    labels, label_path = settings.get("labels", ({}, ()))
    labels = dict(reader.mapping(labels, label_path))
    if POS_X in labels and POS_Y in labels:
        try:
            node.position = {"x": float(labels.pop(POS_X)), "y": float(labels.pop(POS_Y))}
            node.position = {k: int(v) if v.is_integer() else v for k, v in node.position.items()}
        except (TypeError, ValueError):
            reader.warn(label_path, "graph-posX/graph-posY are not numbers (ignored)")
    if PIDS_LABEL in labels:
        try:
            node.resources["pids"] = int(labels.pop(PIDS_LABEL))
        except (TypeError, ValueError):
            reader.warn(label_path, f"'{PIDS_LABEL}' is not a number (ignored)")
    node.labels.update({str(k): v for k, v in labels.items()})
    cpu, cpu_path = settings.get("cpu", (None, ()))
    if cpu is not None:
        if isinstance(cpu, (int, float)) and not isinstance(cpu, bool) and cpu > 0:
            node.resources["cpus"] = cpu
        else:
            reader.problem(cpu_path, "'cpu' is a number of CPUs above 0")
    memory, memory_path = settings.get("memory", (None, ()))
    if memory is not None:
        mb = memory_mb(memory)
        if mb is None:
            reader.problem(memory_path, f"'memory' {memory!r} is not a size such as '512MB' or '1GB'")
        else:
            node.resources["memory_mb"] = mb
    binds, binds_path = settings.get("binds", ([], ()))
    if not isinstance(binds, list):
        reader.problem(binds_path, "must be a list of 'host-path:container-path[:options]'")
        binds = []
    for i, bind in enumerate(binds):
        _bind(reader, node, str(bind), binds_path + (i,))
    startup, startup_path = settings.get("startup-config", (None, ()))
    if startup is not None:
        if node.hint != "frr":
            reader.warn(startup_path, f"node {node.name}: 'startup-config' is read for FRR nodes only (ignored)")
        elif "\n" in str(startup):
            node.files.append({"path": FRR_CONF, "content": str(startup)})
        else:
            _bind(reader, node, f"{startup}:{FRR_CONF}", startup_path)


def _bind(reader: _Reader, node, bind: str, path: tuple) -> None:
    """A ``host:container[:options]`` bind of the lab's files as the node's files."""
    parts = bind.split(":")
    if len(parts) < 2 or not parts[0] or not parts[1].startswith("/"):
        reader.problem(path, f"'{bind}' is not 'host-path:container-path[:options]'")
        return
    host, target = parts[0], parts[1]
    if ".." in target.split("/"):
        reader.problem(path, f"'{target}' climbs with '..'; a node's file has an absolute path without '..'")
        return
    if host.startswith("/") or host.startswith("~") or "__clab" in host:
        reader.warn(path, f"node {node.name}: '{host}' is a path of the host, not a file of the lab (ignored)")
        return
    joined = posixpath.normpath(posixpath.join(reader.folder, host))
    if joined == ".." or joined.startswith("../") or ".." in host.split("/"):
        reader.problem(path, f"'{host}' climbs out of the lab's folder ('..')")
        return
    if joined == ".":
        reader.warn(path, f"node {node.name}: '{host}' is the whole lab's folder, not a file of it (ignored)")
        return
    where = reader.at(*path)
    if joined in reader.files:
        made = text_file(target, reader.files[joined], Where(where.file, where.line, joined), reader.problems)
        if made:
            node.files.append(made)
        return
    under = sorted(p for p in reader.files if p.startswith(joined.rstrip("/") + "/"))
    if not under:
        reader.problem(path, f"'{host}' is not in the lab (upload a .zip or .tar.gz of the lab's folder)")
        return
    for name in under:
        rel = name[len(joined.rstrip("/")) + 1:]
        made = text_file(posixpath.join(target, rel), reader.files[name], Where(where.file, where.line, name),
                         reader.problems)
        if made:
            node.files.append(made)


def _endpoint_text(reader: _Reader, text, path: tuple) -> tuple[str, str] | None:
    if not isinstance(text, str) or text.count(":") != 1 or not all(text.split(":")):
        reader.problem(path, f"an endpoint is 'node:interface', not {text!r}")
        return None
    node, interface = text.split(":")
    if node in REFUSED_ENDS:
        reader.problem(path, f"'{text}' is refused: {REFUSED_ENDS[node]}")
        return None
    if node.startswith("macvlan"):
        reader.problem(path, f"'{text}' is refused: {REFUSED_ENDS['macvlan']}")
        return None
    return node, interface


def _links(reader: _Reader, draft: Draft, topology: dict) -> None:
    links = topology.get("links") or []
    if not isinstance(links, list):
        reader.problem(("topology", "links"), "must be a list of links")
        return
    for i, link in enumerate(links):
        path = ("topology", "links", i)
        if not isinstance(link, dict):
            reader.problem(path, "a link is a mapping with 'endpoints'")
            continue
        kind = link.get("type")
        if kind is not None and not isinstance(kind, str):
            reader.problem(path + ("type",), "a link's type is a string such as 'veth'")
            continue
        if kind is not None and kind not in LINK_TYPES:
            why = REFUSED_ENDS.get(kind, "a link out of the lab")
            reader.problem(path + ("type",), f"link type '{kind}' is refused: {why}; a Topolab link joins two nodes "
                                             "of the lab")
            continue
        for key in link:
            if key not in ("type", "endpoints", "mtu", "ipv4", "ipv6", "vars", "labels"):
                reader.warn(path + (key,), f"unknown key '{key}' (ignored)")
            elif key in ("vars", "labels"):
                reader.warn(path + (key,), f"'{key}' of a link is ignored")
        endpoints = link.get("endpoints")
        if not isinstance(endpoints, list) or len(endpoints) != 2:
            reader.problem(path + ("endpoints",), "a link has exactly two endpoints")
            continue
        ends = []
        for j, end in enumerate(endpoints):
            end_path = path + ("endpoints", j)
            if isinstance(end, dict):
                for key in end:
                    if key not in ("node", "interface", "mac", "ipv4", "ipv6", "vars"):
                        reader.warn(end_path + (key,), f"unknown key '{key}' (ignored)")
                if not isinstance(end.get("node"), str) or not isinstance(end.get("interface"), str):
                    reader.problem(end_path, "an endpoint has a 'node' and an 'interface'")
                    continue
                if end["node"] in REFUSED_ENDS:
                    reader.problem(end_path, f"'{end['node']}' is refused: {REFUSED_ENDS[end['node']]}")
                    continue
                more = {"mac": str(end["mac"]).lower()} if end.get("mac") else {}
                addresses = [str(end[k]) for k in ("ipv4", "ipv6") if end.get(k)]
                if addresses:
                    more["addresses"] = addresses
                ends.append((end["node"], end["interface"], more))
            else:
                parsed = _endpoint_text(reader, end, end_path)
                if parsed:
                    ends.append((*parsed, {}))
        if len(ends) != 2:
            continue
        for family in ("ipv4", "ipv6"):
            values = link.get(family)
            if isinstance(values, list):
                for (_, _, more), value in zip(ends, values, strict=False):
                    if value:
                        more.setdefault("addresses", []).append(str(value))
        extra = {}
        if link.get("mtu") is not None:
            extra["mtu"] = link["mtu"]
        draft.add_link(ends, reader.at(*path), extra)
    nodes_labels = {n.name: n.labels for n in draft.nodes.values() if n.labels}
    if nodes_labels:
        draft.annotations["containerlab"] = {"labels": nodes_labels}


# -- export ----------------------------------------------------------------------------------------------------
def node_commands(node: dict, links: list[dict], *, prelude: list[str] = ()) -> list[str]:
    """The commands that give a node what a foreign format cannot say outright: ``prelude`` first, a switch's
    bridge, addresses, link state and shaping, routes; then its own ``exec``."""
    kind = kind_registry.kind(node.get("kind", "host"))
    name = node["name"]
    ends = [(end, link) for link in links for end in link["endpoints"] if end["node"] == name]
    lines = list(prelude)
    if kind.bridge:
        lines.append(f"ip link add {kind.bridge} type bridge")
        lines += [f"ip link set {end['interface']} master {kind.bridge}" for end, _ in ends]
        lines.append(f"ip link set {kind.bridge} up")
    for end, _ in ends:
        lines += [shell.address(end["interface"], cidr) for cidr in end.get("addresses", [])]
    for end, link in ends:
        if link.get("impairment"):
            shaped = shell.netem(end["interface"], link["impairment"])
            if shaped:
                lines.append(shaped)
        if link.get("state") == "down":
            lines.append(f"ip link set {end['interface']} down")
    lines += [shell.route(r) for r in node.get("routes", [])]
    return lines + list(node.get("exec", []))


def _file_path(node: str, path: str) -> str:
    return f"{node}{path}"


def clab_data(document: dict) -> dict:
    """The containerlab topology of a (valid) document, as data."""
    nodes: dict[str, dict] = {}
    links = document.get("links", [])
    for node in document.get("nodes", []):
        kind = kind_registry.kind(node.get("kind", "host"))
        out: dict[str, Any] = {"kind": "linux", "image": node.get("image") or kind.image, "network-mode": "none"}
        labels = {}
        if node.get("position"):
            labels[POS_X], labels[POS_Y] = str(node["position"]["x"]), str(node["position"]["y"])
        resources = node.get("resources") or {}
        if resources.get("cpus") is not None:
            out["cpu"] = resources["cpus"]
        if resources.get("memory_mb") is not None:
            out["memory"] = f"{resources['memory_mb']}MB"
        if resources.get("pids") is not None:
            labels[PIDS_LABEL] = str(resources["pids"])
        if node.get("env"):
            out["env"] = dict(node["env"])
        if node.get("files"):
            out["binds"] = [f"{_file_path(node['name'], f['path'])}:{f['path']}" for f in node["files"]]
        sysctls = {k: "1" for k in FORWARDING if kind.forwards}
        sysctls.update(node.get("sysctls") or {})
        if sysctls:
            out["sysctls"] = sysctls
        commands = node_commands(node, links)
        if commands:
            out["exec"] = commands
        if labels:
            out["labels"] = labels
        nodes[node["name"]] = out
    topology: dict[str, Any] = {"nodes": nodes}
    out_links = []
    for link in links:
        a, b = link["endpoints"]
        if a.get("mac") or b.get("mac"):
            item: dict[str, Any] = {"type": "veth", "endpoints": [
                {"node": e["node"], "interface": e["interface"], **({"mac": e["mac"]} if e.get("mac") else {})}
                for e in (a, b)]}
        else:
            item = {"endpoints": [f"{a['node']}:{a['interface']}", f"{b['node']}:{b['interface']}"]}
        if link.get("mtu") is not None:
            item["mtu"] = link["mtu"]
        out_links.append(item)
    if out_links:
        topology["links"] = out_links
    return {"name": document["name"], "topology": topology}


def clab_losses(document: dict) -> list[Issue]:
    """What a containerlab topology written from ``document`` does not carry, or carries for an import back
    only (containerlab itself does nothing with it), as warnings with the document's paths."""
    file = f"{document['name']}.clab.yml"
    out = []
    if document.get("annotations"):
        out.append(Issue(file, 0, "the annotations are not kept: a containerlab topology has nowhere to hold them",
                         "annotations"))
    for i, node in enumerate(document.get("nodes", [])):
        if (node.get("resources") or {}).get("pids") is not None:
            out.append(Issue(file, 0, f"node '{node['name']}': containerlab applies no process limit (the label "
                                      f"{PIDS_LABEL} keeps it for an import back)", f"nodes[{i}].resources.pids"))
    return out


def to_clab(document: dict) -> str:
    """A ``.clab.yml`` of a (valid) document: keys containerlab's schema allows, and ``exec`` for the rest."""
    head = ""
    if document.get("description"):
        head = "".join(f"# {line}".rstrip() + "\n" for line in document["description"].splitlines()) + "\n"
    return head + yaml.safe_dump(clab_data(document), sort_keys=False, allow_unicode=True, width=1000)


def to_clab_files(document: dict) -> dict[str, Entry]:
    """The ``.clab.yml`` and the files its ``binds`` name (``<node>/<path>``), as a lab's folder."""
    out = {f"{document['name']}.clab.yml": Entry(to_clab(document).encode("utf-8"))}
    for node in document.get("nodes", []):
        for item in node.get("files", []):
            out[_file_path(node["name"], item["path"])] = Entry(item.get("content", "").encode("utf-8"),
                                                                int(item.get("mode", "0644"), 8))
    return out
