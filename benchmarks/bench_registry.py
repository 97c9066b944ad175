"""Push and pull of a 57 MB image: minidock vs `skopeo copy`, side by side.

Starts a local docker-registry, builds a 57 MB image (five gzip layers of random
data) in a scratch minidock store, then alternates, round by round:
  push: `minidock push`       vs `skopeo copy oci:STORE:bench-src:latest docker://...`
  pull: `minidock pull` into an empty store vs `skopeo copy docker://... oci:EMPTY_DIR`
Each round uses a new registry per tool, so every blob moves and nothing is
mounted from another repository; every pull goes to an empty destination; the
tools take turns going first. Both tools run as commands, as a user
runs them. Prints medians and the minidock/skopeo ratio (target: at most 1.5).

    .venv/bin/python benchmarks/bench_registry.py [--rounds N]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from registry_server import RegistryServer  # noqa: E402

from minidock.image import mediatypes as mt  # noqa: E402
from minidock.image.model import Descriptor  # noqa: E402
from minidock.reference import parse  # noqa: E402
from minidock.settings import Settings  # noqa: E402
from minidock.store import Store  # noqa: E402

LAYER_MB = (30, 15, 8, 3, 1)  # 57 MB of incompressible content
TARGET = 1.5


def build_image(store: Store) -> None:
    descs, ids = [], []
    for i, mb in enumerate(LAYER_MB):
        payload = os.urandom(mb * 1_000_000)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(f"data/layer{i}.bin")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
        raw = buf.getvalue()
        ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        blob = gzip.compress(raw, compresslevel=1, mtime=0)
        descs.append(Descriptor(mt.OCI_LAYER_GZIP, store.put_blob(blob), len(blob)))
    config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
              "rootfs": {"type": "layers", "diff_ids": ids}}
    store.add_image(config, descs, tags=[parse("bench-src:latest")])


def run(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    minidock = [sys.executable, "-m", "minidock"]
    skopeo = ["skopeo", "--insecure-policy"]
    with tempfile.TemporaryDirectory(prefix="bench-registry-") as tmp_text:
        tmp = Path(tmp_text)
        src = Settings(root=tmp / "src", config_dir=tmp / "config")
        store = Store(src).ensure()
        build_image(store)
        size = sum(store.blobs.size(d) for d in store.blobs.all())
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("MINIDOCK_")}
        base_env["MINIDOCK_CONFIG"] = str(src.config_dir)
        times: dict[str, list[float]] = {k: [] for k in ("minidock push", "skopeo push",
                                                          "minidock pull", "skopeo pull")}
        print(f"image: {size / 1e6:.1f} MB in {len(LAYER_MB)} layers; {args.rounds} rounds")
        for i in range(args.rounds):
            # a new registry per tool and round: no blob is known there, nothing is mounted
            with RegistryServer(tmp / f"reg{i}") as mreg, RegistryServer(tmp / f"sko{i}") as sreg:
                mini_ref = f"{mreg.host}/bench/image:latest"
                sko_ref = f"{sreg.host}/bench/image:latest"
                env = dict(base_env, MINIDOCK_ROOT=str(src.root))
                store.tag("bench-src:latest", mini_ref)
                pushes = [
                    ("minidock push", [*minidock, "push", "-q", mini_ref]),
                    ("skopeo push", [*skopeo, "copy", "-q", "--dest-tls-verify=false",
                                     f"oci:{src.root}:bench-src:latest", f"docker://{sko_ref}"]),
                ]
                pulls = [
                    ("minidock pull", [*minidock, "pull", "-q", mini_ref]),
                    ("skopeo pull", [*skopeo, "copy", "-q", "--src-tls-verify=false",
                                     f"docker://{sko_ref}", f"oci:{tmp / f'pull-sko{i}'}:latest"]),
                ]
                if i % 2:  # alternate who goes first
                    pushes.reverse()
                    pulls.reverse()
                for key, cmd in pushes:
                    times[key].append(run(cmd, env))
                pull_env = dict(base_env, MINIDOCK_ROOT=str(tmp / f"pull-mini{i}"))
                for key, cmd in pulls:
                    times[key].append(run(cmd, pull_env if key.startswith("minidock") else env))
        medians = {k: statistics.median(v) for k, v in times.items()}
        for key, values in times.items():
            print(f"{key:14s} median {medians[key]:.3f}s  "
                  f"({', '.join(f'{v:.3f}' for v in values)})")
        ok = True
        for op in ("push", "pull"):
            ratio = medians[f"minidock {op}"] / medians[f"skopeo {op}"]
            ok &= ratio <= TARGET
            print(f"{op}: minidock/skopeo = {ratio:.2f}x (target <= {TARGET}x) "
                  f"{'ok' if ratio <= TARGET else 'SLOWER THAN TARGET'}")
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
