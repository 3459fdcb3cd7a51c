"""Placement's pure part: :func:`topology.placement.choose` on fake hosts, and what a document asks for."""
from __future__ import annotations

import pytest

from topology.placement import HostUnavailable, HostView, Need, NoRoom, choose, need_of, reference

BASE = "topolab/base:latest"
FRR = "topolab/frr:latest"


def host(name: str, **kw) -> HostView:
    defaults = {"queue": f"lab.{name}", "name": name, "images": frozenset({BASE, FRR}), "memory_cap_mb": 4096}
    return HostView(**{**defaults, **kw})


NEED = Need(nodes=4, memory_mb=1024, images=frozenset({BASE}))


def test_it_takes_the_host_left_the_emptiest():
    small = host("small", memory_cap_mb=2048)
    big = host("big", memory_cap_mb=8192, memory_used_mb=2048)
    assert choose(NEED, [small, big]) is big
    # The share left free counts, not the megabytes: 3/4 free of 4 GB beats 1/2 free of 8 GB.
    assert choose(NEED, [host("a", memory_cap_mb=8192, memory_used_mb=3072), host("b")]).name == "b"


def test_a_node_cap_counts_as_much_as_memory():
    capped = host("capped", max_nodes=8, nodes_used=2)          # 2 of 8 nodes left after: 25 % free
    roomy = host("roomy", memory_used_mb=2048)                 # 1 GB of 4 left after: 25 % free
    assert choose(NEED, [capped, roomy]).name == "capped"       # a tie: by name
    assert choose(NEED, [host("capped", max_nodes=8, nodes_used=3), roomy]).name == "roomy"


def test_ties_go_by_name_so_that_placement_is_repeatable():
    assert choose(NEED, [host("b"), host("a"), host("c")]).name == "a"


@pytest.mark.parametrize("unfit, why", [
    (host("x", alive=False), "unreachable"),
    (host("x", drained=True), "drained"),
    (host("x", images=frozenset({FRR})), "does not have the image topolab/base:latest"),
    (host("x", max_nodes=6, nodes_used=3), "its labs hold 3 of its 6 nodes and this lab needs 4"),
    (host("x", memory_used_mb=3500), "its labs ask for 3500 of its 4096 MB and this lab needs 1024 MB"),
])
def test_it_never_chooses_a_host_that_cannot_take_the_lab(unfit, why):
    assert choose(NEED, [unfit, host("y", memory_cap_mb=1024)]).name == "y"
    assert why in unfit.why_not(NEED)


def test_a_lab_that_just_fits_goes_there():
    assert choose(NEED, [host("x", max_nodes=8, nodes_used=4, memory_used_mb=3072)]).name == "x"


def test_with_no_host_alive_it_is_503_naming_them():
    with pytest.raises(HostUnavailable) as refused:
        choose(NEED, [host("a", alive=False), host("b", alive=False)])
    assert refused.value.status == 503
    assert "no lab host is running" in refused.value.message and "'a' (queue lab.a)" in refused.value.message


def test_with_no_host_fitting_it_is_409_saying_why_for_each():
    with pytest.raises(NoRoom) as refused:
        choose(NEED, [host("a", drained=True), host("b", memory_used_mb=4000), host("c", alive=False)])
    message = refused.value.message
    assert refused.value.status == 409
    assert "'a' (queue lab.a): it is drained" in message and "'b' (queue lab.b): it is full" in message
    assert "'c'" not in message  # a dead host is not a candidate: it is not listed as full


def test_a_pinned_host_is_chosen_even_when_another_is_emptier():
    pinned = host("pinned", memory_used_mb=2048)
    assert choose(NEED, [host("empty"), pinned], pinned, pin_of="the admin pinned for alice") is pinned


@pytest.mark.parametrize("pinned, status, why", [
    (host("p", alive=False), 503, "it is unreachable"),
    (host("p", drained=True), 409, "it is drained"),
    (host("p", max_nodes=4, nodes_used=1), 409, "it is full: its labs hold 1 of its 4 nodes"),
    (host("p", images=frozenset()), 409, "it does not have the image topolab/base:latest"),
])
def test_a_pinned_host_that_cannot_take_it_refuses_and_never_goes_elsewhere(pinned, status, why):
    with pytest.raises((HostUnavailable, NoRoom)) as refused:
        choose(NEED, [host("empty"), pinned], pinned, pin_of="the admin pinned for alice")
    assert refused.value.status == status
    assert refused.value.message.startswith("the host 'p' (queue lab.p) that the admin pinned for alice cannot take "
                                            f"this lab: {why}")


def test_a_document_asks_for_its_nodes_their_memory_and_topolab_images():
    document = {"nodes": [{"name": "a", "kind": "host"}, {"name": "b", "kind": "frr"},
                          {"name": "c", "kind": "router", "resources": {"memory_mb": 64}},
                          {"name": "d", "image": "alpine:3.20"}, {"name": "e", "image": "topolab/base"}]}
    need = need_of(document, default_memory_mb=256)
    assert need == Need(nodes=5, memory_mb=256 * 4 + 64, images=frozenset({BASE, FRR}))  # not alpine: not built here


def test_an_image_reference_gets_its_tag():
    assert reference("topolab/base") == BASE and reference("topolab/base:1") == "topolab/base:1"
    assert reference("registry:5000/x") == "registry:5000/x:latest" and reference("x@sha256:ab") == "x@sha256:ab"
