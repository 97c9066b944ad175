"""The pure evaluator: instruction x stage state -> new state + effects.

Nothing here touches the filesystem. The image config a stage builds is
plain OCI-config-shaped data (`Env`, `Cmd`, `WorkingDir`, `ExposedPorts`...);
everything the builder must *do* (run a command, copy files, create the
working directory) comes back as typed effects, together with the history
text Docker's classic builder records and the text that goes into the cache
key. Because RUN and COPY never change the config, a whole stage can be
evaluated before anything is executed.

Scoping follows Docker's documentation:
* ARGs before the first FROM are visible only to FROM lines; a stage sees one
  only after redeclaring it with `ARG NAME`;
* an ARG value comes from --build-arg, else its default, else (for a bare
  redeclaration) the global value;
* ENV always shadows an ARG of the same name;
* the proxy arguments (HTTP_PROXY...) reach RUN without being declared but are
  recorded in history only when declared; TARGET*/BUILD* are predefined
  globals.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from minidock.dockerfile.configvalues import check_stop_signal, parse_port
from minidock.dockerfile.filemode import ChmodError, ChmodSpec, parse_chmod
from minidock.dockerfile.goformat import (
    format_duration,
    format_list,
    quote,
    quote_list,
    quote_rune,
)
from minidock.dockerfile.instructions import (
    Add,
    Arg,
    Cmd,
    Copy,
    Entrypoint,
    Env,
    Expose,
    From,
    Healthcheck,
    Instruction,
    Label,
    Maintainer,
    Onbuild,
    Run,
    Shell,
    StopSignal,
    User,
    Volume,
    Workdir,
    build_instruction,
    checksum_error,
)
from minidock.dockerfile.mounts import Mount, MountError, parse_mount, resolve_defaults
from minidock.dockerfile.parser import chomp_heredoc, heredoc_or_none, parse_line
from minidock.dockerfile.platforms import Platform
from minidock.dockerfile.shell import ExpansionError, env_from_list, expand_heredoc, lexer_for
from minidock.errors import DockerfileError

DEFAULT_SHELL = ("/bin/sh", "-c")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PROXY_ARGS = (
    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
    "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
)
PLATFORM_ARGS = (
    "TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT",
    "BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT",
)
BUILTIN_ARGS = frozenset(PROXY_ARGS) | frozenset(PLATFORM_ARGS)
_NOP = " ".join(DEFAULT_SHELL) + " #(nop) "


# ---- context and state ----------------------------------------------------------------

@dataclass(frozen=True)
class BuildContext:
    """What every stage of one build shares.

    `global_args` are the values FROM lines see (predefined platform args
    and the ARGs before the first FROM); `stage_names` maps lower-case stage
    names to their index, for `COPY --from` and `RUN --mount=from=`.
    """

    build_args: Mapping[str, str] = field(default_factory=dict)
    global_args: Mapping[str, str] = field(default_factory=dict)
    escape: str = "\\"
    stage_names: Mapping[str, int] = field(default_factory=dict)
    stage_count: int = 1
    filename: str = "Dockerfile"
    target_platform: Platform = field(default_factory=Platform)
    build_platform: Platform = field(default_factory=Platform)

    def error(self, message: str, instruction: Instruction | int) -> DockerfileError:
        line = instruction if isinstance(instruction, int) else instruction.line
        return DockerfileError(message, line=line, filename=self.filename)

    def resolve_stage(self, ref: str, *, current: int, line: int, what: str) -> int | None:
        """The stage index `ref` names (a name or an index), or None for an image.

        A stage may only use stages defined before it.
        """
        index = self.stage_names.get(ref.lower())
        if index is None:
            text = ref[1:] if ref[:1] in "+-" else ref
            if text.isascii() and text.isdigit():
                index = int(ref)
                if index < 0 or index >= self.stage_count:
                    raise self.error(f"invalid stage index {ref}", line)
        if index is not None and index >= current:
            raise self.error(f"cannot {what} from stage {quote(ref)}, it needs to be defined "
                             f"before current stage", line)
        return index


@dataclass(frozen=True)
class StageState:
    """The image being built by one stage.

    `config` is the OCI image config's `config` object, keyed as in the JSON
    (`Env` is a list of "K=V"). It is shared between states and must be
    treated as read-only: use `image_config()` for a private copy.
    `args` are the ARGs declared in this stage, in order, with their values
    (None when declared without one). `cmd_set` records whether CMD was given
    in this stage, which decides whether ENTRYPOINT clears an inherited Cmd.
    """

    config: dict[str, Any]
    args: tuple[tuple[str, str | None], ...] = ()
    stage_index: int = 0
    stage_name: str | None = None
    author: str | None = None
    cmd_set: bool = False

    @cached_property
    def config_env(self) -> dict[str, str]:
        """The config's Env as a mapping (the last definition wins)."""
        return env_from_list(self.config.get("Env") or ())

    @cached_property
    def arg_values(self) -> dict[str, str]:
        """Declared ARGs that have a value."""
        return {name: value for name, value in self.args if value is not None}

    @cached_property
    def expansion_env(self) -> dict[str, str]:
        """What `$VAR` sees: ARG values shadowed by ENV."""
        if not self.args:
            return self.config_env
        env = dict(self.arg_values)
        env.update(self.config_env)
        return env

    @property
    def shell(self) -> tuple[str, ...]:
        return tuple(self.config.get("Shell") or DEFAULT_SHELL)

    @property
    def workdir(self) -> str:
        return self.config.get("WorkingDir") or "/"

    @property
    def user(self) -> str:
        return self.config.get("User") or ""

    def image_config(self) -> dict[str, Any]:
        """A private deep copy of the config, ready to be serialised."""
        return copy.deepcopy(self.config)

    def _with(self, config: dict[str, Any] | None = None, **changes: Any) -> StageState:
        state = StageState(
            config=self.config if config is None else config,
            args=changes.get("args", self.args),
            stage_index=self.stage_index,
            stage_name=self.stage_name,
            author=changes.get("author", self.author),
            cmd_set=changes.get("cmd_set", self.cmd_set),
        )
        # most steps change neither Env nor ARGs: reuse the derived mappings
        cached = self.__dict__
        if "config_env" in cached and state.config.get("Env") is self.config.get("Env"):
            state.__dict__["config_env"] = cached["config_env"]
            if state.args is self.args:
                for name in ("arg_values", "expansion_env"):
                    if name in cached:
                        state.__dict__[name] = cached[name]
        return state


