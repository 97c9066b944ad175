"""nginx serving pages: from a directory mounted into it, and from a built image."""

from __future__ import annotations

import urllib.request


def fetch(container, path="/"):
    with urllib.request.urlopen(f"http://127.0.0.1:{container.host_port(80)}{path}",
                                timeout=10) as response:
        return response.status, response.read().decode()


def test_nginx_serves_a_mounted_directory(minidock_container, nginx_image, tmp_path):
    site = tmp_path / "site"
    site.mkdir(mode=0o755)
    (site / "index.html").write_text("<h1>Hello from a mounted directory</h1>\n")
    (site / "index.html").chmod(0o644)

    web = minidock_container(nginx_image, ports={80: None},
                             volumes={site: {"bind": "/usr/share/nginx/html", "mode": "ro"}})
    web.wait_for_http("/")

    assert fetch(web) == (200, "<h1>Hello from a mounted directory</h1>\n")
    # the mount is live: a file written now is served at once
    (site / "news.html").write_text("fresh\n")
    (site / "news.html").chmod(0o644)
    assert fetch(web, "/news.html") == (200, "fresh\n")


def test_nginx_serves_the_page_of_a_built_image(minidock_container, site_image):
    web = minidock_container(site_image)  # publishes the EXPOSEd port 80 on a free host port
    web.wait_for_http("/")

    status, body = fetch(web)
    assert status == 200
    assert "copied into the image by a Dockerfile" in body
