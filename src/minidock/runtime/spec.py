"""What a container runs and how it is set up, derived from the image config and
the `run` flags (pure; no I/O).

`SandboxSpec` is everything the sandbox needs to start a container and is kept
in the container's record so `start` can run it again. These are plain classes
rather than dataclasses: `run` imports this module, and the dataclasses module
alone costs more start-up time than the sandbox does.
"""

from __future__ import annotations

from minidock.errors import UsageError
from minidock.runtime.options import merge_env
from minidock.runtime.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NETWORK_MODES = ("private", "host", "none")


class ProcessSpec(Record):
    __slots__ = ("args", "env", "cwd", "user", "tty")

    def __init__(self, args: list[str], env: list[str], cwd: str = "/", user: str = "",
                 tty: bool = False):
        self.args = args
        self.env = env
        self.cwd = cwd
        self.user = user
        self.tty = tty


class BindMount(Record):
    """A host directory or file bind-mounted into the container.

    `seed` asks for the image's content at `target` to be copied in first when
    the source is empty (named and anonymous volumes, as Docker does).
    """

    __slots__ = ("source", "target", "readonly", "seed")

    def __init__(self, source: str, target: str, readonly: bool = False, seed: bool = False):
        self.source = source
        self.target = target
        self.readonly = readonly
        self.seed = seed


class SandboxSpec(Record):
    """`volatile`: the container's layer is thrown away when it ends (`--rm`), so
    it is never synced to disk (see OverlayDriver.mount)."""

    __slots__ = ("id", "bundle", "driver", "hostname", "process", "network", "mounts",
                 "readonly", "init", "volatile")

    def __init__(self, id: str, bundle: str, driver: str, hostname: str,  # noqa: A002
                 process: ProcessSpec, network: str = "private",
                 mounts: list[BindMount] | None = None, readonly: bool = False,
                 init: bool = False, volatile: bool = False):
        self.id = id
        self.bundle = bundle  # the container dir
        self.driver = driver
        self.hostname = hostname
        self.process = process
        self.network = network
        self.mounts = list(mounts or [])
        self.readonly = readonly
        self.init = init
        self.volatile = volatile

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__slots__}
        data["process"] = {name: getattr(self.process, name)
                           for name in ProcessSpec.__slots__}
        data["mounts"] = [{name: getattr(m, name) for name in BindMount.__slots__}
                          for m in self.mounts]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SandboxSpec:
        data = dict(data)
        data["process"] = ProcessSpec(**data["process"])
        data["mounts"] = [BindMount(**m) for m in data.get("mounts", [])]
        return cls(**data)


def image_process(config: dict[str, Any], *, command: list[str], entrypoint: str | None,
                  env: list[str], workdir: str | None, user: str | None, tty: bool,
                  hostname: str) -> ProcessSpec:
    """Docker's rules: `--entrypoint` replaces the image's and drops its CMD; a
    command replaces CMD; the image env is overridden by `-e`."""
    cfg = config.get("config") or {}
    if entrypoint is not None:
        ep = [entrypoint] if entrypoint else []
        cmd = list(command)
    else:
        ep = list(cfg.get("Entrypoint") or [])
        cmd = list(command) if command else list(cfg.get("Cmd") or [])
    args = ep + cmd
    if not args:
        raise UsageError("no command specified")
    base_env = list(cfg.get("Env") or [])
    if not any(item.startswith("PATH=") for item in base_env + env):
        base_env.insert(0, f"PATH={DEFAULT_PATH}")
    extra = [f"HOSTNAME={hostname}"]
    if tty:
        extra.append("TERM=xterm")
    full_env = merge_env(base_env, extra)
    full_env = merge_env(full_env, env)
    if workdir is not None and not workdir.startswith("/"):
        raise UsageError(f"the working directory {workdir!r} is invalid, it needs to be an "
                         "absolute path")
    cwd = workdir or cfg.get("WorkingDir") or "/"
    return ProcessSpec(args=args, env=full_env, cwd=cwd,
                       user=user if user is not None else (cfg.get("User") or ""), tty=tty)


class Stdio(Record):
    """What the container's fds 0-2 are; `stdin=None` means /dev/null.

    With `tty`, the container gets a new pseudo-terminal of its own devpts
    and the master end is handed back (Sandbox.pty_master); `winsize` is
    (rows, cols) to start with.
    """

    __slots__ = ("stdin", "stdout", "stderr", "tty", "winsize")

    def __init__(self, stdin: int | None, stdout: int, stderr: int, tty: bool = False,
                 winsize: tuple[int, int] | None = None):
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.tty = tty
        self.winsize = winsize
