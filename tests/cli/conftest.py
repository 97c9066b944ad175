"""Fixtures shared by the store, archive and image-command tests (tests/ is on pythonpath)."""

from store_testkit import root, store  # noqa: F401
