"""Fixtures for the runtime tests (helpers live in runtime_helpers.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from runtime_helpers import DRIVERS, Minidock, add_busybox_image, container_ids

from minidock.settings import Settings
from minidock.store.store import Store


@pytest.fixture(scope="session")
def image_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with `busybox`, `bbvol` (VOLUME /data, EXPOSE 8000) shared by the tests.

    Tests use their own container names and must remove what they create.
    """
    root = tmp_path_factory.mktemp("runtime") / "store"
    store = Store(Settings.from_env({}, root=root)).ensure()
    add_busybox_image(store, "busybox:latest")
    add_busybox_image(store, "bbvol:latest", config={
        "Volumes": {"/data": {}}, "ExposedPorts": {"8000/tcp": {}},
        "Cmd": ["httpd", "-f", "-p", "8000", "-h", "/var/www"], "StopSignal": "SIGKILL"})
    os.chmod(root.parent, 0o755)
    return root


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def md(image_store: Path, driver: str) -> Iterator[Minidock]:
    """`minidock` on the shared store; checks that the test left no container behind."""
    tool = Minidock(image_store, driver)
    before = set(container_ids(image_store))
    yield tool
    left = set(container_ids(image_store)) - before
    for cid in left:
        tool("rm", "-f", "-v", cid)
    assert not left, f"test left containers behind: {left}"


