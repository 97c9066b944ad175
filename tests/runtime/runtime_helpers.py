"""Helpers for the runtime tests: real namespaces, real overlayfs, no mocks.

The busybox image is made on the spot from the host's static busybox (every
applet as a symlink, like the official image) so no fixture archive or network
is needed; the nginx tests load the fixture archive built by
`fixtures/build_images.py`. `minidock` runs as a separate process, as a user
would run it, through `python -m minidock`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from minidock.layer.entry import Entry, EntryKind
from minidock.layer.writer import LayerBuilder
from minidock.oci.model import Descriptor
from minidock.reference import parse
from minidock.settings import Settings
from minidock.store.store import Image, Store

REPO = Path(__file__).resolve().parents[2]
BUSYBOX = shutil.which("busybox") or "/bin/busybox"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PASSWD = (b"root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
          b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
          b"app:x:1000:1000:app:/home/app:/bin/sh\n")
GROUP = (b"root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\napp:x:1000:\nstaff:x:50:app\n"
         b"audio:x:29:app,nobody\n")
INDEX_HTML = b"<h1>hello from busybox httpd</h1>\n"
DRIVERS = ("overlay", "copy")

ENTRY = "from minidock.cli.main import main\nmain()\n"


def applets() -> list[str]:
    out = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True)
    return sorted(a for a in out.stdout.split() if a and a != "busybox")


def busybox_layer_dir(directory: Path) -> Path:
    """A plain busybox rootfs directory (for sandbox tests that need no store)."""
    for d in ("bin", "etc", "tmp", "root", "home/app", "var/www"):
        (directory / d).mkdir(parents=True, exist_ok=True)
    os.chmod(directory / "tmp", 0o1777)
    shutil.copy2(BUSYBOX, directory / "bin" / "busybox")
    for applet in applets():
        os.symlink("busybox", directory / "bin" / applet)
    (directory / "etc" / "passwd").write_bytes(PASSWD)
    (directory / "etc" / "group").write_bytes(GROUP)
    (directory / "var" / "www" / "index.html").write_bytes(INDEX_HTML)
    return directory


def add_busybox_image(store: Store, tag: str, *, config: dict | None = None,
                      extra: dict[str, bytes] | None = None) -> Image:
    """The host's busybox as a one-layer image (plus `extra` files)."""
    builder = LayerBuilder(source_date_epoch=1_700_000_000)
    for d in ("bin", "etc", "root", "home", "home/app", "var", "var/www", "data"):
        builder.add_dir(d, mode=0o755, mtime=1_700_000_000)
    builder.add_dir("tmp", mode=0o1777, mtime=1_700_000_000)
    with open(BUSYBOX, "rb") as f:
        binary = f.read()
    files = {"bin/busybox": binary, "etc/passwd": PASSWD, "etc/group": GROUP,
             "var/www/index.html": INDEX_HTML, "data/seed": b"from the image\n",
             **(extra or {})}
    for path, content in files.items():
        builder.add(Entry(path, EntryKind.FILE, 0o755 if path.startswith("bin/") else 0o644,
                          size=len(content), source=content, mtime=1_700_000_000))
    for applet in applets():
        builder.add(Entry(f"bin/{applet}", EntryKind.SYMLINK, 0o777, linkname="busybox",
                          mtime=1_700_000_000))
    with store.writing(), store.blob_writer() as sink:
        info = builder.write(sink, "zstd")
        sink.commit()
    inner = {"Env": [PATH_ENV], "Cmd": ["sh"], **(config or {})}
    cfg = {"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
           "config": inner, "rootfs": {"type": "layers", "diff_ids": [str(info.diff_id)]},
           "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "ADD busybox /"}]}
    layer = Descriptor(info.media_type, info.digest, info.size)
    return store.add_image(cfg, [layer], tags=[parse(tag)])


@dataclass
class Result:
    code: int
    out: str
    err: str


class Minidock:
    """Runs `minidock` as a process against one store with one storage driver."""

    def __init__(self, root: Path, driver: str):
        self.root = root
        self.driver = driver
        pythonpath = os.pathsep.join(p for p in (str(REPO / "src"),
                                                 os.environ.get("PYTHONPATH")) if p)
        self.env = {**os.environ, "MINIDOCK_ROOT": str(root), "MINIDOCK_STORAGE_DRIVER": driver,
                    "PYTHONPATH": pythonpath}
        self.env.pop("MINIDOCK_DEBUG", None)

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-c", ENTRY, *args]

    def __call__(self, *args: str, input: bytes | None = None, timeout: float = 60) -> Result:
        done = subprocess.run(self.argv(*args), env=self.env, input=input,
                              capture_output=True, timeout=timeout)
        return Result(done.returncode, done.stdout.decode(errors="replace"),
                      done.stderr.decode(errors="replace"))

    def ok(self, *args: str, input: bytes | None = None) -> str:
        result = self(*args, input=input)
        assert result.code == 0, f"minidock {' '.join(args)}: {result.code}\n{result.err}"
        return result.out

    def popen(self, *args: str, **kwargs: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.argv(*args), env=self.env, **kwargs)  # type: ignore[arg-type]

    def settings(self) -> Settings:
        return Settings.from_env({"MINIDOCK_STORAGE_DRIVER": self.driver}, root=self.root)


def container_ids(root: Path) -> list[str]:
    try:
        return [n for n in os.listdir(root / "containers") if len(n) == 64]
    except FileNotFoundError:
        return []


def mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if str(path) in line]


def processes_using(path: Path) -> list[int]:
    """PIDs of processes that belong to a container under `path`: their command
    line names it, or their root mount (overlay upper dir or copied rootfs) is there."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read()
            with open(f"/proc/{entry}/mountinfo") as f:
                root_mount = f.readline()
        except OSError:
            continue
        if str(path).encode() in cmd or str(path) in root_mount:
            found.append(int(entry))
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], object], timeout: float = 10.0, interval: float = 0.02):
    """Poll `condition` until it returns something truthy (or fail after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def http_get(port: int, path: str = "/", host: str = "127.0.0.1") -> bytes | None:
    """One HTTP/1.0 GET; None when nothing answers (yet)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect((host, port))
            s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
            chunks = []
            while data := s.recv(65536):
                chunks.append(data)
        return b"".join(chunks) or None
    except OSError:
        return None
