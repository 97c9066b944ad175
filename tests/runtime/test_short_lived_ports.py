"""A command that ends at once in a container with published ports.

The port forwarder fills its socket pool from the container's network helper
when the supervisor starts; a command that ended before that must still give
its output, its exit code and, with `--rm`, no container left behind.
Several rounds, since the command ends before or while the pool fills.
"""

from __future__ import annotations

from runtime_helpers import Minidock

ROUNDS = 5
COMMAND = ("sh", "-c", "echo hi; exit 3")


def test_foreground_run_with_ports_keeps_output_code_and_rm(md: Minidock) -> None:
    for _ in range(ROUNDS):
        result = md("run", "--rm", "-p", "127.0.0.1::80", "busybox", *COMMAND)
        assert (result.code, result.out, result.err) == (3, "hi\n", "")
    assert md.ok("ps", "-aq") == ""


def test_detached_run_with_ports_records_the_real_exit_code(md: Minidock) -> None:
    for n in range(ROUNDS):
        name = f"short-ports-{n}"
        md.ok("run", "-d", "--name", name, "-p", "127.0.0.1::80", "busybox", *COMMAND)
        assert md.ok("wait", name) == "3\n"
        assert md.ok("inspect", "-f", "{{.State.ExitCode}}", name) == "3\n"
        assert md.ok("logs", name) == "hi\n"
        md.ok("rm", name)
