"""Container lifecycle: create, start (attached or detached), stop, kill, wait, remove.

Every command is a short-lived process. `create` validates all input before
touching the disk and undoes what it made if anything fails. `start` binds
published ports in the calling process (so "port already allocated" is the
caller's error, exit 125), then either supervises the container itself
(attached) or hands it to a detached supervisor and returns once the
container's command has been exec'd.
"""

from __future__ import annotations

import os
import signal
import sys

from minidock.errors import (
    ConflictError,
    ImageNotFound,
    MinidockError,
    RuntimeError_,
    UsageError,
)
from minidock.fsutil import remove_tree
from minidock.runtime.clock import ZERO_TIME, now_iso
from minidock.runtime.containers import (
    Container,
    containers_dir,
    find_container,
    load_record,
    release_name,
    reserve_name,
    write_json_atomic,
)
from minidock.runtime.options import (
    MountSpec,
    PortBinding,
    parse_env,
    parse_publish,
    parse_volume,
    read_env_file,
)
from minidock.runtime.record import Record
from minidock.runtime.spec import BindMount, SandboxSpec, image_process

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from minidock.runtime.containers import StrPath
    from minidock.settings import Settings

    PullMissing = Callable[[Any, str], object]

DEFAULT_STOP_TIMEOUT = 10
KILL_WAIT = 30.0
HOSTS_TEMPLATE = """127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
ff00::0\tip6-mcastprefix
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
"""


_RUN_DEFAULTS: dict[str, Any] = {
    "name": None, "env": list, "env_files": list, "workdir": None, "user": None,
    "entrypoint": None, "publish": list, "publish_all": False, "volumes": list,
    "network": "default", "hostname": None, "init": False, "read_only": False,
    "interactive": False, "tty": False, "rm": False, "detach": False, "stop_signal": None,
    "stop_timeout": None, "labels": dict,
}


class RunOptions(Record):
    """The `run`/`create` flags, as given (validated by `create_container`)."""

    __slots__ = ("image", "command", *_RUN_DEFAULTS)

    def __init__(self, image: str, command: list[str] | None = None, **flags: Any):
        unknown = set(flags) - set(_RUN_DEFAULTS)
        if unknown:
            raise TypeError(f"unknown run options: {', '.join(sorted(unknown))}")
        self.image = image
        self.command = list(command or [])
        for name, default in _RUN_DEFAULTS.items():
            value = flags.get(name, default)
            setattr(self, name, value() if value in (list, dict) else value)


def network_mode(value: str) -> str:
    if value in ("default", "bridge", "private", ""):
        return "private"
    if value in ("host", "none"):
        return value
    raise UsageError(f"network {value} not found", hint="use default, host or none")


def parse_signal(value: str | int | None, default: int = signal.SIGTERM) -> int:
    """`SIGQUIT`, `QUIT`, `quit` or `3` -> 3."""
    if value is None or value == "":
        return default
    text = str(value).strip().upper()
    if text.isdigit():
        number = int(text)
        if 0 < number < signal.NSIG:
            return number
    else:
        name = text if text.startswith("SIG") else "SIG" + text
        sig = getattr(signal.Signals, name, None) if name.isidentifier() else None
        if isinstance(sig, signal.Signals):
            return int(sig)
    raise UsageError(f"invalid signal: {value}")


# ---- create ------------------------------------------------------------------