# ---- effects ----------------------------------------------------------------------------

@dataclass(frozen=True)
class InlineFile:
    """A file whose content is in the Dockerfile (heredocs).

    For RUN, `path` is where the file must be visible while the command runs;
    for COPY/ADD it is the source name, copied like a context file.
    """

    path: str
    data: bytes
    mode: int = 0o644


@dataclass(frozen=True)
class RunEffect:
    """Run `argv` in a container of the current image.

    `env` is the config Env plus the ARG values in scope (and undeclared proxy
    build-args). `mounts` have absolute targets; a mount's `from_stage` or
    `from_image` says what to mount for bind/cache `from=`.
    """

    argv: tuple[str, ...]
    env: tuple[str, ...]
    workdir: str
    user: str
    mounts: tuple[Mount, ...] = ()
    network: str = "default"
    security: str = "sandbox"
    files: tuple[InlineFile, ...] = ()


@dataclass(frozen=True)
class CopyEffect:
    """Copy `sources` (and inline `files`) to `dest`.

    Sources come from the build context, or from stage `from_stage`, or from
    image `from_image`. `dest` is absolute (resolved against WORKDIR) and keeps
    a trailing "/" when it names a directory; `written_dest` is the expanded
    destination as written, which Docker puts in the history text.
    """

    sources: tuple[str, ...]
    dest: str
    written_dest: str
    is_add: bool = False
    from_stage: int | None = None
    from_image: str | None = None
    chown: str | None = None
    chmod: ChmodSpec | None = None
    link: bool = False
    exclude: tuple[str, ...] = ()
    files: tuple[InlineFile, ...] = ()
    checksum: str | None = None
    keep_git_dir: bool | None = None
    unpack: bool | None = None
    parents: bool = False

    def created_by(self, source_hash: str) -> str:
        """Docker's history text, e.g. `/bin/sh -c #(nop) COPY file:ab12… in /app `.

        `source_hash` is what the builder computed over the sources
        (`file:<hex>`, `dir:<hex>` or `multi:<hex>`). Docker writes the chown
        flag glued to the hash and ends with a space; both are kept.
        """
        name = "ADD" if self.is_add else "COPY"
        chown = f"--chown={self.chown}" if self.chown else ""
        return f"{_NOP}{name} {chown}{source_hash} in {self.written_dest} "

    def describe(self) -> str:
        """The options that change the result, canonically, for cache keys."""
        parts = [f"dest={self.dest}"]
        if self.from_stage is not None:
            parts.append(f"from-stage={self.from_stage}")
        if self.from_image is not None:
            parts.append(f"from-image={self.from_image}")
        for label, value in (("chown", self.chown), ("checksum", self.checksum)):
            if value:
                parts.append(f"{label}={value}")
        if self.chmod is not None:
            parts.append(f"chmod={self.chmod.text}")
        for label, flag in (("link", self.link), ("parents", self.parents)):
            if flag:
                parts.append(label)
        for label, maybe in (("keep-git-dir", self.keep_git_dir), ("unpack", self.unpack)):
            if maybe is not None:
                parts.append(f"{label}={str(maybe).lower()}")
        parts.extend(f"exclude={pattern}" for pattern in self.exclude)
        parts.extend(f"file={f.path}:{hashlib.sha256(f.data).hexdigest()}" for f in self.files)
        parts.extend(f"source={source}" for source in self.sources)
        return "\n".join(parts)


