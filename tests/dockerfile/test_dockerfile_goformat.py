"""Go-compatible quoting and durations, and --chmod modes."""

from __future__ import annotations

import pytest

from minidock.dockerfile import parse_chmod
from minidock.dockerfile.filemode import ChmodError
from minidock.dockerfile.goformat import (
    format_duration,
    format_list,
    parse_duration,
    quote,
    quote_list,
    quote_rune,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("plain", '"plain"'),
    ('say "hi" \\o/', '"say \\"hi\\" \\\\o/"'),
    ("\a\b\f\n\r\t\v", '"\\a\\b\\f\\n\\r\\t\\v"'),
    ("\x00\x1b\x7f", '"\\x00\\x1b\\x7f"'),
    ("♥ ☃ 한국어 😀", '"♥ ☃ 한국어 😀"'),
    ("\u00a0\u200b\u2028", '"\\u00a0\\u200b\\u2028"'),
    ("\U000e0001", '"\\U000e0001"'),
    ("\udcff\udc80", '"\\xff\\x80"'),  # invalid UTF-8 bytes kept by surrogateescape
    ("", '""'),
])
def test_quote_matches_go_strconv_quote(text: str, expected: str) -> None:
    assert quote(text) == expected


def test_quote_rune_and_lists() -> None:
    assert [quote_rune(n) for n in (0, 3, 10, 65, 39, 34)] == [
        "'\\x00'", "'\\x03'", "'\\n'", "'A'", "'\\''", "'\"'"]
    assert quote_list(["a", "b c"]) == '["a" "b c"]'
    assert quote_list([]) == "[]"
    assert format_list(["/bin/bash", "-c"]) == "[/bin/bash -c]"


@pytest.mark.parametrize(("text", "ns"), [
    ("0", 0), ("5s", 5_000_000_000), ("1m30s", 90_000_000_000), ("1.5h", 5_400_000_000_000),
    ("300ms", 300_000_000), ("10us", 10_000), ("10µs", 10_000), ("7ns", 7), ("-2s", -2 * 10**9),
    (".5s", 500_000_000), ("1h2m3.5s", 3_723_500_000_000),
])
def test_parse_duration(text: str, ns: int) -> None:
    assert parse_duration(text) == ns


@pytest.mark.parametrize(("text", "message"), [
    ("", "invalid duration"), ("abc", "invalid duration"), ("10", "missing unit"),
    ("5d", 'unknown unit "d"'), (".s", "invalid duration"), ("1s2", "missing unit"),
])
def test_parse_duration_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


@pytest.mark.parametrize(("ns", "text"), [
    (0, "0s"), (1, "1ns"), (1_500, "1.5µs"), (1_000_000, "1ms"), (1_500_000, "1.5ms"),
    (3_000_000_000, "3s"), (300_000_000_000, "5m0s"), (90_500_000_000, "1m30.5s"),
    (3_600_000_000_000, "1h0m0s"), (-1_500_000_000, "-1.5s"),
])
def test_format_duration(ns: int, text: str) -> None:
    assert format_duration(ns) == text


@pytest.mark.parametrize(("spec", "mode", "is_dir", "expected"), [
    ("0755", 0o600, False, 0o755),
    ("644", 0o777, True, 0o644),
    ("u+x", 0o644, False, 0o744),
    ("go-w", 0o666, False, 0o644),
    ("a=r", 0o777, False, 0o444),
    ("u=rwx,g=rx,o=", 0o000, False, 0o750),
    ("+X", 0o644, True, 0o755),
    ("+X", 0o644, False, 0o644),
    ("+X", 0o744, False, 0o755),
    ("g=u", 0o640, False, 0o660),
    ("u+s", 0o755, False, 0o4755),
    ("o+t", 0o777, True, 0o1777),
])
def test_chmod_modes(spec: str, mode: int, is_dir: bool, expected: int) -> None:
    assert parse_chmod(spec).apply(mode, is_dir) == expected


@pytest.mark.parametrize("spec", ["", "xyz", "u+q", "8", "07778", "10000", "u=rw,", "rwx"])
def test_chmod_rejects_bad_modes(spec: str) -> None:
    with pytest.raises(ChmodError):
        parse_chmod(spec)
