"""COPY/ADD --exclude, built for real: BuildKit's results.

The contexts and expectations follow BuildKit's own tests of the flag
(`exclude_patterns_test.go`): exclusions relative to each copied directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from build_helpers import build, files_of

from minidock.store.store import Image, Store


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    files = {
        "x/a.txt": "xa", "x/y/a.txt": "xya", "x/y/b.txt": "xyb", "x/z/a.txt": "xza",
        "x/z/b.txt": "xzb", "y/a.txt": "ya", "y/b.txt": "yb",
        "foo1/foo2/bar": "testing", "foo1/foo2/baz": "testing2",
        "src/a.txt": "sa", "src/x/b.txt": "sxb", "src/x/y/c.txt": "sxyc", "src/x/y/d.md": "md",
    }
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)
    os.chmod(root / "x" / "y", 0o750)
    return root


def below(tree: dict[str, tuple[object, ...]], prefix: str) -> dict[str, object]:
    """Paths under `prefix` (made relative) -> content, None for a directory."""
    start = prefix.rstrip("/") + "/"
    return {path[len(start):]: entry[4] for path, entry in tree.items()
            if path.startswith(start)}


def test_exclude_exception_inside_an_excluded_directory(store: Store, busybox: Image,
                                                        ctx: Path) -> None:
    image, _ = build(store, ctx, "FROM busybox\n"
                                 "COPY --exclude=x --exclude=!x/y/a.txt . /ex/\n")
    tree = files_of(store, image)
    assert {p for p in below(tree, "/ex") if p.startswith("x")} == {"x", "x/y", "x/y/a.txt"}
    assert tree["/ex/x/y"][:2] == ("d", "0o750")
    assert tree["/ex/y/b.txt"][4] == b"yb"


def test_exclude_from_a_stage_and_with_add(store: Store, busybox: Image, ctx: Path) -> None:
    image, _ = build(store, ctx, "FROM busybox AS base\n"
                                 "COPY . /t/\n"
                                 "FROM busybox\n"
                                 "COPY --from=base --exclude=*/b.txt --exclude=a.txt /t/x /fx/\n"
                                 "ADD --exclude=**/*.md --exclude=*.txt src/ /ad/\n")
    tree = files_of(store, image)
    assert below(tree, "/fx") == {"y": None, "y/a.txt": b"xya", "z": None, "z/a.txt": b"xza"}
    assert below(tree, "/ad") == {"x": None, "x/b.txt": b"sxb", "x/y": None,
                                  "x/y/c.txt": b"sxyc"}
