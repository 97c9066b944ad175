"""Explicit settings: where the store lives and how layers are compressed.

No module globals: callers build a Settings (usually from the environment) and
pass it down, so tests inject their own instead of patching.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

COMPRESSIONS = ("zstd", "gzip", "none")
# zstd is ~10x faster than gzip here for the same layers (docs/performance.md)
DEFAULT_COMPRESSION = "zstd"


def _xdg_data_home(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", "/root")) / ".local" / "share")
    return Path(base)


def _xdg_config_home(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", "/root")) / ".config")
    return Path(base)


@dataclass(frozen=True)
class Settings:
    root: Path
    config_dir: Path
    compression: str = DEFAULT_COMPRESSION
    storage_driver: str | None = None  # None: overlay when it mounts, else copy
    registry_mirror: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, root: str | Path | None = None,
                 compression: str | None = None) -> Settings:
        """Settings from MINIDOCK_* variables; explicit arguments win."""
        env = os.environ if env is None else env
        root_path = Path(root or env.get("MINIDOCK_ROOT") or _xdg_data_home(env) / "minidock")
        config = Path(env.get("MINIDOCK_CONFIG") or _xdg_config_home(env) / "minidock")
        comp = compression or env.get("MINIDOCK_COMPRESSION") or DEFAULT_COMPRESSION
        if comp not in COMPRESSIONS:
            from minidock.errors import UsageError

            raise UsageError(
                f"invalid compression {comp!r}: choose one of {', '.join(COMPRESSIONS)}"
            )
        driver = env.get("MINIDOCK_STORAGE_DRIVER") or None
        mirror = env.get("MINIDOCK_REGISTRY_MIRROR") or None
        return cls(root=root_path.absolute(), config_dir=config.absolute(), compression=comp,
                   storage_driver=driver, registry_mirror=mirror)
