"""Parser behaviour beyond the corpus: directives, continuations, JSON, flags,
warnings, heredocs."""

from __future__ import annotations

import pytest

from minidock.dockerfile import dump, parse
from minidock.dockerfile.parser import chomp_heredoc, parse_heredoc_word
from minidock.errors import DockerfileError


def dumped(text: str) -> str:
    return dump(parse(text.encode()))


# ---- directives ----------------------------------------------------------------------

def test_escape_directive_switches_continuation_to_backtick() -> None:
    result = parse(b"# escape=`\nFROM x\nRUN dir c:\\ `\n  && echo ok\n")
    assert result.escape == "`"
    assert result.directives == {"escape": "`"}
    assert dumped("# escape=`\nFROM x\nRUN dir c:\\ `\n  && echo ok\n") == (
        '(from "x")\n(run "dir c:\\\\   && echo ok")\n')


def test_directive_names_are_case_insensitive_and_values_trimmed() -> None:
    result = parse(b"#  SYNTAX =  docker/dockerfile:1  \n# Check=skip=all\nFROM x\n")
    assert result.directives == {"syntax": "docker/dockerfile:1", "check": "skip=all"}


def test_unknown_directive_ends_the_directive_section() -> None:
    result = parse(b"# foo=bar\n# escape=`\nFROM x\n")
    assert result.escape == "\\"
    assert result.directives == {}


def test_blank_line_ends_the_directive_section() -> None:
    assert parse(b"\n# escape=`\nFROM x\n").escape == "\\"


def test_duplicate_directive_is_an_error_with_its_line() -> None:
    with pytest.raises(DockerfileError) as info:
        parse(b"# syntax=a\n# syntax=b\nFROM x\n")
    assert str(info.value) == "Dockerfile:2: only one syntax parser directive can be used"


def test_invalid_escape_directive_is_an_error() -> None:
    with pytest.raises(DockerfileError) as info:
        parse(b"# escape=x\nFROM x\n")
    assert info.value.line == 1
    assert "invalid escape token" in str(info.value)


# ---- lines --------------------------------------------------------------------------------

def test_bom_and_crlf_are_handled() -> None:
    result = parse(b"\xef\xbb\xbfFROM a\r\nRUN echo \\\r\n  hi\r\n")
    assert dump(result) == '(from "a")\n(run "echo   hi")\n'
    assert [(n.start_line, n.end_line) for n in result.nodes] == [(1, 1), (2, 3)]


def test_hash_inside_an_instruction_is_text() -> None:
    assert dumped("FROM a\nRUN echo # not a comment\n") == (
        '(from "a")\n(run "echo # not a comment")\n')


def test_comment_and_blank_lines_inside_a_continuation() -> None:
    text = ("FROM a\nRUN one \\\n  # comment\n\n   \n  two\n"
            "RUN three \\\n  # only a comment\n  four\n")
    result = parse(text.encode())
    assert dump(result) == '(from "a")\n(run "one   two")\n(run "three   four")\n'
    assert [(n.start_line, n.end_line) for n in result.nodes] == [(1, 1), (2, 6), (7, 9)]
    # blank lines warn, comment lines do not
    assert len(result.warnings) == 1
    assert result.warnings[0].message == "Empty continuation line found in: RUN one   two"
    assert result.warnings[0].line == 6


def test_one_warning_per_instruction_with_empty_continuation_lines() -> None:
    text = "FROM a\nRUN a \\\n\nb\nRUN c \\\n\n\nd\n"
    assert len(parse(text.encode()).warnings) == 2


def test_doubled_escape_at_end_of_line_does_not_continue() -> None:
    assert dumped("FROM a\nRUN echo a\\\\\nRUN echo b\n") == (
        '(from "a")\n(run "echo a\\\\\\\\")\n(run "echo b")\n')


def test_continuation_at_end_of_file_keeps_the_instruction() -> None:
    assert dumped("FROM a\nRUN x \\") == '(from "a")\n(run "x")\n'


def test_invalid_utf8_is_kept_as_raw_bytes() -> None:
    assert dump(parse(b"FROM a\nRUN echo \xff\n")) == '(from "a")\n(run "echo \\xff")\n'


