"""The format's description, ``docs/topolab-v1.md``, against the schema that implements it, and its page.

The page must describe every key the schema accepts: the models are walked
from :class:`Document` (through lists, objects, optional and annotated types),
and each model must have one section, named after it and giving its JSON path,
whose table lists exactly its fields with their defaults, bounds, patterns and
allowed values. Adding a field (or a model) without documenting it fails here;
``test_an_undocumented_field_or_model_is_caught`` proves it. The kinds come from
the registry, the limits from ``Limits()`` and the schema's constants.
"""
from __future__ import annotations

import dataclasses
import json
import re
import typing
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from pydantic import BaseModel, Field, create_model

from topology import kinds
from topology.pages.help import render_markdown
from topology.schema import Limits, models
from topology.schema.models import Document

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "topolab-v1.md"
PAGE = DOC.read_text(encoding="utf-8")
LETTERS = "ijklmn"  # list positions in the page's paths: nodes[i].routes[j]


# --- reading the schema -------------------------------------------------------------------------

def _nested(annotation, path: str):
    """``(model, path)`` for every pydantic model inside ``annotation``; lists add ``[#]``, objects ``.{key}``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, path
        return
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list:
        yield from _nested(args[0], path + "[#]")
    elif origin is dict:
        yield from _nested(args[1], path + ".{key}")
    else:  # Optional, Union, Annotated (whose metadata are no types), Literal (whose values are none)
        for arg in args:
            yield from _nested(arg, path)


def _lettered(path: str) -> str:
    for letter in LETTERS:
        path = path.replace("[#]", f"[{letter}]", 1)
    return path


def walk(root: type[BaseModel]) -> dict[str, tuple[type[BaseModel], set[str]]]:
    """Every model reachable from ``root``: name -> (model, the JSON paths where it occurs)."""
    found: dict[str, tuple[type[BaseModel], set[str]]] = {}
    todo = [(root, "")]
    while todo:
        model, path = todo.pop()
        seen = model.__name__ in found
        found.setdefault(model.__name__, (model, set()))[1].add(_lettered(path))
        if seen:
            continue  # a model is described once, wherever it occurs (and a recursive one ends here)
        for name, field in model.model_fields.items():
            todo += _nested(field.annotation, f"{path}.{name}" if path else name)
    return found


def _metadata(annotation, top: list) -> list:
    """The constraint objects of a field: its own and those inside its Annotated types."""
    found = list(top)
    stack = [annotation]
    while stack:
        item = stack.pop()
        for meta in getattr(item, "__metadata__", ()):
            found.append(meta)
            found += getattr(meta, "metadata", [])  # a Field(...) holds its constraints
        stack += [a for a in typing.get_args(item) if not isinstance(a, (str, int, float))]
    return found


def constraints(field) -> dict:
    """What the schema enforces on a field by type: bounds (numbers), patterns, allowed values."""
    bounds, patterns, values = set(), set(), []
    for meta in _metadata(field.annotation, field.metadata):
        for attr in ("gt", "ge", "lt", "le", "min_length", "max_length"):
            value = getattr(meta, attr, None)
            if value is not None:
                bounds.add(value)
        if getattr(meta, "pattern", None):
            patterns.add(meta.pattern)
    stack = [field.annotation]
    while stack:
        item = stack.pop()
        if typing.get_origin(item) is typing.Literal:
            values += typing.get_args(item)
        else:
            stack += [a for a in typing.get_args(item) if not isinstance(a, (str, int, float))]
    return {"bounds": bounds, "patterns": patterns, "values": values}


# --- reading the page ---------------------------------------------------------------------------

def sections(page: str) -> list[tuple[str, str]]:
    """``(heading, body)`` of every heading, fenced code skipped when looking for headings."""
    result: list[tuple[str, list[str]]] = []
    fenced = False
    for line in page.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        match = None if fenced else re.match(r"#{1,6} (.+)$", line)
        if match:
            result.append((match.group(1).strip(), []))
        elif result:
            result[-1][1].append(line)
    return [(title, "\n".join(body)) for title, body in result]


def section(page: str, title: str) -> str:
    bodies = [body for heading, body in sections(page) if heading.split()[0].rstrip(":") == title]
    assert len(bodies) == 1, f"the page needs exactly one section headed '{title}', not {len(bodies)}"
    return bodies[0]


def table_rows(body: str) -> dict[str, list[str]]:
    """Rows of the tables in ``body`` whose first cell is one name in backticks: name -> cells."""
    rows = {}
    for line in body.splitlines():
        match = re.match(r"\| `([A-Za-z_][\w.]*)` \|", line)
        if match:
            rows[match.group(1)] = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
    return rows


def row_with(body: str, name: str) -> list[str]:
    """The one table row of ``body`` that names ``name`` in backticks."""
    rows = [line for line in body.splitlines() if line.startswith("|") and f"`{name}`" in line]
    assert len(rows) == 1, f"exactly one row must name `{name}`, not {len(rows)}"
    return [cell.strip() for cell in rows[0].strip().strip("|").split(" | ")]


def has_number(text: str, number) -> bool:
    """Whether ``text`` writes ``number`` (as 65536 or 65,536), not as part of a longer number."""
    if isinstance(number, float) and number.is_integer():
        number = int(number)
    spellings = {str(number), f"{number:,}"}
    return any(re.search(rf"(?<![\d,.]){re.escape(s)}(?![\d]|,\d)", text) for s in spellings)


def first_number(cell: str) -> float:
    match = re.search(r"\d[\d,]*(\.\d+)?", cell)
    assert match, f"no number in {cell!r}"
    return float(match.group(0).replace(",", ""))


def field_problems(page: str, found: dict[str, tuple[type[BaseModel], set[str]]]) -> list[str]:
    """Everything the page fails to say about the models in ``found`` (empty when it says it all)."""
    problems = []
    headings = [heading.split()[0].rstrip(":") for heading, _ in sections(page)]
    for name, (model, paths) in sorted(found.items()):
        if headings.count(name) != 1:
            problems.append(f"{name}: needs exactly one section headed '{name}' (found {headings.count(name)})")
            continue
        body = section(page, name)
        path_line = next((line for line in body.splitlines() if line.startswith("Path: ")), "")
        for path in paths:
            if path and f"`{path}`" not in path_line:
                problems.append(f"{name}: its 'Path: ' line must give `{path}`")
        rows = table_rows(body)
        fields = model.model_fields
        for extra in sorted(set(rows) - set(fields)):
            problems.append(f"{name}: the table describes `{extra}`, which the schema does not have")
        for key, field in fields.items():
            if key not in rows:
                problems.append(f"{name}.{key}: not in the table of section '{name}'")
                continue
            cells = rows[key]
            row = " | ".join(cells)
            if len(cells) != 4:
                problems.append(f"{name}.{key}: the row needs 4 cells (key, type, default, rules)")
                continue
            default = cells[2]
            if field.is_required() != (default == "required"):
                problems.append(f"{name}.{key}: the default column must say 'required' exactly when it is")
            elif not field.is_required() and field.default is not None:
                shown = f"`{json.dumps(field.default)}`"
                if shown not in default:
                    problems.append(f"{name}.{key}: the default is {shown}")
            found_constraints = constraints(field)
            for bound in sorted(found_constraints["bounds"]):
                if not has_number(cells[3], bound):
                    problems.append(f"{name}.{key}: the rules must give the bound {bound}")
            for pattern in found_constraints["patterns"]:
                where = page if "|" in pattern else row  # a '|' cannot stand in a table cell
                if pattern not in where:
                    problems.append(f"{name}.{key}: the pattern {pattern} is not given")
            for value in found_constraints["values"]:
                if f"`{value}`" not in row and f'`"{value}"`' not in row:
                    problems.append(f"{name}.{key}: the allowed value {value!r} is not named")
    return problems


# --- the page says everything the schema does -------------------------------------------------

def test_the_walk_reaches_every_model_of_the_format():
    found = walk(Document)
    assert set(found) == {"Document", "Node", "Position", "Route", "File", "Resources", "Link", "Endpoint", "Impairment"}
    assert found["Route"][1] == {"nodes[i].routes[j]"}
    assert found["Endpoint"][1] == {"links[i].endpoints[j]"}
    assert found["Document"][1] == {""}


def test_every_field_of_every_model_is_described_in_its_section():
    assert field_problems(PAGE, walk(Document)) == []


def test_an_undocumented_field_or_model_is_caught():
    # A field added to Node, and a model of its own behind it: both must be reported.
    Colour = create_model("Colour", __base__=models.Strict, hue=(int, 0))
    NewNode = create_model("Node", __base__=models.Node, colour=(Colour | None, None))
    NewDocument = create_model("Document", __base__=Document, nodes=(list[NewNode], ...))
    problems = field_problems(PAGE, walk(NewDocument))
    assert "Node.colour: not in the table of section 'Node'" in problems
    assert any(p.startswith("Colour: needs exactly one section") for p in problems)
    # A field's bound changed in the schema but not on the page.
    Tighter = create_model("Link", __base__=models.Link, mtu=(typing.Annotated[int, Field(ge=1280, le=9000)] | None, None))
    problems = field_problems(PAGE, walk(create_model("Document", __base__=Document, links=(list[Tighter], []))))
    assert "Link.mtu: the rules must give the bound 1280" in problems


def test_every_field_is_named_in_backticks_on_the_page():
    for name, (model, _) in walk(Document).items():
        for key in model.model_fields:
            assert f"`{key}`" in PAGE, f"{name}.{key}"


def test_every_pattern_of_the_schema_is_on_the_page_verbatim():
    patterns = {name: value for name, value in vars(models).items() if name.endswith("_RE") and isinstance(value, str)}
    assert len(patterns) >= 8
    for name, pattern in patterns.items():
        assert pattern in PAGE, name


def test_every_kind_of_the_registry_is_described_as_it_is():
    body = section(PAGE, "Kinds")
    rows = table_rows(body)
    assert list(rows) == list(kinds.NAMES), "the Kinds table lists the registry's kinds, in its order"
    for name in kinds.NAMES:
        kind = kinds.kind(name)
        _, image, deploys, adds = rows[name]
        assert image == f"`{kind.image}`", name
        if kind.deployable:
            assert deploys == "yes", name
        else:
            assert deploys.startswith("no") and kind.deploy_refusal in deploys, name
        assert ("forwarding on" in adds) == kind.forwards and ("forwarding off" in adds) != kind.forwards, name
        assert (f"`{kind.bridge}`" in adds) if kind.bridge else "bridge" not in adds, name
        for key, value in kind.sysctls.items():
            assert f"`{key}={value}`" in adds, (name, key)
        for capability in kind.capabilities:
            assert f"`{capability}`" in body
    assert "`br0`" in section(PAGE, "Endpoint")


def test_the_limits_on_the_page_are_the_servers_defaults():
    body = section(PAGE, "Limits")
    defaults = Limits()
    for limit in dataclasses.fields(Limits):
        cells = row_with(body, limit.name)
        assert first_number(cells[1]) == getattr(defaults, limit.name), limit.name
        assert f"`TOPOLAB_{limit.name.upper()}`" == cells[2], limit.name
    # Every fixed limit of the schema (a MAX_ constant of its models) has its row.
    constants = sorted(name for name in vars(models) if name.startswith("MAX_"))
    assert {"MAX_DOCUMENT_BYTES", "MAX_ADDRESSES_PER_INTERFACE", "MAX_ROUTES_PER_NODE", "MAX_INTEGER_DIGITS"} <= set(constants)
    for constant in constants:
        cells = row_with(body, constant)
        assert first_number(cells[1]) == getattr(models, constant), constant
        assert cells[2] == "fixed", constant
    for key, value in settings.TOPOLAB_DEFAULT_RESOURCES.items():
        assert first_number(row_with(body, f"resources.{key}")[1]) == value, key
    # The prose says the same sizes.
    assert models.MAX_DOCUMENT_BYTES == 5 * 1024 * 1024 and "5 MiB a document" in PAGE
    assert models.MAX_FILE_BYTES == 256 * 1024 and "256 KiB a file" in PAGE


def test_the_example_on_the_page_is_the_reference_lab():
    block = PAGE.split("```json\n", 1)[1].split("```", 1)[0]
    assert json.loads(block) == json.loads((ROOT / "examples" / "router-between-two-clients.json").read_text())


def test_the_spec_text_is_kept():
    """The public contract's own sentences stay on the page (the page adds to them, never rewrites them)."""
    for sentence in (
        "Any other key is an error (a typo such as `\"nodse\"` must not be silently dropped).",
        "`default` means `0.0.0.0/0` or `::/0`, by the family of `via`.",
        "(a /31 or /32 takes any address, RFC 3021); in IPv6 any",
        "sizes: at most the server's node and link limits, 256 KiB a file, 5 MiB a document.",
        "Warnings do not reject the document; the editor shows them",
        "Deployed, `c1` pings `192.168.11.2` through `r1` and the reply comes back with TTL 63.",
    ):
        assert sentence in PAGE, sentence


