"""Container records: `$root/containers/<id>/state.json` and the files beside it.

There is no daemon, so the record is the truth about a container between
commands. It is rewritten atomically (temp file + rename). A record that says
"running" is checked against the kernel: its supervisor's PID must still exist
with the same start time, otherwise the container died with it (the kernel
killed it through PR_SET_PDEATHSIG) and it is shown as exited.

Names are reserved with a symlink `containers/.names/<name> -> <id>`, which is
atomic, so two commands can never give one name to two containers.
"""

from __future__ import annotations

import json
import os
import re

from minidock.errors import ConflictError, ContainerNotFound, UsageError
from minidock.fsutil import write_atomic
from minidock.runtime.clock import ZERO_TIME, now_iso
from minidock.runtime.spec import SandboxSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    StrPath = str | os.PathLike[str]

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
STATE_FILE = "state.json"
LOG_FILE = "ctr.log"
# exit code recorded when the supervisor vanished: PDEATHSIG killed the container
LOST_EXIT_CODE = 137


def containers_dir(root: StrPath) -> str:
    return os.path.join(root, "containers")


def process_start_time(pid: int) -> int | None:
    """Start time of `pid` in clock ticks since boot (None if it does not exist).

    Together with the PID it names one process for good: a PID reused later
    has another start time.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2:].split()
    if fields and fields[0] in (b"Z", b"X"):
        return None  # a zombie has finished
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def alive(pid: int, start: int | None) -> bool:
    return bool(pid) and start is not None and process_start_time(pid) == start


class Container:
    """One container: its record (`data`) and its directory."""

    def __init__(self, root: StrPath, data: dict[str, Any]):
        self.root = os.fspath(root)
        self.data = data

    # -- identity ------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.data["Id"]

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def name(self) -> str:
        return self.data["Name"]

    @property
    def path(self) -> str:
        """The container's directory."""
        return os.path.join(self.root, "containers", self.id)

    @property
    def dir(self) -> Path:
        """The container's directory as a Path (pathlib is kept off `run`'s path)."""
        from pathlib import Path

        return Path(self.path)

    @property
    def spec(self) -> SandboxSpec:
        return SandboxSpec.from_json(self.data["Spec"])

    @property
    def image_id(self) -> str:
        return self.data["Image"]

    @property
    def image_name(self) -> str:
        return self.data.get("ImageName") or self.image_id

    @property
    def log_path(self) -> str:
        return os.path.join(self.path, LOG_FILE)

    # -- state ---------------------------------------------------------------------
    @property
    def state(self) -> dict[str, Any]:
        return self.data["State"]

    @property
    def status(self) -> str:
        return self.state["Status"]

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def pid(self) -> int:
        return int(self.state.get("Pid") or 0)

    @property
    def supervisor_pid(self) -> int:
        return int(self.state.get("SupervisorPid") or 0)

    def container_alive(self) -> bool:
        return alive(self.pid, self.state.get("PidStart"))

    def supervisor_alive(self) -> bool:
        return alive(self.supervisor_pid, self.state.get("SupervisorStart"))

    def refresh(self) -> Container:
        """Notice a container whose supervisor died without recording its end.

        In memory only: looking never writes, so a full disk still lists and
        removes containers. Every reader derives the same end, at the last sign
        of life on disk (the record or the log, whichever was written last),
        until a command that changes the container rewrites its record.
        """
        if self.running and not self.supervisor_alive():
            try:
                current = load_record(self.root, self.id)
            except ContainerNotFound:
                return self
            self.data = current.data
            if self.running and not self.supervisor_alive():
                self._set_exited(LOST_EXIT_CODE, "", now_iso(self._last_written_ns()))
        return self

    def _last_written_ns(self) -> int:
        latest = 0
        for name in (STATE_FILE, LOG_FILE):
            try:
                latest = max(latest, os.stat(os.path.join(self.path, name)).st_mtime_ns)
            except OSError:
                continue
        return latest

    def mark_running(self, pid: int, supervisor_pid: int, ports: list[dict[str, Any]]) -> None:
        self.state.update({
            "Status": "running", "Running": True, "Pid": pid,
            "PidStart": process_start_time(pid), "SupervisorPid": supervisor_pid,
            "SupervisorStart": process_start_time(supervisor_pid), "ExitCode": 0,
            "Error": "", "StartedAt": now_iso(), "FinishedAt": ZERO_TIME})
        self.data["Ports"] = ports
        self.save()

    def mark_exited(self, code: int, error: str = "") -> None:
        self._set_exited(code, error, now_iso())
        self.save()

    def _set_exited(self, code: int, error: str, finished: str) -> None:
        was_created = self.status == "created"
        self.state.update({
            "Status": "created" if was_created and error else "exited", "Running": False,
            "Pid": 0, "PidStart": None, "SupervisorPid": 0, "SupervisorStart": None,
            "ExitCode": code, "Error": error,
            "FinishedAt": self.state.get("FinishedAt") if was_created and error else finished})
        self.data["Ports"] = []

    def save(self) -> None:
        write_json_atomic(os.path.join(self.path, STATE_FILE), self.data)

    def lock(self) -> ContainerLock:
        """Serialises starts of this container: `with container.lock(): ...`."""
        return ContainerLock(self)


