"""Typed instructions: one frozen dataclass per Dockerfile instruction.

`build_instruction` turns a parser `Node` into one of these, checking what
Docker checks before running anything: the instruction exists, its flags are
known and well formed, and it has the right number of arguments. Values that
depend on variables (`--chmod=$MODE`) are checked again after expansion, by the
evaluator. Errors are DockerfileError with the instruction's first line.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import ClassVar, TypedDict

from minidock.dockerfile.filemode import ChmodError, ChmodSpec, parse_chmod
from minidock.dockerfile.goformat import parse_duration
from minidock.dockerfile.mounts import Mount, MountError, parse_mount
from minidock.dockerfile.parser import Heredoc, Node, chomp_heredoc, heredoc_or_none
from minidock.dockerfile.shell import ExpansionError, ShellLexer
from minidock.errors import DockerfileError

__all__ = [  # the records and the builder, re-exported by the package
    "Add", "Arg", "ArgDecl", "Cmd", "Copy", "Entrypoint", "Env", "Expose", "From",
    "Healthcheck", "InlineSource", "Instruction", "KeyValue", "Label", "Maintainer", "Onbuild",
    "Run", "Shell", "StopSignal", "User", "Volume", "Workdir", "build_instruction",
]

INSTRUCTION_NAMES = (
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
    "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
)
NETWORK_MODES = ("default", "none", "host")
SECURITY_MODES = ("sandbox", "insecure")
_STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*\Z")
_CHECKSUM = re.compile(r"(sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})\Z")
_ONBUILD_PREFIX = re.compile(r"^[\t\n\f\r ]*ONBUILD[\t\n\f\r ]*", re.IGNORECASE)
_MIN_INTERVAL_NS = 1_000_000  # 1ms


# ---- records ------------------------------------------------------------------------

@dataclass(frozen=True)
class KeyValue:
    """One ENV/LABEL pair as written (expansion happens at evaluation).

    `legacy` marks the `ENV name value` form.
    """

    key: str
    value: str
    legacy: bool = False


@dataclass(frozen=True)
class ArgDecl:
    """One ARG name with its default (None when declared without `=`)."""

    name: str
    default: str | None = None


@dataclass(frozen=True)
class InlineSource:
    """A heredoc used as a COPY/ADD source: a file named `name` with `content`.

    `content` has `<<-` tab stripping already applied; `expand` says whether
    variables are expanded in it at evaluation.
    """

    name: str
    content: str
    expand: bool


@dataclass(frozen=True, kw_only=True)
class Instruction:
    """What every instruction has: its source lines and text."""

    keyword: ClassVar[str] = ""
    line: int
    end_line: int
    original: str


@dataclass(frozen=True, kw_only=True)
class From(Instruction):
    keyword: ClassVar[str] = "FROM"
    image: str
    stage_name: str | None = None
    platform: str | None = None


@dataclass(frozen=True, kw_only=True)
class Run(Instruction):
    """`command` is the exec array, or one shell string when `shell_form`."""

    keyword: ClassVar[str] = "RUN"
    command: tuple[str, ...]
    shell_form: bool
    heredocs: tuple[Heredoc, ...] = ()
    mounts: tuple[str, ...] = ()
    network: str | None = None
    security: str | None = None

    def mount_records(self) -> tuple[Mount, ...]:
        """The --mount specs as typed records, as written (variables not expanded).

        The evaluator's RunEffect carries them expanded, with defaults applied.
        """
        return tuple(parse_mount(spec) for spec in self.mounts)


@dataclass(frozen=True, kw_only=True)
class Cmd(Instruction):
    keyword: ClassVar[str] = "CMD"
    command: tuple[str, ...]
    shell_form: bool


@dataclass(frozen=True, kw_only=True)
class Entrypoint(Instruction):
    keyword: ClassVar[str] = "ENTRYPOINT"
    command: tuple[str, ...]
    shell_form: bool


@dataclass(frozen=True, kw_only=True)
class Label(Instruction):
    keyword: ClassVar[str] = "LABEL"
    pairs: tuple[KeyValue, ...]


@dataclass(frozen=True, kw_only=True)
class Maintainer(Instruction):
    keyword: ClassVar[str] = "MAINTAINER"
    name: str


@dataclass(frozen=True, kw_only=True)
class Expose(Instruction):
    keyword: ClassVar[str] = "EXPOSE"
    ports: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Env(Instruction):
    keyword: ClassVar[str] = "ENV"
    pairs: tuple[KeyValue, ...]


@dataclass(frozen=True, kw_only=True)
class _CopyLike(Instruction):
    sources: tuple[str, ...]
    dest: str
    inline: tuple[InlineSource, ...] = ()
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Add(_CopyLike):
    keyword: ClassVar[str] = "ADD"
    checksum: str | None = None
    keep_git_dir: bool | None = None
    unpack: bool | None = None


@dataclass(frozen=True, kw_only=True)
class Copy(_CopyLike):
    keyword: ClassVar[str] = "COPY"
    from_: str | None = None
    parents: bool = False


@dataclass(frozen=True, kw_only=True)
class Volume(Instruction):
    keyword: ClassVar[str] = "VOLUME"
    paths: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class User(Instruction):
    keyword: ClassVar[str] = "USER"
    user: str


@dataclass(frozen=True, kw_only=True)
class Workdir(Instruction):
    keyword: ClassVar[str] = "WORKDIR"
    path: str


@dataclass(frozen=True, kw_only=True)
class Arg(Instruction):
    keyword: ClassVar[str] = "ARG"
    args: tuple[ArgDecl, ...]


@dataclass(frozen=True, kw_only=True)
class Onbuild(Instruction):
    """`expression` is the trigger text stored in the image config's OnBuild."""

    keyword: ClassVar[str] = "ONBUILD"
    expression: str
    trigger: str  # the trigger's keyword, upper-case


