"""RUN steps in the runtime's sandbox: layers with whiteouts, mounts, failures, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from build_helpers import build, files_of

from minidock.builder import RunFailed
from minidock.builder import events as ev
from minidock.store.store import Image, Store

pytestmark = pytest.mark.root

if os.geteuid() != 0:
    pytest.skip("RUN steps need root here (namespaces and overlayfs)", allow_module_level=True)


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    root.mkdir()
    (root / "in.txt").write_text("from context\n")
    return root


def output_of(rec) -> bytes:  # type: ignore[no-untyped-def]
    return b"".join(e.data for e in rec.of(ev.StepOutput))


def test_run_deletes_and_replaces(store: Store, busybox: Image, ctx: Path) -> None:
    image, rec = build(store, ctx,
                       "FROM busybox\n"
                       "RUN mkdir -p /data/old && echo x > /data/old/f && rm /etc/group\n"
                       "RUN rm -rf /data && mkdir /data && echo new > /data/g\n"
                       "RUN echo out; echo err >&2\n")
    tree = files_of(store, image)
    assert "/etc/group" not in tree
    assert "/data/old" not in tree and tree["/data/g"][4] == b"new\n"
    assert output_of(rec) == b"out\nerr\n"
    assert [h["created_by"] for h in image.config["history"][1:]] == [
        "/bin/sh -c mkdir -p /data/old && echo x > /data/old/f && rm /etc/group",
        "/bin/sh -c rm -rf /data && mkdir /data && echo new > /data/g",
        "/bin/sh -c echo out; echo err >&2",
    ]
    assert len(rec.of(ev.ContainerStarted)) == 3 == len(rec.of(ev.ContainerRemoved))
    assert list((store.root / "tmp").iterdir()) == []


def test_failing_run_keeps_completed_steps_cached(store: Store, busybox: Image,
                                                   ctx: Path) -> None:
    dockerfile = "FROM busybox\nRUN echo one > /one\nRUN false\n"
    with pytest.raises(RunFailed) as info:
        build(store, ctx, dockerfile, tags=["broken"])
    assert str(info.value) == "The command '/bin/sh -c false' returned a non-zero code: 1"
    assert info.value.exit_code == 1
    assert store.find_image("broken") is None
    with pytest.raises(RunFailed):
        _, rec = build(store, ctx, dockerfile)
    # the second attempt reused the first RUN
    image, rec = build(store, ctx, "FROM busybox\nRUN echo one > /one\n")
    assert rec.of(ev.CacheHit) == [ev.CacheHit()]


def test_run_cache_key_includes_build_args(store: Store, busybox: Image, ctx: Path) -> None:
    dockerfile = "FROM busybox\nARG V=1\nRUN echo $V > /v\n"
    first, _ = build(store, ctx, dockerfile)
    same, rec = build(store, ctx, dockerfile)
    assert same.id == first.id and len(rec.of(ev.CacheHit)) == 2
    other, rec = build(store, ctx, dockerfile, build_args={"V": "2"})
    assert files_of(store, other)["/v"][4] == b"2\n"
    assert other.config["history"][-1]["created_by"] == "|1 V=2 /bin/sh -c echo $V > /v"


def test_exec_form_heredoc_and_user(store: Store, busybox: Image, ctx: Path) -> None:
    image, rec = build(store, ctx, 'FROM busybox\nRUN ["echo", "exec form"]\n'
                                   "RUN <<EOF\necho heredoc > /h\nEOF\n"
                                   "RUN <<EOF\n#!/bin/sh\necho script\nEOF\n"
                                   "USER app\nRUN id -u > /tmp/uid || id -u\n")
    out = output_of(rec)
    assert b"exec form\n" in out and b"script\n" in out
    assert files_of(store, image)["/h"][4] == b"heredoc\n"
    assert b"1000\n" in out or files_of(store, image)["/tmp/uid"][4] == b"1000\n"


def test_mounts_cache_bind_and_stage(store: Store, busybox: Image, ctx: Path) -> None:
    dockerfile = ("FROM busybox AS src\nRUN echo staged > /staged\n"
                  "FROM busybox\n"
                  "RUN --mount=type=cache,target=/var/cache/x echo run >> /var/cache/x/log && "
                  "wc -l < /var/cache/x/log\n"
                  "RUN --mount=type=bind,source=in.txt,target=/mnt/in.txt cat /mnt/in.txt\n"
                  "RUN --mount=type=bind,from=src,source=/staged,target=/s cat /s\n")
    image, rec = build(store, ctx, dockerfile)
    out = output_of(rec)
    assert b"from context\n" in out and b"staged\n" in out
    tree = files_of(store, image)
    # mount points the image did not have are not part of the image
    assert "/mnt" not in tree and "/s" not in tree and "/var/cache" not in tree
    # the cache mount keeps its content between builds (no layer cache: --no-cache)
    _, rec = build(store, ctx, dockerfile, no_cache=True)
    assert b"2\n" in output_of(rec)
    # changing a bind-mounted context file invalidates that step
    (ctx / "in.txt").write_text("changed\n")
    _, rec = build(store, ctx, dockerfile)
    assert b"changed\n" in output_of(rec)


def test_network_none_has_only_loopback(store: Store, busybox: Image, ctx: Path) -> None:
    _, rec = build(store, ctx, "FROM busybox\nRUN --network=none ls /sys/class/net\n")
    assert output_of(rec).split() == [b"lo"]


CTRL_C_SCRIPT = r"""
import sys
from pathlib import Path
from minidock.builder import BuildOptions, build_image
from minidock.builder.context import BuildContext
from minidock.settings import Settings
from minidock.store.store import Store

