"""Building images without RUN: steps, history, cache, multi-stage, ONBUILD, errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from build_helpers import add_image, build, busybox_files, files_of

from minidock.builder import events as ev
from minidock.errors import BuildError, DockerfileError, MinidockError
from minidock.store.store import Image, Store


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    (root / "conf.d").mkdir(parents=True)
    (root / "conf.d" / "upstream.conf").write_text("upstream x {}\n")
    (root / "a.txt").write_text("A\n")
    (root / "b.txt").write_text("B\n")
    (root / "c.txt").write_text("C\n")
    return root


def test_metadata_steps_and_history(store: Store, busybox: Image, ctx: Path) -> None:
    image, rec = build(store, ctx, "FROM busybox\nEXPOSE 443\nENV A=1 B=2\nLABEL x=y\n"
                                   "CMD [\"sh\"]\n")
    assert rec.lines()[:3] == ["Step 1/5 : FROM busybox", "done", "Step 2/5 : EXPOSE 443"]
    assert len(rec.of(ev.ContainerStarted)) == 4
    assert image.layers == busybox.layers
    cfg = image.config["config"]
    assert cfg["ExposedPorts"] == {"443/tcp": {}}
    assert "A=1" in cfg["Env"] and cfg["Labels"] == {"x": "y"}
    history = image.config["history"]
    assert history[0] == busybox.config["history"][0]
    assert [h["created_by"] for h in history[1:]] == [
        "/bin/sh -c #(nop)  EXPOSE 443",
        "/bin/sh -c #(nop)  ENV A=1 B=2",
        "/bin/sh -c #(nop)  LABEL x=y",
        '/bin/sh -c #(nop)  CMD ["sh"]',
    ]
    assert all(h.get("empty_layer") for h in history[1:])
    # the result is listed, the intermediates are not
    ids = {img.id for img in store.images()}
    assert ids == {busybox.id, image.id}


def test_tutorial_copy_and_volumes(store: Store, busybox: Image, ctx: Path) -> None:
    image, _ = build(store, ctx, "FROM busybox\nCOPY ./conf.d/upstream.conf /etc/nginx/conf.d/\n"
                                 "VOLUME /etc/nginx/conf.d/\nVOLUME /var/log/nginx/\n",
                     tags=["nginx-test"])
    assert [n.familiar for n in store.image("nginx-test").names] == ["nginx-test:latest"]
    created_by = image.config["history"][1]["created_by"]
    assert created_by.startswith("/bin/sh -c #(nop) COPY file:")
    assert created_by.endswith(" in /etc/nginx/conf.d/ ")
    assert image.config["config"]["Volumes"] == {"/etc/nginx/conf.d/": {},
                                                 "/var/log/nginx/": {}}
    tree = files_of(store, image)
    assert tree["/etc/nginx/conf.d/upstream.conf"][4] == b"upstream x {}\n"
    assert tree["/etc/nginx"][:4] == ("d", "0o755", 0, 0)
    assert tree["/etc/passwd"][0] == "f"  # the base's files are still there


def test_changed_copy_source_rebuilds_from_that_step(store: Store, busybox: Image,
                                                     ctx: Path) -> None:
    dockerfile = "FROM busybox\nCOPY a.txt /a\nCOPY b.txt /b\nCOPY c.txt /c\n"
    first, _ = build(store, ctx, dockerfile)
    again, rec = build(store, ctx, dockerfile)
    assert again.id == first.id
    assert len(rec.of(ev.CacheHit)) == 3
    (ctx / "b.txt").write_text("B changed\n")
    changed, rec = build(store, ctx, dockerfile)
    assert changed.id != first.id
    assert rec.lines() == ["Step 1/4 : FROM busybox", "done",
                           "Step 2/4 : COPY a.txt /a", "Using cache", "done",
                           "Step 3/4 : COPY b.txt /b", "done",
                           "Step 4/4 : COPY c.txt /c", "done"]
    assert files_of(store, changed)["/b"][4] == b"B changed\n"
    _, rec = build(store, ctx, dockerfile, no_cache=True)
    assert rec.of(ev.CacheHit) == []


def test_source_date_epoch_gives_identical_images(tmp_path: Path, ctx: Path) -> None:
    from minidock.settings import Settings

    ids = []
    for n in range(2):
        store = Store(Settings.from_env({}, root=tmp_path / f"store{n}")).ensure()
        add_image(store, busybox_files(), tag="busybox:latest")
        os.utime(ctx / "a.txt", (1_700_000_000 + n, 1_700_000_000 + n))
        image, _ = build(store, ctx, "FROM busybox\nCOPY a.txt /srv/a\nWORKDIR /app\n"
                                     "COPY conf.d conf/\nENV X=1\n", source_date_epoch=0)
        assert image.config["created"] == "1970-01-01T00:00:00Z"
        ids.append(image.id)
    assert ids[0] == ids[1]


def test_multi_stage_builds_only_needed_stages(store: Store, busybox: Image, ctx: Path) -> None:
    dockerfile = ("FROM busybox AS unused\nCOPY a.txt /never\n"
                  "FROM busybox AS builder\nCOPY a.txt b.txt /out/\n"
                  "FROM scratch\nCOPY --from=builder /out/a.txt /a\nCOPY --from=1 /out/b.txt /b\n"
                  "COPY --from=busybox /etc/group /group\n")
    image, rec = build(store, ctx, dockerfile)
    assert [e.text for e in rec.of(ev.StepStarted)] == [
        "FROM busybox AS builder", "COPY a.txt b.txt /out/", "FROM scratch",
        "COPY --from=builder /out/a.txt /a", "COPY --from=1 /out/b.txt /b",
        "COPY --from=busybox /etc/group /group"]
    tree = files_of(store, image)
    assert set(tree) == {"/a", "/b", "/group"}
    assert tree["/a"][4] == b"A\n"


def test_target_stage(store: Store, busybox: Image, ctx: Path) -> None:
    dockerfile = "FROM busybox AS one\nENV STAGE=one\nFROM one AS two\nENV STAGE=two\n"
    image, _ = build(store, ctx, dockerfile, target="one")
    assert "STAGE=one" in image.config["config"]["Env"]
    with pytest.raises(DockerfileError, match="target stage .three. could not be found"):
        build(store, ctx, dockerfile, target="three")


def test_onbuild_triggers_fire_in_the_child(store: Store, busybox: Image, ctx: Path) -> None:
    build(store, ctx, "FROM busybox\nONBUILD COPY a.txt /from-trigger\nONBUILD ENV T=1\n",
          tags=["withtriggers"])
    image, rec = build(store, ctx, "FROM withtriggers\nENV AFTER=1\n")
    assert rec.of(ev.TriggersExecuting) == [ev.TriggersExecuting(2)]
    assert files_of(store, image)["/from-trigger"][4] == b"A\n"
    cfg = image.config["config"]
    assert "T=1" in cfg["Env"] and "OnBuild" not in cfg


def test_arg_env_and_build_args(store: Store, busybox: Image, ctx: Path) -> None:
    dockerfile = ("ARG BASE=busybox\nFROM $BASE\nARG NAME=default\nARG DIR\n"
                  "ENV GREETING=hello-$NAME\nCOPY a.txt /$DIR/$NAME.txt\n")
    image, rec = build(store, ctx, dockerfile, build_args={"NAME": "world", "DIR": "srv",
                                                           "UNUSED": "x"})
    assert "GREETING=hello-world" in image.config["config"]["Env"]
    assert "/srv/world.txt" in files_of(store, image)
    assert rec.of(ev.BuildWarning) == [
        ev.BuildWarning("[Warning] One or more build-args [UNUSED] were not consumed")]


def test_workdir_created_and_user_by_name(store: Store, busybox: Image, ctx: Path) -> None:
    image, _ = build(store, ctx, "FROM busybox\nUSER app\nWORKDIR /data/work\nWORKDIR /tmp\n"
                                 "COPY --chown=app:staff --chmod=640 a.txt .\n")
    tree = files_of(store, image)
    # created for USER app (uid 1000, primary group 1000), as BuildKit does
    assert tree["/data"][:4] == tree["/data/work"][:4] == ("d", "0o755", 1000, 1000)
    assert tree["/tmp/a.txt"][:4] == ("f", "0o640", 1000, 50)
    history = image.config["history"]
    assert history[-2]["created_by"] == "/bin/sh -c #(nop) WORKDIR /tmp"
    assert history[-2]["empty_layer"] is True  # /tmp existed: no layer
    assert "empty_layer" not in history[-3]
    assert image.config["config"]["User"] == "app"


def test_dockerignore_and_symlinks(store: Store, busybox: Image, ctx: Path) -> None:
    (ctx / ".dockerignore").write_text("*.txt\n!b.txt\n")
    os.symlink("b.txt", ctx / "link")
    image, _ = build(store, ctx, "FROM scratch\nCOPY . /all/\n")
    tree = files_of(store, image)
    assert "/all/a.txt" not in tree and tree["/all/b.txt"][4] == b"B\n"
    assert tree["/all/link"] == ("l", None, 0, 0, "b.txt")
    with pytest.raises(BuildError, match="file not found in build context: a.txt"):
        build(store, ctx, "FROM scratch\nCOPY a.txt /\n")


def test_an_excluded_directory_holding_re_included_files_is_in_the_context(
        store: Store, busybox: Image, tmp_path: Path) -> None:
    """BuildKit sends the parents of an included file even when a pattern excludes them
    (`**` then `!dir/f1`), but never looks into a directory no exception starts in."""
    ctx = tmp_path / "allow"
    (ctx / "dir" / "sub").mkdir(parents=True)
    (ctx / "dir" / "f1").write_text("1\n")
    (ctx / "dir" / "f2").write_text("2\n")
    (ctx / "dir" / "sub" / "f3").write_text("3\n")
    (ctx / "other").mkdir()
    (ctx / "other" / "f1").write_text("x\n")
    os.chmod(ctx / "dir", 0o750)
    (ctx / ".dockerignore").write_text("**\n!dir/f1\n!dir/sub/f3\n")
    image, _ = build(store, ctx, "FROM scratch\nCOPY dir /d\nCOPY . /all/\n")
    tree = files_of(store, image)
    assert sorted(p for p in tree if p.startswith("/d")) == ["/d", "/d/f1", "/d/sub",
                                                             "/d/sub/f3"]
    assert tree["/d/f1"][4] == b"1\n" and tree["/d/sub/f3"][4] == b"3\n"
    assert sorted(p for p in tree if p.startswith("/all/")) == [
        "/all/dir", "/all/dir/f1", "/all/dir/sub", "/all/dir/sub/f3"]
    assert tree["/all/dir"][1] == "0o750"
    with pytest.raises(BuildError, match="file not found in build context: other"):
        build(store, ctx, "FROM scratch\nCOPY other /o\n")
    # `dir` then `!*/f1`: Docker never looks inside `dir`, so dir/f1 is not there
    (ctx / ".dockerignore").write_text("dir\n!*/f1\n")
    with pytest.raises(BuildError, match="file not found in build context: dir/f1"):
        build(store, ctx, "FROM scratch\nCOPY dir/f1 /f1\n")
    image, _ = build(store, ctx, "FROM scratch\nCOPY . /all/\n")
    assert "/all/dir" not in files_of(store, image)


@pytest.mark.parametrize(("dockerfile", "message"), [
    ("FROM busybox\nCOPY ../x /x\n",
     "COPY failed: forbidden path outside the build context: ../x"),
    ("FROM busybox\nCOPY escape /x\n", "forbidden path outside the build context: escape"),
    ("FROM busybox\nCOPY missing /x\n", "COPY failed: file not found in build context: missing"),
    ("FROM busybox\nRUNN x\n", "Dockerfile:2: unknown instruction: RUNN (did you mean RUN?)"),
    ("FROM nosuchimage:1\n", "nosuchimage:1"),
])
def test_bad_input_leaves_the_store_alone(store: Store, busybox: Image, ctx: Path,
                                          dockerfile: str, message: str) -> None:
    os.symlink("/etc/passwd", ctx / "escape")
    before = {img.id for img in store.images()}
    with pytest.raises(MinidockError) as info:
        build(store, ctx, dockerfile, tags=["never"])
    assert message in str(info.value)
    assert {img.id for img in store.images()} == before
    assert store.find_image("never") is None


def test_every_config_instruction(store: Store, busybox: Image, ctx: Path) -> None:
    image, _ = build(store, ctx, "FROM busybox\nMAINTAINER ops@example.com\n"
                                 'SHELL ["/bin/sh", "-ec"]\n'
                                 "STOPSIGNAL SIGQUIT\nHEALTHCHECK --interval=5s CMD true\n"
                                 "ENTRYPOINT echo hi\nCMD [\"x\"]\nVOLUME /data\nUSER 1000:50\n")
    cfg = image.config["config"]
    assert cfg["Shell"] == ["/bin/sh", "-ec"]
    assert cfg["StopSignal"] == "SIGQUIT"
    assert cfg["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000}
    assert cfg["Entrypoint"] == ["/bin/sh", "-ec", "echo hi"]
    assert cfg["Cmd"] == ["x"]
    assert cfg["Volumes"] == {"/data": {}}
    assert cfg["User"] == "1000:50"
    assert image.config["author"] == "ops@example.com"
    assert image.config["history"][1]["created_by"] == \
        "/bin/sh -c #(nop)  MAINTAINER ops@example.com"


def test_from_by_digest_and_scratch(store: Store, busybox: Image, ctx: Path) -> None:
    image, rec = build(store, ctx, f"FROM busybox@{busybox.digest}\nENV X=1\n")
    assert image.layers == busybox.layers
    empty, _ = build(store, ctx, "FROM scratch\nENV X=1\n")
    assert empty.layers == () and empty.config["rootfs"]["diff_ids"] == []


def test_heredoc_link_exclude_and_archives(store: Store, busybox: Image, ctx: Path) -> None:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tar:
        info = tarfile.TarInfo("pkg/readme")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"readme"))
    (ctx / "pkg.tar.xz").write_bytes(buf.getvalue())
    (ctx / "skip.log").write_text("log\n")
    image, _ = build(store, ctx,
                     "FROM busybox\n"
                     "COPY <<EOF /etc/motd\nhello $HOSTNAME\nEOF\n"
                     "COPY --link a.txt /linked/a.txt\n"
                     "COPY --exclude=*.log --exclude=conf.d . /ctx/\n"
                     "ADD pkg.tar.xz /opt/\n"
                     "COPY pkg.tar.xz /kept/\n")
    tree = files_of(store, image)
    assert tree["/etc/motd"][4] == b"hello \n"
    assert tree["/linked/a.txt"][4] == b"A\n"
    assert "/ctx/skip.log" not in tree and "/ctx/conf.d" not in tree and "/ctx/b.txt" in tree
    assert tree["/opt/pkg/readme"][4] == b"readme"
    assert tree["/kept/pkg.tar.xz"][0] == "f"  # COPY never unpacks
    history = [h["created_by"] for h in image.config["history"]]
    assert history[-2].startswith("/bin/sh -c #(nop) ADD file:")


def test_add_url(store: Store, busybox: Image, ctx: Path, tmp_path: Path) -> None:
    import functools
    import http.server
    import threading

    www = tmp_path / "www"
    www.mkdir()
    (www / "tool.sh").write_text("#!/bin/sh\n")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(Quiet, directory=str(www)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/tool.sh"
        image, _ = build(store, ctx, f"FROM busybox\nADD {url} /usr/local/bin/\n")
        again, rec = build(store, ctx, f"FROM busybox\nADD {url} /usr/local/bin/\n")
    finally:
        server.shutdown()
        server.server_close()
    assert files_of(store, image)["/usr/local/bin/tool.sh"][:2] == ("f", "0o600")
    assert again.id == image.id and rec.of(ev.CacheHit) == [ev.CacheHit()]
