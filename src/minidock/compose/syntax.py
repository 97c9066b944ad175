"""The short syntaxes of `ports` and `volumes`, parsed into their long forms.

Ports follow Docker's `[ip:][host:]container[/proto]` with ranges; volumes
`[source:]target[:options]`, where a source starting with `.`, `/` or `~` is a
bind mount and any other source a named volume.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


class SyntaxProblem(ValueError):
    """A short-syntax entry that does not parse; the message is the one users see."""


def _port_range(text: str, spec: str) -> tuple[int, int]:
    match = _RANGE.match(text)
    if match is None:
        raise SyntaxProblem(f'invalid port "{spec}"')
    start = int(match.group(1))
    end = int(match.group(2) or start)
    if end < start or end > 65535:
        raise SyntaxProblem(f'invalid port "{spec}"')
    return start, end


def parse_port(spec: str) -> list[dict[str, Any]]:
    """`"127.0.0.1:8080-8081:80-81/udp"` -> one long-syntax mapping per container port."""
    rest, _, proto = spec.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise SyntaxProblem(f'invalid proto "{proto}" in port "{spec}"')
    host_ip = ""
    if rest.startswith("["):  # [::1]:80:80
        close = rest.find("]")
        if close < 0 or rest[close + 1:close + 2] != ":":
            raise SyntaxProblem(f'invalid port "{spec}"')
        host_ip, rest = rest[1:close], rest[close + 2:]
        parts = [host_ip] + rest.split(":")
    else:
        parts = rest.split(":")
    if len(parts) == 1:
        host, container = "", parts[0]
    elif len(parts) == 2:
        host, container = parts
    elif len(parts) == 3:
        host_ip, host, container = parts
    else:
        raise SyntaxProblem(f'invalid port "{spec}"')
    first, last = _port_range(container, spec)
    published: list[str] = []
    if host:
        host_first, host_last = _port_range(host, spec)
        if last > first:
            if host_last - host_first != last - first:
                raise SyntaxProblem(f'invalid port "{spec}": ranges differ in size')
            published = [str(p) for p in range(host_first, host_last + 1)]
        else:
            published = [host]
    ports = []
    for offset, target in enumerate(range(first, last + 1)):
        entry: dict[str, Any] = {"mode": "ingress"}
        if host_ip:
            entry["host_ip"] = host_ip
        entry["target"] = target
        if published:
            entry["published"] = published[offset]
        entry["protocol"] = proto
        ports.append(entry)
    return sorted(ports, key=lambda p: f"{p['target']}/{proto}")


_PROPAGATIONS = ("rprivate", "private", "rshared", "shared", "rslave", "slave")


def parse_volume(spec: str) -> dict[str, Any]:
    """`"./data:/srv:ro"` -> `{type: bind, source: ./data, target: /srv, read_only: true, ...}`."""
    if not spec:
        raise SyntaxProblem("invalid empty volume spec")
    if len(spec) <= 2:
        return {"type": "volume", "target": spec}
    fields: list[str] = []
    buffer, depth = "", 0
    for index, char in enumerate(spec):
        if char == "$" and spec[index + 1:index + 2] == "{":
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        if char == ":" and depth == 0:
            fields.append(buffer)
            buffer = ""
        else:
            buffer += char
    fields.append(buffer)
    if any(not f for f in fields):
        raise SyntaxProblem(f"invalid spec: {spec}: empty section between colons")
    if len(fields) > 3:
        raise SyntaxProblem(f"invalid spec: {spec}: too many colons")
    source = fields[0] if len(fields) > 1 else ""
    target = fields[1] if len(fields) > 1 else fields[0]
    volume: dict[str, Any] = {}
    read_only = False
    bind: dict[str, Any] = {}
    options: dict[str, Any] = {}
    for option in (fields[2].split(",") if len(fields) == 3 else []):
        if option in ("ro", "rw"):
            read_only = option == "ro"
        elif option == "nocopy":
            options["nocopy"] = True
        elif option in _PROPAGATIONS:
            bind["propagation"] = option
        elif option in ("z", "Z"):
            bind["selinux"] = option
    kind = "bind" if source[:1] in (".", "/", "~") else "volume"
    volume["type"] = kind
    if source:
        volume["source"] = source
    volume["target"] = posixpath.normpath(target) if target else target
    if read_only:
        volume["read_only"] = True
    if kind == "bind":
        volume["bind"] = {**bind, "create_host_path": True}
    else:
        volume["volume"] = options
    return volume
