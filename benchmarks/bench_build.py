"""`minidock build` against `buildah bud --layers`, side by side, on the same contexts.

Contexts (deterministic content):
  copy        one 50 MB file (half random, half text) plus 1,000 small files, two COPYs
  run-heavy   RUN steps that write files, delete a base file and replace a directory
  multi-stage a builder stage whose output a second stage takes with COPY --from

For each context, alternating runs (minidock, buildah, minidock, ...) after a
warm-up, medians reported with min and max:
  cold        fresh store / fresh containers-storage holding only the base image
  cached      every step a cache hit
  one-file    one small context file changed: that COPY and the steps after rebuild
Then the peak resident memory of a build whose context is one 1 GB file (layers
are streamed, never held in memory; target < 150 MB).

Both tools run as commands, as a user runs them, from the busybox fixture
image (fixtures/build_images.py busybox builds it when missing). Targets:
cold <= 0.5x, cached <= 0.3x, one-file <= 0.5x.

    .venv/bin/python benchmarks/bench_build.py [--runs N] [--quick] [--dir PATH]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Side, Stats, alternate, peak_rss_mb, remove_tree, sh  # noqa: E402

BUSYBOX_ARCHIVE = ROOT / "fixtures" / "cache" / "images" / "busybox-latest.oci.tar"
BASE = "localhost/busybox:latest"
MINIDOCK = [sys.executable, "-m", "minidock"]
TARGETS = {"cold": 0.5, "cached": 0.3, "one-file": 0.5}
MEMORY_TARGET_MB = 150.0

RUN_HEAVY = f"""\
FROM {BASE}
RUN mkdir -p /opt/tree/sub && for i in $(seq 1 300); do echo $i > /opt/tree/sub/f$i; done
RUN rm -rf /opt/tree && mkdir -p /opt/tree && echo replaced > /opt/tree/x
RUN rm /etc/group && echo removed > /removed
COPY app.txt /app/
RUN cat /app/app.txt > /app/copy && mkdir -p /var/cache/app && touch /var/cache/app/stamp
ENV MODE=bench
"""

MULTI_STAGE = f"""\
FROM {BASE} AS builder
RUN mkdir -p /out/lib && for i in $(seq 1 200); do echo lib$i > /out/lib/l$i; done
COPY app.txt /out/app.txt
RUN cat /out/app.txt > /out/built
FROM {BASE}
COPY --from=builder /out/ /opt/app/
WORKDIR /opt/app
CMD ["cat", "built"]
"""

COPY_DOCKERFILE = f"""\
FROM {BASE}
COPY big.bin /data/big.bin
COPY small/ /data/small/
"""

_WORDS = (b"layer tar digest overlay whiteout config manifest image store blob "
          b"lorem ipsum dolor sit amet consectetur adipiscing elit ").split()


def _chunk(rng: random.Random, size: int) -> bytes:
    half = size // 2
    text = b" ".join(rng.choice(_WORDS) for _ in range(half // 6))[:half].ljust(half, b".")
    return rng.randbytes(size - half) + text


def make_copy_context(root: Path, big_mb: int, small_files: int) -> Path:
    rng = random.Random(42)
    root.mkdir(parents=True)
    with open(root / "big.bin", "wb") as big:
        for _ in range(big_mb):
            big.write(_chunk(rng, 1 << 20))
    small = root / "small"
    for i in range(small_files):
        directory = small / f"dir{i % 20:02d}"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"file{i:04d}.txt").write_bytes(_chunk(rng, rng.randint(100, 4096)))
    (root / "Dockerfile").write_text(COPY_DOCKERFILE)
    return small / "dir00" / "file0000.txt"


def make_small_context(root: Path, dockerfile: str) -> Path:
    root.mkdir(parents=True)
    (root / "app.txt").write_text("version 1\n")
    (root / "Dockerfile").write_text(dockerfile)
    return root / "app.txt"


class Toggle:
    """Flips one context file between two contents, so each run sees a change."""

    def __init__(self, path: Path):
        self.path = path
        self.original = path.read_bytes()
        self.flag = False

    def __call__(self) -> None:
        self.flag = not self.flag
        self.path.write_bytes(self.original + (b"changed\n" if self.flag else b""))


class MinidockSide:
    def __init__(self, work: Path, context: Path):
        self.root = work / "minidock-store"
        self.context = context
        self.env = {**os.environ, "MINIDOCK_ROOT": str(self.root)}
        self.env.pop("SOURCE_DATE_EPOCH", None)

    def fresh(self) -> None:
        remove_tree(self.root)
        sh([*MINIDOCK, "load", "-i", BUSYBOX_ARCHIVE], env=self.env)
        sh([*MINIDOCK, "tag", "busybox:latest", BASE], env=self.env)

    def build(self) -> None:
        sh([*MINIDOCK, "build", "-q", "-t", "bench:latest", self.context], env=self.env)


class BuildahSide:
    def __init__(self, work: Path, context: Path):
        self.storage = work / "buildah-storage"
        self.runroot = work / "buildah-run"
        self.context = context
        self.flags = ["--root", str(self.storage), "--runroot", str(self.runroot)]

    def clear(self) -> None:
        """Remove the storage, unmounting what containers-storage mounted inside it."""
        if self.storage.exists():
            subprocess.run(["buildah", *self.flags, "rm", "--all"], capture_output=True)
            prefix = str(self.storage) + "/"
            with open("/proc/self/mountinfo") as f:
                points = [line.split()[4] for line in f]
            for point in sorted((p for p in points if p.startswith(prefix)), key=len,
                                reverse=True):
                subprocess.run(["umount", "-l", point], capture_output=True)
        remove_tree(self.storage)
        remove_tree(self.runroot)

    def fresh(self) -> None:
        self.clear()
        spec = f"containers-storage:[overlay@{self.storage}+{self.runroot}]{BASE}"
        sh(["skopeo", "copy", "-q", f"oci-archive:{BUSYBOX_ARCHIVE}", spec])

    def build(self) -> None:
        sh(["buildah", *self.flags, "bud", "-q", "--layers", "-t", "bench:latest",
            self.context])


def measure(name: str, context: Path, changed: Path, work: Path, runs: int, warmup: int,
            log: Callable[[str], None]) -> dict[str, dict[str, Stats]]:
    m = MinidockSide(work, context)
    b = BuildahSide(work, context)
    out: dict[str, dict[str, Stats]] = {}
    log(f"[{name}] cold")
    samples = alternate([Side("minidock", m.build, prepare=m.fresh),
                         Side("buildah", b.build, prepare=b.fresh)],
                        runs=runs, warmup=warmup, progress=log)
    out["cold"] = {k: Stats.of(v) for k, v in samples.items()}
    log(f"[{name}] cached")
    m.build()
    b.build()
    samples = alternate([Side("minidock", m.build), Side("buildah", b.build)],
                        runs=runs, warmup=warmup, progress=log)
    out["cached"] = {k: Stats.of(v) for k, v in samples.items()}
    log(f"[{name}] one file changed")
    toggle_m, toggle_b = Toggle(changed), Toggle(changed)
    samples = alternate([Side("minidock", m.build, prepare=toggle_m),
                         Side("buildah", b.build, prepare=toggle_b)],
                        runs=runs, warmup=warmup, progress=log)
    changed.write_bytes(toggle_m.original)
    out["one-file"] = {k: Stats.of(v) for k, v in samples.items()}
    b.clear()  # leave no mounted layers behind
    return out


def peak_memory(work: Path, size_mb: int) -> float:
    ctx = work / "memory-context"
    ctx.mkdir()
    rng = random.Random(7)
    with open(ctx / "huge.bin", "wb") as f:
        for _ in range(size_mb):
            f.write(rng.randbytes(1 << 20))
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY huge.bin /huge.bin\n")
    env = {**os.environ, "MINIDOCK_ROOT": str(work / "memory-store")}
    try:
        return peak_rss_mb([*MINIDOCK, "build", "-q", ctx], env=env)
    finally:
        remove_tree(ctx)
        remove_tree(work / "memory-store")


def report(results: dict[str, dict[str, dict[str, Stats]]], memory: float, memory_mb: int,
           ) -> str:
    lines = ["| context | build | minidock median (min-max) s | buildah median (min-max) s "
             "| ratio | target | met |", "|---|---|---|---|---|---|---|"]
    for name, kinds in results.items():
        for kind, sides in kinds.items():
            m, b = sides["minidock"], sides["buildah"]
            ratio = m.median / b.median
            target = TARGETS[kind]
            lines.append(f"| {name} | {kind} | {m.median:.3f} ({m.min:.3f}-{m.max:.3f}) "
                         f"| {b.median:.3f} ({b.min:.3f}-{b.max:.3f}) | {ratio:.2f}x "
                         f"| <= {target}x | {'yes' if ratio <= target else 'NO'} |")
    met = "yes" if memory < MEMORY_TARGET_MB else "NO"
    lines.append("")
    lines.append(f"Peak RSS of `minidock build` with a {memory_mb} MB context: {memory:.1f} MB "
                 f"(target < {MEMORY_TARGET_MB:g} MB: {met})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--quick", action="store_true",
                        help="tiny contexts, one run each (checks the benchmark works)")
    parser.add_argument("--dir", type=Path, help="scratch directory (default: a temp dir)")
    args = parser.parse_args()
    for tool in ("buildah", "skopeo"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed (apt-get install {tool})")
    if not BUSYBOX_ARCHIVE.exists():
        sh([sys.executable, ROOT / "fixtures" / "build_images.py", "busybox"])
    big_mb, small, memory_mb = (50, 1000, 1024) if not args.quick else (2, 50, 32)
    runs, warmup = (args.runs, args.warmup) if not args.quick else (1, 0)
    base = args.dir or Path(tempfile.mkdtemp(prefix="bench-build-"))
    base.mkdir(parents=True, exist_ok=True)
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    results: dict[str, dict[str, dict[str, Stats]]] = {}
    try:
        contexts = {
            "copy (50 MB + 1,000 files)" if not args.quick else "copy":
                lambda root: make_copy_context(root, big_mb, small),
            "run-heavy": lambda root: make_small_context(root, RUN_HEAVY),
            "multi-stage": lambda root: make_small_context(root, MULTI_STAGE),
        }
        for i, (name, make) in enumerate(contexts.items()):
            work = base / f"ctx{i}"
            remove_tree(work)
            work.mkdir()
            changed = make(work / "context")
            results[name] = measure(name, work / "context", changed, work, runs, warmup, log)
            remove_tree(work)
        log(f"peak memory with a {memory_mb} MB context")
        memory = peak_memory(base, memory_mb)
    finally:
        if args.dir is None:
            shutil.rmtree(base, ignore_errors=True)
    print(report(results, memory, memory_mb))


if __name__ == "__main__":
    main()
