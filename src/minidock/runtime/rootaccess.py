"""Work on a container's filesystem as the container sees it (rootfs + volumes).

A running container is reached through `/proc/<pid>/root`, which the kernel
resolves inside the container's own mount namespace. A stopped container has
no mounts at all (they lived in its mount namespace), so a forked child makes
a private mount namespace (and user namespace when rootless), mounts the
rootfs and the container's volumes there, and does the work; everything it
mounted disappears when it exits. The container's lock keeps a `start` from
mounting the same overlay upper dir at the same time.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

from minidock.runtime import libc
from minidock.runtime.containers import Container
from minidock.runtime.idmap import IdMap, map_own_ids, plan_idmap
from minidock.runtime.inside import bind
from minidock.runtime.procsync import (
    MSG_ERROR,
    MSG_GO,
    MSG_MAP_IDS,
    child_main,
    error_from,
    read_messages,
)
from minidock.runtime.rootfs import get_driver


def with_container_root(container: Container, work: Callable[[str], None]) -> None:
    """Call `work(root_path)` with the container's filesystem at `root_path`.

    For a stopped container `work` runs in a child process: it may write to
    inherited fds (stdout) and raise MinidockError, which is re-raised here
    with its message and exit code; other results do not come back.
    """
    container.refresh()
    if container.running and container.container_alive():
        work(f"/proc/{container.pid}/root")
        return
    with container.lock():
        _in_private_mount(container, work)


def in_container_mount_ns(container: Container, work: Callable[[str], None]) -> None:
    """Call `work("/")` in a child whose root is the container's own view.

    For a running container the child joins its mount namespace (and user
    namespace when it has one), so every path, symlinks included, resolves
    exactly as inside the container; a stopped one is mounted privately.
    """
    container.refresh()
    if not (container.running and container.container_alive()):
        with container.lock():
            _in_private_mount(container, work, chroot=True)
        return
    target = container.pid
    fds = []
    if os.stat(f"/proc/{target}/ns/user").st_ino != os.stat("/proc/self/ns/user").st_ino:
        fds.append(os.open(f"/proc/{target}/ns/user", os.O_RDONLY | os.O_CLOEXEC))
    fds.append(os.open(f"/proc/{target}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC))

    def joined(_err_w: int) -> None:
        for fd in fds:
            libc.setns(fd, 0)
        work("/")

    pid, err_r = _fork_worker(joined)
    for fd in fds:
        os.close(fd)
    _await_child(pid, err_r)


def _in_private_mount(container: Container, work: Callable[[str], None], *,
                      chroot: bool = False) -> None:
    spec = container.spec
    idmap = plan_idmap() if os.geteuid() != 0 else None
    go_r, go_w = os.pipe2(os.O_CLOEXEC)

    def mounted(err_w: int) -> None:
        flags = libc.CLONE_NEWNS
        if idmap is not None:
            flags |= libc.CLONE_NEWUSER
        libc.unshare(flags)
        if idmap is not None:
            map_own_ids(idmap, err_w, go_r)
        libc.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)
        root = get_driver(spec.driver).mount(spec.bundle, libc.mount,
                                             rootless=idmap is not None)
        root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        for m in spec.mounts:
            if os.path.exists(m.source):
                bind(root_fd, m.source, m.target, m.readonly)
        os.close(root_fd)
        if chroot:
            os.chroot(root)
            os.chdir("/")
            root = "/"
        work(root)

    pid, err_r = _fork_worker(mounted, close_in_child=(go_w,))
    os.close(go_r)
    _await_child(pid, err_r, idmap, go_w)


def _fork_worker(body: Callable[[int], None], close_in_child: tuple[int, ...] = ()
                 ) -> tuple[int, int]:
    """Fork a child that runs `body(err_w)` under the parent/child protocol (it dies
    with the parent; an error it raises goes to `err_w` as a message); returns the
    child's pid and the read end for `_await_child`."""
    import sys

    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        def run() -> None:
            for fd in (err_r, *close_in_child):
                os.close(fd)
            libc.set_pdeathsig(signal.SIGKILL)
            body(err_w)
            sys.stdout.flush()

        child_main(err_w, run, ok=0, failed=1)
    os.close(err_w)
    return pid, err_r


def _await_child(pid: int, err_r: int, idmap: IdMap | None = None, go_w: int | None = None
                 ) -> None:
    """Serve the child's messages to their end (mapping its user namespace's ids when
    it asks), reap it, and raise the error it reported."""
    error = ""
    try:
        for kind, payload in read_messages(err_r):
            if kind == MSG_MAP_IDS and idmap is not None and go_w is not None:
                idmap.apply(pid)
                os.write(go_w, MSG_GO)
            elif kind == MSG_ERROR and not error:
                error = payload.decode(errors="replace")
    finally:
        os.close(err_r)
        if go_w is not None:
            os.close(go_w)
        os.waitpid(pid, 0)
    if error:
        raise error_from(error)
