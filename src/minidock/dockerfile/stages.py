"""A loaded Dockerfile: global ARGs, stages, and the plan of a build.

`load` parses and types every instruction and groups them into stages.
`Dockerfile.plan` computes the global ARG values, resolves each FROM (an
image, an earlier stage, or scratch), and lists the stages the target needs
-- its base chain, `COPY --from` and `RUN --mount=from=` sources, and the
sources of ONBUILD triggers inherited from an earlier stage -- in build order.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from minidock.dockerfile.evaluator import (
    BUILTIN_ARGS,
    BuildContext,
    StageEvaluation,
    evaluate_stage,
)
from minidock.dockerfile.goformat import quote
from minidock.dockerfile.instructions import (
    Arg,
    Copy,
    From,
    Instruction,
    Onbuild,
    Run,
    build_instruction,
)
from minidock.dockerfile.mounts import mount_from_ref
from minidock.dockerfile.parser import ParseWarning, parse, parse_line
from minidock.dockerfile.platforms import Platform, platform_args
from minidock.dockerfile.shell import ExpansionError, lexer_for
from minidock.errors import DockerfileError

SCRATCH = "scratch"


@dataclass(frozen=True)
class Stage:
    """One `FROM ...` and the instructions up to the next FROM."""

    index: int
    from_: From
    instructions: tuple[Instruction, ...]

    @property
    def name(self) -> str | None:
        """The lower-case `AS name`, if any."""
        return self.from_.stage_name


@dataclass(frozen=True)
class ImageBase:
    """FROM an image reference (expanded), pulled for `platform`."""

    ref: str
    platform: Platform


@dataclass(frozen=True)
class StageBase:
    """FROM an earlier stage of the same Dockerfile."""

    index: int


@dataclass(frozen=True)
class ScratchBase:
    """FROM scratch: an empty filesystem and a minimal config."""

    platform: Platform


BaseRef = ImageBase | StageBase | ScratchBase


@dataclass(frozen=True)
class PlannedStage:
    stage: Stage
    base: BaseRef

    def evaluate(self, base_config: Mapping[str, Any] | None,
                 ctx: BuildContext) -> StageEvaluation:
        """All steps of this stage given its base image's config (None for scratch)."""
        return evaluate_stage(self.stage.from_, self.stage.instructions, self.stage.index,
                              base_config, ctx)


@dataclass(frozen=True)
class BuildPlan:
    """The stages a build needs, in order; the target is the last one."""

    stages: tuple[PlannedStage, ...]
    context: BuildContext
    warnings: tuple[str, ...] = ()

    @property
    def target(self) -> PlannedStage:
        return self.stages[-1]

    def evaluate(self, planned: PlannedStage,
                 base_config: Mapping[str, Any] | None) -> StageEvaluation:
        return planned.evaluate(base_config, self.context)


@dataclass(frozen=True)
class Dockerfile:
    filename: str
    escape: str
    global_args: tuple[Arg, ...]
    stages: tuple[Stage, ...]
    warnings: tuple[ParseWarning, ...] = ()
    directives: dict[str, str] = field(default_factory=dict)

    @property
    def stage_names(self) -> dict[str, int]:
        return {stage.name: stage.index for stage in self.stages if stage.name}

    def stage(self, ref: str | int) -> Stage:
        """A stage by (case-insensitive) name or by index."""
        if isinstance(ref, int):
            if 0 <= ref < len(self.stages):
                return self.stages[ref]
            raise DockerfileError(f"invalid stage index {ref}", filename=self.filename)
        index = self.stage_names.get(ref.lower())
        if index is None:
            raise DockerfileError(
                f"target stage {quote(ref)} could not be found"
                f"{_suggest(ref.lower(), list(self.stage_names))}", filename=self.filename)
        return self.stages[index]

    def plan(self, target: str | None = None, build_args: Mapping[str, str] | None = None, *,
             platform: Platform | None = None,
             build_platform: Platform | None = None) -> BuildPlan:
        """The stages needed to build `target` (default: the last stage), in order."""
        args = dict(build_args or {})
        host = Platform.host()
        target_platform = platform or host
        build_on = build_platform or host
        globals_ = _global_scope(self, args, target_platform, build_on)
        stage_names = self.stage_names
        ctx = BuildContext(build_args=args, global_args=globals_, escape=self.escape,
                           stage_names=stage_names, stage_count=len(self.stages),
                           filename=self.filename, target_platform=target_platform,
                           build_platform=build_on)
        bases = [_resolve_base(self, stage, ctx) for stage in self.stages]
        target_index = len(self.stages) - 1 if target is None else self.stage(target).index

        needed: set[int] = set()
        declared: set[str] = {decl.name for ins in self.global_args for decl in ins.args}
        pending = [target_index]
        while pending:
            index = pending.pop()
            if index in needed:
                continue
            needed.add(index)
            stage = self.stages[index]
            base = bases[index]
            instructions = list(stage.instructions)
            if isinstance(base, StageBase):
                pending.append(base.index)
                instructions = _inherited_triggers(self, self.stages[base.index], stage) + \
                    instructions
            for ins in instructions:
                if isinstance(ins, Arg):
                    declared.update(decl.name for decl in ins.args)
                for ref in _stage_refs(ins):
                    found = ctx.resolve_stage(ref, current=index, line=ins.line,
                                              what="mount" if isinstance(ins, Run) else "copy")
                    if found is not None:
                        pending.append(found)

        unused = sorted(name for name in args if name not in declared and name not in BUILTIN_ARGS)
        warnings = _duplicate_stage_warnings(self)
        if unused:
            warnings += (f"[Warning] One or more build-args [{' '.join(unused)}] "
                         f"were not consumed",)
        planned = tuple(PlannedStage(self.stages[i], bases[i]) for i in sorted(needed))
        return BuildPlan(stages=planned, context=ctx, warnings=warnings)


