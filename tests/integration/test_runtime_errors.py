"""What the real Docker Engine answers for a command in a container that is stopped or gone, as
:class:`DockerRuntime` reports it: :class:`ContainerGone` (the API's 409), not another failure (502).

(tests/unit/test_docker_runtime.py checks the same with a fake client; this checks that the
engine's real answers are the ones the fake gives.)
"""
from __future__ import annotations

import pytest
from django.conf import settings

from topology.engine import names
from topology.engine.docker_runtime import ContainerGone, DockerRuntime
from topology.images import RECIPES

pytestmark = pytest.mark.integration


@pytest.fixture
def created():
    """A container of this run's site, created and never started; removed after the test."""
    runtime = DockerRuntime()
    site, lab = settings.TOPOLAB_SITE, 999_001  # no lab of the database: the leak check removes it if need be
    container = runtime.create(
        name=f"{names.container_name(site, lab, 'c1')}-errors", image=RECIPES["topolab/base"].reference,
        labels=names.labels(site, lab, "c1", "nobody"), env={}, command=["sleep", "60"],
        cpus=0.5, memory_mb=64, pids=64, capabilities=())
    yield runtime, container
    runtime.remove(container)


def test_a_stopped_container_is_container_gone(created):
    runtime, container = created
    with pytest.raises(ContainerGone, match="cannot run the command: .*is not running"):
        runtime.exec(container, ["true"])
    with pytest.raises(ContainerGone, match="cannot open a console: .*is not running"):
        runtime.open_console(container, ["/bin/sh"], 80, 24)
    assert runtime.labels_and_running(container)[1] is False


def test_a_removed_container_is_container_gone(created):
    runtime, container = created
    runtime.remove(container)
    for call in (lambda: runtime.exec(container, ["true"]),
                 lambda: runtime.open_console(container, ["/bin/sh"], 80, 24),
                 lambda: runtime.follow_logs(container)):
        with pytest.raises(ContainerGone, match="^the node's container is gone$"):
            call()
    assert runtime.labels_and_running(container) is None
