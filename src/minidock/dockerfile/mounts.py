"""`RUN --mount=...` specifications: parsing, validation and defaults.

A spec is a CSV list of `key=value` fields (`type=cache,target=/root/.cache`).
Values are expanded with the stage's variables when the step is evaluated, so
a spec is parsed twice: once when the instruction is built, checking only what
does not depend on variables, and once at evaluation with an expander.
"""

from __future__ import annotations

import csv
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
_OPTIONAL_TYPES = ("secret", "ssh")  # the types `required` applies to
SSH_AGENT_TARGET = "/run/buildkit/ssh_agent.{}"  # BuildKit's default, numbered per RUN
SHARING_MODES = ("shared", "private", "locked")
_KNOWN_KEYS = (
    "type", "from", "source", "src", "target", "dst", "destination", "readonly", "ro",
    "readwrite", "rw", "required", "size", "id", "sharing", "mode", "uid", "gid", "env",
)
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_SIZE = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}

Expander = Callable[[str], str]


class MountError(ValueError):
    """A malformed --mount specification."""


@dataclass(frozen=True)
class Mount:
    """One RUN mount. After `resolve_defaults`, `target` is absolute.

    `from_ref` is the raw `from=` value (a stage name, a stage index or an
    image); the evaluator resolves it into `from_stage` or `from_image`.
    """

    type: str = "bind"
    target: str = ""
    source: str = ""
    from_ref: str = ""
    id: str = ""
    sharing: str = ""
    readonly: bool = False
    required: bool = False
    size: int | None = None
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    env: str | None = None
    from_stage: int | None = None
    from_image: str | None = None

    def describe(self) -> str:
        """A canonical text for cache keys."""
        fields = [f"type={self.type}", f"target={self.target}"]
        for name in ("source", "from_ref", "id", "sharing"):
            value = getattr(self, name)
            if value:
                fields.append(f"{name}={value}")
        if self.readonly:
            fields.append("readonly")
        if self.required:
            fields.append("required")
        for name in ("size", "mode", "uid", "gid", "env"):
            value = getattr(self, name)
            if value is not None:
                fields.append(f"{name}={value}")
        return ",".join(fields)


def _parse_bool(key: str, value: str) -> bool:
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise MountError(f"invalid value for {key}: {value}")


def _parse_size(value: str) -> int:
    match = _SIZE.match(value)
    if match is None:
        raise MountError(f"invalid value for size: {value}")
    return int(float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "").lower()])


def _parse_uint(value: str, base: int, what: str) -> int:
    try:
        number = int(value, base)
    except ValueError:
        raise MountError(f"invalid value {value} for {what}") from None
    if number < 0 or number > 0xFFFFFFFF or value.strip() != value or value.startswith("+"):
        raise MountError(f"invalid value {value} for {what}")
    return number


def _fields(spec: str) -> list[str]:
    try:
        rows = list(csv.reader([spec], strict=True))
    except csv.Error as exc:
        raise MountError(f"failed to parse csv mounts: {exc}") from None
    return rows[0] if rows else []