@dataclass(frozen=True)
class WorkdirEffect:
    """Create directory `path` (with parents) owned by `user` if it is missing."""

    path: str
    user: str


Effect = RunEffect | CopyEffect | WorkdirEffect


@dataclass(frozen=True)
class Step:
    """The result of evaluating one instruction.

    `history` is Docker's `created_by` text; it is None for COPY/ADD, whose
    text needs the source hash: use `created_by(source_hash)`. `empty_layer`
    is True when the step changes only the config. `triggered` marks an
    ONBUILD trigger fired by FROM.
    """

    instruction: Instruction
    state: StageState
    effects: tuple[Effect, ...] = ()
    history: str | None = None
    empty_layer: bool = True
    triggered: bool = False
    cache_detail: str = ""

    @property
    def copy_effect(self) -> CopyEffect | None:
        for effect in self.effects:
            if isinstance(effect, CopyEffect):
                return effect
        return None

    def created_by(self, source_hash: str | None = None) -> str:
        copy_effect = self.copy_effect
        if copy_effect is not None:
            if source_hash is None:
                raise ValueError(f"{self.instruction.keyword} history needs the source hash")
            return copy_effect.created_by(source_hash)
        return self.history or ""

    def cache_text(self, source_hash: str | None = None) -> str:
        """The text that, with the parent image, keys this step in the build cache."""
        text = self.created_by(source_hash)
        return text + "\n" + self.cache_detail if self.cache_detail else text


@dataclass(frozen=True)
class StageEvaluation:
    """Every step of one stage, triggers first, and the final state."""

    start: StageState
    steps: tuple[Step, ...]

    @property
    def state(self) -> StageState:
        return self.steps[-1].state if self.steps else self.start


