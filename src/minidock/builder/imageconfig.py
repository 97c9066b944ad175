"""Image configs as the builder grows them, one step at a time.

Each step derives a new config from its parent's: a new container config
(Env, Cmd, WorkingDir, ...), one more history entry and, for steps that make a
layer, one more diff_id. Timestamps come from one clock per build so that with
SOURCE_DATE_EPOCH every `created` is the same fixed instant.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from typing import Any

from minidock.digest import Digest
from minidock.oci.model import host_platform


@dataclass(frozen=True)
class BuildClock:
    """The build's notion of now: fixed by SOURCE_DATE_EPOCH, else the wall clock."""

    source_date_epoch: int | None = None

    def now(self) -> int:
        if self.source_date_epoch is not None:
            return self.source_date_epoch
        return int(dt.datetime.now(dt.UTC).timestamp())

    def timestamp(self) -> str:
        """RFC 3339 in UTC, as Docker writes `created`."""
        if self.source_date_epoch is not None:
            when = dt.datetime.fromtimestamp(self.source_date_epoch, dt.UTC)
            return when.strftime("%Y-%m-%dT%H:%M:%SZ")
        return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def scratch_config() -> dict[str, Any]:
    """The config of an empty image (FROM scratch)."""
    plat = host_platform()
    cfg: dict[str, Any] = {
        "architecture": plat["architecture"],
        "os": plat["os"],
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": [],
    }
    if "variant" in plat:
        cfg["variant"] = plat["variant"]
    return cfg


def child_config(parent: dict[str, Any], container_config: dict[str, Any], *,
                 created_by: str, created: str, diff_id: Digest | None,
                 author: str | None = None, comment: str | None = None) -> dict[str, Any]:
    """The config of a step's result: parent + new container config + one history row."""
    cfg = copy.deepcopy(parent)
    for stale in ("container", "container_config", "docker_version", "id", "parent"):
        cfg.pop(stale, None)
    cfg["created"] = created
    cfg["config"] = copy.deepcopy(container_config)
    if author is not None:
        cfg["author"] = author
    rootfs = cfg.setdefault("rootfs", {"type": "layers", "diff_ids": []})
    rootfs.setdefault("type", "layers")
    ids = list(rootfs.get("diff_ids") or [])
    history = list(cfg.get("history") or [])
    row: dict[str, Any] = {"created": created, "created_by": created_by}
    if author:
        row["author"] = author
    if comment:
        row["comment"] = comment
    if diff_id is None:
        row["empty_layer"] = True
    else:
        ids.append(str(diff_id))
    rootfs["diff_ids"] = ids
    history.append(row)
    cfg["history"] = history
    return cfg
