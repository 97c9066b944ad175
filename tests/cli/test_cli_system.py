"""`system df|check|prune`, `version`, `info`, and docker's wording for bad input."""

from __future__ import annotations

import json
import platform
from pathlib import Path

from store_testkit import make_image, run_cli

from minidock import __version__
from minidock.cli.output import human_size4
from minidock.store.store import Store


def test_system_check_consistent_and_corrupt(store: Store, root: Path) -> None:
    img = make_image(store, "app:1", [{"a": b"1"}, {"b": b"2"}])
    ok = run_cli(root, "system", "check")
    assert ok.exit_code == 0
    assert ok.stdout == f"The store at {root} is consistent: 1 image, 4 blobs verified.\n"
    layer = img.layers[1].digest
    path = store.blobs.path(layer)
    path.write_bytes(b"X" + path.read_bytes()[1:])
    bad = run_cli(root, "system", "check")
    assert bad.exit_code == 1
    assert bad.stdout.splitlines() == [f"blob {layer}: digest mismatch: content hashes to "
                                       f"{bad.stdout.split()[-1]}"]
    assert bad.stderr == f"Error: the store at {root} has 1 problem\n"


def test_system_check_reports_missing_blobs(store: Store, root: Path) -> None:
    img = make_image(store, "app:1", [{"a": b"1"}])
    store.blobs.path(img.layers[0].digest).unlink()
    result = run_cli(root, "system", "check")
    assert result.exit_code == 1
    assert f"image app:1: layer blob {img.layers[0].digest} is missing" in result.stdout


def test_system_df(store: Store, root: Path) -> None:
    one = make_image(store, "one:1", [{"a": b"1" * 3000}])
    two = make_image(store, None, [{"b": b"2"}])
    cached = make_image(store, None, [{"c": b"3"}])
    store.cache.put("RUN c", cached.digest)
    with store.lock():
        store.refs.remove_digest(cached.digest)
    result = run_cli(root, "system", "df")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE"
    size = sum(d.size for img in (one, two)
               for d in (img.manifest_descriptor, img.manifest.config, *img.layers))
    cache = sum(d.size for d in (cached.manifest_descriptor, cached.manifest.config,
                                 *cached.layers))
    assert lines[1].split() == ["Images", "2", "0", human_size4(size), human_size4(size),
                                "(100%)"]
    assert lines[2].split() == ["Containers", "0", "0", "0B", "0B"]
    assert lines[3].split() == ["Local", "Volumes", "0", "0", "0B", "0B"]
    assert lines[4].split() == ["Build", "Cache", "1", "0", human_size4(cache),
                                human_size4(cache)]
    as_json = [json.loads(line) for line in run_cli(root, "system", "df", "--format",
                                                    "json").stdout.splitlines()]
    assert [row["Type"] for row in as_json] == ["Images", "Containers", "Local Volumes",
                                                "Build Cache"]


def test_system_prune_removes_dangling_images_and_build_cache(store: Store, root: Path) -> None:
    keep = make_image(store, "keep:1", [{"k": b"1"}])
    make_image(store, None, [{"d": b"1"}])
    cached = make_image(store, None, [{"c": b"3"}])
    store.cache.put("RUN c", cached.digest)
    with store.lock():
        store.refs.remove_digest(cached.digest)
    result = run_cli(root, "system", "prune", "-f")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Deleted Images:\ndeleted: ")
    assert "Total reclaimed space: " in result.stdout.splitlines()[-1]
    assert run_cli(root, "images", "-a", "-q").stdout.split() == [keep.short_id]
    assert run_cli(root, "system", "check").exit_code == 0


def test_system_prune_prompt(root: Path, store: Store) -> None:
    result = run_cli(root, "system", "prune", input="no\n")
    assert result.stdout.startswith("WARNING! This will remove:\n  - all stopped containers\n")
    assert result.stdout.endswith("\n\nAre you sure you want to continue? [y/N] ")


def test_version(root: Path) -> None:
    out = run_cli(root, "version").stdout
    assert f" Version:           {__version__}\n" in out
    assert f" Python version:    {platform.python_version()}\n" in out
    assert "API version:       none" in out
    assert run_cli(root, "version", "--format", "{{.Client.Version}}").stdout == (
        f"{__version__}\n")


def test_info(store: Store, root: Path) -> None:
    make_image(store, "app:1", [{"a": b"1"}])
    out = run_cli(root, "info").stdout
    assert f" Root Dir: {root}\n" in out
    assert " Images: 1\n" in out
    assert " Default Compression: zstd\n" in out
    assert " Containers: 0\n" in out
    assert " Rootless: " in out
    driver = [line for line in out.splitlines() if line.startswith(" Storage Driver: ")]
    assert driver and driver[0].split(": ")[1] in ("overlay", "copy")
    assert run_cli(root, "info", "-f", "{{.Images}}").stdout == "1\n"


def test_no_such_image_wording_everywhere(store: Store, root: Path) -> None:
    for args in (["history", "foo:bar"], ["tag", "foo:bar", "x:1"], ["rmi", "foo:bar"],
                 ["image", "inspect", "foo:bar"], ["save", "foo:bar"]):
        result = run_cli(root, *args)
        assert result.exit_code == 1, args
        assert result.stderr == "Error: No such image: foo:bar\n", args


def test_malformed_references(store: Store, root: Path) -> None:
    make_image(store, "app:1", [{"a": b"1"}])
    for args in (["tag", "app:1", "UPPER/Case"], ["tag", "app:1", "a:b:c:d"],
                 ["history", "bad name"], ["image", "inspect", "x@sha256:short"]):
        result = run_cli(root, *args)
        assert result.exit_code != 0, args
        assert len(result.stderr.splitlines()) == 1, args
        assert "invalid reference format" in result.stderr, args
        assert "Traceback" not in result.stderr


def test_info_has_dockers_template_fields(store: Store, root: Path) -> None:
    out = run_cli(root, "info", "-f",
                  "{{.ServerVersion}}|{{.DockerRootDir}}|{{.ContainersPaused}}|"
                  "{{.CgroupDriver}}|{{.CgroupVersion}}").stdout
    version = "2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "1"
    assert out == f"{__version__}|{root}|0|cgroupfs|{version}\n"
    text = run_cli(root, "info").stdout
    assert "  Running: 0\n  Paused: 0\n  Stopped: 0\n" in text
    assert f" Cgroup Version: {version}\n" in text


def test_forced_removal_of_a_missing_object_reports_it_and_exits_0(store: Store,
                                                                    root: Path) -> None:
    # Docker 20.10: `rm -f nope` / `rmi -f nope` print the error and exit 0
    for args in (["rmi", "-f", "nope"], ["rm", "-f", "nope"]):
        result = run_cli(root, *args)
        assert result.exit_code == 0, args
        kind = "image" if args[0] == "rmi" else "container"
        assert result.stderr == f"Error: No such {kind}: nope\n", args
    assert run_cli(root, "rm", "nope").exit_code == 1
    assert run_cli(root, "rmi", "nope").exit_code == 1