# ---- helpers ------------------------------------------------------------------------------

def _expander(state: StageState, ctx: BuildContext, instruction: Instruction,
              env: Mapping[str, str] | None = None) -> Callable[[str], str]:
    lexer = lexer_for(ctx.escape)
    scope = state.expansion_env if env is None else env

    def expand(word: str) -> str:
        try:
            return lexer.expand_word(word, scope)
        except ExpansionError as exc:
            raise ctx.error(exc.detail, instruction) from None

    return expand


def _set_env(env_list: list[str], key: str, value: str) -> None:
    """Replace `key`'s entry in place, or append one (the order Docker keeps)."""
    prefix = key + "="
    for i, entry in enumerate(env_list):
        if entry == key or entry.startswith(prefix):
            env_list[i] = prefix + value
            return
    env_list.append(prefix + value)


def _nop(text: str) -> str:
    """History of a config-only step: the classic builder's `#(nop)` comment."""
    return _NOP + " " + text


def _normalize_dir(base: str, path: str) -> str:
    joined = path if path.startswith("/") else posixpath.join(base or "/", path)
    clean = posixpath.normpath(joined)
    if clean.startswith("//"):
        clean = "/" + clean.lstrip("/")
    return clean


def resolve_dest(dest: str, workdir: str) -> str:
    """A COPY/ADD destination made absolute; a trailing "/" (a directory) is kept."""
    if dest in ("", "."):
        dest = "./"
    keep_slash = dest.endswith("/") or dest.endswith("/.")
    clean = _normalize_dir(workdir, dest)
    if keep_slash and not clean.endswith("/"):
        clean += "/"
    return clean


def _health_history(health: Healthcheck) -> str:
    # what Go prints for `%q` of the config's *HealthConfig
    durations = " ".join(quote(format_duration(value)) for value in (
        health.interval, health.timeout, health.start_period, health.start_interval))
    return f"HEALTHCHECK &{{{quote_list(health.test)} {durations} {quote_rune(health.retries)}}}"


# ---- starting a stage ------------------------------------------------------------------------

_LIST_FIELDS = ("Env", "OnBuild", "Shell", "Cmd", "Entrypoint")
_MAP_FIELDS = ("Labels", "ExposedPorts", "Volumes")
_TEXT_FIELDS = ("WorkingDir", "User", "StopSignal")


def _config_problem(config: Mapping[str, Any]) -> str | None:
    """Why a base config cannot be built upon (it comes from an image), or None."""
    for name in _LIST_FIELDS:
        value = config.get(name)
        if value is not None and not (isinstance(value, list)
                                      and all(isinstance(v, str) for v in value)):
            return f"{name} must be a list of strings"
    for name in _MAP_FIELDS:
        value = config.get(name)
        if value is not None and not (isinstance(value, dict)
                                      and all(isinstance(k, str) for k in value)):
            return f"{name} must be an object"
    for name in _TEXT_FIELDS:
        value = config.get(name)
        if value is not None and not isinstance(value, str):
            return f"{name} must be a string"
    return None


def scratch_config() -> dict[str, Any]:
    """The config of an empty base image (`FROM scratch`)."""
    return {"Env": ["PATH=" + DEFAULT_PATH], "WorkingDir": "/"}


