"""Word expansion forms the conformance tables do not cover (EXPANSION.md §2)."""

from __future__ import annotations

import pytest

from minidock.dockerfile import (
    ExpansionError,
    ShellLexer,
    expand_heredoc,
    expand_word,
    expand_words,
)
from minidock.dockerfile.shell import env_from_list

ENV = {
    "str": "foobarbaz",
    "path": "/tmp/foo.txt",
    "empty": "",
    "space": "abc  def",
    "NEEDLE": "\\*/",
    "star": "a*/b",
    "multi": "a.b.c.d",
}


@pytest.mark.parametrize(("word", "expected"), [
    # prefix removal: shortest and longest
    ("${str#f*b}", "arbaz"),
    ("${str##f*b}", "az"),
    ("${str#nomatch}", "foobarbaz"),
    ("${str#}", "foobarbaz"),
    ("${multi#*.}", "b.c.d"),
    ("${multi##*.}", "d"),
    ("${str#?}", "oobarbaz"),
    # suffix removal: shortest and longest
    ("${str%b*}", "foobar"),
    ("${str%%b*}", "foo"),
    ("${multi%.*}", "a.b.c"),
    ("${multi%%.*}", "a"),
    ("${str%nomatch}", "foobarbaz"),
    ("${path%.txt}", "/tmp/foo"),
    # replacement: first and all
    ("${str/ba/fo}", "fooforbaz"),
    ("${str//ba/fo}", "fooforfoz"),
    ("${str/o/}", "fobarbaz"),
    ("${str//o/}", "fbarbaz"),
    ("${str/x*/y}", "foobarbaz"),
    ("${str/b*/X}", "fooX"),
    ("${str//*/X}", "X"),
    ("${path//\\//\\/}", "\\/tmp\\/foo.txt"),
    ("${str///}", "foobarbaz"),
    # the pattern is expanded before it is a glob
    ("${star/$NEEDLE/.}", "a.b"),
    ("${star/\\*/X}", "aX/b"),
    # no bash-style anchoring
    ("${str/#foo/X}", "foobarbaz"),
    ("${str/%baz/X}", "foobarbaz"),
    # regex characters are literal
    ("${multi//./-}", "a-b-c-d"),
    # unset variables
    ("${unset#x}", ""),
    ("${unset/a/b}", ""),
    # colon-less default and alternative
    ("${unset-word}", "word"),
    ("${empty-word}", ""),
    ("${str-word}", "foobarbaz"),
    ("${unset+word}", ""),
    ("${empty+word}", "word"),
    ("${str+word}", "word"),
    ("${empty:-word}", "word"),
    ("${empty:+word}", ""),
    # nesting and quoting inside the word
    ("${unset:-${str}}", "foobarbaz"),
    ("${str:+-${str}}", "-foobarbaz"),
    ("${unset:-'a  b'}", "a  b"),
    ("${unset:-\"$str x\"}", "foobarbaz x"),
    ("${unset:-a\\}b}", "a}b"),
    # command substitution is not interpreted
    ("$(echo hi)", "$(echo hi)"),
    ("`echo hi`", "`echo hi`"),
    ("$((1+2))", "$((1+2))"),
    # values are not re-scanned
    ("$NEEDLE", "\\*/"),
])
def test_expansion_forms(word: str, expected: str) -> None:
    assert expand_word(word, ENV) == expected


