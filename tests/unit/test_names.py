"""Unit tests of :mod:`topology.engine.names`: every name and label the engine derives.

Nothing here needs root or Docker: the functions are pure. The point of these
tests is that whatever a user may legally type (a node name, within
``^[a-z][a-z0-9-]{0,30}$``) and whatever an operator may set as the site
(``TOPOLAB_SITE``) always give names Docker and the kernel accept, and that
cleanup can find everything again by label or alias.
"""
from __future__ import annotations

import re

import pytest

from topology.engine import names
from topology.schema.models import NODE_NAME_RE

# Docker's rule for container names (daemon/names: validContainerNamePattern).
DOCKER_NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
# The kernel keeps at most IFALIASZ - 1 = 255 bytes of an interface alias.
MAX_ALIAS_BYTES = 255

LONGEST_NODE = "n" + "9" * 29 + "-"  # 31 characters, the longest a document allows
LONGEST_SITE = "s" + "._-" * 10 + "z"  # 32 characters, the longest TOPOLAB_SITE allowed
BIG_LAB_ID = 2**63 - 1  # the largest primary key PostgreSQL's bigint (and SQLite) can hold

GOOD_SITES = ["default", "a", "0", "test-t1234", "host.example_1", "s" * 32, LONGEST_SITE]
BAD_SITES = [
    "",  # empty
    "A",  # capital letters
    "Default",
    "-site",  # must start with a letter or digit
    ".site",
    "_site",
    "s" * 33,  # one too long
    "two words",
    "a:b",  # ':' separates the parts of an interface alias
    "a/b",
    "a=b",  # '=' separates a label filter's key and value
    "site\n",  # a trailing newline must not slip past '$'
    "ünï",
]


def test_it_has_fixtures_that_are_the_longest_legal_names():
    assert len(LONGEST_NODE) == 31 and re.fullmatch(NODE_NAME_RE, LONGEST_NODE)
    assert not re.fullmatch(NODE_NAME_RE, LONGEST_NODE + "x")
    assert len(LONGEST_SITE) == 32 and names.check_site(LONGEST_SITE) == LONGEST_SITE


# -- site --------------------------------------------------------------------
@pytest.mark.parametrize("site", GOOD_SITES)
def test_it_accepts_a_good_site(site):
    assert names.check_site(site) == site


@pytest.mark.parametrize("site", BAD_SITES)
def test_it_refuses_a_bad_site_naming_the_setting(site):
    with pytest.raises(ValueError, match="TOPOLAB_SITE"):
        names.check_site(site)


@pytest.mark.parametrize("site", BAD_SITES)
def test_it_refuses_a_bad_site_in_every_name_and_label(site):
    with pytest.raises(ValueError):
        names.container_name(site, 1, "c1")
    with pytest.raises(ValueError):
        names.labels(site, 1, "c1", "alice")
    with pytest.raises(ValueError):
        names.lab_filter(site)
    with pytest.raises(ValueError):
        names.lab_filter(site, 1)
    with pytest.raises(ValueError):
        names.interface_alias(site, 1)


# -- containers ----------------------------------------------------------------
def test_it_names_a_container_after_site_lab_and_node():
    assert names.container_name("default", 7, "c1") == "topolab-default-7-c1"


def test_it_takes_the_lab_id_as_a_number_only():
    assert names.container_name("default", "7", "c1") == "topolab-default-7-c1"
    with pytest.raises(ValueError):
        names.container_name("default", "7-x", "c1")


def test_it_gives_different_labs_and_sites_different_container_names():
    made = {
        names.container_name(site, lab, node)
        for site in ("a", "b", "a1")
        for lab in (1, 11, 2)
        for node in ("c1", "c11", "r1")
    }
    assert len(made) == 27


