"""`ps --filter`, `--size` and the row fields of `--format`, as Docker 20.10 gives them
(each case below was checked against a private dockerd with the same containers)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from runtime_helpers import Minidock


@pytest.fixture
def three(md: Minidock) -> Iterator[Minidock]:
    """e1 exited 3 (label k=v), e0 exited 0, r1 running (label k=w), made in that order."""
    md("run", "--name", "e1", "--label", "k=v", "busybox", "sh", "-c", "exit 3")
    md.ok("run", "--name", "e0", "-v", "data1:/data", "busybox", "true")
    md.ok("run", "-d", "--name", "r1", "--label", "k=w", "busybox", "sleep", "300")
    yield md
    md("rm", "-f", "-v", "e1", "e0", "r1", "w")
    md("volume", "rm", "data1")


def names(md: Minidock, *args: str) -> list[str]:
    return md.ok("ps", *args, "--format", "{{.Names}}").split()


def test_filters_select_as_docker_does(three: Minidock) -> None:
    md = three
    assert names(md, "-f", "status=exited") == ["e0", "e1"]  # status needs no -a
    assert names(md, "-f", "exited=3") == []  # exited does
    assert names(md, "-a", "-f", "exited=3") == ["e1"]
    assert names(md, "-a", "-f", "label=k") == ["r1", "e1"]
    assert names(md, "-a", "-f", "label=k=v") == ["e1"]
    assert names(md, "-a", "-f", "name=e") == ["e0", "e1"]
    assert names(md, "-a", "-f", "name=^e1$") == ["e1"]
    assert names(md, "-f", "status=exited", "-f", "status=running") == ["r1", "e0", "e1"]
    assert names(md, "-a", "-f", "status=exited", "-f", "label=k") == ["e1"]
    assert names(md, "-a", "-f", "ancestor=busybox") == ["r1", "e0", "e1"]
    assert names(md, "-a", "-f", "before=e0") == ["e1"]
    assert names(md, "-a", "-f", "since=e1") == ["r1", "e0"]
    assert names(md, "-a", "-f", "volume=data1") == ["e0"]
    assert names(md, "-a", "-f", "volume=/data") == ["e0"]
    assert names(md, "-a", "-f", "health=none") == ["r1", "e0", "e1"]
    assert names(md, "-a", "-f", "health=healthy") == []
    assert names(md, "-a", "-f", "is-task=false") == ["r1", "e0", "e1"]
    assert names(md, "-a", "-f", "publish=80") == []
    r1 = md.ok("inspect", "-f", "{{.Id}}", "r1").strip()
    assert names(md, "-a", "-f", f"id={r1[:6]}") == ["r1"]


@pytest.mark.parametrize("bad, message", [
    ("foo=bar", "invalid filter 'foo=bar'"),
    ("status=bogus", "invalid filter 'status=bogus'"),
    ("exited=x", "invalid filter 'exited=x'"),
])
def test_a_bad_filter_is_one_line_and_exit_125(md: Minidock, bad: str, message: str) -> None:
    result = md("ps", "-f", bad)
    assert result.code == 125
    assert result.err.splitlines()[0] == f"Error: {message}" or message in result.err
    assert "Traceback" not in result.err


def test_row_fields_and_size(three: Minidock) -> None:
    md = three
    out = md.ok("ps", "-f", "status=exited", "--format", '{{.Names}}\t{{.Label "k"}}|{{.Labels}}')
    assert out == "e0\t|\ne1\tv|k=v\n"
    padded = md.ok("ps", "-a", "-f", "label=k", "--format", '{{printf "%-8s|" .Names}}')
    assert padded == "r1      |\ne1      |\n"
    assert md.ok("ps", "-f", "name=r1", "--format", "{{.Networks}} {{.LocalVolumes}}") \
        == "default 0\n"
    assert md.ok("ps", "-a", "-f", "name=e0", "--format", "{{.Mounts}} {{.LocalVolumes}}") \
        == "data1 1\n"
    md.ok("run", "--name", "w", "busybox", "sh", "-c", "printf hello > /x")
    sized = md.ok("ps", "-a", "-s", "-f", "name=^w$").splitlines()
    assert sized[0].split()[-1] == "SIZE"
    assert sized[1].endswith("NAMES") is False and "5B (virtual " in sized[1]
    table = md.ok("ps", "-a", "-f", "name=^e1$", "--format", 'table {{.Names}}\t{{.Label "k"}}')
    assert table.split() == ["NAMES", "LABEL", "e1", "v"]
