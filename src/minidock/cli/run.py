"""`minidock run` and `minidock create`, parsed without click.

`run` is the command whose start-up time users feel, and importing click alone
costs about twice what Python needs to start. So the run flags are parsed here
by a small Docker-compatible parser (combined short flags `-dit`, `-p80:80`,
`--rm=false`, `--` ...), used both by the fast entry `fast_main` (called by the
CLI entry point before click is imported) and by the click commands, which
pass their raw arguments through.
"""

from __future__ import annotations

import os
import sys

from minidock.cli.exitcodes import COMMAND_ERRORS, exit_status
from minidock.errors import MinidockError, UsageError
from minidock.runtime.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any, NoReturn

    from minidock.runtime.options import RunOptions
    from minidock.runtime.storage import StoreSettings
    from minidock.store.store import Store

# long name -> (attribute, kind): kind is "bool", "str" (last wins) or "list"
FLAGS: dict[str, tuple[str, str]] = {
    "rm": ("rm", "bool"),
    "detach": ("detach", "bool"),
    "name": ("name", "str"),
    "env": ("env", "list"),
    "env-file": ("env_files", "list"),
    "workdir": ("workdir", "str"),
    "user": ("user", "str"),
    "entrypoint": ("entrypoint", "str"),
    "publish": ("publish", "list"),
    "publish-all": ("publish_all", "bool"),
    "volume": ("volumes", "list"),
    "network": ("network", "str"),
    "net": ("network", "str"),
    "hostname": ("hostname", "str"),
    "init": ("init", "bool"),
    "read-only": ("read_only", "bool"),
    "interactive": ("interactive", "bool"),
    "tty": ("tty", "bool"),
    "stop-signal": ("stop_signal", "str"),
    "stop-timeout": ("stop_timeout", "str"),
    "label": ("labels", "list"),
}
SHORT = {"d": "detach", "e": "env", "w": "workdir", "u": "user", "p": "publish",
         "P": "publish-all", "v": "volume", "h": "hostname", "i": "interactive", "t": "tty",
         "l": "label"}
HELP = {
    "rm": "Automatically remove the container when it exits",
    "detach": "Run container in background and print container ID",
    "name": "Assign a name to the container",
    "env": "Set environment variables (KEY=VALUE, or KEY to take it from here)",
    "env-file": "Read in a file of environment variables",
    "workdir": "Working directory inside the container",
    "user": "Username or UID (format: <name|uid>[:<group|gid>])",
    "entrypoint": "Overwrite the default ENTRYPOINT of the image",
    "publish": "Publish a container's port to the host ([ip:]hostPort:containerPort[/tcp])",
    "publish-all": "Publish all exposed ports to random ports",
    "volume": "Bind mount a volume (name:/path, /host/path:/path, /path; :ro)",
    "network": "Connect a container to a network: default, host or none",
    "hostname": "Container host name",
    "init": "Run an init inside the container that forwards signals and reaps processes",
    "read-only": "Mount the container's root filesystem as read only",
    "interactive": "Keep STDIN open even if not attached",
    "tty": "Allocate a pseudo-TTY",
    "stop-signal": "Signal to stop the container",
    "stop-timeout": "Timeout (in seconds) to stop a container",
    "label": "Set meta data on a container",
}
_TRUE = {"true", "1", "t", "yes"}
_FALSE = {"false", "0", "f", "no"}


def usage(command: str) -> str:
    lines = [f"Usage:  minidock {command} [OPTIONS] IMAGE [COMMAND] [ARG...]", "",
             "Create and run a new container from an image" if command == "run"
             else "Create a new container", "", "Options:"]
    shorts = {v: k for k, v in SHORT.items()}
    for name, text in HELP.items():
        if command == "create" and name == "detach":
            continue
        kind = FLAGS[name][1]
        short = f"-{shorts[name]}, " if name in shorts else "    "
        value = "" if kind == "bool" else (" list" if kind == "list" else " string")
        lines.append(f"  {short}--{name}{value}".ljust(34) + text)
    lines.append("      --help".ljust(34) + "Show this message and exit")
    return "\n".join(lines) + "\n"


class HelpRequested(Exception):
    pass


