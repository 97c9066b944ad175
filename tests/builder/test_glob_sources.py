"""COPY globs that make a backtracking regex take exponential time finish at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]

SCRIPT = """
import sys
from pathlib import Path
from minidock.builder.context import BuildContext
from minidock.builder.pathmatch import match
from minidock.builder.sources import ContextTree, match_sources

stars = "a*" * 30
print(match(stars + "c", "a" * 60), match(stars, "a" * 60))
tree = ContextTree(BuildContext.from_directory(sys.argv[1]))
print([m.name for m in match_sources(tree, stars + "b", "COPY")])
"""


def test_copy_glob_with_many_stars(tmp_path: Path) -> None:
    (tmp_path / ("a" * 60)).write_text("no\n")
    (tmp_path / ("a" * 59 + "b")).write_text("yes\n")
    try:
        done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], cwd=ROOT,
                              capture_output=True, text=True, timeout=10, check=True)
    except subprocess.TimeoutExpired:
        pytest.fail("matching a 30-star COPY glob did not finish in 10 s")
    assert done.stdout.splitlines() == ["False True", f"['{'a' * 59}b']"]
