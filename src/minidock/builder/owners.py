"""`--chown` for COPY/ADD: user and group names resolved in the parent image.

Docker's rules: `uid[:gid]` numbers are used as they are; names are looked up
in the image's /etc/passwd and /etc/group; with no group given, the gid is the
same number as the uid (not the user's primary group).
"""

from __future__ import annotations

from minidock.builder.imagefs import ImageFS
from minidock.errors import BuildError


def _table(fs: ImageFS, path: str) -> list[list[str]]:
    data = fs.read_file(path)
    if data is None:
        return []
    rows = []
    for line in data.decode("utf-8", "surrogateescape").splitlines():
        if line.strip() and not line.startswith("#"):
            rows.append(line.split(":"))
    return rows


def _lookup(rows: list[list[str]], name: str) -> int | None:
    for row in rows:
        if len(row) >= 3 and row[0] == name and row[2].isdigit():
            return int(row[2])
    return None


def resolve_chown(spec: str, fs: ImageFS, instruction: str = "COPY") -> tuple[int, int]:
    """(uid, gid) for a `--chown` value; names must exist in the image."""
    user, sep, group = spec.partition(":")
    if not user:
        raise BuildError(f"{instruction} failed: invalid --chown value {spec!r}")
    if user.isdigit():
        uid = int(user)
    else:
        found = _lookup(_table(fs, "/etc/passwd"), user)
        if found is None:
            raise BuildError(f"{instruction} failed: unable to convert uid/gid chown string to "
                             f"host mapping: can't find uid for user {user}: no such user: {user}")
        uid = found
    if not sep or not group:
        return uid, uid
    if group.isdigit():
        return uid, int(group)
    gid = _lookup(_table(fs, "/etc/group"), group)
    if gid is None:
        raise BuildError(f"{instruction} failed: unable to convert uid/gid chown string to "
                         f"host mapping: can't find gid for group {group}: no such group: {group}")
    return uid, gid


def resolve_user(spec: str, fs: ImageFS) -> tuple[int, int]:
    """(uid, gid) of a USER value for files a step creates (WORKDIR), as BuildKit's
    file operations read it: a name gets its passwd uid and primary group (root
    when the image does not list it), a bare number is used for both ids, and
    `user:group` names or numbers the group."""
    user, sep, group = spec.partition(":")
    if user.isdigit():
        uid = gid = int(user)
    else:
        row = next((r for r in _table(fs, "/etc/passwd")
                    if len(r) >= 4 and r[0] == user and r[2].isdigit() and r[3].isdigit()),
                   None)
        uid, gid = (int(row[2]), int(row[3])) if row is not None else (0, 0)
    if sep and group:
        gid = int(group) if group.isdigit() else _lookup(_table(fs, "/etc/group"), group) or 0
    return uid, gid
