"""Which rootfs driver new containers get.

`MINIDOCK_STORAGE_DRIVER` (Settings.storage_driver) decides when set;
otherwise overlay is tried once — a throwaway mount in a private mount
namespace of a child process — and the answer is cached per kernel and user in
`$root/containers/.driver`, so `run` does not pay for the probe each time.
"""

from __future__ import annotations

import os

from minidock.runtime.rootfs import COPY, DRIVERS, OVERLAY, overlay_options

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

    class StoreSettings(Protocol):
        """What the runtime reads of the settings (Settings, or `run`'s lighter RunSettings)."""

        @property
        def root(self) -> str | os.PathLike[str]: ...

        @property
        def storage_driver(self) -> str | None: ...

CACHE_NAME = ".driver"


def storage_driver(settings: StoreSettings) -> str:
    """The driver name ("overlay" or "copy") for new containers of this store."""
    if settings.storage_driver:
        if settings.storage_driver not in DRIVERS:
            from minidock.errors import UsageError

            raise UsageError(f"unknown storage driver {settings.storage_driver!r} "
                             f"(MINIDOCK_STORAGE_DRIVER): choose one of {', '.join(DRIVERS)}")
        return settings.storage_driver
    base = os.path.join(settings.root, "containers")
    key = f"{os.uname().release} {os.geteuid()}"
    cache = os.path.join(base, CACHE_NAME)
    try:
        with open(cache) as f:
            cached_key, _, name = f.read().strip().rpartition(" ")
        if cached_key == key and name in DRIVERS:
            return name
    except OSError:
        pass
    name = OVERLAY if probe_overlay(base) else COPY
    os.makedirs(base, exist_ok=True)
    from minidock.fsutil import write_atomic

    # not durable: a lost answer only costs one probe more
    write_atomic(cache, f"{key} {name}\n".encode(), durable=False)
    return name


def probe_overlay(base: str) -> bool:
    """Can an overlay with our options be mounted (and written) on this filesystem?"""
    from minidock.runtime import libc

    os.makedirs(base, exist_ok=True)
    probe = os.path.join(base, f".probe-{os.getpid()}-{os.urandom(4).hex()}")
    for sub in ("lower", "upper", "work", "merged"):
        os.makedirs(os.path.join(probe, sub))
    rootless = os.geteuid() != 0
    uid, gid = os.geteuid(), os.getegid()
    pid = os.fork()
    if pid == 0:
        ok = False
        try:
            libc.set_pdeathsig(9)
            if rootless:
                libc.unshare(libc.CLONE_NEWUSER | libc.CLONE_NEWNS)
                for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"),
                                   ("gid_map", f"0 {gid} 1")):
                    with open(f"/proc/self/{name}", "w") as f:
                        f.write(text)
            else:
                libc.unshare(libc.CLONE_NEWNS)
            libc.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)
            os.chdir(probe)
            libc.mount("overlay", "merged", "overlay", 0,
                       overlay_options(["lower"], "upper", "work", rootless=rootless))
            os.close(os.open("merged/probe", os.O_CREAT | os.O_WRONLY, 0o644))
            ok = os.path.exists("upper/probe")
        except BaseException:  # noqa: B036 - any failure means "no overlay here"
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    from minidock.fsutil import remove_tree

    remove_tree(probe)  # overlay leaves a mode-000 work/work: remove_tree opens it up
    return os.waitstatus_to_exitcode(status) == 0
