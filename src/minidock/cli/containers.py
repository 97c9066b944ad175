"""Container commands: run, create, ps, start, stop, kill, restart, rm, logs, wait,
port, exec, cp, diff, commit, export and the `container` group.

Thin wrappers over `minidock.runtime`: they parse flags, call the library and
print what Docker prints. `run`/`create` hand their raw arguments to the
click-free parser in `minidock.cli.run`, which is also the fast entry point.
"""

from __future__ import annotations

import shlex
import sys
import time
from typing import TYPE_CHECKING, Any

import click

from minidock.cli.common import (
    confirm,
    fail_each,
    force_option,
    format_option,
    format_option_short,
    format_rows,
    print_documents,
    settings_of,
)
from minidock.cli.output import ellipsis, human_duration
from minidock.errors import ContainerNotFound, MinidockError

if TYPE_CHECKING:
    from collections.abc import Callable

    from minidock.runtime.containers import Container


_RAW = {"ignore_unknown_options": True, "allow_extra_args": True,
        "allow_interspersed_args": False, "help_option_names": []}


def _find(ctx: click.Context, ref: str) -> Container:
    from minidock.runtime.containers import find_container

    return find_container(settings_of(ctx).root, ref)


def _each_echoed(ctx: click.Context, names: tuple[str, ...],
                 action: Callable[[Container], object]) -> int:
    """Docker's way with several containers: act on each, print its name as given,
    report each failure and go on; exit 1 if any failed."""

    def one(name: str) -> None:
        action(_find(ctx, name))
        click.echo(name)
    return 1 if fail_each(names, one) else 0


# ---- run / create -----------------------------------------------------------------

