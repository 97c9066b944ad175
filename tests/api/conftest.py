"""Fixtures for the API and pytest-plugin tests: a store holding the fixture images.

The images are the OCI archives `fixtures/build_images.py` writes (built on
first use), loaded once per session into a store of the tests' own. Tests
name their containers themselves or not at all, and must remove them; the
`store` fixture checks that none is left behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import IMAGES, fixture_archive

from minidock.api import Client
from minidock.runtime.containers import all_ids


@pytest.fixture(scope="session")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with busybox:latest, nginx:stable and redis:7 (the user's store of the
    plugin tests, and the store of the API tests)."""
    root = tmp_path_factory.mktemp("api") / "store"
    client = Client(root)
    for name in IMAGES:
        client.load(fixture_archive(name))
    root.parent.chmod(0o755)
    return root


@pytest.fixture
def store(store_root: Path) -> Iterator[Client]:
    """A Client on the shared store; fails the test that leaves a container behind."""
    before = set(all_ids(store_root))
    yield Client(store_root)
    left = set(all_ids(store_root)) - before
    for cid in left:
        Client(store_root).container(cid).remove(force=True)
    assert not left, f"the test left containers behind: {sorted(left)}"