def _gather_env(opts: RunOptions, host_env: Mapping[str, str]) -> list[str]:
    env: list[str] = []
    for path in opts.env_files:
        env.extend(read_env_file(path, host_env))
    env.extend(parse_env(opts.env, host_env))
    return env


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def create_container(settings: Settings, opts: RunOptions, *,
                     host_env: Mapping[str, str] | None = None,
                     store: Any = None, pull: PullMissing | None = None) -> Container:
    """Make a container (state "created") from an image and run flags.

    `pull(store, reference)` is called when the image is not in the store; it
    should fetch it (the CLI pulls from the registry and shows progress).
    Raises UsageError/RuntimeError_ (exit 125) for bad input or an unknown
    image; leaves nothing behind then.
    """
    host_env = os.environ if host_env is None else host_env
    # 1. validate everything that needs no store
    env = _gather_env(opts, host_env)
    bindings: list[PortBinding] = [b for spec in opts.publish for b in parse_publish(spec)]
    mount_specs: list[MountSpec] = [parse_volume(v) for v in opts.volumes]
    network = network_mode(opts.network)
    if opts.stop_signal is not None:
        parse_signal(opts.stop_signal)
    if opts.workdir is not None and not opts.workdir.startswith("/"):
        raise UsageError(f"the working directory {opts.workdir!r} is invalid, it needs to be "
                         "an absolute path")
    if opts.name is not None:
        from minidock.runtime.containers import NAME_RE

        if not NAME_RE.match(opts.name):
            raise UsageError(f"Invalid container name ({opts.name}), only "
                             "[a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    # 2. the image
    root = os.fspath(settings.root)
    image = resolve_image(root, opts.image, settings, store, pull=pull)
    config = image.config
    cfg = config.get("config") or {}
    layers = image.layers
    from minidock.runtime.storage import storage_driver

    driver_name = storage_driver(settings)
    # 3. identity
    cid = os.urandom(32).hex()
    hostname = opts.hostname or (os.uname().nodename if network == "host" else cid[:12])
    process = image_process(config, command=opts.command, entrypoint=opts.entrypoint, env=env,
                            workdir=opts.workdir, user=opts.user, tty=opts.tty,
                            hostname=hostname)
    exposed = dict(cfg.get("ExposedPorts") or {})
    if opts.publish_all:
        published = {b.key for b in bindings}
        for key in exposed:
            port, _, proto = key.partition("/")
            if port.isdigit() and (proto or "tcp") == "tcp" and key not in published:
                bindings.append(PortBinding("", 0, int(port)))
    for b in bindings:
        exposed.setdefault(b.key, {})
    base = containers_dir(root)
    os.makedirs(base, exist_ok=True)
    bundle = os.path.join(base, cid)
    made_volumes: list[str] = []
    name = opts.name
    named = False
    try:
        if name is not None:
            reserve_name(root, name, cid)
            named = True
        else:
            from minidock.runtime.names import random_name

            for attempt in range(64):
                name = random_name() if attempt < 32 else f"{random_name()}{attempt}"
                try:
                    reserve_name(root, name, cid)
                    named = True
                    break
                except ConflictError:
                    continue
        os.mkdir(bundle, 0o700)
        from minidock.runtime.rootfs import OVERLAY, get_driver, shared_init_tree

        shared = shared_init_tree(base) if driver_name == OVERLAY else None
        get_driver(driver_name).create(bundle, layers, shared_init=shared)
        if driver_name == "copy":
            from minidock.runtime.changes import save_dir_identities

            save_dir_identities(bundle)
        hosts = HOSTS_TEMPLATE + (f"127.0.0.1\t{hostname}\n" if network != "host" else "")
        if network == "host":
            hosts = _read_text("/etc/hosts") or hosts
        for name_, text in (("hostname", hostname + "\n"), ("hosts", hosts),
                            ("resolv.conf", _read_text("/etc/resolv.conf"))):
            with open(os.path.join(bundle, name_), "w", encoding="utf-8") as f:
                f.write(text)
        binds, mounts_record = _plan_mounts(root, mount_specs, cfg, made_volumes)
        spec = SandboxSpec(id=cid, bundle=bundle, driver=driver_name, hostname=hostname,
                           process=process, network=network, mounts=binds,
                           readonly=opts.read_only, init=opts.init, volatile=opts.rm)
        data = _record(cid, name or cid[:12], image.id, opts, spec, cfg, exposed, bindings,
                       mounts_record, layers, driver_name)
        write_json_atomic(os.path.join(bundle, "state.json"), data)
    except BaseException:
        _discard(root, bundle, name if named else None, cid, made_volumes)
        raise
    return Container(root, data)


def resolve_image(root: str, reference: str, settings: Any, store: Any = None, *,
                  pull: PullMissing | None = None) -> Any:
    """The image's ID, config and extracted layer dirs (see imagecache): from the
    cache when still valid, else through the store, extracting layers on first use.

    An image that is not in the store is fetched with `pull` when given and
    the reference names one a registry could have (not an image ID).
    """
    from minidock.runtime import imagecache

    if store is None:
        cached = imagecache.lookup(root, reference)
        if cached is not None:
            return cached
    identity = imagecache.index_identity(root)
    if store is None:
        from minidock.settings import Settings
        from minidock.store import Store

        store = Store(settings if isinstance(settings, Settings) else settings.root)
    try:
        image = store.image(reference)
    except ImageNotFound as exc:
        if pull is None or not pullable(reference):
            exc.exit_code = 125
            if not exc.hint:
                exc.hint = "load or pull it first (minidock load / minidock pull)"
            raise
        pull(store, reference)
        identity = imagecache.index_identity(root)  # the pull changed the references
        image = store.image(reference)
    rootless = os.geteuid() != 0
    layers = [str(store.extracted_layer(image, i, rootless=rootless))
              for i in range(len(image.layers))]
    resolved = imagecache.ResolvedImage(str(image.id), image.config, layers)
    imagecache.record(root, reference, identity, resolved)
    return resolved


def pullable(reference: str) -> bool:
    """Could a registry have this image? Not for a full image ID (as in Docker) or
    something that is no reference at all."""
    from minidock.errors import ReferenceError_
    from minidock.reference import parse

    text = reference.removeprefix("sha256:")
    if reference.startswith("sha256:") or (len(text) == 64 and
                                           all(c in "0123456789abcdef" for c in text)):
        return False
    try:
        parse(reference)
    except ReferenceError_:
        return False
    return True


def _plan_mounts(root: str, specs: list[MountSpec], cfg: dict[str, Any],
                 made: list[str]) -> tuple[list[BindMount], list[dict[str, Any]]]:
    """Binds for the sandbox and Docker-shaped `Mounts` for the record.

    Image VOLUMEs not covered by a -v get anonymous volumes.
    """
    targets = {m.target for m in specs}
    all_specs = list(specs)
    for path in (cfg.get("Volumes") or {}):
        norm = os.path.normpath(path)
        if norm not in targets and norm.startswith("/"):
            all_specs.append(MountSpec("anonymous", "", norm))
            targets.add(norm)
    binds: list[BindMount] = []
    record: list[dict[str, Any]] = []
    seen: set[str] = set()
    for m in all_specs:
        if m.target in seen:
            raise UsageError(f"Duplicate mount point: {m.target}")
        seen.add(m.target)
        if m.kind == "bind":
            if not os.path.exists(m.source):
                os.makedirs(m.source, 0o755, exist_ok=True)
            binds.append(BindMount(m.source, m.target, m.readonly))
            record.append({"Type": "bind", "Source": m.source, "Destination": m.target,
                           "Mode": "ro" if m.readonly else "", "RW": not m.readonly,
                           "Propagation": "rprivate"})
            continue
        from minidock.runtime.volumes import create_volume

        vol, created = create_volume(root, m.source or None)
        if created:
            made.append(vol.name)
        binds.append(BindMount(str(vol.mountpoint), m.target, m.readonly, seed=True))
        record.append({"Type": "volume", "Name": vol.name, "Source": str(vol.mountpoint),
                       "Destination": m.target, "Driver": "local",
                       "Mode": "ro" if m.readonly else "z", "RW": not m.readonly,
                       "Propagation": "", "Anonymous": m.kind == "anonymous"})
    return binds, record


def _record(cid: str, name: str, image_id: str, opts: RunOptions, spec: SandboxSpec,
            cfg: dict[str, Any], exposed: dict[str, Any], bindings: list[PortBinding],
            mounts: list[dict[str, Any]], layers: list[str], driver: str) -> dict[str, Any]:
    port_bindings: dict[str, list[dict[str, str]]] = {}
    for b in bindings:
        port_bindings.setdefault(b.key, []).append(
            {"HostIp": b.host_ip, "HostPort": str(b.host_port) if b.host_port else ""})
    stop_signal = opts.stop_signal or cfg.get("StopSignal") or None
    return {
        "Id": cid,
        "Name": name,
        "Created": now_iso(),
        "Image": image_id,
        "ImageName": opts.image,
        "Driver": driver,
        "Layers": layers,
        "Path": spec.process.args[0],
        "Args": spec.process.args[1:],
        "Config": {
            "Hostname": spec.hostname, "User": spec.process.user, "Env": spec.process.env,
            "Cmd": opts.command or (None if opts.entrypoint is not None else cfg.get("Cmd")),
            "Entrypoint": ([opts.entrypoint] if opts.entrypoint else None)
            if opts.entrypoint is not None else cfg.get("Entrypoint"),
            "WorkingDir": spec.process.cwd, "Tty": opts.tty, "OpenStdin": opts.interactive,
            "AttachStdin": opts.interactive and not opts.detach,
            "AttachStdout": not opts.detach, "AttachStderr": not opts.detach,
            "StdinOnce": opts.interactive and not opts.detach,
            "ExposedPorts": exposed or None, "Volumes": cfg.get("Volumes"),
            "Labels": {**(cfg.get("Labels") or {}), **opts.labels},
            "StopSignal": stop_signal, "StopTimeout": opts.stop_timeout,
            "Image": opts.image,
        },
        "HostConfig": {
            "AutoRemove": opts.rm, "NetworkMode": opts.network if opts.network != "private"
            else "default", "PortBindings": port_bindings, "PublishAllPorts": opts.publish_all,
            "Binds": [v for v in opts.volumes], "Init": opts.init,
            "ReadonlyRootfs": opts.read_only,
        },
        "Mounts": mounts,
        "Spec": spec.to_json(),
        "State": {"Status": "created", "Running": False, "Paused": False,
                  "Restarting": False, "OOMKilled": False, "Dead": False, "Pid": 0,
                  "ExitCode": 0, "Error": "", "StartedAt": ZERO_TIME,
                  "FinishedAt": ZERO_TIME},
        "Ports": [],
    }


def _discard(root: str, bundle: str, name: str | None, cid: str, volumes: list[str]) -> None:
    if name:
        release_name(root, name, cid)
    if os.path.lexists(bundle):
        remove_tree(bundle)
    if volumes:
        from minidock.runtime.volumes import volumes_dir

        for vol in volumes:
            remove_tree(volumes_dir(root) / vol)


# ---- start -----------------------------------------------------------------------

def _bindings(container: Container) -> list[PortBinding]:
    out = []
    if container.spec.network != "private":
        return out
    for key, entries in (container.data["HostConfig"].get("PortBindings") or {}).items():
        port, _, proto = key.partition("/")
        for e in entries:
            out.append(PortBinding(e.get("HostIp", ""), int(e.get("HostPort") or 0), int(port),
                                   proto or "tcp"))
    return out


def _listen(container: Container) -> list[Any]:
    """The host side of the container's published ports (none: ports.py stays unloaded)."""
    bindings = _bindings(container)
    if not bindings:
        return []
    from minidock.runtime.ports import bind_ports

    return bind_ports(bindings)


def _ports_record(listeners: list[Any]) -> list[dict[str, Any]]:
    return [{"IP": item.host_ip, "PrivatePort": item.container_port,
             "PublicPort": item.host_port, "Type": "tcp"} for item in listeners]


class Attach(Record):
    """How an attached container meets the caller's terminal: `stdin` (-i) makes the
    container read our stdin; `winsize` is the terminal's (rows, cols) for -t."""

    __slots__ = ("stdin", "winsize")

    def __init__(self, stdin: bool = False, winsize: tuple[int, int] | None = None):
        self.stdin = stdin
        self.winsize = winsize


def start_attached(container: Container, attach: Attach) -> int:
    """Run the container in the foreground (this process supervises); its exit code."""
    from minidock.runtime import sandbox
    from minidock.runtime.logs import LogWriter

    spec = container.spec
    with container.lock():
        container.refresh()
        if container.running:
            raise ConflictError(f"container {container.name} is already running")
        try:
            listeners = _listen(container)
        except MinidockError as exc:
            _start_failed(container, exc)
            raise
        log = LogWriter(container.log_path)
        try:
            out_r, err_r, stdio = _stdio(spec.process.tty, 0 if attach.stdin else None,
                                         attach.winsize)
            try:
                sb = sandbox.start(spec, stdio, sockets=bool(listeners))
            except BaseException:
                _close_fds(out_r, err_r)
                raise
            finally:
                _close_fds(stdio.stdout, stdio.stderr)
        except MinidockError as exc:
            log.close()
            for item in listeners:
                item.sock.close()
            _start_failed(container, exc)
            raise
        except BaseException:
            log.close()
            raise
        container.mark_running(sb.pid, os.getpid(), _ports_record(listeners))
    from minidock.runtime.supervisor import RawTerminal, Supervisor

    sup = Supervisor(sb, out_r=out_r, err_r=err_r, log=log, listeners=listeners, attach=True,
                     relay_stdin=attach.stdin and spec.process.tty)
    with RawTerminal(spec.process.tty and attach.stdin):
        code = sup.run()
    sb.close()
    log.close()
    finish(container, code)
    return code


def _stdio(tty: bool, stdin: int | None, winsize: tuple[int, int] | None
           ) -> tuple[int | None, int | None, Any]:
    """The container's stdio: pipes for stdout and stderr (their read ends are
    returned for the supervisor), or with `tty` a terminal of its own."""
    from minidock.runtime.spec import Stdio

    if tty:
        return None, None, Stdio(stdin, -1, -1, tty=True, winsize=winsize)
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    return out_r, err_r, Stdio(stdin, out_w, err_w)


def _close_fds(*fds: int | None) -> None:
    for fd in fds:
        if fd is not None and fd >= 0:
            os.close(fd)


def _start_failed(container: Container, exc: MinidockError) -> None:
    if container.data["HostConfig"].get("AutoRemove"):
        remove_container(container, force=True, volumes=True)
    else:
        container.mark_exited(exc.exit_code, exc.message)


def finish(container: Container, code: int) -> None:
    """Record the end of a container, or remove it (`--rm`)."""
    if container.data["HostConfig"].get("AutoRemove"):
        remove_container(container, force=True, volumes=True, stopped=True)
        return
    try:
        current = load_record(container.root, container.id)
    except MinidockError:
        return  # removed meanwhile (rm -f)
    current.mark_exited(code)
    container.data = current.data


def start_detached(container: Container, *, interactive: bool = False) -> None:
    """Start the container under a detached supervisor; returns once it runs.

    The supervisor is a double-forked child in a session of its own, so it
    survives this process; it keeps none of this process's file descriptors
    (but the published ports' listeners), so a caller reading our output to
    its end is not held up by it. It reports "started" (or the start error)
    through a pipe before this function returns; `container` then holds the
    record as it was when the command started (running, PID, ports).
    """
    # imported here, before the fork: a long-lived caller (the Python API) then
    # pays for them once, not in every supervisor (and helper) it starts
    from minidock.runtime import inside, logs, sandbox, supervisor  # noqa: F401

    spec = container.spec
    with container.lock():
        container.refresh()
        if container.running:
            return
        try:
            listeners = _listen(container)
        except MinidockError as exc:
            _start_failed(container, exc)
            raise
        status_r, status_w = os.pipe2(os.O_CLOEXEC)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            try:
                _become_supervisor(status_w, listeners)
                if os.fork() != 0:
                    os._exit(0)
                _detached_supervisor(container, spec, listeners, status_w, interactive)
            finally:
                os._exit(0)
        os.close(status_w)
        for item in listeners:
            item.sock.close()
        os.waitpid(pid, 0)
        report = _read_all(status_r)
        os.close(status_r)
    if not report.startswith(b"ok"):
        from minidock.runtime.procsync import error_from

        if not report:
            raise RuntimeError_("the container's supervisor failed to start")
        raise error_from(report.decode(errors="replace"))
    import json

    container.data = json.loads(report[2:])


def _become_supervisor(status_w: int, listeners: list[Any]) -> None:
    """First steps of the detached supervisor's fork: a session of its own, stdio on
    /dev/null, and no fd of the caller but the status pipe and the listeners."""
    from minidock.runtime.procsync import close_fds_except, install_stdio

    os.setsid()
    null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    install_stdio(null, null, null)
    close_fds_except({status_w, *(item.sock.fileno() for item in listeners)})


def _read_all(fd: int) -> bytes:
    chunks = []
    while data := os.read(fd, 4096):
        chunks.append(data)
    return b"".join(chunks)


def _detached_supervisor(container: Container, spec: SandboxSpec, listeners: list[Any],
                         status_w: int, interactive: bool) -> None:
    """Body of the detached supervisor process (never returns)."""
    from minidock.runtime import sandbox
    from minidock.runtime.logs import LogWriter
    from minidock.runtime.supervisor import Supervisor

    stdin_r = stdin_w = None
    if interactive:  # -di: stdin stays open, with nothing written to it
        stdin_r, stdin_w = os.pipe2(os.O_CLOEXEC)
    try:
        log = LogWriter(container.log_path)
        out_r, err_r, stdio = _stdio(spec.process.tty, stdin_r, None)
        try:
            sb = sandbox.start(spec, stdio, sockets=bool(listeners))
        finally:
            _close_fds(stdio.stdout, stdio.stderr, stdin_r)
        container.mark_running(sb.pid, os.getpid(), _ports_record(listeners))
    except MinidockError as exc:
        for item in listeners:
            item.sock.close()
        try:
            _start_failed(container, exc)
        finally:
            os.write(status_w, f"{exc.exit_code}:{exc.message}".encode())
        os._exit(0)
    except BaseException as exc:  # noqa: B036 - the caller must hear about it
        os.write(status_w, f"125:{exc}".encode())
        os._exit(0)
    import json

    _write_all(status_w, b"ok" + json.dumps(container.data).encode())
    os.close(status_w)
    code = 137
    try:
        code = Supervisor(sb, out_r=out_r, err_r=err_r, log=log, listeners=listeners,
                          attach=False).run()
    finally:
        log.close()
        finish(container, code)
        if stdin_w is not None:
            os.close(stdin_w)
    os._exit(0)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# ---- stop, kill, wait, remove ----------------------------------------------------------

def wait_for_exit(container: Container, timeout: float | None) -> bool:
    """Wait until the container's supervisor is gone (its end is then recorded)."""
    import select

    pid = container.supervisor_pid
    if not container.supervisor_alive():
        return True
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        if not container.supervisor_alive():  # the PID may have been reused meanwhile
            return True
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(None if timeout is None else int(timeout * 1000)))
    finally:
        os.close(fd)


