"""Named and anonymous volumes: `$root/volumes/<name>/_data` plus `volume.json`.

A volume is a plain directory bind-mounted into containers. The first
container that mounts an empty volume copies the image's content at the
mount path into it (done by the sandbox, which sees the image's merged tree).
Anonymous volumes (a `VOLUME` of the image, or `-v /path`) get a random name
and go away with `rm -v` / `--rm`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minidock.errors import UsageError, VolumeNotFound
from minidock.fsutil import write_atomic
from minidock.runtime.clock import now_iso

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
META = "volume.json"


@dataclass
class Volume:
    name: str
    path: Path  # the volume's directory (holds _data and volume.json)
    created: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    anonymous: bool = False

    @property
    def mountpoint(self) -> Path:
        return self.path / "_data"

    def inspect(self) -> dict[str, Any]:
        """Docker's `volume inspect` shape."""
        return {"CreatedAt": self.created, "Driver": "local", "Labels": self.labels or None,
                "Mountpoint": str(self.mountpoint), "Name": self.name, "Options": None,
                "Scope": "local"}


def volumes_dir(root: str | os.PathLike[str]) -> Path:
    return Path(root) / "volumes"


def _load(path: Path) -> Volume:
    try:
        with open(path / META, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError):
        meta = {}
    return Volume(path.name, path, meta.get("CreatedAt", ""), meta.get("Labels") or {},
                  bool(meta.get("Anonymous")))


def get_volume(root: str | os.PathLike[str], name: str) -> Volume:
    path = volumes_dir(root) / name
    if not NAME_RE.match(name) or not (path / "_data").is_dir():
        raise VolumeNotFound(name)
    return _load(path)


def create_volume(root: str | os.PathLike[str], name: str | None = None, *,
                  labels: dict[str, str] | None = None) -> tuple[Volume, bool]:
    """Create a volume (random name when None); returns (volume, created_now).

    Creating an existing name returns it unchanged, as Docker does.
    """
    anonymous = name is None
    if name is None:
        name = os.urandom(32).hex()
    elif not NAME_RE.match(name):
        raise UsageError(f"create {name}: \"{name}\" includes invalid characters for a local "
                         "volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed")
    base = volumes_dir(root)
    base.mkdir(parents=True, exist_ok=True)
    path = base / name
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        if (path / "_data").is_dir():
            return _load(path), False
    vol = Volume(name, path, now_iso(), dict(labels or {}), anonymous)
    meta = json.dumps({"CreatedAt": vol.created, "Labels": vol.labels, "Anonymous": anonymous})
    # not durable: `run` creates the anonymous volumes of an image, and a lost
    # volume.json only loses the labels and creation time
    write_atomic(path / META, meta.encode(), durable=False)
    os.makedirs(vol.mountpoint, 0o755, exist_ok=True)
    return vol, True


def list_volumes(root: str | os.PathLike[str]) -> list[Volume]:
    try:
        names = sorted(os.listdir(volumes_dir(root)))
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        path = volumes_dir(root) / name
        if NAME_RE.match(name) and (path / "_data").is_dir():
            out.append(_load(path))
    return out



VOLUME_FILTER_KEYS = ("dangling", "name", "label", "driver")


def select_volumes(root: str | os.PathLike[str], volumes: list[Volume],
                   filters: Iterable[str]) -> list[Volume]:
    """`volume ls --filter`: dangling (used by no container), name (a substring),
    label (`k` or `k=v`, all must hold), driver (always `local`)."""
    from minidock.runtime.containers import volumes_in_use
    from minidock.store.filters import parse_filters

    parsed = parse_filters(filters, VOLUME_FILTER_KEYS)
    for value in parsed.get("dangling", []):
        if value.lower() not in ("true", "false", "1", "0"):
            raise UsageError(f"invalid filter 'dangling={value}'")
    used = volumes_in_use(root) if "dangling" in parsed else {}
    out = []
    for vol in volumes:
        if any((vol.name not in used) != (v.lower() in ("true", "1"))
               for v in parsed.get("dangling", [])):
            continue
        names = parsed.get("name", [])
        if names and not any(n in vol.name for n in names):
            continue
        drivers = parsed.get("driver", [])
        if drivers and "local" not in drivers:
            continue
        if not all(_has_label(vol, v) for v in parsed.get("label", [])):
            continue
        out.append(vol)
    return out


def _has_label(vol: Volume, value: str) -> bool:
    key, sep, want = value.partition("=")
    return key in vol.labels and (not sep or vol.labels[key] == want)
