"""The registry settings file: credentials, a Docker Hub mirror, insecure registries.

One docker-style `config.json` in the minidock config dir, so a user who knows
Docker's files knows this one:

```
{"auths": {"127.0.0.1:5000": {"auth": "<base64 user:password>"}},
 "registry-mirrors": ["127.0.0.1:5000"],
 "insecure-registries": ["registry.lan:5000"]}
```
`MINIDOCK_REGISTRY_MIRROR` (in Settings) and `MINIDOCK_INSECURE_REGISTRIES` (a comma
list) override the file. The file holds passwords, so it is written atomically with
mode 0600 and keys minidock does not know are kept as they were.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from minidock.errors import RegistryError
from minidock.fsutil import write_atomic
from minidock.oci.model import json_object
from minidock.settings import Settings
from minidock.store.lock import file_lock

CONFIG_NAME = "config.json"
INSECURE_ENV = "MINIDOCK_INSECURE_REGISTRIES"

# Docker's own key for Docker Hub credentials; minidock reads it and writes it
DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"
_DOCKER_HUB_ALIASES = ("docker.io", "index.docker.io", "registry-1.docker.io",
                       DOCKER_HUB_AUTH_KEY)


class Credentials(NamedTuple):
    username: str
    password: str


def normalize_host(key: str) -> str:
    """`https://host:5000/v2/` -> `host:5000`; Docker Hub's aliases -> `docker.io`."""
    text = key.strip()
    if "://" in text:
        text = text.split("://", 1)[1]
    text = text.split("/", 1)[0].lower()
    if text in ("index.docker.io", "registry-1.docker.io"):
        return "docker.io"
    return text


def auth_key(host: str) -> str:
    """The key under `auths` that Docker would use for this registry."""
    host = normalize_host(host)
    return DOCKER_HUB_AUTH_KEY if host == "docker.io" else host


@dataclass
class RegistryConfig:
    """The parsed settings file plus the environment overrides."""

    path: Path
    data: dict[str, Any] = field(default_factory=dict)
    mirror: str | None = None
    insecure: frozenset[str] = frozenset()

    @classmethod
    def load(cls, settings: Settings, env: Mapping[str, str] | None = None) -> RegistryConfig:
        env = os.environ if env is None else env
        path = settings.config_dir / CONFIG_NAME
        data = _read(path)
        mirror = settings.registry_mirror
        if not mirror:
            mirrors = data.get("registry-mirrors") or []
            if isinstance(mirrors, list) and mirrors and isinstance(mirrors[0], str):
                mirror = mirrors[0]
        insecure: set[str] = set()
        listed = data.get("insecure-registries") or []
        if isinstance(listed, list):
            insecure.update(normalize_host(x) for x in listed if isinstance(x, str) and x)
        insecure.update(normalize_host(x) for x in env.get(INSECURE_ENV, "").split(",")
                        if x.strip())
        return cls(path, data, mirror or None, frozenset(insecure))

    def is_insecure(self, host: str) -> bool:
        return normalize_host(host) in self.insecure

    def credentials(self, host: str) -> Credentials | None:
        """Stored credentials for a registry host, or None for anonymous access."""
        wanted = normalize_host(host)
        auths = self.data.get("auths")
        if not isinstance(auths, dict):
            return None
        for key, entry in auths.items():
            if normalize_host(key) != wanted or not isinstance(entry, dict):
                continue
            creds = _decode_entry(entry)
            if creds is not None:
                return creds
        return None

    def set_credentials(self, host: str, creds: Credentials) -> None:
        """Store credentials for `host`, replacing any older entry for it."""
        token = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()

        def change(data: dict[str, Any]) -> bool:
            auths = _drop_host(data, host)
            auths[auth_key(host)] = {"auth": token}
            data["auths"] = auths
            return True

        self._update(change)

    def remove_credentials(self, host: str) -> bool:
        """Forget credentials for `host`; False when there were none."""
        removed = False

        def change(data: dict[str, Any]) -> bool:
            nonlocal removed
            before = data.get("auths")
            auths = _drop_host(data, host)
            removed = isinstance(before, dict) and len(auths) != len(before)
            if removed:
                data["auths"] = auths
            return removed

        self._update(change)
        return removed

    def _update(self, change: Any) -> None:
        """Re-read, change and atomically rewrite the file under a lock."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(self.path.parent / f".{CONFIG_NAME}.lock"):
            data = _read(self.path)
            if change(data):
                # 0600 from its creation: never a moment with a readable password
                write_atomic(self.path, json.dumps(data, indent="\t").encode() + b"\n",
                             mode=0o600)
            self.data = data


def _drop_host(data: dict[str, Any], host: str) -> dict[str, Any]:
    auths = data.get("auths")
    if not isinstance(auths, dict):
        return {}
    wanted = normalize_host(host)
    return {k: v for k, v in auths.items() if normalize_host(k) != wanted}


def _decode_entry(entry: dict[str, Any]) -> Credentials | None:
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        try:
            text = base64.b64decode(auth, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, sep, password = text.partition(":")
        return Credentials(user, password) if sep else None
    name, secret = entry.get("username"), entry.get("password")
    if isinstance(name, str) and isinstance(secret, str) and name:
        return Credentials(name, secret)
    return None


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise RegistryError(f"cannot read {path}: {exc.strerror}") from None
    if not text.strip():
        return {}
    try:
        return json_object(text)
    except ValueError as exc:
        raise RegistryError(f"invalid registry config {path}: {exc}") from None
