"""Formatting helpers print exactly what the docker CLI prints."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from minidock.cli.output import (
    bytes_size,
    ellipsis,
    go_json,
    go_time_string,
    human_duration,
    human_size,
    human_size4,
    render_table,
    since,
)
from minidock.oci.timestamps import parse_time

SECOND = 1
MINUTE = 60
HOUR = 3600
DAY = 24 * HOUR
WEEK = 7 * DAY
MONTH = 30 * DAY
YEAR = 365 * DAY


@pytest.mark.parametrize("size, text", [
    (0, "0B"), (1, "1B"), (999, "999B"), (1000, "1kB"), (1024, "1.02kB"), (1234, "1.23kB"),
    (12_345, "12.3kB"), (123_456, "123kB"), (1_240_000, "1.24MB"), (4_261_550, "4.26MB"),
    (107_000_000, "107MB"), (187_100_000, "187MB"), (5_500_000_000, "5.5GB"),
    (999_999, "1e+03kB"),  # go-units' own rounding quirk, kept on purpose
    (2 * 10**15, "2PB"),
])
def test_human_size_three_digits_like_images(size: int, text: str) -> None:
    assert human_size(size) == text


@pytest.mark.parametrize("size, text", [
    (0, "0B"), (12_345_678, "12.35MB"), (16_430_000, "16.43MB"), (187_100_000, "187.1MB"),
    (1_068_178, "1.068MB"), (212, "212B"),
])
def test_human_size_four_digits_like_df_and_prune(size: int, text: str) -> None:
    assert human_size4(size) == text


def test_binary_sizes_like_info() -> None:
    assert bytes_size(25_161_211_904) == "23.43GiB"
    assert bytes_size(1024) == "1KiB"
    assert bytes_size(512) == "512B"


# every case of go-units' own TestHumanDuration
@pytest.mark.parametrize("seconds, text", [
    (0.45, "Less than a second"), (1, "1 second"), (45, "45 seconds"), (46, "46 seconds"),
    (59, "59 seconds"), (60, "About a minute"), (3 * MINUTE, "3 minutes"),
    (35 * MINUTE, "35 minutes"), (35 * MINUTE + 40, "35 minutes"), (45 * MINUTE, "45 minutes"),
    (45 * MINUTE + 40, "45 minutes"), (46 * MINUTE, "46 minutes"), (59 * MINUTE, "59 minutes"),
    (HOUR, "About an hour"), (HOUR + 29 * MINUTE, "About an hour"),
    (HOUR + 31 * MINUTE, "2 hours"), (HOUR + 59 * MINUTE, "2 hours"), (3 * HOUR, "3 hours"),
    (3 * HOUR + 29 * MINUTE, "3 hours"), (3 * HOUR + 31 * MINUTE, "4 hours"),
    (3 * HOUR + 59 * MINUTE, "4 hours"), (3 * HOUR + 60 * MINUTE, "4 hours"),
    (24 * HOUR, "24 hours"), (DAY + 12 * HOUR, "36 hours"), (2 * DAY, "2 days"),
    (7 * DAY, "7 days"), (13 * DAY + 5 * HOUR, "13 days"), (2 * WEEK, "2 weeks"),
    (2 * WEEK + 4 * DAY, "2 weeks"), (3 * WEEK, "3 weeks"), (4 * WEEK, "4 weeks"),
    (4 * WEEK + 3 * DAY, "4 weeks"), (MONTH, "4 weeks"), (MONTH + 2 * WEEK, "6 weeks"),
    (2 * MONTH, "2 months"), (2 * MONTH + 2 * WEEK, "2 months"), (3 * MONTH, "3 months"),
    (3 * MONTH + WEEK, "3 months"), (5 * MONTH + 2 * WEEK, "5 months"),
    (13 * MONTH, "13 months"), (23 * MONTH, "23 months"), (24 * MONTH, "24 months"),
    (24 * MONTH + 2 * WEEK, "2 years"), (3 * YEAR + 2 * MONTH, "3 years"),
])
def test_human_duration_matches_go_units(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_since_appends_ago_and_handles_unknown_times() -> None:
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    assert since(moment, now=moment.timestamp() + 0.2) == "Less than a second ago"
    assert since(moment, now=moment.timestamp() + HOUR) == "About an hour ago"
    assert since(moment, now=moment.timestamp() + 4 * WEEK) == "4 weeks ago"
    assert since(None) == "N/A"


def test_parse_time_reads_go_timestamps() -> None:
    assert parse_time("2023-05-18T22:34:17.45448149Z") == datetime(
        2023, 5, 18, 22, 34, 17, 454481, tzinfo=UTC)
    assert parse_time("2023-05-18T22:34:17Z") == datetime(2023, 5, 18, 22, 34, 17, tzinfo=UTC)
    assert parse_time("2023-05-19T00:34:17+02:00") == datetime(
        2023, 5, 18, 22, 34, 17, tzinfo=UTC)
    for bad in (None, "", "yesterday", "2023-13-45T00:00:00Z", 42):
        assert parse_time(bad) is None


def test_go_time_string_in_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        moment = datetime(2023, 8, 7, 19, 5, 59, tzinfo=UTC)
        assert go_time_string(moment) == "2023-08-07 19:05:59 +0000 UTC"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_table_padding_is_docker_tabwriter() -> None:
    table = render_table([
        ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"],
        ["busybox", "latest", "beae173ccac6", "2 years ago", "1.24MB"],
    ])
    assert table == ("REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\n"
                     "busybox      latest    beae173ccac6   2 years ago   1.24MB\n")


def test_table_last_column_is_not_padded_and_empty_cells_keep_alignment() -> None:
    table = render_table([["IMAGE", "SIZE", "COMMENT"], ["<missing>", "0B", ""]])
    assert table == "IMAGE       SIZE      COMMENT\n<missing>   0B        \n"


def test_ellipsis() -> None:
    text = "/bin/sh -c #(nop) ADD file:6db446a57cbd2b7f4cf4c6dba7d8ac7b6ab1d8"
    cut = ellipsis(text, 45)
    assert cut == "/bin/sh -c #(nop) ADD file:6db446a57cbd2b7f4…"
    assert len(cut) == 45
    assert ellipsis("short", 45) == "short"
    assert ellipsis("abc", 1) == "a"
    assert ellipsis("abc", 0) == ""


def test_go_json_escapes_like_encoding_json() -> None:
    assert go_json({"Tag": "<none>", "A": "x&y", "é": "ü"}) == (
        '{"Tag":"\\u003cnone\\u003e","A":"x\\u0026y","é":"ü"}')
    assert go_json([1, None], indent=4) == "[\n    1,\n    null\n]"
