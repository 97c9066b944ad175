"""Typed instructions and the errors Docker reports before running anything."""

from __future__ import annotations

import pytest

from minidock.dockerfile import (
    Add,
    Arg,
    ArgDecl,
    Copy,
    From,
    Healthcheck,
    InlineSource,
    Instruction,
    KeyValue,
    Onbuild,
    Run,
    build_instruction,
    load,
    parse,
)
from minidock.dockerfile.mounts import Mount, MountError, parse_mount, resolve_defaults
from minidock.errors import DockerfileError


def instruction(text: str) -> Instruction:
    """The second instruction of `FROM a` + text."""
    node = parse(("FROM a\n" + text + "\n").encode()).nodes[1]
    return build_instruction(node)


def error_of(text: str) -> str:
    with pytest.raises(DockerfileError) as info:
        load(text.encode())
    return str(info.value)


# ---- error messages ----------------------------------------------------------------------

def test_unknown_instruction_suggests_the_closest_one() -> None:
    text = "FROM a\n\n\n\n\nENV A=b\nRUNN make\n"
    assert error_of(text) == "Dockerfile:7: unknown instruction: RUNN (did you mean RUN?)"


def test_unknown_instruction_without_a_close_match() -> None:
    assert error_of("FROM a\nXYZZY q\n") == "Dockerfile:2: unknown instruction: XYZZY"


def test_unknown_instruction_is_reported_before_its_flags() -> None:
    assert error_of("FROM a\ncopyy --chown=1 a b\n").startswith(
        "Dockerfile:2: unknown instruction: COPYY (did you mean COPY?)")


def test_blank_env_name() -> None:
    assert error_of("FROM a\n\nENV =value\n") == "Dockerfile:3: ENV names can not be blank"


