"""Dockerfile syntax: physical lines -> logical instructions (`Node`s).

This layer only splits text; it does not know what instructions mean (that is
`instructions.py`). It follows buildkit's parser exactly, so the conformance
corpus in `shared/conformance/buildkit/parser` dumps byte for byte:

* parser directives at the very top (`# syntax=`, `# escape=`, `# check=`);
* comments, continuations (escape char at end of line), comment and blank
  lines inside continuations (the latter produce a warning);
* keyword, `--flags`, then arguments split per instruction (JSON form, shell
  form, `name=value` words...);
* heredocs (`RUN <<EOF`, `COPY <<A <<B /dest`) whose bodies are consumed from
  the following lines;
* 1-based start/end line numbers for every instruction.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from minidock.dockerfile.goformat import quote, quote_list
from minidock.dockerfile.shell import GO_SPACE, ExpansionError, ShellLexer
from minidock.errors import DockerfileError

DEFAULT_ESCAPE = "\\"
KNOWN_DIRECTIVES = ("syntax", "escape", "check")

# Between keyword, flags and arguments Docker splits on these (not on \n or NBSP).
_ARG_SPLIT = re.compile(r"[\t\v\f\r ]+")
_SPLIT_GO_SPACE = re.compile("[" + re.escape(GO_SPACE) + "]+")
_DIRECTIVE = re.compile(r"([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*\Z",
                        re.DOTALL)
_HEREDOC_WORD = re.compile(r"([0-9]*)<<(-?)[\t\n\f\r ]*([^<]*)\Z", re.DOTALL)
_LEADING_TABS = re.compile(r"^\t+", re.MULTILINE)

# instruction keyword -> how its arguments are split
_WHITESPACE_LIST = "whitespace"
_MAYBE_JSON = "maybe_json"
_MAYBE_JSON_LIST = "maybe_json_list"
_STRING = "string"
_NAME_VAL = "name_val"
_WORDS = "words"
_HEALTH = "health"
_SUB = "sub"

_ARG_STYLE = {
    "from": _WHITESPACE_LIST,
    "expose": _WHITESPACE_LIST,
    "add": _MAYBE_JSON_LIST,
    "copy": _MAYBE_JSON_LIST,
    "volume": _MAYBE_JSON_LIST,
    "run": _MAYBE_JSON,
    "cmd": _MAYBE_JSON,
    "entrypoint": _MAYBE_JSON,
    "shell": _MAYBE_JSON,
    "maintainer": _STRING,
    "user": _STRING,
    "workdir": _STRING,
    "stopsignal": _STRING,
    "env": _NAME_VAL,
    "label": _NAME_VAL,
    "arg": _WORDS,
    "healthcheck": _HEALTH,
    "onbuild": _SUB,
}
HEREDOC_INSTRUCTIONS = frozenset({"run", "add", "copy"})


@dataclass(frozen=True)
class Heredoc:
    """One here-document: `name` is the delimiter with its quotes removed.

    `expand` is False when any part of the delimiter was quoted; `chomp` is
    set for `<<-` (leading tabs are stripped later, by `chomp_heredoc`);
    `fd` is the descriptor prefix of `3<<EOF` (0 when absent). `content` is the
    body exactly as written, each line with its line ending.
    """

    name: str
    content: str = ""
    expand: bool = True
    chomp: bool = False
    fd: int = 0


@dataclass(frozen=True)
class Node:
    """One logical instruction as the parser sees it.

    `keyword` is lower-cased; `args` are the argument tokens of section 1.3 of
    the conformance notes; `flags` are the `--name[=value]` words with quotes
    removed; `json_form` tells whether the arguments came from a JSON array.
    For ONBUILD, `sub` is the trigger instruction and `args` is empty.
    """

    keyword: str
    args: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    json_form: bool = False
    original: str = ""
    start_line: int = 0
    end_line: int = 0
    heredocs: tuple[Heredoc, ...] = ()
    sub: Node | None = None
    written_keyword: str = ""

    def dump(self) -> str:
        """The conformance dump of this instruction, without parentheses."""
        parts = [self.keyword]
        if self.flags:
            parts.append(quote_list(self.flags))
        if self.sub is not None:
            parts.append("(" + self.sub.dump() + ")")
        parts.extend(quote(arg) for arg in self.args)
        return " ".join(parts).strip(GO_SPACE)


@dataclass(frozen=True)
class ParseWarning:
    """A problem that does not stop the build (Docker prints it and goes on)."""

    message: str
    line: int


@dataclass(frozen=True)
class ParseResult:
    nodes: tuple[Node, ...]
    escape: str = DEFAULT_ESCAPE
    warnings: tuple[ParseWarning, ...] = ()
    directives: dict[str, str] = field(default_factory=dict)

    @property
    def start_line(self) -> int:
        return self.nodes[0].start_line

    @property
    def end_line(self) -> int:
        return self.nodes[-1].end_line


def dump(result: ParseResult) -> str:
    """The conformance dump: one `(instruction ...)` line per instruction."""
    return "".join("(" + node.dump() + ")\n" for node in result.nodes)


def chomp_heredoc(content: str) -> str:
    """Remove the leading tabs of every line (what `<<-` asks for)."""
    return _LEADING_TABS.sub("", content)


# ---- line-level helpers ------------------------------------------------------------

def _is_comment(line: str) -> bool:
    return line.lstrip(GO_SPACE).startswith("#")


def _trim_continuation(line: str, escape: str) -> tuple[str, bool]:
    """(text without the continuation escape, whether the instruction ends here).

    A line continues when it ends with the escape character (then only blanks)
    and that escape is alone or preceded by a non-escape character: `a\\\\`
    (a doubled escape) does not continue.
    """
    stripped = line.rstrip(" \t")
    if stripped.endswith(escape) and (len(stripped) == 1 or stripped[-2] != escape):
        return stripped[:-1], False
    return line, True


# ---- argument splitting --------------------------------------------------------------

def _extract_flags(line: str, escape: str) -> tuple[str, list[str]]:
    """Leading `--flag` words (quotes removed, escapes applied) and the rest."""
    flags: list[str] = []
    pos = 0
    n = len(line)
    while True:
        while pos < n and line[pos] in GO_SPACE:
            pos += 1
        if pos >= n:
            return "", flags
        if not line.startswith("--", pos):
            return line[pos:], flags
        word: list[str] = []
        quote_char = ""
        while pos < n:
            ch = line[pos]
            if quote_char:
                if ch == quote_char:
                    quote_char = ""
                    pos += 1
                    continue
            elif ch in GO_SPACE:
                break
            elif ch in "'\"":
                quote_char = ch
                pos += 1
                continue
            if ch == escape:
                if pos + 1 >= n:
                    pos += 1
                    continue  # an escape at the very end is dropped
                pos += 1
                ch = line[pos]
            word.append(ch)
            pos += 1
        text = "".join(word)
        if text == "--":
            return line[pos:], flags
        flags.append(text)


def _split_words(rest: str, escape: str) -> list[str]:
    """ENV/LABEL/ARG words: split at unquoted whitespace, quotes and escapes kept."""
    if "'" not in rest and '"' not in rest and escape not in rest:
        stripped = rest.strip(GO_SPACE)
        return _SPLIT_GO_SPACE.split(stripped) if stripped else []
    words: list[str] = []
    word: list[str] = []
    in_word = False
    blank_ok = False
    quote_char = ""
    pos = 0
    n = len(rest)
    while pos < n:
        ch = rest[pos]
        if not in_word:
            if ch in GO_SPACE:
                pos += 1
                continue
            in_word = True
        if quote_char:
            if ch == quote_char:
                quote_char = ""
            if ch == escape and quote_char != "'":
                if pos + 1 >= n:
                    pos += 1
                    continue  # an escape at the very end is dropped
                word.append(ch)
                pos += 1
                ch = rest[pos]
            word.append(ch)
            pos += 1
            continue
        if ch in GO_SPACE:
            if blank_ok or word:
                words.append("".join(word))
            word = []
            blank_ok = False
            in_word = False
            pos += 1
            continue
        if ch == "'" or ch == '"':
            quote_char = ch
            blank_ok = True
        if ch == escape:
            if pos + 1 >= n:
                pos += 1
                continue
            # an escape keeps itself and protects the next character, even a quote
            word.append(ch)
            pos += 1
            ch = rest[pos]
        word.append(ch)
        pos += 1
    if in_word and (blank_ok or word):
        words.append("".join(word))
    return words


def _reject_constant(name: str) -> object:
    raise ValueError(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(text)  # Go cannot hold it in a float64: not valid JSON for Docker
    return value


class _NotStringArray(Exception):
    pass


def _parse_json_array(rest: str) -> list[str] | None:
    """The string list of a JSON array; None when `rest` is not JSON at all."""
    rest = rest.lstrip(GO_SPACE)
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, list):
        return None
    out: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise _NotStringArray()
        if any(0xD800 <= ord(c) <= 0xDFFF for c in item):
            # Go decodes invalid UTF-8 and lone surrogate escapes as U+FFFD
            item = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in item)
        out.append(item)
    return out


def _split_whitespace(rest: str) -> tuple[str, ...]:
    if not rest:
        return ()
    return tuple(_ARG_SPLIT.split(rest))


def _maybe_json(rest: str) -> tuple[tuple[str, ...], bool]:
    if not rest:
        return (), False
    items = _parse_json_array(rest)
    if items is not None:
        return tuple(items), True
    return (rest,), False


def _maybe_json_list(rest: str) -> tuple[tuple[str, ...], bool]:
    items = _parse_json_array(rest)
    if items is not None:
        return tuple(items), True
    return _split_whitespace(rest), False


def _name_val(rest: str, keyword: str, escape: str) -> tuple[str, ...]:
    words = _split_words(rest, escape)
    if not words:
        return ()
    if "=" not in words[0]:
        parts = _ARG_SPLIT.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise _LineError(f"{keyword.upper()} must have two arguments")
        return (parts[0], parts[1], "")
    out: list[str] = []
    for word in words:
        if "=" not in word:
            raise _LineError(
                f"Syntax error - can't find = in {quote(word)}. Must be of the form: name=value")
        name, _, value = word.partition("=")
        out.extend((name, value, "="))
    return tuple(out)


def _health(rest: str) -> tuple[tuple[str, ...], bool]:
    sep = 0
    n = len(rest)
    while sep < n and rest[sep] not in GO_SPACE:
        sep += 1
    if sep == 0:
        return (), False
    nxt = sep
    while nxt < n and rest[nxt] in GO_SPACE:
        nxt += 1
    cmd, json_form = _maybe_json(rest[nxt:])
    return (rest[:sep],) + cmd, json_form


class _LineError(Exception):
    """Internal: a parse error for the current logical line."""


def _node_from_line(line: str, escape: str, start: int = 0, end: int = 0) -> Node:
    trimmed = line.strip(GO_SPACE)
    pieces = _ARG_SPLIT.split(trimmed, maxsplit=1)
    written = pieces[0]
    keyword = written.lower()
    flags: list[str] = []
    rest = ""
    if len(pieces) == 2:
        rest, flags = _extract_flags(pieces[1], escape)
        rest = rest.strip(GO_SPACE)
    style = _ARG_STYLE.get(keyword)
    args: tuple[str, ...] = ()
    json_form = False
    sub: Node | None = None
    try:
        if style == _WHITESPACE_LIST:
            args = _split_whitespace(rest)
        elif style == _MAYBE_JSON:
            args, json_form = _maybe_json(rest)
        elif style == _MAYBE_JSON_LIST:
            args, json_form = _maybe_json_list(rest)
        elif style == _STRING:
            args = (rest,) if rest else ()
        elif style == _NAME_VAL:
            args = _name_val(rest, keyword, escape)
        elif style == _WORDS:
            args = tuple(_split_words(rest, escape))
        elif style == _HEALTH:
            args, json_form = _health(rest)
        elif style == _SUB:
            if rest:
                sub = _node_from_line(rest, escape, start, end)
        else:
            args = ("",)  # unknown instruction: checked by the instruction layer
    except _NotStringArray:
        raise _LineError(
            "when using JSON array syntax, arrays must be comprised of strings only") from None
    return Node(keyword=keyword, args=args, flags=tuple(flags), json_form=json_form,
                original=line, start_line=start, end_line=end, sub=sub, written_keyword=written)


def _can_contain_heredoc(node: Node) -> bool:
    if node.keyword == "onbuild" and node.sub is not None:
        node = node.sub
    return node.keyword in HEREDOC_INSTRUCTIONS and not node.json_form


# ---- heredocs ---------------------------------------------------------------------

_HEREDOC_NAME_LEXER = ShellLexer("\\", skip_unset=True)
_HEREDOC_RAW_LEXER = ShellLexer("\\", raw_quotes=True, skip_unset=True)
_LINE_WORDS_LEXER = ShellLexer("\\", raw_quotes=True, raw_escapes=True, skip_unset=True)


def parse_heredoc_word(word: str) -> Heredoc | None:
    """The heredoc a single word declares (`<<EOF`, `<<-'EOF'`, `3<<EOF`), or None.

    Raises DockerfileError (no line) when the delimiter has unbalanced quotes.
    """
    match = _HEREDOC_WORD.match(word)
    if match is None:
        return None
    fd_text, dash, rest = match.groups()
    if not rest:
        return None
    try:
        words = _HEREDOC_NAME_LEXER.expand_words(rest, {})
        if len(words) != 1:
            return None
        raw_words = _HEREDOC_RAW_LEXER.expand_words(rest, {})
    except ExpansionError as exc:
        raise DockerfileError(exc.detail) from None
    if len(raw_words) != 1:
        raise DockerfileError(f"internal lexing of heredoc produced inconsistent results: {rest}")
    name = words[0]
    quotes = name.count("'") + name.count('"')
    raw_quotes = raw_words[0].count("'") + raw_words[0].count('"')
    return Heredoc(name=name, expand=quotes == raw_quotes, chomp=dash == "-",
                   fd=int(fd_text) if fd_text else 0)


def heredoc_or_none(word: str) -> Heredoc | None:
    """Like `parse_heredoc_word`, but a malformed delimiter is simply not a heredoc."""
    try:
        return parse_heredoc_word(word)
    except DockerfileError:
        return None


def heredocs_in_line(line: str) -> list[Heredoc]:
    """Every heredoc the words of a logical line declare, in order."""
    try:
        words = _LINE_WORDS_LEXER.expand_words(line, {})
    except ExpansionError:
        return []
    docs: list[Heredoc] = []
    for word in words:
        doc = parse_heredoc_word(word)
        if doc is not None:
            docs.append(doc)
    return docs


# ---- the parser -----------------------------------------------------------------------

def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data[1:] if data.startswith("\ufeff") else data
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.decode("utf-8", errors="surrogateescape")


def parse(data: bytes | str, filename: str = "Dockerfile") -> ParseResult:
    """Parse a whole Dockerfile; raises DockerfileError carrying the line number."""
    text = _decode(data)
    lines = text.split("\n")
    ends_with_newline = lines[-1] == ""
    if ends_with_newline:
        lines.pop()
    total = len(lines)
    last_index = total - 1

    escape = DEFAULT_ESCAPE
    directives: dict[str, str] = {}
    directives_done = False
    nodes: list[Node] = []
    warnings: list[ParseWarning] = []

    def fail(message: str, line: int) -> DockerfileError:
        return DockerfileError(message, line=max(line, 1), filename=filename)

    i = 0
    while i < total:
        line = lines[i].rstrip("\r\n").lstrip(GO_SPACE)
        i += 1
        if not directives_done:
            directive = _directive(line)
            if directive is None:
                directives_done = True
            else:
                name, value = directive
                if name in directives:
                    raise fail(f"only one {name} parser directive can be used", i)
                if name == "escape":
                    if value not in ("\\", "`"):
                        raise fail(f"invalid escape token '{value}' does not match ` or \\", i)
                    escape = value
                directives[name] = value
                continue
        if line.startswith("#"):
            continue
        start_line = i
        content, ended = _trim_continuation(line, escape)
        if ended and not content:
            continue
        parts = [content]
        empty_continuation = False
        while not ended and i < total:
            physical = lines[i].rstrip("\r\n")
            i += 1
            if _is_comment(physical):
                continue
            if not physical.lstrip(GO_SPACE):
                empty_continuation = True
                continue
            content, ended = _trim_continuation(physical, escape)
            parts.append(content)
        logical = "".join(parts)
        if empty_continuation:
            warnings.append(ParseWarning("Empty continuation line found in: " + logical, i))
        try:
            node = _node_from_line(logical, escape, start_line, i)
        except _LineError as exc:
            raise fail(str(exc), start_line) from None

        if "<<" in logical and _can_contain_heredoc(node):
            heredocs: list[Heredoc] = []
            try:
                declared = heredocs_in_line(logical)
            except DockerfileError as exc:
                raise fail(exc.detail, start_line) from None
            for doc in declared:
                body: list[str] = []
                terminated = False
                while i < total:
                    raw = lines[i]
                    newline = "\n" if (i < last_index or ends_with_newline) else ""
                    i += 1
                    candidate = raw.rstrip("\r\n")
                    if doc.chomp:
                        candidate = candidate.lstrip("\t")
                    if candidate == doc.name:
                        terminated = True
                        break
                    body.append(raw + newline)
                if not terminated:
                    raise fail("unterminated heredoc", start_line)
                heredocs.append(Heredoc(name=doc.name, content="".join(body), expand=doc.expand,
                                        chomp=doc.chomp, fd=doc.fd))
            if heredocs:
                node = _with_location(node, start_line, i, tuple(heredocs))
        nodes.append(node)

    if not nodes:
        raise fail("file with no instructions", total)
    return ParseResult(nodes=tuple(nodes), escape=escape, warnings=tuple(warnings),
                       directives=directives)


def _with_location(node: Node, start: int, end: int, heredocs: tuple[Heredoc, ...]) -> Node:
    sub = node.sub
    if sub is not None:
        sub = Node(keyword=sub.keyword, args=sub.args, flags=sub.flags, json_form=sub.json_form,
                   original=sub.original, start_line=start, end_line=end, sub=sub.sub,
                   written_keyword=sub.written_keyword)
    return Node(keyword=node.keyword, args=node.args, flags=node.flags, json_form=node.json_form,
                original=node.original, start_line=start, end_line=end, heredocs=heredocs,
                sub=sub, written_keyword=node.written_keyword)


def _directive(line: str) -> tuple[str, str] | None:
    """(name, value) when `line` is a known parser directive."""
    if not line.startswith("#"):
        return None
    match = _DIRECTIVE.match(line[1:].lstrip(GO_SPACE))
    if match is None:
        return None
    name = match.group(1).lower()
    if name not in KNOWN_DIRECTIVES:
        return None
    return name, match.group(2)


def parse_line(text: str, escape: str = DEFAULT_ESCAPE, *, line: int = 0,
               filename: str = "Dockerfile") -> Node:
    """Parse one instruction given as text (used for ONBUILD triggers).

    The text may hold heredoc bodies after the instruction line, as the
    trigger strings of an image config do.
    """
    result = parse(text, filename=filename)
    if len(result.nodes) != 1:
        raise DockerfileError("onbuild trigger should be a single expression", line=line or None,
                              filename=filename)
    node = result.nodes[0]
    if line:
        node = _with_location(node, line, line, node.heredocs)
    return node
