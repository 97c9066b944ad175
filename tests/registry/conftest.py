"""Fixtures for the registry tests: real registries (anonymous, basic, bearer) and images.

The registries are session-scoped (starting docker-registry takes a moment);
each test uses its own repository names so tests do not see each other's images.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from minidock.registry.config import RegistryConfig
from minidock.settings import Settings
from minidock.store.store import Image, Store

TESTS_DIR = Path(__file__).resolve().parents[1]
if str(TESTS_DIR) not in sys.path:  # the shared helper lives in tests/
    sys.path.insert(0, str(TESTS_DIR))

from registry_server import FaultyProxy, RegistryServer, TokenServer  # noqa: E402
from registry_testlib import PASSWORD, USER, Recorder, build_image  # noqa: E402


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with RegistryServer(tmp_path_factory.mktemp("registry")) as server:
        yield server


@pytest.fixture(scope="session")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with RegistryServer(tmp_path_factory.mktemp("basic"), htpasswd=(USER, PASSWORD)) as server:
        yield server


@pytest.fixture(scope="session")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenServer]:
    with TokenServer(tmp_path_factory.mktemp("token"), users={USER: PASSWORD}) as server:
        yield server


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory: pytest.TempPathFactory,
                   token_server: TokenServer) -> Iterator[RegistryServer]:
    with RegistryServer(tmp_path_factory.mktemp("bearer"), token_server=token_server) as server:
        yield server


@pytest.fixture
def proxy(registry: RegistryServer) -> Iterator[FaultyProxy]:
    with FaultyProxy(registry.host) as p:
        yield p


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(root=tmp_path / "root", config_dir=tmp_path / "config")


@pytest.fixture
def config(settings: Settings) -> RegistryConfig:
    """Registry settings that ignore the environment of whoever runs the tests."""
    return RegistryConfig.load(settings, env={})


@pytest.fixture
def store(settings: Settings) -> Store:
    return Store(settings).ensure()


@pytest.fixture
def fresh_store(tmp_path: Path) -> Store:
    """A second, empty store (another machine)."""
    return Store(Settings(root=tmp_path / "other-root", config_dir=tmp_path / "config")).ensure()


@pytest.fixture
def repo() -> str:
    """A repository name no other test uses."""
    return f"demo/img-{secrets.token_hex(4)}"


@pytest.fixture
def make_image(store: Store) -> Callable[..., Image]:
    def make(tag: str, layers: list[dict[str, bytes]] | None = None, **kw: object) -> Image:
        if layers is None:
            layers = [{"etc/hello.txt": secrets.token_bytes(2048)},
                      {"usr/share/data.bin": secrets.token_bytes(300_000)},
                      {"app/run.sh": b"#!/bin/sh\necho hi\n" + secrets.token_bytes(64)}]
        return build_image(store, tag, layers, **kw)  # type: ignore[arg-type]

    return make


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