def begin_stage(from_: From, stage_index: int, base_config: Mapping[str, Any] | None,
                ctx: BuildContext) -> tuple[StageState, tuple[Instruction, ...]]:
    """The state a stage starts from, and the ONBUILD triggers its base fires.

    `base_config` is the base image's `config` object (None for scratch). The
    triggers are removed from the new config; evaluate them, in order, before
    the stage's own instructions.
    """
    config = copy.deepcopy(dict(base_config)) if base_config is not None else scratch_config()
    problem = _config_problem(config)
    if problem:
        raise ctx.error(f"invalid base image config: {problem}", from_)
    triggers = config.pop("OnBuild", None) or []
    if not any(entry.startswith("PATH=") or entry == "PATH" for entry in config.get("Env") or ()):
        config["Env"] = list(config.get("Env") or ()) + ["PATH=" + DEFAULT_PATH]
    fired: list[Instruction] = []
    for text in triggers:
        try:
            node = parse_line(text, line=from_.line, filename=ctx.filename)
            fired.append(build_instruction(node, filename=ctx.filename))
        except DockerfileError as exc:
            raise ctx.error(f"ONBUILD trigger {quote(text)}: {exc.detail}", from_) from None
    state = StageState(config=config, stage_index=stage_index, stage_name=from_.stage_name)
    return state, tuple(fired)


def evaluate_stage(from_: From, instructions: Sequence[Instruction], stage_index: int,
                   base_config: Mapping[str, Any] | None, ctx: BuildContext) -> StageEvaluation:
    """Evaluate a whole stage: fired triggers first, then its own instructions."""
    state, triggers = begin_stage(from_, stage_index, base_config, ctx)
    start = state
    steps: list[Step] = []
    for instruction in triggers:
        step = evaluate(instruction, state, ctx, triggered=True)
        steps.append(step)
        state = step.state
    for instruction in instructions:
        step = evaluate(instruction, state, ctx)
        steps.append(step)
        state = step.state
    return StageEvaluation(start=start, steps=tuple(steps))


# ---- the evaluator ------------------------------------------------------------------------

def evaluate(instruction: Instruction, state: StageState, ctx: BuildContext, *,
             triggered: bool = False) -> Step:
    """One instruction applied to a stage state. Raises DockerfileError with its line."""
    handler = _HANDLERS.get(type(instruction))
    if handler is None:
        if isinstance(instruction, From):
            raise TypeError("FROM starts a stage: use begin_stage()")
        raise TypeError(f"not an instruction: {instruction!r}")
    step = handler(instruction, state, ctx)
    if triggered:
        return Step(instruction=step.instruction, state=step.state, effects=step.effects,
                    history=step.history, empty_layer=step.empty_layer, triggered=True,
                    cache_detail=step.cache_detail)
    return step


def _expanded_pairs(ins: Env | Label, state: StageState, ctx: BuildContext
                    ) -> list[tuple[str, str]]:
    """The expanded KEY=VALUE pairs of ENV or LABEL; a blank key is an error."""
    expand = _expander(state, ctx, ins)
    pairs = []
    for pair in ins.pairs:
        key = expand(pair.key)
        value = expand(pair.value)
        if not key:
            raise ctx.error(f"{ins.keyword} names can not be blank", ins)
        pairs.append((key, value))
    return pairs


def _pairs_history(ins: Env | Label, pairs: list[tuple[str, str]]) -> str:
    return _nop(ins.keyword + " " + " ".join(f"{key}={value}" for key, value in pairs))


def _env(ins: Env, state: StageState, ctx: BuildContext) -> Step:
    pairs = _expanded_pairs(ins, state, ctx)
    env_list: list[str] = list(state.config.get("Env") or ())
    for key, value in pairs:
        _set_env(env_list, key, value)
    config = {**state.config, "Env": env_list}
    return Step(ins, state._with(config), history=_pairs_history(ins, pairs))


def _label(ins: Label, state: StageState, ctx: BuildContext) -> Step:
    pairs = _expanded_pairs(ins, state, ctx)
    labels = dict(state.config.get("Labels") or {})
    labels.update(pairs)
    config = {**state.config, "Labels": labels}
    return Step(ins, state._with(config), history=_pairs_history(ins, pairs))


