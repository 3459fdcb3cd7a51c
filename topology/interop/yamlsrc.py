"""YAML read with line numbers: every value's line is known by its YAML path, so errors can name it.

PyYAML's composer gives nodes that carry their marks; :func:`load` turns them into plain Python values
(dicts, lists, scalars) and records, for each path (a tuple of keys and indexes), the line where its value
starts. Duplicate keys are refused (PyYAML would keep the last one silently), merge keys (``<<``) are
honoured, and aliases are expanded within a budget (a "billion laughs" document is refused).
"""
from __future__ import annotations

from typing import Any

import yaml

from .errors import refuse

MAX_VALUES = 200_000  # values after aliases are expanded


def dotted(path: tuple) -> str:
    """A YAML path as text: ``topology.nodes.r1.binds[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class Source:
    """A YAML file's values and the line of each path."""

    def __init__(self, file: str, value: Any, lines: dict[tuple, int]):
        self.file, self.value, self.lines = file, value, lines

    def line(self, path: tuple) -> int:
        """The line of ``path``, or of its nearest parent that has one (1 for the whole file)."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


def load(text: str, file: str) -> Source:
    """Parse ``text`` (the contents of ``file``); :class:`~.errors.InteropError` with the line on bad YAML."""
    loader = yaml.SafeLoader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            raise refuse(file, (mark.line + 1) if mark else 0, f"not valid YAML: {exc.problem or exc}") from None
        except yaml.YAMLError as exc:
            raise refuse(file, 0, f"not valid YAML: {exc}") from None
        lines: dict[tuple, int] = {}
        count = [0]

        def convert(node, path: tuple) -> Any:
            count[0] += 1
            if count[0] > MAX_VALUES:
                raise refuse(file, node.start_mark.line + 1, f"more than {MAX_VALUES} values (aliases expanded)")
            lines.setdefault(path, node.start_mark.line + 1)
            if isinstance(node, yaml.MappingNode):
                out: dict = {}
                for key_node, value_node in _merged(node, file):
                    key = loader.construct_object(key_node) if isinstance(key_node, yaml.ScalarNode) else None
                    if key is None or isinstance(key, (dict, list)):
                        raise refuse(file, key_node.start_mark.line + 1, "a key must be a plain value",
                                     dotted(path))
                    key = str(key) if not isinstance(key, (int, str)) else key
                    if key in out:
                        raise refuse(file, key_node.start_mark.line + 1, f"key '{key}' given twice", dotted(path))
                    lines[path + (key,)] = key_node.start_mark.line + 1
                    out[key] = convert(value_node, path + (key,))
                    lines[path + (key,)] = key_node.start_mark.line + 1
                return out
            if isinstance(node, yaml.SequenceNode):
                return [convert(item, path + (i,)) for i, item in enumerate(node.value)]
            try:
                return loader.construct_object(node)
            except yaml.YAMLError as exc:
                raise refuse(file, node.start_mark.line + 1, f"not a valid value: {exc}", dotted(path)) from None

        value = {} if root is None else convert(root, ())
        return Source(file, value, lines)
    finally:
        loader.dispose()


def _merged(node: yaml.MappingNode, file: str) -> list:
    """The key/value pairs of a mapping with its ``<<`` merge keys expanded (its own keys win)."""
    own, merged = [], []
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag == "tag:yaml.org,2002:merge":
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    raise refuse(file, source.start_mark.line + 1, "'<<' merges mappings only")
                merged.extend(_merged(source, file))
        else:
            own.append((key_node, value_node))
    names = {k.value for k, _ in own if isinstance(k, yaml.ScalarNode)}
    return [(k, v) for k, v in merged if not (isinstance(k, yaml.ScalarNode) and k.value in names)] + own
