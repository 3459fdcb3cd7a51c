"""Kathará labs (``lab.conf``, ``<machine>.startup`` scripts, ``<machine>/`` folders) in and out.

Import reads ``lab.conf``'s machines and their interfaces (``r1[0]="A"``, ``r1[1]="B/02:00:00:00:00:01"``:
interface ``eth0`` of ``r1`` is in collision domain ``A``), their options (``image``, ``mem``, ``cpus``,
``sysctl``, ``env``, ``exec``) and the ``LAB_*`` lines (``LAB_NAME`` and ``LAB_DESCRIPTION`` are the name and
description; the others are kept in the annotations). A collision domain of two machines is a link; one of
three or more (or of one: an empty LAN) becomes a switch node (named after the domain) with a link to each member. Each machine's
``.startup`` script (after ``shared.startup``) becomes its ``exec`` commands, less the lines that set what the
document holds itself (addresses, routes, sysctls: :mod:`.shell`); its folder's files become its ``files``
(``r1/etc/frr/frr.conf`` is ``/etc/frr/frr.conf``) and ``shared/`` is every machine's ``/shared``. A machine
whose image is FRR's is an ``frr`` node; Kathará turns forwarding on in every machine, so one with two
interfaces or more is a router and one with a single interface a host, unless a sysctl says otherwise.
``bridged`` (a route out through the host) and ``lab.ext`` (links to the host's interfaces) are refused.

Export writes ``lab.conf`` (every link a collision domain of two; a node on its kind's image gets Kathará's
``kathara/base`` or ``kathara/frr``), a ``.startup`` per node with its interfaces' names, MTUs, addresses,
shaping and routes, and each node's files in its folder.
"""
from __future__ import annotations

import io
import json
import posixpath
import re
import zipfile

from .. import kinds as kind_registry
from . import images, startup_env
from .archive import Entry
from .clab import node_commands
from .common import document_name, memory_mb, text_file
from .draft import FORWARDING, Draft, Where, safe_name
from .errors import InteropError, Issue

LAB_CONF = "lab.conf"
# Kathará's own line takes device names of 1 to 30 characters; a longer one is read too (with a warning) and named
# as a topolab node may be (31 characters at most).
_LINE = re.compile(r"^(?P<key>[a-z0-9_]{1,64})\[(?P<arg>\w+)\]=([\"']?)(?P<value>[^\"']*)(\3)(\s+#.*)?$")
_META = re.compile(r"^(?P<key>LAB_[A-Z]+)=(?P<value>.*)$")
_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
LAB_KEYS = {"LAB_NAME", "LAB_DESCRIPTION", "LAB_VERSION", "LAB_AUTHOR", "LAB_EMAIL", "LAB_WEB"}
IGNORED_OPTIONS = {
    "ipv6": "a node with IPv6 addresses gets IPv6 here without it",
    "port": "a node's ports are never published on the host",
    "volume": "a path of the host is never mounted into a node",
    "ulimit": "a node's limits are its resources",
    "privileged": "Topolab nodes are never privileged",
    "shell": "the consoles run the image's shell",
    "num_terms": "consoles are opened from the editor",
    "hosthome": "the host's home is never mounted into a node",
}
COMPOUND = re.compile(r"^\s*(if|for|while|until|case|function|select)\b|<<|\\\s*$|\{\s*$|\(\)\s*\{?\s*$")
FRR_START = "systemctl start frr"
DESCRIPTION_COMMENT = "# topolab description: "
KATHARA_BASE = "kathara/base"
MACHINE_MAX = 30  # Kathará's device names: [a-z0-9_]{1,30} (its lab.conf parser and its Machine model)
RESERVED_MACHINES = {"shared": "'shared' is the name of the folder and the script every Kathará device shares",
                     "_test": "'_test' is a name Kathará keeps for its tests"}
