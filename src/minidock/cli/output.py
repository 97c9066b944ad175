"""Formatting shared by the commands, matching what the docker CLI prints.

Sizes and durations follow Docker's go-units (`HumanSizeWithPrecision`,
`HumanDuration`), tables follow Go's tabwriter as the docker CLI configures it
(cells at least 10 wide, 3 spaces of padding, the last column unpadded), and
JSON is escaped the way Go's encoder does, so scripts written against docker
output keep working.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

_DECIMAL_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")
ELLIPSIS = "…"
TAB_MIN_WIDTH = 10
TAB_PADDING = 3


def _scaled(size: float, base: float, units: Sequence[str]) -> tuple[float, str]:
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return size, units[i]


def human_size(size: float, precision: int = 3) -> str:
    """Docker's decimal size: `107MB`, `1.23kB`, `0B` (go-units HumanSizeWithPrecision).

    `images` and `history` use 3 significant digits; `system df` and the
    reclaimed-space lines use go-units' HumanSize, which is 4.
    """
    value, unit = _scaled(float(size), 1000.0, _DECIMAL_UNITS)
    return f"{value:.{precision}g}{unit}"


def human_size4(size: float) -> str:
    """go-units HumanSize: 4 significant digits (`12.35MB`)."""
    return human_size(size, 4)


def bytes_size(size: float) -> str:
    """go-units BytesSize: binary units, 4 significant digits (`1.5GiB`)."""
    value, unit = _scaled(float(size), 1024.0, _BINARY_UNITS)
    return f"{value:.4g}{unit}"


def human_duration(seconds: float) -> str:
    """Docker's go-units HumanDuration: `Less than a second`, `About an hour`, `4 weeks`."""
    whole = int(seconds)
    if whole < 1:
        return "Less than a second"
    if whole == 1:
        return "1 second"
    if whole < 60:
        return f"{whole} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = math.floor(seconds / 3600 + 0.5)  # Go's math.Round: half away from zero
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def since(moment: datetime | None, now: float | None = None) -> str:
    """`4 weeks ago`, or `N/A` when the time is unknown."""
    if moment is None:
        return "N/A"
    now = time.time() if now is None else now
    return human_duration(max(0.0, now - moment.timestamp())) + " ago"


def go_time_string(moment: datetime | None) -> str:
    """Go's `time.Time.String()` in local time: `2023-08-07 21:05:59 +0200 CEST`."""
    if moment is None:
        return ""
    local = moment.astimezone()
    return local.strftime("%Y-%m-%d %H:%M:%S %z ") + (local.tzname() or "")


def rfc3339_local(moment: datetime | None) -> str:
    """Go's time.RFC3339 in local time, as `history --human=false` shows it."""
    if moment is None:
        return ""
    local = moment.astimezone().replace(microsecond=0)
    text = local.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def ellipsis(text: str, width: int) -> str:
    """Cut `text` to `width` characters, the last being `…` when cut."""
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    if width == 1:
        return text[0]
    return text[: width - 1] + ELLIPSIS


def render_table(rows: Sequence[Sequence[str]]) -> str:
    """Align cells as Go's tabwriter does for the docker CLI (minwidth 10, padding 3).

    Every cell but the last of a row is padded to its column's width; the
    last is written as is, so rows never end in padding after their last cell.
    """
    if not rows:
        return ""
    ncols = max(len(r) for r in rows)
    widths = [0] * ncols
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(cell) + TAB_PADDING, TAB_MIN_WIDTH)
    lines = []
    for row in rows:
        parts = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        parts.append(row[-1] if row else "")
        lines.append("".join(parts))
    return "\n".join(lines) + "\n"


_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
               "\u2029": "\\u2029"}


def go_json(value: Any, indent: int | None = None) -> str:
    """JSON as Go's encoding/json writes it: `<`, `>`, `&` escaped, UTF-8 kept."""
    if indent is None:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = json.dumps(value, ensure_ascii=False, indent=indent)
    return re.sub("[<>&\u2028\u2029]", lambda m: _GO_ESCAPES[m.group(0)], text)
