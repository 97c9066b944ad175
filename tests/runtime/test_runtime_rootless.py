"""The runtime tests again, as an unprivileged user (rootless: a user namespace maps
the caller to root, with /etc/subuid ranges through newuidmap when configured).

Run as root, this creates the user `minidock-test` if missing (useradd, which
also gives it subordinate ids) and re-runs the sandbox and CLI tests under it
with `runuser`. Run as any other user, the runtime tests are rootless already.
"""

from __future__ import annotations

import os
import pwd
import shutil
import site
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from runtime_helpers import REPO

USER = "minidock-test"
SUBSET = ["tests/runtime/test_runtime_sandbox.py", "tests/runtime/test_runtime_cli.py",
          "tests/runtime/test_runtime_ports.py", "tests/runtime/test_runtime_security.py",
          "tests/runtime/test_runtime_detached.py", "tests/runtime/test_commit_owners.py"]


def _ensure_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", USER], check=True,
                       capture_output=True)
        return pwd.getpwnam(USER)


def _python_for(user: str) -> tuple[str, str]:
    """An interpreter the user may run, and the PYTHONPATH it needs."""
    paths = [str(REPO / "src"), str(REPO), *site.getsitepackages()]
    probe = subprocess.run(["runuser", "-u", user, "--", sys.executable, "-c", "pass"],
                           capture_output=True)
    if probe.returncode == 0:
        return sys.executable, os.pathsep.join(paths)
    major_minor = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system = shutil.which(major_minor, path="/usr/bin:/usr/local/bin")
    if system is None:
        pytest.fail(f"no {major_minor} that {user} may run (the test interpreter lives in a "
                    "private directory)")
    return system, os.pathsep.join(paths)


@pytest.fixture
def user_dir() -> Iterator[Path]:
    """A scratch dir the test user can reach (pytest's own are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="minidock-rootless-"))
    yield path
    from minidock.fsutil import remove_tree

    remove_tree(path)


@pytest.mark.skipif(os.geteuid() != 0, reason="already unprivileged: the other runtime "
                    "tests of this run are the rootless ones")
def test_runtime_tests_pass_as_an_unprivileged_user(user_dir: Path) -> None:
    user = _ensure_user()
    python, pythonpath = _python_for(USER)
    base = user_dir
    os.chown(base, user.pw_uid, user.pw_gid)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": user.pw_dir,
           "PYTHONPATH": pythonpath, "LANG": "C.UTF-8"}
    cmd = ["runuser", "-u", USER, "--", python, "-m", "pytest", "-q", "-x",
           "-p", "no:cacheprovider", f"--basetemp={base}", "-k", "not many_containers",
           *SUBSET]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    tail = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
    assert done.returncode == 0, tail
    assert " passed" in done.stdout and " failed" not in done.stdout
