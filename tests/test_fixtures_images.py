"""The offline base images: built from Debian's packages, byte-for-byte reproducible,
shaped like the official images, and runnable by another OCI tool (podman)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
sys.path.insert(0, str(FIXTURES))

from debimage.build import BuildResult, build_recipe  # noqa: E402
from debimage.debs import DebCache, multiarch_triplet  # noqa: E402
from debimage.elf import is_elf, read_link_info  # noqa: E402
from debimage.recipes import RECIPES  # noqa: E402

DEB_CACHE = FIXTURES / "cache" / "debs"
HOST_ARCH = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                           check=True).stdout.strip()
TRIPLET = multiarch_triplet(HOST_ARCH)
LIBRARY_DIRS = (f"lib/{TRIPLET}", f"usr/lib/{TRIPLET}", "lib", "usr/lib")
T = TypeVar("T")
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


# --- reading an archive back, independently of the builder ---------------------------------


@dataclass
class Node:
    info: tarfile.TarInfo
    data: bytes = b""


@dataclass
class Archive:
    """An OCI archive opened the way a consumer would: every blob checked against its name."""

    members: dict[str, bytes]
    index: dict = field(init=False)
    manifest: dict = field(init=False)
    config: dict = field(init=False)

    def __post_init__(self) -> None:
        self.index = json.loads(self.members["index.json"])
        (descriptor,) = self.index["manifests"]
        self.manifest = json.loads(self.blob(descriptor["digest"]))
        self.config = json.loads(self.blob(self.manifest["config"]["digest"]))

    @classmethod
    def open(cls, path: Path) -> Archive:
        with tarfile.open(path) as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}
        return cls(members)

    def blob(self, digest: str) -> bytes:
        algorithm, hexdigest = digest.split(":")
        data = self.members[f"blobs/{algorithm}/{hexdigest}"]
        assert hashlib.sha256(data).hexdigest() == hexdigest
        return data

    def layer_tars(self) -> list[bytes]:
        return [gzip.decompress(self.blob(d["digest"])) for d in self.manifest["layers"]]

    def tree(self) -> dict[str, Node]:
        """The image's root filesystem, layers applied in order."""
        tree: dict[str, Node] = {}
        for raw in self.layer_tars():
            with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
                for member in tar:
                    name = member.name.rstrip("/")
                    assert not name.rsplit("/", 1)[-1].startswith(".wh."), name
                    data = tar.extractfile(member).read() if member.isfile() else b""
                    tree[name] = Node(member, data)
        return tree


def resolve(tree: dict[str, Node], path: str) -> str:
    """Follow symlinks inside the image tree; raise KeyError for a dangling path."""
    pending = [p for p in path.split("/") if p]
    done: list[str] = []
    for _ in range(200):
        if not pending:
            return "/".join(done)
        part = pending.pop(0)
        candidate = "/".join([*done, part])
        node = tree[candidate]
        if node.info.issym():
            target = node.info.linkname
            if target.startswith("/"):
                done = []
            pending = [p for p in target.split("/") if p and p != "."] + pending
        else:
            done.append(part)
    raise AssertionError(f"symlink loop at {path}")


def find_library(tree: dict[str, Node], soname: str) -> str:
    for directory in LIBRARY_DIRS:
        try:
            real = resolve(tree, f"{directory}/{soname}")
        except KeyError:
            continue
        if tree[real].info.isfile():
            return real
    raise AssertionError(f"{soname} is not in the image")


def loaded_closure(tree: dict[str, Node], program: str) -> dict[str, str]:
    """soname (or interpreter path) -> real path, for everything `program` loads."""
    found: dict[str, str] = {}
    queue = [resolve(tree, program)]
    seen: set[str] = set()
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        seen.add(path)
        data = tree[path].data
        assert is_elf(data), path
        info = read_link_info(data)
        if info.interpreter:
            found[info.interpreter] = resolve(tree, info.interpreter)
            queue.append(found[info.interpreter])
        for soname in info.needed:
            found[soname] = find_library(tree, soname)
            queue.append(found[soname])
    return found


