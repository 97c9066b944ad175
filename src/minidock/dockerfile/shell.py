"""Dockerfile word expansion: `$VAR`, `${VAR:-word}` and friends, quotes, escapes.

This is not a shell: it implements exactly the subset Docker's builder applies
to instruction arguments (see `shared/conformance/EXPANSION.md`). Two modes:

* single-word (`expand_word`): expand, remove quotes, process escapes; the
  result is one string and whitespace never splits it;
* multi-word (`expand_words`): the same, then split at unquoted whitespace
  (literal, or coming from an unquoted expansion) and drop empty words.

`ShellLexer` carries the options the parser and the heredoc support need
(keep quotes or escapes verbatim, leave unset variables as written, treat
quotes as plain text). Errors are `ExpansionError`, a `DockerfileError` without
a line number; the evaluator adds the line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

from minidock.dockerfile import globmatch
from minidock.dockerfile.globmatch import Lit, One, Star, Text, Token, advance, prefix_ends, reverse
from minidock.errors import DockerfileError

# unicode.IsSpace in Go: ASCII whitespace, NEL, NBSP and the Z categories.
GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_GO_SPACE_SET = frozenset(GO_SPACE)
_SPLIT_GO_SPACE = re.compile("[" + re.escape(GO_SPACE) + "]+")
_SPECIAL_PARAMS = frozenset("@*#?-$!0")
_MISSING_BRACE = "syntax error: missing '}'"


class ExpansionError(DockerfileError):
    """A word that cannot be expanded (bad substitution, unterminated quote...)."""


class _SyntaxError(Exception):
    """Internal: raised while scanning, turned into ExpansionError with the word."""


def env_from_list(entries: Iterable[str]) -> dict[str, str]:
    """`["K=V", "BARE"]` -> `{"K": "V", "BARE": ""}`; the last definition wins."""
    env: dict[str, str] = {}
    for entry in entries:
        key, sep, value = entry.partition("=")
        env[key] = value if sep else ""
    return env


class _Words:
    """Accumulates words for multi-word mode: splittable vs protected characters."""

    __slots__ = ("words", "current")

    def __init__(self) -> None:
        self.words: list[str] = []
        self.current: list[str] = []

    def add_splittable(self, text: str) -> None:
        for ch in text:
            if ch in _GO_SPACE_SET:
                if self.current:
                    word = "".join(self.current)
                    self.current = []
                    if word:
                        self.words.append(word)
            else:
                self.current.append(ch)

    def add_protected(self, text: str) -> None:
        self.current.append(text)

    def finish(self) -> list[str]:
        if self.current:
            word = "".join(self.current)
            if word:
                self.words.append(word)
            self.current = []
        return self.words


class _Scanner:
    """One expansion of one input string."""

    __slots__ = ("text", "pos", "n", "env", "lexer", "raw_escapes")

    def __init__(self, lexer: ShellLexer, text: str, env: Mapping[str, str]):
        self.lexer = lexer
        self.text = text
        self.pos = 0
        self.n = len(text)
        self.env = env
        self.raw_escapes = lexer.raw_escapes

    # -- helpers ------------------------------------------------------------------
    def peek(self) -> str:
        return self.text[self.pos] if self.pos < self.n else ""

    def next(self) -> str:
        if self.pos < self.n:
            ch = self.text[self.pos]
            self.pos += 1
            return ch
        return ""

    # -- the main loop --------------------------------------------------------------
    def process(self, stop: str, raw_escapes: bool, words: _Words | None) -> str:
        """Scan up to `stop` (consumed) or to the end when stop is ""."""
        saved = self.raw_escapes
        self.raw_escapes = raw_escapes
        try:
            return self._process(stop, words)
        finally:
            self.raw_escapes = saved

    def process_nested(self, stop: str, raw_escapes: bool, missing: str) -> str:
        """`process` for a word inside `${...}`: input that ends before `stop` is the
        error `missing`, Docker's wording for it, whatever failed inside."""
        try:
            return self.process(stop, raw_escapes, None)
        except _SyntaxError:
            if self.pos >= self.n:
                raise _SyntaxError(missing) from None
            raise

    def _process(self, stop: str, words: _Words | None) -> str:
        lexer = self.lexer
        escape = lexer.escape
        quotes = not lexer.skip_quotes
        text = self.text
        out: list[str] = []
        while self.pos < self.n:
            ch = text[self.pos]
            if stop and ch == stop:
                self.pos += 1
                return "".join(out)
            if ch == "$":
                value = self.dollar()
                out.append(value)
                if words is not None:
                    words.add_splittable(value)
            elif ch == "<":
                value = self.possible_heredoc()
                out.append(value)
                if words is not None:
                    words.add_protected(value)
            elif quotes and ch == "'":
                value = self.single_quoted()
                out.append(value)
                if words is not None:
                    words.add_protected(value)
            elif quotes and ch == '"':
                value = self.double_quoted()
                out.append(value)
                if words is not None:
                    words.add_protected(value)
            elif ch == escape:
                self.pos += 1
                if self.raw_escapes:
                    out.append(ch)
                    if words is not None:
                        words.add_protected(ch)
                if self.pos >= self.n:
                    break  # a lone escape at the very end is dropped
                escaped = text[self.pos]
                self.pos += 1
                out.append(escaped)
                if words is not None:
                    words.add_protected(escaped)
            else:
                self.pos += 1
                out.append(ch)
                if words is not None:
                    words.add_splittable(ch)
        if stop:
            raise _SyntaxError(
                f"unexpected end of statement while looking for matching {stop}")
        return "".join(out)

    def possible_heredoc(self) -> str:
        # `<<` and the blanks after it stay glued to the next word, so
        # `<< EOF` is one word for heredoc detection.
        self.pos += 1
        if self.peek() != "<":
            return "<"
        self.pos += 1
        start = self.pos
        while self.pos < self.n and self.text[self.pos] in " \t":
            self.pos += 1
        return "<<" + self.text[start:self.pos]

    def single_quoted(self) -> str:
        raw = self.lexer.raw_quotes
        self.pos += 1
        end = self.text.find("'", self.pos)
        if end < 0:
            self.pos = self.n
            raise _SyntaxError(
                "unexpected end of statement while looking for matching single-quote")
        body = self.text[self.pos:end]
        self.pos = end + 1
        return "'" + body + "'" if raw else body

    def double_quoted(self) -> str:
        raw = self.lexer.raw_quotes
        escape = self.lexer.escape
        text = self.text
        self.pos += 1
        out: list[str] = ['"'] if raw else []
        while True:
            if self.pos >= self.n:
                raise _SyntaxError(
                    "unexpected end of statement while looking for matching double-quote")
            ch = text[self.pos]
            if ch == '"':
                self.pos += 1
                if raw:
                    out.append('"')
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            self.pos += 1
            if ch == escape:
                if self.raw_escapes:
                    out.append(ch)
                if self.pos >= self.n:
                    continue  # dropped; the loop then reports the missing quote
                following = text[self.pos]
                if following in ('"', "$", escape):
                    self.pos += 1
                    ch = following
            out.append(ch)

    # -- parameters -------------------------------------------------------------------
    def read_name(self) -> str:
        text = self.text
        start = self.pos
        if start >= self.n:
            return ""
        first = text[start]
        if first.isdecimal():
            # positional parameters: a leading digit takes every following digit
            while self.pos < self.n and text[self.pos].isdecimal():
                self.pos += 1
            return text[start:self.pos]
        if first in _SPECIAL_PARAMS:
            self.pos += 1
            return first
        while self.pos < self.n:
            ch = text[self.pos]
            if ch == "_" or ch.isalpha() or ch.isdecimal():
                self.pos += 1
            else:
                break
        return text[start:self.pos]

    def lookup(self, name: str) -> str | None:
        return self.env.get(name)

    def dollar(self) -> str:
        self.pos += 1  # the "$"
        if self.peek() != "{":
            name = self.read_name()
            if not name:
                return "$"
            value = self.lookup(name)
            if value is None:
                return "$" + name if self.lexer.skip_unset else ""
            return value

        self.pos += 1  # the "{"
        first = self.peek()
        if first == "":
            raise _SyntaxError(_MISSING_BRACE)
        if first in "{}:":
            raise _SyntaxError("syntax error: bad substitution")
        name = self.read_name()
        op = self.next()
        if op == "}":
            value = self.lookup(name)
            if value is None:
                return "${" + name + "}" if self.lexer.skip_unset else ""
            return value
        if op == "":
            raise _SyntaxError(_MISSING_BRACE)
        if op == "/":
            return self.substitute(name)

        modifier = op
        null_is_unset = False
        if op == ":":
            null_is_unset = True
            modifier = self.next()
            if modifier in ("#", "%"):
                raise _SyntaxError(f"unsupported modifier ({op}{modifier}) in substitution")
        elif op not in "+-?#%":
            raise _SyntaxError(f"unsupported modifier ({op}) in substitution")

        raw = modifier in ("#", "%")
        word = self.process_nested("}", raw, _MISSING_BRACE)
        value = self.lookup(name)
        if value is None and self.lexer.skip_unset:
            return "${" + name + (":" if null_is_unset else "") + modifier + word + "}"
        is_set = value is not None
        value = value or ""
        if modifier == "-":
            if not is_set or (null_is_unset and not value):
                return word
            return value
        if modifier == "+":
            if not is_set or (null_is_unset and not value):
                return ""
            return word
        if modifier == "?":
            if not is_set:
                raise _SyntaxError(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and not value:
                raise _SyntaxError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        if modifier in ("#", "%"):
            longest = False
            if word.startswith(modifier):
                longest = True
                word = word[1:]
            if modifier == "#":
                return _trim_prefix(word, value, longest)
            return _trim_suffix(word, value, longest)
        raise _SyntaxError(f"unsupported modifier ({op}{modifier}) in substitution")

    def substitute(self, name: str) -> str:
        replace_all = self.peek() == "/"
        if replace_all:
            self.pos += 1
        pattern = self.process_nested("/", True, "syntax error: missing '/' in ${}")
        replacement = self.process_nested("}", True, _MISSING_BRACE)
        value = self.lookup(name)
        if value is None:
            if self.lexer.skip_unset:
                return "${" + name + "/" + pattern + "/" + replacement + "}"
            value = ""
        searcher = _Searcher(pattern, value)
        if replace_all:
            return _replace_all(searcher, value, replacement)
        match = searcher.search(0)
        if match is None:
            return value
        return value[:match[0]] + replacement + value[match[1]:]


# ---- glob patterns ---------------------------------------------------------------
# Matched by the linear engine in globmatch with the semantics of the regex
# BuildKit makes of a pattern (leftmost match, `*` greedy or not, neither `*`
# nor `?` crossing a newline), without the backtracking of a regex.

_ANY = One("any", "\n")
_RUN = Star("any", "\n")


def _glob_escape(pattern: str, i: int) -> tuple[Token | None, int]:
    following = pattern[i] if i < len(pattern) else ""
    if following in ("}", "/"):
        return None, i  # `\}` and `\/` only protect the character inside ${}
    if following not in ("*", "?", "\\"):
        raise _SyntaxError(
            f"invalid pattern ({pattern}) in substitution: invalid escape '\\{following}'")
    return Lit(following), i + 1


_GLOB_SPECIALS: dict[str, globmatch.SpecialChar] = {
    "*": lambda _p, i: (_RUN, i), "?": lambda _p, i: (_ANY, i), "\\": _glob_escape,
}


@lru_cache(maxsize=256)
def _glob_tokens(pattern: str) -> tuple[Token, ...]:
    """A shell pattern (`*`, `?`, backslash escapes; no brackets) as match tokens."""
    return globmatch.tokenize(pattern, _GLOB_SPECIALS)


def _prefix_end(pattern: str, value: str, longest: bool) -> int | None:
    """Where the shortest (or longest) match of `pattern` at the start of `value` ends."""
    ends = prefix_ends(_glob_tokens(pattern), Text(value))
    if not ends:
        return None
    return ends.bit_length() - 1 if longest else (ends & -ends).bit_length() - 1


def _trim_prefix(pattern: str, value: str, longest: bool) -> str:
    end = _prefix_end(pattern, value, longest)
    return value if end is None else value[end:]


def _reverse_pattern(pattern: str) -> str:
    """Reverse a pattern keeping each backslash before the character it escapes."""
    pieces: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        if pattern[i] == "\\" and i + 1 < n:
            pieces.append(pattern[i:i + 2])
            i += 2
        else:
            pieces.append(pattern[i])
            i += 1
    return "".join(reversed(pieces))


def _trim_suffix(pattern: str, value: str, longest: bool) -> str:
    # The shortest/longest rightmost match, found as a prefix of the reversed value.
    trimmed = _trim_prefix(_reverse_pattern(pattern), value[::-1], longest)
    return trimmed[::-1]


class _Searcher:
    """Leftmost, then longest, matches of a pattern in one value (what `${v/p/r}` replaces)."""

    def __init__(self, pattern: str, value: str):
        self.tokens = _glob_tokens(pattern)
        self.backwards = reverse(self.tokens)
        self.n = len(value)
        self.text = Text(value)
        self.reversed = Text(value[::-1])

    def search(self, pos: int) -> tuple[int, int] | None:
        """(start, end) of the first match starting at or after `pos`."""
        n = self.n
        # run backwards from every end at or after pos: what is reached is n - start
        within = (2 << (n - pos)) - 1
        starts = advance(self.backwards, self.reversed, within) & within
        if not starts:
            return None
        start = n - (starts.bit_length() - 1)
        end = advance(self.tokens, self.text, 1 << start).bit_length() - 1
        return start, end


def _replace_all(searcher: _Searcher, value: str, replacement: str) -> str:
    """Replace every non-overlapping match; an empty match right after a match is skipped."""
    out: list[str] = []
    last_end = 0
    search_pos = 0
    n = len(value)
    while search_pos <= n:
        match = searcher.search(search_pos)
        if match is None:
            break
        start, end = match
        out.append(value[last_end:start])
        if end > last_end or start == 0:
            out.append(replacement)
        last_end = end
        search_pos = end if end > search_pos else search_pos + 1
    out.append(value[last_end:])
    return "".join(out)


# ---- public API ------------------------------------------------------------------

class ShellLexer:
    """Expansion with a given escape character and options.

    raw_quotes: keep quote characters in the output (they still group).
    raw_escapes: keep escape characters in the output (they still protect).
    skip_unset: leave references to unset variables as written.
    skip_quotes: quotes are plain characters (heredoc bodies).
    """

    __slots__ = ("escape", "raw_quotes", "raw_escapes", "skip_unset", "skip_quotes", "_plain")

    def __init__(self, escape: str = "\\", *, raw_quotes: bool = False,
                 raw_escapes: bool = False, skip_unset: bool = False,
                 skip_quotes: bool = False):
        if escape not in ("\\", "`"):
            raise ValueError(f"invalid escape character {escape!r}")
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset = skip_unset
        self.skip_quotes = skip_quotes
        special = "$<" + escape + ("" if skip_quotes else "'\"")
        # input without any of these characters expands to itself
        self._plain = re.compile("[" + re.escape(special) + "]")

    def expand_word(self, text: str, env: Mapping[str, str]) -> str:
        """Single-word mode."""
        if self._plain.search(text) is None:
            return text
        return self._scan(text, env, None)

    def expand_words(self, text: str, env: Mapping[str, str]) -> list[str]:
        """Multi-word mode."""
        if self._plain.search(text) is None:
            return [w for w in _SPLIT_GO_SPACE.split(text) if w]
        words = _Words()
        self._scan(text, env, words)
        return words.finish()

    def _scan(self, text: str, env: Mapping[str, str], words: _Words | None) -> str:
        try:
            return _Scanner(self, text, env).process("", self.raw_escapes, words)
        except _SyntaxError as exc:
            raise ExpansionError(f"failed to process {_q(text)}: {exc}") from None
        except RecursionError:  # the scanner recurses once per nested ${...}
            head = text[:40] + ("..." if len(text) > 40 else "")
            raise ExpansionError(f"failed to process {_q(head)}: variable substitutions "
                                 "nested too deeply") from None


def _q(text: str) -> str:
    from minidock.dockerfile.goformat import quote

    return quote(text)


_LEXERS: dict[str, ShellLexer] = {}


def lexer_for(escape: str) -> ShellLexer:
    """The plain lexer for an escape character (shared; lexers are stateless)."""
    lexer = _LEXERS.get(escape)
    if lexer is None:
        lexer = _LEXERS[escape] = ShellLexer(escape)
    return lexer


_HEREDOC_LEXER = ShellLexer("\\", skip_quotes=True)


def expand_word(text: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """Expand one word (quotes removed, escapes processed, never split)."""
    return lexer_for(escape).expand_word(text, env)


def expand_words(text: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """Expand and split at unquoted whitespace; empty words are dropped."""
    return lexer_for(escape).expand_words(text, env)


def expand_heredoc(body: str, env: Mapping[str, str]) -> str:
    """Expand a COPY/ADD heredoc body: `$` forms and `\\` escapes, quotes are text."""
    return _HEREDOC_LEXER.expand_word(body, env)


def split_go_space(text: str) -> list[str]:
    """Split on runs of Go whitespace, dropping empty pieces."""
    return [w for w in _SPLIT_GO_SPACE.split(text) if w]
