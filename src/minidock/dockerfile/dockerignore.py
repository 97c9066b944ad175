""".dockerignore: which context paths COPY and ADD must not see.

Semantics are Docker's:
* lines starting with `#` are comments; lines are trimmed; blank lines skipped;
* patterns are cleaned (`./a/` -> `a`, a leading `/` dropped);
* `*` and `?` do not cross `/`; `**` matches any number of directories;
  `[a-z]` classes; `\\` escapes the next character;
* a pattern that matches a directory also matches everything below it;
* `!pattern` re-includes; patterns apply in order and the last one that
  matches decides.

`IgnoreMatcher.can_skip_dir` tells a context walker when an excluded directory
is not entered at all: when no later `!` pattern written inside it could
re-include a path below it (Docker's rule). Matching is linear in the pattern
and the path (`globmatch`): no pattern is run as a backtracking regex.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from minidock.dockerfile import globmatch
from minidock.dockerfile.globmatch import DirsOpt, Lit, One, Star, Text, Token, advance, full_match
from minidock.errors import BuildError

IGNORE_FILE = ".dockerignore"
_GO_TRIM = "\t\n\v\f\r \x85\xa0"


def _clean(pattern: str) -> str:
    """Go's filepath.Clean for slash paths (a lone leading `//` collapses too)."""
    clean = posixpath.normpath(pattern)
    if clean.startswith("//"):
        clean = "/" + clean.lstrip("/")
    return clean


def read_ignore_patterns(data: bytes | str) -> list[str]:
    """The patterns of an ignore file, normalised, `!` kept on exceptions."""
    text = data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data
    if text.startswith("\ufeff"):
        text = text[1:]
    patterns: list[str] = []
    for raw in text.split("\n"):
        line = raw.rstrip("\r")
        if line.startswith("#"):
            continue
        pattern = line.strip(_GO_TRIM)
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip(_GO_TRIM)
        if pattern:
            pattern = _clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append("!" + pattern if invert else pattern)
    return patterns


_MAGIC = frozenset("*?[\\")
_ANY = One("?", "/")
_RUN = Star("*", "/")
_EVERYTHING = Star("**", None)


def _star(pattern: str, i: int) -> tuple[Token, int]:
    """`*`, or across a whole path `**` (any text) and `**/` (any directories)."""
    n = len(pattern)
    if i < n and pattern[i] == "*":
        i += 1
        if i < n and pattern[i] == "/":
            i += 1
        return (_EVERYTHING if i >= n else DirsOpt()), i
    return _RUN, i


def _escape(pattern: str, i: int) -> tuple[Token, int]:
    return (Lit(pattern[i]), i + 1) if i < len(pattern) else (Lit("\\"), i)


def _bracket(pattern: str, i: int) -> tuple[Token, int]:
    end = _class_end(pattern, i)
    return _class(pattern[i:end]), end + 1


_SEGMENT: dict[str, globmatch.SpecialChar] = {
    "*": lambda _p, i: (_RUN, i), "?": lambda _p, i: (_ANY, i), "\\": _escape, "[": _bracket,
}
_WHOLE_PATH: dict[str, globmatch.SpecialChar] = {**_SEGMENT, "*": _star}


def _tokens(pattern: str, *, whole_path: bool) -> tuple[Token, ...]:
    """Match tokens for a pattern (or for one segment when not `whole_path`)."""
    return globmatch.tokenize(pattern, _WHOLE_PATH if whole_path else _SEGMENT)


def _class_end(pattern: str, start: int) -> int:
    """Index of the `]` closing a class that opened before `start`."""
    i = start
    n = len(pattern)
    if i < n and pattern[i] == "^":
        i += 1
    if i < n and pattern[i] == "]":
        raise BuildError(f"syntax error in pattern: {pattern}")  # an empty class
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "]":
            return i
        i += 1
    raise BuildError(f"syntax error in pattern: {pattern}")


def _class(body: str) -> One:
    """A `[...]` class body as a one-character test (`^` negates, `\\` escapes).

    The test is a regex class of exactly one character, as Docker's translation
    to Go's regexp makes it: one character cannot make a regex backtrack.
    """
    out = ["["]
    j = 0
    if body.startswith("^"):
        out.append("^")
        j = 1
    while j < len(body):
        ch = body[j]
        if ch == "\\" and j + 1 < len(body):
            out.append(re.escape(body[j + 1]))
            j += 2
            continue
        out.append("\\" + ch if ch in "[&~|\\" else ch)
        j += 1
    out.append("]")
    source = "".join(out)
    regex = re.compile(source, re.DOTALL)  # re.error: reported with the whole pattern
    return One(source, lambda ch: regex.fullmatch(ch) is not None)


