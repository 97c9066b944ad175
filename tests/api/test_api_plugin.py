"""The pytest plugin, used the way a user does: `pytest` in a separate process.

Each run gets its own TMPDIR (where session stores live), its own user store
(MINIDOCK_ROOT) and a marker in its environment, which every process it forks
(container supervisors included) inherits. After a run, nothing may remain:
no session directory, no mount below those directories, no container in the
user store, no process carrying the marker.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from api_helpers import REPO, fixture_archive

from minidock.api import Client
from minidock.api.sessions import OWNER_LABEL, WORKER_LABEL
from minidock.runtime.containers import all_ids, process_start_time

EXAMPLES = REPO / "examples"
MARKER = "MINIDOCK_PLUGIN_TEST_MARKER"
RUN_TIMEOUT = 120


@pytest.fixture(scope="module", autouse=True)
def plugin_installed() -> None:
    names = {ep.value for ep in entry_points(group="pytest11")}
    assert "minidock.pytest_plugin" in names, (
        "the pytest11 entry point is not installed: pyproject.toml needs "
        '[project.entry-points.pytest11] minidock = "minidock.pytest_plugin", then '
        "`pip install -e .`")


class Run:
    """One isolated environment for sub-runs of pytest."""

    def __init__(self, tmp_path: Path, user_store: Path):
        self.tmp = tmp_path / "tmp"
        self.tmp.mkdir()
        self.user_store = user_store
        self.marker = secrets.token_hex(8)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        self.env.update({"TMPDIR": str(self.tmp), "MINIDOCK_ROOT": str(user_store),
                         MARKER: self.marker})

    @property
    def sessions(self) -> Path:
        return self.tmp / f"minidock-pytest-{os.getuid()}"

    def popen(self, *args: str, cwd: Path, env: dict[str, str] | None = None,
              new_group: bool = False) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=cwd,
            env={**self.env, **(env or {})}, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=new_group,
            # SIGINT must reach pytest even when this test run ignores it
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def pytest(self, *args: str, cwd: Path, env: dict[str, str] | None = None
               ) -> tuple[int, str]:
        proc = self.popen(*args, cwd=cwd, env=env)
        output, _ = proc.communicate(timeout=RUN_TIMEOUT)
        return proc.returncode, output

    def marked_processes(self) -> list[int]:
        needle = f"{MARKER}={self.marker}".encode()
        found = []
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == os.getpid():
                continue
            try:
                with open(f"/proc/{name}/environ", "rb") as f:
                    if needle in f.read().split(b"\0"):
                        found.append(int(name))
            except OSError:
                continue
        return found

    def assert_nothing_left(self, *stores: Path) -> None:
        assert not self.sessions.exists() or sorted(os.listdir(self.sessions)) == []
        watched = [str(self.tmp), str(self.user_store), *map(str, stores)]
        with open("/proc/self/mountinfo") as f:
            mounts = [line for line in f if any(w in line for w in watched)]
        assert mounts == []
        for store in (self.user_store, *stores):
            assert all_ids(store) == []
        assert self.marked_processes() == []


@pytest.fixture
def run(tmp_path: Path) -> Run:
    """An environment whose user store is empty: examples must not depend on it."""
    return Run(tmp_path, tmp_path / "user-store")


@pytest.fixture
def run_with_images(tmp_path: Path, store_root: Path) -> Run:
    """An environment whose user store holds busybox, nginx and redis."""
    user_store = tmp_path / "user-store"
    client = Client(user_store)
    for name in ("busybox", "nginx"):
        client.copy_image(f"{name}:latest" if name == "busybox" else "nginx:stable",
                          source=Client(store_root))
    return Run(tmp_path, user_store)


def write_suite(directory: Path, **files: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text))
    return directory


# ---- acceptance: the example suite ---------------------------------------------------------

def test_the_examples_pass_and_leave_nothing_behind(run):
    code, output = run.pytest(str(EXAMPLES), "-q", cwd=REPO)
    assert code == 0, output
    assert "4 passed" in output
    run.assert_nothing_left()


def test_the_examples_pass_on_two_xdist_workers(run):
    code, output = run.pytest(str(EXAMPLES), "-q", "-n", "2", cwd=REPO)
    assert code == 0, output
    assert "4 passed" in output
    run.assert_nothing_left()


# ---- interrupted and killed runs ---------------------------------------------------------

HANGING_SUITE = {
    "conftest.py": f"""
        import pytest

        @pytest.fixture(scope="session")
        def nginx(minidock_image):
            return minidock_image("nginx:stable", archive={str(fixture_archive("nginx"))!r})
    """,
    "test_hang.py": """
        import json, os, time
        from minidock.runtime.containers import load_record

        def test_hangs(minidock_container, nginx, worker_id):
            web = minidock_container(nginx)
            web.wait_for_http("/")
            record = load_record(web.root, web.id)
            state = {"pid": record.pid, "supervisor": record.supervisor_pid,
                     "root": web.root, "id": web.id}
            report = os.path.join(os.environ["REPORT_DIR"], f"{worker_id}.json")
            with open(report + ".tmp", "w") as f:
                json.dump(state, f)
            os.rename(report + ".tmp", report)
            time.sleep(120)

        def test_hangs_too(minidock_container, nginx, worker_id):
            test_hangs(minidock_container, nginx, worker_id + "-2")
    """,
}


def _wait_for_reports(directory: Path, count: int, proc: subprocess.Popen[str]) -> list[dict]:
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        reports = sorted(directory.glob("*.json"))
        if len(reports) >= count:
            return [json.loads(p.read_text()) for p in reports]
        if proc.poll() is not None:
            raise AssertionError(f"pytest ended early:\n{proc.communicate()[0]}")
        time.sleep(0.05)
    raise AssertionError("the hanging tests never reported")


def _alive(pid: int) -> bool:
    return process_start_time(pid) is not None


def test_sigint_in_the_middle_of_a_test_leaves_nothing_running(run, tmp_path):
    suite = write_suite(tmp_path / "suite", **HANGING_SUITE)
    reports = tmp_path / "reports"
    reports.mkdir()
    proc = run.popen("-q", "-k", "test_hangs and not too", cwd=suite,
                     env={"REPORT_DIR": str(reports)})
    [state] = _wait_for_reports(reports, 1, proc)
    assert _alive(state["pid"]) and _alive(state["supervisor"])
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=RUN_TIMEOUT)
    assert proc.returncode == 2, output  # pytest's "interrupted"
    assert "KeyboardInterrupt" in output
    assert not _alive(state["pid"]) and not _alive(state["supervisor"])
    run.assert_nothing_left()


def test_ctrl_c_on_two_xdist_workers_leaves_nothing_running(run, tmp_path):
    suite = write_suite(tmp_path / "suite", **HANGING_SUITE)
    reports = tmp_path / "reports"
    reports.mkdir()
    proc = run.popen("-q", "-n", "2", cwd=suite, env={"REPORT_DIR": str(reports)},
                     new_group=True)
    states = _wait_for_reports(reports, 2, proc)
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    output, _ = proc.communicate(timeout=RUN_TIMEOUT)
    assert proc.returncode != 0, output
    for state in states:
        assert not _alive(state["pid"]) and not _alive(state["supervisor"])
    run.assert_nothing_left()


def test_the_next_run_cleans_up_after_a_killed_run(run, tmp_path):
    suite = write_suite(tmp_path / "suite", **HANGING_SUITE)
    reports = tmp_path / "reports"
    reports.mkdir()
    proc = run.popen("-q", "-k", "test_hangs and not too", cwd=suite,
                     env={"REPORT_DIR": str(reports)})
    [state] = _wait_for_reports(reports, 1, proc)
    proc.kill()  # SIGKILL: no teardown at all
    proc.wait(timeout=RUN_TIMEOUT)
    assert proc.stdout is not None
    proc.stdout.close()  # the orphaned supervisor holds the pipe: EOF would never come
    # the container outlived its test run
    assert _alive(state["pid"]) and _alive(state["supervisor"])
    assert len(os.listdir(run.sessions)) == 1
    later = write_suite(tmp_path / "later", **{"test_later.py": """
        def test_uses_the_store(minidock_store):
            assert minidock_store.containers() == []
    """})
    code, output = run.pytest("-q", cwd=later)
    assert code == 0, output
    assert not _alive(state["pid"]) and not _alive(state["supervisor"])
    run.assert_nothing_left()


def test_a_failing_test_still_removes_its_containers(run_with_images, tmp_path):
    suite = write_suite(tmp_path / "suite", **{"test_fails.py": """
        def test_fails(minidock_container):
            box = minidock_container("busybox:latest", ["sleep", "60"])
            assert box.running
            assert False, "the test fails with its container running"
    """})
    code, output = run_with_images.pytest("-q", cwd=suite)
    assert code == 1, output
    assert "the test fails with its container running" in output
    run_with_images.assert_nothing_left()


# ---- stores and images -------------------------------------------------------------------

def test_session_stores_take_images_from_the_user_store_once(run_with_images, tmp_path):
    suite = write_suite(tmp_path / "suite", **{"test_images.py": """
        import os

        def test_copied(minidock_store, minidock_image, minidock_container):
            image = minidock_image("nginx:stable")
            assert minidock_image("nginx:stable") is image
            assert str(minidock_store.root).startswith(os.environ["TMPDIR"])
            assert minidock_store.root != os.environ["MINIDOCK_ROOT"]
            web = minidock_container("nginx:stable")  # EXPOSE 80: published
            assert web.wait_for_http("/") == 200
            assert web.labels["org.minidock.pytest.worker"] == "main"

        def test_a_missing_image_says_so(minidock_image):
            import pytest
            from minidock.errors import ImageNotFound, MinidockError
            with pytest.raises(MinidockError):
                minidock_image("localhost:1/not/there:1")
    """})
    code, output = run_with_images.pytest("-q", cwd=suite)
    assert code == 0, output
    run_with_images.assert_nothing_left()


def test_the_user_store_mode_removes_only_what_the_session_started(run_with_images, tmp_path):
    user = Client(run_with_images.user_store)
    keeper = user.run("busybox:latest", ["sleep", "60"], detach=True, name="not-the-tests")
    try:
        suite = write_suite(tmp_path / "suite", **{"test_user.py": f"""
            def test_user_store(minidock_store, minidock_container):
                assert str(minidock_store.root) == {str(run_with_images.user_store)!r}
                box = minidock_container("busybox:latest", ["sleep", "60"])
                assert set(box.labels) == {{{OWNER_LABEL!r}, {WORKER_LABEL!r}}}
                # a container started through the store directly is the session's too
                minidock_store.run("busybox:latest", ["sleep", "60"], detach=True)
                assert len(minidock_store.containers()) == 3
        """})
        code, output = run_with_images.pytest("-q", "--minidock-store=user", cwd=suite)
        assert code == 0, output
        assert [c.name for c in user.containers()] == ["not-the-tests"]
        assert keeper.running
    finally:
        keeper.remove(force=True)
    run_with_images.assert_nothing_left()


def test_a_store_directory_from_the_ini_file(run, tmp_path):
    suite = write_suite(tmp_path / "suite", **{
        "pytest.ini": "[pytest]\nminidock_store = stores/tests\n",
        "test_dir.py": f"""
            def test_directory_store(minidock_store, minidock_image, minidock_container):
                assert minidock_store.root == __import__("pathlib").Path(__file__).parent / \\
                    "stores" / "tests"
                minidock_image("busybox:latest",
                               archive={str(fixture_archive("busybox"))!r})
                box = minidock_container("busybox:latest", ["sleep", "60"])
                assert box.running
        """})
    code, output = run.pytest("-q", cwd=suite)
    assert code == 0, output
    directory = suite / "stores" / "tests"
    assert Client(directory).has_image("busybox:latest")  # the store stays, with its images
    run.assert_nothing_left(directory)
    shutil.rmtree(directory)


def test_an_empty_store_setting_is_a_usage_error(run, tmp_path):
    suite = write_suite(tmp_path / "suite", **{"test_x.py": "def test_x():\n    pass\n"})
    code, output = run.pytest("-q", "--minidock-store= ", cwd=suite)
    assert code == 4, output
    assert "minidock_store must be 'session', 'user' or a directory" in output


def test_fixtures_refuse_wrong_arguments(run_with_images, tmp_path):
    suite = write_suite(tmp_path / "suite", **{"test_args.py": f"""
        import pytest
        from minidock.errors import ImageNotFound

        def test_args(minidock_image, minidock_container):
            with pytest.raises(ImageNotFound) as caught:
                minidock_image("nginx:latest", archive={str(fixture_archive("busybox"))!r})
            assert caught.value.hint.endswith("holds busybox:latest")
            with pytest.raises(TypeError, match="ref must be a non-empty str"):
                minidock_image(5)
            with pytest.raises(ValueError, match="either archive or build"):
                minidock_image("x:1", archive="a.tar", build=".")
            with pytest.raises(TypeError, match="always detaches"):
                minidock_container("busybox:latest", detach=False)
            with pytest.raises(TypeError, match="reference string or an Image"):
                minidock_container(3)
    """})
    code, output = run_with_images.pytest("-q", cwd=suite)
    assert code == 0, output
    run_with_images.assert_nothing_left()