def lines(tree: dict[str, Node], path: str) -> list[str]:
    return tree[resolve(tree, path)].data.decode().splitlines()


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BuildResult]:
    out = tmp_path_factory.mktemp("images")
    cache = DebCache(DEB_CACHE)
    return {name: build_recipe(recipe, out, cache, force=True) for name, recipe in RECIPES.items()}


@pytest.fixture(scope="module")
def archives(built: dict[str, BuildResult]) -> dict[str, Archive]:
    return {name: Archive.open(result.archive) for name, result in built.items()}


@pytest.fixture(scope="module")
def trees(archives: dict[str, Archive]) -> dict[str, dict[str, Node]]:
    return {name: archive.tree() for name, archive in archives.items()}


# --- determinism and caching ------------------------------------------------------------------


def test_two_builds_give_identical_archives(built: dict[str, BuildResult],
                                            tmp_path: Path) -> None:
    fresh_cache = DebCache(DEB_CACHE)
    for name, recipe in RECIPES.items():
        again = build_recipe(recipe, tmp_path, fresh_cache, force=True)
        assert again.image_id == built[name].image_id
        assert again.layer_diff_ids == built[name].layer_diff_ids
        assert again.archive.read_bytes() == built[name].archive.read_bytes()


def test_unchanged_inputs_skip_the_build_and_damage_is_repaired(tmp_path: Path) -> None:
    cache = DebCache(DEB_CACHE)
    recipe = RECIPES["busybox"]
    first = build_recipe(recipe, tmp_path, cache)
    original = first.archive.read_bytes()

    second = build_recipe(recipe, tmp_path, cache)
    assert second.skipped
    assert second.image_id == first.image_id

    first.archive.write_bytes(original + b"\0")
    repaired = build_recipe(recipe, tmp_path, cache)
    assert not repaired.skipped
    assert repaired.archive.read_bytes() == original


