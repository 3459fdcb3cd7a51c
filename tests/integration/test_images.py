"""The node images, checked with the real Docker Engine: they hold the tools a lab needs.

compose/test builds the images before the tests run; the ``built`` fixture
builds whatever is still missing, so this module also runs on its own.
"""
import dataclasses
import io
import tarfile
import time

import pytest

from topology import images
from topology.engine.docker_runtime import DockerRuntime, RuntimeStepError
from topology.schema.models import DEFAULT_IMAGES

pytestmark = pytest.mark.integration

TEST_LABEL = {"topolab.test": "images"}


@pytest.fixture(scope="module")
def runtime():
    """The Docker runtime; at the end, removes any container these tests left (found by label)."""
    runtime = DockerRuntime(timeout=900)
    yield runtime
    for container in runtime.list(["topolab.test=images"]):
        runtime.remove(container.id)


@pytest.fixture(scope="module")
def built(runtime):
    """Every recipe's image, built if it is missing or outdated."""
    return images.build_images(log=print, runtime=runtime)


def run_in(runtime, image: str, script: str) -> str:
    """Run ``script`` with bash in a throwaway container with no network; return its output."""
    out = runtime.client.containers.run(
        image, ["bash", "-c", script], network_mode="none", labels=TEST_LABEL,
        remove=True, stdout=True, stderr=True,
    )
    return out.decode()


def test_it_has_the_network_tools(runtime, built):
    out = run_in(runtime, "topolab/base:latest", """
        set -e
        for tool in sh bash ip ping tracepath traceroute tcpdump nc ethtool iperf3 mtr nft iptables ps less vi \
                    ifconfig route netstat arp brctl socat curl dig nslookup; do
            echo "$tool=$(command -v "$tool")"
        done
        ip -o link show lo >/dev/null
        ping -c 1 -W 2 127.0.0.1 >/dev/null && echo "ping=ok"
        tcpdump --version >/dev/null 2>&1 && echo "tcpdump=ok"
    """)
    found = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    missing = [tool for tool, path in found.items() if not path]
    assert not missing, f"missing from topolab/base: {missing}\n{out}"
    assert found.get("ping") == "ok" and found.get("tcpdump") == "ok", out


def test_it_has_frr_in_the_frr_image(runtime, built):
    out = run_in(runtime, "topolab/frr:latest", "command -v vtysh ip tcpdump && test -x /usr/lib/frr/zebra && echo ok")
    assert out.strip().endswith("ok"), out


def test_it_labels_the_images_and_runs_sleep(runtime, built):
    for recipe in images.RECIPES.values():
        config = runtime.api.inspect_image(recipe.reference)["Config"]
        assert config["Labels"][images.LABEL_RECIPE] == images.recipe_digest(recipe)
        assert config["Labels"][images.LABEL_IMAGE] == recipe.name
        assert config["Cmd"] == ["sleep", "infinity"]
        assert any(e.startswith("PATH=") for e in config["Env"]), "docker exec needs PATH"


def test_it_lists_the_images_as_up_to_date(runtime, built):
    statuses = {s.name: s for s in images.list_images(runtime)}
    assert set(statuses) == set(images.RECIPES)
    for status in statuses.values():
        assert status.present and status.up_to_date, status
        assert status.image_id.startswith("sha256:") and status.size_bytes > 0 and status.created


def test_it_skips_a_second_build_quickly(runtime, built):
    lines = []
    started = time.monotonic()
    statuses = images.build_images(log=lines.append, runtime=runtime)
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"a build with nothing to do took {elapsed:.1f}s:\n" + "\n".join(lines)
    assert [s.image_id for s in statuses] == [s.image_id for s in built]
    for name in images.RECIPES:
        assert any(name in line and "up to date" in line for line in lines), lines


def test_it_imports_inspects_and_removes_an_image_through_the_runtime(runtime):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("hello")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    data = buf.getvalue()
    reference = "topolab-test/images-tiny:latest"
    with pytest.raises(RuntimeStepError, match="invalid tar header"):
        runtime.import_image(iter([b"not a tar" * 100]), "topolab-test/images-tiny", "latest", [])
    with pytest.raises(RuntimeStepError, match="not a valid change command"):
        runtime.import_image(iter([data]), "topolab-test/images-tiny", "latest", ["BOGUS x"])
    runtime.import_image(iter([data[:700], data[700:]]), "topolab-test/images-tiny", "latest",
                         ["LABEL topolab.test=images"])
    info = runtime.image_info(reference)
    try:
        assert info["id"].startswith("sha256:") and info["labels"] == TEST_LABEL
        assert info["size"] == 3 and info["created"]
    finally:
        assert runtime.remove_image(info["id"]) is None
    assert runtime.image_info(reference) is None
    assert runtime.remove_image(info["id"]) is None  # already gone


def test_it_keeps_the_digest_stable():
    for recipe in images.RECIPES.values():
        again = dataclasses.replace(recipe, packages=tuple(reversed(recipe.packages)))
        assert images.recipe_digest(recipe) == images.recipe_digest(again)
    base = images.RECIPES["topolab/base"]
    assert images.recipe_digest(base) != images.recipe_digest(images.RECIPES["topolab/frr"])


def test_it_changes_the_digest_with_what_shapes_the_image(monkeypatch):
    base = images.RECIPES["topolab/base"]
    digest = images.recipe_digest(base)
    assert "whois" not in base.packages
    assert images.recipe_digest(dataclasses.replace(base, packages=base.packages + ("whois",))) != digest
    assert images.recipe_digest(dataclasses.replace(base, packages=base.packages[1:])) != digest
    assert images.recipe_digest(dataclasses.replace(base, suite="trixie")) != digest
    monkeypatch.setattr(images, "BUILD_STEPS_VERSION", images.BUILD_STEPS_VERSION + 1)
    assert images.recipe_digest(base) != digest


def test_it_has_a_recipe_for_every_kind():
    for kind, image in DEFAULT_IMAGES.items():
        assert image in images.RECIPES, f"kind {kind} runs {image}, which no recipe builds"
        assert kind in images.RECIPES[image].kinds


def test_it_refuses_an_unknown_image():
    with pytest.raises(images.ImageBuildError, match="unknown image"):
        images.build_images(["topolab/nope"], log=lambda line: None)
