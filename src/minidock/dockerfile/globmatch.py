"""Glob matching in linear time, shared by `.dockerignore`, COPY sources and `${VAR#pattern}`.

A backtracking regex takes exponential time on `a*a*a*a*a*a*c` against a long
name, so user patterns are never turned into regexes. A pattern is compiled
by its rule set into a sequence of tokens (a literal character, one character
passing a test, a run of such characters, `**/`) and matched against a text by
moving a bit set of all the text positions reached so far through the tokens,
one token at a time: O(len(pattern) * len(text) / word size), whatever the
pattern. Each rule set (Go's `filepath.Match`, Docker's ignore patterns, the
Dockerfile's shell patterns) shares the scan (`tokenize`) and this engine and
keeps only what differs: what each of its special characters means.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

CharTest = Callable[[str], bool]


@dataclass(frozen=True)
class Lit:
    """One literal character."""

    char: str


@dataclass(frozen=True)
class One:
    """One character that passes `test` (`?`, a `[...]` class); `key` names the test.

    A `test` that is a string means "any character but this one" (`?` is any
    character but `/`), which is found without looking at every character.
    """

    key: str
    test: CharTest | str


@dataclass(frozen=True)
class Star:
    """Any run (possibly empty) of characters passing `test` (as in One); None: any."""

    key: str
    test: CharTest | str | None


@dataclass(frozen=True)
class DirsOpt:
    """Nothing, or any text that ends with `/` (the `**/` of ignore patterns)."""


Token = Lit | One | Star | DirsOpt

SpecialChar = Callable[[str, int], "tuple[Token | None, int]"]
"""What a special character means: called with the pattern and the index just
after the character; returns its token (None for nothing) and where to go on."""


def tokenize(pattern: str, specials: Mapping[str, SpecialChar]) -> tuple[Token, ...]:
    """A pattern as match tokens: each character literal unless `specials` has it."""
    out: list[Token] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        special = specials.get(ch)
        if special is None:
            out.append(Lit(ch))
            continue
        token, i = special(pattern, i)
        if token is not None:
            out.append(token)
    return tuple(out)


class Text:
    """A text with the per-character bit masks the matcher needs, computed once.

    Bit `i + 1` of a mask is set when character `i` passes its test, i.e. when a
    step from position `i` to `i + 1` is allowed.
    """

    __slots__ = ("text", "n", "full", "_masks")

    def __init__(self, text: str):
        self.text = text
        self.n = len(text)
        self.full = (2 << self.n) - 1
        self._masks: dict[str, int] = {}

    def char_mask(self, char: str) -> int:
        mask = self._masks.get(char)
        if mask is None:
            mask = 0
            i = self.text.find(char)
            while i >= 0:
                mask |= 2 << i
                i = self.text.find(char, i + 1)
            self._masks[char] = mask
        return mask

    def test_mask(self, key: str, test: CharTest | str) -> int:
        if isinstance(test, str):
            return self.full & ~1 & ~self.char_mask(test)
        key = "\0" + key
        mask = self._masks.get(key)
        if mask is None:
            mask = 0
            for i, ch in enumerate(self.text):
                if test(ch):
                    mask |= 2 << i
            self._masks[key] = mask
        return mask


def advance(tokens: Sequence[Token], text: Text, reach: int) -> int:
    """The positions reached after `tokens`, from the positions set in `reach`."""
    for token in tokens:
        if not reach:
            return 0
        if isinstance(token, Lit):
            reach = (reach << 1) & text.char_mask(token.char)
        elif isinstance(token, One):
            reach = (reach << 1) & text.test_mask(token.key, token.test)
        elif isinstance(token, Star):
            if token.test is None:
                lowest = reach & -reach
                reach = text.full & ~(lowest - 1)
            else:
                reach = _run_closure(reach, text.test_mask(token.key, token.test), text.n)
        else:
            lowest = reach & -reach
            reach |= text.char_mask("/") & ~((lowest << 1) - 1)
    return reach


def _run_closure(reach: int, steps: int, n: int) -> int:
    """Every position reachable from `reach` by allowed steps (a parallel prefix fill)."""
    shift = 1
    while shift <= n and steps:
        reach |= (reach << shift) & steps
        steps &= steps << shift
        shift <<= 1
    return reach


def full_match(tokens: Sequence[Token], text: str) -> bool:
    """Whether the tokens match the whole text."""
    t = Text(text)
    return bool(advance(tokens, t, 1) >> t.n & 1)


def prefix_ends(tokens: Sequence[Token], text: Text) -> int:
    """Bit set of every `e` for which the tokens match `text[:e]` exactly."""
    return advance(tokens, text, 1)


def reverse(tokens: Sequence[Token]) -> list[Token]:
    """The tokens that match the reversed texts (only for patterns without `**/`)."""
    assert not any(isinstance(t, DirsOpt) for t in tokens)
    return list(reversed(tokens))
