"""Compose projects written into a temporary directory and run through the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from compose_testkit import Run, write_tree

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def compose(tmp_path: Path) -> Run:
    """`compose(files, *args, env=..., cwd=...)`: write files, run `python -m minidock compose`."""
    project = tmp_path / "proj"
    project.mkdir()

    def run(files: dict[str, str], *args: str, env: dict[str, str] | None = None,
            cwd: str = ".") -> subprocess.CompletedProcess[str]:
        write_tree(project, files)
        environ = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path),
                   "PYTHONPATH": str(SRC), **(env or {})}
        return subprocess.run([sys.executable, "-m", "minidock", "compose", *args],
                              cwd=project / cwd, env=environ, capture_output=True, text=True,
                              timeout=60)

    run.project = project  # type: ignore[attr-defined]
    return run