# A node whose name Kathará cannot take is a device of another name; this comment (which Kathará skips) gives
# the node's name back on import.
NODE_COMMENT = re.compile(r"^# topolab node (?P<machine>[a-z0-9_]{1,30}) is (?P<name>[a-z][a-z0-9-]{0,30})$")
KATHARA_IMAGES = {"frr": "kathara/frr"}


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def from_kathara(files: dict[str, Entry], *, image_map: dict | None = None,
                 fallback_name: str = "kathara-lab") -> tuple[dict, list[Issue]]:
    """The topolab/v1 document of a Kathará lab (its folder's files) and the warnings; :class:`InteropError`
    otherwise."""
    document, warnings, _ = read(files, image_map=image_map, fallback_name=fallback_name)
    return document, warnings


def _text(files: dict[str, Entry], name: str, problems: list[Issue]) -> str | None:
    try:
        return files[name].data.decode("utf-8")
    except UnicodeDecodeError:
        problems.append(Issue(name, 0, "not a text file (UTF-8)"))
        return None


def read(files: dict[str, Entry], *, image_map: dict | None = None, fallback_name: str = "kathara-lab"):
    """:func:`from_kathara`, plus where each of the document's nodes and links came from."""
    problems: list[Issue] = []
    warnings: list[Issue] = []
    if LAB_CONF not in files:
        raise InteropError([Issue(LAB_CONF, 0, "a Kathará lab has a lab.conf at its top")])
    if "lab.ext" in files:
        problems.append(Issue("lab.ext", 0, "lab.ext is refused: it links collision domains to the host's own "
                                            "interfaces, and a Topolab lab never reaches the host's network"))
    if "lab.dep" in files:
        warnings.append(Issue("lab.dep", 0, "lab.dep is ignored: every node starts at once, then runs its commands"))
    text = _text(files, LAB_CONF, problems)
    if text is None:
        raise InteropError(problems)
    machines: dict[str, dict] = {}
    domains: dict[str, list[tuple[str, int, str | None, Where]]] = {}
    meta: dict[str, str] = {}
    names: dict[str, str] = {}  # machine -> the topolab node's name an export wrote in a comment
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        where = Where(LAB_CONF, number)
        renamed = NODE_COMMENT.match(line)
        if renamed:
            names[renamed.group("machine")] = renamed.group("name")
            continue
        if line.startswith(DESCRIPTION_COMMENT):
            try:
                exact = json.loads(line[len(DESCRIPTION_COMMENT):])
            except ValueError:
                exact = None
            if isinstance(exact, str):
                meta["exact description"] = exact
            continue
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match:
            key, arg, value = match.group("key"), match.group("arg"), match.group("value")
            if key in RESERVED_MACHINES:
                problems.append(where.issue(f"{RESERVED_MACHINES[key]}: Kathará refuses it as a device's name"))
                continue
            if key not in machines and len(key) > MACHINE_MAX:
                warnings.append(where.issue(f"device '{key}' has a name of {len(key)} characters: Kathará refuses "
                                            f"more than {MACHINE_MAX} (read here all the same)"))
            machine = machines.setdefault(key, {"where": where, "interfaces": {}, "options": []})
            if arg.isdigit():
                cd, _, mac = value.partition("/")
                if not re.match(r"^\w+$", cd):
                    problems.append(where.issue(f"collision domain '{value}' is not letters, digits and '_'"))
                    continue
                if mac and not _MAC.match(mac):
                    problems.append(where.issue(f"'{mac}' is not a MAC address"))
                    continue
                index = int(arg)
                if index in machine["interfaces"]:
                    problems.append(where.issue(f"interface eth{index} of {key} is given twice"))
                    continue
                machine["interfaces"][index] = cd
                domains.setdefault(cd, []).append((key, index, mac.lower() or None, where))
            else:
                machine["options"].append((arg, value, where))
            continue
        match = _META.match(line)
        if match and match.group("key") in LAB_KEYS:
            meta[match.group("key")] = _unquote(match.group("value"))
            continue
        problems.append(where.issue(f"not a line of lab.conf: '{line}'"))
    for name, machine in machines.items():
        numbers = sorted(machine["interfaces"])
        if numbers != list(range(len(numbers))):
            problems.append(machine["where"].issue(f"the interfaces of {name} are not numbered 0, 1, 2...: "
                                                   f"{', '.join(map(str, numbers))}"))
    name = document_name(meta.get("LAB_NAME"), document_name(fallback_name, "kathara-lab"))
    if meta.get("LAB_NAME") and meta["LAB_NAME"] != name:
        warnings.append(Issue(LAB_CONF, 0, f"the lab '{meta['LAB_NAME']}' is called '{name}' here"))
    description = meta.get("LAB_DESCRIPTION") or None
    exact = meta.get("exact description")
    if exact and _clean(exact).replace("=", "-") == description:  # the comment still says what the line says
        description = exact
    draft = Draft(name, description)
    others = {k.lower(): v for k, v in meta.items() if k in LAB_KEYS and k not in ("LAB_NAME", "LAB_DESCRIPTION")}
    if others:
        draft.annotations["kathara"] = others
    shared = _startup(files, "shared.startup", problems)
    for machine_name, machine in machines.items():
        node = draft.add_node(machine_name, machine["where"], name=names.get(machine_name))
        _options(node, machine, image_map, problems, warnings)
        # Kathará's order: shared.startup, the machine's .startup, then its [exec] options.
        env: dict[str, str] = {}
        node.lines = shared + _startup(files, f"{machine_name}.startup", problems, env) + node.lines
        node.env.update(env)  # set by the script, after the container's own environment
        node.forwards = len(machine["interfaces"]) > 1
        _folder(files, machine_name, "/", node, problems)
        _folder(files, "shared", "/shared/", node, problems)
    _known_files(files, machines, warnings)
    _domains(draft, domains)
    problems += draft.problems
    if problems:
        raise InteropError(problems, warnings + draft.warnings)
    document, origins = draft.finish()
    return document, warnings + draft.warnings, origins


