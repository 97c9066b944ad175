"""Benchmark contexts are the same bytes every time, and one file changes and comes back."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from contexts import (
    copy_context,
    layers_context,
    multistage_context,
    run_heavy_context,
    steps_context,
)


def tree_digest(root: Path) -> dict[str, str]:
    digests = {}
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            digests[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def test_two_generations_give_identical_bytes(tmp_path: Path) -> None:
    one = copy_context(tmp_path / "a", big_mb=1, small_files=30)
    two = copy_context(tmp_path / "b", big_mb=1, small_files=30)
    assert tree_digest(one.path) == tree_digest(two.path)
    assert (one.path / "big.bin").stat().st_size == 1 << 20
    assert len(list((one.path / "small").rglob("*.txt"))) == 30
    assert "COPY small/ /data/small/" in one.dockerfile.read_text()


def test_contents_are_not_trivially_compressible(tmp_path: Path) -> None:
    import zlib

    data = (copy_context(tmp_path, big_mb=1, small_files=1).path / "big.bin").read_bytes()
    assert 0.4 < len(zlib.compress(data)) / len(data) < 0.9


def test_change_touches_one_file_and_restore_brings_it_back(tmp_path: Path) -> None:
    context = copy_context(tmp_path, big_mb=1, small_files=30)
    before = tree_digest(context.path)
    context.change(1)
    first = tree_digest(context.path)
    context.change(2)
    second = tree_digest(context.path)
    changed = {k for k in before if before[k] != first[k]}
    assert changed == {context.changeable}
    assert first[context.changeable] != second[context.changeable]
    context.restore()
    assert tree_digest(context.path) == before


def test_a_context_is_reused_and_repaired_on_the_next_request(tmp_path: Path) -> None:
    context = copy_context(tmp_path, big_mb=1, small_files=30)
    big_mtime = (context.path / "big.bin").stat().st_mtime_ns
    original = tree_digest(context.path)
    context.change(7)  # as if a run was interrupted mid-figure
    again = copy_context(tmp_path, big_mb=1, small_files=30)
    assert (again.path / "big.bin").stat().st_mtime_ns == big_mtime
    assert tree_digest(again.path) == original


def test_other_parameters_make_another_context(tmp_path: Path) -> None:
    small = copy_context(tmp_path, big_mb=1, small_files=10)
    larger = copy_context(tmp_path, big_mb=1, small_files=20)
    assert small.path != larger.path
    assert small.path.exists() and larger.path.exists()


def test_generated_dockerfiles_have_the_requested_shape(tmp_path: Path) -> None:
    steps = steps_context(tmp_path, 5).dockerfile.read_text().splitlines()
    assert steps[0] == "FROM busybox" and len(steps) == 6
    assert all(line.startswith("RUN ") for line in steps[1:])
    layers = layers_context(tmp_path, 4)
    lines = layers.dockerfile.read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["FROM", "COPY", "COPY", "COPY"]
    assert len(list((layers.path / "layer").iterdir())) == 3
    assert layers_context(tmp_path, 1).dockerfile.read_text() == "FROM busybox\n"
    with pytest.raises(ValueError):
        layers_context(tmp_path, 0)


def test_run_heavy_and_multi_stage_contexts(tmp_path: Path) -> None:
    heavy = run_heavy_context(tmp_path)
    text = heavy.dockerfile.read_text()
    assert "rm -rf /var/www && mkdir -p /var/www/html" in text  # a replaced directory
    assert "rm -f /sbin/fdisk" in text  # deleted base files
    assert (heavy.path / heavy.changeable).is_file()
    multi = multistage_context(tmp_path, sources=4)
    assert "COPY --from=build" in multi.dockerfile.read_text()
    assert len(list((multi.path / "src").iterdir())) == 4
    assert (multi.path / multi.changeable).is_file()
