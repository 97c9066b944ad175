"""Build cache keys: what makes a step's result reusable.

A step is a hit when its parent image, its instruction after expansion, and
everything else that can change the result without changing those two are the
same: the build args in effect (RUN only, as in Docker), the digest of the
COPY/ADD sources (content and metadata), and for RUN bind mounts the digest
of what is mounted. The key is plain text; the store hashes it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

KEY_VERSION = "minidock-build-cache-v1"


def step_key(parent_id: str, instruction: str, *, build_args: Mapping[str, str] | None = None,
             sources: str | None = None, extra: Mapping[str, str] | None = None) -> str:
    """The cache key of one step (`parent_id` is the parent's config digest or "scratch")."""
    doc: dict[str, object] = {"v": KEY_VERSION, "parent": parent_id, "instruction": instruction}
    if build_args:
        doc["build_args"] = sorted(build_args.items())
    if sources is not None:
        doc["sources"] = sources
    if extra:
        doc["extra"] = sorted(extra.items())
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
