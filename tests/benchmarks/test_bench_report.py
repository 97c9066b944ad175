"""The benchmark command: selecting figures, the reports it writes, its exit status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import run
from harness import FAILED, MEASURED, NOT_AVAILABLE, Result, Row, RowResult, Stats, curve, figure


def _fig(name: str):  # type: ignore[no-untyped-def]
    return figure(name, name)(lambda ctx: {})


ITEMS = [_fig("run.true"), _fig("build.cold.copy"), _fig("build.cached.copy"),
         curve("scale.steps", "steps", columns=("n",))(lambda ctx: [])]


def test_only_selects_by_name_glob_or_prefix() -> None:
    assert [i.name for i in run.select(ITEMS, None)] == [i.name for i in ITEMS]
    assert [i.name for i in run.select(ITEMS, ["run.true"])] == ["run.true"]
    assert [i.name for i in run.select(ITEMS, ["build.*"])] == ["build.cold.copy",
                                                                 "build.cached.copy"]
    assert [i.name for i in run.select(ITEMS, ["scale.", "run.true"])] == ["run.true",
                                                                           "scale.steps"]


def test_only_with_an_unknown_name_is_an_error() -> None:
    with pytest.raises(run.SetupError, match="nosuch"):
        run.select(ITEMS, ["nosuch"])


def test_every_declared_figure_has_a_unique_name() -> None:
    names = [item.name for item in run.load_items()]
    assert len(names) == len(set(names))
    # every figure the issues name is declared
    assert {"parse.5000", "layer.zstd", "build.cold.copy", "build.cached.run-heavy",
            "build.changed.multi-stage", "build.peak-memory", "run.true", "run.ports.keepalive",
            "run.ports.connections", "archive.save", "archive.load", "registry.push",
            "registry.pull", "api.start-to-ready", "scale.context-files", "scale.steps",
            "scale.layers", "scale.shared-base"} <= set(names)


def results() -> list[Result]:
    sides = {"minidock": Stats.of([0.05, 0.04, 0.06]), "tar | zstd -3": Stats.of([0.5, 0.4])}
    ok = Result(name="layer.zstd", title="layers", kind="figure", status=MEASURED, seconds=1.0,
                unit="s", sides=sides,
                rows=[RowResult(Row(anchor="tar | zstd -3", target=2.0, issue="4/7"), 0.11,
                                True)],
                notes=["tree: 1,005 files"])
    missed = Result(name="run.true", title="run", kind="figure", status=FAILED, seconds=0.2,
                    unit="s", rows=[RowResult(Row(anchor="podman", target=0.15), None, None)],
                    error="`minidock run --rm busybox true` exited 2:\nNo such command 'run'.")
    na = Result(name="api.start", title="api", kind="figure", status=NOT_AVAILABLE,
                seconds=0.0, unit="s", error="minidock.run does not exist yet")
    table = Result(name="scale.steps", title="steps", kind="curve", status=MEASURED,
                   seconds=3.0, columns=("steps", "seconds"), table=[[10, "1.0"], [50, "4.0"]])
    return [ok, missed, na, table]


def info() -> dict[str, object]:
    return {"started": "2026-01-01 00:00 UTC", "seconds": 12.0,
            "machine": {"cpu": "Test CPU", "cores": 2, "memory_gib": 4.0, "kernel": "6.1",
                        "debian": "12.11", "python": "3.11.2", "load_average": [0.1, 0, 0],
                        "commit": "abc1234", "tools": {"podman": "podman version 4.3.1"}}}


def test_the_markdown_report_has_targets_failures_curves_and_machine() -> None:
    text = run.render_markdown(info(), results(), {"mode": "quick", "runs_text": "one run"})
    assert "Test CPU, 2 cores, 4.0 GiB, Linux 6.1, Debian 12.11, Python 3.11.2" in text
    assert "| layer.zstd | 50.0 ms | tar \\| zstd -3 | 450.0 ms | 0.11x | <= 2x | yes | 4/7 |" \
        in text
    assert "| run.true | - | podman | - | - | <= 0.15x | failed | - |" in text
    assert "**run.true** (failed): `minidock run --rm busybox true` exited 2:" in text
    assert "**api.start** (not available): minidock.run does not exist yet" in text
    assert "| steps | seconds |" in text and "| 50 | 4.0 |" in text
    assert "- tree: 1,005 files" in text
    assert "| podman | podman version 4.3.1 |" in text


def test_reports_are_written_as_markdown_and_json(tmp_path: Path) -> None:
    md, js = run.write_reports(tmp_path / "out", info(), results(), {"mode": "quick",
                                                                      "runs_text": "one run"})
    assert md.name == "latest.md" and js.name == "latest.json"
    data = json.loads(js.read_text())
    assert data["machine"]["cpu"] == "Test CPU"
    by_name = {r["name"]: r for r in data["results"]}
    assert by_name["layer.zstd"]["sides"]["minidock"]["median"] == pytest.approx(0.05)
    assert by_name["layer.zstd"]["rows"][0] == {"subject": "minidock", "anchor": "tar | zstd -3",
                                                "issue": "4/7", "ratio": 0.11,
                                                "target": "<= 2x", "met": True}
    assert by_name["run.true"]["status"] == "failed"
    assert by_name["scale.steps"]["table"] == [[10, "1.0"], [50, "4.0"]]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["latest.json", "latest.md"]


def test_exit_status_fails_only_when_a_figure_could_not_be_measured() -> None:
    ok, failed, na, table = results()
    missed_target = Result(name="x", title="x", kind="figure", status=MEASURED, seconds=0,
                           rows=[RowResult(Row(anchor="a", target=0.1), 5.0, False)])
    assert run.exit_status([ok, na, table, missed_target]) == 0
    assert run.exit_status([ok, failed]) == 1
