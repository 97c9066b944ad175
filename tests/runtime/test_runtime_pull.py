"""`run` and `create` of an image that is not in the store pull it, as Docker does,
from a real registry (Debian's docker-registry on 127.0.0.1, see registry_server.py)."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from runtime_helpers import REPO, Minidock, container_ids

from minidock.registry import push
from minidock.settings import Settings
from minidock.store.store import Store

if str(REPO / "tests") not in sys.path:  # the registry helper is shared by the test dirs
    sys.path.insert(0, str(REPO / "tests"))

from registry_server import RegistryServer  # noqa: E402


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with RegistryServer(tmp_path_factory.mktemp("registry")) as server:
        yield server


@pytest.fixture(scope="module")
def pushed(registry: RegistryServer, image_store: Path,
           tmp_path_factory: pytest.TempPathFactory) -> str:
    """The busybox test image, in the registry as HOST:PORT/runtime/busybox:latest."""
    ref = f"{registry.host}/runtime/busybox:latest"
    settings = Settings(root=image_store, config_dir=tmp_path_factory.mktemp("push-config"))
    store = Store(settings)
    store.tag("busybox:latest", ref)
    try:
        push(store, ref)
    finally:
        store.remove_image(ref)  # an untag: busybox:latest keeps the image
    return ref


def _empty_store(tmp_path: Path) -> Minidock:
    """`minidock` on a store of its own, with registry settings of its own."""
    md = Minidock(tmp_path / "store", "overlay")
    md.env["MINIDOCK_CONFIG"] = str(tmp_path / "config")
    md.env.pop("MINIDOCK_REGISTRY_MIRROR", None)
    return md


def test_run_pulls_a_missing_image_then_runs_it(pushed: str, tmp_path: Path) -> None:
    md = _empty_store(tmp_path)
    result = md("run", "--rm", pushed, "echo", "pulled")
    assert (result.code, result.out) == (0, "pulled\n"), result.err
    lines = result.err.splitlines()
    assert lines[:2] == [f"Unable to find image '{pushed}' locally",
                         "latest: Pulling from runtime/busybox"]
    assert re.fullmatch(r"[0-9a-f]{12}: Pull complete", lines[-3])
    assert re.fullmatch(r"Digest: sha256:[0-9a-f]{64}", lines[-2])
    assert lines[-1] == f"Status: Downloaded newer image for {pushed}"
    again = md("run", "--rm", pushed, "echo", "here")
    assert (again.code, again.out, again.err) == (0, "here\n", "")  # nothing more to pull
    assert container_ids(md.root) == []


def test_create_pulls_too(pushed: str, tmp_path: Path) -> None:
    md = _empty_store(tmp_path)
    result = md("create", "--name", "pulled", pushed, "true")
    assert result.code == 0, result.err
    assert re.fullmatch(r"[0-9a-f]{64}\n", result.out)  # stdout is the ID alone
    assert result.err.startswith(f"Unable to find image '{pushed}' locally\n")
    assert md.ok("start", "-a", "pulled") == ""
    md.ok("rm", "pulled")


def test_a_failed_pull_is_a_one_line_error_with_125(registry: RegistryServer,
                                                    tmp_path: Path) -> None:
    md = _empty_store(tmp_path)
    missing = f"{registry.host}/runtime/nosuch:latest"
    result = md("run", "--rm", missing, "true")
    assert (result.code, result.out) == (125, "")
    first, error, *rest = result.err.splitlines()
    assert first == f"Unable to find image '{missing}' locally"
    assert error.startswith("Error: ") and missing in error
    assert len(rest) <= 1 and all(line.startswith("Hint: ") for line in rest)
    assert container_ids(md.root) == []
