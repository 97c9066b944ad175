"""`build --secret` and `build --ssh`: what a build may hand to `RUN --mount=type=secret|ssh`.

The values are given on the command line the way `docker buildx build` takes
them. A secret's content is read once here and only ever written to a private
file bind-mounted read-only into the RUN that asks for it; it is never part
of a layer or of a cache key. An ssh id names an agent socket on the host,
bind-mounted into the RUN with SSH_AUTH_SOCK pointing at it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping

from minidock.errors import UsageError


def _fields(spec: str, flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for field in spec.split(","):
        key, sep, value = field.partition("=")
        if not sep:
            raise UsageError(f"invalid {flag} value {spec!r}: field {field!r} must be a "
                             "key=value pair")
        out[key.strip().lower()] = value
    return out


def parse_secret(spec: str, environ: Mapping[str, str] | None = None) -> tuple[str, bytes]:
    """(id, content) for `id=ID[,type=file|env][,src=FILE|,env=VAR]`.

    Without a source, the environment variable named like the id is used.
    """
    env = os.environ if environ is None else environ
    fields = _fields(spec, "--secret")
    unknown = set(fields) - {"id", "type", "src", "source", "env"}
    if unknown:
        raise UsageError(f"invalid --secret value {spec!r}: unexpected key "
                         f"{sorted(unknown)[0]!r}")
    secret_id = fields.get("id", "")
    if not secret_id:
        raise UsageError(f"invalid --secret value {spec!r}: an id is required")
    kind = fields.get("type", "")
    if kind not in ("", "file", "env"):
        raise UsageError(f"invalid --secret value {spec!r}: unsupported secret type {kind!r}")
    source = fields.get("src", fields.get("source", ""))
    variable = fields.get("env", "")
    if kind == "env" and not variable:
        variable, source = source, ""
    if not source and not variable:
        variable = secret_id
    if variable and not source:
        if variable not in env:
            raise UsageError(f"secret {secret_id}: environment variable {variable} is not set")
        return secret_id, env[variable].encode("utf-8", "surrogateescape")
    try:
        with open(source, "rb") as f:
            return secret_id, f.read()
    except OSError as exc:
        raise UsageError(f"secret {secret_id}: cannot read {source}: {exc.strerror}") from None


def parse_ssh(spec: str, environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(id, agent socket path) for `default`, `ID=SOCKET` or `default=SOCKET`.

    `default` alone forwards the agent of SSH_AUTH_SOCK. Key files are not
    supported: only running agents are forwarded.
    """
    env = os.environ if environ is None else environ
    ssh_id, sep, path = spec.partition("=")
    if not ssh_id or "," in path:
        raise UsageError(f"invalid --ssh value {spec!r}: expected ID or ID=SOCKET")
    if not sep:
        path = env.get("SSH_AUTH_SOCK", "")
        if not path:
            raise UsageError(f"--ssh {ssh_id}: SSH_AUTH_SOCK is not set (is an ssh agent "
                             "running?)")
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise UsageError(f"--ssh {ssh_id}: cannot use {path}: {exc.strerror}") from None
    if not stat.S_ISSOCK(mode):
        raise UsageError(f"--ssh {ssh_id}: {path} is not an ssh agent socket (key files are "
                         "not supported)")
    return ssh_id, path