def test_file_with_only_directives_and_comments_is_rejected() -> None:
    with pytest.raises(DockerfileError, match="file with no instructions"):
        parse(b"# syntax=x\n# hello\n\n")


# ---- arguments ----------------------------------------------------------------------------

def test_json_with_non_string_element_is_an_error() -> None:
    with pytest.raises(DockerfileError) as info:
        parse(b'FROM a\nCMD ["a", 1]\n')
    assert str(info.value) == ("Dockerfile:2: when using JSON array syntax, arrays must be "
                               "comprised of strings only")


@pytest.mark.parametrize("rest", ['[NaN]', '["a"] x', "['a']", '["a",]', '[1e400]'])
def test_anything_that_is_not_strict_json_is_shell_form(rest: str) -> None:
    result = parse(f"FROM a\nCMD {rest}\n".encode())
    node = result.nodes[1]
    assert not node.json_form
    assert node.args == (rest,)


def test_json_escapes_are_decoded() -> None:
    node = parse(b'FROM a\nRUN ["a\\u00e9", "\\/x", "\\ud800"]\n').nodes[1]
    assert node.json_form
    assert node.args == ("a\u00e9", "/x", "\ufffd")


def test_flags_lose_quotes_and_double_dash_ends_them() -> None:
    node = parse(b'FROM a\nCOPY --chown="a b" --from=\'x\' -- --not-a-flag /d\n').nodes[1]
    assert node.flags == ("--chown=a b", "--from=x")
    assert node.args == ("--not-a-flag", "/d")


def test_env_words_keep_quotes_and_escapes() -> None:
    node = parse(b'FROM a\nENV a="x y" b=c\\ d e=\'f\'\n').nodes[1]
    assert node.args == ("a", '"x y"', "=", "b", "c\\ d", "=", "e", "'f'", "=")


def test_env_equals_form_needs_equals_in_every_word() -> None:
    with pytest.raises(DockerfileError) as info:
        parse(b"FROM a\nENV a=b c\n")
    assert info.value.line == 2
    assert "can't find = in \"c\"" in str(info.value)


def test_onbuild_dumps_its_trigger_nested() -> None:
    assert dumped("FROM a\nONBUILD ADD --chown=1 . /app\nONBUILD\n") == (
        '(from "a")\n(onbuild (add ["--chown=1"] "." "/app"))\n(onbuild)\n')


def test_unknown_instruction_is_not_a_parse_error() -> None:
    assert dumped("FROM a\nFOO bar baz\n") == '(from "a")\n(foo "")\n'


def test_healthcheck_arguments() -> None:
    assert dumped('FROM a\nHEALTHCHECK --retries=2 CMD ["x", "y"]\n') == (
        '(from "a")\n(healthcheck ["--retries=2"] "CMD" "x" "y")\n')


# ---- heredocs --------------------------------------------------------------------------------

HEREDOC_FILE = """\
FROM alpine
USER <<INVALID
INVALID
RUN <<EMPTY
EMPTY
RUN 3<<FD
FD
RUN "<<NOHEREDOC"
RUN <<-UNINDENT
\tbaz
\t\tquux
\tUNINDENT
RUN <<'NOEXPAND'
$NAME
NOEXPAND
COPY <<FILE1 <<FILE2 /dest
content 1
FILE1
content 2
FILE2
COPY <<X <<Y /dest
Y
X
X
Y
RUN <<COMPLEX python3
# a comment in a body
print('hi') # "quoted"
COMPLEX
RUN --mount=type=cache,target=/c <<MOUNT
echo hello
MOUNT
RUN <<eo'f'
x
eof
RUN <<eo\\'f
y
eo'f
RUN <<'one two'
z
one two
RUN <<$EOF
$EOF
RUN <<  SPACED  > out
SPACED
RUN ["<<EOF"]
"""


def _heredoc_nodes():
    return parse(HEREDOC_FILE.encode()).nodes


