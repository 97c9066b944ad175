"""Timestamps as Docker writes them: RFC 3339 with nanoseconds, in UTC."""

from __future__ import annotations

import time


def now_iso(ns: int | None = None) -> str:
    ns = time.time_ns() if ns is None else ns
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


ZERO_TIME = "0001-01-01T00:00:00Z"


def parse_iso(text: str) -> float:
    """Seconds since the epoch for a timestamp made by `now_iso` (0 for the zero time)."""
    if not text or text.startswith("0001-"):
        return 0.0
    base = text[:19]
    frac = text[20:].rstrip("Z") if len(text) > 20 and text[19] == "." else ""
    days = _days_from_civil(int(base[0:4]), int(base[5:7]), int(base[8:10]))
    seconds = days * 86400 + int(base[11:13]) * 3600 + int(base[14:16]) * 60 + int(base[17:19])
    return seconds + (int(frac) / 10 ** len(frac) if frac else 0.0)


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (what calendar.timegm
    computes, without importing calendar on `run`'s path)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468
