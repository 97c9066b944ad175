"""`minidock` container commands as a user types them, for both storage drivers."""

from __future__ import annotations

import fcntl
import io
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import tarfile
import termios
import time
from pathlib import Path

from runtime_helpers import (
    Minidock,
    container_ids,
    free_port,
    http_get,
    mounts_under,
    processes_using,
    wait_for,
)

from minidock.store.store import Store


def test_run_echo_exit_codes_and_not_found(md: Minidock) -> None:
    assert md("run", "--rm", "busybox", "echo", "hello").out == "hello\n"
    assert md("run", "--rm", "busybox", "sh", "-c", "exit 3").code == 3
    missing = md("run", "--rm", "busybox", "nosuchcmd")
    assert missing.code == 127
    assert 'exec: "nosuchcmd": executable file not found in $PATH' in missing.err
    assert len(missing.err.strip().splitlines()) == 1
    assert md("run", "--rm", "busybox", "/etc/passwd").code == 126


def test_containers_do_not_see_each_others_changes(md: Minidock) -> None:
    store = Store(md.settings())
    image = store.image("busybox")
    digests = (image.digest, image.id)
    md.ok("run", "--name", "a", "busybox", "sh", "-c", "echo A > /f; rm /bin/vi")
    assert md("run", "--rm", "busybox", "cat", "/f").code == 1
    assert md("run", "--rm", "busybox", "ls", "/bin/vi").code == 0  # hidden in `a` only
    diff = md.ok("diff", "a").splitlines()
    assert "A /f" in diff and "D /bin/vi" in diff and "C /bin" in diff
    assert not any(line.split()[1] in ("/proc", "/etc/hosts", "/dev") for line in diff)
    image_id = md.ok("commit", "a", "withf").strip()
    assert image_id.startswith("sha256:")
    assert md.ok("run", "--rm", "withf", "cat", "/f") == "A\n"
    assert md("run", "--rm", "withf", "ls", "/bin/vi").code == 1
    store = Store(md.settings())
    again = store.image("busybox")
    assert (again.digest, again.id) == digests  # the base image is unchanged
    assert store.image("withf").id != again.id
    md.ok("rm", "a")
    store.remove_image("withf")


def test_inside_view(md: Minidock) -> None:
    out = md.ok("run", "--name", "view", "busybox", "sh", "-c",
                "ls /; echo pid=$$; hostname; cat /etc/hostname; "
                "test -e /work || echo no-host-path").splitlines()
    cid = md.ok("ps", "-aq", "--no-trunc").split()[0]
    assert out[:8] == ["bin", "data", "dev", "etc", "home", "proc", "root", "sys"]
    assert "pid=1" in out
    assert out.count(cid[:12]) == 2  # hostname and /etc/hostname
    assert out[-1] == "no-host-path"
    md.ok("rm", "view")


def test_detached_lifecycle_ps_logs_stop_rm(md: Minidock) -> None:
    port = free_port()
    cid = md.ok("run", "-d", "--name", "web", "-p", f"127.0.0.1:{port}:8000", "busybox",
                "sh", "-c", "echo started; echo to-stderr >&2; "
                "exec httpd -f -vv -p 8000 -h /var/www").strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    body = wait_for(lambda: http_get(port, "/index.html"))
    assert b"hello from busybox httpd" in body
    ps = md.ok("ps").splitlines()
    assert ps[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS",
                             "PORTS", "NAMES"]
    row = ps[1]
    assert row.startswith(cid[:12]) and row.endswith("web")
    assert f"127.0.0.1:{port}->8000/tcp" in row and "Up " in row
    assert '"sh -c \'echo started…"' in row
    logs = md("logs", "web")
    assert logs.out.startswith("started\n") and "to-stderr" in logs.err
    wait_for(lambda: "url:/index.html" in md("logs", "web").err)  # httpd logs to stderr
    assert md.ok("logs", "--tail", "1", "web").count("\n") <= 1
    exec_out = md.ok("exec", "web", "sh", "-c", "echo $$ inside; hostname")
    assert exec_out.split()[1] == "inside" and exec_out.split()[2] == cid[:12]
    start = time.monotonic()
    assert md.ok("stop", "-t", "1", "web") == "web\n"
    assert time.monotonic() - start < 5
    ps_all = md.ok("ps", "-a").splitlines()
    assert any("Exited (137)" in line and line.endswith("web") for line in ps_all)
    assert md.ok("ps", "-q") == ""
    assert md.ok("wait", "web") == "137\n"
    assert md("logs", "web").out.startswith("started\n")  # logs outlive the container
    assert md.ok("rm", "web") == "web\n"
    assert "web" not in md.ok("ps", "-a")


