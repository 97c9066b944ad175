"""The benchmark harness: alternation, statistics, targets, and failures reported per figure."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from harness import (
    FAILED,
    MEASURED,
    NOT_AVAILABLE,
    Bench,
    CommandFailed,
    NotAvailable,
    Row,
    Side,
    Stats,
    alternate,
    command,
    curve,
    evaluate_rows,
    execute,
    figure,
    mounts_under,
    peak_rss_mb,
    remove_tree,
    sh,
)


def make_bench(tmp_path: Path) -> Bench:
    return Bench(repo=tmp_path, work=tmp_path, quick=True, env={"MINIDOCK_ROOT": "/x"},
                 minidock=["minidock"])


def test_sides_alternate_a_b_a_b_after_the_warmup() -> None:
    calls: list[str] = []
    sides = [Side("a", lambda: calls.append("a")), Side("b", lambda: calls.append("b"))]
    samples = alternate(sides, runs=3, warmup=1)
    assert calls == ["a", "b"] * 4
    assert {k: len(v) for k, v in samples.items()} == {"a": 3, "b": 3}


def test_prepare_runs_before_each_run_and_is_not_timed() -> None:
    events: list[str] = []

    def prepare() -> None:
        events.append("prepare")
        time.sleep(0.2)

    samples = alternate([Side("a", lambda: events.append("run"), prepare=prepare)],
                        runs=2, warmup=0)
    assert events == ["prepare", "run", "prepare", "run"]
    assert max(samples["a"]) < 0.2


def test_a_side_may_report_its_own_value() -> None:
    values = iter([10.0, 30.0, 20.0])
    samples = alternate([Side("rps", lambda: next(values), reports_value=True)],
                        runs=3, warmup=0)
    assert samples == {"rps": [10.0, 30.0, 20.0]}


def test_a_value_side_that_returns_nothing_is_an_error() -> None:
    with pytest.raises(TypeError, match="must return"):
        alternate([Side("rps", lambda: None, reports_value=True)], runs=1, warmup=0)


def test_bad_alternation_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        alternate([Side("a", lambda: None), Side("a", lambda: None)], runs=1, warmup=0)
    with pytest.raises(ValueError, match="runs"):
        alternate([Side("a", lambda: None)], runs=0, warmup=0)


def test_stats_are_median_min_and_max() -> None:
    stats = Stats.of([3.0, 1.0, 2.0, 10.0])
    assert (stats.median, stats.min, stats.max) == (2.5, 1.0, 10.0)
    assert stats.as_dict()["runs"] == [3.0, 1.0, 2.0, 10.0]
    with pytest.raises(ValueError):
        Stats.of([])


def test_rows_compare_medians_against_their_targets() -> None:
    sides = {"minidock": Stats.of([1.0, 2.0, 3.0]), "podman": Stats.of([8.0, 10.0, 12.0])}
    rows = evaluate_rows([Row(anchor="podman", target=0.15), Row(anchor="podman", target=0.25),
                          Row(anchor="podman"), Row(target=1.5), Row(target=3.0, at_least=True)],
                         sides)
    assert [r.value for r in rows] == [0.2, 0.2, 0.2, 2.0, 2.0]
    assert [r.met for r in rows] == [False, True, None, False, False]
    assert rows[0].row.target_text("s") == "<= 0.15x"
    assert rows[3].row.target_text("s") == "<= 1.5 s"
    assert rows[4].row.target_text("req/s") == ">= 3 req/s"


def test_a_row_naming_an_unmeasured_side_is_an_error() -> None:
    with pytest.raises(KeyError, match="buildah"):
        evaluate_rows([Row(anchor="buildah")], {"minidock": Stats.of([1.0])})


def test_execute_measures_a_figure(tmp_path: Path) -> None:
    @figure("demo.fast", "demo", rows=[Row(anchor="slow", target=0.5, issue="x")])
    def demo(ctx):  # type: ignore[no-untyped-def]
        ctx.note("a note")
        return ctx.alternate([Side("minidock", lambda: None),
                              Side("slow", lambda: time.sleep(0.01))])

    result = execute(demo, make_bench(tmp_path), runs=2, warmup=0, scratch=tmp_path)
    assert result.status == MEASURED
    assert len(result.sides["slow"].values) == 2
    assert result.rows[0].met is True
    assert result.notes == ["a note"]
    assert result.as_dict()["rows"][0]["target"] == "<= 0.5x"


def test_a_failing_command_fails_its_figure_with_the_output(tmp_path: Path) -> None:
    cleaned: list[bool] = []

    @figure("demo.broken", "broken", rows=[Row(anchor="podman", target=0.25)])
    def broken(ctx):  # type: ignore[no-untyped-def]
        scratch = ctx.tmpdir("work")
        (scratch / "file").write_text("x")
        ctx.cleanup.callback(cleaned.append, True)
        command([sys.executable, "-c", "import sys; sys.stderr.write('no such command: run');"
                 "sys.exit(2)"])()
        return {}

    result = execute(broken, make_bench(tmp_path), scratch=tmp_path)
    assert result.status == FAILED
    assert "exited 2" in result.error and "no such command: run" in result.error
    assert cleaned == [True]
    assert not (tmp_path / "work").exists()
    # the declared target stays in the results, unmeasured
    assert [(r.row.anchor, r.value, r.met) for r in result.rows] == [("podman", None, None)]


def test_any_exception_fails_only_its_figure(tmp_path: Path) -> None:
    @curve("demo.curve", "curve", columns=("a",))
    def bad(ctx):  # type: ignore[no-untyped-def]
        raise ZeroDivisionError("boom")

    result = execute(bad, make_bench(tmp_path))
    assert result.status == FAILED
    assert result.error.startswith("ZeroDivisionError: boom")


def test_not_available_is_reported_with_its_reason(tmp_path: Path) -> None:
    @figure("demo.na", "n/a", rows=[Row(anchor="podman", target=0.25)])
    def na(ctx):  # type: ignore[no-untyped-def]
        raise NotAvailable("the Python API does not exist yet")

    result = execute(na, make_bench(tmp_path))
    assert result.status == NOT_AVAILABLE
    assert result.error == "the Python API does not exist yet"


def test_curves_return_their_table(tmp_path: Path) -> None:
    @curve("demo.table", "table", columns=("n", "seconds"))
    def table(ctx):  # type: ignore[no-untyped-def]
        return [(1, "0.1"), (2, "0.2")]

    result = execute(table, make_bench(tmp_path))
    assert result.status == MEASURED
    assert result.table == [[1, "0.1"], [2, "0.2"]]
    assert result.as_dict()["columns"] == ["n", "seconds"]


def test_sh_reports_the_failing_command_and_its_output() -> None:
    with pytest.raises(CommandFailed) as info:
        sh([sys.executable, "-c", "print('out'); import sys; sys.exit(3)"])
    assert info.value.returncode == 3
    assert "out" in str(info.value)
    with pytest.raises(CommandFailed) as info:
        sh(["/nonexistent/tool"])
    assert info.value.returncode == 127


def test_peak_rss_sees_memory_a_process_held() -> None:
    held = peak_rss_mb([sys.executable, "-c", "b = bytearray(200 * 1024 * 1024); b[::4096] = "
                        "b'x' * len(b[::4096])"])
    idle = peak_rss_mb([sys.executable, "-c", "pass"])
    assert held >= 200 > idle
    with pytest.raises(CommandFailed):
        peak_rss_mb([sys.executable, "-c", "raise SystemExit(4)"])


def test_bench_builds_minidock_commands_and_picks_sizes(tmp_path: Path) -> None:
    bench = make_bench(tmp_path)
    assert bench.md("run", "--rm", tmp_path) == ["minidock", "run", "--rm", str(tmp_path)]
    assert bench.pick(1, 100) == 1
    assert bench.env_with(MINIDOCK_ROOT="/y")["MINIDOCK_ROOT"] == "/y"
    assert bench.env["MINIDOCK_ROOT"] == "/x"


@pytest.mark.root
def test_remove_tree_detaches_mounts_instead_of_deleting_through_them(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep me")
    scratch = tmp_path / "scratch with space"
    (scratch / "rootfs" / "mnt").mkdir(parents=True)
    sh(["mount", "--bind", outside, scratch / "rootfs" / "mnt"])
    sh(["mount", "-t", "tmpfs", "tmpfs", scratch / "rootfs"])  # stacked over the bind's parent
    try:
        assert len(mounts_under(scratch)) == 2
        remove_tree(scratch)
    finally:
        for point in mounts_under(scratch):
            sh(["umount", "-l", point], check=False)
    assert not scratch.exists()
    assert (outside / "precious").read_text() == "keep me"


def test_finish_runs_untimed_after_each_run_even_when_the_run_fails() -> None:
    events: list[str] = []

    def finish() -> None:
        events.append("finish")
        time.sleep(0.2)

    samples = alternate([Side("a", lambda: events.append("run"), finish=finish)],
                        runs=2, warmup=0)
    assert events == ["run", "finish", "run", "finish"]
    assert max(samples["a"]) < 0.2

    def broken() -> None:
        raise RuntimeError("container did not start")

    with pytest.raises(RuntimeError):
        alternate([Side("b", broken, finish=lambda: events.append("cleaned"))],
                  runs=1, warmup=0)
    assert events[-1] == "cleaned"
