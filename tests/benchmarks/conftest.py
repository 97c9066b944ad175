"""The benchmark harness lives in benchmarks/ as scripts; make its modules importable."""

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))


def pytest_runtest_setup(item):  # type: ignore[no-untyped-def]
    import os

    import pytest

    if item.get_closest_marker("root") is not None and os.geteuid() != 0:
        pytest.skip("needs root")