def parse_run_args(args: Sequence[str], command: str = "run") -> RunOptions:
    """Docker's flag syntax -> RunOptions. Raises UsageError (exit 125)."""
    from minidock.runtime.options import RunOptions

    values: dict[str, Any] = {}
    i = 0
    args = list(args)

    def take_value(flag: str) -> str:
        nonlocal i
        i += 1
        if i >= len(args):
            raise UsageError(f"flag needs an argument: {flag}")
        return args[i]

    def assign(long: str, value: str | None, flag: str) -> None:
        if long not in FLAGS or (command == "create" and long == "detach"):
            raise UsageError(f"unknown flag: {flag}",
                             hint=f"See 'minidock {command} --help'.")
        attr, kind = FLAGS[long]
        if kind == "bool":
            if value is None:
                values[attr] = True
            elif value.lower() in _TRUE:
                values[attr] = True
            elif value.lower() in _FALSE:
                values[attr] = False
            else:
                raise UsageError(f'invalid argument "{value}" for "{flag}" flag: '
                                 "strconv.ParseBool: parsing: invalid syntax")
            return
        if value is None:
            value = take_value(flag)
        if kind == "list":
            values.setdefault(attr, [])
            values[attr].append(value)
        else:
            values[attr] = value

    image = None
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        if arg == "--help":
            raise HelpRequested()
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            assign(name, value if eq else None, arg)
        elif arg.startswith("-") and len(arg) > 1:
            j = 1
            while j < len(arg):
                ch = arg[j]
                long = SHORT.get(ch)
                if long is None:
                    raise UsageError(f"unknown shorthand flag: '{ch}' in {arg}",
                                     hint=f"See 'minidock {command} --help'.")
                if FLAGS[long][1] == "bool":
                    assign(long, None, f"-{ch}")
                    j += 1
                    continue
                rest = arg[j + 1:]
                if rest.startswith("="):
                    rest = rest[1:]
                assign(long, rest if rest else None, f"-{ch}")
                break
        else:
            break
        i += 1
    if i >= len(args):
        raise UsageError(f'"minidock {command}" requires at least 1 argument.',
                         hint=f"See 'minidock {command} --help'.")
    image = args[i]
    command_args = args[i + 1:]
    timeout = values.pop("stop_timeout", None)
    labels = {}
    for item in values.pop("labels", []):
        key, _, val = str(item).partition("=")
        labels[key] = val
    opts = RunOptions(image=image, command=command_args, labels=labels, **values)
    if timeout is not None:
        try:
            opts.stop_timeout = int(str(timeout))
        except ValueError:
            raise UsageError(f'invalid argument "{timeout}" for "--stop-timeout" flag') from None
    return opts


def run_command(settings: StoreSettings, args: Sequence[str], command: str = "run") -> int:
    """Create (and for `run`, start) a container; returns the exit code to use."""
    from minidock.runtime.create import create_container
    from minidock.runtime.start import Attach, start_attached, start_detached

    opts = parse_run_args(args, command)
    try:
        container = create_container(settings, opts, pull=pull_missing)
        if command == "create":
            _write(container.id + "\n")
            return 0
        if opts.detach:
            start_detached(container, interactive=opts.interactive)
            _write(container.id + "\n")
            return 0
        winsize = None
        if opts.tty:
            from minidock.runtime.supervisor import terminal_size

            winsize = terminal_size(0) or terminal_size(1)
        return start_attached(container, Attach(stdin=opts.interactive, winsize=winsize))
    except MinidockError as exc:
        # as with docker: whatever stops the container from running is exit 125,
        # except a command that cannot be invoked (126) or found (127)
        if exc.exit_code not in (126, 127):
            exc.exit_code = 125
        raise


def pull_missing(store: Store, reference: str) -> None:
    """What Docker's `run` and `create` do with an image that is not here: say so and
    pull it, with the pull's progress, all on stderr (stdout is the container's)."""
    from minidock.cli.registry import ProgressView
    from minidock.reference import parse
    from minidock.registry import Progress, pull_image

    ref = parse(reference)
    err = sys.stderr
    err.write(f"Unable to find image '{ref}' locally\n")
    err.flush()
    view = ProgressView(err)
    started = False

    def progress(event: Progress) -> None:
        nonlocal started
        if not started:  # as Docker: once the registry has the image
            err.write(f"{ref.digest or ref.tag}: Pulling from {ref.repository}\n")
            started = True
        view(event)

    result = pull_image(store, ref, progress=progress)
    view.finish()
    err.write(f"Digest: {result.digest}\nStatus: Downloaded newer image for {ref}\n")
    err.flush()


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


class RunSettings(Record):
    """The two settings `run` reads: where the store is and the storage driver."""

    __slots__ = ("root", "storage_driver")

    def __init__(self, root: str, storage_driver: str | None):
        self.root = root
        self.storage_driver = storage_driver


def run_settings(env: Mapping[str, str] | None = None) -> RunSettings:
    """`Settings.from_env()`'s root and storage driver, read the same way (a test
    holds the two together) without importing minidock.settings, whose
    dataclasses and pathlib imports would double the start-up time of `run`."""
    env = os.environ if env is None else env
    data_home = env.get("XDG_DATA_HOME") or os.path.join(env.get("HOME", "/root"),
                                                         ".local", "share")
    root = env.get("MINIDOCK_ROOT") or os.path.join(data_home, "minidock")
    return RunSettings(os.path.join(os.getcwd(), root) if not os.path.isabs(root) else root,
                       env.get("MINIDOCK_STORAGE_DRIVER") or None)


def fast_main(command: str, args: Sequence[str]) -> int:
    """Entry for `minidock run|create ...` without click; errors map as in cli.main."""
    debug = bool(os.environ.get("MINIDOCK_DEBUG"))
    try:
        return run_command(run_settings(), args, command)
    except HelpRequested:
        _write(usage(command))
        return 0
    except COMMAND_ERRORS as exc:
        code = exit_status(exc, debug=debug)
        if code is None:
            raise
        return code


def exit_now(code: int) -> NoReturn:
    """End this process with `code` as soon as our output is out.

    The interpreter's own teardown (freeing every module `run` loaded) costs a
    few milliseconds, and nothing on this path needs it: no atexit handler, no
    thread, no buffered file but stdout and stderr, flushed here.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away: nothing more to say
            pass
    os._exit(code)


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "create"):
        sys.stderr.write("usage: python -m minidock.cli.run run|create [OPTIONS] IMAGE ...\n")
        sys.exit(125)
    exit_now(fast_main(sys.argv[1], sys.argv[2:]))
