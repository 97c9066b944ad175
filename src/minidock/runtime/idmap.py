"""Rootless id mapping: how the caller becomes root in a new user namespace."""

from __future__ import annotations

import os

from minidock.errors import RuntimeError_
from minidock.runtime.procsync import MSG_GO, MSG_MAP_IDS, send_message
from minidock.runtime.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from minidock.layer.hostfs import OwnerMap


class IdMap(Record):
    """How the caller maps to root in a new user namespace.

    `external` uses the setuid helpers newuidmap/newgidmap with the caller's
    /etc/subuid and /etc/subgid ranges (so more than one id exists inside);
    otherwise the helper maps only itself, which needs no privileges.
    """

    __slots__ = ("uid", "gid", "external", "uid_ranges", "gid_ranges")

    def __init__(self, uid: int, gid: int, external: bool, uid_ranges: list[tuple[int, int]],
                 gid_ranges: list[tuple[int, int]]):
        self.uid = uid
        self.gid = gid
        self.external = external
        self.uid_ranges = uid_ranges
        self.gid_ranges = gid_ranges

    def apply(self, pid: int) -> None:
        import subprocess

        for tool, own, ranges in (("newuidmap", self.uid, self.uid_ranges),
                                  ("newgidmap", self.gid, self.gid_ranges)):
            args = [tool, str(pid), "0", str(own), "1"]
            inside = 1
            for start, count in ranges:
                args += [str(inside), str(start), str(count)]
                inside += count
            done = subprocess.run(args, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError_(f"{tool} failed: {done.stderr.strip()}")

    def to_inside(self, uid: int, gid: int) -> tuple[int, int]:
        """The ids a host owner has in the user namespace this map makes; an id it
        does not map is the overflow id 65534, as the kernel shows it."""
        return (_inside(uid, self.uid, self.uid_ranges if self.external else []),
                _inside(gid, self.gid, self.gid_ranges if self.external else []))

    def write_own(self) -> None:
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {self.uid} 1"),
                           ("gid_map", f"0 {self.gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)


OVERFLOW_ID = 65534


def _inside(host: int, own: int, ranges: list[tuple[int, int]]) -> int:
    """`apply`'s map read backwards: own -> 0, then the ranges from 1 on."""
    if host == own:
        return 0
    inside = 1
    for start, count in ranges:
        if start <= host < start + count:
            return inside + host - start
        inside += count
    return OVERFLOW_ID


def _subid_ranges(path: str, name: str, ident: int) -> list[tuple[int, int]]:
    ranges = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.strip().split(":")
                if len(parts) == 3 and parts[0] in (name, str(ident)) and \
                        parts[1].isdigit() and parts[2].isdigit():
                    ranges.append((int(parts[1]), int(parts[2])))
    except OSError:
        return []
    return ranges


def plan_idmap() -> IdMap:
    import pwd
    import shutil

    uid, gid = os.geteuid(), os.getegid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    uids = _subid_ranges("/etc/subuid", name, uid)
    gids = _subid_ranges("/etc/subgid", name, uid)
    external = bool(uids and gids and shutil.which("newuidmap") and shutil.which("newgidmap"))
    return IdMap(uid, gid, external, uids, gids)


def rootless_owners() -> OwnerMap | None:
    """Unprivileged, a container runs in a user namespace and its files carry host ids
    (the caller's own for root, subordinate ids for the rest): how a layer made of
    them gets the container's ids instead. None as root, where they are the same."""
    if os.geteuid() == 0:
        return None
    from minidock.layer.hostfs import OwnerMap

    idmap = plan_idmap()
    return OwnerMap(idmap.to_inside, (idmap.uid, idmap.gid))


def map_own_ids(idmap: IdMap, report_w: int, go_r: int) -> None:
    """In a child that has just unshared its user namespace: have the parent map
    our ids (newuidmap, for external maps) and wait for its MSG_GO, or map only
    ourselves."""
    if idmap.external:
        send_message(report_w, MSG_MAP_IDS)
        if os.read(go_r, 1) != MSG_GO:
            raise RuntimeError_("user namespace mapping failed")
    else:
        idmap.write_own()