class ContainerLock:
    """A flock on the container's directory, held for a `with` block.

    A plain class rather than a contextlib generator: `run` would import
    contextlib for this alone. A forked child closes every fd it does not
    need, this one included, so it never keeps the lock.
    """

    def __init__(self, container: Container):
        self.container = container
        self.fd = -1

    def __enter__(self) -> int:
        import fcntl

        try:
            self.fd = os.open(self.container.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise ContainerNotFound(self.container.id) from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(self.fd)
            raise
        return self.fd

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)
        self.fd = -1


def write_json_atomic(path: str, data: dict[str, Any]) -> None:
    """Replace `path` atomically. Not durable (no fsync): a record describes
    processes, which a crash ends anyway, and `run` must stay fast."""
    encoded = json.dumps(data, separators=(",", ":"))  # no indent: the C encoder
    write_atomic(path, encoded.encode(), durable=False)


def load_record(root: StrPath, container_id: str) -> Container:
    path = os.path.join(containers_dir(root), container_id, STATE_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            return Container(root, json.load(f))
    except (FileNotFoundError, NotADirectoryError):
        raise ContainerNotFound(container_id) from None
    except ValueError:
        raise ContainerNotFound(container_id) from None


def all_ids(root: StrPath) -> list[str]:
    try:
        names = os.listdir(containers_dir(root))
    except FileNotFoundError:
        return []
    return [n for n in names if len(n) == 64 and not n.startswith(".")]


def list_containers(root: StrPath, *, refresh: bool = True) -> list[Container]:
    """Every container with a readable record, newest first."""
    out = []
    for cid in all_ids(root):
        try:
            c = load_record(root, cid)
        except ContainerNotFound:
            continue  # being created or removed right now
        out.append(c.refresh() if refresh else c)
    out.sort(key=lambda c: c.data.get("Created", ""), reverse=True)
    return out


def names_dir(root: StrPath) -> str:
    return os.path.join(containers_dir(root), ".names")


def find_container(root: StrPath, ref: str, *, refresh: bool = True) -> Container:
    """By full ID, name (with or without a leading /), or unique ID prefix."""
    ref_name = ref[1:] if ref.startswith("/") else ref
    if not ref_name:
        raise ContainerNotFound(ref)
    candidates: list[str] = []
    if len(ref_name) == 64 and os.path.isdir(os.path.join(containers_dir(root), ref_name)):
        candidates = [ref_name]
    elif NAME_RE.match(ref_name):
        try:
            target = os.readlink(os.path.join(names_dir(root), ref_name))
            if os.path.exists(os.path.join(containers_dir(root), target, STATE_FILE)):
                candidates = [target]
        except OSError:
            pass
    if not candidates and re.fullmatch(r"[0-9a-f]+", ref_name):
        candidates = [cid for cid in all_ids(root) if cid.startswith(ref_name)]
        if len(candidates) > 1:
            raise ConflictError(f"multiple containers found with provided prefix: {ref_name}")
    if not candidates:
        raise ContainerNotFound(ref)
    c = load_record(root, candidates[0])
    return c.refresh() if refresh else c


def reserve_name(root: StrPath, name: str, container_id: str) -> None:
    if not NAME_RE.match(name):
        raise UsageError(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] "
                         "are allowed")
    d = names_dir(root)
    os.makedirs(d, exist_ok=True)
    link = os.path.join(d, name)
    try:
        os.symlink(container_id, link)
        return
    except FileExistsError:
        pass
    owner = os.readlink(link)
    if os.path.isdir(os.path.join(containers_dir(root), owner)):
        raise ConflictError(f'Conflict. The container name "/{name}" is already in use by '
                            f'container "{owner}". You have to remove (or rename) that '
                            "container to be able to reuse that name.")
    # a leftover of a container that no longer exists: take it over atomically
    tmp = os.path.join(d, f".{name}.{os.getpid()}")
    os.symlink(container_id, tmp)
    os.replace(tmp, link)


def release_name(root: StrPath, name: str, container_id: str) -> None:
    link = os.path.join(names_dir(root), name)
    try:
        if os.readlink(link) == container_id:
            os.unlink(link)
    except OSError:
        pass


def referenced_images(root: StrPath) -> set[str]:
    """Config digests ("sha256:...") of the images containers use: GC roots."""
    return {c.image_id for c in list_containers(root, refresh=False) if c.image_id}


def referenced_layers(root: StrPath) -> set[str]:
    """Layer directories (absolute paths) that containers stack: GC must keep them."""
    out: set[str] = set()
    for c in list_containers(root, refresh=False):
        out.update(c.data.get("Layers", []))
    return out


def volumes_in_use(root: StrPath) -> dict[str, list[str]]:
    """Volume name -> IDs of the containers (any state) that mount it."""
    used: dict[str, list[str]] = {}
    for c in list_containers(root, refresh=False):
        for m in c.data.get("Mounts", []):
            if m.get("Type") == "volume" and m.get("Name"):
                used.setdefault(m["Name"], []).append(c.id)
    return used