# --- archive format ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_archive_is_an_oci_layout_with_tag_annotations(archives: dict[str, Archive],
                                                       built: dict[str, BuildResult],
                                                       name: str) -> None:
    archive, recipe = archives[name], RECIPES[name]
    assert json.loads(archive.members["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    (descriptor,) = archive.index["manifests"]
    assert descriptor["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert descriptor["annotations"] == {
        "org.opencontainers.image.ref.name": recipe.tag,
        "io.containerd.image.name": f"docker.io/library/{recipe.name}:{recipe.tag}",
    }
    assert archive.manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert built[name].image_id == archive.manifest["config"]["digest"]
    assert {d["mediaType"] for d in archive.manifest["layers"]} == {
        "application/vnd.oci.image.layer.v1.tar+gzip"
    }
    assert archive.config["architecture"] == HOST_ARCH
    assert archive.config["os"] == "linux"
    diff_ids = ["sha256:" + hashlib.sha256(t).hexdigest() for t in archive.layer_tars()]
    assert archive.config["rootfs"] == {"type": "layers", "diff_ids": diff_ids}


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_layers_are_written_reproducibly(archives: dict[str, Archive], name: str) -> None:
    archive = archives[name]
    for descriptor in archive.manifest["layers"]:
        header = archive.blob(descriptor["digest"])[:10]
        flags, mtime = header[3], int.from_bytes(header[4:8], "little")
        assert mtime == 0 and not flags & 0x08, "gzip header must carry no mtime or name"
    for raw in archive.layer_tars():
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            members = tar.getmembers()
        names = [m.name.rstrip("/") for m in members]
        assert names == sorted(names)
        assert all(m.uname == "" and m.gname == "" for m in members)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_history_has_one_entry_per_layer_plus_metadata_steps(archives: dict[str, Archive],
                                                             name: str) -> None:
    config = archives[name].config
    history = config["history"]
    layered = [h for h in history if not h.get("empty_layer")]
    assert len(layered) == len(config["rootfs"]["diff_ids"])
    assert layered[0]["created_by"] == (
        "/bin/sh -c #(nop) ADD file:"
        + config["rootfs"]["diff_ids"][0].removeprefix("sha256:") + " in / "
    )
    created = [h["created"] for h in history]
    assert created == sorted(created)
    assert config["created"] == created[-1]
    cmd = " ".join(f'"{a}"' for a in config["config"]["Cmd"])
    assert history[-1] == {"created": created[-1], "empty_layer": True,
                           "created_by": f"/bin/sh -c #(nop)  CMD [{cmd}]"}


# --- busybox ----------------------------------------------------------------------------------


def test_busybox_has_every_applet_at_its_path(trees: dict[str, dict[str, Node]],
                                              tmp_path: Path) -> None:
    tree = trees["busybox"]
    binary = tree["bin/busybox"].data
    exe = tmp_path / "busybox"
    exe.write_bytes(binary)
    exe.chmod(0o755)
    listed = subprocess.run([str(exe), "--list-full"], capture_output=True, text=True,
                            check=True).stdout.split()
    applets = [p for p in listed if "/" in p and p != "bin/busybox"]
    assert "bin/sh" in applets and "bin/ls" in applets
    for applet in applets:
        assert tree[applet].info.issym(), applet
        assert resolve(tree, applet) == "bin/busybox"
    assert read_link_info(binary).needed == ()


def test_busybox_filesystem_and_config(trees: dict[str, dict[str, Node]],
                                       archives: dict[str, Archive]) -> None:
    tree = trees["busybox"]
    assert tree["tmp"].info.mode == 0o1777
    for directory in ("root", "var", "home", "usr", "etc", "dev"):
        assert tree[directory].info.isdir()
    users = {line.split(":")[0]: line for line in lines(tree, "etc/passwd")}
    assert users["root"].startswith("root:x:0:0:") and users["root"].endswith(":/bin/sh")
    assert users["nobody"].startswith("nobody:x:65534:65534:")
    groups = {line.split(":")[0] for line in lines(tree, "etc/group")}
    assert {"root", "nogroup", "wheel"} <= groups
    config = archives["busybox"].config["config"]
    assert config == {"Cmd": ["sh"], "Env": [PATH_ENV]}


# --- nginx ------------------------------------------------------------------------------------


def test_nginx_is_the_real_debian_binary(trees: dict[str, dict[str, Node]],
                                         tmp_path: Path) -> None:
    deb = DebCache(DEB_CACHE).get("nginx").path
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path)], check=True)
    shipped = (tmp_path / "usr/sbin/nginx").read_bytes()
    tree = trees["nginx"]
    assert tree[resolve(tree, "usr/sbin/nginx")].data == shipped
    assert tree["usr/sbin/nginx"].info.mode & 0o111


def test_every_library_nginx_loads_is_in_the_image(trees: dict[str, dict[str, Node]]) -> None:
    loaded = loaded_closure(trees["nginx"], "usr/sbin/nginx")
    # The libraries Debian's nginx package depends on, by soname.
    assert {"libc.so.6", "libcrypt.so.1", "libpcre2-8.so.0", "libssl.so.3", "libcrypto.so.3",
            "libz.so.1"} <= set(loaded)
    interpreter = read_link_info(trees["nginx"]["usr/sbin/nginx"].data).interpreter
    assert interpreter is not None and interpreter in loaded


