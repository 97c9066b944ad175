"""The benchmark harness: figures, side-by-side alternation, statistics, results.

Every performance target of minidock is a ratio against a tool users would
otherwise pick (podman, buildah, skopeo, ...), so both must be measured in the
same run on the same machine, interleaved: a background job or a warm page
cache then hits both sides alike instead of skewing one. This module holds the
one implementation of that loop (`alternate`), the statistics (`Stats`), the
model of a figure and its targets (`Figure`, `Row`), scale curves (`Curve`),
and the helpers figures use to run commands. `run.py` drives it; the per-area
`bench_*.py` modules and `scale.py` declare figures with `@figure` / `@curve`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import statistics
import subprocess
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# -- errors -------------------------------------------------------------------


class NotAvailable(Exception):
    """The figure cannot be measured here for a stated reason that is not a fault
    (the feature belongs to a later issue, an optional tool is missing)."""


class CommandFailed(Exception):
    """A command a figure depends on exited non-zero: the figure is broken."""

    def __init__(self, argv: Sequence[str], returncode: int, output: str):
        self.argv = list(argv)
        self.returncode = returncode
        self.output = output
        tail = "\n".join(output.strip().splitlines()[-12:])
        super().__init__(f"`{shlex.join(self.argv)}` exited {returncode}"
                         + (f":\n{tail}" if tail else ""))


# -- commands -----------------------------------------------------------------

DEFAULT_TIMEOUT = 1800.0


def sh(argv: Sequence[str | os.PathLike[str]], *, env: Mapping[str, str] | None = None,
       cwd: str | os.PathLike[str] | None = None, input: bytes | None = None,
       timeout: float = DEFAULT_TIMEOUT, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    """Run a command with its output captured; raise CommandFailed when it fails.

    Output is captured rather than shown so that terminal writes cost both
    sides of a comparison nothing, and so a failure can report its last lines.
    """
    args = [os.fspath(a) for a in argv]
    try:
        done = subprocess.run(args, env=None if env is None else dict(env), cwd=cwd, input=input,
                              capture_output=True, timeout=timeout)
    except FileNotFoundError as exc:
        raise CommandFailed(args, 127, f"{args[0]}: command not found") from exc
    except subprocess.TimeoutExpired as exc:
        output = (exc.stderr or b"").decode(errors="replace")
        raise CommandFailed(args, -1, f"timed out after {timeout:.0f} s\n{output}") from exc
    if check and done.returncode != 0:
        output = (done.stdout + b"\n" + done.stderr).decode(errors="replace")
        raise CommandFailed(args, done.returncode, output)
    return done


def command(argv: Sequence[str | os.PathLike[str]], *, env: Mapping[str, str] | None = None,
            cwd: str | os.PathLike[str] | None = None,
            timeout: float = DEFAULT_TIMEOUT) -> Callable[[], None]:
    """A side's action that runs `argv` once and fails loudly on a non-zero exit."""
    args = [os.fspath(a) for a in argv]

    def run() -> None:
        sh(args, env=env, cwd=cwd, timeout=timeout)

    return run


def shell(script: str, *, env: Mapping[str, str] | None = None,
          cwd: str | os.PathLike[str] | None = None) -> Callable[[], None]:
    """A side's action for a shell pipeline (`pipefail`, so any stage failing counts)."""
    return command(["bash", "-o", "pipefail", "-c", script], env=env, cwd=cwd)