def test_stop_uses_the_stop_signal_and_start_restarts(md: Minidock) -> None:
    md.ok("create", "--name", "trap", "busybox", "sh", "-c",
          "trap 'echo got-term; exit 7' TERM; echo up; while true; do sleep 0.05; done")
    assert "Created" in md.ok("ps", "-a")
    assert md.ok("start", "trap") == "trap\n"
    wait_for(lambda: "up" in md("logs", "trap").out)
    md.ok("stop", "trap")
    assert md.ok("inspect", "trap") and md.ok("wait", "trap") == "7\n"
    assert "got-term" in md.ok("logs", "trap")
    md.ok("restart", "trap")
    wait_for(lambda: md("logs", "trap").out.count("up") == 2)
    assert md.ok("kill", "-s", "TERM", "trap") == "trap\n"
    assert md.ok("wait", "trap") == "7\n"
    result = md("rm", "trap", "nosuch")
    assert result.code == 1 and "No such container: nosuch" in result.err


def test_rm_refuses_running_unless_forced(md: Minidock) -> None:
    md.ok("run", "-d", "--name", "busy", "busybox", "sleep", "1000")
    refused = md("rm", "busy")
    assert refused.code == 1 and "cannot remove a running container" in refused.err
    assert md.ok("rm", "-f", "busy") == "busy\n"
    assert "busy" not in md.ok("ps", "-a")


def test_names_are_unique_and_generated(md: Minidock) -> None:
    md.ok("create", "--name", "dup", "busybox")
    clash = md("create", "--name", "dup", "busybox")
    assert clash.code != 0 and "is already in use" in clash.err
    cid = md.ok("create", "busybox").strip()
    name = md.ok("ps", "-a", "--format", "{{.ID}} {{.Names}}")
    assert re.search(rf"{cid[:12]} [a-z]+_[a-z]+\b", name)
    md.ok("rm", "dup", cid[:8])


def test_inspect_document(md: Minidock) -> None:
    md.ok("run", "--name", "insp", "-e", "A=1", "-w", "/tmp", "busybox", "true")
    from minidock.runtime.inspection import inspect_container

    doc = inspect_container(md.settings(), "insp")
    assert doc["Name"] == "/insp" and doc["State"]["Status"] == "exited"
    assert doc["State"]["ExitCode"] == 0 and doc["Path"] == "true"
    assert "A=1" in doc["Config"]["Env"] and doc["Config"]["WorkingDir"] == "/tmp"
    assert doc["Image"] == str(Store(md.settings()).image("busybox").id)
    assert json.loads(md.ok("container", "inspect", "insp"))[0]["Id"] == doc["Id"]
    assert md.ok("container", "inspect", "-f", "{{.State.Status}}", "insp") == "exited\n"
    md.ok("rm", "insp")


def test_volumes_named_anonymous_and_binds(md: Minidock, tmp_path: Path) -> None:
    md.ok("run", "--rm", "-v", "testdata:/data", "busybox", "sh", "-c",
          "cat /data/seed; echo written > /data/new")
    assert md.ok("run", "--rm", "-v", "testdata:/data", "busybox", "cat", "/data/new") \
        == "written\n"
    assert "testdata" in md.ok("volume", "ls")
    doc = json.loads(md.ok("volume", "inspect", "testdata"))[0]
    assert doc["Name"] == "testdata" and Path(doc["Mountpoint"], "new").exists()
    ro = tmp_path / "ro"
    ro.mkdir()
    refused = md("run", "--rm", "-v", f"{ro}:/ro:ro", "busybox", "touch", "/ro/x")
    assert refused.code == 1 and "Read-only file system" in refused.err
    # VOLUME in the image: an anonymous volume, seeded, removed with --rm
    before = set(os.listdir(md.root / "volumes"))
    assert md.ok("run", "--rm", "bbvol", "cat", "/data/seed") == "from the image\n"
    assert set(os.listdir(md.root / "volumes")) == before
    in_use = md("volume", "rm", "testdata")
    assert in_use.code == 0
    assert "testdata" not in md.ok("volume", "ls")


