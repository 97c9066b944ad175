"""`build --explain` and `build-cache explain IMAGE` (issue 17, acceptance 2): build,
change one copied file, build again: the steps before the COPY are hits with their
keys, the COPY a miss with the old and new source digest, every later step a miss
because its parent was rebuilt; a changed build arg is named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from store_testkit import run_cli

from minidock.store.store import Image, Store

DOCKERFILE = """FROM busybox
ARG VERSION=1
ENV MODE=test
COPY app.py /app/
RUN echo $VERSION > /app/version
CMD ["sh"]
"""


@pytest.fixture
def project(tmp_path: Path, busybox: Image) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "app.py").write_text("print('one')\n")
    return ctx


def _build(store: Store, ctx: Path, *args: str) -> list[str]:
    result = run_cli(store.root, "build", "-q", "--explain", "-t", "app:1", *args, str(ctx))
    assert result.exit_code == 0, result.stderr
    return result.stdout.splitlines()[1:]


def _verdicts(lines: list[str]) -> list[str]:
    return [line for line in lines if not line.startswith(" ")]


def test_a_changed_source_is_named_and_later_steps_follow(store: Store, project: Path) -> None:
    first = _verdicts(_build(store, project))
    assert first[0] == "miss  ARG VERSION=1: no earlier build of this Dockerfile was recorded"
    again = _build(store, project)
    assert _verdicts(again) == ["hit   ARG VERSION=1", "hit   ENV MODE=test",
                                "hit   COPY app.py /app/",
                                "hit   RUN echo $VERSION > /app/version", 'hit   CMD ["sh"]']
    assert "        instruction: /bin/sh -c #(nop)  ENV MODE=test" in again
    assert any(re.fullmatch(r"        sources: sha256:[0-9a-f]{64}", line) for line in again)
    (project / "app.py").write_text("print('two')\n")
    changed = _verdicts(_build(store, project))
    assert changed[:2] == ["hit   ARG VERSION=1", "hit   ENV MODE=test"]
    assert re.fullmatch(r"miss  COPY app\.py /app/: source digest changed "
                        r"\(sha256:[0-9a-f]{12}\.\.\. -> sha256:[0-9a-f]{12}\.\.\.\)", changed[2])
    assert changed[3:] == ["miss  RUN echo $VERSION > /app/version: parent layer rebuilt",
                           'miss  CMD ["sh"]: parent layer rebuilt']
    explained = run_cli(store.root, "build-cache", "explain", "app:1")
    assert explained.exit_code == 0, explained.stderr
    assert _verdicts(explained.stdout.splitlines()) == changed


def test_a_changed_build_arg_is_named(store: Store, project: Path) -> None:
    _build(store, project)
    lines = _verdicts(_build(store, project, "--build-arg", "VERSION=2"))
    assert lines[3] == "miss  RUN echo $VERSION > /app/version: ARG VERSION changed"
    missing = run_cli(store.root, "build-cache", "explain", "busybox")
    assert missing.exit_code == 1 and "no build of busybox was recorded" in missing.stderr
