"""Fixtures of the deployment tests: Podman with its API socket, and every image built once per run."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compose.stack import Podman, build_images

NEEDED = ("podman", "docker-compose", "mmdebstrap")


@pytest.fixture(scope="session")
def podman() -> Iterator[Podman]:
    missing = [tool for tool in NEEDED if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"missing {missing}: apt-get install podman runc docker-compose mmdebstrap (.ci/run does)")
    workdir = Path(tempfile.mkdtemp(prefix="mediaconv-podman-"))
    engine = Podman(workdir)
    engine.start()
    yield engine
    engine.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def image_variables(podman: Podman) -> dict[str, str]:
    return build_images(podman)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """A failed step shows the last lines of every container's log: the stack is gone afterwards."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        for name in ("stack", "site"):
            project = item.funcargs.get(name) if hasattr(item, "funcargs") else None
            if project is not None and project.name in project.podman.projects:
                report.sections.append((f"container logs of {project.name}", project.logs(tail=60)))
