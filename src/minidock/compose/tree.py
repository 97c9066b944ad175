"""Paths into the compose model: `("services", "web", "ports", 0)`, and patterns over them."""

from __future__ import annotations

Path = tuple[str | int, ...]


def matches(path: Path, pattern: str) -> bool:
    """`*` in `pattern` stands for one mapping key, `[]` for one sequence index."""
    parts = pattern.split(".")
    if len(parts) != len(path):
        return False
    for want, seg in zip(parts, path, strict=True):
        if want == "[]":
            if not isinstance(seg, int):
                return False
        elif not isinstance(seg, str) or want not in ("*", seg):
            return False
    return True


def matches_any(path: Path, patterns: tuple[str, ...]) -> bool:
    return any(matches(path, p) for p in patterns)
