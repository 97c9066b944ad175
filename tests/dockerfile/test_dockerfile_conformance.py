"""The buildkit conformance corpus (shared/conformance/buildkit), one test per case.

The data lives next to the repository (`../shared/conformance`, or wherever
`MINIDOCK_CONFORMANCE` points) and is read in place; see its NOTICE.md for the
formats. Without it the module is skipped with one reason, except under CI,
where its absence fails the run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from minidock.dockerfile import ExpansionError, dump, expand_word, expand_words, parse
from minidock.errors import DockerfileError

CONFORMANCE = Path(os.environ.get("MINIDOCK_CONFORMANCE")
                   or Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance")
if not CONFORMANCE.is_dir() and not os.environ.get("CI"):
    pytest.skip(f"conformance corpus not found at {CONFORMANCE} (set MINIDOCK_CONFORMANCE)",
                allow_module_level=True)
BUILDKIT = CONFORMANCE / "buildkit"
POSITIVE = BUILDKIT / "parser" / "testfiles"
NEGATIVE = BUILDKIT / "parser" / "testfiles-negative"
ENV_VAR_TEST = BUILDKIT / "shell" / "envVarTest"
WORDS_TEST = BUILDKIT / "shell" / "wordsTest"
SHELL_ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}


def _dirs(base: Path) -> list[Path]:
    return sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []


def _env_var_cases() -> list[tuple[int, str, str]]:
    """(line number, input, expected) for the A and U lines of envVarTest."""
    if not ENV_VAR_TEST.is_file():
        return []
    cases = []
    text = ENV_VAR_TEST.read_text(encoding="utf-8")
    for number, line in enumerate(text.split("\n"), start=1):
        if line.startswith("#"):
            continue
        line = line.strip()
        if not line:
            continue
        fields = line.split("|")
        assert len(fields) == 3, f"envVarTest:{number}: expected 3 fields"
        platform, word, expected = (f.strip() for f in fields)
        if platform in ("A", "U"):
            cases.append((number, word, expected))
    return cases


def _words_cases() -> list[tuple[int, str, list[str], dict[str, str]]]:
    """(line number, input, expected words, env so far) for wordsTest."""
    if not WORDS_TEST.is_file():
        return []
    cases = []
    env: dict[str, str] = {}
    text = WORDS_TEST.read_text(encoding="utf-8")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        if line.startswith("#"):
            continue
        if line.startswith("ENV "):
            name, _, value = line[4:].lstrip(" ").partition("=")
            env[name] = value
            continue
        word, sep, expected = line.partition("|")
        assert sep and "|" not in expected, f"wordsTest:{number}: expected one '|'"
        cases.append((number, word.strip(), expected.lstrip(" ").split(","), dict(env)))
    return cases


ENV_VAR_CASES = _env_var_cases()
WORDS_CASES = _words_cases()


def test_the_corpus_is_present_and_complete() -> None:
    # Guards against silently running zero parametrised cases.
    assert len(_dirs(POSITIVE)) == 33
    assert len(_dirs(NEGATIVE)) == 4
    assert (BUILDKIT / "parser" / "testfile-line" / "Dockerfile").is_file()
    assert len(ENV_VAR_CASES) == 228
    assert len(WORDS_CASES) == 24


@pytest.mark.parametrize("case", _dirs(POSITIVE), ids=lambda p: p.name)
def test_positive_case_dumps_byte_exact(case: Path) -> None:
    result = parse((case / "Dockerfile").read_bytes())
    expected = (case / "result").read_bytes().decode("utf-8")
    assert dump(result) == expected


@pytest.mark.parametrize("case", _dirs(NEGATIVE), ids=lambda p: p.name)
def test_negative_case_is_rejected_with_a_line(case: Path) -> None:
    with pytest.raises(DockerfileError) as info:
        parse((case / "Dockerfile").read_bytes())
    assert isinstance(info.value.line, int) and info.value.line >= 1
    assert str(info.value).startswith(f"Dockerfile:{info.value.line}: ")


def test_line_numbers_of_testfile_line() -> None:
    result = parse((BUILDKIT / "parser" / "testfile-line" / "Dockerfile").read_bytes())
    assert (result.start_line, result.end_line) == (5, 31)
    assert [(n.keyword, n.start_line, n.end_line) for n in result.nodes] == [
        ("from", 5, 5), ("env", 11, 12), ("run", 17, 31),
    ]


@pytest.mark.parametrize(("number", "word", "expected"), ENV_VAR_CASES,
                         ids=[f"line{c[0]}" for c in ENV_VAR_CASES])
def test_env_var_single_word_expansion(number: int, word: str, expected: str) -> None:
    if expected == "error":
        with pytest.raises(ExpansionError):
            expand_word(word, SHELL_ENV)
    else:
        assert expand_word(word, SHELL_ENV) == expected


@pytest.mark.parametrize(("number", "word", "expected", "env"), WORDS_CASES,
                         ids=[f"line{c[0]}" for c in WORDS_CASES])
def test_words_multi_word_expansion(number: int, word: str, expected: list[str],
                                    env: dict[str, str]) -> None:
    try:
        words = expand_words(word, env)
    except ExpansionError:
        words = ["error"]
    assert words == expected