@pytest.mark.parametrize("site", GOOD_SITES)
@pytest.mark.parametrize("lab_id", [0, 1, BIG_LAB_ID])
@pytest.mark.parametrize("node", ["a", "c1", "r-1", LONGEST_NODE])
def test_it_makes_container_names_docker_accepts(site, lab_id, node):
    name = names.container_name(site, lab_id, node)
    assert DOCKER_NAME_RE.fullmatch(name), name
    assert name.startswith("topolab-") and name.endswith(f"-{node}")


def test_it_fits_the_longest_node_and_site_in_a_docker_name():
    name = names.container_name(LONGEST_SITE, BIG_LAB_ID, LONGEST_NODE)
    assert DOCKER_NAME_RE.fullmatch(name)
    assert name == f"topolab-{LONGEST_SITE}-{BIG_LAB_ID}-{LONGEST_NODE}"


# -- labels --------------------------------------------------------------------
def test_it_labels_a_container_with_site_lab_node_and_owner():
    assert names.labels("default", 7, "c1", "alice") == {
        "topolab.site": "default",
        "topolab.lab": "7",
        "topolab.node": "c1",
        "topolab.owner": "alice",
    }


def test_it_uses_the_label_keys_of_the_design():
    assert (names.LABEL_SITE, names.LABEL_LAB, names.LABEL_NODE, names.LABEL_OWNER) == (
        "topolab.site", "topolab.lab", "topolab.node", "topolab.owner")


def test_it_writes_label_values_as_strings():
    labels = names.labels(LONGEST_SITE, BIG_LAB_ID, LONGEST_NODE, "bob@example.org")
    assert all(isinstance(v, str) for v in labels.values())
    assert labels["topolab.lab"] == str(BIG_LAB_ID)


def test_it_filters_a_site_by_label():
    assert names.lab_filter("default") == ["topolab.site=default"]


def test_it_filters_one_lab_by_site_and_lab_label():
    assert names.lab_filter("default", 7) == ["topolab.site=default", "topolab.lab=7"]


def test_it_filters_lab_zero_rather_than_the_whole_site():
    assert names.lab_filter("default", 0) == ["topolab.site=default", "topolab.lab=0"]


def test_it_makes_filters_that_select_exactly_the_labels_it_gives():
    def selects(filters, labels):
        return all(labels.get(k) == v for k, v in (f.split("=", 1) for f in filters))

    mine = names.labels("default", 7, "c1", "alice")
    assert selects(names.lab_filter("default", 7), mine)
    assert selects(names.lab_filter("default"), mine)
    assert not selects(names.lab_filter("default", 70), mine)
    assert not selects(names.lab_filter("other", 7), mine)


# -- interface aliases -----------------------------------------------------------
def test_it_gives_interfaces_a_site_and_lab_alias():
    assert names.interface_alias("default", 7) == "topolab:default:7"


@pytest.mark.parametrize("site", GOOD_SITES)
@pytest.mark.parametrize("lab_id", [0, 1, 42, BIG_LAB_ID])
def test_it_parses_back_every_alias_it_makes(site, lab_id):
    assert names.parse_alias(names.interface_alias(site, lab_id)) == (site, lab_id)


def test_it_fits_the_longest_alias_in_the_kernel_limit():
    alias = names.interface_alias(LONGEST_SITE, BIG_LAB_ID)
    assert len(alias.encode()) <= MAX_ALIAS_BYTES


@pytest.mark.parametrize("alias", [
    None,
    "",
    "eth0",
    "topolab",
    "topolab:",
    "topolab:default",
    "topolab:default:",
    "topolab:default:x",
    "topolab:default:-1",
    "topolab:default:7:extra",
    "TOPOLAB:default:7",
    "xtopolab:default:7",
    "topolab:default:²",  # str.isdigit() says yes, int() says no
    "topolab:default:٣",  # an Arabic-Indic digit: the engine never writes one
])
def test_it_ignores_an_alias_it_did_not_make(alias):
    assert names.parse_alias(alias) is None