@pytest.mark.parametrize(("word", "message"), [
    ("${str=x}", "unsupported modifier (=) in substitution"),
    ("${str:=x}", "unsupported modifier (:=) in substitution"),
    ("${str:#x}", "unsupported modifier (:#) in substitution"),
    ("${str:##x}", "unsupported modifier (:#) in substitution"),
    ("${str:%x}", "unsupported modifier (:%) in substitution"),
    ("${str:%%x}", "unsupported modifier (:%) in substitution"),
    ("${#str}", "unsupported modifier (s) in substitution"),
    ("${!str}", "unsupported modifier (s) in substitution"),
    ("${str:1:2}", "unsupported modifier (:1) in substitution"),
    ("${str^^}", "unsupported modifier (^) in substitution"),
    ("${str,,}", "unsupported modifier (,) in substitution"),
    ("${str//ww}", "syntax error: missing '/' in ${}"),
    ("${str//}", "syntax error: missing '/' in ${}"),
    ("${str/a}", "syntax error: missing '/' in ${}"),
    ("${str/a/b", "syntax error: missing '}'"),
    ("${str#a", "syntax error: missing '}'"),
    ("${}", "syntax error: bad substitution"),
    ("${:-x}", "syntax error: bad substitution"),
    ("${", "syntax error: missing '}'"),
    ("${str/\\a/b}", "invalid escape '\\a'"),
    ("${str#\\q}", "invalid escape '\\q'"),
])
def test_expansion_errors(word: str, message: str) -> None:
    with pytest.raises(ExpansionError) as info:
        expand_word(word, ENV)
    assert message in str(info.value)
    assert str(info.value).startswith("Dockerfile: failed to process ")


def test_required_variable_messages_are_expanded() -> None:
    with pytest.raises(ExpansionError, match="unset: need \\$str=foobarbaz"):
        expand_word("${unset:?need \\$str=$str}", ENV)
    with pytest.raises(ExpansionError, match="unset: is not allowed to be unset"):
        expand_word("${unset?}", ENV)
    with pytest.raises(ExpansionError, match="empty: is not allowed to be empty"):
        expand_word("${empty:?}", ENV)
    assert expand_word("${empty?}", ENV) == ""
    assert expand_word("${str:?}", ENV) == "foobarbaz"


def test_multi_word_splits_only_unquoted_whitespace() -> None:
    assert expand_words("hello${space}bye", ENV) == ["helloabc", "defbye"]
    assert expand_words('hello"${space}"bye', ENV) == ["helloabc  defbye"]
    assert expand_words("a\\ b 'c d' \"\" e", ENV) == ["a b", "c d", "e"]
    assert expand_words("80 ${unset:-443 8080}", ENV) == ["80", "443", "8080"]


def test_heredoc_operator_stays_glued_to_its_word() -> None:
    assert expand_words("cat << EOF > out", {}) == ["cat", "<< EOF", ">", "out"]
    assert expand_words("cat <<\tEOF", {}) == ["cat", "<<\tEOF"]
    # only blanks right after `<<` are glued: `<<- EOF` is two words
    assert expand_words("cat <<- EOF", {}) == ["cat", "<<-", "EOF"]
    assert expand_words("a < b", {}) == ["a", "<", "b"]


def test_backtick_escape_character() -> None:
    assert expand_word("c:\\dir `$HOME", {"HOME": "/h"}, escape="`") == "c:\\dir $HOME"
    assert expand_word('"a`"b"', {}, escape="`") == 'a"b'
    assert expand_word("a\\b", {}, escape="\\") == "ab"


def test_heredoc_bodies_keep_quotes_and_process_backslashes() -> None:
    env = {"NAME": "world"}
    body = "echo \"hello $NAME\" '${NAME}'\nprice: \\$5, path: C:\\\\dir\nsame \\\nline\n"
    assert expand_heredoc(body, env) == (
        "echo \"hello world\" 'world'\nprice: $5, path: C:\\dir\nsame \nline\n")


def test_raw_options_keep_what_they_say() -> None:
    raw = ShellLexer("\\", raw_quotes=True, raw_escapes=True, skip_unset=True)
    assert raw.expand_words("a 'b c' \\$x $UNSET ${UNSET:-d}", {}) == [
        "a", "'b c'", "\\$x", "$UNSET", "${UNSET:-d}"]
    literal_quotes = ShellLexer("\\", skip_quotes=True)
    assert literal_quotes.expand_word("'$A' \"$A\"", {"A": "1"}) == "'1' \"1\""


def test_env_from_list_last_wins_and_bare_names_are_set() -> None:
    env = env_from_list(["A=1", "B", "A=2", "C=x=y"])
    assert env == {"A": "2", "B": "", "C": "x=y"}
    assert expand_word("${B-unset}${B:-empty}", env) == "empty"


def test_lexer_rejects_other_escape_characters() -> None:
    with pytest.raises(ValueError):
        ShellLexer("x")