# --- /help/format/ ------------------------------------------------------------------------------

def _article(html: str) -> str:
    return html.split('<article class="list-page format-doc">', 1)[1].split("</article>", 1)[0]


def test_the_format_page_renders_the_doc_for_anybody():
    response = Client().get("/help/format/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<title>The topology file: format topolab/v1 · Topolab</title>" in html
    assert 'class="topbar"' in html and "topolab/topolab.css" in html  # inside the site's layout
    article = _article(html)
    assert '<h2 id="node">Node</h2>' in article and '<h3 id="endpoint">Endpoint</h3>' in article
    assert '<table class="topologies">' in article
    for name, (model, _) in walk(Document).items():
        for key in model.model_fields:
            assert f"<code>{key}</code>" in article, f"{name}.{key}"
    for kind in kinds.NAMES:
        assert f"<code>{kind}</code>" in article


def test_the_format_page_shows_for_a_signed_in_user_too(client):
    response = client.get("/help/format/")
    assert response.status_code == 200 and "Sign out" in response.content.decode()


def test_every_link_on_the_format_page_leads_somewhere():
    html = Client().get("/help/format/").content.decode()
    article = _article(html)
    ids = set(re.findall(r' id="([^"]+)"', article))
    anchors = re.findall(r'href="#([^"]+)"', article)
    assert anchors and set(anchors) <= ids
    downloads = re.findall(r'href="\.\./examples/([^"]+)"', article)
    assert downloads
    for name in downloads:  # relative to /help/format/, as on a repository browser
        assert Client().get(f"/help/examples/{name}").status_code == 200, name


def test_markdown_is_rendered_with_raw_html_escaped():
    html = render_markdown('<script>alert(1)</script>\n\nok <b onclick="x()">bold</b>\n\n[x](javascript:alert(1))\n')
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b " not in html and "&lt;b onclick" in html
    assert 'href="javascript:' not in html
    table = render_markdown("| a | b |\n|---|---|\n| `x` | y |\n")
    assert '<table class="topologies">' in table and "<code>x</code>" in table


def test_headings_get_anchors_as_on_a_repository_browser():
    html = render_markdown("# The `topolab/v1` format\n\n## Node\n\n## Node\n\n## Errors and warnings\n")
    assert '<h1 id="the-topolabv1-format">' in html
    assert '<h2 id="node">' in html and '<h2 id="node-1">' in html
    assert '<h2 id="errors-and-warnings">' in html


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_the_format_page_is_read_only(method):
    assert getattr(Client(), method)("/help/format/").status_code == 405


def test_the_api_docs_point_to_the_format_page_and_the_examples():
    description = Client().get("/api/v1/openapi.json").json()["info"]["description"]
    assert "(/help/format/)" in description
    links = re.findall(r"\]\((/help/[^)]+)\)", description)
    assert "/help/format/" in links and any(link.startswith("/help/examples/") for link in links)
    for link in links:
        assert Client().get(link).status_code == 200, link