store = Store(Settings.from_env({}, root=sys.argv[1]))
def progress(event):
    if type(event).__name__ == "StepOutput":
        print("STARTED", flush=True)
build_image(store, BuildContext.from_directory(sys.argv[2]),
            b"FROM busybox\nRUN echo x > /done\nRUN echo go; sleep 987\n",
            BuildOptions(tags=["never"]), progress=progress)
"""


def test_ctrl_c_stops_the_step_and_keeps_the_store_consistent(store: Store, busybox: Image,
                                                              ctx: Path, tmp_path: Path) -> None:
    script = tmp_path / "b.py"
    script.write_text(CTRL_C_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), str(store.root), str(ctx)],
                            stdout=subprocess.PIPE, cwd=Path(__file__).parents[2])
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"STARTED\n"
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    assert proc.returncode != 0
    time.sleep(0.2)
    # nothing of the step's container is left: no process, no bundle, no mount
    assert list((store.root / "tmp").iterdir()) == []
    assert "sleep 987" not in subprocess.run(["ps", "-eo", "args"], capture_output=True,
                                            text=True).stdout
    assert str(store.root) not in Path("/proc/self/mountinfo").read_text()
    assert store.check() == []
    assert store.find_image("never") is None
    # the step that completed is cached
    _, rec = build(store, ctx, "FROM busybox\nRUN echo x > /done\n")
    assert rec.of(ev.CacheHit) == [ev.CacheHit()]


@pytest.fixture
def ignoring_ctx(tmp_path: Path) -> Path:
    """A context whose .dockerignore excludes a file at the top and one in a subdirectory."""
    root = tmp_path / "ctx"
    (root / "sub" / "deep").mkdir(parents=True)
    (root / "secret").write_text("host secret\n")
    (root / "kept.txt").write_text("kept\n")
    os.chmod(root / "kept.txt", 0o751)
    (root / "sub" / "hidden").write_text("hidden\n")
    (root / "sub" / "deep" / "f").write_text("deep\n")
    (root / "link").symlink_to("kept.txt")
    (root / ".dockerignore").write_text("secret\nsub/hidden\n")
    return root


def test_a_bound_context_hides_what_dockerignore_excludes(store: Store, busybox: Image,
                                                          ignoring_ctx: Path) -> None:
    """As BuildKit, RUN --mount=type=bind shows the context as .dockerignore filters it."""
    ctx = ignoring_ctx
    _, rec = build(store, ctx, "FROM busybox\n"
                   "RUN --mount=type=bind,target=/c cd /c && find . | sort && "
                   "stat -c '%a %n' kept.txt && cat link sub/deep/f\n"
                   "RUN --mount=type=bind,source=sub,target=/s ls -a /s\n")
    out = output_of(rec).decode()
    assert out.split("\n")[:8] == [".", "./.dockerignore", "./kept.txt", "./link", "./sub",
                                   "./sub/deep", "./sub/deep/f", "751 kept.txt"]
    assert out.endswith("kept\ndeep\n.\n..\ndeep\n")
    with pytest.raises(RunFailed):
        build(store, ctx, "FROM busybox\nRUN --mount=type=bind,target=/c cat /c/secret\n")
    with pytest.raises(RunFailed):
        build(store, ctx, "FROM busybox\n"
              "RUN --mount=type=bind,source=sub,target=/s cat /s/hidden\n")
    # the context itself is as it was
    assert sorted(os.listdir(ctx)) == [".dockerignore", "kept.txt", "link", "secret", "sub"]
    assert (ctx / "secret").read_text() == "host secret\n"
    assert list((store.root / "tmp").iterdir()) == []
