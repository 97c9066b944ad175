"""A Dockerfile without RUN builds as an unprivileged user, with no sandbox at all."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from build_helpers import BUSYBOX_DIRS, add_image, busybox_files
from store_testkit import reachable_dir

import minidock.builder.add  # noqa: F401 - loaded before dropping privileges
import minidock.layer.compression  # noqa: F401
import minidock.layer.extract  # noqa: F401
import minidock.runtime.storage  # noqa: F401
from minidock.builder import BuildOptions, build_image
from minidock.builder.context import BuildContext
from minidock.builder.executor import RunRequest, StepContainer
from minidock.layer.compression import decompressing_reader
from minidock.layer.tarstream import TarReader
from minidock.settings import Settings
from minidock.store.store import Store

NOBODY = 65534

if os.geteuid() != 0:
    pytest.skip("needs root to switch to an unprivileged user", allow_module_level=True)


class NoSandbox:
    """An executor that fails the test if anything tries to run a container."""

    def create(self, request: RunRequest) -> StepContainer:
        raise AssertionError("a Dockerfile without RUN must not need a container")


DOCKERFILE = b"""\
FROM busybox
COPY --chown=app:staff --chmod=640 app.conf /etc/app/
USER app
WORKDIR /srv/app
COPY . .
ENV MODE=prod
"""


@pytest.fixture
def nobody_dir() -> Iterator[Path]:
    """A directory the unprivileged user can reach (pytest's tmp dirs are 0700 root)."""
    with reachable_dir("minidock-nobody-") as path:
        yield path


def test_copy_only_build_as_nobody(nobody_dir: Path) -> None:
    tmp_path = nobody_dir
    store = Store(Settings.from_env({}, root=tmp_path / "store")).ensure()
    add_image(store, busybox_files(), tag="busybox:latest", dirs=BUSYBOX_DIRS)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "app.conf").write_text("x=1\n")
    for path in (tmp_path, *tmp_path.rglob("*")):
        os.lchown(path, NOBODY, NOBODY)
    shutil.rmtree(store.layers_dir)  # layers get extracted again, unprivileged
    store.layers_dir.mkdir()
    os.chown(store.layers_dir, NOBODY, NOBODY)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            as_nobody = Store(Settings.from_env({}, root=tmp_path / "store"))
            build_image(as_nobody, BuildContext.from_directory(ctx), DOCKERFILE,
                        BuildOptions(tags=["built-by-nobody"]), executor=NoSandbox())
            code = 0
        except BaseException:  # noqa: B036 - report through the exit code
            import traceback

            traceback.print_exc()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    image = store.image("built-by-nobody")
    entries = {}
    for desc in image.layers:  # owners as recorded in the layers, whoever extracts them
        with store.open_blob(desc) as blob:
            for entry in TarReader(decompressing_reader(blob, desc.media_type)):
                entries[entry.path.rstrip("/")] = entry
    conf = entries["etc/app/app.conf"]
    assert (conf.mode, conf.uid, conf.gid) == (0o640, 1000, 50)
    assert (entries["srv/app"].uid, entries["srv/app"].mode) == (0, 0o755)
    assert entries["srv/app/app.conf"].size == 4
