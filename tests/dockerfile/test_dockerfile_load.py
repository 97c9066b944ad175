"""Loading a Dockerfile into global ARGs and stages."""

from __future__ import annotations

import pytest

from minidock.dockerfile import (
    Arg,
    Dockerfile,
    Platform,
    Run,
    ScratchBase,
    StageBase,
    Workdir,
    load,
)
from minidock.errors import DockerfileError


def test_stages_and_global_args() -> None:
    df = load(b"# syntax=docker/dockerfile:1\nARG A=1\nARG B\nFROM x AS One\nRUN a\n"
              b"FROM scratch\nWORKDIR /w\n", filename="app.Dockerfile")
    assert isinstance(df, Dockerfile)
    assert df.filename == "app.Dockerfile"
    assert df.directives == {"syntax": "docker/dockerfile:1"}
    assert [decl.name for ins in df.global_args for decl in ins.args] == ["A", "B"]
    assert all(isinstance(ins, Arg) for ins in df.global_args)
    assert [(s.index, s.name) for s in df.stages] == [(0, "one"), (1, None)]
    assert isinstance(df.stages[0].instructions[0], Run)
    assert isinstance(df.stages[1].instructions[0], Workdir)
    assert df.stage("ONE") is df.stages[0] and df.stage(1) is df.stages[1]
    assert df.stage_names == {"one": 0}


def test_errors_name_the_dockerfile() -> None:
    with pytest.raises(DockerfileError) as info:
        load(b"FROM a\nRUNN x\n", filename="build/app.Dockerfile")
    assert str(info.value).startswith("build/app.Dockerfile:2: unknown instruction: RUNN")


def test_only_arg_may_come_before_the_first_from() -> None:
    with pytest.raises(DockerfileError) as info:
        load(b"ARG A\nRUN make\nFROM a\n")
    assert str(info.value) == "Dockerfile:2: no build stage in current context"


def test_a_file_of_only_args_has_no_stages() -> None:
    with pytest.raises(DockerfileError, match="dockerfile contains no stages to build"):
        load(b"ARG A\nARG B\n")


def test_duplicate_stage_names_warn_and_the_later_wins() -> None:
    # BuildKit: a repeated name is a lint warning; FROM/--target use the latest definition
    df = load(b"FROM a AS x\nFROM x AS y\nFROM b AS X\nFROM x\n")
    assert df.stage("x").index == 2
    plan = df.plan()
    bases = {p.stage.index: p.base for p in df.plan("y").stages}
    assert bases[1] == StageBase(0)  # the definition before it
    assert {p.stage.index: p.base for p in plan.stages}[3] == StageBase(2)
    assert plan.warnings == ('[Warning] Dockerfile:3: duplicate stage name "x": stage names '
                             'should be unique (the later stage is used)',)


def test_unknown_stage_lookups() -> None:
    df = load(b"FROM a AS build\n")
    with pytest.raises(DockerfileError, match="did you mean build"):
        df.stage("buidl")
    with pytest.raises(DockerfileError, match="invalid stage index 3"):
        df.stage(3)


def test_global_arg_defaults_expand_earlier_globals_and_build_args_win() -> None:
    df = load(b"ARG REG=docker.io\nARG IMG=${REG}/library/alpine\nARG TAG\nFROM $IMG:${TAG:-3}\n")
    amd64 = Platform("linux", "amd64")
    assert df.plan(platform=amd64).target.base.ref == "docker.io/library/alpine:3"  # type: ignore
    plan = df.plan(build_args={"REG": "localhost:5000", "TAG": "edge"}, platform=amd64)
    assert plan.target.base.ref == "localhost:5000/library/alpine:edge"  # type: ignore


def test_build_args_override_platform_args() -> None:
    df = load(b"FROM --platform=$BUILDPLATFORM scratch\n")
    plan = df.plan(build_args={"BUILDPLATFORM": "linux/arm64"}, platform=Platform())
    assert plan.target.base == ScratchBase(Platform("linux", "arm64"))
    assert plan.warnings == ()


@pytest.mark.parametrize(("text", "expected"), [
    ("linux/amd64", Platform("linux", "amd64")),
    ("linux/arm64/v8", Platform("linux", "arm64")),
    ("linux/arm", Platform("linux", "arm", "v7")),
    ("linux/arm/v6", Platform("linux", "arm", "v6")),
    ("arm64", Platform("linux", "arm64")),
    ("LINUX/X86_64", Platform("linux", "amd64")),
])
def test_platform_parsing(text: str, expected: Platform) -> None:
    assert Platform.parse(text) == expected


@pytest.mark.parametrize("text", ["", "linux/", "a/b/c/d", "plan10/amd64", "nonsense"])
def test_platform_parsing_errors(text: str) -> None:
    with pytest.raises(ValueError):
        Platform.parse(text)


def test_host_platform_is_linux() -> None:
    assert Platform.host().os == "linux"
    assert str(Platform("linux", "arm", "v7")) == "linux/arm/v7"