@click.command("run", context_settings=_RAW, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run(ctx: click.Context, args: tuple[str, ...]) -> int:
    """Create and run a new container from an image."""
    return _run_or_create(ctx, args, "run")


@click.command("create", context_settings=_RAW, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def create(ctx: click.Context, args: tuple[str, ...]) -> int:
    """Create a new container."""
    return _run_or_create(ctx, args, "create")


def _run_or_create(ctx: click.Context, args: tuple[str, ...], command: str) -> int:
    from minidock.cli.run import HelpRequested, run_command, usage

    try:
        return run_command(settings_of(ctx), list(args), command)
    except HelpRequested:
        click.echo(usage(command), nl=False)
        return 0


# ---- ps --------------------------------------------------------------------------------

def command_text(args: list[str]) -> str:
    """Entrypoint and args as one line, quoting the args that need it."""
    return " ".join(a if a and not any(c.isspace() or c in "'\"" for c in a)
                    else shlex.quote(a) for a in args)


def ports_text(container: Any) -> str:
    from minidock.runtime.ports import format_host

    if not container.running:
        return ""
    published = []
    seen = set()
    for p in container.data.get("Ports") or []:
        published.append(f"{format_host(p['IP'])}:{p['PublicPort']}->{p['PrivatePort']}/"
                         f"{p['Type']}")
        seen.add(f"{p['PrivatePort']}/{p['Type']}")
    exposed = [k for k in (container.data["Config"].get("ExposedPorts") or {}) if k not in seen]
    return ", ".join(published + exposed)


def status_text(container: Any, now: float) -> str:
    from minidock.runtime.clock import parse_iso

    state = container.state
    if container.status == "running":
        return "Up " + human_duration(now - parse_iso(state.get("StartedAt", "")))
    if container.status == "exited":
        return (f"Exited ({state.get('ExitCode', 0)}) "
                f"{human_duration(now - parse_iso(state.get('FinishedAt', '')))} ago")
    return container.status.capitalize()


def ps_context(container: Any, now: float, *, no_trunc: bool) -> dict[str, str]:
    from minidock.runtime.clock import parse_iso

    command = command_text([container.data["Path"], *container.data["Args"]])
    return {
        "ID": container.id if no_trunc else container.short_id,
        "Image": container.image_name,
        "Command": f'"{command if no_trunc else ellipsis(command, 20)}"',
        "CreatedAt": container.data["Created"],
        "RunningFor": human_duration(now - parse_iso(container.data["Created"])) + " ago",
        "Status": status_text(container, now),
        "State": container.status,
        "Ports": ports_text(container),
        "Names": container.name,
    }


PS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND",
              "CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Status": "STATUS",
              "State": "STATE", "Ports": "PORTS", "Names": "NAMES"}
PS_COLUMNS = ["ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names"]


@click.command("ps")
@click.option("-a", "--all", "show_all", is_flag=True,
              help="Show all containers (default shows just running)")
@click.option("-q", "--quiet", is_flag=True, help="Only display container IDs")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
@click.option("-n", "--last", type=int, default=-1, help="Show n last created containers")
@click.option("-l", "--latest", is_flag=True, help="Show the latest created container")
@format_option
@click.pass_context
def ps(ctx: click.Context, show_all: bool, quiet: bool, no_trunc: bool, last: int,
       latest: bool, fmt: str | None) -> None:
    """List containers."""
    from minidock.runtime.containers import list_containers

    containers = list_containers(settings_of(ctx).root)
    if latest:
        last = 1
    if last >= 0:
        containers = containers[:last]
    elif not show_all:
        containers = [c for c in containers if c.running]
    if quiet:
        for c in containers:
            click.echo(c.id if no_trunc else c.short_id)
        return
    now = time.time()
    contexts = [ps_context(c, now, no_trunc=no_trunc) for c in containers]
    click.echo(format_rows(fmt, contexts, PS_HEADERS, PS_COLUMNS), nl=False)


# ---- start / stop / kill / restart / rm / wait ------------------------------------------------

@click.command("start")
@click.argument("containers", nargs=-1, required=True, metavar="CONTAINER...")
@click.option("-a", "--attach", is_flag=True, help="Attach STDOUT/STDERR and forward signals")
@click.option("-i", "--interactive", is_flag=True, help="Attach container's STDIN")
@click.pass_context
def start(ctx: click.Context, containers: tuple[str, ...], attach: bool,
          interactive: bool) -> int:
    """Start one or more stopped containers."""
    from minidock.runtime.start import Attach, start_attached, start_detached

    if attach or interactive:
        if len(containers) > 1:
            raise click.UsageError("you cannot start and attach multiple containers at once")
        c = _find(ctx, containers[0])
        winsize = None
        if c.spec.process.tty:
            from minidock.runtime.supervisor import terminal_size

            winsize = terminal_size(0) or terminal_size(1)
        return start_attached(c, Attach(stdin=interactive, winsize=winsize))

    return _each_echoed(ctx, containers, lambda c: start_detached(
        c, interactive=bool(c.data["Config"].get("OpenStdin"))))


@click.command("stop")
@click.argument("containers", nargs=-1, required=True, metavar="CONTAINER...")
@click.option("-t", "--time", "timeout", type=int, default=None,
              help="Seconds to wait before killing the container")
@click.option("-s", "--signal", "sig", default=None, help="Signal to send to the container")
@click.pass_context
def stop(ctx: click.Context, containers: tuple[str, ...], timeout: int | None,
         sig: str | None) -> int:
    """Stop one or more running containers."""
    from minidock.runtime.control import stop_container
    from minidock.runtime.options import parse_signal

    signum = parse_signal(sig) if sig else None
    return _each_echoed(ctx, containers, lambda c: stop_container(c, timeout, signum))


@click.command("kill")
@click.argument("containers", nargs=-1, required=True, metavar="CONTAINER...")
@click.option("-s", "--signal", "sig", default="KILL", help="Signal to send to the container")
@click.pass_context
def kill(ctx: click.Context, containers: tuple[str, ...], sig: str) -> int:
    """Kill one or more running containers."""
    from minidock.runtime.control import kill_container
    from minidock.runtime.options import parse_signal

    signum = parse_signal(sig)
    return _each_echoed(ctx, containers, lambda c: kill_container(c, signum))


@click.command("restart")
@click.argument("containers", nargs=-1, required=True, metavar="CONTAINER...")
@click.option("-t", "--time", "timeout", type=int, default=None,
              help="Seconds to wait before killing the container")
@click.pass_context
def restart(ctx: click.Context, containers: tuple[str, ...], timeout: int | None) -> int:
    """Restart one or more containers."""
    from minidock.runtime.start import restart_container

    return _each_echoed(ctx, containers, lambda c: restart_container(c, timeout))


@click.command("rm")
@click.argument("containers", nargs=-1, required=True, metavar="CONTAINER...")
@click.option("-f", "--force", is_flag=True, help="Force the removal of a running container")
@click.option("-v", "--volumes", is_flag=True,
              help="Remove anonymous volumes associated with the container")
@click.pass_context
def rm(ctx: click.Context, containers: tuple[str, ...], force: bool, volumes: bool) -> int:
    """Remove one or more containers."""
    from minidock.runtime.control import remove_container

    missing = 0

    def one(name: str) -> None:
        nonlocal missing
        try:
            container = _find(ctx, name)
        except ContainerNotFound:
            missing += force  # docker's --force: reported, yet no failure
            raise
        remove_container(container, force=force, volumes=volumes)
        click.echo(name)
    return 1 if fail_each(containers, one) > missing else 0


@click.command("wait")
@click.argument("containers", nargs=-1, required=True, metavar="CONTAINER...")
@click.pass_context
def wait(ctx: click.Context, containers: tuple[str, ...]) -> int:
    """Block until one or more containers stop, then print their exit codes."""
    from minidock.runtime.control import wait_container

    def one(name: str) -> None:
        click.echo(str(wait_container(_find(ctx, name))))
    return 1 if fail_each(containers, one) else 0


# ---- logs / port / inspect ----------------------------------------------------------------------

@click.command("logs")
@click.argument("container")
@click.option("-f", "--follow", is_flag=True, help="Follow log output")
@click.option("-n", "--tail", default="all",
              help='Number of lines to show from the end of the logs (default "all")')
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps")
@click.pass_context
def logs(ctx: click.Context, container: str, follow: bool, tail: str,
         timestamps: bool) -> None:
    """Fetch the logs of a container."""
    from minidock.runtime.containers import load_record
    from minidock.runtime.logs import read_logs

    c = _find(ctx, container)
    if tail == "all":
        lines = None
    else:
        try:
            lines = int(tail)
        except ValueError:
            raise click.BadParameter(f"invalid tail value {tail!r}") from None
        if lines < 0:
            lines = None

    def running() -> bool:
        try:
            return load_record(c.root, c.id).refresh().running
        except MinidockError:
            return False

    out = sys.stdout.buffer
    err = sys.stderr.buffer
    for entry in read_logs(str(c.log_path), tail=lines, follow=follow, running=running):
        text = (entry.time + " " if timestamps else "") + entry.text
        stream = err if entry.stream == "stderr" else out
        stream.write(text.encode("utf-8", "replace"))
        stream.flush()


@click.command("port")
@click.argument("container")
@click.argument("private_port", required=False, metavar="[PRIVATE_PORT[/PROTO]]")
@click.pass_context
def port(ctx: click.Context, container: str, private_port: str | None) -> None:
    """List port mappings or a specific mapping for the container."""
    c = _find(ctx, container)
    want = None
    if private_port:
        number, _, proto = private_port.partition("/")
        want = (int(number) if number.isdigit() else -1, proto or "tcp")
    found = False
    for p in sorted(c.data.get("Ports") or [], key=lambda p: (p["PrivatePort"], ":" in p["IP"])):
        host = f"[{p['IP']}]" if ":" in p["IP"] else p["IP"]
        if want is None:
            click.echo(f"{p['PrivatePort']}/{p['Type']} -> {host}:{p['PublicPort']}")
            found = True
        elif (p["PrivatePort"], p["Type"]) == want:
            click.echo(f"{host}:{p['PublicPort']}")
            found = True
    if want is not None and not found:
        raise MinidockError(f"No public port '{private_port}' published for {container}")


@click.command("inspect")
@click.argument("containers", nargs=-1, required=True, metavar="CONTAINER...")
@format_option_short
@click.pass_context
def container_inspect(ctx: click.Context, containers: tuple[str, ...],
                      fmt: str | None) -> int:
    """Display detailed information on one or more containers."""
    from minidock.runtime.inspection import container_document

    documents: list[dict[str, Any]] = []

    def one(name: str) -> None:
        documents.append(container_document(_find(ctx, name)))
    failed = fail_each(containers, one)
    if fmt or documents or not failed:
        from minidock.cli.inspect import NIL_HINTS

        print_documents(documents, fmt, NIL_HINTS)
    return 1 if failed else 0


# ---- prune ------------------------------------------------------------------------------------

@click.command("prune")
@force_option
@click.pass_context
def container_prune(ctx: click.Context, force: bool) -> None:
    """Remove all stopped containers."""
    from minidock.cli.output import human_size4
    from minidock.runtime.control import prune_containers

    if not force and not confirm("WARNING! This will remove all stopped containers."):
        return
    removed = prune_containers(settings_of(ctx).root)
    if removed:
        click.echo("Deleted Containers:\n" + "\n".join(removed) + "\n")
    click.echo(f"Total reclaimed space: {human_size4(0)}")


# ---- the `container` group -----------------------------------------------------------------------

class _ContainerGroup(click.Group):
    """`container` subcommands, imported from the modules that define them when used."""

    _LAZY = {
        "run": "run", "create": "create", "start": "start", "stop": "stop", "kill": "kill",
        "restart": "restart", "rm": "rm", "remove": "rm", "logs": "logs", "wait": "wait",
        "port": "port", "inspect": "container_inspect", "prune": "container_prune",
        "ls": "ps", "ps": "ps", "list": "ps", "exec": "exec_", "cp": "cp", "diff": "diff",
        "commit": "commit", "export": "export",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self._LAZY)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        attr = self._LAZY.get(cmd_name)
        if attr is None:
            return None
        return getattr(sys.modules[__name__], attr)


@click.group("container", cls=_ContainerGroup)
def container_group() -> None:
    """Manage containers."""



# ---- exec / cp / diff / commit / export -------------------------------------------------------

@click.command("exec", context_settings={"allow_interspersed_args": False})
@click.argument("container")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY")
@click.option("-u", "--user", default=None,
              help="Username or UID (format: <name|uid>[:<group|gid>])")
@click.option("-e", "--env", multiple=True, help="Set environment variables")
@click.option("--env-file", "env_files", multiple=True,
              help="Read in a file of environment variables")
@click.option("-w", "--workdir", default=None, help="Working directory inside the container")
@click.option("-d", "--detach", is_flag=True, help="Detached mode: run command in the background")
@click.pass_context
def exec_(ctx: click.Context, container: str, command: tuple[str, ...], interactive: bool,
          tty: bool, user: str | None, env: tuple[str, ...], env_files: tuple[str, ...],
          workdir: str | None, detach: bool) -> int:
    """Execute a command in a running container."""
    import os

    from minidock.runtime.execution import run_exec, start_exec
    from minidock.runtime.options import parse_env, read_env_file

    values: list[str] = []
    for path in env_files:
        values.extend(read_env_file(path, os.environ))
    values.extend(parse_env(list(env), os.environ))
    c = _find(ctx, container)
    if detach:
        null = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
        try:
            box = start_exec(c, list(command), env=values, user=user, workdir=workdir,
                             stdin=None, tty=False, stdout=null, stderr=null, detach=True)
        finally:
            os.close(null)
        box.wait()
        box.close()
        return 0
    winsize = None
    if tty:
        from minidock.runtime.supervisor import terminal_size

        winsize = terminal_size(0) or terminal_size(1)
    return run_exec(c, list(command), env=values, user=user, workdir=workdir,
                    interactive=interactive, tty=tty, winsize=winsize)


def _split_container_path(text: str) -> tuple[str | None, str]:
    """`name:/path` -> (name, path); host paths (with / before any colon) -> (None, text)."""
    if text == "-" or text.startswith(("/", ".")):
        return None, text
    name, sep, path = text.partition(":")
    if not sep or "/" in name:
        return None, text
    return name, path


@click.command("cp")
@click.argument("source", metavar="SRC")
@click.argument("dest", metavar="DEST")
@click.option("-a", "--archive", is_flag=True, help="Archive mode (copy all uid/gid information)")
@click.option("-L", "--follow-link", is_flag=True, help="Always follow symbol link in SRC_PATH")
@click.option("-q", "--quiet", is_flag=True, help="Suppress progress output")
@click.pass_context
def cp(ctx: click.Context, source: str, dest: str, archive: bool, follow_link: bool,
       quiet: bool) -> None:
    """Copy files/folders between a container and the local filesystem."""
    from minidock.errors import UsageError
    from minidock.runtime import copy as rcopy
    from minidock.runtime.rootaccess import with_container_root

    src_ctr, src_path = _split_container_path(source)
    dst_ctr, dst_path = _split_container_path(dest)
    if (src_ctr is None) == (dst_ctr is None):
        raise UsageError("copying between containers is not supported" if src_ctr else
                         "must specify at least one container source")
    if src_ctr is not None:
        c = _find(ctx, src_ctr)
        path = src_path if src_path.startswith("/") else "/" + src_path
        if dst_path == "-":
            out = sys.stdout.buffer
            with_container_root(c, lambda root: rcopy.tar_from_container(
                root, path, out, label=src_ctr, follow=follow_link))
            out.flush()
            return
        target = dst_path if dst_path.startswith("/") else _absolute(dst_path)
        with_container_root(c, lambda root: rcopy.copy_from_container(
            root, path, target, label=src_ctr, archive=archive, follow=follow_link))
        return
    assert dst_ctr is not None
    c = _find(ctx, dst_ctr)
    path = dst_path if dst_path.startswith("/") else "/" + dst_path
    if src_path == "-":
        stream = sys.stdin.buffer
        with_container_root(c, lambda root: rcopy.tar_into_container(
            root, stream, path, label=dst_ctr))
        return
    source_path = _absolute(src_path)
    with_container_root(c, lambda root: rcopy.copy_into_container(
        root, source_path, path, label=dst_ctr, archive=archive, follow=follow_link))


def _absolute(path: str) -> str:
    """Absolute host path keeping a trailing `/` or `/.` (they change cp's meaning)."""
    import os

    if path.startswith("/"):
        return path
    tail = "/." if path.endswith("/.") else ("/" if path.endswith("/") else "")
    return os.path.abspath(path) + tail


@click.command("diff")
@click.argument("container")
@click.pass_context
def diff(ctx: click.Context, container: str) -> None:
    """Inspect changes to files or directories on a container's filesystem."""
    from minidock.runtime.changes import container_changes

    for change in container_changes(_find(ctx, container)):
        click.echo(f"{change.kind} {change.path}")


@click.command("commit")
@click.argument("container")
@click.argument("reference", required=False, metavar="[REPOSITORY[:TAG]]")
@click.option("-m", "--message", default="", help="Commit message")
@click.option("-a", "--author", default="",
              help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
@click.pass_context
def commit(ctx: click.Context, container: str, reference: str | None, message: str,
           author: str) -> None:
    """Create a new image from a container's changes."""
    from minidock.runtime.changes import commit_container

    image = commit_container(settings_of(ctx), _find(ctx, container), reference,
                             message=message, author=author)
    click.echo(str(image.id))


@click.command("export")
@click.argument("container")
@click.option("-o", "--output", default=None, help="Write to a file, instead of STDOUT")
@click.pass_context
def export(ctx: click.Context, container: str, output: str | None) -> None:
    """Export a container's filesystem as a tar archive."""
    from minidock.errors import UsageError
    from minidock.runtime.changes import export_container

    c = _find(ctx, container)
    if output is None:
        if sys.stdout.isatty():
            raise UsageError("cowardly refusing to save to a terminal. Use the -o flag or "
                             "redirect")
        export_container(c, sys.stdout.buffer)
        return
    from minidock.fsutil import atomic_file

    with atomic_file(output, durable=False) as f:
        export_container(c, f)
