"""The `minidock` package: lazy public names, and `build`/`image` both packages and calls."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import minidock
from minidock import api


def _imported_after(code: str) -> list[str]:
    script = f"import sys\n{code}\nimport json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def test_importing_minidock_imports_no_api_runtime_or_builder():
    modules = _imported_after("import minidock")
    assert [m for m in modules if m.startswith("minidock")] == ["minidock"]


def test_the_run_command_path_does_not_import_the_api():
    modules = _imported_after(
        "import minidock.cli.run, minidock.runtime.create, minidock.runtime.start")
    assert "minidock.api" not in modules
    assert "minidock.pytest_plugin" not in modules


def test_public_names_are_the_api_objects():
    for name in ("run", "images", "pull", "load", "containers", "container", "Client",
                 "Container", "Image", "RunResult", "ExecResult"):
        assert getattr(minidock, name) is getattr(api, name)
    assert minidock.WaitTimeout is api.WaitTimeout
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        minidock.nothing_here  # noqa: B018
    assert {"run", "build", "image", "Client"} <= set(dir(minidock))


def test_build_and_image_are_api_functions_beside_the_builder_and_oci_packages(tmp_path):
    from minidock import mediatypes
    from minidock.builder import BuildOptions
    from minidock.errors import ImageNotFound
    from minidock.oci import model  # noqa: F401

    assert BuildOptions().tags == []
    assert mediatypes.OCI_MANIFEST
    assert callable(minidock.build) and callable(minidock.image)
    with pytest.raises(ImageNotFound, match="No such image: nope:1"):
        minidock.image("nope:1", root=tmp_path / "store")
    with pytest.raises(ValueError, match="is not a directory"):
        minidock.build(tmp_path / "missing", root=tmp_path / "store")


def test_build_is_callable_when_the_builder_was_imported_first():
    code = ("from minidock.builder import BuildOptions\nimport minidock\n"
            "print(callable(minidock.build), callable(minidock.image))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["True", "True"]
