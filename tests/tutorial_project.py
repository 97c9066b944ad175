"""The tutorial's first project (an upstream config copied into nginx, two volumes),
written the same way for the tests that build it with minidock and with Docker."""

from __future__ import annotations

from pathlib import Path


def write_first_project(project: Path) -> None:
    (project / "conf.d").mkdir(parents=True)
    (project / "conf.d" / "upstream.conf").write_text(
        "upstream backend {\n    server 127.0.0.1:9000;\n}\n")
    (project / "Dockerfile").write_text(
        "FROM nginx:stable\n"
        "COPY ./conf.d/upstream.conf /etc/nginx/conf.d/\n"
        "VOLUME /etc/nginx/conf.d/\n"
        "VOLUME /var/log/nginx/\n")
