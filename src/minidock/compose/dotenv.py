"""`.env` and `env_file` files: `KEY=value` lines as docker compose reads them.

`export ` prefixes and `#` comments are ignored; single quotes are literal;
double quotes take `\\n`, `\\t`, `\\\\`, `\\"` escapes; unquoted and double-quoted
values are interpolated (earlier lines and `lookup`); a bare `KEY` inherits
`lookup(KEY)` when set.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from minidock.compose.interpolate import TemplateError, substitute
from minidock.errors import ComposeError

_KEY = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.\-]*)\s*(?:([=:])\s?(.*))?$", re.S)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "$": "$$"}


def parse_env_file(path: str, lookup: Callable[[str], str | None]) -> dict[str, str]:
    """Read one env file; raise ComposeError naming the file and line on a bad line."""
    try:
        with open(path, encoding="utf-8-sig") as fh:
            text = fh.read()
    except OSError as exc:
        raise ComposeError(f"cannot read env file: {exc.strerror}", filename=path) from None
    values: dict[str, str] = {}

    def chained(name: str) -> str | None:
        found = lookup(name)
        return found if found is not None else values.get(name)

    lines = text.splitlines()
    index = 0
    while index < len(lines):
        number, line = index + 1, lines[index]
        index += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _KEY.match(line)
        if match is None:
            raise ComposeError(f"unexpected character in variable name: {line.strip()!r}",
                               filename=path, line=number)
        key, sep, raw = match.group(1), match.group(2), match.group(3)
        if sep is None:
            inherited = lookup(key)
            if inherited is not None:
                values[key] = inherited
            continue
        raw = raw.strip()
        quote = raw[:1]
        if quote in ("'", '"'):
            # a quoted value may span lines up to its closing quote
            while _closing(raw, quote) < 0 and index < len(lines):
                raw += "\n" + lines[index]
                index += 1
            end = _closing(raw, quote)
            if end < 0:
                raise ComposeError(f"unterminated quoted value for {key}", filename=path,
                                   line=number)
            body = raw[1:end]
            if quote == "'":
                values[key] = body
                continue
            body = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), body)
        else:
            body = re.split(r"\s+#", raw, maxsplit=1)[0].strip()
        try:
            values[key] = substitute(body, chained)
        except TemplateError as exc:
            raise ComposeError(str(exc), filename=path, line=number) from None
    return values


def _closing(raw: str, quote: str) -> int:
    index = 1
    while index < len(raw):
        if raw[index] == "\\" and quote == '"':
            index += 2
            continue
        if raw[index] == quote:
            return index
        index += 1
    return -1
