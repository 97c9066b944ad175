"""Test sessions that own containers, and the clean-up of sessions that died.

A test run is an *owner*, named `<pid>-<start time>` after its main process
(the pytest process, or the xdist controller): with the start time, a PID
reused later never passes for the old owner. The owner gets a session
directory under `<tempdir>/minidock-pytest-<uid>/`, in which each of its
processes (xdist workers) records the store it uses, and, for an isolated
store, keeps that store. Every container a session starts carries the
owner's label (and its worker's).

When the owner ends it sweeps its directory: it removes the containers it
owns and the isolated stores, then the directory. When it was killed
instead, the next session that starts finds the directory of a dead owner
and does the same, so a SIGKILLed test run leaves nothing behind for long.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from minidock.errors import MinidockError, StoreError
from minidock.fsutil import write_atomic

OWNER_LABEL = "org.minidock.pytest.owner"
WORKER_LABEL = "org.minidock.pytest.worker"
_OWNER_NAME = re.compile(r"^(\d+)-(\d+)$")
_REGISTRY_SUFFIX = ".json"


def process_owner(pid: int | None = None) -> str:
    """`<pid>-<start time>` of a live process (this one by default)."""
    from minidock.runtime.containers import process_start_time

    pid = os.getpid() if pid is None else pid
    start = process_start_time(pid)
    if start is None:
        raise StoreError(f"process {pid} does not exist")
    return f"{pid}-{start}"


def owner_alive(owner: str) -> bool:
    from minidock.runtime.containers import process_start_time

    match = _OWNER_NAME.match(owner)
    if match is None:
        return False
    return process_start_time(int(match.group(1))) == int(match.group(2))


def base_path(tempdir: str | None = None) -> Path:
    """`<tempdir>/minidock-pytest-<uid>`, where session directories live."""
    return Path(tempdir or tempfile.gettempdir()) / f"minidock-pytest-{os.getuid()}"


def sessions_base(tempdir: str | None = None) -> Path:
    """`base_path()`, created private to this user; refused when someone else made
    it (a shared /tmp must not hand our stores to them)."""
    base = base_path(tempdir)
    try:
        os.mkdir(base, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(base)
    import stat

    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
        raise StoreError(f"{base} is not a private directory of this user",
                         hint="remove it, or point TMPDIR elsewhere")
    return base


@dataclass(frozen=True)
class StoreUse:
    """One process's store, as recorded in the session directory."""

    worker: str
    root: Path
    isolated: bool


class Session:
    """The session directory of one owner."""

    def __init__(self, base: Path, owner: str):
        self.owner = owner
        self.path = base / owner

    def store_for(self, worker: str) -> Path:
        """Where `worker`'s isolated store lives."""
        return self.path / worker

    def register(self, worker: str, root: Path, *, isolated: bool) -> None:
        """Record `worker`'s store before any container exists in it, so a sweep after
        a crash knows where to look."""
        os.makedirs(self.path, 0o700, exist_ok=True)
        target = self.path / f"{worker}{_REGISTRY_SUFFIX}"
        write_atomic(target, json.dumps({"worker": worker, "root": str(root),
                                         "isolated": isolated}).encode(), durable=False)

    def uses(self) -> list[StoreUse]:
        out = []
        try:
            names = sorted(os.listdir(self.path))
        except FileNotFoundError:
            return []
        for name in names:
            if name.startswith(".") or not name.endswith(_REGISTRY_SUFFIX):
                continue
            try:
                data = json.loads((self.path / name).read_text())
                out.append(StoreUse(str(data["worker"]), Path(data["root"]),
                                    bool(data["isolated"])))
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return out

    def release(self, worker: str) -> None:
        """End `worker`'s part: its containers, and its store when isolated."""
        for use in self.uses():
            if use.worker == worker:
                _release(self.path, use, self.owner, worker)
                try:
                    os.unlink(self.path / f"{worker}{_REGISTRY_SUFFIX}")
                except FileNotFoundError:
                    pass

    def sweep(self) -> bool:
        """Remove everything the session owns, then its directory. False when another
        process is sweeping it right now."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            return True
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    return False
                raise
            for use in self.uses():
                _release(self.path, use, self.owner, None)
            if not _mounts_under(self.path):
                from minidock.fsutil import remove_tree

                remove_tree(self.path)
            return True
        finally:
            os.close(fd)


def _release(session_path: Path, use: StoreUse, owner: str, worker: str | None) -> None:
    """Remove the containers of `owner` (and `worker`) in `use`'s store. An isolated
    store is the session's alone: all of its containers go, then the store itself
    (only ever inside the session directory, whatever the record says)."""
    if not use.isolated:
        remove_owned_containers(use.root, owner, worker)
        return
    inside = os.path.realpath(session_path) + "/"
    if not os.path.realpath(use.root).startswith(inside):
        return
    remove_owned_containers(use.root, None)
    if use.root.exists() and not _mounts_under(use.root):
        from minidock.fsutil import remove_tree

        remove_tree(use.root)


def remove_owned_containers(root: Path, owner: str | None, worker: str | None = None
                            ) -> list[str]:
    """Kill and remove the containers in `root` labelled with `owner` (every one when
    None) and, when given, `worker`; their IDs."""
    from minidock.runtime.containers import list_containers
    from minidock.runtime.control import remove_container

    removed = []
    for record in list_containers(root):
        labels = record.data.get("Config", {}).get("Labels") or {}
        if owner is not None and labels.get(OWNER_LABEL) != owner:
            continue
        if worker is not None and labels.get(WORKER_LABEL) != worker:
            continue
        try:
            remove_container(record, force=True, volumes=True)
        except MinidockError:
            continue  # removed by someone else meanwhile
        removed.append(record.id)
    return removed


def sweep_dead_sessions(base: Path) -> list[str]:
    """Sweep the session directories whose owner is gone; the owners swept."""
    swept = []
    try:
        names = os.listdir(base)
    except FileNotFoundError:
        return []
    for name in names:
        if _OWNER_NAME.match(name) and not owner_alive(name):
            if Session(base, name).sweep():
                swept.append(name)
    return swept


def _mounts_under(path: Path) -> bool:
    """Whether anything is mounted at or below `path` (then it must not be deleted)."""
    prefix = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 4:
                    point = fields[4].replace("\\040", " ")
                    if point == prefix or point.startswith(prefix + "/"):
                        return True
    except OSError:
        return False
    return False