def _signal_container(container: Container, sig: int) -> None:
    if not container.container_alive():
        return
    try:
        os.kill(container.pid, sig)
    except ProcessLookupError:
        pass


def stop_container(container: Container, timeout: int | None = None,
                   signum: int | None = None) -> None:
    """Docker's stop: the stop signal (the image's STOPSIGNAL unless `signum`),
    then SIGKILL after `timeout` seconds (StopTimeout, else 10; -1 waits forever)."""
    container.refresh()
    if not container.running:
        return
    cfg = container.data["Config"]
    if timeout is None:
        timeout = cfg.get("StopTimeout")
        timeout = DEFAULT_STOP_TIMEOUT if timeout is None else int(timeout)
    _signal_container(container, signum or parse_signal(cfg.get("StopSignal")))
    if timeout < 0:
        wait_for_exit(container, None)
        return
    if not wait_for_exit(container, timeout):
        _signal_container(container, signal.SIGKILL)
        wait_for_exit(container, KILL_WAIT)
    _reload(container)


def kill_container(container: Container, sig: int = signal.SIGKILL) -> None:
    container.refresh()
    if not container.running:
        raise ConflictError(f"Cannot kill container: {container.name}: container "
                            f"{container.short_id} is not running")
    _signal_container(container, sig)
    if sig == signal.SIGKILL:
        wait_for_exit(container, KILL_WAIT)
    _reload(container)


