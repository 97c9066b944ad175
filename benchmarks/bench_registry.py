"""Push and pull of a 57 MB image: minidock vs `skopeo copy`, side by side (issue 5/7).

The image (five gzip layers of incompressible bytes, fixed seed) is written
once into a source store of its own. Push: every run goes to a registry
started just before it, so each blob really moves and nothing is mounted from
another repository. Pull: both tools pull the same image from one registry
into an empty destination every run (a minidock store / an OCI layout). Both
run as commands, as a user runs them; the local docker-registry of the tests
(`tests/registry_server.py`) serves them.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import random
import sys
import tarfile
from pathlib import Path

from harness import Context, Row, Side, command, figure, remove_tree

LAYER_MB = (30, 15, 8, 3, 1)  # 57 MB of incompressible content, as in the issue
QUICK_LAYER_MB = (2, 1)
SOURCE_TAG = "bench-src:latest"


def _registry_server():  # type: ignore[no-untyped-def]
    tests = Path(__file__).resolve().parents[1] / "tests"
    if str(tests) not in sys.path:
        sys.path.insert(0, str(tests))
    from registry_server import RegistryServer

    return RegistryServer


def source_store(ctx: Context) -> Path:
    """The store holding the image to push, built once per size and reused."""
    from minidock import mediatypes as mt
    from minidock.oci.model import Descriptor
    from minidock.reference import parse
    from minidock.settings import Settings
    from minidock.store.store import Store

    sizes = ctx.bench.pick(QUICK_LAYER_MB, LAYER_MB)
    root = ctx.bench.work / f"registry-source-{'-'.join(map(str, sizes))}"
    done = root / ".complete"
    ctx.note(f"image: {sum(sizes)} MB of incompressible data in {len(sizes)} gzip layers")
    if done.exists():
        return root
    remove_tree(root)
    store = Store(Settings(root=root, config_dir=root / "config")).ensure()
    descs, diff_ids = [], []
    for i, mb in enumerate(sizes):
        payload = random.Random(f"registry-layer-{i}").randbytes(mb * 1_000_000)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo(f"data/layer{i}.bin")
            info.size, info.mtime = len(payload), 0
            tar.addfile(info, io.BytesIO(payload))
        raw = buf.getvalue()
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        blob = gzip.compress(raw, compresslevel=1, mtime=0)
        descs.append(Descriptor(mt.OCI_LAYER_GZIP, store.put_blob(blob), len(blob)))
    config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    store.add_image(config, descs, tags=[parse(SOURCE_TAG)])
    done.touch()
    return root


class FreshRegistry:
    """Starts a new empty registry before each run; stops the last one at the end."""

    def __init__(self, ctx: Context, name: str):
        self.workdir = ctx.tmpdir(f"registries-{name}")
        self.server = None
        self.count = 0
        ctx.cleanup.callback(self.stop)

    def start(self) -> str:
        self.stop()
        self.count += 1
        self.server = _registry_server()(self.workdir / str(self.count)).start()
        return self.server.host

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            remove_tree(self.server.dir)
            self.server = None


@figure("registry.push", "push a 57 MB image to a local registry: minidock vs skopeo copy",
        rows=[Row(anchor="skopeo copy", target=1.5, issue="5/7 registry")])
def push(ctx: Context) -> dict[str, list[float]]:
    bench = ctx.bench
    source = source_store(ctx)
    env = bench.env_with(MINIDOCK_ROOT=str(source))
    mine, theirs = FreshRegistry(ctx, "minidock"), FreshRegistry(ctx, "skopeo")
    refs: dict[str, str] = {}

    def prepare_minidock() -> None:
        refs["minidock"] = f"{mine.start()}/bench/image:latest"
        command(bench.md("tag", SOURCE_TAG, refs["minidock"]), env=env)()

    def prepare_skopeo() -> None:
        refs["skopeo"] = f"{theirs.start()}/bench/image:latest"

    return ctx.alternate([
        Side("minidock", lambda: command(bench.md("push", "-q", refs["minidock"]), env=env)(),
             prepare=prepare_minidock),
        Side("skopeo copy",
             lambda: command(["skopeo", "--insecure-policy", "copy", "-q",
                              "--dest-tls-verify=false", f"oci:{source}:{SOURCE_TAG}",
                              f"docker://{refs['skopeo']}"], env=env)(),
             prepare=prepare_skopeo),
    ])


@figure("registry.pull", "pull a 57 MB image from a local registry: minidock vs skopeo copy",
        rows=[Row(anchor="skopeo copy", target=1.5, issue="5/7 registry")])
def pull(ctx: Context) -> dict[str, list[float]]:
    bench = ctx.bench
    source = source_store(ctx)
    registry = FreshRegistry(ctx, "pull")
    ref = f"{registry.start()}/bench/image:latest"
    command(["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false",
             f"oci:{source}:{SOURCE_TAG}", f"docker://{ref}"], env=bench.env)()
    scratch = ctx.tmpdir("pulled")
    mine, theirs = scratch / "minidock-store", scratch / "oci-layout"
    mine_env = bench.env_with(MINIDOCK_ROOT=str(mine))
    return ctx.alternate([
        Side("minidock", command(bench.md("pull", "-q", ref), env=mine_env),
             prepare=lambda: remove_tree(mine)),
        Side("skopeo copy",
             command(["skopeo", "--insecure-policy", "copy", "-q", "--src-tls-verify=false",
                      f"docker://{ref}", f"oci:{theirs}:latest"], env=bench.env),
             prepare=lambda: remove_tree(theirs)),
    ])


FIGURES = (push, pull)
