"""`rename` and `top` as Docker 20.10 gives them."""

from __future__ import annotations

from runtime_helpers import Minidock


def test_rename_moves_the_name_and_refuses_as_docker_does(md: Minidock) -> None:
    md.ok("run", "-d", "--name", "old", "busybox", "sleep", "300")
    md.ok("run", "--name", "taken", "busybox", "true")
    try:
        assert md.ok("rename", "old", "new") == ""
        assert "new" in md.ok("ps", "--format", "{{.Names}}").split()
        assert md("inspect", "old").code == 1
        assert md.ok("inspect", "-f", "{{.Name}}", "new").strip() in ("new", "/new")
        same = md("rename", "new", "new")
        assert same.code == 1
        assert same.err == "Error: Renaming a container with the same name as its current name\n"
        clash = md("rename", "new", "taken")
        assert clash.code == 1 and 'The container name "/taken" is already in use' in clash.err
        missing = md("rename", "nope", "x")
        assert (missing.code, missing.err) == (1, "Error: No such container: nope\n")
        bad = md("rename", "new", "bad/name")
        assert bad.code == 125 and "Invalid container name (bad/name)" in bad.err
        # the old name is free again, the new one survives the container's exit
        md.ok("run", "--rm", "--name", "old", "busybox", "true")
        md.ok("kill", "new")
        md.ok("wait", "new")
        assert md.ok("ps", "-a", "-f", "name=^new$", "--format", "{{.Names}}") == "new\n"
    finally:
        md("rm", "-f", "new", "old", "taken")


def test_top_lists_the_containers_processes_only(md: Minidock) -> None:
    md.ok("run", "-d", "--name", "busy", "busybox", "sh", "-c", "sleep 300 & sleep 301")
    try:
        lines = md.ok("top", "busy").splitlines()
        assert lines[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
        assert lines[0].startswith("UID" + " " * 17 + "PID")  # Docker's 20-wide columns
        commands = sorted(line.split(None, 7)[7] for line in lines[1:])
        assert commands == ["sleep 300", "sleep 301"]
        custom = md.ok("top", "busy", "-o", "pid,comm").splitlines()
        assert custom[0].split() == ["PID", "COMMAND"]
        assert sorted(line.split()[1] for line in custom[1:]) == ["sleep", "sleep"]
        md.ok("kill", "busy")
        md.ok("wait", "busy")
        stopped = md("top", "busy")
        assert stopped.code == 1 and stopped.err.endswith(" is not running\n")
    finally:
        md("rm", "-f", "busy")