def _options(node, machine: dict, image_map, problems: list, warnings: list) -> None:
    image = None
    for option, value, where in machine["options"]:
        if option == "image":
            image = value
            if images.looks_like_frr(value):
                node.hint = "frr"
        elif option == "mem":
            mb = memory_mb(value)
            if mb is None:
                problems.append(where.issue(f"mem '{value}' is not a size such as '256m'"))
            else:
                node.resources["memory_mb"] = mb
        elif option == "cpus":
            try:
                node.resources["cpus"] = int(value) if value.isdigit() else float(value)
            except ValueError:
                problems.append(where.issue(f"cpus '{value}' is not a number"))
        elif option == "pids":
            if value.isdigit():
                node.resources["pids"] = int(value)
            else:
                problems.append(where.issue(f"pids '{value}' is not a number"))
        elif option == "sysctl":
            key, eq, val = value.partition("=")
            if not eq:
                problems.append(where.issue(f"sysctl '{value}' is not key=value"))
            else:
                node.sysctls[key.strip()] = val.strip()
        elif option == "env":
            key, eq, val = value.partition("=")
            if not eq:
                problems.append(where.issue(f"env '{value}' is not NAME=value"))
            else:
                node.env[key.strip()] = val
        elif option == "exec":
            node.lines.append((value, where))
        elif option == "bridged":
            if value.strip().lower() in ("true", "1", "yes", "on"):
                problems.append(where.issue(f"{node.source}[bridged] is refused: it gives the machine a route out "
                                            "through the host, and a Topolab lab never leaves it"))
        elif option in IGNORED_OPTIONS:
            warnings.append(where.issue(f"{node.source}[{option}] is ignored: {IGNORED_OPTIONS[option]}"))
        else:
            warnings.append(where.issue(f"unknown option {node.source}[{option}] (ignored)"))
    if image:
        node.image, warning = images.local(node.hint or "host", image, image_map, node.name)
        if warning:
            warnings.append(machine["where"].issue(warning))