@dataclass(frozen=True, kw_only=True)
class StopSignal(Instruction):
    keyword: ClassVar[str] = "STOPSIGNAL"
    signal: str


@dataclass(frozen=True, kw_only=True)
class Healthcheck(Instruction):
    """Durations in nanoseconds, as in the image config; 0 means "default"."""

    keyword: ClassVar[str] = "HEALTHCHECK"
    test: tuple[str, ...]
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0

    def config(self) -> dict[str, object]:
        """The image config's `Healthcheck` object (zero values omitted)."""
        out: dict[str, object] = {"Test": list(self.test)}
        for key, value in (("Interval", self.interval), ("Timeout", self.timeout),
                           ("StartPeriod", self.start_period),
                           ("StartInterval", self.start_interval), ("Retries", self.retries)):
            if value:
                out[key] = value
        return out


@dataclass(frozen=True, kw_only=True)
class Shell(Instruction):
    keyword: ClassVar[str] = "SHELL"
    shell: tuple[str, ...]


# ---- flags ------------------------------------------------------------------------

_BOOL, _STRING, _STRINGS = "bool", "string", "strings"

_FLAG_SPECS: dict[str, dict[str, str]] = {
    "from": {"platform": _STRING},
    "run": {"mount": _STRINGS, "network": _STRING, "security": _STRING},
    "add": {"chown": _STRING, "chmod": _STRING, "link": _BOOL, "keep-git-dir": _BOOL,
            "checksum": _STRING, "unpack": _BOOL, "exclude": _STRINGS},
    "copy": {"chown": _STRING, "from": _STRING, "chmod": _STRING, "link": _BOOL,
             "exclude": _STRINGS, "parents": _BOOL},
    "healthcheck": {"interval": _STRING, "timeout": _STRING, "start-period": _STRING,
                    "start-interval": _STRING, "retries": _STRING},
}


class _Fail(Exception):
    """Internal: an instruction error without location; build_instruction adds it."""


def _suggestion(word: str, options: list[str] | tuple[str, ...], prefix: str = "") -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f" (did you mean {prefix}{close[0]}?)" if close else ""


class _Flags:
    """The flags given to one instruction, after validation."""

    def __init__(self, values: dict[str, bool | str | list[str]]):
        self._values = values

    def string(self, name: str) -> str | None:
        value = self._values.get(name)
        return value if isinstance(value, str) else None

    def boolean(self, name: str) -> bool | None:
        value = self._values.get(name)
        return value if isinstance(value, bool) else None

    def strings(self, name: str) -> tuple[str, ...]:
        value = self._values.get(name)
        return tuple(value) if isinstance(value, list) else ()


