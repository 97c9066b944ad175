"""Which images a listing shows, under which names: `images [REFERENCE] [-a]
[--filter ...]` as Docker chooses them (dangling, reference, label, before,
since), so the CLI only formats what it gets and the Python API can reuse it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from minidock.errors import UsageError
from minidock.oci.timestamps import parse_time
from minidock.reference import Reference
from minidock.store.store import Image, Store

FILTER_KEYS = ("dangling", "reference", "label", "before", "since")


@dataclass
class NamedImage:
    """An image under one of its names (None: shown as `<none>`), with its creation time."""

    image: Image
    ref: Reference | None
    created: datetime | None


def _glob(pattern: str) -> re.Pattern[str]:
    """Go's path.Match: `*` and `?` never cross a `/`."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise UsageError(f"invalid reference filter: bad pattern {pattern!r}")
            body = pattern[i + 1:end].replace("\\", "\\\\")
            out.append("[" + ("^" + body[1:] if body.startswith("^") else body) + "]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("^" + "".join(out) + "$")


def reference_matches(pattern: str, ref: Reference) -> bool:
    """Docker's reference filter: the pattern against name and name:tag."""
    regex = _glob(pattern)
    candidates = [ref.familiar_name, ref.familiar, ref.name, ref.full]
    if ":" not in pattern.rsplit("/", 1)[-1]:
        return any(regex.match(c) for c in candidates[::2])
    return any(regex.match(c) for c in candidates[1::2])


def parse_filters(filters: Iterable[str], keys: Iterable[str] = FILTER_KEYS
                  ) -> dict[str, list[str]]:
    """`key=value` filters by key (values of one key are alternatives, keys must all
    pass); UsageError for an unknown key or a bad value."""
    out: dict[str, list[str]] = {}
    known = frozenset(keys)
    for item in filters:
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep or key not in known:
            raise UsageError(f"invalid filter '{item}'")
        if key == "dangling" and value.lower() not in ("true", "false", "1", "0"):
            raise UsageError(f"invalid filter 'dangling={value}'")
        out.setdefault(key, []).append(value)
    return out


def passes(entry: NamedImage, filters: dict[str, list[str]], store: Store) -> bool:
    """Whether `entry` passes every parsed filter (before/since look images up in `store`)."""
    for value in filters.get("dangling", []):
        want = value.lower() in ("true", "1")
        if (entry.ref is None) != want:
            return False
    refs = filters.get("reference", [])
    if refs and (entry.ref is None or not any(reference_matches(p, entry.ref) for p in refs)):
        return False
    labels = (entry.image.config.get("config") or {}).get("Labels") or {}
    for value in filters.get("label", []):
        key, sep, want_label = value.partition("=")
        if key not in labels or (sep and labels[key] != want_label):
            return False
    for key in ("before", "since"):
        for value in filters.get(key, []):
            other = store.image(value)
            mine, theirs = entry.created, parse_time(other.config.get("created"))
            if mine is None or theirs is None:
                return False
            if (key == "before" and not mine < theirs) or (key == "since" and not mine > theirs):
                return False
    return True


def select_images(store: Store, *, show_all: bool = False, reference: str | None = None,
                  filters: Iterable[str] = ()) -> list[NamedImage]:
    """Each image once per name (once as `<none>` without one) that passes the
    filters, newest first, one image's names in docker's order; `show_all` adds the build
    cache's intermediate images."""
    parsed = parse_filters(filters)
    if reference:
        parsed.setdefault("reference", []).append(reference)
    images = store.images()
    if show_all:
        images += store.intermediate_images({img.digest for img in images})
    out = []
    for img in images:
        created = parse_time(img.config.get("created"))
        names: list[Reference | None] = list(img.names) or [None]
        for ref in names:
            entry = NamedImage(img, ref, created)
            if passes(entry, parsed, store):
                out.append(entry)
    # docker: newest first; one image's names together, in lexical order of the full name
    out.sort(key=lambda e: (str(e.image.id), e.ref.full if e.ref is not None else ""))
    out.sort(key=lambda e: (e.created.timestamp() if e.created else float("-inf")),
             reverse=True)
    return out


PRUNE_KEYS = ("until", "label", "label!")


def parse_prune_filters(items: Iterable[str], keys: Iterable[str] = PRUNE_KEYS
                        ) -> dict[str, list[str]]:
    """`prune --filter` values (`until=`, `label=`, `label!=`), checked as Docker does."""
    parsed = parse_filters(items, keys)
    for value in parsed.get("until", []):
        until_cutoff(value)  # refuse a bad value before anything is removed
    return parsed


def until_cutoff(value: str, now: float | None = None) -> float:
    """Docker's timestamp forms: a Go duration back from now (`10m`, `1h30m`), RFC 3339
    (`2026-01-02T15:04:05Z`), a date (`2026-01-02`), or Unix seconds (`1700000000.5`)."""
    import time

    moment = parse_time(value if "T" in value or " " in value else value + "T00:00:00Z")
    if moment is not None:
        return moment.timestamp()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    from minidock.dockerfile.goformat import parse_duration

    try:
        return (time.time() if now is None else now) - parse_duration(value) / 1e9
    except ValueError:
        raise UsageError(f'failed to parse value as time or duration: "{value}"') from None


def prune_passes(filters: dict[str, list[str]], labels: dict[str, str],
                 created: float | None) -> bool:
    """Whether an object with these labels, made at `created`, is pruned under
    `filters`: older than every `until`, carrying every `label`, none of `label!`."""
    for value in filters.get("until", []):
        if created is None or created >= until_cutoff(value):
            return False
    for value in filters.get("label", []):
        key, sep, want = value.partition("=")
        if key not in labels or (sep and labels[key] != want):
            return False
    for value in filters.get("label!", []):
        key, sep, want = value.partition("=")
        if key in labels and (not sep or labels[key] == want):
            return False
    return True
