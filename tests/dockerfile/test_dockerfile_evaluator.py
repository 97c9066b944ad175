"""The evaluator, each test written from Docker's documented behaviour
(Dockerfile reference: ARG, ENV, ONBUILD, SHELL, multi-stage builds, heredocs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from minidock.dockerfile import (
    BuildPlan,
    CopyEffect,
    ImageBase,
    Platform,
    RunEffect,
    StageBase,
    StageEvaluation,
    Step,
    WorkdirEffect,
    load,
)
from minidock.dockerfile.evaluator import DEFAULT_PATH
from minidock.errors import DockerfileError

AMD64 = Platform("linux", "amd64")
BASE_CONFIG = {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"], "Cmd": ["/bin/sh"]}


def build(text: str, build_args: Mapping[str, str] | None = None, target: str | None = None,
          images: Mapping[str, dict[str, Any]] | None = None,
          ) -> tuple[BuildPlan, dict[int, StageEvaluation]]:
    """Plan and evaluate every needed stage, as the builder would (without executing)."""
    plan = load(text.encode()).plan(target, build_args, platform=AMD64, build_platform=AMD64)
    results: dict[int, StageEvaluation] = {}
    for planned in plan.stages:
        if isinstance(planned.base, StageBase):
            base: dict[str, Any] | None = results[planned.base.index].state.image_config()
        elif isinstance(planned.base, ImageBase):
            base = (images or {}).get(planned.base.ref, BASE_CONFIG)
        else:
            base = None
        results[planned.stage.index] = plan.evaluate(planned, base)
    return plan, results


def steps(text: str, **kwargs: Any) -> list[Step]:
    plan, results = build(text, **kwargs)
    return list(results[plan.target.stage.index].steps)


def last(text: str, **kwargs: Any) -> StageEvaluation:
    plan, results = build(text, **kwargs)
    return results[plan.target.stage.index]


def run_effect(step: Step) -> RunEffect:
    effect = step.effects[0]
    assert isinstance(effect, RunEffect)
    return effect


def env_of(step: Step) -> dict[str, str]:
    return dict(entry.split("=", 1) for entry in run_effect(step).env)


# ---- ARG scoping ---------------------------------------------------------------------------

def test_arg_before_from_is_only_visible_to_from() -> None:
    text = "ARG VERSION=latest\nFROM busybox:$VERSION\nRUN echo $VERSION\n"
    plan, results = build(text)
    assert plan.target.base == ImageBase("busybox:latest", AMD64)
    run = results[0].steps[0]
    assert "VERSION" not in env_of(run)
    assert run.history == "/bin/sh -c echo $VERSION"


def test_arg_redeclared_in_stage_takes_the_global_value() -> None:
    text = "ARG VERSION=latest\nFROM busybox:$VERSION\nARG VERSION\nRUN echo $VERSION > v\n"
    run = steps(text)[1]
    assert env_of(run)["VERSION"] == "latest"
    assert run.history == "|1 VERSION=latest /bin/sh -c echo $VERSION > v"
    assert steps(text)[0].history == "/bin/sh -c #(nop)  ARG VERSION"


def test_build_arg_overrides_global_and_stage_defaults() -> None:
    text = "ARG V=global\nFROM busybox:$V\nARG V\nARG W=default\nRUN make\n"
    plan, results = build(text, build_args={"V": "cli", "W": "cli-w"})
    assert plan.target.base == ImageBase("busybox:cli", AMD64)
    run = results[0].steps[2]
    assert run.history == "|2 V=cli W=cli-w /bin/sh -c make"
    # history of the ARG records the Dockerfile default, not the override
    assert results[0].steps[1].history == "/bin/sh -c #(nop)  ARG W=default"


def test_arg_default_is_expanded_with_earlier_values() -> None:
    text = "FROM a\nENV BASE=/opt\nARG DIR=$BASE/app OTHER=${DIR}/bin\nWORKDIR $OTHER\n"
    result = last(text)
    assert result.state.config["WorkingDir"] == "/opt/app/bin"
    assert result.steps[1].history == "/bin/sh -c #(nop)  ARG DIR=/opt/app OTHER=/opt/app/bin"


def test_using_an_arg_before_its_declaration_gives_the_default() -> None:
    # reference example: USER ${username:-some_user} / ARG username / USER $username
    text = "FROM busybox\nUSER ${username:-some_user}\nARG username\nUSER $username\n"
    result = last(text, build_args={"username": "what_user"})
    assert result.steps[0].state.config["User"] == "some_user"
    assert result.state.config["User"] == "what_user"


def test_arg_goes_out_of_scope_at_the_end_of_its_stage() -> None:
    text = "FROM a AS one\nARG SETTING=x\nRUN echo\nFROM a\nRUN echo $SETTING\n"
    run = steps(text)[0]
    assert "SETTING" not in env_of(run)
    assert run.history == "/bin/sh -c echo $SETTING"


def test_env_shadows_arg_of_the_same_name() -> None:
    # reference example: ARG CONT_IMG_VER / ENV CONT_IMG_VER=v1.0.0 / RUN echo $CONT_IMG_VER
    text = "FROM ubuntu\nARG CONT_IMG_VER\nENV CONT_IMG_VER=v1.0.0\nRUN echo $CONT_IMG_VER\n"
    run = steps(text, build_args={"CONT_IMG_VER": "v2.0.1"})[2]
    assert env_of(run)["CONT_IMG_VER"] == "v1.0.0"
    assert run.effects[0].env.count("CONT_IMG_VER=v1.0.0") == 1  # type: ignore[union-attr]
    assert run.history == "/bin/sh -c echo $CONT_IMG_VER"


def test_env_from_arg_with_fallback() -> None:
    # reference example: ENV CONT_IMG_VER=${CONT_IMG_VER:-v1.0.0}
    text = ("FROM ubuntu\nARG CONT_IMG_VER\nENV CONT_IMG_VER=${CONT_IMG_VER:-v1.0.0}\n"
            "RUN echo $CONT_IMG_VER\n")
    assert last(text).state.config["Env"][-1] == "CONT_IMG_VER=v1.0.0"
    assert last(text, build_args={"CONT_IMG_VER": "v2.0.1"}).state.config["Env"][-1] == (
        "CONT_IMG_VER=v2.0.1")


def test_arg_values_never_reach_the_image_config() -> None:
    config = last("FROM a\nARG SECRET=x\nRUN true\n").state.image_config()
    assert not any(entry.startswith("SECRET") for entry in config["Env"])


def test_env_expansions_see_the_environment_before_the_instruction() -> None:
    text = "FROM a\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc\n"
    env = last(text).state.config["Env"]
    assert env[-3:] == ["abc=bye", "def=hello", "ghi=bye"]


def test_proxy_args_reach_run_but_not_history_unless_declared() -> None:
    text = "FROM ubuntu\nRUN echo Hello World\n"
    run = steps(text, build_args={"HTTP_PROXY": "http://proxy:3128"})[0]
    assert env_of(run)["HTTP_PROXY"] == "http://proxy:3128"
    assert "proxy:3128" not in run.created_by()
    assert "proxy:3128" not in run.cache_text()

    declared = steps("FROM ubuntu\nARG HTTP_PROXY\nRUN echo Hello World\n",
                     build_args={"HTTP_PROXY": "http://proxy:3128"})[1]
    assert declared.history == "|1 HTTP_PROXY=http://proxy:3128 /bin/sh -c echo Hello World"


def test_proxy_args_are_never_reported_unused() -> None:
    plan, _ = build("FROM a\n", build_args={"no_proxy": "x", "FTP_PROXY": "y"})
    assert plan.warnings == ()


def test_unused_build_args_warning() -> None:
    plan, _ = build("ARG USED\nFROM a\nARG ALSO\n",
                    build_args={"foo": "1", "USED": "2", "ALSO": "3", "bar": "4"})
    assert plan.warnings == ("[Warning] One or more build-args [bar foo] were not consumed",)


def test_args_of_stages_not_built_are_not_consumed() -> None:
    text = "FROM a AS unused\nARG ONLY_THERE\nFROM a AS final\nRUN true\n"
    plan, _ = build(text, build_args={"ONLY_THERE": "1"})
    assert plan.warnings == ("[Warning] One or more build-args [ONLY_THERE] were not consumed",)


def test_platform_args_are_predefined_globals() -> None:
    text = ("FROM --platform=$BUILDPLATFORM golang AS build\nARG TARGETOS TARGETARCH\n"
            "RUN echo $TARGETOS/$TARGETARCH $BUILDARCH\n")
    plan, results = build(text)
    assert plan.target.base == ImageBase("golang", AMD64)
    run = results[0].steps[1]
    env = env_of(run)
    assert (env["TARGETOS"], env["TARGETARCH"]) == ("linux", "amd64")
    assert "BUILDARCH" not in env  # not redeclared in the stage
    assert run.history == "|2 TARGETARCH=amd64 TARGETOS=linux /bin/sh -c " \
                          "echo $TARGETOS/$TARGETARCH $BUILDARCH"


def test_target_platform_selects_the_base_platform() -> None:
    df = load(b"FROM --platform=$TARGETPLATFORM alpine\nARG TARGETPLATFORM TARGETVARIANT\n")
    plan = df.plan(platform=Platform("linux", "arm", "v7"), build_platform=AMD64)
    assert plan.target.base == ImageBase("alpine", Platform("linux", "arm", "v7"))
    state = plan.evaluate(plan.target, BASE_CONFIG).state
    assert state.arg_values == {"TARGETPLATFORM": "linux/arm/v7", "TARGETVARIANT": "v7"}


# ---- history text -------------------------------------------------------------------------

def test_history_text_matches_the_classic_builder() -> None:
    text = ("FROM nginx\nEXPOSE 443\nCMD [\"nginx\", \"-g\", \"daemon off;\"]\nWORKDIR /app\n"
            "ENV A=b\nARG FOO=bar\nRUN make\nLABEL a=1 b=\"two words\"\nUSER www\n"
            "VOLUME /data /logs\nSTOPSIGNAL SIGQUIT\nSHELL [\"/bin/bash\", \"-c\"]\n"
            "ONBUILD RUN echo child\nMAINTAINER me <me@example.com>\n"
            "HEALTHCHECK --interval=5m --timeout=3s CMD curl -f http://localhost/ || exit 1\n"
            "ENTRYPOINT [\"/entry\"]\nRUN [\"echo\", \"exec\"]\n")
    got = [step.created_by() for step in steps(text)]
    assert got == [
        "/bin/sh -c #(nop)  EXPOSE 443",
        '/bin/sh -c #(nop)  CMD ["nginx" "-g" "daemon off;"]',
        "/bin/sh -c #(nop) WORKDIR /app",
        "/bin/sh -c #(nop)  ENV A=b",
        "/bin/sh -c #(nop)  ARG FOO=bar",
        "|1 FOO=bar /bin/sh -c make",
        "/bin/sh -c #(nop)  LABEL a=1 b=two words",
        "/bin/sh -c #(nop)  USER www",
        "/bin/sh -c #(nop)  VOLUME [/data /logs]",
        "/bin/sh -c #(nop)  STOPSIGNAL SIGQUIT",
        "/bin/sh -c #(nop)  SHELL [/bin/bash -c]",
        "/bin/sh -c #(nop)  ONBUILD RUN echo child",
        "/bin/sh -c #(nop)  MAINTAINER me <me@example.com>",
        '/bin/sh -c #(nop)  HEALTHCHECK &{["CMD-SHELL" "curl -f http://localhost/ || exit 1"] '
        '"5m0s" "3s" "0s" "0s" \'\\x00\'}',
        '/bin/sh -c #(nop)  ENTRYPOINT ["/entry"]',
        "|1 FOO=bar echo exec",
    ]


def test_run_without_build_args_in_scope() -> None:
    assert steps("FROM a\nRUN make\n")[0].history == "/bin/sh -c make"


def test_only_run_copy_add_and_workdir_make_layers() -> None:
    text = "FROM a\nENV X=1\nRUN true\nCOPY a b\nADD c d\nWORKDIR /w\nWORKDIR /\nLABEL l=1\n"
    assert [step.empty_layer for step in steps(text)] == [True, False, False, False, False,
                                                           True, True]


def test_copy_history_needs_the_source_hash() -> None:
    text = "FROM a\nWORKDIR /app\nCOPY --chown=1000:1000 . .\nADD x.tgz /opt/\n"
    copy_step, add_step = steps(text)[1:]
    assert copy_step.history is None
    with pytest.raises(ValueError):
        copy_step.created_by()
    assert copy_step.created_by("dir:0123abcd") == (
        "/bin/sh -c #(nop) COPY --chown=1000:1000dir:0123abcd in . ")
    assert add_step.created_by("file:99") == "/bin/sh -c #(nop) ADD file:99 in /opt/ "


def test_cache_text_of_run_includes_arg_values() -> None:
    text = "FROM a\nARG V\nRUN make\n"
    one = steps(text, build_args={"V": "1"})[1].cache_text()
    two = steps(text, build_args={"V": "2"})[1].cache_text()
    assert one != two and "V=1" in one and "V=2" in two


def test_cache_text_of_copy_includes_options_and_hash() -> None:
    plain = steps("FROM a\nCOPY a /b\n")[0]
    chmod = steps("FROM a\nCOPY --chmod=0600 a /b\n")[0]
    assert plain.cache_text("file:1") != chmod.cache_text("file:1")
    assert plain.cache_text("file:1") != plain.cache_text("file:2")


# ---- config changes -----------------------------------------------------------------------

def test_entrypoint_clears_an_inherited_cmd_but_not_its_own_stage_cmd() -> None:
    inherited = last("FROM a\nENTRYPOINT [\"/e\"]\n").state.config
    assert "Cmd" not in inherited and inherited["Entrypoint"] == ["/e"]
    own = last("FROM a\nCMD [\"x\"]\nENTRYPOINT [\"/e\"]\n").state.config
    assert own["Cmd"] == ["x"] and own["Entrypoint"] == ["/e"]


def test_workdir_is_resolved_and_created() -> None:
    result = last("FROM a\nWORKDIR /a\nWORKDIR b\nWORKDIR ../c/./d\nUSER app\nWORKDIR e\n")
    assert result.state.config["WorkingDir"] == "/a/c/d/e"
    assert result.steps[1].effects == (WorkdirEffect("/a/b", ""),)
    assert result.steps[-1].effects == (WorkdirEffect("/a/c/d/e", "app"),)


def test_copy_destination_is_resolved_against_workdir() -> None:
    text = ("FROM a\nWORKDIR /app\nCOPY a .\nCOPY a sub/\nCOPY a sub/file\nCOPY a /abs/\n"
            "COPY a ../x\n")
    dests = [s.copy_effect.dest for s in steps(text)[1:]]  # type: ignore[union-attr]
    assert dests == ["/app/", "/app/sub/", "/app/sub/file", "/abs/", "/x"]


def test_copy_expands_sources_dest_chown_and_chmod() -> None:
    text = "FROM a\nENV SRC=src D=/dst U=1000 M=0640\nCOPY --chown=$U:$U --chmod=$M $SRC/* $D\n"
    effect = steps(text)[1].copy_effect
    assert effect is not None
    assert (effect.sources, effect.dest, effect.chown) == (("src/*",), "/dst", "1000:1000")
    assert effect.chmod is not None and effect.chmod.octal == 0o640


def test_chmod_from_a_variable_is_validated_after_expansion() -> None:
    with pytest.raises(DockerfileError) as info:
        build("FROM a\nARG M=bogus\nCOPY --chmod=$M a b\n")
    assert str(info.value).startswith("Dockerfile:3: invalid chmod parameter: 'bogus'")


def test_expose_splits_variables_into_several_ports() -> None:
    text = 'FROM a\nENV PORTS="80 443/udp"\nEXPOSE $PORTS 8000-8002\n'
    result = last(text)
    assert result.state.config["ExposedPorts"] == {
        "80/tcp": {}, "443/udp": {}, "8000/tcp": {}, "8001/tcp": {}, "8002/tcp": {}}


@pytest.mark.parametrize(("text", "message"), [
    ("EXPOSE 80/xyz", "invalid proto: xyz"),
    ("EXPOSE 70000", "invalid containerPort: 70000"),
    ("STOPSIGNAL SIGFOO", "Invalid signal: SIGFOO"),
    ("ENV A=${B", "missing '}'"),
    ("VOLUME $EMPTY", "VOLUME specified can not be an empty string"),
    ("ENV ${EMPTY}=x", "ENV names can not be blank"),
])
def test_values_rejected_at_evaluation_with_the_line(text: str, message: str) -> None:
    with pytest.raises(DockerfileError) as info:
        build("FROM a\n" + text + "\n")
    assert str(info.value).startswith("Dockerfile:2: ")
    assert message in str(info.value)


def test_labels_volumes_user_stopsignal() -> None:
    text = ('FROM a\nLABEL version="1.0" description="two words"\nVOLUME ["/data"]\n'
            "USER 1000:1000\nSTOPSIGNAL 9\n")
    config = last(text, images={"a": {"Labels": {"base": "yes"}}}).state.config
    assert config["Labels"] == {"base": "yes", "version": "1.0", "description": "two words"}
    assert config["Volumes"] == {"/data": {}}
    assert (config["User"], config["StopSignal"]) == ("1000:1000", "9")


def test_path_is_added_when_the_base_has_none() -> None:
    assert last("FROM a\n", images={"a": {}}).state.config["Env"] == ["PATH=" + DEFAULT_PATH]
    scratch = last("FROM scratch\nCOPY a /a\n").state.config
    assert scratch == {"Env": ["PATH=" + DEFAULT_PATH], "WorkingDir": "/"}


def test_image_config_is_a_private_copy() -> None:
    result = last("FROM a\nENV A=1\n")
    config = result.state.image_config()
    config["Env"].append("B=2")
    assert result.state.config["Env"][-1] == "A=1"


def test_states_are_not_changed_by_evaluation() -> None:
    result = last("FROM a\nENV A=1\nLABEL x=y\nENV A=2\n")
    assert result.start.config == {"Env": BASE_CONFIG["Env"], "Cmd": ["/bin/sh"]}
    assert [s.state.config["Env"][-1] for s in result.steps] == ["A=1", "A=1", "A=2"]


# ---- SHELL ------------------------------------------------------------------------------------

def test_shell_changes_shell_form_wrapping_only() -> None:
    text = ('FROM a\nSHELL ["/bin/bash", "-o", "pipefail", "-c"]\nRUN echo $0 | cat\n'
            'RUN ["echo", "exec"]\nCMD serve --port 80\nENTRYPOINT ["/entry"]\n')
    result = last(text)
    run_shell, run_exec = result.steps[1], result.steps[2]
    assert run_effect(run_shell).argv == ("/bin/bash", "-o", "pipefail", "-c", "echo $0 | cat")
    assert run_effect(run_exec).argv == ("echo", "exec")
    assert result.state.config["Shell"] == ["/bin/bash", "-o", "pipefail", "-c"]
    assert result.state.config["Cmd"] == ["/bin/bash", "-o", "pipefail", "-c", "serve --port 80"]
    assert run_shell.history == "/bin/bash -o pipefail -c echo $0 | cat"


def test_shell_is_inherited_from_the_base_image() -> None:
    images = {"win": {"Shell": ["pwsh", "-Command"], "Env": ["PATH=/x"]}}
    run = steps("FROM win\nRUN Get-Date\n", images=images)[0]
    assert run_effect(run).argv == ("pwsh", "-Command", "Get-Date")


# ---- RUN details ------------------------------------------------------------------------------

def test_run_effect_carries_env_workdir_user_and_mounts() -> None:
    text = ("FROM a AS deps\nRUN true\nFROM a\nENV HOME=/root\nWORKDIR /src\nUSER 1000\n"
            "ARG CACHE=/root/.cache\n"
            "RUN --mount=type=cache,target=$CACHE --mount=from=deps,source=/x,target=in "
            "--network=none make\n")
    run = steps(text)[-1]
    effect = run_effect(run)
    assert effect.workdir == "/src" and effect.user == "1000"
    assert effect.env == ("PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/root",
                          "CACHE=/root/.cache")
    cache, bind = effect.mounts
    assert (cache.type, cache.target, cache.id, cache.sharing) == (
        "cache", "/root/.cache", "/root/.cache", "shared")
    assert (bind.type, bind.target, bind.source, bind.from_stage) == ("bind", "/src/in", "/x", 0)
    assert effect.network == "none"
    assert "network=none" in run.cache_text()


def test_run_mount_from_an_image() -> None:
    effect = run_effect(steps("FROM a\nRUN --mount=from=busybox,target=/bb ls /bb\n")[0])
    assert effect.mounts[0].from_image == "busybox"
    assert effect.mounts[0].from_stage is None


# ---- heredocs ---------------------------------------------------------------------------------

def test_run_single_heredoc_runs_its_body_with_the_shell() -> None:
    text = "FROM a\nRUN <<EOF\napt-get update\napt-get install -y curl\nEOF\n"
    effect = run_effect(steps(text)[0])
    assert effect.argv == ("/bin/sh", "-c", "apt-get update\napt-get install -y curl\n")
    assert effect.files == ()


def test_run_heredoc_with_shebang_becomes_a_script_file() -> None:
    text = "FROM a\nRUN <<-EOF\n\t#!/usr/bin/env python3\n\tprint('hi')\n\tEOF\n"
    effect = run_effect(steps(text)[0])
    assert effect.argv == ("/bin/sh", "-c", "/dev/pipes/EOF")
    assert len(effect.files) == 1
    script = effect.files[0]
    assert (script.path, script.data, script.mode) == (
        "/dev/pipes/EOF", b"#!/usr/bin/env python3\nprint('hi')\n", 0o755)


def test_run_complex_heredoc_is_handed_to_the_shell() -> None:
    text = "FROM a\nRUN python3 <<EOF > /out\nprint(1)\nEOF\n"
    effect = run_effect(steps(text)[0])
    assert effect.argv == ("/bin/sh", "-c", "python3 <<EOF > /out\nprint(1)\nEOF")


def test_run_heredoc_bodies_are_not_expanded_by_the_builder() -> None:
    text = "FROM a\nENV NAME=x\nRUN <<EOF\necho $NAME\nEOF\n"
    assert run_effect(steps(text)[1]).argv[-1] == "echo $NAME\n"


def test_copy_heredoc_is_expanded_unless_the_delimiter_is_quoted() -> None:
    text = ("FROM a\nARG NAME=world\nCOPY <<EOF <<'RAW' /etc/\nhello $NAME \"quoted\" \\$HOME\n"
            "EOF\nhello $NAME\nRAW\nCOPY <<-EOF /tabbed\n\tindented\n\tEOF\n")
    copy_step, tabbed = steps(text)[1:]
    effect = copy_step.copy_effect
    assert effect is not None and effect.sources == ()
    assert [(f.path, f.data) for f in effect.files] == [
        ("EOF", b'hello world "quoted" $HOME\n'),
        ("RAW", b"hello $NAME\n"),
    ]
    assert effect.dest == "/etc/"
    assert tabbed.copy_effect.files[0].data == b"indented\n"  # type: ignore[union-attr]


# ---- ONBUILD --------------------------------------------------------------------------------

def test_onbuild_records_triggers_without_running_them() -> None:
    text = "FROM a\nONBUILD ADD . /app/src\nONBUILD RUN /usr/local/bin/python-build --dir /app\n"
    result = last(text)
    assert result.state.config["OnBuild"] == [
        "ADD . /app/src", "RUN /usr/local/bin/python-build --dir /app"]
    assert all(not step.effects for step in result.steps)


def test_onbuild_triggers_fire_in_a_stage_built_from_the_stage() -> None:
    text = ("FROM a AS base\nONBUILD ARG FLAVOR=plain\nONBUILD RUN build --flavor $FLAVOR\n"
            "FROM base\nRUN test\n")
    plan, results = build(text)
    child = results[1]
    assert [type(s.instruction).__name__ for s in child.steps] == ["Arg", "Run", "Run"]
    assert [s.triggered for s in child.steps] == [True, True, False]
    assert run_effect(child.steps[1]).argv[-1] == "build --flavor $FLAVOR"
    assert env_of(child.steps[1])["FLAVOR"] == "plain"
    # triggers run once: they are not passed on to images built from this one
    assert "OnBuild" not in child.state.config
    assert child.steps[0].instruction.line == 4  # reported at the FROM that fired it


def test_onbuild_triggers_of_a_base_image_fire() -> None:
    images = {"python:onbuild": {"Env": ["PATH=/bin"], "OnBuild": [
        "COPY requirements.txt /app/", "RUN <<EOF\npip install -r /app/requirements.txt\nEOF"]}}
    result = last("FROM python:onbuild\nCMD [\"app\"]\n", images=images)
    first, second, own = result.steps
    assert first.triggered and second.triggered and not own.triggered
    assert first.copy_effect is not None and first.copy_effect.dest == "/app/"
    assert run_effect(second).argv[-1] == "pip install -r /app/requirements.txt\n"
    assert "OnBuild" not in result.state.config


def test_a_broken_trigger_fails_at_the_from_line() -> None:
    images = {"bad": {"OnBuild": ["RUNN make"]}}
    with pytest.raises(DockerfileError) as info:
        build("# comment\nFROM bad\n", images=images)
    assert info.value.line == 2
    assert "unknown instruction: RUNN" in str(info.value)


@pytest.mark.parametrize("config", [{"Env": "PATH=/bin"}, {"OnBuild": [1]}, {"Labels": []},
                                    {"WorkingDir": 5}])
def test_a_malformed_base_config_is_reported_not_crashed_on(config: dict[str, Any]) -> None:
    with pytest.raises(DockerfileError) as info:
        build("FROM weird\n", images={"weird": config})
    assert str(info.value).startswith("Dockerfile:1: invalid base image config: ")


def test_onbuild_copy_from_a_stage_makes_it_a_dependency() -> None:
    text = ("FROM a AS assets\nRUN make\nFROM a AS base\nONBUILD COPY --from=assets /x /x\n"
            "FROM a AS unrelated\nFROM base\n")
    plan, _ = build(text)
    assert [p.stage.index for p in plan.stages] == [0, 1, 3]


# ---- multi-stage ------------------------------------------------------------------------------

MULTI = """\
FROM golang AS Build
RUN go build -o /out/app
FROM alpine AS test
RUN run-tests
FROM build AS debug
RUN extra
FROM alpine
COPY --from=BUILD /out/app /usr/bin/app
COPY --from=0 /out/app /usr/bin/app0
COPY --from=nginx:latest /etc/nginx/nginx.conf /etc/
"""


def test_plan_builds_only_what_the_target_needs_in_order() -> None:
    plan, results = build(MULTI)
    assert [p.stage.index for p in plan.stages] == [0, 3]
    copies = [s.copy_effect for s in results[3].steps]
    assert [(c.from_stage, c.from_image) for c in copies if c] == [
        (0, None), (0, None), (None, "nginx:latest")]


def test_target_selects_a_stage_by_case_insensitive_name() -> None:
    plan, _ = build(MULTI, target="DEBUG")
    assert [p.stage.index for p in plan.stages] == [0, 2]
    assert plan.target.base == StageBase(0)
    plan, _ = build(MULTI, target="test")
    assert [p.stage.index for p in plan.stages] == [1]


def test_stage_built_from_a_stage_inherits_its_config() -> None:
    text = "FROM a AS one\nENV FROM_ONE=1\nWORKDIR /w\nFROM one\nRUN pwd\n"
    run = steps(text)[0]
    assert env_of(run)["FROM_ONE"] == "1"
    assert run_effect(run).workdir == "/w"


def test_unknown_target() -> None:
    with pytest.raises(DockerfileError, match="target stage \"tset\" could not be found "
                                              "\\(did you mean test\\?\\)"):
        build(MULTI, target="tset")


@pytest.mark.parametrize(("text", "message"), [
    ("FROM a AS first\nCOPY --from=later /x /x\nFROM a AS later\n", "cannot copy from stage"),
    ("FROM a AS first\nCOPY --from=first /x /x\n", "cannot copy from stage"),
    ("FROM a AS first\nCOPY --from=5 /x /x\n", "invalid stage index 5"),
    ("FROM a AS first\nRUN --mount=from=1,target=/x true\nFROM b\n", "cannot mount from stage"),
])
def test_stage_references_must_point_backwards(text: str, message: str) -> None:
    with pytest.raises(DockerfileError) as info:
        build(text, target="first")
    assert message in str(info.value)
    assert info.value.line == 2


def test_forward_references_in_stages_not_built_are_ignored() -> None:
    text = "FROM a AS odd\nCOPY --from=later /x /x\nFROM a AS later\nRUN true\n"
    plan, _ = build(text, target="later")
    assert [p.stage.index for p in plan.stages] == [1]


def test_from_with_an_empty_base_name() -> None:
    with pytest.raises(DockerfileError) as info:
        build("ARG IMAGE\nFROM $IMAGE\n")
    assert str(info.value) == "Dockerfile:2: base name ($IMAGE) should not be blank"


def test_from_platform_must_parse() -> None:
    with pytest.raises(DockerfileError, match="failed to parse platform"):
        build("FROM --platform=linux/amd64/v1/x a\n")


def test_evaluating_from_directly_is_a_programming_error() -> None:
    plan = load(b"FROM a\n").plan(platform=AMD64, build_platform=AMD64)
    state = plan.evaluate(plan.target, BASE_CONFIG).state
    from minidock.dockerfile import evaluate

    with pytest.raises(TypeError):
        evaluate(plan.target.stage.from_, state, plan.context)


def test_copy_effect_from_add_keeps_add_flags() -> None:
    digest = "sha256:" + "b" * 64
    effect = steps(f"FROM a\nADD --checksum={digest} --unpack=false https://x/y.tgz /y\n")[0] \
        .copy_effect
    assert isinstance(effect, CopyEffect)
    assert (effect.is_add, effect.checksum, effect.unpack, effect.keep_git_dir) == (
        True, digest, False, None)


def test_absolute_workdir_keeps_its_trailing_slash() -> None:
    # BuildKit and buildah keep `WORKDIR /tmp/` as written; a relative one is joined
    result = last("FROM a\nWORKDIR /tmp/\nRUN pwd\nWORKDIR sub/\n")
    assert result.steps[0].state.config["WorkingDir"] == "/tmp/"
    assert result.steps[0].history == "/bin/sh -c #(nop) WORKDIR /tmp/"
    assert result.steps[0].effects == (WorkdirEffect("/tmp", ""),)
    assert result.state.config["WorkingDir"] == "/tmp/sub"


def test_ssh_mounts_are_numbered_per_run() -> None:
    result = last("FROM a\nRUN --mount=type=ssh --mount=type=cache,target=/c "
                  "--mount=type=ssh,id=gh true\n")
    targets = [(m.type, m.id, m.target) for m in run_effect(result.steps[0]).mounts]
    assert targets == [("ssh", "default", "/run/buildkit/ssh_agent.0"),
                       ("cache", "/c", "/c"), ("ssh", "gh", "/run/buildkit/ssh_agent.1")]
