"""Glob matching for COPY/ADD sources with the semantics of Go's `filepath.Match`.

Docker matches COPY sources with `filepath.Match`: `*` is any run of
characters except `/`, `?` is one character except `/`, `[...]` is a class
(`[^...]` negates, `a-z` ranges, `\\` escapes) and nothing else is special; in
particular `**` is just two stars and never crosses a `/`. Python's `fnmatch`
differs (`[!...]`, `*` crossing `/`), hence this small translator.
"""

from __future__ import annotations

import re
from functools import lru_cache

from minidock.errors import BuildError

_SPECIAL = set("*?[\\")


def has_magic(pattern: str) -> bool:
    """Whether `pattern` needs matching at all (Docker copies literal paths as-is)."""
    return any(c in _SPECIAL for c in pattern)


@lru_cache(maxsize=512)
def _compile(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\":
            if i >= n:
                raise BuildError(f"syntax error in pattern: {pattern}")
            out.append(re.escape(pattern[i]))
            i += 1
        elif c == "[":
            cls, i = _char_class(pattern, i)
            out.append(cls)
        else:
            out.append(re.escape(c))
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def _char_class(pattern: str, i: int) -> tuple[str, int]:
    """Translate a `[...]` class starting after `[`; returns (regex, next index)."""
    n = len(pattern)
    negate = i < n and pattern[i] == "^"
    if negate:
        i += 1
    ranges: list[str] = []
    while True:
        if i < n and pattern[i] == "]" and ranges:
            i += 1
            break
        lo, i = _class_char(pattern, i)
        if i < n and pattern[i] == "-":
            hi, i = _class_char(pattern, i + 1)
            if hi < lo:
                raise BuildError(f"syntax error in pattern: {pattern}")
            ranges.append(f"{re.escape(lo)}-{re.escape(hi)}")
        else:
            ranges.append(re.escape(lo))
    body = "".join(ranges)
    # a class never matches the separator, negated or not (as in Go)
    return (f"(?!/)[^{body}]" if negate else f"(?!/)[{body}]"), i


def _class_char(pattern: str, i: int) -> tuple[str, int]:
    """One class character; unescaped `-` or `]` here is malformed, as in Go."""
    if i >= len(pattern) or pattern[i] in "-]":
        raise BuildError(f"syntax error in pattern: {pattern}")
    if pattern[i] == "\\":
        if i + 1 >= len(pattern):
            raise BuildError(f"syntax error in pattern: {pattern}")
        return pattern[i + 1], i + 2
    return pattern[i], i + 1


def match(pattern: str, name: str) -> bool:
    """`filepath.Match(pattern, name)`: the whole name must match."""
    return _compile(pattern).match(name) is not None
