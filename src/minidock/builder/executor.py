"""How RUN steps execute: an interface, and the implementation on the runtime's sandbox.

A RUN step is a container of the runtime on the parent image's layers; what
it changes (its writable layer) becomes the step's layer. The builder sees
only `Executor.create(request) -> StepContainer`, so the pure build logic is
tested with a fake executor and the sandbox is swapped in for real builds.
"""

from __future__ import annotations

import os
import secrets
import select
import signal
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from minidock.errors import BuildError
from minidock.fsutil import remove_tree
from minidock.layer.writer import LayerInfo

if TYPE_CHECKING:
    from minidock.runtime.spec import SandboxSpec

Output = Callable[[bytes], None]


@dataclass(frozen=True)
class RunMount:
    """A host path bind-mounted at `target` for one RUN step (cache, bind, tmpfs)."""

    source: Path
    target: str
    readonly: bool = False


@dataclass
class RunRequest:
    """Everything a RUN step's container needs."""

    argv: list[str]
    env: list[str]
    cwd: str
    user: str
    layers: list[Path]  # extracted parent layers, bottom first; the driver stacks a repeat once
    network: str = "host"  # "host", "none" or "private"
    mounts: list[RunMount] = field(default_factory=list)
    # mount targets the parent image lacks: their mount points are not part of the layer
    scratch_paths: list[str] = field(default_factory=list)


class StepContainer(Protocol):
    """One RUN step's container: run it once, take its changes as a layer, remove it."""

    id: str

    def run(self, output: Output) -> int:
        """Run to completion, streaming output; the exit code (128+n for signal n)."""
        ...

    def write_layer(self, sink: BinaryIO, compression: str,
                    source_date_epoch: int | None) -> LayerInfo:
        """The container's changes as one layer (deletions as whiteouts)."""
        ...

    def remove(self) -> None: ...


class Executor(Protocol):
    def create(self, request: RunRequest) -> StepContainer: ...


def new_container_id() -> str:
    return secrets.token_hex(32)


def _hosts_text(hostname: str, host_network: bool) -> bytes:
    if host_network:
        try:
            return Path("/etc/hosts").read_bytes()
        except OSError:
            pass
    return (f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            f"127.0.1.1\t{hostname}\n").encode()


def _resolv_text() -> bytes:
    try:
        return Path("/etc/resolv.conf").read_bytes()
    except OSError:
        return b""


class SandboxContainer:
    """A RUN step in the runtime's namespace sandbox, its bundle in the store's temp dir."""

    def __init__(self, request: RunRequest, bundle_parent: Path, driver: str):
        from minidock.runtime.rootfs import get_driver

        self.id = new_container_id()
        self.request = request
        self.driver_name = driver
        self._driver = get_driver(driver)
        bundle_parent.mkdir(parents=True, exist_ok=True)
        self.bundle = bundle_parent / f"build-{self.id[:16]}"
        self.bundle.mkdir(mode=0o700)
        self._identities: dict[str, tuple[int, int]] | None = None
        try:
            layers = [str(p) for p in request.layers]
            self._driver.create(str(self.bundle), layers)
            if driver != "overlay":
                from minidock.layer.differ import snapshot_dir_identities

                # the copy driver has no upper dir: keep an untouched copy to diff against
                base = self.bundle / "base"
                base.mkdir()
                self._driver.create(str(base), layers)
                self._identities = snapshot_dir_identities(self.bundle / "rootfs")
            hostname = self.id[:12]
            (self.bundle / "hosts").write_bytes(_hosts_text(hostname, request.network == "host"))
            (self.bundle / "hostname").write_text(hostname + "\n")
            (self.bundle / "resolv.conf").write_bytes(_resolv_text())
        except BaseException:
            self.remove()
            raise

    def _spec(self) -> SandboxSpec:
        from minidock.runtime.spec import BindMount, ProcessSpec, SandboxSpec

        req = self.request
        process = ProcessSpec(args=list(req.argv), env=list(req.env), cwd=req.cwd or "/",
                              user=req.user or "")
        mounts = [BindMount(str(m.source), m.target, m.readonly) for m in req.mounts]
        return SandboxSpec(id=self.id, bundle=str(self.bundle), driver=self.driver_name,
                           hostname=self.id[:12], process=process, network=req.network,
                           mounts=mounts)

    def run(self, output: Output) -> int:
        from minidock.runtime import sandbox
        from minidock.runtime.spec import Stdio

        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        try:
            stdio = Stdio(stdin=None, stdout=write_fd, stderr=write_fd)
            box = sandbox.start(self._spec(), stdio)
        except BaseException:
            os.close(read_fd)
            os.close(write_fd)
            raise
        os.close(write_fd)
        try:
            while True:
                select.select([read_fd], [], [])
                data = os.read(read_fd, 65536)
                if not data:
                    break
                output(data)
            return box.wait()
        except BaseException:
            # Ctrl-C or a failing callback: the container must not outlive the step
            try:
                os.kill(box.helper_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(box.helper_pid, 0)
            except ChildProcessError:
                pass
            raise
        finally:
            os.close(read_fd)
            box.close()

    def _drop_scratch_mountpoints(self, top: Path) -> None:
        """Remove mount points the sandbox made for RUN --mount targets the image lacked."""
        for target in sorted(self.request.scratch_paths, key=len, reverse=True):
            path = top / target.lstrip("/")
            while path != top:
                try:
                    st = os.lstat(path)
                except FileNotFoundError:
                    path = path.parent
                    continue
                if stat.S_ISDIR(st.st_mode):
                    try:
                        os.rmdir(path)
                    except OSError:
                        break  # not empty: something else lives there
                elif st.st_size == 0 and stat.S_ISREG(st.st_mode):
                    os.unlink(path)
                else:
                    break
                path = path.parent

    def write_layer(self, sink: BinaryIO, compression: str,
                    source_date_epoch: int | None) -> LayerInfo:
        from minidock.layer.differ import diff_overlay_upper, diff_trees
        from minidock.runtime.idmap import rootless_owners

        owners = rootless_owners()
        if self.driver_name == "overlay":
            upper = self.bundle / "upper"
            self._drop_scratch_mountpoints(upper)
            return diff_overlay_upper(upper, sink, compression,
                                      source_date_epoch=source_date_epoch, owners=owners)
        rootfs = self.bundle / "rootfs"
        self._drop_scratch_mountpoints(rootfs)
        return diff_trees(self.bundle / "base" / "rootfs", rootfs, sink, compression,
                          dir_identities=self._identities, source_date_epoch=source_date_epoch,
                          owners=owners)

    def remove(self) -> None:
        if self.bundle.exists():
            remove_tree(self.bundle)


class SandboxExecutor:
    """Creates RUN containers with the runtime (overlay, or the copy driver)."""

    def __init__(self, bundle_parent: Path, driver: str | None = None):
        self.bundle_parent = bundle_parent
        self.driver = driver or "overlay"

    def create(self, request: RunRequest) -> StepContainer:
        if not request.argv:
            raise BuildError("RUN has no command")
        return SandboxContainer(request, self.bundle_parent, self.driver)