def peak_rss_mb(argv: Sequence[str | os.PathLike[str]], *, env: Mapping[str, str] | None = None,
                cwd: str | os.PathLike[str] | None = None) -> float:
    """Run a command and return its peak resident set size in MB (from wait4's rusage).

    The figure is the process's own high-water mark, which is what grows if a
    layer is held in memory instead of streamed.
    """
    args = [os.fspath(a) for a in argv]
    with subprocess.Popen(args, env=None if env is None else dict(env), cwd=cwd,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        assert proc.stderr is not None
        errors = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise CommandFailed(args, proc.returncode, errors.decode(errors="replace"))
    return usage.ru_maxrss / 1024  # kilobytes on Linux


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below `path` in this mount namespace, the newest first
    (the order that unmounts stacked mounts, top one first)."""
    prefix = os.fspath(path).rstrip("/")
    points = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            point = line.split()[4]
            # mountinfo escapes space, tab, newline and backslash as octal
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), point)
            if point == prefix or point.startswith(prefix + "/"):
                points.append(point)
    return points[::-1]


def remove_tree(path: Path) -> None:
    """Delete a scratch tree (a store, a containers-storage, an output) if it exists.

    Anything still mounted inside it (a leaked container rootfs, a bind mount)
    is detached first: deleting through a mount would reach files outside.
    """
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        for _ in range(3):  # a detach can uncover mounts that were stacked under it
            for point in mounts_under(path):
                subprocess.run(["umount", "-l", point], capture_output=True)
        left = mounts_under(path)
        if left:
            raise RuntimeError(f"refusing to delete {path}: {left[0]} is still mounted")
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


# -- statistics -----------------------------------------------------------------


@dataclass(frozen=True)
class Stats:
    """Median, min and max of one side's measured runs (warm-up runs excluded)."""

    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats:
        if not values:
            raise ValueError("no measurements")
        return cls(tuple(float(v) for v in values))

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def max(self) -> float:
        return max(self.values)

    def as_dict(self) -> dict[str, Any]:
        return {"median": self.median, "min": self.min, "max": self.max,
                "runs": list(self.values)}


# -- alternation ----------------------------------------------------------------


@dataclass
class Side:
    """One thing measured in a figure: minidock, or an anchor tool.

    `action` is timed, unless `reports_value` is set: then it returns the
    measured value itself (requests per second, peak memory). `prepare` runs
    untimed before every run (fresh output directory, the one changed file),
    `finish` untimed after it (stop the container the run started).
    """

    label: str
    action: Callable[[], float | None]
    prepare: Callable[[], None] | None = None
    reports_value: bool = False
    finish: Callable[[], None] | None = None


def measure_once(side: Side) -> float:
    """Prepare, run once, finish; return the elapsed seconds or the side's reported value."""
    if side.prepare is not None:
        side.prepare()
    start = time.perf_counter()
    try:
        result = side.action()
        elapsed = time.perf_counter() - start
    finally:
        if side.finish is not None:
            side.finish()
    if side.reports_value:
        if result is None:
            raise TypeError(f"side {side.label!r} must return its measured value")
        return float(result)
    return elapsed


def alternate(sides: Sequence[Side], *, runs: int, warmup: int,
              progress: Callable[[str], None] | None = None) -> dict[str, list[float]]:
    """Run the sides in turn, A B A B ..., `warmup` unrecorded rounds then `runs` rounds.

    Interleaving is the point: drift on the machine (page cache, another job,
    CPU frequency) spreads over every side instead of landing on one.
    """
    if runs < 1:
        raise ValueError("runs must be at least 1")
    labels = [s.label for s in sides]
    if len(set(labels)) != len(labels):
        raise ValueError(f"duplicate side labels in {labels}")
    for _ in range(warmup):
        for side in sides:
            measure_once(side)
    samples: dict[str, list[float]] = {s.label: [] for s in sides}
    for round_ in range(runs):
        for side in sides:
            samples[side.label].append(measure_once(side))
        if progress is not None:
            progress(f"round {round_ + 1}/{runs}: " + ", ".join(
                f"{label} {values[-1]:.4g}" for label, values in samples.items()))
    return samples


# -- figures and targets -----------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of the results: the subject side against an anchor side, or alone.

    With an anchor the figure is the ratio median(subject) / median(anchor);
    without one it is the subject's median itself. `target` bounds that figure
    from above, or from below when `at_least` (throughput). No target: a
    reference point reported for context (the floors: runc, bwrap).
    """

    anchor: str | None = None
    target: float | None = None
    at_least: bool = False
    issue: str | None = None
    subject: str = "minidock"

    def target_text(self, unit: str) -> str:
        if self.target is None:
            return "-"
        sign = ">=" if self.at_least else "<="
        return f"{sign} {self.target:g}x" if self.anchor else f"{sign} {self.target:g} {unit}"

    def met(self, value: float) -> bool | None:
        if self.target is None:
            return None
        return value >= self.target if self.at_least else value <= self.target


@dataclass
class Bench:
    """The shared environment of one benchmark run, prepared by `run.py`.

    `env` is the environment every command runs with: MINIDOCK_ROOT names the
    benchmark store, CONTAINERS_STORAGE_CONF a podman/buildah storage of its
    own, so neither the user's images nor a concurrent test run are touched.
    """

    repo: Path
    work: Path
    quick: bool
    env: dict[str, str]
    minidock: list[str]
    archives: dict[str, Path] = field(default_factory=dict)
    progress: Callable[[str], None] | None = None

    @property
    def store(self) -> Path:
        return Path(self.env["MINIDOCK_ROOT"])

    @property
    def contexts(self) -> Path:
        return self.work / "contexts"

    def md(self, *args: str | os.PathLike[str]) -> list[str]:
        """The argv of a minidock command, run as users run it (the console script)."""
        return [*self.minidock, *(os.fspath(a) for a in args)]

    def pick(self, quick: Any, full: Any) -> Any:
        """A size for this mode: tiny in --quick, the issue's size otherwise."""
        return quick if self.quick else full

    def env_with(self, **overrides: str) -> dict[str, str]:
        return {**self.env, **overrides}

    def log(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)


@dataclass
class Context:
    """What a figure function gets: the shared bench, its run counts and scratch space."""

    bench: Bench
    runs: int
    warmup: int
    notes: list[str] = field(default_factory=list)
    cleanup: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    scratch: Path | None = None

    def note(self, text: str) -> None:
        """Record a fact about the measurement (sizes, what each side did) for the report."""
        self.notes.append(text)

    def alternate(self, sides: Sequence[Side]) -> dict[str, list[float]]:
        return alternate(sides, runs=self.runs, warmup=self.warmup, progress=self.bench.progress)

    def tmpdir(self, name: str) -> Path:
        """A fresh, empty directory for this figure, removed when the figure ends."""
        if self.scratch is None:
            raise RuntimeError("this context has no scratch directory")
        path = self.scratch / name
        remove_tree(path)
        path.mkdir(parents=True)
        self.cleanup.callback(remove_tree, path)
        return path


FigureFunction = Callable[[Context], Mapping[str, Sequence[float]]]


@dataclass(frozen=True)
class Figure:
    """A measured comparison: its function returns each side's values by label."""

    name: str
    title: str
    unit: str
    rows: tuple[Row, ...]
    function: FigureFunction
    runs: int = 5
    warmup: int = 1

    @property
    def kind(self) -> str:
        return "figure"


def figure(name: str, title: str, *, unit: str = "s", rows: Sequence[Row] = (),
           runs: int = 5, warmup: int = 1) -> Callable[[FigureFunction], Figure]:
    """Declare a figure: `@figure("run.true", "run --rm busybox true", rows=[...])`."""

    def wrap(function: FigureFunction) -> Figure:
        return Figure(name=name, title=title, unit=unit, rows=tuple(rows), function=function,
                      runs=runs, warmup=warmup)

    return wrap


CurveFunction = Callable[[Context], Sequence[Sequence[Any]]]


@dataclass(frozen=True)
class Curve:
    """A scale curve: a table of one quantity against a size (files, steps, layers)."""

    name: str
    title: str
    columns: tuple[str, ...]
    function: CurveFunction
    runs: int = 3
    warmup: int = 1

    @property
    def kind(self) -> str:
        return "curve"


def curve(name: str, title: str, *, columns: Sequence[str], runs: int = 3,
          warmup: int = 1) -> Callable[[CurveFunction], Curve]:
    """Declare a scale curve; its function returns the table's rows."""

    def wrap(function: CurveFunction) -> Curve:
        return Curve(name=name, title=title, columns=tuple(columns), function=function,
                     runs=runs, warmup=warmup)

    return wrap


# -- results ----------------------------------------------------------------------

MEASURED, FAILED, NOT_AVAILABLE = "measured", "failed", "not available"


@dataclass
class RowResult:
    row: Row
    value: float | None  # the ratio, or the subject's median when there is no anchor
    met: bool | None

    def as_dict(self, unit: str) -> dict[str, Any]:
        return {"subject": self.row.subject, "anchor": self.row.anchor,
                "issue": self.row.issue, "ratio" if self.row.anchor else "value": self.value,
                "target": self.row.target_text(unit), "met": self.met}


@dataclass
class Result:
    """The outcome of one figure or curve, whatever happened to it."""

    name: str
    title: str
    kind: str
    status: str
    seconds: float
    unit: str = ""
    sides: dict[str, Stats] = field(default_factory=dict)
    rows: list[RowResult] = field(default_factory=list)
    columns: tuple[str, ...] = ()
    table: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "kind": self.kind, "status": self.status,
                "seconds": round(self.seconds, 3), "unit": self.unit,
                "sides": {k: v.as_dict() for k, v in self.sides.items()},
                "rows": [r.as_dict(self.unit) for r in self.rows],
                "columns": list(self.columns), "table": self.table, "notes": self.notes,
                "error": self.error}