def _duplicate_stage_warnings(df: Dockerfile) -> tuple[str, ...]:
    """BuildKit accepts a repeated stage name (the later stage wins) and lints it."""
    seen: set[str] = set()
    out = []
    for stage in df.stages:
        name = stage.name
        if name is None:
            continue
        if name in seen:
            out.append(f"[Warning] {df.filename}:{stage.from_.line}: duplicate stage name "
                       f"{quote(name)}: stage names should be unique (the later stage is used)")
        seen.add(name)
    return tuple(out)


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _stage_refs(ins: Instruction) -> list[str]:
    if isinstance(ins, Copy) and ins.from_:
        return [ins.from_]
    if isinstance(ins, Run):
        return [ref for ref in (mount_from_ref(spec) for spec in ins.mounts) if ref]
    return []


def _inherited_triggers(df: Dockerfile, base: Stage, child: Stage) -> list[Instruction]:
    """The ONBUILD triggers a stage declares, as they fire in a stage built FROM it."""
    fired: list[Instruction] = []
    for ins in base.instructions:
        if isinstance(ins, Onbuild):
            try:
                node = parse_line(ins.expression, line=child.from_.line, filename=df.filename)
                fired.append(build_instruction(node, filename=df.filename))
            except DockerfileError as exc:
                raise DockerfileError(f"ONBUILD trigger {quote(ins.expression)}: {exc.detail}",
                                      line=child.from_.line, filename=df.filename) from None
    return fired


def _global_scope(df: Dockerfile, build_args: Mapping[str, str], target: Platform,
                  build: Platform) -> dict[str, str]:
    """Values visible to FROM: predefined platform args, then the ARGs before FROM."""
    scope = platform_args(target, build)
    for name in scope:
        if name in build_args:
            scope[name] = build_args[name]
    lexer = lexer_for(df.escape)
    for ins in df.global_args:
        for decl in ins.args:
            if decl.name in build_args:
                scope[decl.name] = build_args[decl.name]
            elif decl.default is not None:
                try:
                    scope[decl.name] = lexer.expand_word(decl.default, scope)
                except ExpansionError as exc:
                    raise DockerfileError(exc.detail, line=ins.line,
                                          filename=df.filename) from None
    return scope


def _resolve_base(df: Dockerfile, stage: Stage, ctx: BuildContext) -> BaseRef:
    from_ = stage.from_
    lexer = lexer_for(df.escape)
    try:
        image = lexer.expand_word(from_.image, ctx.global_args)
        platform_text = (lexer.expand_word(from_.platform, ctx.global_args)
                         if from_.platform else "")
    except ExpansionError as exc:
        raise DockerfileError(exc.detail, line=from_.line, filename=df.filename) from None
    if not image:
        raise DockerfileError(f"base name ({from_.image}) should not be blank", line=from_.line,
                              filename=df.filename)
    platform = ctx.target_platform
    if from_.platform:
        if not platform_text:
            raise DockerfileError(f"empty platform value from expression {from_.platform}",
                                  line=from_.line, filename=df.filename)
        try:
            platform = Platform.parse(platform_text)
        except ValueError as exc:
            raise DockerfileError(f"failed to parse platform {from_.platform}: {exc}",
                                  line=from_.line, filename=df.filename) from None
    for earlier in reversed(df.stages[:stage.index]):
        if earlier.name == image.lower():
            return StageBase(earlier.index)  # a repeated name means its latest stage so far
    if image == SCRATCH:
        return ScratchBase(platform)
    return ImageBase(image, platform)


def load(data: bytes | str, filename: str = "Dockerfile") -> Dockerfile:
    """Parse a Dockerfile into global ARGs and typed stages.

    Raises DockerfileError (with the line) for syntax errors, unknown
    instructions or flags, wrong argument counts and instructions before the
    first FROM other than ARG. A repeated stage name is allowed (the later
    stage wins, as in BuildKit); `Dockerfile.plan` warns about it.
    """
    result = parse(data, filename=filename)
    global_args: list[Arg] = []
    stages: list[Stage] = []
    current_from: From | None = None
    current: list[Instruction] = []
    for node in result.nodes:
        ins = build_instruction(node, filename=filename)
        if isinstance(ins, From):
            if current_from is not None:
                stages.append(Stage(len(stages), current_from, tuple(current)))
            current_from, current = ins, []
        elif current_from is None:
            if not isinstance(ins, Arg):
                raise DockerfileError("no build stage in current context", line=ins.line,
                                      filename=filename)
            global_args.append(ins)
        else:
            current.append(ins)
    if current_from is None:
        raise DockerfileError("dockerfile contains no stages to build",
                              line=result.nodes[-1].end_line, filename=filename)
    stages.append(Stage(len(stages), current_from, tuple(current)))
    return Dockerfile(filename=filename, escape=result.escape, global_args=tuple(global_args),
                      stages=tuple(stages), warnings=result.warnings,
                      directives=dict(result.directives))
