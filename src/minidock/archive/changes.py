"""`import --change`: Dockerfile instructions that edit an image config.

`docker import --change 'CMD ["nginx"]'` accepts the instructions that only
touch the config (no RUN/COPY/ADD). They are parsed here with Dockerfile syntax
(JSON exec form or shell form, `key=value` pairs with quotes, `$VAR` and
`${VAR:-default}` expansion against the image's environment) and applied in
order to the `config` section of an image config. Pure functions: nothing is
written. Self-contained on purpose: `import` should not load the whole
Dockerfile frontend to read one instruction.
"""

from __future__ import annotations

import copy
import json
import posixpath
import re
from typing import Any

from minidock.errors import UsageError

CHANGE_INSTRUCTIONS = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "STOPSIGNAL",
                       "USER", "VOLUME", "WORKDIR")
_PORT = re.compile(r"^(\d+)(?:-(\d+))?(?:/(tcp|udp|sctp))?$", re.IGNORECASE)


_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _expand_var(text: str, pos: int, env: dict[str, str]) -> tuple[str, int]:
    """Expand the `$...` at `pos`; returns (value, position after it)."""
    if pos + 1 < len(text) and text[pos + 1] == "{":
        end = text.find("}", pos + 2)
        if end < 0:
            raise UsageError(f"missing '}}' in {text!r}")
        body = text[pos + 2:end]
        match = _VAR.match(body)
        if match is None:
            raise UsageError(f"bad substitution ${{{body}}} in {text!r}")
        name, rest = match.group(0), body[match.end():]
        value = env.get(name)
        if not rest:
            return value or "", end + 1
        if rest.startswith(":-"):
            return (value if value else _expand(rest[2:], env)), end + 1
        if rest.startswith(":+"):
            return (_expand(rest[2:], env) if value else ""), end + 1
        raise UsageError(f"unsupported modifier in ${{{body}}} in {text!r}")
    match = _VAR.match(text, pos + 1)
    if match is None:
        return "$", pos + 1
    return env.get(match.group(0), ""), match.end()


def _expand(text: str, env: dict[str, str]) -> str:
    return "".join(_words(text, env, split=False)) if text else ""


def _words(text: str, env: dict[str, str], *, split: bool = True) -> list[str]:
    """Dockerfile words: quotes group and are removed, `\\` escapes, `$VAR` expands.

    With `split`, unquoted whitespace separates words (empty ones dropped);
    without, the whole text is one word.
    """
    words: list[str] = []
    current: list[str] = []
    started = False
    quote = ""
    i = 0
    while i < len(text):
        c = text[i]
        if quote == "'":
            if c == "'":
                quote = ""
            else:
                current.append(c)
            i += 1
        elif c == "\\" and i + 1 < len(text) and (quote != '"' or text[i + 1] in '"\\$'):
            current.append(text[i + 1])
            i += 2
        elif c == "$":
            value, i = _expand_var(text, i, env)
            current.append(value)
        elif quote == '"':
            if c == '"':
                quote = ""
            else:
                current.append(c)
            i += 1
        elif c in "'\"":
            quote, started = c, True
            i += 1
        elif split and c.isspace():
            if current or started:
                words.append("".join(current))
            current, started = [], False
            i += 1
        else:
            current.append(c)
            i += 1
    if quote:
        raise UsageError(f"unexpected end of statement while looking for matching {quote} "
                         f"in {text!r}")
    if current or started or not split:
        words.append("".join(current))
    return words


def expand_word(text: str, env: dict[str, str]) -> str:
    """One word: quotes removed, escapes processed, variables expanded, never split."""
    return "".join(_words(text.strip(), env, split=False))


def expand_words(text: str, env: dict[str, str]) -> list[str]:
    """Words split at unquoted whitespace, each expanded."""
    return _words(text, env)


