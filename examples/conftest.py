"""Images for the example tests, made once per test session.

The minidock pytest plugin (installed with minidock) provides `minidock_image`,
`minidock_container` and `minidock_store`. The images come from the OCI
archives that `fixtures/build_images.py` writes (built here on first use), so
the examples need neither a registry nor a Docker daemon.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ARCHIVES = REPO / "fixtures" / "cache" / "images"


def archive(name: str, file_name: str) -> Path:
    """The fixture archive `file_name`, built from Debian packages if it is missing."""
    path = ARCHIVES / file_name
    if not path.exists():
        subprocess.run([sys.executable, str(REPO / "fixtures" / "build_images.py"), name],
                       check=True)
    return path


@pytest.fixture(scope="session")
def nginx_image(minidock_image):
    return minidock_image("nginx:stable", archive=archive("nginx", "nginx-stable.oci.tar"))


@pytest.fixture(scope="session")
def redis_image(minidock_image):
    return minidock_image("redis:7", archive=archive("redis", "redis-7.oci.tar"))


@pytest.fixture(scope="session")
def site_image(minidock_image, nginx_image):
    """nginx with a page baked in: built from examples/site/Dockerfile."""
    return minidock_image("example/site:test", build=Path(__file__).parent / "site")