def test_bad_input_is_a_one_line_error_with_125(md: Minidock, tmp_path: Path) -> None:
    before = set(container_ids(md.root))
    volumes_before = set(os.listdir(md.root / "volumes"))
    port = free_port()
    unreachable = f"127.0.0.1:{free_port()}/nosuchimage"  # nothing listens there
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", port))
        taken.listen(1)
        cases = [
            ("run", "--rm", unreachable, "true"),
            ("run", "--rm", "sha256:" + "0" * 64, "true"),
            ("run", "--rm", "-p", "notaport", "busybox", "true"),
            ("run", "--rm", "-v", ":/x", "busybox", "true"),
            ("run", "--rm", "-e", "=x", "busybox", "true"),
            ("run", "--rm", "-p", f"{port}:80", "busybox", "true"),
            ("run", "--name", "inuse", "-p", f"{port}:80", "busybox", "true"),
            ("run", "--rm", "-w", "relative", "busybox", "true"),
            ("run", "--rm", "--read-only", "-w", "/missing", "busybox", "true"),
            ("run", "--rm", "--network", "nonet", "busybox", "true"),
            ("run", "--rm", "-u", "nosuch", "busybox", "true"),
            ("run", "--rm", "--env-file", str(tmp_path / "nofile"), "busybox", "true"),
            ("run", "--rm", "--bogus", "busybox", "true"),
        ]
        for args in cases:
            result = md(*args)
            assert result.code == 125, (args, result)
            err = result.err
            if unreachable in args:  # as Docker: it says so, then tries to pull it
                first, _, err = err.partition("\n")
                assert first == f"Unable to find image '{unreachable}:latest' locally"
                assert unreachable in err
            assert err.startswith("Error: "), (args, result.err)
            assert "Traceback" not in err and len(err.splitlines()) <= 2
            if f"{port}:80" in args:
                assert "port is already allocated" in result.err
    # as in Docker, a named container that failed to start stays, as "Created"
    assert any(line.endswith("inuse") and "Created" in line
               for line in md.ok("ps", "-a").splitlines())
    assert md.ok("rm", "inuse") == "inuse\n"
    assert set(container_ids(md.root)) == before
    assert set(os.listdir(md.root / "volumes")) == volumes_before
    assert mounts_under(md.root) == []