def _startup(files: dict[str, Entry], name: str, problems: list, env: dict | None = None) -> list[tuple[str, Where]]:
    """A startup script's lines, each with its line number; from the first compound command on (``if``,
    loops, here-documents, continued lines) the rest is one command, as the shell would read it. The lines an
    export wrote to set an environment variable (:mod:`.startup_env`) go to ``env`` instead."""
    if name not in files:
        return []
    text = _text(files, name, problems)
    if text is None:
        return []
    lines, out = text.splitlines(), []
    for number, line in enumerate(lines, start=1):
        if number == 1 and line.startswith("#!"):
            continue
        variable = startup_env.read_line(line) if env is not None else None
        if variable:
            env[variable[0]] = variable[1]
            continue
        if COMPOUND.search(line):
            rest = "\n".join(lines[number - 1:]).strip()
            if rest:
                out.append((rest, Where(name, number)))
            break
        if line.strip():
            out.append((line, Where(name, number)))
    return out


def _folder(files: dict[str, Entry], folder: str, target: str, node, problems: list) -> None:
    prefix = folder + "/"
    for path in [p for p in files if p.startswith(prefix)]:  # the archive's (or the folder's sorted) order
        made = text_file(target + path[len(prefix):], files[path], Where(path, 0), problems)
        if made:
            node.files.append(made)


def _known_files(files: dict[str, Entry], machines: dict, warnings: list) -> None:
    known = {LAB_CONF, "lab.ext", "lab.dep", "shared.startup", "shared.shutdown"}
    for path in files:
        top = path.split("/", 1)[0]
        stem = path.rsplit(".", 1)[0] if path.endswith((".startup", ".shutdown")) else None
        if path in known or top in machines or top == "shared" or top.lower().startswith("readme"):
            if path.endswith(".shutdown"):
                warnings.append(Issue(path, 0, "shutdown scripts are ignored (a node is stopped, not shut down)"))
            continue
        if stem in machines:
            if path.endswith(".shutdown"):
                warnings.append(Issue(path, 0, "shutdown scripts are ignored (a node is stopped, not shut down)"))
            continue
        warnings.append(Issue(path, 0, "not a file of any machine in lab.conf (ignored)"))


def _domains(draft: Draft, domains: dict) -> None:
    for cd, members in domains.items():
        where = members[0][3]
        ends = [(m, f"eth{i}", {"mac": mac} if mac else {}) for m, i, mac, _ in members]
        if len(members) == 2:
            draft.add_link(ends, where)
            continue
        # Three machines or more share a switch; a lone machine's interface exists only on a link, so it gets
        # a switch of its own too (an empty LAN, as in Kathará).
        switch = draft.add_node(safe_name(cd, set(draft.nodes) | set(draft.by_source)), where)
        switch.hint = "switch"
        draft.warnings.append(where.issue(
            f"collision domain {cd} joins {len(members)} machines: it is the switch node {switch.name}" if len(members) > 1
            else f"collision domain {cd} has {members[0][0]} alone: it is the switch node {switch.name}, so that "
                 f"its interface exists"))
        for j, end in enumerate(ends):
            draft.add_link([end, (switch.source, f"eth{j}", {})], members[j][3])


# -- export ----------------------------------------------------------------------------------------------------
def machine_names(document: dict, warnings: list | None = None) -> dict[str, str]:
    """Each node's Kathará device name: its own with ``_`` for ``-``, or (past Kathará's 30 characters, or one
    of the names Kathará keeps) a shorter or other one, unique, with a warning saying which node it is."""
    nodes = document.get("nodes", [])
    plain = {node["name"].replace("-", "_") for node in nodes}
    out: dict[str, str] = {}
    taken: set[str] = set()
    for i, node in enumerate(nodes):
        name = node["name"]
        machine = name.replace("-", "_")
        if len(machine) <= MACHINE_MAX and machine not in RESERVED_MACHINES:
            out[name] = machine
            taken.add(machine)
            continue
        base = (machine + "_node" if machine in RESERVED_MACHINES else machine)[:MACHINE_MAX].rstrip("_")
        candidate, n = base, 2
        while candidate in taken or candidate in plain or candidate in RESERVED_MACHINES:
            suffix = f"_{n}"
            candidate, n = base[:MACHINE_MAX - len(suffix)] + suffix, n + 1
        out[name] = candidate
        taken.add(candidate)
        if warnings is not None:
            why = RESERVED_MACHINES.get(machine) or f"Kathará's device names are at most {MACHINE_MAX} characters"
            size = "" if machine in RESERVED_MACHINES else f" ({len(name)} characters)"
            warnings.append(Issue(LAB_CONF, 0, f"node '{name}'{size} is the device '{candidate}' in "
                                               f"lab.conf: {why} (a comment there keeps the name for an import back)",
                                  f"nodes[{i}].name"))
    return out


