"""Property tests: arbitrary input yields a result or a DockerfileError with a
line number -- never another exception, never a hang (hypothesis deadline)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minidock.dockerfile import (
    ExpansionError,
    IgnoreMatcher,
    Platform,
    dump,
    expand_word,
    expand_words,
    load,
    parse,
)
from minidock.dockerfile.evaluator import scratch_config
from minidock.errors import BuildError, DockerfileError

FUZZ = settings(max_examples=250, deadline=2000, suppress_health_check=[HealthCheck.too_slow])

# Pieces that exercise every branch of the parser when glued together.
_PIECES = [
    "FROM ", "RUN ", "COPY ", "ADD ", "ENV ", "LABEL ", "ARG ", "CMD ", "ENTRYPOINT ",
    "ONBUILD ", "HEALTHCHECK ", "SHELL ", "EXPOSE ", "VOLUME ", "WORKDIR ", "USER ",
    "STOPSIGNAL ", "MAINTAINER ", "FOO ", "AS ", "CMD ", "NONE", "--mount=type=cache,target=/c ",
    "--from=", "--chmod=", "--interval=", "--", "<<EOF", "<<-EOF", "<<'EOF'", "EOF", "\t",
    "\\", "`", "\n", "\r\n", " ", "#", "# escape=`\n", "# syntax=x\n", "[", "]", '"', "'",
    ",", "=", "$", "${", "}", ":-", "a", "b", "0", "/", ".", "\x00", "é", "\ufeff", "\xa0",
]

dockerfile_text = st.lists(st.sampled_from(_PIECES), max_size=60).map("".join)


def _check_parse(data: bytes) -> None:
    try:
        result = parse(data)
    except DockerfileError as exc:
        assert isinstance(exc.line, int) and exc.line >= 1
        return
    assert result.nodes
    for node in result.nodes:
        assert 1 <= node.start_line <= node.end_line
    assert dump(result).count("\n") == len(result.nodes)


@FUZZ
@given(st.binary(max_size=400))
def test_parse_arbitrary_bytes(data: bytes) -> None:
    _check_parse(data)


@FUZZ
@given(dockerfile_text)
def test_parse_dockerfile_like_text(text: str) -> None:
    _check_parse(text.encode("utf-8"))


@FUZZ
@given(dockerfile_text)
def test_load_and_plan_never_crash(text: str) -> None:
    try:
        df = load(text.encode("utf-8"))
        plan = df.plan(platform=Platform(), build_platform=Platform())
        for planned in plan.stages:
            plan.evaluate(planned, scratch_config())
    except DockerfileError as exc:
        assert isinstance(exc.line, int) and exc.line >= 1


@FUZZ
@given(st.text(max_size=80), st.sampled_from(["\\", "`"]))
def test_expansion_never_crashes(word: str, escape: str) -> None:
    env = {"A": "1 2", "EMPTY": "", "B": "x*y"}
    try:
        assert isinstance(expand_word(word, env, escape), str)
        words = expand_words(word, env, escape)
        assert all(words)
    except ExpansionError:
        pass


@FUZZ
@given(st.lists(st.text(alphabet="ab*?[]!/\\.-^ ", max_size=8), max_size=6),
       st.text(alphabet="ab/.", max_size=12))
def test_ignore_patterns_never_crash(patterns: list[str], path: str) -> None:
    try:
        matcher = IgnoreMatcher(patterns)
    except BuildError:
        return
    excluded = matcher.matches(path)
    if matcher.can_skip_dir(path):
        assert excluded


_TOKENS = ["a", "/x", "./y/", "$A", "${B:-/d}", "${C#*/}", '"q r"', "'s'", "80", "443/udp",
           "1000:1000", "0755", "u+x", "\\$", "*.txt", "", "${", "--link", "--from=s0",
           "--from=1", "--chown=$A", "--chmod=$M", "--mount=type=cache,target=$A",
           "--mount=from=s0,target=/m", "--network=none", "--interval=5s", "CMD", "NONE",
           '["x", "y"]', "[]", "<<EOF\nbody $A\nEOF", "<<-'E'\n\tz\n\tE"]
_KEYWORDS = ["RUN", "COPY", "ADD", "ENV", "LABEL", "ARG", "CMD", "ENTRYPOINT", "EXPOSE",
             "VOLUME", "WORKDIR", "USER", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "ONBUILD RUN",
             "ONBUILD COPY", "MAINTAINER"]


@st.composite
def structured_dockerfile(draw: st.DrawFn) -> str:
    lines = ["ARG A=/opt M=0644"]
    for stage in range(draw(st.integers(1, 3))):
        base = draw(st.sampled_from(["scratch", "img", "s0" if stage else "img"]))
        lines.append(f"FROM {base} AS s{stage}")
        for _ in range(draw(st.integers(0, 6))):
            keyword = draw(st.sampled_from(_KEYWORDS))
            args = draw(st.lists(st.sampled_from(_TOKENS), min_size=0, max_size=4))
            if keyword in ("ENV", "LABEL") and args:
                args = [f"K{i}={arg}" for i, arg in enumerate(args)]
            lines.append(" ".join([keyword, *args]))
    return "\n".join(lines) + "\n"


@FUZZ
@given(structured_dockerfile(), st.dictionaries(st.sampled_from(["A", "B", "X"]),
                                                 st.sampled_from(["", "v", "a b"]), max_size=2))
def test_evaluate_structured_dockerfiles(text: str, build_args: dict[str, str]) -> None:
    try:
        df = load(text.encode())
        plan = df.plan(build_args=build_args, platform=Platform(), build_platform=Platform())
        configs: dict[int, dict] = {}
        for planned in plan.stages:
            base_index = getattr(planned.base, "index", None)
            base = configs.get(base_index) if base_index is not None else scratch_config()
            result = plan.evaluate(planned, base)
            configs[planned.stage.index] = result.state.image_config()
            for step in result.steps:
                text_for_cache = step.cache_text("file:0" if step.copy_effect else None)
                assert isinstance(text_for_cache, str)
    except DockerfileError as exc:
        assert isinstance(exc.line, int) and exc.line >= 1