def _parse_flags(node: Node) -> _Flags:
    spec = _FLAG_SPECS.get(node.keyword, {})
    values: dict[str, bool | str | list[str]] = {}
    for raw in node.flags:
        if raw == "--":
            break
        if not raw.startswith("--"):
            raise _Fail(f"arg should start with -- : {raw}")
        flag, has_value, value = raw.partition("=")
        name = flag[2:]
        kind = spec.get(name)
        if kind is None:
            raise _Fail(f"unknown flag: {flag}{_suggestion(name, list(spec), '--')}")
        if name in values and kind != _STRINGS:
            raise _Fail(f"duplicate flag specified: {flag}")
        if kind == _BOOL:
            if has_value and not value:
                raise _Fail(f"missing a value on flag: {flag}")
            lowered = value.lower()
            if lowered in ("true", ""):
                values[name] = True
            elif lowered == "false":
                values[name] = False
            else:
                raise _Fail(f"expecting boolean value for flag {flag}, not: {value}")
        elif not has_value:
            raise _Fail(f"missing a value on flag: {flag}")
        elif kind == _STRING:
            values[name] = value
        else:
            listed = values.setdefault(name, [])
            assert isinstance(listed, list)
            listed.append(value)
    return _Flags(values)


def _has_variable(text: str) -> bool:
    return "$" in text


def _check_chmod(text: str) -> ChmodSpec:
    """Parse --chmod, raising the instruction error text on failure."""
    try:
        return parse_chmod(text)
    except ChmodError as exc:
        raise _Fail(str(exc)) from None


def checksum_error(text: str) -> str | None:
    """Why an ADD --checksum value is malformed, or None when it is fine."""
    if _CHECKSUM.match(text):
        return None
    return (f"invalid checksum digest format: {text!r}: expected sha256:, sha384: or "
            f"sha512: followed by the hex digest")


# ---- per-instruction builders ----------------------------------------------------------

class _Location(TypedDict):
    line: int
    end_line: int
    original: str


def _location(node: Node) -> _Location:
    return {"line": node.start_line, "end_line": node.end_line, "original": node.original}


def _cmdline(node: Node) -> tuple[str, ...]:
    """Docker's handling of JSON vs shell form arguments."""
    if not node.args:
        return ()
    if node.json_form:
        return node.args
    return (" ".join(node.args),)


def _exactly_one(node: Node, name: str) -> str:
    if len(node.args) != 1:
        raise _Fail(f"{name} requires exactly one argument")
    return node.args[0]


def _pairs(node: Node, name: str) -> tuple[KeyValue, ...]:
    args = node.args
    if not args:
        raise _Fail(f"{name} requires at least one argument")
    if len(args) % 3:
        raise _Fail(f"Bad input to {name}, too many arguments")
    pairs = []
    for i in range(0, len(args), 3):
        if not args[i]:
            raise _Fail(f"{name} names can not be blank")
        pairs.append(KeyValue(args[i], args[i + 1], legacy=args[i + 2] == ""))
    return tuple(pairs)


def _build_from(node: Node, flags: _Flags) -> From:
    args = node.args
    stage_name = None
    if len(args) == 3 and args[1].lower() == "as":
        stage_name = args[2].lower()
        if not _STAGE_NAME.match(stage_name):
            raise _Fail(f'invalid name for build stage: "{args[2]}", name can\'t start with a '
                        f"number or contain symbols")
    elif len(args) != 1:
        raise _Fail("FROM requires either one or three arguments")
    return From(image=args[0], stage_name=stage_name, platform=flags.string("platform") or None,
                **_location(node))


def _build_run(node: Node, flags: _Flags) -> Run:
    mounts = flags.strings("mount")
    for spec in mounts:
        try:
            parse_mount(spec)
        except MountError as exc:
            raise _Fail(str(exc)) from None
    network = flags.string("network")
    if network is not None and network not in NETWORK_MODES:
        raise _Fail(f'invalid network mode "{network}"')
    security = flags.string("security")
    if security is not None and security not in SECURITY_MODES:
        raise _Fail(f'security "{security}" is not valid')
    heredocs = () if node.json_form else node.heredocs
    command = _cmdline(node)
    if heredocs and len(command) != 1:
        raise _Fail(f"parsing produced an invalid run command: {list(command)}")
    return Run(command=command, shell_form=not node.json_form, heredocs=heredocs, mounts=mounts,
               network=network, security=security, **_location(node))


