"""Helpers for builder tests: tiny base images made on the spot, builds, file trees.

The base image is the host's static busybox in one layer (with /bin/sh and a
few applet links, /etc/passwd and /etc/group), written with the layer writer
and added with `Store.add_image`, so no fixture archive or network is needed.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from minidock.builder import BuildOptions, build_image
from minidock.builder import events as ev
from minidock.builder.context import BuildContext, IgnoreRules
from minidock.builder.imageconfig import scratch_config
from minidock.builder.imagefs import ImageFS
from minidock.layer.entry import Entry, EntryKind
from minidock.layer.writer import LayerBuilder
from minidock.oci.model import Descriptor
from minidock.reference import parse
from minidock.store.store import Image, Store

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
APPLETS = ("sh", "ls", "cat", "echo", "rm", "mkdir", "true", "false", "id", "touch", "stat",
           "chmod", "chown", "ln", "find", "sleep", "env", "test", "printf")
PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n" \
         b"app:x:1000:1000:app:/home/app:/bin/sh\n"
GROUP = b"root:x:0:\nnogroup:x:65534:\napp:x:1000:\nstaff:x:50:app\n"


def _entries(files: dict[str, bytes | str]) -> list[Entry]:
    out = []
    for path, content in files.items():
        if isinstance(content, str):
            out.append(Entry(path, EntryKind.SYMLINK, 0o777, linkname=content, mtime=1))
        else:
            out.append(Entry(path, EntryKind.FILE, 0o755 if path.startswith("bin/") else 0o644,
                             size=len(content), source=content, mtime=1))
    return out


def add_image(store: Store, files: dict[str, bytes | str], *, tag: str | None = None,
              config: dict | None = None, dirs: tuple[str, ...] = (),
              compression: str = "zstd") -> Image:
    """One-layer image of `files` (bytes: a file; str: a symlink target)."""
    builder = LayerBuilder(source_date_epoch=1)
    for d in dirs:
        builder.add_dir(d, mode=0o1777 if d == "tmp" else 0o755, mtime=1)
    for entry in _entries(files):
        builder.add(entry)
    with store.writing(), store.blob_writer() as sink:
        info = builder.write(sink, compression)
        sink.commit()
    cfg = scratch_config()
    cfg["created"] = "2020-01-01T00:00:00Z"
    cfg["config"] = config or {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:"
                                       "/usr/bin:/sbin:/bin"], "Cmd": ["sh"]}
    cfg["rootfs"]["diff_ids"] = [str(info.diff_id)]
    cfg["history"] = [{"created": "2020-01-01T00:00:00Z",
                       "created_by": "/bin/sh -c #(nop) ADD file:busybox in / "}]
    layer = Descriptor(info.media_type, info.digest, info.size)
    return store.add_image(cfg, [layer], tags=[parse(tag)] if tag else [])


BUSYBOX_DIRS = ("bin", "etc", "tmp", "root", "home", "home/app", "var", "var/log")


def busybox_files() -> dict[str, bytes | str]:
    with open(BUSYBOX, "rb") as f:
        binary = f.read()
    files: dict[str, bytes | str] = {"bin/busybox": binary, "etc/passwd": PASSWD,
                                     "etc/group": GROUP}
    for applet in APPLETS:
        files[f"bin/{applet}"] = "busybox"
    return files



class Recorder:
    def __init__(self) -> None:
        self.events: list[object] = []

    def __call__(self, event: object) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list:  # type: ignore[type-arg]
        return [e for e in self.events if isinstance(e, kind)]

    def lines(self) -> list[str]:
        out = []
        for e in self.events:
            if isinstance(e, ev.StepStarted):
                out.append(f"Step {e.number}/{e.total} : {e.text}")
            elif isinstance(e, ev.CacheHit):
                out.append("Using cache")
            elif isinstance(e, ev.StepDone):
                out.append("done")
        return out


def build(store: Store, ctx: Path, dockerfile: str, **kw: object) -> tuple[Image, Recorder]:
    rec = Recorder()
    ignore = None
    if (ctx / ".dockerignore").exists():
        ignore = IgnoreRules.from_text((ctx / ".dockerignore").read_bytes())
    context = BuildContext.from_directory(ctx, ignore)
    result = build_image(store, context, dockerfile.encode(), BuildOptions(**kw),  # type: ignore[arg-type]
                         progress=rec)
    return result.image, rec


def files_of(store: Store, image: Image) -> dict[str, tuple]:  # type: ignore[type-arg]
    """The merged file tree of an image: path -> (type, mode, uid, gid, content|target)."""
    fs = ImageFS([store.extracted_layer(image, i) for i in range(len(image.layers))])
    out: dict[str, tuple] = {}  # type: ignore[type-arg]

    def walk(path: str) -> None:
        for name in fs.listdir(path):
            child = f"{path.rstrip('/')}/{name}"
            host, st = fs.lstat(child)  # type: ignore[misc]
            s = stat
            if s.S_ISDIR(st.st_mode):
                out[child] = ("d", oct(s.S_IMODE(st.st_mode)), st.st_uid, st.st_gid, None)
                walk(child)
            elif s.S_ISLNK(st.st_mode):
                out[child] = ("l", None, st.st_uid, st.st_gid, os.readlink(host))
            else:
                out[child] = ("f", oct(s.S_IMODE(st.st_mode)), st.st_uid, st.st_gid,
                              Path(host).read_bytes())
    walk("/")
    return out
