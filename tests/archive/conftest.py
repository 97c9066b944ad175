"""Fixtures shared by the store, archive and image-command tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parents[1]
if str(TESTS_DIR) not in sys.path:  # the shared helpers live in tests/
    sys.path.insert(0, str(TESTS_DIR))

from store_testkit import store_at  # noqa: E402

from minidock.store import Store  # noqa: E402


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def store(root: Path) -> Store:
    return store_at(root)
