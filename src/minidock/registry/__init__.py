"""The OCI distribution client: pull and push with digest checks, token and basic auth.

What other modules use:
- `pull(store, ref, *, platform=None, progress=None) -> Image` when an image is missing;
- `pull_image(...) -> PullResult` and `push(store, ref, ...) -> PushResult` for the CLI;
- `login(settings, registry, user, password)` / `logout(settings, registry)`.
Progress arrives as `Progress` events through a callback; nothing here prints.
"""

from __future__ import annotations

from minidock.registry.config import Credentials, RegistryConfig
from minidock.registry.login import login, logout
from minidock.registry.progress import Progress, ProgressCallback
from minidock.registry.pull import PullResult, parse_platform, pull, pull_image
from minidock.registry.push import DEFAULT_CHUNK_SIZE, PushResult, push

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "Credentials",
    "Progress",
    "ProgressCallback",
    "PullResult",
    "PushResult",
    "RegistryConfig",
    "login",
    "logout",
    "parse_platform",
    "pull",
    "pull_image",
    "push",
]
