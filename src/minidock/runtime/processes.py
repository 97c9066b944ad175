"""`docker top`: the host's `ps` output cut down to one container's processes.

Docker runs `ps` on the host with the user's options (default `-ef`) and keeps
the rows whose PID belongs to the container. Without a daemon-owned cgroup for
every container, "belongs" is: in the pid namespace of the container's init.
"""

from __future__ import annotations

import os
import subprocess

from minidock.errors import ConflictError, RuntimeError_
from minidock.runtime.containers import Container


def _pid_namespace(pid: int | str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/pid").st_ino
    except OSError:
        return None


def container_pids(container: Container) -> set[int]:
    """The host pids of every process in the container's pid namespace."""
    target = _pid_namespace(container.pid)
    if target is None:
        return set()
    return {int(p) for p in os.listdir("/proc") if p.isdigit() and _pid_namespace(p) == target}


def top(container: Container, ps_args: list[str]) -> tuple[list[str], list[list[str]]]:
    """The header and rows `docker top` shows (Docker's errors when it cannot)."""
    container.refresh()
    if not (container.running and container.container_alive()):
        raise ConflictError(f"Container {container.id} is not running")
    try:
        done = subprocess.run(["ps", *(ps_args or ["-ef"])], capture_output=True, text=True,
                              check=False)
    except FileNotFoundError:
        raise RuntimeError_("ps is not installed on the host (procps)") from None
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[0]
        raise RuntimeError_(f"Error running ps: {reason}")
    lines = done.stdout.splitlines()
    if not lines:
        return [], []
    header = lines[0].split()
    if "PID" not in header:
        raise RuntimeError_("Couldn't find PID field in ps output")
    pid_index = header.index("PID")
    pids = container_pids(container)
    rows = []
    for line in lines[1:]:
        fields = line.split(None, len(header) - 1)
        if len(fields) > pid_index and fields[pid_index].isdigit() \
                and int(fields[pid_index]) in pids:
            rows.append(fields)
    return header, rows
