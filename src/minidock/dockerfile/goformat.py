"""Go-compatible text formatting: quoting, list printing and durations.

Docker writes several strings with Go's `fmt`/`strconv` (the parser dump, the
history text of CMD/ENTRYPOINT/HEALTHCHECK, durations). Python's `repr` and
`json.dumps` escape differently, so byte-exact output needs these helpers.

Text decoded from a Dockerfile with `surrogateescape` carries invalid UTF-8
bytes as U+DC80..U+DCFF; `quote` prints them as `\\xNN`, as Go does for the
raw byte.
"""

from __future__ import annotations

from collections.abc import Iterable

_NAMED_ESCAPES = {
    0x07: "\\a",
    0x08: "\\b",
    0x0C: "\\f",
    0x0A: "\\n",
    0x0D: "\\r",
    0x09: "\\t",
    0x0B: "\\v",
}


def _quote_with(text: str, quote_char: str) -> str:
    out = [quote_char]
    append = out.append
    for ch in text:
        code = ord(ch)
        if ch == quote_char or ch == "\\":
            append("\\" + ch)
        elif 0xDC80 <= code <= 0xDCFF:
            append(f"\\x{code - 0xDC00:02x}")
        elif ch.isprintable():
            # isprintable: letters, marks, numbers, punctuation, symbols and the
            # ASCII space -- the same set as Go's strconv.IsPrint.
            append(ch)
        elif code in _NAMED_ESCAPES:
            append(_NAMED_ESCAPES[code])
        elif code < 0x20 or code == 0x7F:
            append(f"\\x{code:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            # A lone surrogate cannot exist in a Go string; Go sees U+FFFD.
            append("\\ufffd")
        elif code < 0x10000:
            append(f"\\u{code:04x}")
        else:
            append(f"\\U{code:08x}")
    out.append(quote_char)
    return "".join(out)


def quote(text: str) -> str:
    """`strconv.Quote`: a double-quoted Go string literal."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return '"' + text + '"'
    return _quote_with(text, '"')


def quote_rune(value: int) -> str:
    """`strconv.QuoteRune` (what `%q` prints for an int): `'\\x03'`, `'A'`."""
    if value < 0 or value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
        value = 0xFFFD
    return _quote_with(chr(value), "'")


def quote_list(items: Iterable[str]) -> str:
    """`fmt.Sprintf("%q", []string{...})`: `["a" "b c"]`."""
    return "[" + " ".join(quote(item) for item in items) + "]"


def format_list(items: Iterable[str]) -> str:
    """`fmt.Sprintf("%v", []string{...})`: `[a b c]`."""
    return "[" + " ".join(items) + "]"


# ---- durations (time.Duration) -------------------------------------------------

_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # micro sign
    "\u03bcs": 1_000,  # Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_MAX_DURATION = (1 << 63) - 1


def parse_duration(text: str) -> int:
    """`time.ParseDuration`: `"1m30s"`, `"1.5h"`, `"300ms"` -> nanoseconds.

    Raises ValueError with Go's wording for malformed input.
    """
    original = text
    if not text:
        raise ValueError(f'time: invalid duration "{original}"')
    negative = False
    if text[0] in "+-":
        negative = text[0] == "-"
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise ValueError(f'time: invalid duration "{original}"')
    total = 0
    pos = 0
    n = len(text)
    while pos < n:
        start = pos
        while pos < n and "0" <= text[pos] <= "9":
            pos += 1
        whole = text[start:pos]
        fraction = ""
        if pos < n and text[pos] == ".":
            pos += 1
            frac_start = pos
            while pos < n and "0" <= text[pos] <= "9":
                pos += 1
            fraction = text[frac_start:pos]
        if not whole and not fraction:
            raise ValueError(f'time: invalid duration "{original}"')
        unit_start = pos
        while pos < n and text[pos] != "." and not ("0" <= text[pos] <= "9"):
            pos += 1
        unit = text[unit_start:pos]
        if not unit:
            raise ValueError(f'time: missing unit in duration "{original}"')
        scale = _UNITS_NS.get(unit)
        if scale is None:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{original}"')
        value = int(whole or "0") * scale
        if fraction:
            value += int(int(fraction) * (scale / 10 ** len(fraction)))
        total += value
        if total > _MAX_DURATION + (1 if negative else 0):
            raise ValueError(f'time: invalid duration "{original}"')
    return -total if negative else total


def _trim_fraction(value: int, digits: int) -> tuple[str, int]:
    """The fraction of value/10**digits as ".123" without trailing zeros, and the quotient."""
    frac = value % (10**digits)
    whole = value // (10**digits)
    if frac == 0:
        return "", whole
    text = f"{frac:0{digits}d}".rstrip("0")
    return "." + text, whole


def format_duration(ns: int) -> str:
    """`time.Duration.String()`: `5m0s`, `1.5s`, `300ms`, `0s`."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    u = -ns if ns < 0 else ns
    if u < 1_000_000_000:
        if u < 1_000:
            return f"{sign}{u}ns"
        if u < 1_000_000:
            frac, whole = _trim_fraction(u, 3)
            return f"{sign}{whole}{frac}\u00b5s"
        frac, whole = _trim_fraction(u, 6)
        return f"{sign}{whole}{frac}ms"
    frac, seconds = _trim_fraction(u, 9)
    text = f"{seconds % 60}{frac}s"
    minutes = seconds // 60
    if minutes:
        text = f"{minutes % 60}m" + text
        hours = minutes // 60
        if hours:
            text = f"{hours}h" + text
    return sign + text