def test_nginx_layout_matches_the_official_image(trees: dict[str, dict[str, Node]]) -> None:
    tree = trees["nginx"]
    assert "nginx:x:101:101:nginx user:/nonexistent:/bin/false" in lines(tree, "etc/passwd")
    assert "nginx:x:101:" in lines(tree, "etc/group")
    assert tree["var/log/nginx/access.log"].info.linkname == "/dev/stdout"
    assert tree["var/log/nginx/error.log"].info.linkname == "/dev/stderr"
    assert tree[resolve(tree, "var/run")].info.isdir()
    assert tree["var/cache/nginx"].info.isdir()
    binary = tree["usr/sbin/nginx"].data
    temp_paths = re.findall(rb"--http-[a-z-]+-temp-path=(/[^\s'\"\0]+)", binary)
    assert len(temp_paths) == 5
    for path in temp_paths:
        node = tree[resolve(tree, path.decode())]
        assert node.info.isdir() and node.info.uid == 101 and node.info.mode == 0o700

    conf = "\n".join(lines(tree, "etc/nginx/nginx.conf"))
    for directive in (r"user\s+nginx;", r"worker_processes\s+auto;",
                      r"error_log\s+/var/log/nginx/error\.log notice;",
                      r"pid\s+/var/run/nginx\.pid;", r"include\s+/etc/nginx/mime\.types;",
                      r"log_format\s+main\s+'\$remote_addr",
                      r"access_log\s+/var/log/nginx/access\.log\s+main;", r"sendfile\s+on;",
                      r"keepalive_timeout\s+65;", r"include /etc/nginx/conf\.d/\*\.conf;"):
        assert re.search(directive, conf), directive
    assert "modules-enabled" not in conf
    default = "\n".join(lines(tree, "etc/nginx/conf.d/default.conf"))
    for directive in (r"listen\s+80;", r"listen\s+\[::\]:80;", r"server_name\s+localhost;",
                      r"root\s+/usr/share/nginx/html;", r"index\s+index\.html index\.htm;",
                      r"error_page\s+500 502 503 504\s+/50x\.html;"):
        assert re.search(directive, default), directive
    assert tree["etc/nginx/mime.types"].info.isfile()
    assert b"<h1>Welcome to nginx!</h1>" in tree["usr/share/nginx/html/index.html"].data
    assert b"An error occurred." in tree["usr/share/nginx/html/50x.html"].data
    assert resolve(tree, "bin/sh") == "usr/bin/busybox"
    assert tree[resolve(tree, "bin/cat")].data == tree["usr/bin/busybox"].data


def test_nginx_config(archives: dict[str, Archive]) -> None:
    config = archives["nginx"].config
    container = config["config"]
    assert container["ExposedPorts"] == {"80/tcp": {}}
    assert container["StopSignal"] == "SIGQUIT"
    assert container["Cmd"] == ["nginx", "-g", "daemon off;"]
    assert "Entrypoint" not in container
    assert container["Env"][0] == PATH_ENV
    assert re.fullmatch(r"NGINX_VERSION=\d+\.\d+\.\d+", container["Env"][1])
    metadata = [h["created_by"] for h in config["history"] if h.get("empty_layer")]
    assert "/bin/sh -c #(nop)  EXPOSE 80" in metadata
    assert "/bin/sh -c #(nop)  STOPSIGNAL SIGQUIT" in metadata
    assert f"/bin/sh -c #(nop)  ENV {container['Env'][1]}" in metadata
    assert len(config["rootfs"]["diff_ids"]) == 3


# --- redis ------------------------------------------------------------------------------------


def test_redis_image(trees: dict[str, dict[str, Node]], archives: dict[str, Archive]) -> None:
    tree = trees["redis"]
    for program in ("usr/bin/redis-server", "usr/bin/redis-cli"):
        loaded = loaded_closure(tree, program)
        assert "libc.so.6" in loaded
    assert any(line.startswith("redis:x:999:999:") for line in lines(tree, "etc/passwd"))
    assert tree["data"].info.uid == 999 and tree["data"].info.isdir()
    conf = lines(tree, "etc/redis/redis.conf")
    assert "bind 0.0.0.0" in conf and "protected-mode no" in conf and "port 6379" in conf
    container = archives["redis"].config["config"]
    assert container["ExposedPorts"] == {"6379/tcp": {}}
    assert container["Cmd"][0] == "redis-server"
    assert container["User"] == "redis"
    assert container["WorkingDir"] == "/data"


def test_nginx_and_redis_share_their_base_layer(archives: dict[str, Archive]) -> None:
    nginx = archives["nginx"].config["rootfs"]["diff_ids"]
    redis = archives["redis"].config["rootfs"]["diff_ids"]
    assert nginx[0] == redis[0]
    assert nginx[1:] != redis[1:]


