"""`minidock build` against `buildah bud --layers` on the same contexts (issue 4/7).

Contexts (contexts.py, deterministic bytes):
  copy         one 50 MB file plus 1,000 small files, three COPY steps
  run-heavy    RUN steps that write files, delete base files, replace directories
  multi-stage  a build stage whose output the final stage takes with COPY --from

For each context, alternating runs after a warm-up:
  build.cold.*     a fresh store / fresh containers-storage holding only busybox
  build.cached.*   every step a cache hit
  build.changed.*  one small context file changed (a new variant every run, so
                   no cache has seen it): that step and the steps after rebuild
and build.peak-memory: the peak resident memory of `minidock build` with a
1 GB context (layers are streamed, never held in memory).

Both tools run as commands, as a user runs them. buildah keeps its default
RUN network (a bridge); minidock's RUN default is the host network.
"""

from __future__ import annotations

from collections.abc import Callable

from contexts import (
    BuildContext,
    big_context,
    copy_context,
    multistage_context,
    run_heavy_context,
    tree_size,
)
from harness import Context, Figure, Row, Side, figure, peak_rss_mb, remove_tree, sh

BUILDER = "4/7 builder"
BUILDAH = "buildah bud --layers"


def _context(ctx: Context, kind: str) -> BuildContext:
    bench = ctx.bench
    if kind == "copy":
        made = copy_context(bench.contexts, big_mb=bench.pick(2, 50),
                            small_files=bench.pick(50, 1000))
    elif kind == "run-heavy":
        made = run_heavy_context(bench.contexts)
    else:
        made = multistage_context(bench.contexts, sources=bench.pick(10, 60))
    files, size = tree_size(made.path)
    ctx.note(f"context {made.name}: {files} files, {size / 1e6:.1f} MB")
    ctx.cleanup.callback(made.restore)
    return made


class MinidockBuilds:
    """minidock building one context into a store of its own."""

    def __init__(self, ctx: Context, context: BuildContext):
        self.bench = ctx.bench
        self.context = context
        self.store = ctx.tmpdir("minidock-store")
        self.env = self.bench.env_with(MINIDOCK_ROOT=str(self.store))

    def fresh(self) -> None:
        remove_tree(self.store)
        sh(self.bench.md("load", "-q", "-i", self.bench.archives["busybox"]), env=self.env)

    def build(self) -> None:
        sh(self.bench.md("build", "-q", "-t", f"bench-{self.context.name}", self.context.path),
           env=self.env)


class BuildahBuilds:
    """buildah building the same context into a containers-storage of its own."""

    def __init__(self, ctx: Context, context: BuildContext):
        self.bench = ctx.bench
        self.context = context
        scratch = ctx.tmpdir("buildah")
        self.storage, self.runroot = scratch / "storage", scratch / "run"
        self.flags = ["--root", str(self.storage), "--runroot", str(self.runroot)]
        ctx.cleanup.callback(self.clear)  # before tmpdir's removal: cleanups run in reverse

    def clear(self) -> None:
        """Remove the storage, unmounting whatever containers-storage mounted inside it."""
        if self.storage.exists():
            sh(["buildah", *self.flags, "rm", "--all"], env=self.bench.env, check=False)
        remove_tree(self.storage)  # unmounts what containers-storage left mounted
        remove_tree(self.runroot)

    def fresh(self) -> None:
        self.clear()
        sh(["skopeo", "copy", "-q", f"oci-archive:{self.bench.archives['busybox']}",
            f"containers-storage:[overlay@{self.storage}+{self.runroot}]"
            "docker.io/library/busybox:latest"], env=self.bench.env)
        # A storage that already holds an image when its network backend is first chosen
        # gets CNI, whose bridge then shadows podman's netavark one (same subnet). A user's
        # storage keeps the backend podman chose on first use: netavark on Debian 12.
        (self.storage / "defaultNetworkBackend").write_text("netavark")

    def build(self) -> None:
        sh(["buildah", *self.flags, "bud", "-q", "--layers", "-t",
            f"bench-{self.context.name}", self.context.path], env=self.bench.env)


def _sides(ctx: Context, kind: str) -> tuple[BuildContext, MinidockBuilds, BuildahBuilds]:
    context = _context(ctx, kind)
    return context, MinidockBuilds(ctx, context), BuildahBuilds(ctx, context)


def cold(kind: str) -> Callable[[Context], dict[str, list[float]]]:
    def measure(ctx: Context) -> dict[str, list[float]]:
        _, mine, theirs = _sides(ctx, kind)
        ctx.note("each run starts from a fresh store holding only busybox (both tools)")
        return ctx.alternate([Side("minidock", mine.build, prepare=mine.fresh),
                              Side(BUILDAH, theirs.build, prepare=theirs.fresh)])

    return measure


def cached(kind: str) -> Callable[[Context], dict[str, list[float]]]:
    def measure(ctx: Context) -> dict[str, list[float]]:
        _, mine, theirs = _sides(ctx, kind)
        for side in (mine, theirs):
            side.fresh()
            side.build()
        ctx.note("after one untimed build, every step is a cache hit")
        return ctx.alternate([Side("minidock", mine.build), Side(BUILDAH, theirs.build)])

    return measure


def changed(kind: str) -> Callable[[Context], dict[str, list[float]]]:
    def measure(ctx: Context) -> dict[str, list[float]]:
        context, mine, theirs = _sides(ctx, kind)
        for side in (mine, theirs):
            side.fresh()
            side.build()
        variants = iter(range(1, 1_000_000))
        ctx.note(f"before every run {context.changeable} gets content no build has seen")
        return ctx.alternate([
            Side("minidock", mine.build, prepare=lambda: context.change(next(variants))),
            Side(BUILDAH, theirs.build, prepare=lambda: context.change(next(variants))),
        ])

    return measure


Measure = Callable[[Context], dict[str, list[float]]]


def _declare(stage: str, kind: str, target: float, function: Measure) -> Figure:
    titles = {"cold": "cold build", "cached": "fully cached rebuild",
              "changed": "rebuild after one file changed"}
    return figure(f"build.{stage}.{kind}", f"{titles[stage]}, {kind} context, vs {BUILDAH}",
                  rows=[Row(anchor=BUILDAH, target=target, issue=BUILDER)])(function)


KINDS = ("copy", "run-heavy", "multi-stage")
COLD = tuple(_declare("cold", k, 0.5, cold(k)) for k in KINDS)
CACHED = tuple(_declare("cached", k, 0.3, cached(k)) for k in KINDS)
CHANGED = tuple(_declare("changed", k, 0.5, changed(k)) for k in KINDS)


@figure("build.peak-memory", "peak memory (RSS) of `minidock build` with a 1 GB context",
        unit="MB", rows=[Row(target=150, issue=BUILDER)], runs=1, warmup=0)
def peak_memory(ctx: Context) -> dict[str, list[float]]:
    bench = ctx.bench
    context = big_context(bench.contexts, size_mb=bench.pick(64, 1024))
    files, size = tree_size(context.path)
    ctx.note(f"context: {files} files, {size / 1e6:.0f} MB, one COPY; peak RSS from wait4")
    store = ctx.tmpdir("memory-store")
    env = bench.env_with(MINIDOCK_ROOT=str(store))

    def fresh() -> None:
        remove_tree(store)
        sh(bench.md("load", "-q", "-i", bench.archives["busybox"]), env=env)

    return ctx.alternate([Side("minidock", lambda: peak_rss_mb(
        bench.md("build", "-q", context.path), env=env), prepare=fresh, reports_value=True)])


FIGURES = (*COLD, *CACHED, *CHANGED, peak_memory)
