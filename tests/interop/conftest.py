"""The private Docker daemon the side-by-side tests compare minidock with."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dockerd import Dockerd


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockerd]:
    """A dockerd of the session's own, with the fixture images loaded; stopped at the end."""
    daemon = Dockerd(tmp_path_factory.mktemp("dockerd"))
    daemon.start()
    try:
        daemon.load_fixture_images()
        yield daemon
    finally:
        daemon.stop()