# --- interop with podman and skopeo ---------------------------------------------------------


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def podman() -> None:
    run("sh", str(FIXTURES / "setup_podman.sh"))


@pytest.fixture
def loaded(podman: None, built: dict[str, BuildResult],
           request: pytest.FixtureRequest) -> Iterator[str]:
    """Load one archive into podman, yield its name, remove it afterwards."""
    recipe = RECIPES[request.param]
    name = f"docker.io/library/{recipe.name}:{recipe.tag}"
    output = run("podman", "load", "-i", str(built[recipe.name].archive)).stdout
    assert f"Loaded image: {name}" in output
    image_id = run("podman", "image", "inspect", "--format", "{{.Id}}", name).stdout.strip()
    assert "sha256:" + image_id == built[recipe.name].image_id
    try:
        yield name
    finally:
        subprocess.run(["podman", "rmi", "--force", name], capture_output=True)


@pytest.fixture
def container(podman: None) -> Iterator[list[str]]:
    started: list[str] = []
    yield started
    for cid in started:
        subprocess.run(["podman", "rm", "--force", "--time", "0", cid], capture_output=True)


def wait_for(check: Callable[[], T], attempts: int = 100) -> T:
    """Poll a readiness check a bounded number of times; return its first truthy result."""
    last: Exception | None = None
    for _ in range(attempts):
        try:
            result = check()
            if result:
                return result
        except (OSError, urllib.error.URLError) as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"service never became ready: {last}")


@pytest.mark.interop
def test_skopeo_and_umoci_read_the_archive(built: dict[str, BuildResult], tmp_path: Path) -> None:
    archive = built["nginx"].archive
    raw = run("skopeo", "inspect", "--raw", f"oci-archive:{archive}").stdout
    assert json.loads(raw)["config"]["digest"] == built["nginx"].image_id
    layout = tmp_path / "layout"
    layout.mkdir()
    with tarfile.open(archive) as tar:
        tar.extractall(layout, filter="data")
    run("umoci", "unpack", "--image", f"{layout}:stable", str(tmp_path / "bundle"))
    rootfs = tmp_path / "bundle" / "rootfs"
    assert (rootfs / "usr/sbin/nginx").is_file()
    assert (rootfs / "var/log/nginx/access.log").readlink() == Path("/dev/stdout")


@pytest.mark.interop
@pytest.mark.parametrize("loaded", ["nginx"], indirect=True)
def test_podman_runs_nginx_and_serves_the_welcome_page(loaded: str,
                                                       container: list[str]) -> None:
    version = run("podman", "run", "--rm", loaded, "nginx", "-v")
    assert re.search(r"nginx version: nginx/\d+\.\d+\.\d+", version.stderr)
    port = free_port()
    container.append(run("podman", "run", "-d", "-p", f"127.0.0.1:{port}:80", loaded)
                     .stdout.strip())

    def fetch() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            assert response.status == 200
            return response.read().decode()

    assert "<title>Welcome to nginx!</title>" in wait_for(fetch)
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/no-such-page", timeout=5)
    assert missing.value.code == 404
    # access.log is a symlink to /dev/stdout, so requests show up in the container log.
    assert wait_for(lambda: '"GET / HTTP/1.1" 200' in run("podman", "logs", container[0]).stdout)


@pytest.mark.interop
@pytest.mark.parametrize("loaded", ["redis"], indirect=True)
def test_podman_runs_redis_and_answers_ping(loaded: str, container: list[str]) -> None:
    port = free_port()
    container.append(run("podman", "run", "-d", "-p", f"127.0.0.1:{port}:6379", loaded)
                     .stdout.strip())

    def ping() -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64)

    assert wait_for(ping) == b"+PONG\r\n"
    assert run("podman", "exec", container[0], "redis-cli", "ping").stdout.strip() == "PONG"
    assert run("podman", "exec", container[0], "id", "-un").stdout.strip() == "redis"
