"""Creating a container: validate the `run` flags, resolve the image, lay out
the bundle and write the record (state "created").

`create_container` validates all input before touching the disk and undoes
what it made if anything fails.
"""

from __future__ import annotations

import os

from minidock.errors import ConflictError, ImageNotFound, UsageError
from minidock.fsutil import remove_tree
from minidock.runtime.clock import ZERO_TIME, now_iso
from minidock.runtime.containers import (
    Container,
    containers_dir,
    release_name,
    reserve_name,
    write_json_atomic,
)
from minidock.runtime.options import (
    MountSpec,
    PortBinding,
    RunOptions,
    network_mode,
    parse_env,
    parse_publish,
    parse_signal,
    parse_volume,
    read_env_file,
)
from minidock.runtime.spec import BindMount, SandboxSpec, image_process

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from minidock.runtime.storage import StoreSettings

    PullMissing = Callable[[Any, str], object]

HOSTS_TEMPLATE = """127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
ff00::0\tip6-mcastprefix
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
"""


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


def create_container(settings: StoreSettings, opts: RunOptions, *,
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
        from minidock.store.store import Store

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
    if not image.names and store.keep_listed(image):
        identity = imagecache.index_identity(root)  # an intermediate image, now listed
    rootless = os.geteuid() != 0
    layers = [str(store.extracted_layer(image, i, rootless=rootless))
              for i in range(len(image.layers))]
    resolved = imagecache.ResolvedImage(str(image.id), str(image.digest), image.config, layers)
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
