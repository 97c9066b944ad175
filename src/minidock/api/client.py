"""The API bound to one store: images in, containers out.

`Client(root=None)` finds its store the way the CLI does (MINIDOCK_ROOT, else
the XDG data directory); an explicit `root` wins. The module-level functions
of `minidock` are this class's methods on a default Client. Nothing here
prints: builds and pulls report progress through an optional callback.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from minidock.api import arguments
from minidock.api.containers import Container, RunResult
from minidock.api.images import Image, copy_image, snapshot
from minidock.errors import ArchiveError, MinidockError

if TYPE_CHECKING:
    from minidock.settings import Settings
    from minidock.store.store import Store

StrPath = str | os.PathLike[str]


class Client:
    """minidock's operations on the store at `root`.

    `labels` are put on every container this client runs (the pytest plugin
    marks the containers of a test session this way).
    """

    def __init__(self, root: StrPath | None = None, *, labels: Mapping[str, str] | None = None):
        from minidock.settings import Settings

        if root is not None and not isinstance(root, str | os.PathLike):
            raise TypeError(f"root must be a path, not {type(root).__name__}")
        self._settings = Settings.from_env(root=os.fspath(root) if root is not None else None)
        self._labels = arguments.labels(labels)
        self._store_instance: Store | None = None

    @property
    def root(self) -> Path:
        """The store directory."""
        return self._settings.root

    @property
    def settings(self) -> Settings:
        return self._settings

    def __repr__(self) -> str:
        return f"Client(root={str(self.root)!r})"

    def _store(self) -> Store:
        if self._store_instance is None:
            from minidock.store.store import Store

            self._store_instance = Store(self._settings)
        return self._store_instance

    # ---- images ----------------------------------------------------------------------
    def images(self) -> list[Image]:
        """Every image in the store."""
        return [snapshot(image) for image in self._store().images()]

    def image(self, ref: str) -> Image:
        """The image `ref` names (name[:tag], name@digest or an ID); ImageNotFound if none."""
        if not isinstance(ref, str):
            raise TypeError(f"ref must be a str, not {type(ref).__name__}")
        return snapshot(self._store().image(ref))

    def has_image(self, ref: str) -> bool:
        """Whether the store holds an image `ref` names."""
        if not isinstance(ref, str):
            raise TypeError(f"ref must be a str, not {type(ref).__name__}")
        return self._store().find_image(ref) is not None

    def pull(self, ref: str, *, platform: str | None = None,
             progress: Callable[[Any], None] | None = None) -> Image:
        """Fetch `ref` from its registry into the store."""
        from minidock.registry import pull

        if not isinstance(ref, str):
            raise TypeError(f"ref must be a str, not {type(ref).__name__}")
        arguments.optional_str(platform, "platform")
        store = self._store()
        pulled = pull(store.ensure(), ref, platform=platform, progress=progress)
        return snapshot(store.image(str(pulled.id)))

    def load(self, archive: StrPath | IO[bytes]) -> list[Image]:
        """Load every image of a docker-archive or OCI archive (a path or a binary file)."""
        from minidock.archive import load

        store = self._store()
        if isinstance(archive, str | os.PathLike):
            path = os.fspath(archive)
            try:
                stream = open(path, "rb", buffering=1 << 20)  # noqa: SIM115
            except OSError as exc:
                raise ArchiveError(f"open {path}: {(exc.strerror or str(exc)).lower()}") \
                    from None
            with stream:
                loaded = load(store.ensure(), stream)
        elif hasattr(archive, "read"):
            loaded = load(store.ensure(), archive)  # type: ignore[arg-type]
        else:
            raise TypeError(f"archive must be a path or a binary file, not "
                            f"{type(archive).__name__}")
        return [snapshot(store.image(str(item.image.id))) for item in loaded]

    def build(self, path: StrPath, *, tag: str | Sequence[str] | None = None,
              dockerfile: StrPath | None = None,
              build_args: Mapping[str, str | None] | None = None, target: str | None = None,
              labels: Mapping[str, str] | None = None, no_cache: bool = False,
              pull: bool = False, progress: Callable[[Any], None] | None = None) -> Image:
        """Build the context directory `path` (its `Dockerfile`, or `dockerfile`:
        relative to the context, else to the current directory); tag the result."""
        from minidock.builder import (
            BuildOptions,
            build_image,
            open_context,
            source_date_epoch_from_env,
        )
        from minidock.builder import events as ev

        if not isinstance(path, str | os.PathLike):
            raise TypeError(f"path must be a directory path, not {type(path).__name__}")
        context_dir = os.path.abspath(os.fspath(path))
        if not os.path.isdir(context_dir):
            raise ValueError(f"build context {context_dir} is not a directory")
        tags = _tags(tag)
        dockerfile_name = _dockerfile(context_dir, dockerfile)
        options = BuildOptions(
            tags=tags, build_args=_build_args(build_args),
            target=arguments.optional_str(target, "target"), labels=arguments.labels(labels),
            no_cache=arguments.flag(no_cache, "no_cache"), pull=arguments.flag(pull, "pull"),
            compression=self._settings.compression,
            source_date_epoch=source_date_epoch_from_env())
        store = self._store()
        context, found = open_context(context_dir, dockerfile_name,
                                      tmp_parent=store.ensure().tmp_dir)
        with context:
            result = build_image(store, context, found.text, options,
                                 dockerfile_name=found.name, progress=progress or ev.ignore)
        return snapshot(store.image(str(result.image_id)))

    def copy_image(self, ref: str, *, source: Client) -> Image:
        """Copy the image `ref` names from `source`'s store into this one, under `ref`."""
        from minidock.reference import looks_like_id

        if not isinstance(source, Client):
            raise TypeError(f"source must be a Client, not {type(source).__name__}")
        image = source._store().image(ref)
        tags = [] if looks_like_id(ref) else [ref]
        copied = copy_image(source._store(), image, self._store(), tags)
        return snapshot(self._store().image(str(copied.id)))

    # ---- containers ------------------------------------------------------------------
    def run(self, image: str | Image, command: str | Sequence[str] | None = None, *,
            detach: bool = False, ports: Mapping[Any, Any] | Sequence[Any] | None = None,
            env: Mapping[str, Any] | Sequence[str] | None = None,
            volumes: Mapping[Any, Any] | Sequence[str] | None = None,
            name: str | None = None, remove: bool = False,
            labels: Mapping[str, str] | None = None,
            entrypoint: str | Sequence[str] | None = None, user: str | int | None = None,
            workdir: str | None = None, network: str | None = None,
            hostname: str | None = None) -> Container | RunResult:
        """Create and start a container of `image`.

        Detached, returns the running Container once its command was started
        (`remove=True` deletes it when it ends). Otherwise waits for it to end
        and returns RunResult(exit_code, output) (`remove=True` deletes it then).
        A container that cannot start is removed before the error is raised.
        """
        from minidock.runtime.create import create_container
        from minidock.runtime.options import RunOptions

        reference = _image_reference(image)
        detach = arguments.flag(detach, "detach")
        remove = arguments.flag(remove, "remove")
        flags = arguments.run_flags(
            command=command, ports=ports, env=env, volumes=volumes, name=name, labels=labels,
            entrypoint=entrypoint, user=user, workdir=workdir, network=network,
            hostname=hostname)
        flags["labels"] = {**self._labels, **flags["labels"]}
        argv = flags.pop("command")
        opts = RunOptions(reference, argv, rm=remove and detach, detach=detach, **flags)
        record = create_container(self._settings, opts, host_env={})
        _start(record)
        container = Container(record).reload()
        if detach:
            return container
        return _finish(container, remove)

    def container(self, ref: str) -> Container:
        """The container `ref` names (ID, unique ID prefix or name); ContainerNotFound if none."""
        from minidock.runtime.containers import find_container

        if not isinstance(ref, str):
            raise TypeError(f"ref must be a str, not {type(ref).__name__}")
        return Container(find_container(self.root, ref))

    def containers(self, *, all: bool = False,
                   labels: Mapping[str, str] | None = None) -> list[Container]:
        """Running containers, newest first (`all`: also the stopped ones); with
        `labels`, only those carrying every one of them."""
        from minidock.runtime.containers import list_containers

        arguments.flag(all, "all")
        wanted = arguments.labels(labels)
        out = []
        for record in list_containers(self.root):
            if not all and not record.running:
                continue
            have = record.data["Config"].get("Labels") or {}
            if any(have.get(key) != value for key, value in wanted.items()):
                continue
            out.append(Container(record))
        return out