def _arg(ins: Arg, state: StageState, ctx: BuildContext) -> Step:
    args = list(state.args)
    shown = []
    for decl in ins.args:
        scope = StageState(config=state.config, args=tuple(args)).expansion_env
        expand = _expander(state, ctx, ins, scope)
        written = decl.name
        if decl.default is not None:
            try:
                written += "=" + lexer_for(ctx.escape).expand_word(decl.default, scope)
            except ExpansionError as exc:
                if decl.name not in ctx.build_args:
                    raise ctx.error(exc.detail, ins) from None
                written += "=" + decl.default
        if decl.name in ctx.build_args:
            value: str | None = ctx.build_args[decl.name]
        elif decl.default is not None:
            value = expand(decl.default)
        else:
            value = ctx.global_args.get(decl.name)
        args = [(name, v) for name, v in args if name != decl.name]
        args.append((decl.name, value))
        shown.append(written)
    return Step(ins, state._with(args=tuple(args)), history=_nop("ARG " + " ".join(shown)))


def _run_env(state: StageState, ctx: BuildContext) -> tuple[list[str], list[str], bool]:
    """(container env, K=V shown in history, whether any build arg is in scope)."""
    config_env = state.config_env
    env = list(state.config.get("Env") or ())
    shown = []
    in_scope = False
    for name, value in state.args:
        if value is None or name in config_env:
            continue
        env.append(f"{name}={value}")
        shown.append(f"{name}={value}")
        in_scope = True
    declared = {name for name, _ in state.args}
    for name in sorted(ctx.build_args):
        if name in PROXY_ARGS and name not in declared and name not in config_env:
            env.append(f"{name}={ctx.build_args[name]}")
            in_scope = True
    return env, sorted(shown), in_scope


def _resolve_mount(spec: str, state: StageState, ctx: BuildContext, ins: Run,
                   ssh_index: int) -> Mount:
    expand = _expander(state, ctx, ins)
    try:
        mount = resolve_defaults(parse_mount(spec, expand), state.workdir, ssh_index=ssh_index)
    except MountError as exc:
        raise ctx.error(str(exc), ins) from None
    if mount.from_ref and mount.type in ("bind", "cache"):
        index = ctx.resolve_stage(mount.from_ref, current=state.stage_index, line=ins.line,
                                  what="mount")
        if index is None:
            mount = dataclasses.replace(mount, from_image=mount.from_ref)
        else:
            mount = dataclasses.replace(mount, from_stage=index)
    return mount


def _run(ins: Run, state: StageState, ctx: BuildContext) -> Step:
    resolved: list[Mount] = []
    for spec in ins.mounts:
        ssh_index = sum(1 for m in resolved if m.type == "ssh")
        resolved.append(_resolve_mount(spec, state, ctx, ins, ssh_index))
    mounts = tuple(resolved)
    command = ins.command
    files: tuple[InlineFile, ...] = ()
    if ins.heredocs:
        first = ins.heredocs[0]
        if heredoc_or_none(command[0]) is not None:
            # the whole command is one heredoc: run its body as the script
            body = chomp_heredoc(first.content) if first.chomp else first.content
            if body.startswith("#!"):
                path = "/dev/pipes/" + first.name
                files = (InlineFile(path, body.encode("utf-8", "surrogateescape"), 0o755),)
                command = (path,)
            else:
                command = (body,)
        else:
            # a real shell heredoc: hand the shell the bodies after the command line
            command = (command[0] + "".join("\n" + doc.content + doc.name
                                            for doc in ins.heredocs),)
    argv = state.shell + (" ".join(command),) if ins.shell_form else command
    env, shown, in_scope = _run_env(state, ctx)
    history_words = ([f"|{len(shown)}", *shown] if in_scope else []) + list(argv)
    effect = RunEffect(argv=tuple(argv), env=tuple(env), workdir=state.workdir, user=state.user,
                       mounts=mounts, network=ins.network or "default",
                       security=ins.security or "sandbox", files=files)
    detail = [m.describe() for m in mounts]
    if effect.network != "default":
        detail.append(f"network={effect.network}")
    if effect.security != "sandbox":
        detail.append(f"security={effect.security}")
    detail.extend(f"file={f.path}:{hashlib.sha256(f.data).hexdigest()}" for f in files)
    return Step(ins, state, (effect,), history=" ".join(history_words), empty_layer=False,
                cache_detail="\n".join(detail))


