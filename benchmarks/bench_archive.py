"""save and load against `skopeo copy` doing the same conversion (issue 1/7).

The image has one 50 MB layer (a file that is half random bytes, half text, so
compression behaves as on real binaries). Both tools convert between an OCI
layout and a docker-archive, alternating runs:

  archive.load  `minidock load -i image.tar` into an empty store
                vs `skopeo copy docker-archive:image.tar oci:DIR:bench:1`
  archive.save  `minidock save -o out.tar bench:1`, from the store that load made
                (its layer is stored as the archive had it, a plain tar) and from
                a store holding the layer zstd-compressed (what `import` writes)
                vs `skopeo copy oci:DIR:bench:1 docker-archive:out.tar:bench:1`
                (DIR holds the layer gzip-compressed, as skopeo wrote it)
  archive.save.oci  `minidock save --format oci` vs `skopeo copy oci:DIR oci-archive:out.tar`

Target: minidock within 1.5x of skopeo (median / median). The numbers include
each tool's start-up, as a user pays it.

Run with `python benchmarks/run.py --only archive.`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from contexts import MB, write_file
from harness import Context, NotAvailable, Row, Side, command, figure, remove_tree, sh

TARGET = 1.5
SKOPEO = "skopeo copy"
REF = "bench:1"


class _Image:
    """The benchmark image in every form the figures start from."""

    def __init__(self, ctx: Context):
        if shutil.which("skopeo") is None:
            raise NotAvailable("skopeo is not installed")
        bench = self.bench = ctx.bench
        work = ctx.tmpdir("archive")
        self.work = work
        size_mb = bench.pick(5, 50)
        rootfs = work / "rootfs"
        rootfs.mkdir()
        write_file(rootfs / "big.bin", f"archive-{size_mb}mb:big.bin", size_mb * MB)
        sh(["tar", "-C", rootfs, "-cf", work / "rootfs.tar", "."])
        # a store holding the layer zstd-compressed, as `import` (and a build) write it
        self.zstd_store = work / "zstd-store"
        sh(bench.md("import", work / "rootfs.tar", REF), env=self.env(self.zstd_store))
        self.docker_archive = work / "image.tar"
        sh(bench.md("save", "-o", self.docker_archive, REF), env=self.env(self.zstd_store))
        # the store `load` makes: the layer kept as the docker-archive has it
        self.loaded_store = work / "loaded-store"
        sh(bench.md("load", "-q", "-i", self.docker_archive), env=self.env(self.loaded_store))
        # skopeo's OCI layout of the same image (it gzips the layer)
        self.layout = work / "skopeo-layout"
        sh(["skopeo", "copy", "-q", f"docker-archive:{self.docker_archive}",
            f"oci:{self.layout}:{REF}"], env=bench.env)
        ctx.note(f"one layer of {size_mb} MB (half random, half text); docker-archive "
                 f"{self.docker_archive.stat().st_size / 1e6:.1f} MB")

    def env(self, store: Path) -> dict[str, str]:
        """The bench environment with MINIDOCK_ROOT pointing at `store`."""
        return self.bench.env_with(MINIDOCK_ROOT=str(store))


def _fresh(path: Path):  # type: ignore[no-untyped-def]
    return lambda: remove_tree(path)


@figure("archive.load", "load a docker-archive: minidock load vs skopeo copy to an OCI layout",
        rows=[Row(anchor=SKOPEO, target=TARGET, issue="1/7 store")], runs=7)
def archive_load(ctx: Context) -> dict[str, list[float]]:
    image = _Image(ctx)
    store = image.work / "load-store"
    layout = image.work / "load-layout"
    return ctx.alternate([
        Side("minidock", command(image.bench.md("load", "-q", "-i", image.docker_archive),
                                 env=image.env(store)), prepare=_fresh(store)),
        Side(SKOPEO, command(["skopeo", "copy", "-q", f"docker-archive:{image.docker_archive}",
                              f"oci:{layout}:{REF}"], env=image.bench.env),
             prepare=_fresh(layout)),
    ])


@figure("archive.save", "save a docker-archive: minidock save vs skopeo copy from an OCI layout",
        rows=[Row(anchor=SKOPEO, target=TARGET, issue="1/7 store"),
              Row(subject="minidock (zstd layer)", anchor=SKOPEO, target=TARGET,
                  issue="1/7 store")], runs=7)
def archive_save(ctx: Context) -> dict[str, list[float]]:
    image = _Image(ctx)
    out = image.work / "out"
    out.mkdir()
    return ctx.alternate([
        Side("minidock", command(image.bench.md("save", "-o", out / "md.tar", REF),
                                 env=image.env(image.loaded_store)),
             prepare=_fresh(out / "md.tar")),
        Side("minidock (zstd layer)", command(image.bench.md("save", "-o", out / "mdz.tar", REF),
                                              env=image.env(image.zstd_store)),
             prepare=_fresh(out / "mdz.tar")),
        Side(SKOPEO, command(["skopeo", "copy", "-q", f"oci:{image.layout}:{REF}",
                              f"docker-archive:{out / 'sk.tar'}:{REF}"], env=image.bench.env),
             prepare=_fresh(out / "sk.tar")),
    ])


@figure("archive.save.oci", "save an OCI archive: minidock save --format oci vs skopeo copy",
        rows=[Row(anchor=SKOPEO, target=TARGET, issue="1/7 store")], runs=7)
def archive_save_oci(ctx: Context) -> dict[str, list[float]]:
    image = _Image(ctx)
    out = image.work / "out"
    out.mkdir()
    return ctx.alternate([
        Side("minidock", command(image.bench.md("save", "--format", "oci", "-o", out / "md.tar",
                                                REF), env=image.env(image.loaded_store)),
             prepare=_fresh(out / "md.tar")),
        Side(SKOPEO, command(["skopeo", "copy", "-q", f"oci:{image.layout}:{REF}",
                              f"oci-archive:{out / 'sk.tar'}:{REF}"], env=image.bench.env),
             prepare=_fresh(out / "sk.tar")),
    ])


FIGURES = (archive_load, archive_save, archive_save_oci)
