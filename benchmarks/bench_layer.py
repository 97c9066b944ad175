"""Layer writing speed against the shell pipelines it replaces.

Builds a directory holding one 50 MB file (half random, half text: it compresses
like real binaries do) plus 1,000 small files, then times, alternating runs and
reporting medians:

  write_tree zstd   vs  tar -cf - DIR | zstd -3
  write_tree none   vs  tar -cf - DIR | sha256sum

Usage: python benchmarks/bench_layer.py [--runs N] [--quick] [--dir PATH]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from minidock.layer import write_tree  # noqa: E402

_WORDS = (b"layer tar digest overlay whiteout config manifest image store blob "
          b"lorem ipsum dolor sit amet consectetur adipiscing elit ").split()


def _chunk(rng: random.Random, size: int) -> bytes:
    """Half incompressible bytes, half text: roughly the ratio of a binary package."""
    half = size // 2
    text = b" ".join(rng.choice(_WORDS) for _ in range(half // 6))[:half].ljust(half, b".")
    return rng.randbytes(size - half) + text


def make_tree(root: Path, big_mb: int, small_files: int) -> None:
    rng = random.Random(42)
    with open(root / "big.bin", "wb") as big:
        for _ in range(big_mb):
            big.write(_chunk(rng, 1 << 20))
    for i in range(small_files):
        directory = root / f"dir{i % 20:02d}"
        directory.mkdir(exist_ok=True)
        (directory / f"file{i:04d}.txt").write_bytes(_chunk(rng, rng.randint(100, 8192)))


def _shell(command: str) -> Callable[[], None]:
    def run() -> None:
        subprocess.run(["bash", "-o", "pipefail", "-c", command], check=True,
                       stdout=subprocess.DEVNULL)
    return run


def _write_tree(tree: Path, compression: str) -> Callable[[], None]:
    def run() -> None:
        with open(os.devnull, "wb") as sink:
            write_tree(tree, sink, compression)
    return run


def _time(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(name: str, ours: Callable[[], None], theirs: Callable[[], None],
            runs: int) -> float:
    ours(), theirs()  # warm the page cache and imports
    ours_times, theirs_times = [], []
    for _ in range(runs):
        ours_times.append(_time(ours))
        theirs_times.append(_time(theirs))
    mine, ref = statistics.median(ours_times), statistics.median(theirs_times)
    ratio = mine / ref
    print(f"{name:<44} write_tree {mine * 1000:8.1f} ms   pipeline {ref * 1000:8.1f} ms   "
          f"ratio {ratio:5.2f}x")
    return ratio


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="small tree, 2 runs")
    parser.add_argument("--dir", help="build the tree here instead of a temp dir")
    args = parser.parse_args(argv)
    big_mb, small, runs = (5, 100, 2) if args.quick else (50, 1000, args.runs)
    for tool in ("tar", "zstd", "sha256sum"):
        if shutil.which(tool) is None:
            print(f"bench_layer: {tool} not installed", file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        tree = Path(tmp) / "tree"
        tree.mkdir()
        make_tree(tree, big_mb, small)
        print(f"tree: {big_mb} MB file + {small} small files; median of {runs} runs")
        compare("zstd:  write_tree vs tar | zstd -3", _write_tree(tree, "zstd"),
                _shell(f"tar -cf - -C {tree} . | zstd -3 -q -c"), runs)
        compare("plain: write_tree vs tar | sha256sum", _write_tree(tree, "none"),
                _shell(f"tar -cf - -C {tree} . | sha256sum"), runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