def _copy_effect(ins: Add | Copy, state: StageState, ctx: BuildContext) -> CopyEffect:
    expand = _expander(state, ctx, ins)
    sources = tuple(expand(source) for source in ins.sources)
    written_dest = expand(ins.dest)
    chown = expand(ins.chown) if ins.chown else None
    chmod = None
    if ins.chmod:
        try:
            chmod = parse_chmod(expand(ins.chmod))
        except ChmodError as exc:
            raise ctx.error(str(exc), ins) from None
    files = []
    for inline in ins.inline:
        data = expand_heredoc(inline.content, state.expansion_env) if inline.expand \
            else inline.content
        files.append(InlineFile(inline.name, data.encode("utf-8", "surrogateescape")))
    checksum = from_image = None
    from_stage: int | None = None
    keep_git_dir = unpack = None
    parents = False
    if isinstance(ins, Add):
        checksum = expand(ins.checksum) if ins.checksum else None
        if checksum:
            problem = checksum_error(checksum)
            if problem:
                raise ctx.error(problem, ins)
        keep_git_dir, unpack = ins.keep_git_dir, ins.unpack
    else:
        parents = ins.parents
        if ins.from_:
            from_stage = ctx.resolve_stage(ins.from_, current=state.stage_index, line=ins.line,
                                           what="copy")
            if from_stage is None:
                from_image = ins.from_
    return CopyEffect(sources=sources, dest=resolve_dest(written_dest, state.workdir),
                      written_dest=written_dest, is_add=isinstance(ins, Add),
                      from_stage=from_stage, from_image=from_image, chown=chown or None,
                      chmod=chmod, link=ins.link, exclude=ins.exclude, files=tuple(files),
                      checksum=checksum or None, keep_git_dir=keep_git_dir, unpack=unpack,
                      parents=parents)


def _copy(ins: Add | Copy, state: StageState, ctx: BuildContext) -> Step:
    effect = _copy_effect(ins, state, ctx)
    return Step(ins, state, (effect,), history=None, empty_layer=False,
                cache_detail=effect.describe())


def _workdir(ins: Workdir, state: StageState, ctx: BuildContext) -> Step:
    written = _expander(state, ctx, ins)(ins.path)
    path = _normalize_dir(state.workdir, written)
    # an absolute path keeps its trailing slash in the config, as BuildKit and buildah do
    shown = path + "/" if written.startswith("/") and written.endswith("/") and path != "/" \
        else path
    config = {**state.config, "WorkingDir": shown}
    effects: tuple[Effect, ...] = ()
    if path != "/":
        effects = (WorkdirEffect(path=path, user=state.user),)
    return Step(ins, state._with(config), effects, history=_NOP + "WORKDIR " + shown,
                empty_layer=not effects)


def _user(ins: User, state: StageState, ctx: BuildContext) -> Step:
    user = _expander(state, ctx, ins)(ins.user)
    return Step(ins, state._with({**state.config, "User": user}), history=_nop("USER " + user))


def _volume(ins: Volume, state: StageState, ctx: BuildContext) -> Step:
    expand = _expander(state, ctx, ins)
    volumes = dict(state.config.get("Volumes") or {})
    paths = []
    for path in ins.paths:
        path = expand(path)
        if not path:
            raise ctx.error("VOLUME specified can not be an empty string", ins)
        volumes[path] = {}
        paths.append(path)
    config = {**state.config, "Volumes": volumes}
    return Step(ins, state._with(config), history=_nop("VOLUME " + format_list(paths)))


