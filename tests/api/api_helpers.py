"""The fixture images of the API and plugin tests, for conftest.py and the tests.

In a module of its own because `from conftest import ...` picks whichever
conftest.py pytest imported last when several test directories run together.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARCHIVES = REPO / "fixtures" / "cache" / "images"
IMAGES = {"busybox": "busybox-latest.oci.tar", "nginx": "nginx-stable.oci.tar",
          "redis": "redis-7.oci.tar"}


def fixture_archive(name: str) -> Path:
    """The OCI archive of fixture image `name`, built on first use."""
    path = ARCHIVES / IMAGES[name]
    if not path.exists():
        subprocess.run([sys.executable, str(REPO / "fixtures" / "build_images.py"), name],
                       check=True)
    return path
