"""Durations and byte sizes written the way docker compose's model prints them.

`1m30s`, `90s` and `1.5m` are all the duration Go prints as `1m30s`; `512m` is
the size printed as `536870912` (binary multiples, as Docker reads them).
"""

from __future__ import annotations

import re

from minidock.errors import ComposeError

_DURATION_UNITS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9,
                   "m": 60 * 10**9, "h": 3600 * 10**9, "d": 86400 * 10**9,
                   "w": 7 * 86400 * 10**9}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h|d|w)")
_SIZE = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")


def parse_duration(text: str) -> int:
    """Nanoseconds in a Go duration (with days and weeks, as compose accepts)."""
    body = text.strip()
    sign = -1 if body.startswith("-") else 1
    body = body.lstrip("+-")
    if body == "0":
        return 0
    total, pos = 0.0, 0
    while pos < len(body):
        match = _DURATION_PART.match(body, pos)
        if match is None or match.group(1) in ("", "."):
            raise ValueError(f'invalid duration "{text}"')
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if not body:
        raise ValueError(f'invalid duration "{text}"')
    return sign * round(total)


def _fraction(value: int, unit: int) -> str:
    whole, rest = divmod(value, unit)
    if not rest:
        return str(whole)
    digits = str(rest).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"


def format_duration(ns: int) -> str:
    """Go's time.Duration.String()."""
    if ns == 0:
        return "0s"
    sign, ns = ("-" if ns < 0 else ""), abs(ns)
    if ns < 10**9:
        for unit, size in (("ms", 10**6), ("µs", 10**3), ("ns", 1)):
            if ns >= size:
                return sign + _fraction(ns, size) + unit
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    seconds = _fraction(rest, 10**9) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{sign}{minutes}m{seconds}"
    return sign + seconds


def parse_bytes(value: object) -> int:
    """`512m`, `1gb`, `1024` -> bytes (binary multiples)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f'invalid size "{text}"')
    power = " kmgtp".index((match.group(2) or " ").lower())
    return int(float(match.group(1)) * 1024**power)


def normalized_duration(value: object, path: tuple[str | int, ...]) -> str:
    try:
        return format_duration(parse_duration(str(value)))
    except ValueError as exc:
        raise ComposeError(str(exc), path=path) from None


def normalized_bytes(value: object, path: tuple[str | int, ...]) -> str:
    try:
        return str(parse_bytes(value))
    except ValueError as exc:
        raise ComposeError(str(exc), path=path) from None
