"""COPY/ADD planning: destinations, ownership, modes, excludes, archives, URLs."""

from __future__ import annotations

import bz2
import functools
import http.server
import io
import lzma
import os
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from minidock.builder.add import ArchiveExpander, fetch_url
from minidock.builder.context import BuildContext, ForbiddenPath, IgnoreRules, SourceNotFound
from minidock.builder.copyplan import CopyOptions, InlineFile, plan_copy
from minidock.builder.imagefs import ImageFS
from minidock.builder.sources import ContextTree, ImageTree
from minidock.errors import BuildError
from minidock.layer.entry import EntryKind


@pytest.fixture
def ctx_dir(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    (root / "d" / "sub").mkdir(parents=True)
    (root / "f.txt").write_text("hi\n")
    os.chmod(root / "f.txt", 0o640)
    (root / "g.txt").write_text("g\n")
    (root / "d" / "a").write_text("x\n")
    (root / "d" / "sub" / "b").write_text("y\n")
    os.chmod(root / "d" / "sub", 0o700)
    os.symlink("a", root / "d" / "lnk")
    os.symlink("f.txt", root / "topl")
    return root


@pytest.fixture
def image(tmp_path: Path) -> ImageFS:
    layer = tmp_path / "layer"
    (layer / "etc").mkdir(parents=True)
    os.chmod(layer / "etc", 0o751)
    (layer / "existing").mkdir()
    os.chown(layer / "existing", 3, 4)
    (layer / "run").mkdir()
    (layer / "var").mkdir()
    os.symlink("/run", layer / "var" / "run")
    return ImageFS([layer])


def tree_of(ctx_dir: Path, ignore: IgnoreRules | None = None) -> ContextTree:
    return ContextTree(BuildContext.from_directory(ctx_dir, ignore))


def summary(plan) -> dict[str, tuple]:  # type: ignore[no-untyped-def]
    out = {}
    for e in plan.entries:
        out[e.path] = (e.kind.name, oct(e.mode), e.uid, e.gid, e.linkname)
    return out


def test_file_to_file_and_into_directory(ctx_dir: Path, image: ImageFS) -> None:
    opts = CopyOptions(now=1000)
    one = summary(plan_copy(tree_of(ctx_dir), ["f.txt"], "/one", workdir="/", image=image,
                            opts=opts))
    assert one == {"one": ("FILE", "0o640", 0, 0, "")}
    into = summary(plan_copy(tree_of(ctx_dir), ["f.txt"], "/dir/", workdir="/", image=image,
                             opts=opts))
    assert into == {"dir": ("DIR", "0o755", 0, 0, ""), "dir/f.txt": ("FILE", "0o640", 0, 0, "")}
    existing = summary(plan_copy(tree_of(ctx_dir), ["f.txt"], "/existing", workdir="/",
                                 image=image, opts=opts))
    assert existing == {"existing": ("DIR", "0o755", 3, 4, ""),
                        "existing/f.txt": ("FILE", "0o640", 0, 0, "")}


def test_directory_contents_and_created_parents(ctx_dir: Path, image: ImageFS) -> None:
    plan = plan_copy(tree_of(ctx_dir), ["d"], "x/y", workdir="/etc",
                     image=image, opts=CopyOptions(owner=(5, 6), now=1000))
    assert summary(plan) == {
        "etc": ("DIR", "0o751", 0, 0, ""),  # existing parent keeps its metadata
        "etc/x": ("DIR", "0o755", 5, 6, ""),  # created parents are owned like the files
        "etc/x/y": ("DIR", "0o755", 5, 6, ""),
        "etc/x/y/a": ("FILE", "0o644", 5, 6, ""),
        "etc/x/y/lnk": ("SYMLINK", "0o777", 5, 6, "a"),
        "etc/x/y/sub": ("DIR", "0o700", 5, 6, ""),
        "etc/x/y/sub/b": ("FILE", "0o644", 5, 6, ""),
    }
    assert plan.kind == "dir"


def test_chmod_applies_to_files_and_directories(ctx_dir: Path, image: ImageFS) -> None:
    plan = plan_copy(tree_of(ctx_dir), ["d"], "/cm", workdir="/", image=image,
                     opts=CopyOptions(chmod=lambda mode, is_dir: 0o600, now=1))
    modes = {e.path: oct(e.mode) for e in plan.entries}
    assert modes == {"cm": "0o755", "cm/a": "0o600", "cm/lnk": "0o777", "cm/sub": "0o600",
                     "cm/sub/b": "0o600"}


def test_destination_symlinks_are_followed_in_the_image(ctx_dir: Path, image: ImageFS) -> None:
    plan = plan_copy(tree_of(ctx_dir), ["f.txt"], "/var/run/", workdir="/", image=image,
                     opts=CopyOptions())
    assert [e.path for e in plan.entries] == ["run", "run/f.txt"]


def test_top_level_symlink_is_followed(ctx_dir: Path, image: ImageFS) -> None:
    plan = plan_copy(tree_of(ctx_dir), ["topl"], "/tl", workdir="/", image=image,
                     opts=CopyOptions())
    [entry] = plan.entries
    assert entry.kind is EntryKind.FILE and entry.source == str(ctx_dir / "f.txt")


def test_globs_and_multiple_sources_need_a_directory(ctx_dir: Path, image: ImageFS) -> None:
    plan = plan_copy(tree_of(ctx_dir), ["*.txt"], "/t/", workdir="/", image=image,
                     opts=CopyOptions())
    assert [e.path for e in plan.entries] == ["t", "t/f.txt", "t/g.txt"]
    assert plan.kind == "multi"
    with pytest.raises(BuildError, match="must be a directory and end with a /"):
        plan_copy(tree_of(ctx_dir), ["*.txt"], "/t", workdir="/", image=image,
                  opts=CopyOptions())
    with pytest.raises(SourceNotFound, match="no source files were specified"):
        plan_copy(tree_of(ctx_dir), ["*.nope"], "/t/", workdir="/", image=image,
                  opts=CopyOptions())


def test_missing_and_forbidden_sources(ctx_dir: Path, image: ImageFS) -> None:
    with pytest.raises(SourceNotFound) as info:
        plan_copy(tree_of(ctx_dir), ["x"], "/x", workdir="/", image=image, opts=CopyOptions())
    assert str(info.value) == "COPY failed: file not found in build context: x"
    with pytest.raises(ForbiddenPath) as info2:
        plan_copy(tree_of(ctx_dir), ["../x"], "/x", workdir="/", image=image,
                  opts=CopyOptions())
    assert str(info2.value) == "COPY failed: forbidden path outside the build context: ../x"


def test_dockerignore_hides_sources(ctx_dir: Path, image: ImageFS) -> None:
    tree = tree_of(ctx_dir, IgnoreRules.from_text(b"g.txt\nd/sub\n"))
    with pytest.raises(SourceNotFound):
        plan_copy(tree, ["g.txt"], "/g", workdir="/", image=image, opts=CopyOptions())
    plan = plan_copy(tree, ["."], "/all/", workdir="/", image=image, opts=CopyOptions())
    paths = [e.path for e in plan.entries]
    assert "all/g.txt" not in paths and "all/d/sub" not in paths and "all/d/a" in paths


def test_exclude_patterns(ctx_dir: Path, image: ImageFS) -> None:
    plan = plan_copy(tree_of(ctx_dir), ["d"], "/e/", workdir="/", image=image,
                     opts=CopyOptions(exclude=lambda p: p == "sub" or p.startswith("sub/")))
    assert [e.path for e in plan.entries] == ["e", "e/a", "e/lnk"]


def test_digest_covers_content_and_metadata(ctx_dir: Path, image: ImageFS) -> None:
    def digest(**kw: object) -> str:
        return plan_copy(tree_of(ctx_dir), ["d"], "/d", workdir="/", image=image,
                         opts=CopyOptions(**kw)).digest  # type: ignore[arg-type]

    first = digest(now=1)
    assert digest(now=2) == first  # the time created dirs get is not part of the key
    (ctx_dir / "d" / "a").write_text("changed\n")
    assert digest(now=1) != first
    changed = digest(now=1)
    assert digest(owner=(1, 1)) != changed
    os.chmod(ctx_dir / "d" / "a", 0o600)
    assert digest() != changed


def test_heredoc_inline_file(image: ImageFS) -> None:
    plan = plan_copy(None, [InlineFile("EOF", b"hello\n")], "/greeting", workdir="/",
                     image=image, opts=CopyOptions(now=5))
    [entry] = plan.entries
    assert (entry.path, entry.source, entry.mode, entry.mtime) == ("greeting", b"hello\n",
                                                                    0o644, 5)


def test_copy_from_image_keeps_owners(tmp_path: Path, image: ImageFS) -> None:
    layer = tmp_path / "stage"
    (layer / "out").mkdir(parents=True)
    (layer / "out" / "bin").write_text("#!")
    os.chown(layer / "out" / "bin", 7, 8)
    tree = ImageTree(ImageFS([layer]), "stage builder")
    plan = plan_copy(tree, ["/out/bin"], "/usr/local/bin/", workdir="/", image=image,
                     opts=CopyOptions())
    assert summary(plan)["usr/local/bin/bin"] == ("FILE", "0o644", 7, 8, "")
    with pytest.raises(SourceNotFound, match="file not found in stage builder: /nope"):
        plan_copy(tree, ["/nope"], "/x", workdir="/", image=image, opts=CopyOptions())


def _tar_bytes() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        d = tarfile.TarInfo("pkg")
        d.type, d.mode, d.uid, d.gid = tarfile.DIRTYPE, 0o750, 11, 12
        tar.addfile(d)
        f = tarfile.TarInfo("pkg/../../etc/evil")  # cleaned: cannot climb out
        f.size = 4
        tar.addfile(f, io.BytesIO(b"evil"))
        g = tarfile.TarInfo("pkg/data")
        g.size, g.mode = 3, 0o604
        tar.addfile(g, io.BytesIO(b"abc"))
    return buf.getvalue()


@pytest.mark.parametrize("compress", [
    lambda b: b,
    lambda b: __import__("gzip").compress(b),
    bz2.compress,
    lzma.compress,
    lambda b: zstandard.ZstdCompressor().compress(b),
], ids=["tar", "gzip", "bzip2", "xz", "zstd"])
def test_add_unpacks_local_archives(tmp_path: Path, ctx_dir: Path, image: ImageFS,
                                    compress) -> None:  # type: ignore[no-untyped-def]
    (ctx_dir / "a.tar.x").write_bytes(compress(_tar_bytes()))
    expander = ArchiveExpander(tmp_path / "scratch")
    plan = plan_copy(tree_of(ctx_dir), ["a.tar.x"], "/opt", workdir="/", image=image,
                     opts=CopyOptions(), instruction="ADD", expand=expander)
    s = summary(plan)
    assert s["opt/pkg"] == ("DIR", "0o750", 11, 12, "")
    assert s["opt/pkg/data"] == ("FILE", "0o604", 0, 0, "")
    assert "opt/etc/evil" in s and not any(p.startswith("etc") for p in s)
    data = next(e for e in plan.entries if e.path == "opt/pkg/data")
    assert Path(str(data.source)).read_bytes() == b"abc"


def test_add_copies_non_archives_as_files(tmp_path: Path, ctx_dir: Path, image: ImageFS) -> None:
    (ctx_dir / "fake.gz").write_bytes(__import__("gzip").compress(b"not a tar at all"))
    plan = plan_copy(tree_of(ctx_dir), ["fake.gz"], "/opt/", workdir="/", image=image,
                     opts=CopyOptions(), instruction="ADD",
                     expand=ArchiveExpander(tmp_path / "s"))
    assert [e.path for e in plan.entries] == ["opt", "opt/fake.gz"]


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def test_add_url(tmp_path: Path, http_root: tuple[str, Path], image: ImageFS) -> None:
    base, root = http_root
    (root / "file.txt").write_text("served\n")
    os.utime(root / "file.txt", (1_600_000_000, 1_600_000_000))
    item = fetch_url(f"{base}/file.txt", tmp_path / "scratch")
    plan = plan_copy(None, [item], "/srv/", workdir="/", image=image, opts=CopyOptions())
    entry = plan.entries[-1]
    assert (entry.path, entry.mode, entry.mtime) == ("srv/file.txt", 0o600, 1_600_000_000)
    assert Path(str(entry.source)).read_text() == "served\n"
    with pytest.raises(BuildError, match="status 404"):
        fetch_url(f"{base}/missing", tmp_path / "scratch")
