""".dockerignore semantics (Docker's documentation of the file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from minidock.dockerfile import IgnoreMatcher, load_ignore_file, read_ignore_patterns
from minidock.dockerfile.dockerignore import ignore_file_for
from minidock.errors import BuildError


def matcher(text: str) -> IgnoreMatcher:
    return IgnoreMatcher.from_text(text)


def test_reading_normalises_patterns() -> None:
    text = ("\ufeff# comment\n  # not a comment\n\n   \n./src/../build/\n/abs\n!  ./keep \n"
            "trailing   \r\nnested//dir/\n")
    assert read_ignore_patterns(text) == [
        "# not a comment", "build", "abs", "!keep", "trailing", "nested/dir"]


def test_documented_example() -> None:
    # from the .dockerignore section of the Dockerfile reference
    m = matcher("# comment\n*/temp*\n*/*/temp*\ntemp?\n")
    assert m.matches("somedir/temporary.txt")
    assert m.matches("somedir/temp")
    assert m.matches("somedir/subdir/temporary.txt")
    assert m.matches("tempa") and m.matches("tempb")
    assert not m.matches("temporary.txt")
    assert not m.matches("a/b/c/temp")


@pytest.mark.parametrize(("pattern", "path", "expected"), [
    ("*.md", "README.md", True),
    ("*.md", "docs/README.md", False),  # `*` never crosses `/`
    ("**/*.md", "docs/deep/README.md", True),
    ("**/*.md", "README.md", True),
    ("docs/**", "docs/a/b", True),
    ("**", "anything/at/all", True),
    ("a/**/b", "a/b", True),
    ("a/**/b", "a/x/y/b", True),
    ("a/**/b", "a/x/y/c", False),
    ("?.txt", "a.txt", True),
    ("?.txt", "ab.txt", False),
    ("[a-c].txt", "b.txt", True),
    ("[a-c].txt", "d.txt", False),
    ("[^a-c].txt", "d.txt", True),
    ("file\\*", "file*", True),
    ("file\\*", "files", False),
    ("node_modules", "node_modules/pkg/index.js", True),  # a directory covers its content
    ("build", "src/build", False),  # anchored at the context root
    ("a.b", "aXb", False),  # regex characters are literal
    ("(x)+", "(x)+", True),
])
def test_pattern_semantics(pattern: str, path: str, expected: bool) -> None:
    assert matcher(pattern).matches(path) is expected


def test_exceptions_apply_in_order() -> None:
    m = matcher("*.md\n!README*.md\nREADME-secret.md\n")
    assert m.matches("CHANGES.md")
    assert not m.matches("README.md")
    assert m.matches("README-secret.md")
    reversed_order = matcher("!README.md\n*.md\n")
    assert reversed_order.matches("README.md")


def test_exception_inside_an_excluded_directory() -> None:
    m = matcher("docs\n!docs/keep.txt\n")
    assert m.matches("docs/other.txt")
    assert not m.matches("docs/keep.txt")
    assert m.has_exceptions


def test_paths_are_normalised() -> None:
    m = matcher("/build\n")
    assert m.matches("./build/x") and m.matches("/build") and m("build")


def test_skipping_directories_only_when_nothing_below_can_come_back() -> None:
    m = matcher("build\nvendor\n!vendor/keep\nlogs\n!logs/**/*.keep\ntmp\n!tmp\n")
    assert m.can_skip_dir("build")
    assert m.can_skip_dir("build/sub")
    assert not m.can_skip_dir("vendor")  # !vendor/keep lies below
    assert not m.can_skip_dir("logs")
    assert not m.can_skip_dir("src")  # not excluded at all
    assert not m.can_skip_dir("tmp")  # re-included entirely


def test_wildcard_exceptions_block_skipping_where_they_could_match() -> None:
    m = matcher("build\ncache\n!cache/*/important\n")
    assert m.can_skip_dir("build")
    assert not m.can_skip_dir("cache")
    assert not m.can_skip_dir("cache/x")
    # the exception names cache/<dir>/important, which cannot lie below this one
    assert m.can_skip_dir("cache/x/other")


def test_an_earlier_exception_cannot_rescue_a_later_exclusion() -> None:
    m = matcher("!secrets/public\nsecrets\n")
    assert m.matches("secrets/public")
    assert m.can_skip_dir("secrets")


def test_no_patterns_excludes_nothing() -> None:
    m = IgnoreMatcher()
    assert not m and not m.matches("x") and not m.can_skip_dir("x")


@pytest.mark.parametrize("bad", ["!", "[", "a[b", "[]"])
def test_malformed_patterns_are_errors(bad: str) -> None:
    with pytest.raises(BuildError):
        IgnoreMatcher([bad])


def test_dockerfile_specific_ignore_file_wins(tmp_path: Path) -> None:
    context = tmp_path / "ctx"
    (context / "build").mkdir(parents=True)
    (context / ".dockerignore").write_text("*.log\n")
    dockerfile = context / "build" / "app.Dockerfile"
    dockerfile.write_text("FROM a\n")
    assert ignore_file_for(context, dockerfile) == context / ".dockerignore"
    assert load_ignore_file(context, dockerfile).matches("x.log")

    specific = context / "build" / "app.Dockerfile.dockerignore"
    specific.write_text("*.tmp\n")
    assert ignore_file_for(context, dockerfile) == specific
    m = load_ignore_file(context, dockerfile)
    assert m.matches("x.tmp") and not m.matches("x.log")


def test_no_ignore_file(tmp_path: Path) -> None:
    assert ignore_file_for(tmp_path) is None
    assert not load_ignore_file(tmp_path).matches("anything")


def test_wildcard_exceptions_do_not_reach_into_an_excluded_directory() -> None:
    # Docker looks inside an excluded directory only for an exception starting with it
    m = matcher("dir\n!*/f1\n")
    assert m.can_skip_dir("dir")
    assert m.hides("dir/f1") and not m.matches("dir/f1")
    m = matcher("volume/\n!**/oneline.txt\n")
    assert m.can_skip_dir("volume") and m.hides("volume/data/oneline.txt")
    m = matcher("**\n!dir/f1\n")
    assert not m.can_skip_dir("dir") and not m.hides("dir/f1") and m.hides("dir/f2")