def _interfaces(document: dict) -> dict[tuple[str, str], int]:
    """Each ``(node, interface)``'s Kathará index: ``ethK`` keeps K when it can, the others fill the gaps."""
    by_node: dict[str, list[str]] = {}
    for link in document.get("links", []):
        for end in link["endpoints"]:
            by_node.setdefault(end["node"], []).append(end["interface"])
    out = {}
    for node, names in by_node.items():
        count, taken = len(names), {}
        for name in names:
            match = re.match(r"^eth(\d+)$", name)
            if match and int(match.group(1)) < count and int(match.group(1)) not in taken.values():
                taken[name] = int(match.group(1))
        free = iter(i for i in range(count) if i not in taken.values())
        for name in names:
            out[(node, name)] = taken[name] if name in taken else next(free)
    return out


def _clean(value: str) -> str:
    """A lab.conf value: no quotes, no line breaks (Kathará's parser takes neither)."""
    return re.sub(r"[\"'\r\n]+", " ", value).strip()


def to_kathara(document: dict, warnings: list | None = None) -> dict[str, bytes]:
    """A Kathará lab of a (valid) document: ``lab.conf``, ``<node>.startup`` and ``<node>/`` files; what
    Kathará does not carry is added to ``warnings`` (:class:`Issue` s naming the file and the document's path)."""
    return {path: entry.data for path, entry in kathara_files(document, warnings).items()}


def _losses(document: dict, warnings: list) -> None:
    """What a Kathará lab cannot hold at all, said once each."""
    placed = [node["name"] for node in document.get("nodes", []) if node.get("position")]
    if placed:
        warnings.append(Issue(LAB_CONF, 0, f"the positions of {len(placed)} node{'s' if len(placed) != 1 else ''} on "
                                           "the canvas are not kept: Kathará has no canvas", "nodes"))
    if document.get("annotations"):
        warnings.append(Issue(LAB_CONF, 0, "the annotations are not kept: a Kathará lab has nowhere to hold them",
                              "annotations"))
    for i, node in enumerate(document.get("nodes", [])):
        if (node.get("resources") or {}).get("pids") is not None:
            warnings.append(Issue(LAB_CONF, 0, f"node '{node['name']}': Kathará applies no process limit (its "
                                               "[pids] line keeps it for an import back)",
                                  f"nodes[{i}].resources.pids"))


