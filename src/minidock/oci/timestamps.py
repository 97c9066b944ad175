"""Timestamps as image configs and history entries write them: RFC 3339 with up
to nanoseconds, as Go's time package prints them."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$")


def parse_time(text: Any) -> datetime | None:
    """An RFC 3339 timestamp as written in image configs (nanoseconds allowed)."""
    if not isinstance(text, str):
        return None
    match = _RFC3339.match(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = match.group(7) or ""
    micro = int((fraction + "000000")[:6])
    try:
        moment = datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
    except ValueError:
        return None
    if match.group(9):
        offset = int(match.group(10)) * 3600 + int(match.group(11)) * 60
        sign = 1 if match.group(9) == "+" else -1
        moment = datetime.fromtimestamp(moment.timestamp() - sign * offset, UTC)
    return moment
