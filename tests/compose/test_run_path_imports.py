"""The compose dependencies stay off `run`'s start-up path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def test_run_command_module_imports_neither_yaml_nor_jsonschema() -> None:
    code = ("import sys, minidock.cli.run, minidock.cli.main; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('yaml', 'jsonschema')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": str(SRC)}, check=True)
    assert out.stdout.strip() == "[]"
