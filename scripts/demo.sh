#!/usr/bin/env bash
# The tutorial, end to end, against the default store: build an image on top of
# nginx:stable, run it with a published port, fetch the page, stop, clean up.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"

need_packages ca-certificates busybox-static curl
ensure_apt_lists
ensure_venv
# the offline base images (Debian's nginx and busybox), loaded into the default store
python fixtures/build_images.py --load busybox nginx

PORT=${DEMO_PORT:-8080}
work=$(mktemp -d /tmp/docker-nginx-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
printf 'FROM nginx:stable\nEXPOSE 443\n' > Dockerfile

step() { printf '\n$ %s\n' "$*"; "$@"; }

step minidock build -t nginx-test .
step minidock image history nginx-test
step minidock images
step minidock run -d --name nginx-test-demo -p "$PORT:80" nginx-test
for _ in $(seq 50); do
    curl -fs "http://localhost:$PORT/" >/dev/null && break
    sleep 0.1
done
step curl -fsS "http://localhost:$PORT/"
step minidock logs nginx-test-demo
step minidock ps
step minidock stop nginx-test-demo
step minidock rm nginx-test-demo
step minidock ps -a
step minidock rmi nginx-test