def test_cp_both_ways_and_tar_streams(md: Minidock, tmp_path: Path) -> None:
    md.ok("run", "-d", "--name", "cpt", "busybox", "sh", "-c",
          "mkdir -p /srv/d && echo one > /srv/d/f && ln -s /etc/passwd /srv/d/link; "
          "sleep 1000")
    wait_for(lambda: md("exec", "cpt", "test", "-e", "/srv/d/link").code == 0)
    out = tmp_path / "out"
    md.ok("cp", "cpt:/srv/d", str(out))
    assert (out / "f").read_text() == "one\n"
    assert os.readlink(out / "link") == "/etc/passwd"  # a link stays a link
    (tmp_path / "up.txt").write_text("uploaded\n")
    md.ok("cp", str(tmp_path / "up.txt"), "cpt:/srv/")
    assert md.ok("exec", "cpt", "cat", "/srv/up.txt") == "uploaded\n"
    md.ok("cp", str(out), "cpt:/srv/copy")
    assert md.ok("exec", "cpt", "cat", "/srv/copy/f") == "one\n"
    stream = subprocess.run(md.argv("cp", "cpt:/srv/d", "-"), env=md.env, capture_output=True)
    names = tarfile.open(fileobj=io.BytesIO(stream.stdout)).getnames()
    assert sorted(names) == ["d", "d/f", "d/link"]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("fromtar.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"tar"))
    md.ok("cp", "-", "cpt:/srv", input=buf.getvalue())
    assert md.ok("exec", "cpt", "cat", "/srv/fromtar.txt") == "tar"
    missing = md("cp", "cpt:/nope", str(tmp_path / "x"))
    assert missing.code == 1 and "Could not find the file /nope" in missing.err
    md.ok("stop", "-t", "0", "cpt")
    md.ok("cp", str(tmp_path / "up.txt"), "cpt:/stopped.txt")  # a stopped container too
    md.ok("cp", "cpt:/stopped.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_text() == "uploaded\n"
    assert "A /stopped.txt" in md.ok("diff", "cpt").splitlines()
    md.ok("rm", "cpt")


def test_export_has_the_container_filesystem(md: Minidock, tmp_path: Path) -> None:
    md.ok("run", "--name", "exp", "busybox", "sh", "-c", "echo e > /exported")
    target = tmp_path / "exp.tar"
    md.ok("export", "-o", str(target), "exp")
    with tarfile.open(target) as tar:
        names = set(tar.getnames())
        assert "exported" in names and "bin/busybox" in names and "etc/passwd" in names
        assert tar.extractfile("exported").read() == b"e\n"
        assert not any(n.startswith("proc/") for n in names)
    md.ok("rm", "exp")


def test_exec_user_env_workdir_and_errors(md: Minidock) -> None:
    md.ok("run", "-d", "--name", "ex", "-e", "FROM_RUN=1", "busybox", "sleep", "1000")
    out = md.ok("exec", "-u", "app", "-w", "/tmp", "-e", "X=2", "ex", "sh", "-c",
                "id -u; pwd; echo $X $FROM_RUN")
    assert out.splitlines() == ["1000", "/tmp", "2 1"]
    assert md("exec", "ex", "sh", "-c", "exit 4").code == 4
    assert md("exec", "ex", "nosuch").code == 127
    assert md.ok("exec", "-i", "ex", "cat", input=b"piped in") == "piped in"
    md.ok("stop", "-t", "0", "ex")
    stopped = md("exec", "ex", "true")
    assert stopped.code != 0 and "is not running" in stopped.err
    md.ok("rm", "ex")


def test_publish_all_and_port(md: Minidock) -> None:
    md.ok("run", "-d", "--name", "pall", "-P", "bbvol")
    line = md.ok("port", "pall", "8000").splitlines()[0]
    port = int(line.rsplit(":", 1)[1])
    assert b"hello from busybox httpd" in wait_for(lambda: http_get(port, "/index.html"))
    assert "->8000/tcp" in md.ok("ps")
    md.ok("rm", "-f", "pall")


def test_foreground_ctrl_c_stops_and_leaves_nothing(md: Minidock) -> None:
    port = free_port()
    proc = md.popen("run", "--rm", "-p", f"{port}:8000", "busybox", "sh", "-c",
                    "trap 'echo bye; exit 0' INT; httpd -f -p 8000 -h /var/www & wait",
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    assert b"hello from busybox" in wait_for(lambda: http_get(port, "/index.html"))
    start = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does to the foreground process group
    out, _err = proc.communicate(timeout=10)
    assert time.monotonic() - start < 2
    assert b"bye" in out
    assert md.ok("ps", "-aq") == ""
    assert mounts_under(md.root) == [] and processes_using(md.root / "containers") == []
    assert http_get(port) is None


def test_supervisor_death_is_noticed(md: Minidock) -> None:
    md.ok("run", "-d", "--name", "orphan", "busybox", "sleep", "1000")
    from minidock.runtime.containers import find_container

    c = find_container(md.root, "orphan")
    os.kill(c.supervisor_pid, signal.SIGKILL)
    wait_for(lambda: "Exited (137)" in md.ok("ps", "-a"))
    wait_for(lambda: not c.container_alive())  # the container died with it
    md.ok("rm", "orphan")


def test_container_prune(md: Minidock) -> None:
    md.ok("run", "--name", "p1", "busybox", "true")
    md.ok("run", "-d", "--name", "p2", "busybox", "sleep", "1000")
    out = md.ok("container", "prune", "-f")
    assert "Deleted Containers:" in out and "Total reclaimed space" in out
    names = md.ok("ps", "-a", "--format", "{{.Names}}").split()
    assert "p1" not in names and "p2" in names
    md.ok("rm", "-f", "p2")


def test_many_containers_leave_nothing_behind(md: Minidock) -> None:
    """200 containers created, run and removed (a third of them running, with rm -f)."""
    from minidock.runtime import control, create, options, start

    settings = md.settings()
    for i in range(200):
        opts = options.RunOptions(image="busybox", command=["sleep", "1000"] if i % 3 == 0
                                    else ["true"], rm=i % 3 == 1)
        c = create.create_container(settings, opts)
        if i % 3 == 0:
            start.start_detached(c)
            control.remove_container(control.get_container(settings, c.id), force=True)
        else:
            assert start.start_attached(c, start.Attach()) == 0
            if i % 3 == 2:
                control.remove_container(control.get_container(settings, c.id))
    assert container_ids(md.root) == []
    assert [n for n in os.listdir(md.root / "containers") if n.startswith(".rm-")] == []
    assert os.listdir(md.root / "containers" / ".names") == []
    assert mounts_under(md.root) == []
    assert processes_using(md.root / "containers") == []


def test_tty_run_is_a_real_terminal(md: Minidock) -> None:
    """-it: the container gets a pty of its own; what we type reaches it."""
    import pty

    leader, follower = pty.openpty()
    fcntl_winsize = struct.pack("HHHH", 24, 77, 0, 0)
    fcntl.ioctl(follower, termios.TIOCSWINSZ, fcntl_winsize)
    proc = md.popen("run", "--rm", "-it", "busybox", "sh", stdin=follower, stdout=follower,
                    stderr=follower, start_new_session=True)
    os.close(follower)
    os.write(leader, b"tty; stty size; exit 5\n")
    output = b""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if not select.select([leader], [], [], 1)[0]:
            continue
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: every process holding the terminal has exited
            break
        if not chunk:
            break
        output += chunk
    assert proc.wait(timeout=20) == 5
    os.close(leader)
    text = output.decode(errors="replace")
    assert "/dev/pts/0" in text and "24 77" in text


def test_start_attach_reports_the_exit_code(md: Minidock) -> None:
    md.ok("create", "--name", "att", "busybox", "sh", "-c", "echo attached; exit 9")
    result = md("start", "-a", "att")
    assert (result.code, result.out) == (9, "attached\n")
    assert md.ok("wait", "att") == "9\n"
    md.ok("rm", "att")
