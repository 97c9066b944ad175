"""Resolve `-u`/`USER` values against the container's own /etc/passwd and /etc/group.

Accepted forms, as Docker: `name`, `uid`, `name:group`, `uid:gid`, `name:gid`,
`uid:group`. A numeric uid needs no passwd entry (gid then defaults to 0).
Supplementary groups are the groups whose member list names the user.
"""

from __future__ import annotations

from minidock.errors import RuntimeError_
from minidock.runtime.record import Record

DEFAULT_HOME = "/"


class ResolvedUser(Record):
    __slots__ = ("uid", "gid", "groups", "home", "name")

    def __init__(self, uid: int, gid: int, groups: tuple[int, ...], home: str,
                 name: str | None):
        self.uid = uid
        self.gid = gid
        self.groups = groups
        self.home = home
        self.name = name


def _read_db(path: str) -> list[list[str]]:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return [line.rstrip("\n").split(":") for line in f
                    if line.strip() and not line.startswith("#")]
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return []


def _id(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def resolve_user(spec: str, root: str = "/") -> ResolvedUser:
    """Resolve `spec` in the databases below `root`; raises RuntimeError_ (exit 125)."""
    user_part, _, group_part = (spec or "0").partition(":")
    root = root.rstrip("/")
    passwd = _read_db(f"{root}/etc/passwd")
    entry: list[str] | None = None
    uid_num = _id(user_part)
    for row in passwd:
        if len(row) < 7:
            continue
        if (uid_num is None and row[0] == user_part) or (
                uid_num is not None and row[2].isdigit() and int(row[2]) == uid_num):
            entry = row
            break
    if entry is None and uid_num is None:
        raise RuntimeError_(f"unable to find user {user_part}: no matching entries in passwd file")
    uid = uid_num if uid_num is not None else int(entry[2])  # type: ignore[index]
    gid = int(entry[3]) if entry is not None and entry[3].isdigit() else 0
    home = entry[5] if entry is not None and entry[5] else DEFAULT_HOME
    name = entry[0] if entry is not None else None
    groups_db = _read_db(f"{root}/etc/group")
    if group_part:
        gid_num = _id(group_part)
        if gid_num is not None:
            gid = gid_num
        else:
            for row in groups_db:
                if len(row) >= 3 and row[0] == group_part and row[2].isdigit():
                    gid = int(row[2])
                    break
            else:
                raise RuntimeError_(
                    f"unable to find group {group_part}: no matching entries in group file")
    extra: list[int] = []
    if name is not None:
        for row in groups_db:
            if len(row) >= 4 and row[2].isdigit() and name in row[3].split(","):
                g = int(row[2])
                if g != gid and g not in extra:
                    extra.append(g)
    return ResolvedUser(uid, gid, (gid, *extra), home, name)