def _copy_sources(node: Node, name: str) -> tuple[tuple[str, ...], str, tuple[InlineSource, ...]]:
    if len(node.args) < 2:
        raise _Fail(f"{name} requires at least two arguments, but only one was provided. "
                    f"Destination could not be determined")
    *sources, dest = node.args
    if node.json_form:
        return tuple(sources), dest, ()
    if heredoc_or_none(dest) is not None:
        raise _Fail(f"{name} cannot accept a heredoc as a destination")
    bodies = {doc.name: doc for doc in node.heredocs}
    paths: list[str] = []
    inline: list[InlineSource] = []
    for source in sources:
        doc = heredoc_or_none(source)
        if doc is None:
            paths.append(source)
            continue
        body = bodies.get(doc.name)
        content = body.content if body is not None else ""
        if doc.chomp:
            content = chomp_heredoc(content)
        inline.append(InlineSource(name=doc.name, content=content, expand=doc.expand))
    return tuple(paths), dest, tuple(inline)


def _chmod_flag(flags: _Flags) -> str | None:
    chmod = flags.string("chmod") or None
    if chmod is not None and not _has_variable(chmod):
        _check_chmod(chmod)
    return chmod


def _build_add(node: Node, flags: _Flags) -> Add:
    sources, dest, inline = _copy_sources(node, "ADD")
    checksum = flags.string("checksum") or None
    if checksum is not None and not _has_variable(checksum):
        problem = checksum_error(checksum)
        if problem:
            raise _Fail(problem)
    return Add(sources=sources, dest=dest, inline=inline, chown=flags.string("chown") or None,
               chmod=_chmod_flag(flags), link=bool(flags.boolean("link")),
               exclude=flags.strings("exclude"), checksum=checksum,
               keep_git_dir=flags.boolean("keep-git-dir"), unpack=flags.boolean("unpack"),
               **_location(node))


_NO_EXPANSION = ShellLexer("\\")


def _build_copy(node: Node, flags: _Flags) -> Copy:
    sources, dest, inline = _copy_sources(node, "COPY")
    source_stage = flags.string("from") or None
    if source_stage is not None:
        try:
            unchanged = _NO_EXPANSION.expand_word(source_stage, {}) == source_stage
        except ExpansionError:
            unchanged = False
        if not unchanged:
            raise _Fail("variable expansion is not supported for --from, define a new stage "
                        "with FROM using ARG from global scope as a workaround")
    return Copy(sources=sources, dest=dest, inline=inline, chown=flags.string("chown") or None,
                chmod=_chmod_flag(flags), link=bool(flags.boolean("link")),
                exclude=flags.strings("exclude"), from_=source_stage,
                parents=bool(flags.boolean("parents")), **_location(node))


def _duration(flags: _Flags, name: str) -> int:
    text = flags.string(name)
    if not text:
        return 0
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise _Fail(f"invalid --{name} value: {exc}") from None
    if value == 0:
        return 0
    if value < _MIN_INTERVAL_NS:
        raise _Fail(f'Interval "{name}" cannot be less than 1ms')
    return value


def _retries(flags: _Flags) -> int:
    text = flags.string("retries")
    if not text:
        return 0
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise _Fail(f'invalid --retries value: "{text}" is not an integer')
    retries = int(text, 10)
    if retries < 0:
        raise _Fail(f"--retries cannot be negative ({retries})")
    if retries > 0x7FFFFFFF:
        raise _Fail(f'invalid --retries value: "{text}" is out of range')
    return retries


def _build_healthcheck(node: Node, flags: _Flags) -> Healthcheck:
    if not node.args:
        raise _Fail("HEALTHCHECK requires at least one argument")
    kind = node.args[0].upper()
    rest = node.args[1:]
    if kind == "NONE":
        if rest:
            raise _Fail("HEALTHCHECK NONE takes no arguments")
        return Healthcheck(test=("NONE",), **_location(node))
    if kind != "CMD":
        raise _Fail(f'Unknown type "{kind}" in HEALTHCHECK (try CMD)')
    if not rest:
        raise _Fail("Missing command after HEALTHCHECK CMD")
    if node.json_form:
        test = ("CMD",) + rest
    else:
        test = ("CMD-SHELL", " ".join(rest))
    return Healthcheck(test=test, interval=_duration(flags, "interval"),
                       timeout=_duration(flags, "timeout"),
                       start_period=_duration(flags, "start-period"),
                       start_interval=_duration(flags, "start-interval"),
                       retries=_retries(flags), **_location(node))


