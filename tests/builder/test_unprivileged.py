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
    # WORKDIR under USER app: created as app (BuildKit's rule), recorded with the container id
    assert (entries["srv/app"].uid, entries["srv/app"].mode) == (1000, 0o755)
    assert entries["srv/app/app.conf"].size == 4


LAYER_OWNERS = """\
import json, sys
from pathlib import Path
from minidock.builder import BuildOptions, build_image
from minidock.builder.context import BuildContext
from minidock.layer.compression import decompressing_reader
from minidock.layer.tarstream import TarReader
from minidock.settings import Settings
from minidock.store.store import Store

base = Path(sys.argv[1])
store = Store(Settings.from_env({"MINIDOCK_STORAGE_DRIVER": sys.argv[2]}, root=base / "store"))
build_image(store, BuildContext.from_directory(base / "ctx"), sys.argv[3].encode(),
            BuildOptions(tags=["rootless-owners"]))
owners = {}
for desc in store.image("rootless-owners").layers[-2:]:  # the RUN's layer, the COPY's
    with store.open_blob(desc) as blob:
        for e in TarReader(decompressing_reader(blob, desc.media_type)):
            owners[e.path.rstrip("/")] = [e.uid, e.gid]
print(json.dumps(owners))
"""


def _user_python(user: str) -> tuple[str, str]:
    """An interpreter `user` may run, and the PYTHONPATH it needs."""
    import site
    import subprocess
    import sys

    src = str(Path(minidock.builder.add.__file__).resolve().parents[2])
    paths = os.pathsep.join([src, *site.getsitepackages()])
    probe = subprocess.run(["runuser", "-u", user, "--", sys.executable, "-c", "pass"],
                           capture_output=True)
    if probe.returncode == 0:
        return sys.executable, paths
    system = shutil.which(f"python{sys.version_info.major}.{sys.version_info.minor}",
                          path="/usr/bin:/usr/local/bin")
    if system is None:
        pytest.fail(f"no interpreter that {user} may run")
    return system, paths


def _subid_user() -> str:
    """A user with subordinate ids (made with useradd, which gives it ranges)."""
    import pwd
    import subprocess

    name = "minidock-test"
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", name], check=True,
                       capture_output=True)
    return name


@pytest.mark.parametrize("driver", ["overlay", "copy"])
@pytest.mark.parametrize("mapping", ["subordinate-ids", "single-id"])
def test_rootless_run_layers_hold_container_ids(nobody_dir: Path, driver: str,
                                                mapping: str) -> None:
    """A RUN layer built by an unprivileged user holds the ids the container gave its
    files, never host ids (subordinate or the user's own), and keeps the parent
    image's non-root owners on what the step changed; COPY --from keeps them too."""
    import json
    import pwd
    import subprocess

    from minidock.builder.executor import SandboxExecutor

    user = _subid_user() if mapping == "subordinate-ids" else "nobody"
    account = pwd.getpwnam(user)
    store = Store(Settings.from_env({}, root=nobody_dir / "store")).ensure()
    add_image(store, busybox_files(), tag="busybox:latest", dirs=BUSYBOX_DIRS)
    ctx = nobody_dir / "ctx"
    ctx.mkdir()
    build_image(store, BuildContext.from_directory(ctx),
                b"FROM busybox\nRUN echo parent > /home/app/owned && "
                b"chown -R 1000:1000 /home/app\n",
                BuildOptions(tags=["parent:1"]), executor=SandboxExecutor(store.tmp_dir))
    shutil.rmtree(store.layers_dir)  # extracted again, unprivileged
    store.layers_dir.mkdir()
    for path in (nobody_dir, *nobody_dir.rglob("*")):
        os.lchown(path, account.pw_uid, account.pw_gid)
    chown = "chown 1:1 /hello && " if mapping == "subordinate-ids" else ""
    dockerfile = (f"FROM parent:1\nRUN touch /hello && {chown}echo more >> /home/app/owned\n"
                  "COPY --from=parent:1 /home/app/owned /copied\n")
    script = nobody_dir / "layer_owners.py"
    script.write_text(LAYER_OWNERS)
    python, pythonpath = _user_python(user)
    done = subprocess.run(
        ["runuser", "-u", user, "--", python, str(script), str(nobody_dir), driver, dockerfile],
        env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": str(nobody_dir),
             "PYTHONPATH": pythonpath}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    owners = json.loads(done.stdout.splitlines()[-1])
    assert owners["hello"] == ([1, 1] if chown else [0, 0])
    assert owners["home/app"] == owners["home/app/owned"] == [1000, 1000]
    assert owners["home"] == [0, 0]
    assert owners["copied"] == [1000, 1000]
