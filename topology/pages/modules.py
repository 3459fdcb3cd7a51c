"""Which ES modules a page loads: the static imports of its entry module, followed through every file.

A page preloads (``<link rel="modulepreload">``) every module its entry imports, so the browser fetches them
all at once instead of finding them one level of imports at a time; read from the files themselves, the list
cannot miss a module added later. Only static ``import ... from '...'`` and ``export ... from '...'`` count:
a dynamic ``import()`` is loaded on demand, on purpose.
"""
from __future__ import annotations

import posixpath
import re
from functools import lru_cache

from django.contrib.staticfiles import finders

# A static import or re-export: `import x from './a.js'`, `import {a,\n b} from '../b.mjs'`, `import './c.js'`,
# `export {x} from './d.js'`; not `import('./e.js')` (no space or brace before the quote) nor text in a comment's
# middle (each must start a line).
_STATIC_IMPORT = re.compile(r"""^\s*(?:import|export)\s+(?:[^'"();]*?\bfrom\s+)?['"]([^'"]+)['"]""", re.MULTILINE)


def _imports(path: str) -> list[str]:
    found = finders.find(path)
    if not found:
        raise FileNotFoundError(f"static module {path} is not in any static directory")
    with open(found, encoding="utf-8") as source:
        text = source.read()
    directory = posixpath.dirname(path)
    return [posixpath.normpath(posixpath.join(directory, spec)) for spec in _STATIC_IMPORT.findall(text)
            if spec.startswith(".")]


@lru_cache(maxsize=32)
def module_graph(entry: str) -> tuple[str, ...]:
    """``entry`` (a static path, e.g. ``topolab/editor.js``) and every module it imports, depth first, once each."""
    order: list[str] = []
    seen: set[str] = set()
    stack = [entry]
    while stack:
        path = stack.pop()
        if path in seen:
            continue
        seen.add(path)
        order.append(path)
        stack.extend(reversed(_imports(path)))
    return tuple(order)
