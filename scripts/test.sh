#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine as root: installs what the
# tests use, configures podman, builds the offline base images, runs pytest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"

need_packages ca-certificates busybox-static podman buildah skopeo umoci runc bubblewrap \
    docker-registry uidmap zstd curl apache2-utils openssl passwd iproute2 hyperfine
ensure_apt_lists
ensure_venv
bash fixtures/setup_podman.sh
python fixtures/build_images.py

python -m ruff check src tests fixtures benchmarks
python -m pytest -q -p no:cacheprovider --basetemp "$(mktemp -d)/pytest" "$@"
# the benchmark harness keeps working: its quick mode runs here too
python benchmarks/run.py --quick --out "${TMPDIR:-/tmp}/minidock-bench-quick"
