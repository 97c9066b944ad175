"""pytest fixtures for tests that need real services in containers, with no daemon.

Fixtures:
- `minidock_store`: a `minidock.Client` on the session's store (session scope);
- `minidock_image`: a factory that builds, loads, copies or pulls an image once;
- `minidock_container`: a factory that starts containers and removes them when
  the test ends, passed or failed or interrupted.

Which store (`--minidock-store`, ini `minidock_store`):
- `session` (default): a new store per test process under
  `<tempdir>/minidock-pytest-<uid>/`, deleted at the end; images come from
  the user's store (copied), an archive, a build or a registry;
- `user`: the store the `minidock` CLI uses (MINIDOCK_ROOT, else XDG);
- a directory: that store.

Every container gets the session's owner label. When the test run ends, what
it owns is removed; when it was killed, the next run removes it (see
`minidock.api.sessions`). With pytest-xdist each worker has its own store
(session mode), so neither names nor ports clash: ports are chosen by the
kernel (`ports={80: None}`).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from minidock.api import Client, Container, Image
    from minidock.api.sessions import Session

SESSION = "session"
USER = "user"
_STATE_KEY = pytest.StashKey["_PluginState"]()
_MAIN_WORKER = "main"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("minidock", "minidock containers")
    group.addoption(
        "--minidock-store", dest="minidock_store", default=None, metavar="session|user|DIR",
        help="store for the minidock fixtures: 'session' (a new store per run, the "
             "default), 'user' (the store the minidock CLI uses) or a store directory.")
    parser.addini("minidock_store", default=SESSION,
                  help="store for the minidock fixtures: session, user or a directory "
                       "(relative to the ini file).")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_STATE_KEY] = _PluginState(config)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: workers belong to this process's session."""
    state = node.config.stash[_STATE_KEY]
    node.workerinput["minidock_owner"] = state.owner
    state.has_workers = True


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """The owner removes whatever its session still owns, workers' included."""
    state = session.config.stash.get(_STATE_KEY, None)
    if state is not None:
        state.finish()


class _PluginState:
    """What one pytest process knows about the session. Nothing touches the disk
    until a fixture is used, so test runs that use none pay nothing."""

    def __init__(self, config: pytest.Config):
        workerinput = getattr(config, "workerinput", None)
        self.is_owner = workerinput is None or "minidock_owner" not in workerinput
        self._owner: str | None = None if workerinput is None or self.is_owner else \
            workerinput["minidock_owner"]
        self.worker: str = workerinput.get("workerid", _MAIN_WORKER) if workerinput else \
            _MAIN_WORKER
        self.mode, self.directory = _store_setting(config)
        self.has_workers = False
        self._client: Client | None = None
        self._user: Client | None = None
        self._session: Session | None = None
        self.images: dict[tuple[Any, ...], Image] = {}

    @property
    def owner(self) -> str:
        if self._owner is None:
            from minidock.api.sessions import process_owner

            self._owner = process_owner()
        return self._owner

    # -- stores ---------------------------------------------------------------------------
    def session(self) -> Session:
        if self._session is None:
            from minidock.api.sessions import Session, sessions_base, sweep_dead_sessions

            base = sessions_base()
            with _interrupts_deferred():
                sweep_dead_sessions(base)
            self._session = Session(base, self.owner)
        return self._session

    def client(self) -> Client:
        if self._client is None:
            from minidock.api import Client
            from minidock.api.sessions import OWNER_LABEL, WORKER_LABEL
            from minidock.store.store import Store

            session = self.session()
            labels = {OWNER_LABEL: self.owner, WORKER_LABEL: self.worker}
            if self.mode == SESSION:
                root = session.store_for(self.worker)
            elif self.mode == USER:
                root = self.user_client().root
            else:
                assert self.directory is not None
                root = self.directory
            session.register(self.worker, root, isolated=self.mode == SESSION)
            client = Client(root, labels=labels)
            Store(client.settings).ensure()
            self._client = client
        return self._client

    def user_client(self) -> Client:
        """The store the CLI uses: where the session store takes images from."""
        if self._user is None:
            from minidock.api import Client

            self._user = Client()
        return self._user

    def release_worker(self) -> None:
        if self._session is not None:
            with _interrupts_deferred():
                self._session.release(self.worker)
        self._client = None
        self.images.clear()

    def finish(self) -> None:
        """At the owner's end: sweep the session (its workers may have been killed)."""
        if not self.is_owner or (self._session is None and not self.has_workers):
            return
        session = self._session
        if session is None:
            from minidock.api.sessions import Session, base_path, sessions_base

            if not (base_path() / self.owner).exists():
                return  # no worker used the fixtures
            session = Session(sessions_base(), self.owner)
        with _interrupts_deferred():
            session.sweep()