def evaluate_rows(rows: Sequence[Row], sides: Mapping[str, Stats]) -> list[RowResult]:
    """Turn the measured sides into each row's ratio (or value) and verdict."""
    results = []
    for row in rows:
        if row.subject not in sides or (row.anchor is not None and row.anchor not in sides):
            missing = row.anchor if row.subject in sides else row.subject
            raise KeyError(f"row needs side {missing!r}, measured: {sorted(sides)}")
        subject = sides[row.subject].median
        value = subject / sides[row.anchor].median if row.anchor is not None else subject
        results.append(RowResult(row, value, row.met(value)))
    return results


@contextlib.contextmanager
def _clock() -> Iterator[Callable[[], float]]:
    start = time.perf_counter()
    yield lambda: time.perf_counter() - start


def describe_error(exc: BaseException) -> str:
    """One readable paragraph: the command's failure as is, else the exception and where."""
    if isinstance(exc, CommandFailed):
        return str(exc)
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def execute(item: Figure | Curve, bench: Bench, *, runs: int | None = None,
            warmup: int | None = None, scratch: Path | None = None) -> Result:
    """Run one figure or curve and capture whatever happens as a Result.

    A NotAvailable is reported with its reason; any other exception makes the
    figure FAILED with the error, so one broken figure never hides the others.
    """
    ctx = Context(bench=bench, runs=runs if runs is not None else item.runs,
                  warmup=warmup if warmup is not None else item.warmup, scratch=scratch)
    result = Result(name=item.name, title=item.title, kind=item.kind, status=MEASURED,
                    seconds=0.0, unit=getattr(item, "unit", ""),
                    columns=getattr(item, "columns", ()))
    with _clock() as elapsed:
        try:
            with ctx.cleanup:
                if isinstance(item, Figure):
                    samples = item.function(ctx)
                    result.sides = {label: Stats.of(values) for label, values in samples.items()}
                    result.rows = evaluate_rows(item.rows, result.sides)
                else:
                    result.table = [list(r) for r in item.function(ctx)]
        except NotAvailable as exc:
            result.status, result.error = NOT_AVAILABLE, str(exc)
        except Exception as exc:  # noqa: BLE001 - reported per figure, never hidden
            result.status, result.error = FAILED, describe_error(exc)
        if result.status != MEASURED:
            # keep the declared targets visible, unmeasured
            result.sides, result.table = {}, []
            result.rows = [RowResult(row, None, None) for row in getattr(item, "rows", ())]
        result.seconds = elapsed()
    result.notes = ctx.notes
    return result
