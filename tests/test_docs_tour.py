"""docs/tour.md is what docs/tour.py prints today: the script re-runs every command
of the tour in a store of its own and the test fails when the page is stale."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TOUR_SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "tour.py"


def test_the_tour_is_regenerated_and_matches() -> None:
    done = subprocess.run([sys.executable, str(TOUR_SCRIPT), "--check"], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
