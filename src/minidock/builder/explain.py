"""Why each step of a build was or was not a cache hit: the parts of its cache key
(parent image, instruction after expansion, build args, source digest, mount
digests) and, for a miss, which part differs from the same step of the build of
the same Dockerfile before."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from minidock.store.buildlog import BuildRecord, StepLookup


@dataclass(frozen=True)
class StepExplanation:
    instruction: str
    hit: bool
    parts: dict[str, Any]
    """parent, instruction, and where present build_args, sources, mounts."""
    reasons: tuple[str, ...]
    """For a miss: what changed since the build before (empty for a hit)."""


def key_parts(key: str) -> dict[str, Any]:
    """The parts of a cache key; a RUN's build args in scope are the `|N K=V ...`
    words Docker puts before its command."""
    doc = json.loads(key)
    instruction = str(doc.get("instruction") or "")
    parts: dict[str, Any] = {"parent": doc.get("parent"), "instruction": instruction}
    words = instruction.split(" ")
    if words[0].startswith("|") and words[0][1:].isdigit():
        count = int(words[0][1:])
        parts["build_args"] = dict(w.partition("=")[::2] for w in words[1:1 + count])
        parts["instruction"] = " ".join(words[1 + count:])
    if "build_args" in doc:
        parts["build_args"] = dict(doc["build_args"])
    if "sources" in doc:
        sources = str(doc["sources"])
        parts["sources"] = sources if ":" in sources else "sha256:" + sources
    if "extra" in doc:
        parts["mounts"] = dict(doc["extra"])
    return parts


def _short(value: object) -> str:
    text = str(value)
    return text[:19] + "..." if text.startswith("sha256:") and len(text) > 22 else text


def _why(step: StepLookup, parts: dict[str, Any], before: StepLookup | None,
         parent_rebuilt: bool) -> list[str]:
    name = step.instruction.split(None, 1)[0].upper() if step.instruction else "step"
    if before is None:
        return ["no earlier build of this Dockerfile has this step"]
    old = key_parts(before.key)
    reasons = []
    if old["parent"] != parts["parent"]:
        reasons.append("parent layer rebuilt" if parent_rebuilt else
                       f"parent image changed ({_short(old['parent'])} -> "
                       f"{_short(parts['parent'])})")
    if old.get("sources") != parts.get("sources"):
        reasons.append("source digest changed "
                       f"({_short(old.get('sources'))} -> {_short(parts.get('sources'))})")
    old_args, new_args = old.get("build_args") or {}, parts.get("build_args") or {}
    for arg in sorted(set(old_args) | set(new_args)):
        if old_args.get(arg) != new_args.get(arg):
            reasons.append(f"ARG {arg} changed")
    # a COPY's history text embeds its source hash: a source change alone changes it too
    if old["instruction"] != parts["instruction"] and old.get("sources") == parts.get("sources"):
        reasons.append(f"{name} instruction changed ({old['instruction']!r} -> "
                       f"{parts['instruction']!r})")
    if old.get("mounts") != parts.get("mounts"):
        reasons.append(f"{name} mount contents changed")
    if not reasons:
        reasons.append("same key as the build before, but no cache entry "
                       "(--no-cache, or the cache was pruned)")
    return reasons


def explain(record: BuildRecord) -> list[StepExplanation]:
    """One explanation per cache lookup of the build, in build order."""
    out = []
    previous = record.previous
    for n, step in enumerate(record.steps):
        rebuilt = n > 0 and not record.steps[n - 1].hit
        parts = key_parts(step.key)
        if step.hit:
            out.append(StepExplanation(step.instruction, True, parts, ()))
            continue
        before = None
        if previous is not None and n < len(previous):
            before = previous[n]
        reasons = (["no earlier build of this Dockerfile was recorded"] if previous is None
                   else _why(step, parts, before, rebuilt))
        out.append(StepExplanation(step.instruction, False, parts, tuple(reasons)))
    return out
