"""`${VAR}` interpolation in compose values, with the Compose Specification's operators.

`$$` is a literal `$`; `$VAR` and `${VAR}` substitute (unset: empty, with a
warning); `${VAR:-d}`/`${VAR-d}` default when unset or empty / unset;
`${VAR:?e}`/`${VAR?e}` fail; `${VAR:+a}`/`${VAR+a}` substitute `a` when set and
non-empty / set. Defaults, alternatives and messages are interpolated in turn,
so defaults nest. Only values are interpolated, never keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from minidock.compose.tree import Path, matches_any
from minidock.errors import ComposeError

Lookup = Callable[[str], "str | None"]

_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_OPERATORS = (":?", "?", ":-", "-", ":+", "+")


class TemplateError(Exception):
    """A value that cannot be interpolated; the caller adds the path."""


def substitute(template: str, lookup: Lookup, unset: list[str] | None = None) -> str:
    """Interpolate one string; names of unset plain variables are appended to `unset`."""
    out: list[str] = []
    i, n = 0, len(template)
    while i < n:
        char = template[i]
        if char != "$" or i + 1 >= n:
            out.append(char)
            i += 1
            continue
        nxt = template[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            end = _closing_brace(template, i + 1)
            if end < 0:
                raise TemplateError(f'invalid interpolation format "{template}": '
                                    "you may need to escape any $ with another $")
            out.append(_braced(template[i + 2:end], template, lookup, unset))
            i = end + 1
        else:
            match = _NAME.match(template, i + 1)
            if match is None:  # `$1`, `$ `: left as written
                out.append(char)
                i += 1
                continue
            out.append(_value(match.group(), lookup, unset))
            i = match.end()
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return -1


def _value(name: str, lookup: Lookup, unset: list[str] | None) -> str:
    value = lookup(name)
    if value is None:
        if unset is not None and name not in unset:
            unset.append(name)
        return ""
    return value


def _braced(body: str, template: str, lookup: Lookup, unset: list[str] | None) -> str:
    match = _NAME.match(body)
    if match is None:
        raise TemplateError(f'invalid interpolation format "{template}": '
                            "you may need to escape any $ with another $")
    name, rest = match.group(), body[match.end():]
    if not rest:
        return _value(name, lookup, unset)
    op = next((o for o in _OPERATORS if rest.startswith(o)), None)
    if op is None:
        raise TemplateError(f'invalid interpolation format "{template}": '
                            "you may need to escape any $ with another $")
    arg = rest[len(op):]
    value = lookup(name)
    strict = op.startswith(":")  # the `:` forms treat empty like unset
    present = value is not None and (not strict or value != "")
    if op.endswith("?"):
        if not present:
            reason = substitute(arg, lookup, unset)
            raise TemplateError(f"required variable {name} is missing a value"
                                + (f": {reason}" if reason else ""))
        return value or ""
    if op.endswith("-"):
        return (value or "") if present else substitute(arg, lookup, unset)
    return substitute(arg, lookup, unset) if present else (value or "")


# Paths whose interpolated strings become numbers or booleans (the Go loader's casts).
_BOOL = ("services.*.init", "services.*.depends_on.*.required", "services.*.depends_on.*.restart",
         "services.*.healthcheck.disable", "services.*.oom_kill_disable",
         "services.*.privileged", "services.*.read_only", "services.*.stdin_open",
         "services.*.tty", "services.*.volumes.[].read_only",
         "services.*.volumes.[].volume.nocopy", "networks.*.external", "networks.*.internal",
         "networks.*.attachable", "networks.*.enable_ipv4", "networks.*.enable_ipv6",
         "volumes.*.external", "secrets.*.external", "configs.*.external")
_INT = ("services.*.cpu_count", "services.*.cpu_period", "services.*.cpu_quota",
        "services.*.cpu_rt_period", "services.*.cpu_rt_runtime", "services.*.cpu_shares",
        "services.*.deploy.replicas", "services.*.deploy.update_config.parallelism",
        "services.*.deploy.rollback_config.parallelism",
        "services.*.deploy.restart_policy.max_attempts",
        "services.*.deploy.placement.max_replicas_per_node", "services.*.healthcheck.retries",
        "services.*.oom_score_adj", "services.*.pids_limit", "services.*.ports.[].target",
        "services.*.scale", "services.*.ulimits.*", "services.*.ulimits.*.hard",
        "services.*.ulimits.*.soft")
_FLOAT = ("services.*.cpu_percent", "services.*.cpus",
          "services.*.deploy.update_config.max_failure_ratio",
          "services.*.deploy.rollback_config.max_failure_ratio")


def _cast(value: str, path: Path) -> Any:
    if matches_any(path, _BOOL):
        lowered = value.lower()
        if lowered in ("true", "y", "yes", "on", "false", "n", "no", "off"):
            return lowered in ("true", "y", "yes", "on")
        raise ComposeError(f'failed to cast to expected type: invalid boolean "{value}"',
                           path=path)
    for patterns, kind, word in ((_INT, int, "integer"), (_FLOAT, float, "number")):
        if matches_any(path, patterns):
            try:
                return kind(value)
            except ValueError:
                raise ComposeError(f'failed to cast to expected type: invalid {word} "{value}"',
                                   path=path) from None
    return value


def interpolate(data: Any, lookup: Lookup, unset: list[str], path: Path = ()) -> Any:
    """Interpolate every string value of a parsed file; casts typed fields."""
    if isinstance(data, dict):
        return {k: interpolate(v, lookup, unset, path + (k,)) for k, v in data.items()}
    if isinstance(data, list):
        return [interpolate(v, lookup, unset, path + (i,)) for i, v in enumerate(data)]
    if isinstance(data, str):
        try:
            return _cast(substitute(data, lookup, unset), path)
        except TemplateError as exc:
            raise ComposeError(str(exc), path=path) from None
    return data
