"""The Dockerfile frontend: parser, word expansion, typed instructions, a pure
evaluator and `.dockerignore` matching. Nothing in this package performs I/O
other than reading ignore files when asked to.

Typical use by the builder::

    df = load(data, "Dockerfile")
    plan = df.plan(target, build_args)
    for planned in plan.stages:
        result = plan.evaluate(planned, base_config)   # pure
        for step in result.steps: ...                   # cache lookup, effects, history
"""

from minidock.dockerfile.dockerignore import IgnoreMatcher, load_ignore_file, read_ignore_patterns
from minidock.dockerfile.evaluator import (
    DEFAULT_PATH,
    DEFAULT_SHELL,
    BuildContext,
    CopyEffect,
    Effect,
    InlineFile,
    RunEffect,
    StageEvaluation,
    StageState,
    Step,
    WorkdirEffect,
    begin_stage,
    evaluate,
    evaluate_stage,
    resolve_dest,
    scratch_config,
)
from minidock.dockerfile.filemode import ChmodSpec, parse_chmod
from minidock.dockerfile.instructions import *  # noqa: F403 (the records, by their __all__)
from minidock.dockerfile.instructions import __all__ as _instruction_names
from minidock.dockerfile.mounts import Mount
from minidock.dockerfile.parser import Heredoc, Node, ParseResult, ParseWarning, dump, parse
from minidock.dockerfile.platforms import Platform
from minidock.dockerfile.shell import (
    ExpansionError,
    ShellLexer,
    expand_heredoc,
    expand_word,
    expand_words,
)
from minidock.dockerfile.stages import (
    BuildPlan,
    Dockerfile,
    ImageBase,
    PlannedStage,
    ScratchBase,
    Stage,
    StageBase,
    load,
)

__all__ = [
    "DEFAULT_PATH", "DEFAULT_SHELL", "BuildContext", "BuildPlan", "ChmodSpec", "CopyEffect",
    "Dockerfile", "Effect", "ExpansionError", "Heredoc", "IgnoreMatcher", "ImageBase",
    "InlineFile", "Mount", "Node", "ParseResult", "ParseWarning", "PlannedStage", "Platform",
    "RunEffect", "ScratchBase", "ShellLexer", "Stage", "StageBase", "StageEvaluation",
    "StageState", "Step", "WorkdirEffect", "begin_stage", "dump", "evaluate", "evaluate_stage",
    "expand_heredoc", "expand_word", "expand_words", "load", "load_ignore_file", "parse",
    "parse_chmod", "read_ignore_patterns", "resolve_dest", "scratch_config",
]
__all__ += _instruction_names