def _reload(container: Container) -> None:
    try:
        container.data = load_record(container.root, container.id).refresh().data
    except MinidockError:
        pass


def wait_container(container: Container) -> int:
    """Block until the container stops; its exit code."""
    container.refresh()
    if container.running:
        wait_for_exit(container, None)
        _reload(container)
    return int(container.state.get("ExitCode") or 0)


def remove_container(container: Container, *, force: bool = False, volumes: bool = False,
                     stopped: bool = False) -> None:
    """Docker's rm: refuses a running container unless forced (then kills it).

    `volumes` also removes its anonymous volumes. `stopped` is for the
    container's own supervisor, which knows the container has ended.
    """
    root = container.root
    if not stopped:
        container.refresh()
        if container.running:
            if not force:
                raise ConflictError(
                    f"You cannot remove a running container {container.id}. Stop the "
                    "container before attempting removal or force remove")
            _signal_container(container, signal.SIGKILL)
            if container.supervisor_pid != os.getpid():
                wait_for_exit(container, KILL_WAIT)
    release_name(root, container.name, container.id)
    trash = os.path.join(containers_dir(root), f".rm-{container.id}")
    try:
        os.rename(container.path, trash)
    except FileNotFoundError:
        return  # someone else removed it
    remove_tree(trash)
    anonymous = [m["Name"] for m in container.data.get("Mounts", [])
                 if m.get("Type") == "volume" and m.get("Anonymous")]
    if volumes and anonymous:
        from minidock.runtime.containers import volumes_in_use
        from minidock.runtime.volumes import volumes_dir

        used = volumes_in_use(root)
        for name in anonymous:
            if name not in used:
                remove_tree(volumes_dir(root) / name)


