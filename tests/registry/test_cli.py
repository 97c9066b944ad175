"""`minidock pull/push` as a user sees them: Docker's lines, -q, one-line errors."""

from __future__ import annotations

import io

import pytest
from registry_server import RegistryServer, free_port
from registry_testlib import run_cli

from minidock.cli.registry import ProgressView, human_size
from minidock.digest import Digest
from minidock.registry.progress import DOWNLOADING, PULL_COMPLETE, PULLING, Progress
from minidock.settings import Settings
from minidock.store.store import Store


@pytest.mark.registry
def test_push_and_pull_print_dockers_lines(registry, store, settings, make_image, repo,
                                           tmp_path):
    ref = f"{registry.host}/{repo}:stable"
    image = make_image(ref)

    pushed = run_cli(["push", ref], settings)

    assert pushed.returncode == 0, pushed.stderr
    lines = pushed.stdout.splitlines()
    assert lines[0] == f"The push refers to repository [{registry.host}/{repo}]"
    for layer in image.layers:
        assert f"{layer.digest.short}: Pushed" in lines
    assert lines[-1] == (f"stable: digest: {image.digest} "
                         f"size: {image.manifest_descriptor.size}")

    other = Settings(root=tmp_path / "other", config_dir=settings.config_dir)
    pulled = run_cli(["pull", ref], other)

    assert pulled.returncode == 0, pulled.stderr
    lines = pulled.stdout.splitlines()
    assert lines[0] == f"stable: Pulling from {repo}"
    for layer in image.layers:
        assert f"{layer.digest.short}: Pull complete" in lines
    assert lines[-3:] == [f"Digest: {image.digest}",
                          f"Status: Downloaded newer image for {ref}", ref]
    assert Store(other).image(ref).id == image.id

    again = run_cli(["pull", ref], other)
    lines = again.stdout.splitlines()
    assert [f"{layer.digest.short}: Already exists" for layer in image.layers] == lines[1:4]
    assert lines[-2] == f"Status: Image is up to date for {ref}"


@pytest.mark.registry
def test_quiet_pull_prints_only_the_reference(registry, store, settings, make_image, repo,
                                              tmp_path):
    ref = f"{registry.host}/{repo}:v1"
    make_image(ref)
    assert run_cli(["push", "-q", ref], settings).stdout == f"{ref}\n"

    out = run_cli(["pull", "-q", ref], Settings(root=tmp_path / "q",
                                                 config_dir=settings.config_dir))

    assert out.returncode == 0
    assert out.stdout == f"{ref}\n"


@pytest.mark.registry
def test_unknown_tag_is_a_one_line_error(registry, settings):
    ref = f"{registry.host}/demo/never-pushed:v9"
    out = run_cli(["pull", ref], settings)
    assert out.returncode == 1
    assert out.stderr == (f"Error: manifest for {ref} not found: manifest unknown: "
                          "manifest unknown\n")


def test_unreachable_registry_is_a_one_line_error(settings):
    ref = f"127.0.0.1:{free_port()}/demo/x:v1"
    out = run_cli(["pull", ref], settings)
    assert out.returncode == 1
    assert len(out.stderr.splitlines()) == 1
    assert out.stderr.startswith(f"Error: pulling {ref}: cannot connect to registry")


def test_docker_hub_without_network_or_mirror_explains_what_to_do(settings):
    out = run_cli(["pull", "nginx:stable"], settings)
    assert out.returncode == 1
    error, hint = out.stderr.splitlines()
    assert error.startswith("Error: pull access denied for nginx")
    assert "minidock load" in hint and "MINIDOCK_REGISTRY_MIRROR" in hint


@pytest.mark.registry
def test_mirror_variable_serves_docker_hub_names(registry, store, settings, make_image,
                                                 tmp_path):
    name = f"mirrored-{Digest.of_bytes(str(tmp_path).encode()).short}"
    image = make_image(f"{registry.host}/library/{name}:stable")
    assert run_cli(["push", f"{registry.host}/library/{name}:stable"], settings).returncode == 0
    other = Settings(root=tmp_path / "other", config_dir=settings.config_dir)

    out = run_cli(["pull", f"{name}:stable"], other,
                  env={"MINIDOCK_REGISTRY_MIRROR": registry.host})

    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"stable: Pulling from library/{name}"
    assert lines[-2:] == [f"Status: Downloaded newer image for {name}:stable",
                          f"docker.io/library/{name}:stable"]
    assert Store(other).image(f"{name}:stable").id == image.id


@pytest.fixture(scope="module")
def lan_registry(tmp_path_factory):
    """A registry on 127.0.0.2: not loopback by name, so HTTPS unless listed insecure."""
    with RegistryServer(tmp_path_factory.mktemp("lan"), bind="127.0.0.2") as server:
        yield server


@pytest.mark.registry
def test_insecure_registries_fall_back_to_http(lan_registry, store, settings, make_image, repo):
    ref = f"{lan_registry.host}/{repo}:v1"
    make_image(ref)

    refused = run_cli(["push", ref], settings)
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        f"Error: pushing {ref}: cannot connect to registry {lan_registry.host}: TLS handshake "
        "failed (WRONG_VERSION_NUMBER)",
        f"Hint: if {lan_registry.host} serves plain HTTP, list it in "
        "MINIDOCK_INSECURE_REGISTRIES"]

    allowed = run_cli(["push", ref], settings,
                      env={"MINIDOCK_INSECURE_REGISTRIES": lan_registry.host})
    assert allowed.returncode == 0, allowed.stderr


def test_progress_view_plain_lines_skip_byte_updates():
    out = io.StringIO()
    view = ProgressView(out, tty=False)
    d = Digest.of_bytes(b"layer")
    for event in (Progress(d, PULLING, 0, 10), Progress(d, DOWNLOADING, 5, 10),
                  Progress(d, DOWNLOADING, 10, 10), Progress(d, PULL_COMPLETE, 10, 10)):
        view(event)
    assert out.getvalue() == f"{d.short}: Pulling fs layer\n{d.short}: Pull complete\n"


def test_progress_view_on_a_terminal_redraws_bars_with_bytes_and_rate():
    out = io.StringIO()
    now = [100.0]
    view = ProgressView(out, tty=True, clock=lambda: now[0])
    a, b = Digest.of_bytes(b"a"), Digest.of_bytes(b"b")
    view(Progress(a, PULLING, 0, 4_000_000))
    view(Progress(b, PULLING, 0, 1000))
    view(Progress(a, DOWNLOADING, 1_000_000, 4_000_000))
    now[0] += 0.5
    view(Progress(a, DOWNLOADING, 2_000_000, 4_000_000))
    view.finish()

    frames = out.getvalue().split("\x1b[2A")
    last = [line.removeprefix("\x1b[2K") for line in frames[-1].splitlines()]
    assert last[0] == (f"{a.short}: Downloading [{'=' * 24}>{' ' * 25}] "
                       f"{'2MB':>7}/4MB  4MB/s")
    assert last[1] == f"{b.short}: Pulling fs layer"


def test_human_sizes_are_decimal_like_docker():
    assert [human_size(n) for n in (512, 1500, 2_500_000, 57_300_000, 3_200_000_000)] == [
        "512B", "1.5kB", "2.5MB", "57.3MB", "3.2GB"]