def test_heredoc_bodies_and_line_ranges() -> None:
    nodes = _heredoc_nodes()
    summary = [(n.keyword, n.start_line, n.end_line,
                [(h.name, h.content, h.expand, h.chomp, h.fd) for h in n.heredocs])
               for n in nodes]
    assert summary == [
        ("from", 1, 1, []),
        ("user", 2, 2, []),  # USER does not take heredocs ...
        ("invalid", 3, 3, []),  # ... so the next line is an instruction of its own
        ("run", 4, 5, [("EMPTY", "", True, False, 0)]),
        ("run", 6, 7, [("FD", "", True, False, 3)]),
        ("run", 8, 8, []),
        ("run", 9, 12, [("UNINDENT", "\tbaz\n\t\tquux\n", True, True, 0)]),
        ("run", 13, 15, [("NOEXPAND", "$NAME\n", False, False, 0)]),
        ("copy", 16, 20, [("FILE1", "content 1\n", True, False, 0),
                          ("FILE2", "content 2\n", True, False, 0)]),
        ("copy", 21, 25, [("X", "Y\n", True, False, 0), ("Y", "X\n", True, False, 0)]),
        ("run", 26, 29, [("COMPLEX", "# a comment in a body\nprint('hi') # \"quoted\"\n",
                          True, False, 0)]),
        ("run", 30, 32, [("MOUNT", "echo hello\n", True, False, 0)]),
        ("run", 33, 35, [("eof", "x\n", False, False, 0)]),
        ("run", 36, 38, [("eo'f", "y\n", True, False, 0)]),
        ("run", 39, 41, [("one two", "z\n", False, False, 0)]),
        ("run", 42, 43, [("$EOF", "", True, False, 0)]),
        ("run", 44, 45, [("SPACED", "", True, False, 0)]),
        ("run", 46, 46, []),  # JSON form never has heredocs
    ]


def test_only_the_instruction_line_is_dumped() -> None:
    lines = dump(parse(HEREDOC_FILE.encode())).splitlines()
    assert lines[3] == '(run "<<EMPTY")'
    assert lines[8] == '(copy "<<FILE1" "<<FILE2" "/dest")'


def test_unterminated_heredoc_is_an_error_at_the_instruction() -> None:
    with pytest.raises(DockerfileError) as info:
        parse(b"FROM a\nRUN <<EOF\necho\n")
    assert str(info.value) == "Dockerfile:2: unterminated heredoc"


def test_heredoc_body_keeps_crlf_and_last_line_without_newline() -> None:
    node = parse(b"FROM a\nRUN <<EOF\r\nx\r\nEOF").nodes[1]
    assert node.heredocs[0].content == "x\r\n"


def test_chomp_strips_leading_tabs_of_every_line() -> None:
    assert chomp_heredoc("\t\ta\n\tb\n c\n") == "a\nb\n c\n"


@pytest.mark.parametrize("word", ["<<EOF", "<<'EOF'", '<<"EOF"', "<<-EOF", "<<-'EOF'",
                                  '<<-"EOF"', '<<EO"F"', "<< EOF", "<<- EOF"])
def test_heredoc_words_naming_eof(word: str) -> None:
    doc = parse_heredoc_word(word)
    assert doc is not None and doc.name == "EOF"
    assert doc.chomp == word.startswith("<<-")
    assert doc.expand == ("'" not in word and '"' not in word)


@pytest.mark.parametrize("word", ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh"])
def test_words_that_are_not_heredocs(word: str) -> None:
    assert parse_heredoc_word(word) is None


@pytest.mark.parametrize("word", ["<<'EOF", '<<"EOF', "<<EOF'", '<<EOF"'])
def test_heredoc_words_with_unbalanced_quotes_are_errors(word: str) -> None:
    with pytest.raises(DockerfileError):
        parse_heredoc_word(word)


def test_heredoc_name_after_spaced_dash_and_fd_prefix() -> None:
    node = parse(b"FROM a\nRUN << -EOF\n-EOF\nRUN 4<<EOF\nEOF\n").nodes
    assert node[1].heredocs[0].name == "-EOF" and not node[1].heredocs[0].chomp
    assert node[2].heredocs[0].fd == 4


def test_quoted_heredoc_operators_are_text() -> None:
    nodes = parse(b"FROM a\nRUN echo '<<EOF' \"<<EOF\"\n").nodes
    assert nodes[1].heredocs == ()