def kathara_files(document: dict, warnings: list | None = None) -> dict[str, Entry]:
    """:func:`to_kathara` with each file's mode."""
    warnings = [] if warnings is None else warnings
    _losses(document, warnings)
    machines = machine_names(document, warnings)
    index = _interfaces(document)
    links = document.get("links", [])
    conf = [f'LAB_NAME="{document["name"]}"']
    if document.get("description"):
        text = document["description"]
        line = _clean(text).replace("=", "-")
        conf.append(f'LAB_DESCRIPTION="{line}"')
        if line != text:  # what lab.conf cannot hold (quotes, '=', lines), exactly, in a comment Kathará skips
            conf.append(f"{DESCRIPTION_COMMENT}{json.dumps(text)}")
    out: dict[str, Entry] = {}
    counts = {}
    for node, _ in index:
        counts[node] = counts.get(node, 0) + 1
    conf += [f"# topolab node {machines[name]} is {name}" for name in machines if machines[name] != name.replace("-", "_")]
    for i, node in enumerate(document.get("nodes", [])):
        name, machine = node["name"], machines[node["name"]]
        kind = kind_registry.kind(node.get("kind", "host"))
        # A node on its kind's image runs Kathará's own image there (the import maps it back).
        conf.append(f'{machine}[image]="{node.get("image") or KATHARA_IMAGES.get(kind.name, KATHARA_BASE)}"')
        resources = node.get("resources") or {}
        if resources.get("memory_mb") is not None:
            conf.append(f'{machine}[mem]="{resources["memory_mb"]}m"')
        if resources.get("cpus") is not None:
            conf.append(f'{machine}[cpus]="{resources["cpus"]}"')
        if resources.get("pids") is not None:
            conf.append(f'{machine}[pids]="{resources["pids"]}"')
        # Kathará turns forwarding on everywhere; say it when the interface count would mislead an import.
        many = counts.get(name, 0) > 1
        if not kind.bridge and not kind.frr and kind.forwards != many:
            conf.append(f'{machine}[sysctl]="{FORWARDING[0]}={"1" if kind.forwards else "0"}"')
        for key, value in (node.get("sysctls") or {}).items():
            conf.append(f'{machine}[sysctl]="{key}={_clean(value)}"')
            if _clean(value) != value:
                warnings.append(Issue(LAB_CONF, 0, f"sysctl {key} of {name} is '{_clean(value)}' in lab.conf: its "
                                                   "value cannot hold quotes or line breaks there",
                                      f"nodes[{i}].sysctls.{key}"))
        # What lab.conf reads back exactly is there (the container's environment, as here); the rest is set by
        # the first lines of the .startup, for the commands after them.
        in_script = []
        for key, value in (node.get("env") or {}).items():
            if startup_env.fits_lab_conf(value):
                conf.append(f'{machine}[env]="{key}={value}"')
                continue
            in_script.append(startup_env.line(key, value))
            warnings.append(Issue(f"{machine}.startup", 0, f"env {key} of {name} holds {_unfit(value)}, which "
                                                           f"lab.conf cannot carry: {machine}.startup sets it exactly "
                                                           "for the node's commands, not for a Kathará console",
                                  f"nodes[{i}].env.{key}"))
        prelude = list(in_script)
        for (owner, interface), number in index.items():
            if owner == name and interface != f"eth{number}":
                prelude.append(f"ip link set eth{number} down && ip link set eth{number} name {interface} && "
                               f"ip link set {interface} up")
        for link in links:
            if link.get("mtu") is not None:
                prelude += [f"ip link set {e['interface']} mtu {link['mtu']}" for e in link["endpoints"]
                            if e["node"] == name]
        lines = node_commands(node, links, prelude=prelude)
        if kind.frr:
            lines.insert(len(lines) - len(node.get("exec", [])), FRR_START)
        if lines:
            out[f"{machine}.startup"] = Entry(("\n".join(lines) + "\n").encode("utf-8"), 0o755)
        for item in node.get("files", []):
            out[posixpath.join(machine, item["path"].lstrip("/"))] = Entry(item.get("content", "").encode("utf-8"),
                                                                            int(item.get("mode", "0644"), 8))
    for i, link in enumerate(links):
        for end in link["endpoints"]:
            mac = f"/{end['mac']}" if end.get("mac") else ""
            conf.append(f'{machines[end["node"]]}[{index[(end["node"], end["interface"])]}]="l{i}{mac}"')
    out[LAB_CONF] = Entry(("\n".join(conf) + "\n").encode("utf-8"))
    return dict(sorted(out.items(), key=lambda item: item[0] != LAB_CONF))


def _unfit(value: str) -> str:
    """What of ``value`` lab.conf cannot carry, in a few words."""
    parts = []
    if re.search(r"[\"']", value):
        parts.append("quotes")
    if re.search(r"[\r\n\x85\u2028\u2029]", value):
        parts.append("line breaks")
    elif re.search(r"[\x00-\x1f\x7f]", value):
        parts.append("control characters")
    if value != value.strip():
        parts.append("spaces at its ends")
    return " and ".join(parts) or "characters"


def zip_files(files: dict[str, Entry]) -> bytes:
    """A zip of a lab's files, with their modes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, entry in files.items():
            info = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | entry.mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entry.data)
    return buffer.getvalue()
