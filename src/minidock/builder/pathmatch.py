"""Glob matching for COPY/ADD sources with the semantics of Go's `filepath.Match`.

Docker matches COPY sources with `filepath.Match`: `*` is any run of
characters except `/`, `?` is one character except `/`, `[...]` is a class
(`[^...]` negates, `a-z` ranges, `\\` escapes) and nothing else is special; in
particular `**` is just two stars and never crosses a `/`. Python's `fnmatch`
differs (`[!...]`, `*` crossing `/`), hence this small parser; the matching
itself is the shared linear engine (`minidock.dockerfile.globmatch`).
"""

from __future__ import annotations

from functools import lru_cache

from minidock.dockerfile.globmatch import (
    CharTest,
    Lit,
    One,
    SpecialChar,
    Star,
    Token,
    full_match,
    tokenize,
)
from minidock.errors import BuildError

_SPECIAL = set("*?[\\")


_ANY = One("?", "/")
_RUN = Star("*", "/")


def has_magic(pattern: str) -> bool:
    """Whether `pattern` needs matching at all (Docker copies literal paths as-is)."""
    return any(c in _SPECIAL for c in pattern)


def _escape(pattern: str, i: int) -> tuple[Token, int]:
    if i >= len(pattern):
        raise BuildError(f"syntax error in pattern: {pattern}")
    return Lit(pattern[i]), i + 1


def _bracket(pattern: str, i: int) -> tuple[Token, int]:
    test, end = _char_class(pattern, i)
    return One(pattern[i - 1:end], test), end


_SPECIALS: dict[str, SpecialChar] = {
    "*": lambda _p, i: (_RUN, i),
    "?": lambda _p, i: (_ANY, i),
    "\\": _escape,
    "[": _bracket,
}


@lru_cache(maxsize=512)
def _compile(pattern: str) -> tuple[Token, ...]:
    """The whole pattern checked and turned into match tokens (Go reports any
    malformed pattern, even one that a name would fail to match earlier)."""
    return tokenize(pattern, _SPECIALS)


def _char_class(pattern: str, i: int) -> tuple[CharTest, int]:
    """Parse a `[...]` class starting after `[`; returns (its test, next index)."""
    n = len(pattern)
    negate = i < n and pattern[i] == "^"
    if negate:
        i += 1
    ranges: list[tuple[str, str]] = []
    while True:
        if i < n and pattern[i] == "]" and ranges:
            i += 1
            break
        lo, i = _class_char(pattern, i)
        if i < n and pattern[i] == "-":
            hi, i = _class_char(pattern, i + 1)
            if hi < lo:
                raise BuildError(f"syntax error in pattern: {pattern}")
            ranges.append((lo, hi))
        else:
            ranges.append((lo, lo))

    def test(ch: str) -> bool:
        # a class never matches the separator, negated or not (as in Go)
        return ch != "/" and any(lo <= ch <= hi for lo, hi in ranges) != negate

    return test, i


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
    return full_match(_compile(pattern), name)
