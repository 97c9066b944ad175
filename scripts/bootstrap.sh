#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine (as root): the Debian packages
# minidock's demo and tests use, a virtualenv with minidock installed, podman's
# host settings and the offline base images. Sourced by demo.sh and test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need_packages() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "bootstrap: installing ${missing[*]}" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
}

ensure_apt_lists() {
    # `apt-get download` (used by the fixture scripts) needs package lists
    if ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then
        apt-get update -qq
    fi
}

ensure_venv() {
    if [ ! -x .venv/bin/python ]; then
        python3 -m venv .venv
    fi
    local stamp=.venv/.minidock-installed
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        .venv/bin/pip install -q --disable-pip-version-check -e ".[test]"
        touch "$stamp"
    fi
    export PATH="$PWD/.venv/bin:$PATH"
}