def _build_onbuild(node: Node) -> Onbuild:
    if node.sub is None:
        raise _Fail("ONBUILD requires at least one argument")
    trigger = node.sub.keyword.upper()
    if trigger == "ONBUILD":
        raise _Fail("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("MAINTAINER", "FROM"):
        raise _Fail(f"{trigger} isn't allowed as an ONBUILD trigger")
    expression = _ONBUILD_PREFIX.sub("", node.original, count=1)
    for doc in node.heredocs:
        # bodies travel with the trigger text so the child build can parse them again
        expression += "\n" + doc.content + doc.name
    return Onbuild(expression=expression, trigger=trigger, **_location(node))


def _build_arg(node: Node) -> Arg:
    if not node.args:
        raise _Fail("ARG requires at least one argument")
    decls = []
    for word in node.args:
        name, has_default, default = word.partition("=")
        if has_default and not name:
            raise _Fail("ARG names can not be blank")
        decls.append(ArgDecl(name, default if has_default else None))
    return Arg(args=tuple(decls), **_location(node))


def _build_volume(node: Node) -> Volume:
    if not node.args:
        raise _Fail("VOLUME requires at least one argument")
    paths = []
    for path in node.args:
        path = path.strip()
        if not path:
            raise _Fail("VOLUME specified can not be an empty string")
        paths.append(path)
    return Volume(paths=tuple(paths), **_location(node))


def _build_shell(node: Node) -> Shell:
    command = _cmdline(node)
    if not command:
        raise _Fail("SHELL requires at least one argument")
    if not node.json_form:
        raise _Fail("SHELL requires the arguments to be in JSON form")
    return Shell(shell=command, **_location(node))


def _build_expose(node: Node) -> Expose:
    if not node.args:
        raise _Fail("EXPOSE requires at least one argument")
    return Expose(ports=tuple(sorted(node.args)), **_location(node))


def _build_simple(node: Node) -> Instruction:
    keyword = node.keyword
    if keyword == "env":
        return Env(pairs=_pairs(node, "ENV"), **_location(node))
    if keyword == "label":
        return Label(pairs=_pairs(node, "LABEL"), **_location(node))
    if keyword == "workdir":
        return Workdir(path=_exactly_one(node, "WORKDIR"), **_location(node))
    if keyword == "user":
        return User(user=_exactly_one(node, "USER"), **_location(node))
    if keyword == "stopsignal":
        return StopSignal(signal=_exactly_one(node, "STOPSIGNAL"), **_location(node))
    if keyword == "maintainer":
        return Maintainer(name=_exactly_one(node, "MAINTAINER"), **_location(node))
    if keyword == "cmd":
        return Cmd(command=_cmdline(node), shell_form=not node.json_form, **_location(node))
    return Entrypoint(command=_cmdline(node), shell_form=not node.json_form, **_location(node))


_WITH_FLAGS = {
    "run": _build_run, "copy": _build_copy, "add": _build_add, "from": _build_from,
    "healthcheck": _build_healthcheck,
}
_WITHOUT_FLAGS = {
    "arg": _build_arg, "onbuild": _build_onbuild, "volume": _build_volume,
    "shell": _build_shell, "expose": _build_expose,
}


def build_instruction(node: Node, filename: str = "Dockerfile") -> Instruction:
    """The typed instruction for a parsed node; DockerfileError (with line) if invalid."""
    try:
        if node.keyword.upper() not in INSTRUCTION_NAMES:
            written = (node.written_keyword or node.keyword).upper()
            raise _Fail(f"unknown instruction: {written}"
                        f"{_suggestion(written, INSTRUCTION_NAMES)}")
        flags = _parse_flags(node)
        with_flags = _WITH_FLAGS.get(node.keyword)
        if with_flags is not None:
            return with_flags(node, flags)
        without_flags = _WITHOUT_FLAGS.get(node.keyword)
        if without_flags is not None:
            return without_flags(node)
        return _build_simple(node)
    except _Fail as exc:
        raise DockerfileError(str(exc), line=node.start_line, filename=filename) from None