@dataclass(frozen=True)
class _Pattern:
    text: str
    exclusion: bool
    tokens: tuple[Token, ...]
    literal: str | None  # the text when nothing in it is special: a plain prefix test
    segments: tuple[str, ...]

    def matches(self, path: Text) -> bool:
        """Whether the pattern matches `path` or one of the directories above it."""
        if self.literal is not None:
            return path.text == self.literal or path.text.startswith(self.literal + "/")
        ends = advance(self.tokens, path, 1)
        # a match ending where a `/` follows is a match of that parent directory
        return bool(ends & ((path.char_mask("/") >> 1) | (1 << path.n)))

    def could_match_below(self, directory: str) -> bool:
        """Whether this exception re-includes a path inside the excluded `directory`.

        Docker enters an excluded directory only for an exception written inside
        it, one that starts with the directory's name: `!*/f1` or `!**/f1` never
        bring back `dir/f1` once `dir` is excluded. Past that first name, the
        exception's segments are matched against the directory's as globs.
        """
        parts = directory.split("/")
        if parts[0] != self.segments[0] or _MAGIC.intersection(self.segments[0]):
            return False
        for index, segment in enumerate(self.segments[1:], 1):
            if "**" in segment:
                return True
            if index >= len(parts):
                return True
            if not full_match(_tokens(segment, whole_path=False), parts[index]):
                return False
        return True


def _compile(pattern: str) -> _Pattern:
    text = pattern.strip(_GO_TRIM)
    text = _clean(text)
    exclusion = text.startswith("!")
    if exclusion:
        if len(text) == 1:
            raise BuildError('illegal exclusion pattern: "!"')
        text = _clean(text[1:])
        if text.startswith("/"):
            text = text[1:]
    try:
        tokens = _tokens(text, whole_path=True)
    except re.error as exc:
        raise BuildError(f"syntax error in pattern: {pattern}: {exc}") from None
    literal = None if _MAGIC.intersection(text) else text
    return _Pattern(text=text, exclusion=exclusion, tokens=tokens, literal=literal,
                    segments=tuple(text.split("/")))


def _normalize_path(path: str) -> str:
    path = _clean(path)
    return path.lstrip("/") or "."


class IgnoreMatcher:
    """Ordered .dockerignore patterns applied to context-relative slash paths."""

    def __init__(self, patterns: Iterable[str] = ()):
        compiled = []
        for pattern in patterns:
            if pattern.strip(_GO_TRIM):
                compiled.append(_compile(pattern))
        self._patterns: tuple[_Pattern, ...] = tuple(compiled)
        self.has_exceptions = any(p.exclusion for p in self._patterns)

    @classmethod
    def from_text(cls, data: bytes | str) -> IgnoreMatcher:
        return cls(read_ignore_patterns(data))

    @property
    def patterns(self) -> tuple[str, ...]:
        return tuple(("!" if p.exclusion else "") + p.text for p in self._patterns)

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def matches(self, path: str) -> bool:
        """True when `path` (or a directory above it) is excluded from the context."""
        if not self._patterns:
            return False
        return self._matches(Text(_normalize_path(path)))

    __call__ = matches

    def _matches(self, path: Text) -> bool:
        matched = False
        for pattern in self._patterns:
            if pattern.exclusion != matched:
                continue  # only a pattern that could change the answer is tried
            if pattern.matches(path):
                matched = not pattern.exclusion
        return matched

    def can_skip_dir(self, path: str) -> bool:
        """True when `path` is excluded and nothing below it can be re-included."""
        if not self._patterns:
            return False
        text = Text(_normalize_path(path))
        if not self._matches(text):
            return False
        last_exclusion = -1
        for index, pattern in enumerate(self._patterns):
            if not pattern.exclusion and pattern.matches(text):
                last_exclusion = index
        for pattern in self._patterns[last_exclusion + 1:]:
            if pattern.exclusion and pattern.could_match_below(text.text):
                return False
        return True

    def hides(self, path: str) -> bool:
        """True when the context does not hold `path`: it is excluded, or it lies in
        an excluded directory that no exception reaches into (`dir` then `!*/f1`
        hides `dir/f1`, as Docker never looks inside `dir`)."""
        if not self._patterns:
            return False
        path = _normalize_path(path)
        if self._matches(Text(path)):
            return True
        parts = path.split("/")
        return any(self.can_skip_dir("/".join(parts[:i])) for i in range(1, len(parts)))


def ignore_file_for(context_dir: str | Path, dockerfile: str | Path | None = None) -> Path | None:
    """The ignore file that applies: `<Dockerfile>.dockerignore` next to the
    Dockerfile wins over the context's `.dockerignore`; None when neither exists."""
    if dockerfile is not None:
        specific = Path(str(dockerfile) + IGNORE_FILE)
        if specific.is_file():
            return specific
    default = Path(context_dir) / IGNORE_FILE
    return default if default.is_file() else None


def load_ignore_file(context_dir: str | Path,
                     dockerfile: str | Path | None = None) -> IgnoreMatcher:
    """The matcher for a build: reads the applicable ignore file, if any."""
    found = ignore_file_for(context_dir, dockerfile)
    if found is None:
        return IgnoreMatcher()
    return IgnoreMatcher.from_text(found.read_bytes())