def _stopsignal(ins: StopSignal, state: StageState, ctx: BuildContext) -> Step:
    signal = _expander(state, ctx, ins)(ins.signal)
    try:
        check_stop_signal(signal)
    except ValueError as exc:
        raise ctx.error(str(exc), ins) from None
    config = {**state.config, "StopSignal": signal}
    return Step(ins, state._with(config), history=_nop("STOPSIGNAL " + signal))


def _expose(ins: Expose, state: StageState, ctx: BuildContext) -> Step:
    lexer = lexer_for(ctx.escape)
    ports: list[str] = []
    words: list[str] = []  # the history shows them as written, in docker's order
    try:
        for spec in sorted(ins.ports):  # docker sorts the unexpanded arguments
            for word in lexer.expand_words(spec, state.expansion_env):
                ports.extend(parse_port(word))
                words.append(word)
    except ExpansionError as exc:
        raise ctx.error(exc.detail, ins) from None
    except ValueError as exc:
        raise ctx.error(str(exc), ins) from None
    exposed = dict(state.config.get("ExposedPorts") or {})
    for port in ports:
        exposed[port] = {}
    config = {**state.config, "ExposedPorts": exposed}
    return Step(ins, state._with(config), history=_nop("EXPOSE " + " ".join(words)))


def _set_command(ins: Cmd | Entrypoint, state: StageState, key: str
                 ) -> tuple[list[str], dict[str, Any]]:
    """The command line CMD or ENTRYPOINT sets, and the config with it under `key`
    (an empty one, `CMD []`, removes the key)."""
    command = list(state.shell) + [" ".join(ins.command)] if ins.shell_form \
        else list(ins.command)
    config = dict(state.config)
    if command:
        config[key] = command
    else:
        config.pop(key, None)
    return command, config


def _cmd(ins: Cmd, state: StageState, ctx: BuildContext) -> Step:
    command, config = _set_command(ins, state, "Cmd")
    return Step(ins, state._with(config, cmd_set=True), history=_nop("CMD " + quote_list(command)))


def _entrypoint(ins: Entrypoint, state: StageState, ctx: BuildContext) -> Step:
    command, config = _set_command(ins, state, "Entrypoint")
    if not state.cmd_set:
        config.pop("Cmd", None)  # an inherited CMD does not survive a new ENTRYPOINT
    return Step(ins, state._with(config), history=_nop("ENTRYPOINT " + quote_list(command)))


def _healthcheck(ins: Healthcheck, state: StageState, ctx: BuildContext) -> Step:
    config = {**state.config, "Healthcheck": ins.config()}
    return Step(ins, state._with(config), history=_nop(_health_history(ins)))


def _shell(ins: Shell, state: StageState, ctx: BuildContext) -> Step:
    config = {**state.config, "Shell": list(ins.shell)}
    return Step(ins, state._with(config), history=_nop("SHELL " + format_list(ins.shell)))


def _onbuild(ins: Onbuild, state: StageState, ctx: BuildContext) -> Step:
    triggers = list(state.config.get("OnBuild") or ()) + [ins.expression]
    config = {**state.config, "OnBuild": triggers}
    return Step(ins, state._with(config), history=_nop("ONBUILD " + ins.expression))


def _maintainer(ins: Maintainer, state: StageState, ctx: BuildContext) -> Step:
    return Step(ins, state._with(author=ins.name), history=_nop("MAINTAINER " + ins.name))


_HANDLERS: dict[type, Callable[[Any, StageState, BuildContext], Step]] = {
    Env: _env, Label: _label, Arg: _arg, Run: _run, Copy: _copy, Add: _copy,
    Workdir: _workdir, User: _user, Volume: _volume, StopSignal: _stopsignal, Expose: _expose,
    Cmd: _cmd, Entrypoint: _entrypoint, Healthcheck: _healthcheck, Shell: _shell,
    Onbuild: _onbuild, Maintainer: _maintainer,
}
