#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine as root: installs what the
# tests use, configures podman, builds the offline base images, checks types and
# the import rule, runs pytest, then the benchmark harness's quick mode. All
# temporary files go under one directory that is removed at the end.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"

need_packages ca-certificates busybox-static podman buildah skopeo umoci runc bubblewrap \
    netavark aardvark-dns docker-registry uidmap zstd curl apache2-utils openssl passwd \
    iproute2 hyperfine docker.io
ensure_apt_lists
ensure_venv
bash fixtures/setup_podman.sh
python fixtures/build_images.py

scratch=$(mktemp -d "${TMPDIR:-/tmp}/minidock-test.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

python -m ruff check src tests fixtures benchmarks examples
python -m mypy
# -rs: the reason of every skip in the summary; the 15 slowest tests at the end
python -m pytest -q -rs --durations=15 -p no:cacheprovider --basetemp "$scratch/pytest" "$@"
# the benchmark harness keeps working: its quick mode runs here too
python benchmarks/run.py --quick --out "$scratch/bench-quick"