def restart_container(container: Container, timeout: int | None = None) -> None:
    stop_container(container, timeout)
    _reload(container)
    start_detached(container)


def prune_containers(root: StrPath) -> list[str]:
    """Remove every stopped container; returns their IDs."""
    from minidock.runtime.containers import list_containers

    removed = []
    for c in list_containers(root):
        if not c.running:
            remove_container(c, volumes=False)
            removed.append(c.id)
    return removed


def get_container(settings: Settings, ref: str) -> Container:
    return find_container(settings.root, ref)


def remove_volume(root: StrPath, name: str, *, force: bool = False) -> None:
    """Docker's `volume rm`: refuses a volume a container uses unless forced."""
    from minidock.runtime.containers import volumes_in_use
    from minidock.runtime.volumes import get_volume

    vol = get_volume(root, name)
    users = volumes_in_use(root).get(name)
    if users and not force:
        raise ConflictError(f"remove {name}: volume is in use - [{', '.join(users)}]")
    remove_tree(vol.path)


def prune_volumes(root: StrPath, *, all_volumes: bool = False) -> tuple[list[str], int]:
    """Remove unused anonymous volumes (all unused ones with `all_volumes`);
    returns (names, bytes reclaimed)."""
    from minidock.runtime.containers import volumes_in_use
    from minidock.runtime.volumes import list_volumes, tree_size

    used = volumes_in_use(root)
    removed: list[str] = []
    reclaimed = 0
    for vol in list_volumes(root):
        if vol.name in used or not (vol.anonymous or all_volumes):
            continue
        reclaimed += tree_size(vol.mountpoint)
        remove_tree(vol.path)
        removed.append(vol.name)
    return removed, reclaimed