def _store_setting(config: pytest.Config) -> tuple[str, Path | None]:
    value = config.getoption("minidock_store")
    base = Path.cwd()
    if value is None:
        value = config.getini("minidock_store") or SESSION
        base = config.inipath.parent if config.inipath is not None else config.rootpath
    value = str(value).strip()
    if value in (SESSION, USER):
        return value, None
    if not value:
        raise pytest.UsageError("minidock_store must be 'session', 'user' or a directory")
    path = Path(os.path.expanduser(value))
    return "path", (path if path.is_absolute() else base / path).absolute()


@contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Let clean-up finish before a Ctrl-C takes effect (it is re-raised after)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            raise KeyboardInterrupt


def _state(config: pytest.Config) -> _PluginState:
    return config.stash[_STATE_KEY]


# ---- fixtures ------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def minidock_store(pytestconfig: pytest.Config) -> Iterator[Client]:
    """A `minidock.Client` on the session's store; what it started is removed at the end."""
    state = _state(pytestconfig)
    yield state.client()
    state.release_worker()


ImageFactory = Callable[..., "Image"]


@pytest.fixture(scope="session")
def minidock_image(pytestconfig: pytest.Config, minidock_store: Client) -> ImageFactory:
    """`minidock_image(ref, *, archive=None, build=None, dockerfile=None, build_args=None,
    target=None)` -> Image, made once per test process.

    With `build`, builds that context directory and tags it `ref`; with `archive`,
    loads the archive (which must hold `ref`); otherwise takes `ref` from the
    session store, else from the user's store, else pulls it.
    """
    state = _state(pytestconfig)

    def get(ref: str, *, archive: str | os.PathLike[str] | None = None,
            build: str | os.PathLike[str] | None = None,
            dockerfile: str | os.PathLike[str] | None = None,
            build_args: Mapping[str, str] | None = None, target: str | None = None) -> Image:
        if not isinstance(ref, str) or not ref:
            raise TypeError(f"ref must be a non-empty str, not {ref!r}")
        if archive is not None and build is not None:
            raise ValueError("give either archive or build, not both")
        key = (ref, _key(archive), _key(build), _key(dockerfile),
               tuple(sorted((build_args or {}).items())), target)
        image = state.images.get(key)
        if image is None:
            image = _provide(state, minidock_store, ref, archive=archive, build=build,
                             dockerfile=dockerfile, build_args=build_args, target=target)
            state.images[key] = image
        return image

    return get


def _key(path: str | os.PathLike[str] | None) -> str | None:
    return None if path is None else os.path.abspath(os.fspath(path))


def _provide(state: _PluginState, client: Client, ref: str, *,
             archive: str | os.PathLike[str] | None, build: str | os.PathLike[str] | None,
             dockerfile: str | os.PathLike[str] | None, build_args: Mapping[str, str] | None,
             target: str | None) -> Image:
    from minidock.errors import ImageNotFound

    if build is not None:
        return client.build(build, tag=ref, dockerfile=dockerfile, build_args=build_args,
                            target=target)
    if archive is not None:
        loaded = client.load(archive)
        if not client.has_image(ref):
            names = ", ".join(t for image in loaded for t in image.tags) or "no named image"
            raise ImageNotFound(ref, hint=f"{os.fspath(archive)} holds {names}")
        return client.image(ref)
    if client.has_image(ref):
        return client.image(ref)
    user = state.user_client()
    if user.root != client.root and user.has_image(ref):
        return client.copy_image(ref, source=user)
    return client.pull(ref)


ContainerFactory = Callable[..., "Container"]


@pytest.fixture
def minidock_container(minidock_store: Client, minidock_image: ImageFactory
                       ) -> Iterator[ContainerFactory]:
    """`minidock_container(image, command=None, **run_options)` -> a running Container,
    removed when the test ends.

    `image` is an Image or a reference (fetched like `minidock_image(ref)`). Without
    `ports`, every port the image EXPOSEs is published on a free host port.
    Other options are those of `minidock.run` (env, volumes, name, ...).
    """
    started: list[Container] = []

    def start(image: str | Image, command: str | list[str] | None = None,
              **options: Any) -> Container:
        from minidock.api import Container, Image

        if "detach" in options or "remove" in options:
            raise TypeError("minidock_container always detaches and removes at teardown: "
                            "do not pass detach or remove")
        if isinstance(image, str):
            found = minidock_image(image)
        elif isinstance(image, Image):
            found = image
        else:
            raise TypeError(f"image must be a reference string or an Image, not "
                            f"{type(image).__name__}")
        if "ports" not in options:
            options["ports"] = {port: None for port in found.exposed_ports}
        container = minidock_store.run(image, command, detach=True, **options)
        assert isinstance(container, Container)  # detached, run returns the running container
        started.append(container)
        return container

    yield start
    with _interrupts_deferred():
        errors = []
        for container in reversed(started):
            try:
                container.remove(force=True)
            except Exception as exc:  # one failure must not keep the others running
                errors.append(exc)
        if errors:
            raise errors[0]
