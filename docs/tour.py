"""Write docs/tour.md: the tutorial's ideas walked with minidock, each followed by
the command that shows it on disk, every output produced here by running it.

    python docs/tour.py           # rewrite docs/tour.md
    python docs/tour.py --check   # exit 1 when docs/tour.md is stale

The test suite runs `--check`, so the tour never drifts from what minidock does.
Builds use SOURCE_DATE_EPOCH, so digests are the same on every run; what still
varies (the store's path, container IDs, dates of files) is shown as a
placeholder.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
SRC = DOCS.parent / "src"
TOUR = DOCS / "tour.md"
APPLETS = ("sh", "ls", "cat", "echo", "rm", "sleep")

DOCKERFILE = """FROM tour-base
WORKDIR /app
COPY app.py .
RUN echo built > /app/stamp
CMD ["cat", "/app/app.py"]
"""


class Session:
    """Runs `minidock` against a store of its own and records commands and outputs."""

    def __init__(self, work: Path):
        self.work = work
        self.root = work / "store"
        self.env = {**os.environ, "MINIDOCK_ROOT": str(self.root), "SOURCE_DATE_EPOCH": "0",
                    "PYTHONPATH": str(SRC), "MINIDOCK_STORAGE_DRIVER": "overlay"}
        self.env.pop("MINIDOCK_DEBUG", None)
        self.parts: list[str] = []

    def text(self, paragraph: str) -> None:
        self.parts.append(paragraph.strip() + "\n")

    def _clean(self, output: str) -> str:
        output = output.replace(str(self.root), "$MINIDOCK_ROOT").replace(str(self.work), ".")
        output = re.sub(r"containers/[0-9a-f]{64}", "containers/<container id>", output)
        return re.sub(r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d", "<date>", output)

    def shell(self, command: str, *, shown: str | None = None, record: bool = True) -> str:
        """Run `command` with `minidock` meaning this checkout's CLI; record it."""
        script = f'minidock() {{ "{sys.executable}" -m minidock "$@"; }}\n{command}'
        done = subprocess.run(["bash", "-c", script], cwd=self.work, env=self.env,
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise SystemExit(f"tour step failed: {command}\n{done.stdout}{done.stderr}")
        out = self._clean(done.stdout)
        if record:
            self.parts.append(f"```\n$ {shown or command}\n{out}```\n")
        return done.stdout


def _base_context(work: Path) -> Path:
    """A context whose one COPY makes a busybox root filesystem."""
    ctx = work / "base"
    rootfs = ctx / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    (rootfs / "etc").mkdir()
    shutil.copyfile(shutil.which("busybox") or "/bin/busybox", rootfs / "bin" / "busybox")
    os.chmod(rootfs / "bin" / "busybox", 0o755)
    for applet in APPLETS:
        os.symlink("busybox", rootfs / "bin" / applet)
    (rootfs / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (ctx / "Dockerfile").write_text('FROM scratch\nCOPY rootfs/ /\nCMD ["sh"]\n')
    return ctx


def tour(work: Path) -> str:
    s = Session(work)
    _base_context(work)
    app = work / "app"
    app.mkdir()
    (app / "Dockerfile").write_text(DOCKERFILE)
    (app / "app.py").write_text("print('hello')\n")
    s.shell("minidock build -q -t tour-base base", record=False)
    s.text("""
# A tour of minidock's store

Each idea of the container tutorial, then the command that shows it on disk.
Every output below was produced by `docs/tour.py` (the test suite re-runs it
and compares), in a store of its own; `$MINIDOCK_ROOT` is that store.
`tour-base` is a one-layer busybox image the script builds first.

## An image is a stack of layers, one per instruction
""")
    s.shell("cat app/Dockerfile", shown="cat Dockerfile")
    s.shell("cd app && minidock build -q -t tour:1 . > /dev/null && minidock image layers tour:1",
            shown="minidock build -q -t tour:1 . && minidock image layers tour:1")
    s.text("""
`WORKDIR`, `COPY` and `RUN` each made a layer; `CMD` only changed the config
(an `empty_layer` history row). Each layer is one blob in the OCI layout,
named by its digest:
""")
    s.shell("minidock image layers tour:1 --no-trunc --format '{{.Digest}}' | tail -1 | "
            "sed 's/sha256://' | xargs -I{} ls -l $MINIDOCK_ROOT/blobs/sha256/{} | "
            "awk '{print $1, $5, $NF}'",
            shown="ls -l $MINIDOCK_ROOT/blobs/sha256/<digest of the last layer>")
    s.text("A tag is an entry of the layout's `index.json` pointing at a manifest:")
    s.shell("python3 -c 'import json,os; idx=json.load(open(os.environ[\"MINIDOCK_ROOT\"]"
            "+\"/index.json\")); print(json.dumps([m for m in idx[\"manifests\"] if "
            "m.get(\"annotations\",{}).get(\"org.opencontainers.image.ref.name\",\"\")"
            ".endswith(\"tour:1\")], indent=2))'",
            shown="jq '.manifests[] | select(.annotations[\"org.opencontainers.image.ref.name\"]"
                  " | endswith(\"tour:1\"))' $MINIDOCK_ROOT/index.json")
    s.text("""
## Each layer is one change to the layer before it
""")
    s.shell("minidock image files tour:1 --layer 2 --changes")
    s.shell("minidock image files tour:1 --layer 3 --changes")
    s.shell("minidock image files tour:1 --tree /app")
    s.text("""
## The cache re-runs only the changed steps and everything after them
""")
    s.shell("cd app && echo \"print('hello again')\" > app.py && "
            "minidock build -q --explain -t tour:2 . | tail -n +2",
            shown="echo \"print('hello again')\" > app.py && minidock build -q --explain "
                  "-t tour:2 .")
    s.text("Each cache entry is a file named by the hash of its key, holding the "
           "manifest digest of the step's image:")
    s.shell("ls $MINIDOCK_ROOT/cache/keys | wc -l && cat $MINIDOCK_ROOT/cache/keys/$(ls "
            "$MINIDOCK_ROOT/cache/keys | head -1); echo")
    s.text("""
## How much of an image is wasted (dive's score)
""")
    s.shell("minidock image analyze tour:2")
    s.text("""
## A container is the image plus one writable layer

With the overlay driver, the image's layers are the lower directories and
the container's own layer is the upper directory: a write lands there, a
deletion is a whiteout (a character device 0/0).
""")
    s.shell("minidock run -d --name tour-c tour:2 sh -c "
                  "'echo hi > /new; rm /bin/ls; sleep 60' > /dev/null; sleep 1; "
                  "minidock inspect --storage --format '{{range .LowerDirs}}{{.Path}} "
                  "{{.CreatedBy}}\n{{end}}' tour-c",
                  shown="minidock run -d --name tour-c tour:2 sh -c "
                        "'echo hi > /new; rm /bin/ls; sleep 60'\n"
                        "$ minidock inspect --storage --format '{{range .LowerDirs}}"
                        "{{.Path}} {{.CreatedBy}}\\n{{end}}' tour-c")
    s.shell("cd $(minidock inspect --storage --format '{{.UpperDir}}' tour-c) && "
            "find . -mindepth 1 | sort | xargs stat -c '%A %F %t,%T %n'",
            shown="cd $(minidock inspect --storage --format '{{.UpperDir}}' tour-c) && "
                  "find . -mindepth 1 | sort | xargs stat -c '%A %F %t,%T %n'")
    s.shell("minidock rm -f tour-c > /dev/null", shown="minidock rm -f tour-c")
    s.text("""
## Volumes keep data outside the container layer
""")
    s.shell("minidock run --rm -v tour-data:/data tour:2 sh -c 'echo kept > /data/file' && "
            "ls $MINIDOCK_ROOT/volumes/tour-data/_data && "
            "cat $MINIDOCK_ROOT/volumes/tour-data/_data/file",
            shown="minidock run --rm -v tour-data:/data tour:2 sh -c 'echo kept > /data/file'"
                  "\n$ ls $MINIDOCK_ROOT/volumes/tour-data/_data && "
                  "cat $MINIDOCK_ROOT/volumes/tour-data/_data/file")
    return "\n".join(s.parts)


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="minidock-tour-") as tmp:
        work = Path(tmp)
        try:
            text = tour(work)
        finally:
            subprocess.run([sys.executable, "-m", "minidock", "rm", "-f", "tour-c"],
                           env={**os.environ, "MINIDOCK_ROOT": str(work / "store"),
                                "PYTHONPATH": str(SRC)}, capture_output=True)
            subprocess.run([sys.executable, "-m", "minidock", "system", "prune", "-a", "-f",
                            "--volumes"], env={**os.environ,
                                              "MINIDOCK_ROOT": str(work / "store"),
                                              "PYTHONPATH": str(SRC)}, capture_output=True)
    if "--check" in argv:
        if not TOUR.exists() or TOUR.read_text() != text:
            sys.stderr.write("docs/tour.md is stale: run python docs/tour.py\n")
            return 1
        return 0
    TOUR.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