def _image_reference(image: object) -> str:
    if isinstance(image, Image):
        return image.id
    if isinstance(image, str):
        if not image:
            raise ValueError("image must not be empty")
        return image
    raise TypeError(f"image must be a reference string or an Image, not {type(image).__name__}")


def _start(record: Any) -> None:
    """Start a created container; remove it if it cannot start (or we are interrupted)."""
    from minidock.runtime.control import remove_container
    from minidock.runtime.start import start_detached

    try:
        start_detached(record)
    except BaseException:
        try:
            remove_container(record, force=True, volumes=True)
        except MinidockError:
            pass
        raise


def _finish(container: Container, remove: bool) -> RunResult:
    """Wait for a foreground run to end; its exit code and output."""
    try:
        code = container.wait()
        output = container.logs()
    except BaseException:
        container.remove(force=True)
        raise
    if remove:
        container.remove(force=True)
    return RunResult(code, output)


def _tags(tag: object) -> list[str]:
    if tag is None:
        return []
    if isinstance(tag, str):
        return [tag]
    if isinstance(tag, Sequence) and all(isinstance(t, str) for t in tag):
        return list(tag)
    raise TypeError(f"tag must be a str or a list of str, not {type(tag).__name__}")


def _dockerfile(context_dir: str, dockerfile: object) -> str | None:
    if dockerfile is None:
        return None
    if not isinstance(dockerfile, str | os.PathLike):
        raise TypeError(f"dockerfile must be a path, not {type(dockerfile).__name__}")
    name = os.fspath(dockerfile)
    if not os.path.isabs(name):
        inside = os.path.join(context_dir, name)
        if os.path.isfile(inside):
            return inside
    return name


def _build_args(values: object) -> dict[str, str | None]:
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise TypeError(f"build_args must be a dict of str -> str, not {type(values).__name__}")
    out: dict[str, str | None] = {}
    for key, value in values.items():
        if not isinstance(key, str) or not (value is None or isinstance(value, str)):
            raise TypeError(f"build_args must map str to str, got {type(key).__name__} -> "
                            f"{type(value).__name__}")
        out[key] = value
    return out
