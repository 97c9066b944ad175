"""Scale curves: how minidock's costs grow with context size, steps, layers and images.

Each curve is a table rather than a ratio: the question is the shape (linear,
flat, or worse), not a comparison. Sizes are the issue's (1k/10k/100k files,
10/50/200 steps, 1/10/50/100 layers, 1/5/20 images); `--quick` uses tiny ones.
Every timed build starts from a fresh store holding only the base image, so a
"cold" figure really writes every layer.
"""

from __future__ import annotations

from pathlib import Path

from contexts import (
    BuildContext,
    files_context,
    layers_context,
    shared_base_context,
    steps_context,
    tree_size,
)
from harness import Context, Side, Stats, command, curve, remove_tree, sh


def fresh_store(ctx: Context, name: str, images: tuple[str, ...] = ("busybox",)) -> dict[str, str]:
    """A new store (the previous one of that name removed) holding only the base images."""
    bench = ctx.bench
    root = ctx.bench.work / "scratch" / f"store-{name}"
    remove_tree(root)
    env = bench.env_with(MINIDOCK_ROOT=str(root))
    for image in images:
        sh(bench.md("load", "-q", "-i", bench.archives[image]), env=env)
    ctx.cleanup.callback(remove_tree, root)
    return env


def _seconds(stats: Stats) -> str:
    return f"{stats.median:.3f} ({stats.min:.3f}-{stats.max:.3f})"


def _cold_and_cached(ctx: Context, context: BuildContext, name: str) -> tuple[Stats, Stats]:
    """Median cold build (fresh store each run) and cached rebuild of one context."""
    bench = ctx.bench
    env: dict[str, str] = {}

    def fresh() -> None:
        env.clear()
        env.update(fresh_store(ctx, name))

    def build() -> None:
        sh(bench.md("build", "-q", "-t", f"scale-{name}", context.path), env=env)

    cold = ctx.alternate([Side("cold", build, prepare=fresh)])["cold"]
    cached = ctx.alternate([Side("cached", build)])["cached"]
    return Stats.of(cold), Stats.of(cached)


@curve("scale.context-files", "build time against context size (files copied by one COPY)",
       columns=("files", "context MB", "cold build s, median (min-max)",
                "cached rebuild s, median (min-max)"))
def context_files(ctx: Context) -> list[list[object]]:
    rows = []
    for files in ctx.bench.pick((100, 300, 1000), (1000, 10_000, 100_000)):
        context = files_context(ctx.bench.contexts, files)
        _, size = tree_size(context.path / "files")
        cold, cached = _cold_and_cached(ctx, context, f"files-{files}")
        rows.append([f"{files:,}", f"{size / 1e6:.1f}", _seconds(cold), _seconds(cached)])
    ctx.note("each cold build starts from a fresh store holding only busybox")
    return rows


@curve("scale.steps", "build time against the number of steps (one RUN per step)",
       columns=("steps", "cold build s, median (min-max)", "per step ms",
                "cached rebuild s, median (min-max)", "cached per step ms"))
def steps(ctx: Context) -> list[list[object]]:
    rows = []
    for count in ctx.bench.pick((2, 5, 10), (10, 50, 200)):
        context = steps_context(ctx.bench.contexts, count)
        cold, cached = _cold_and_cached(ctx, context, f"steps-{count}")
        rows.append([count, _seconds(cold), f"{cold.median / count * 1000:.0f}",
                     _seconds(cached), f"{cached.median / count * 1000:.1f}"])
    ctx.note("every step is `RUN mkdir -p /steps && echo N > /steps/N`: one container, one layer")
    return rows


@curve("scale.layers", "container start time against the number of image layers",
       columns=("layers", "`run --rm IMAGE true` s, median (min-max)"), runs=5)
def layers(ctx: Context) -> list[list[object]]:
    bench = ctx.bench
    env = fresh_store(ctx, "layers")
    rows = []
    for count in bench.pick((1, 3, 5), (1, 10, 50, 100)):
        if count == 1:
            image = "busybox:latest"
        else:
            context = layers_context(bench.contexts, count)
            image = f"scale-layers-{count}"
            sh(bench.md("build", "-q", "-t", image, context.path), env=env)
        start = ctx.alternate([Side("start", command(bench.md("run", "--rm", image, "true"),
                                                     env=env))])["start"]
        rows.append([count, _seconds(Stats.of(start))])
    ctx.note("images: busybox plus one COPY of a small file per extra layer; "
             "warm start (layers already extracted by the warm-up run)")
    return rows


def disk_usage(path: Path) -> int:
    """Bytes allocated on disk under `path`, as `du` counts them (hard links once)."""
    out = sh(["du", "-s", "--block-size=1", path]).stdout.decode().split()
    return int(out[0])


@curve("scale.shared-base", "store size for N images sharing one base (nginx:stable)",
       columns=("images", "store on disk MB", "growth over the base MB", "growth per image KB",
                "N separate copies would be MB"), runs=1, warmup=0)
def shared_base(ctx: Context) -> list[list[object]]:
    bench = ctx.bench
    counts = bench.pick((1, 2, 3), (1, 5, 20))
    env = fresh_store(ctx, "shared", images=("nginx",))
    store = Path(env["MINIDOCK_ROOT"])
    sh(bench.md("run", "--rm", "nginx:stable", "true"), env=env)
    base = disk_usage(store)
    rows = []
    for i in range(1, max(counts) + 1):
        context = shared_base_context(bench.contexts, i)
        tag = f"shared-{i}"
        sh(bench.md("build", "-q", "-t", tag, context.path), env=env)
        sh(bench.md("run", "--rm", tag, "true"), env=env)
        if i in counts:
            total = disk_usage(store)
            growth = total - base
            rows.append([i, f"{total / 1e6:.1f}", f"{growth / 1e6:.2f}",
                         f"{growth / i / 1e3:.0f}", f"{i * base / 1e6:.1f}"])
    ctx.note(f"base: a store holding nginx:stable after one container of it ran, "
             f"{base / 1e6:.1f} MB on disk; each image adds one COPY of a 4 KB file and one "
             "container of it is run, so extracted layers (layers/) count too")
    return rows


CURVES = (context_files, steps, layers, shared_base)
