"""Suite-wide checks: a whole-suite run fails when a test file is never collected.

pytest silently passes over directories such as `build` (its default
`norecursedirs`) and files its patterns miss; a file that is never collected
never runs in CI.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
_collected: set[Path] = set()
_skipped_modules: list[str] = []  # node ids of modules skipped whole, with their reason shown


def pytest_itemcollected(item: pytest.Item) -> None:
    _collected.add(Path(item.path).resolve())


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.skipped and report.nodeid.endswith(".py"):
        _skipped_modules.append(report.nodeid)


def _whole_suite(config: pytest.Config) -> bool:
    """True when pytest was asked for all of tests/ (no narrower paths or node ids)."""
    paths = [a for a in config.args if not a.startswith("-")]
    return all((config.invocation_params.dir / a).resolve() in (TESTS, TESTS.parent)
               for a in paths)


def pytest_collection_finish(session: pytest.Session) -> None:
    if not _whole_suite(session.config):
        return
    skipped = {(session.config.rootpath / nodeid).resolve() for nodeid in _skipped_modules}
    lost = sorted({p.resolve() for p in TESTS.rglob("test_*.py")} - _collected - skipped)
    if lost:
        names = ", ".join(str(p.relative_to(TESTS.parent)) for p in lost)
        pytest.exit(f"test files that pytest never collected: {names}", returncode=1)
