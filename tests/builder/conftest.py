"""Fixtures for builder tests: a fresh store and a busybox base image made on the spot."""

from __future__ import annotations

from pathlib import Path

import pytest
from build_helpers import BUSYBOX_DIRS, add_image, busybox_files

from minidock.settings import Settings
from minidock.store.store import Image, Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    settings = Settings.from_env({}, root=tmp_path / "store", compression="zstd")
    return Store(settings).ensure()


@pytest.fixture
def busybox(store: Store) -> Image:
    """busybox:latest in the test store."""
    return add_image(store, busybox_files(), tag="busybox:latest", dirs=BUSYBOX_DIRS)