def parse_mount(spec: str, expand: Expander | None = None) -> Mount:
    """Parse a --mount value.

    Without `expand`, values that reference variables are not checked (they
    are checked again at evaluation); `from=` may never reference one.
    """
    fields = _fields(spec)
    if expand is None and any(f.lower().startswith("type=") and "$" in f for f in fields):
        # the type is only known at evaluation: check just what does not depend on it
        for field in fields:
            key, has_value, value = field.partition("=")
            if has_value and key.lower() not in _KNOWN_KEYS:
                _unknown_key(key.lower(), field)
            if key.lower() == "from" and "$" in value[:-1]:
                raise MountError(
                    "'from' doesn't support variable expansion, define alias stage instead")
        return Mount()
    mount = Mount()
    readonly_auto = True
    for field in fields:
        key, has_value, value = field.partition("=")
        key = key.lower()
        if not has_value:
            if key in ("readonly", "ro"):
                mount = replace(mount, readonly=True)
                readonly_auto = False
            elif key in ("readwrite", "rw"):
                mount = replace(mount, readonly=False)
                readonly_auto = False
            elif key == "required":
                if mount.type not in _OPTIONAL_TYPES:
                    raise MountError(f"unexpected key '{key}' for mount type '{mount.type}'")
                mount = replace(mount, required=True)
            else:
                raise MountError(f"invalid field '{field}' must be a key=value pair")
            continue
        if key == "from":
            dollar = value.find("$")
            if dollar != -1 and dollar != len(value) - 1:
                raise MountError(
                    "'from' doesn't support variable expansion, define alias stage instead")
        elif "$" in value:
            if expand is None:
                if key not in _KNOWN_KEYS:
                    _unknown_key(key, field)
                if key in ("readonly", "ro", "readwrite", "rw"):
                    readonly_auto = False
                continue
            value = expand(value)
        if key == "type":
            kind = value.lower()
            if kind not in MOUNT_TYPES:
                raise MountError(f"unsupported mount type {_q(value)}{_suggest(kind, MOUNT_TYPES)}")
            mount = replace(mount, type=kind)
        elif key == "from":
            mount = replace(mount, from_ref=value)
        elif key in ("source", "src"):
            mount = replace(mount, source=value)
        elif key in ("target", "dst", "destination"):
            mount = replace(mount, target=value)
        elif key in ("readonly", "ro"):
            mount = replace(mount, readonly=_parse_bool(key, value))
            readonly_auto = False
        elif key in ("readwrite", "rw"):
            mount = replace(mount, readonly=not _parse_bool(key, value))
            readonly_auto = False
        elif key == "required":
            if mount.type not in _OPTIONAL_TYPES:
                raise MountError(f"unexpected key '{key}' for mount type '{mount.type}'")
            mount = replace(mount, required=_parse_bool(key, value))
        elif key == "size":
            if mount.type != "tmpfs":
                raise MountError(f"unexpected key '{key}' for mount type '{mount.type}'")
            mount = replace(mount, size=_parse_size(value))
        elif key == "id":
            mount = replace(mount, id=value)
        elif key == "sharing":
            sharing = value.lower()
            if sharing not in SHARING_MODES:
                raise MountError(
                    f"unsupported sharing value {_q(value)}{_suggest(sharing, SHARING_MODES)}")
            mount = replace(mount, sharing=sharing)
        elif key == "mode":
            mount = replace(mount, mode=_parse_uint(value, 8, "mode"))
        elif key == "uid":
            mount = replace(mount, uid=_parse_uint(value, 10, "uid"))
        elif key == "gid":
            mount = replace(mount, gid=_parse_uint(value, 10, "gid"))
        elif key == "env":
            mount = replace(mount, env=value)
        else:
            _unknown_key(key, field)

    kind = mount.type
    if kind not in ("secret", "cache", "ssh"):
        for name in ("mode", "uid", "gid"):
            if getattr(mount, name) is not None:
                raise MountError(f'{name} not allowed for "{kind}" type mounts')
    if readonly_auto:
        mount = replace(mount, readonly=kind not in ("cache", "tmpfs"))
    if kind == "secret":
        if mount.from_ref:
            raise MountError("secret mount should not have a from")
        if mount.sharing:
            raise MountError("secret mount should not define sharing")
        if expand is not None and not (mount.source or mount.target or mount.id):
            raise MountError("invalid secret mount. one of source, target required")
        if mount.source and mount.id:
            raise MountError("both source and id can't be set")
    if kind == "ssh" and mount.from_ref:
        raise MountError("ssh mount should not have a from")
    if mount.sharing and kind != "cache":
        raise MountError(f"invalid cache sharing set for {kind} mount")
    return mount


def resolve_defaults(mount: Mount, workdir: str, *, ssh_index: int = 0) -> Mount:
    """Fill the defaults Docker applies and make the target absolute.

    `ssh_index` numbers an ssh mount among the RUN's ssh mounts, for its
    default target.
    """
    target = mount.target
    if target and not target.startswith("/"):
        target = posixpath.join(workdir or "/", target)
    if target:
        target = posixpath.normpath(target)
        if target.startswith("//"):
            target = "/" + target.lstrip("/")
    if mount.type == "secret":
        secret_id = mount.source or mount.id or posixpath.basename(target)
        if not target and mount.env is None:
            target = "/run/secrets/" + posixpath.basename(secret_id)
        return replace(mount, target=target, id=secret_id, source="")
    if mount.type == "ssh":
        return replace(mount, target=target or SSH_AGENT_TARGET.format(ssh_index),
                       id=mount.id or "default")
    if not target:
        raise MountError(f"mount target is required for type={mount.type}")
    if mount.type == "cache":
        return replace(mount, target=target, id=mount.id or target,
                       sharing=mount.sharing or "shared")
    return replace(mount, target=target)


def _unknown_key(key: str, field: str) -> None:
    raise MountError(f"unexpected key '{key}' in '{field}'{_suggest(key, _KNOWN_KEYS)}")


def _suggest(value: str, options: tuple[str, ...]) -> str:
    import difflib

    close = difflib.get_close_matches(value, options, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _q(text: str) -> str:
    from minidock.dockerfile.goformat import quote

    return quote(text)


def mount_from_ref(spec: str) -> str | None:
    """The raw `from=` value of a spec (never expanded), or None; for planning."""
    try:
        fields = _fields(spec)
    except MountError:
        return None
    ref = None
    for item in fields:
        key, has_value, value = item.partition("=")
        if has_value and key.lower() == "from":
            ref = value
    return ref or None