def _env_map(config: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in config.get("Env") or []:
        key, _, value = item.partition("=")
        env[key] = value
    return env


def _json_list(text: str) -> list[str] | None:
    """The JSON exec form, or None when `text` is shell form."""
    stripped = text.strip()
    if not stripped.startswith("["):
        return None
    try:
        value = json.loads(stripped)
    except ValueError:
        return None  # Docker treats an unparsable array as shell form
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return value


def _command(text: str) -> list[str]:
    exec_form = _json_list(text)
    if exec_form is not None:
        return exec_form
    return ["/bin/sh", "-c", text.strip()]


def _pairs(instruction: str, text: str, env: dict[str, str]) -> list[tuple[str, str]]:
    """`k=v k2="v 2"` pairs, or the legacy `KEY value with spaces` form."""
    words = expand_words(text, env)
    if not words:
        raise UsageError(f"{instruction} requires at least one argument")
    if "=" not in words[0]:
        if instruction == "LABEL":
            raise UsageError(f"LABEL {text!r}: expected key=value")
        key, _, rest = text.strip().partition(" ")
        if not rest.strip():
            raise UsageError(f"ENV {key} requires a value (ENV {key}=value)")
        return [(key, expand_word(rest.strip(), env))]
    pairs = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise UsageError(f"{instruction} {text!r}: expected key=value, got {word!r}")
        pairs.append((key, value))
    return pairs


def _ports(text: str, env: dict[str, str]) -> list[str]:
    ports: list[str] = []
    for word in expand_words(text, env):
        match = _PORT.match(word)
        if match is None:
            raise UsageError(f"invalid port {word!r} in EXPOSE")
        first = int(match.group(1))
        last = int(match.group(2) or first)
        proto = (match.group(3) or "tcp").lower()
        if not 0 < first <= last <= 65535:
            raise UsageError(f"invalid port range {word!r} in EXPOSE")
        ports.extend(f"{p}/{proto}" for p in range(first, last + 1))
    return ports


def apply_change(config: dict[str, Any], line: str, *, cmd_set: bool = False) -> bool:
    """Apply one instruction to `config` in place; returns whether it set CMD.

    `cmd_set` says an earlier change set CMD: ENTRYPOINT then keeps it, as a
    Dockerfile does; otherwise ENTRYPOINT clears the inherited CMD.
    """
    instruction, _, args = line.strip().partition(" ")
    instruction = instruction.upper()
    args = args.strip()
    if instruction not in CHANGE_INSTRUCTIONS:
        raise UsageError(f"{instruction or line!r} is not a valid change command",
                         hint=f"use one of {', '.join(CHANGE_INSTRUCTIONS)}")
    if not args:
        raise UsageError(f"{instruction} requires at least one argument")
    env = _env_map(config)
    if instruction == "CMD":
        config["Cmd"] = _command(args)
        return True
    if instruction == "ENTRYPOINT":
        config["Entrypoint"] = _command(args)
        if not cmd_set:
            config["Cmd"] = None
    elif instruction == "ENV":
        current = dict(env)
        for key, value in _pairs("ENV", args, env):
            current[key] = value
        config["Env"] = [f"{k}={v}" for k, v in current.items()]
    elif instruction == "LABEL":
        labels = dict(config.get("Labels") or {})
        labels.update(_pairs("LABEL", args, env))
        config["Labels"] = labels
    elif instruction == "EXPOSE":
        exposed = dict(config.get("ExposedPorts") or {})
        exposed.update({port: {} for port in _ports(args, env)})
        config["ExposedPorts"] = exposed
    elif instruction == "USER":
        config["User"] = expand_word(args, env)
    elif instruction == "WORKDIR":
        path = expand_word(args, env)
        base = config.get("WorkingDir") or "/"
        config["WorkingDir"] = posixpath.normpath(posixpath.join(base, path))
    elif instruction == "VOLUME":
        paths = _json_list(args)
        if paths is None:
            paths = expand_words(args, env)
        volumes = dict(config.get("Volumes") or {})
        for path in paths:
            if not path.strip():
                raise UsageError("VOLUME specified can not be an empty string")
            volumes[path] = {}
        config["Volumes"] = volumes
    elif instruction == "STOPSIGNAL":
        config["StopSignal"] = expand_word(args, env)
    else:  # ONBUILD
        trigger = args.split(None, 1)[0].upper()
        if trigger in ("ONBUILD", "FROM", "MAINTAINER"):
            raise UsageError(f"{trigger} isn't allowed as an ONBUILD trigger")
        config["OnBuild"] = [*(config.get("OnBuild") or []), args]
    return False


def apply_changes(config: dict[str, Any] | None, changes: list[str]) -> dict[str, Any]:
    """A new `config` section with every change applied in order."""
    result = copy.deepcopy(config) if config else {}
    cmd_set = False
    for line in changes:
        cmd_set = apply_change(result, line, cmd_set=cmd_set) or cmd_set
    return result