@pytest.mark.parametrize(("text", "message"), [
    ("RUN --foo=bar make", "unknown flag: --foo"),
    ("RUN --from=x make", "unknown flag: --from"),
    ("COPY --form=x a b", "unknown flag: --form (did you mean --from?)"),
    ("ADD --from=x a b", "unknown flag: --from"),
    ("ENV --x=1 A=b", "unknown flag: --x"),
    ("COPY --link=maybe a b", "expecting boolean value for flag --link, not: maybe"),
    ("COPY --link= a b", "missing a value on flag: --link"),
    ("COPY --from a b", "missing a value on flag: --from"),
    ("COPY --from=x --from=y a b", "duplicate flag specified: --from"),
    ("COPY --chmod=xyz a b",
     "invalid chmod parameter: 'xyz'"),
    ("COPY --chmod=0999 a b",
     "invalid chmod parameter: '0999'. it should be octal string and between 0 and 07777"),
    ("COPY --chmod=17777 a b",
     "invalid chmod parameter: '17777'. it should be octal string and between 0 and 07777"),
    ("RUN --mount=type=bogus make", 'unsupported mount type "bogus"'),
    ("RUN --mount=type=cache,sharing=sometimes,target=/c make",
     'unsupported sharing value "sometimes"'),
    ("RUN --mount=type=bind,size=1m,target=/c make", "unexpected key 'size' for mount type"),
    ("RUN --mount=type=cache,colour=red,target=/c make", "unexpected key 'colour'"),
    ("RUN --mount=type=cache,from=$X,target=/c make", "'from' doesn't support variable"),
    ("RUN --mount=type=secret,id=a,sharing=locked make",
     "secret mount should not define sharing"),
    ("RUN --mount=type=tmpfs,target=/t,sharing=locked make",
     "invalid cache sharing set for tmpfs mount"),
    ("RUN --network=wifi make", 'invalid network mode "wifi"'),
    ("RUN --security=loose make", 'security "loose" is not valid'),
    ("HEALTHCHECK --interval=abc CMD true", 'invalid --interval value: time: invalid duration'),
    ("HEALTHCHECK --timeout=10 CMD true", "missing unit in duration"),
    ("HEALTHCHECK --interval=1us CMD true", 'Interval "interval" cannot be less than 1ms'),
    ("HEALTHCHECK --retries=x CMD true", 'invalid --retries value: "x" is not an integer'),
    ("HEALTHCHECK --retries=-1 CMD true", "--retries cannot be negative (-1)"),
    ("HEALTHCHECK --start-periods=1s CMD true", "unknown flag: --start-periods"),
    ("HEALTHCHECK", "HEALTHCHECK requires at least one argument"),
    ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
    ("HEALTHCHECK NONE now", "HEALTHCHECK NONE takes no arguments"),
    ("HEALTHCHECK CONNECT TCP 7000", 'Unknown type "CONNECT" in HEALTHCHECK (try CMD)'),
    ("COPY onlyone", "COPY requires at least two arguments, but only one was provided. "
                     "Destination could not be determined"),
    ("ADD onlyone", "ADD requires at least two arguments"),
    ("COPY a <<EOF\nx\nEOF", "COPY cannot accept a heredoc as a destination"),
    ("COPY --from=${STAGE} /a /b", "variable expansion is not supported for --from"),
    ("ADD --checksum=md5:abc http://x/y /z", "invalid checksum digest format"),
    ("EXPOSE", "EXPOSE requires at least one argument"),
    ("VOLUME", "VOLUME requires at least one argument"),
    ('VOLUME [""]', "VOLUME specified can not be an empty string"),
    ("USER", "USER requires exactly one argument"),
    ("WORKDIR", "WORKDIR requires exactly one argument"),
    ("STOPSIGNAL", "STOPSIGNAL requires exactly one argument"),
    ("MAINTAINER", "MAINTAINER requires exactly one argument"),
    ("ARG", "ARG requires at least one argument"),
    ("ARG =x", "ARG names can not be blank"),
    ("ENV", "ENV requires at least one argument"),
    ("LABEL", "LABEL requires at least one argument"),
    ("LABEL =x", "LABEL names can not be blank"),
    ("SHELL", "SHELL requires at least one argument"),
    ("SHELL /bin/bash -c", "SHELL requires the arguments to be in JSON form"),
    ("ONBUILD", "ONBUILD requires at least one argument"),
    ("ONBUILD ONBUILD RUN x", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ("ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger"),
    ("ONBUILD MAINTAINER me", "MAINTAINER isn't allowed as an ONBUILD trigger"),
])
def test_instruction_errors_carry_the_line(text: str, message: str) -> None:
    got = error_of("FROM a\n" + text + "\n")
    assert got.startswith("Dockerfile:2: ")
    assert message in got


@pytest.mark.parametrize(("text", "message"), [
    ("FROM", "FROM requires either one or three arguments"),
    ("FROM a b", "FROM requires either one or three arguments"),
    ("FROM a AS", "FROM requires either one or three arguments"),
    ("FROM a AS 1st", 'invalid name for build stage: "1st", name can\'t start with a number'),
    ("FROM a AS b!", 'invalid name for build stage: "b!"'),
    ("FROM --plattform=linux a", "unknown flag: --plattform"),
])
def test_from_errors(text: str, message: str) -> None:
    got = error_of(text + "\n")
    assert got.startswith("Dockerfile:1: ")
    assert message in got


# ---- the typed records -----------------------------------------------------------------

def test_from_with_stage_name_and_platform() -> None:
    ins = load(b"FROM --platform=$BUILDPLATFORM golang:1.22 As Builder\n").stages[0].from_
    assert ins == From(line=1, end_line=1,
                       original="FROM --platform=$BUILDPLATFORM golang:1.22 As Builder",
                       image="golang:1.22", stage_name="builder", platform="$BUILDPLATFORM")


def test_run_forms() -> None:
    shell = instruction("RUN echo $HOME  &&  true")
    assert isinstance(shell, Run) and shell.shell_form
    assert shell.command == ("echo $HOME  &&  true",)
    exec_form = instruction('RUN ["echo", "$HOME"]')
    assert isinstance(exec_form, Run) and not exec_form.shell_form
    assert exec_form.command == ("echo", "$HOME")


def test_run_flags_are_kept_for_evaluation() -> None:
    ins = instruction("RUN --mount=type=cache,target=/c --mount=type=tmpfs,target=/t "
                      "--network=none make")
    assert isinstance(ins, Run)
    assert ins.mounts == ("type=cache,target=/c", "type=tmpfs,target=/t")
    assert ins.network == "none"
    assert ins.mount_records() == (Mount(type="cache", target="/c"),
                                   Mount(type="tmpfs", target="/t"))


def test_copy_records_flags_sources_and_heredocs() -> None:
    ins = instruction("COPY --from=build --chown=app:app --chmod=0755 --link --exclude=*.md "
                      "--exclude=tmp a <<-CONF b /dest/\n\tkey=$V\nCONF")
    assert isinstance(ins, Copy)
    assert (ins.from_, ins.chown, ins.chmod, ins.link, ins.exclude) == (
        "build", "app:app", "0755", True, ("*.md", "tmp"))
    assert ins.sources == ("a", "b")
    assert ins.dest == "/dest/"
    assert ins.inline == (InlineSource(name="CONF", content="key=$V\n", expand=True),)


def test_add_specific_flags() -> None:
    digest = "sha256:" + "a" * 64
    ins = instruction(f"ADD --checksum={digest} --keep-git-dir=false --unpack "
                      "https://example.com/x.tgz /x")
    assert isinstance(ins, Add)
    assert (ins.checksum, ins.keep_git_dir, ins.unpack) == (digest, False, True)


def test_chmod_with_a_variable_is_checked_later() -> None:
    ins = instruction("COPY --chmod=$MODE a b")
    assert isinstance(ins, Copy) and ins.chmod == "$MODE"


def test_symbolic_chmod_is_accepted() -> None:
    ins = instruction("COPY --chmod=u=rwx,go+rX a b")
    assert isinstance(ins, Copy) and ins.chmod == "u=rwx,go+rX"


def test_env_and_label_pairs() -> None:
    assert instruction('ENV A=1 B="two words"').pairs == (  # type: ignore[attr-defined]
        KeyValue("A", "1"), KeyValue("B", '"two words"'))
    assert instruction("ENV A one two").pairs == (  # type: ignore[attr-defined]
        KeyValue("A", "one two", legacy=True),)


def test_arg_declarations() -> None:
    ins = instruction('ARG A B=2 C="x y" D=')
    assert isinstance(ins, Arg)
    assert ins.args == (ArgDecl("A"), ArgDecl("B", "2"), ArgDecl("C", '"x y"'), ArgDecl("D", ""))


def test_healthcheck_durations_are_nanoseconds() -> None:
    ins = instruction("HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=2s "
                      "--start-interval=1.5s --retries=4 CMD curl -f http://x/ || exit 1")
    assert isinstance(ins, Healthcheck)
    assert ins.test == ("CMD-SHELL", "curl -f http://x/ || exit 1")
    assert ins.config() == {
        "Test": ["CMD-SHELL", "curl -f http://x/ || exit 1"],
        "Interval": 90_000_000_000, "Timeout": 500_000_000, "StartPeriod": 2_000_000_000,
        "StartInterval": 1_500_000_000, "Retries": 4,
    }


def test_healthcheck_exec_form_and_none() -> None:
    assert instruction('HEALTHCHECK CMD ["pg_isready", "-q"]').test == (  # type: ignore
        "CMD", "pg_isready", "-q")
    none = instruction("HEALTHCHECK NONE")
    assert isinstance(none, Healthcheck)
    assert none.config() == {"Test": ["NONE"]}


def test_onbuild_keeps_the_trigger_text_with_heredoc_bodies() -> None:
    ins = instruction("onbuild  RUN <<EOF\necho hi\nEOF")
    assert isinstance(ins, Onbuild)
    assert ins.trigger == "RUN"
    assert ins.expression == "RUN <<EOF\necho hi\nEOF"


# ---- mounts -------------------------------------------------------------------------------

def test_mount_records_and_defaults() -> None:
    cache = resolve_defaults(parse_mount("type=cache,target=.cache,sharing=locked,uid=1000"),
                             "/work")
    assert cache == Mount(type="cache", target="/work/.cache", id="/work/.cache",
                          sharing="locked", readonly=False, uid=1000)
    bind = resolve_defaults(parse_mount("from=build,source=/out,target=/in"), "/")
    assert (bind.type, bind.from_ref, bind.source, bind.target, bind.readonly) == (
        "bind", "build", "/out", "/in", True)
    rw = parse_mount("type=bind,target=/x,rw")
    assert rw.readonly is False
    tmpfs = parse_mount("type=tmpfs,target=/t,size=64m")
    assert tmpfs.size == 64 << 20 and not tmpfs.readonly


def test_secret_mount_defaults() -> None:
    by_id = resolve_defaults(parse_mount("type=secret,id=aws,required"), "/")
    assert (by_id.id, by_id.target, by_id.required, by_id.readonly) == (
        "aws", "/run/secrets/aws", True, True)
    by_target = resolve_defaults(parse_mount("type=secret,target=/root/.netrc"), "/")
    assert (by_target.id, by_target.target) == (".netrc", "/root/.netrc")
    as_env = resolve_defaults(parse_mount("type=secret,id=tok,env=TOKEN"), "/")
    assert (as_env.target, as_env.env) == ("", "TOKEN")


@pytest.mark.parametrize(("spec", "message"), [
    ("type=secret", "invalid secret mount. one of source, target required"),
    ("type=secret,id=a,source=b", "both source and id can't be set"),
    ("type=secret,id=a,from=x", "secret mount should not have a from"),
    ("type=bind,target=/x,mode=0600", 'mode not allowed for "bind" type mounts'),
    ("type=cache,target=/x,uid=-1", "invalid value -1 for uid"),
    ("type=cache,target=/x,mode=999", "invalid value 999 for mode"),
    ("type=cache,target=/x,ro=maybe", "invalid value for ro: maybe"),
    ("required,type=secret,id=x", "unexpected key 'required' for mount type 'bind'"),
    ("type=cache,target", "invalid field 'target' must be a key=value pair"),
    ('type=cache,"target=/x', "failed to parse csv mounts"),
])
def test_mount_errors(spec: str, message: str) -> None:
    with pytest.raises(MountError, match=message.replace("(", "\\(").replace(")", "\\)")):
        resolve_defaults(parse_mount(spec, lambda v: v), "/")


def test_mount_target_is_required_except_for_secrets() -> None:
    with pytest.raises(MountError, match="mount target is required for type=cache"):
        resolve_defaults(parse_mount("type=cache,id=x"), "/")


def test_ssh_mount_defaults() -> None:
    # BuildKit: id "default", target /run/buildkit/ssh_agent.N numbered per RUN, optional
    plain = resolve_defaults(parse_mount("type=ssh"), "/")
    assert (plain.id, plain.target, plain.required) == (
        "default", "/run/buildkit/ssh_agent.0", False)
    second = resolve_defaults(parse_mount("type=ssh,id=gh,required,mode=0600"), "/", ssh_index=1)
    assert (second.id, second.target, second.required, second.mode) == (
        "gh", "/run/buildkit/ssh_agent.1", True, 0o600)
    with pytest.raises(MountError, match="ssh mount should not have a from"):
        parse_mount("type=ssh,from=x")
