"""The same Dockerfile built by minidock and by `buildah bud`, unpacked by `umoci unpack`,
gives the same file tree: paths, types, modes, owners, contents and link targets."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from build_helpers import BUSYBOX_DIRS, add_image, busybox_files

from minidock.builder import BuildOptions, build_image
from minidock.builder.context import BuildContext
from minidock.settings import Settings
from minidock.store.store import Store

pytestmark = pytest.mark.interop

TOOLS = ("buildah", "umoci", "skopeo")
missing = [t for t in TOOLS if shutil.which(t) is None]
if missing or os.geteuid() != 0:
    pytest.skip(f"needs root and {', '.join(TOOLS)} (missing: {', '.join(missing) or 'root'})",
                allow_module_level=True)

BASE_DOCKERFILE = """\
FROM localhost/busybox:latest
ONBUILD RUN echo triggered > /onbuild.txt
ONBUILD ENV FROM_TRIGGER=yes
"""

DOCKERFILE = """\
FROM localhost/busybox:latest AS builder
ARG GREETING=hello
ENV TARGET=world
RUN mkdir -p /out/deep && echo "$GREETING $TARGET" > /out/msg && ln -s msg /out/link
FROM localhost/onbuild-base:latest
ARG VERSION=1.0
ENV APP_VERSION=$VERSION DIR=/opt/app
COPY --chown=app files/ /srv/files/
COPY --chmod=751 files/one /srv/one-exec
RUN rm /etc/group
RUN mkdir -p /srv/dir/old && echo o > /srv/dir/old/f
RUN rm -rf /srv/dir && mkdir /srv/dir && echo "$APP_VERSION $FROM_TRIGGER" > /srv/dir/file
USER app
WORKDIR $DIR/data
COPY --from=builder /out/ ./
RUN echo "$(id -un) in $(pwd)" > /tmp/who
"""

# What buildah's RUN leaves behind (its mount points), which Docker's builder does not
# put in an image; ignored when buildah has them empty and minidock does not have them.
BUILDAH_RUN_ARTIFACTS = {"/dev", "/proc", "/sys", "/run", "/etc/hosts", "/etc/hostname",
                         "/etc/resolv.conf"}

# Where buildah 1.28 departs from BuildKit, whose rule minidock follows: BuildKit's WORKDIR is a
# `mkdir -p` run as USER that chowns every directory it creates (dockerfile2llb's dispatchWorkdir,
# llb.Mkdir WithParents + WithUser; fsutil's MkdirAll), so `USER app` then `WORKDIR $DIR/data`
# gives app:app to /opt, /opt/app and /opt/app/data. buildah 1.28 makes nothing at WORKDIR; the
# `COPY --from=builder /out/ ./` after it creates the three directories root-owned.
WORKDIR_MADE_FOR_USER = {"/opt": (1000, 1000), "/opt/app": (1000, 1000),
                         "/opt/app/data": (1000, 1000)}


def tree(root: Path) -> dict[str, tuple[str, int, int, int, str]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            host = Path(dirpath) / name
            st = os.lstat(host)
            rel = "/" + str(host.relative_to(root))
            if os.path.islink(host):
                detail, kind = os.readlink(host), "l"
            elif host.is_dir():
                detail, kind = "", "d"
            else:
                detail, kind = hashlib.sha256(host.read_bytes()).hexdigest(), "f"
            out[rel] = (kind, st.st_mode & 0o7777 if kind != "l" else 0, st.st_uid, st.st_gid,
                        detail)
    return out


def run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def test_same_tree_as_buildah(tmp_path: Path) -> None:
    store = Store(Settings.from_env({}, root=tmp_path / "store", compression="gzip")).ensure()
    add_image(store, busybox_files(), tag="localhost/busybox:latest", dirs=BUSYBOX_DIRS,
              compression="gzip")
    ctx = tmp_path / "ctx"
    (ctx / "files" / "sub").mkdir(parents=True)
    (ctx / "files" / "one").write_text("one\n")
    (ctx / "files" / "sub" / "two").write_text("two\n")
    os.chmod(ctx / "files" / "sub" / "two", 0o600)
    os.symlink("one", ctx / "files" / "lnk")
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    base_ctx = tmp_path / "base"
    base_ctx.mkdir()
    (base_ctx / "Dockerfile").write_text(BASE_DOCKERFILE)

    opts = BuildOptions(compression="gzip")
    build_image(store, BuildContext.from_directory(base_ctx), BASE_DOCKERFILE.encode(),
                BuildOptions(tags=["localhost/onbuild-base:latest"], compression="gzip"))
    build_image(store, BuildContext.from_directory(ctx), DOCKERFILE.encode(),
                BuildOptions(tags=["localhost/interop:latest"], compression=opts.compression))

    storage = f"vfs@{tmp_path}/cs-root+{tmp_path}/cs-run"
    buildah = ["buildah", "--root", f"{tmp_path}/cs-root", "--runroot", f"{tmp_path}/cs-run",
               "--storage-driver", "vfs"]
    try:
        run("skopeo", "copy", "-q", f"oci:{store.root}:localhost/busybox:latest",
            f"containers-storage:[{storage}]localhost/busybox:latest")
        run(*buildah, "bud", "-q", "--format", "docker", "-t",
            "localhost/onbuild-base:latest", str(base_ctx))
        run(*buildah, "bud", "-q", "--layers", "-t", "localhost/interop:latest", str(ctx))
        run(*buildah, "push", "-q", "localhost/interop:latest", f"oci:{tmp_path}/b-oci:b")
        run("umoci", "unpack", "--image", f"{tmp_path}/b-oci:b", f"{tmp_path}/b-un")
        run("skopeo", "copy", "-q", f"oci:{store.root}:localhost/interop:latest",
            f"oci:{tmp_path}/m-oci:m")
        run("umoci", "unpack", "--image", f"{tmp_path}/m-oci:m", f"{tmp_path}/m-un")
    finally:
        subprocess.run([*buildah, "rm", "--all"], capture_output=True, check=False)
    ours = tree(tmp_path / "m-un" / "rootfs")
    theirs = tree(tmp_path / "b-un" / "rootfs")
    for path in BUILDAH_RUN_ARTIFACTS:
        if path not in ours and path in theirs and theirs[path][4] in (
                "", hashlib.sha256(b"").hexdigest()):
            del theirs[path]
    for path, owner in WORKDIR_MADE_FOR_USER.items():
        kind, mode, uid, gid, detail = theirs[path]
        assert (uid, gid) == (0, 0)  # buildah's COPY-created directory, not BuildKit's
        assert ours[path][2:4] == owner  # BuildKit's WORKDIR: created as USER
        theirs[path] = (kind, mode, *owner, detail)
    assert ours == theirs
    # and the content is what the Dockerfile says
    assert (tmp_path / "m-un/rootfs/srv/dir/file").read_text() == "1.0 yes\n"
    assert (tmp_path / "m-un/rootfs/tmp/who").read_text() == "app in /opt/app/data\n"
    assert (tmp_path / "m-un/rootfs/onbuild.txt").read_text() == "triggered\n"
    assert not (tmp_path / "m-un/rootfs/etc/group").exists()
