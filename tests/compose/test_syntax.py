"""Short syntaxes, durations and sizes, parsed as docker compose parses them."""

from __future__ import annotations

import pytest

from minidock.compose.syntax import SyntaxProblem, parse_port, parse_volume
from minidock.compose.units import format_duration, parse_bytes, parse_duration

P = {"mode": "ingress", "protocol": "tcp"}


@pytest.mark.parametrize(("spec", "expected"), [
    ("80", [{**P, "target": 80}]),
    ("8080:80", [{**P, "target": 80, "published": "8080"}]),
    ("127.0.0.1:8080:80", [{**P, "host_ip": "127.0.0.1", "target": 80, "published": "8080"}]),
    ("127.0.0.1::80", [{**P, "host_ip": "127.0.0.1", "target": 80}]),
    ("[::1]:8080:80", [{**P, "host_ip": "::1", "target": 80, "published": "8080"}]),
    ("53:53/udp", [{**P, "protocol": "udp", "target": 53, "published": "53"}]),
    ("3000-3001", [{**P, "target": 3000}, {**P, "target": 3001}]),
    ("9090-9091:8080-8081", [{**P, "target": 8080, "published": "9090"},
                             {**P, "target": 8081, "published": "9091"}]),
    ("5000-5010:5000", [{**P, "target": 5000, "published": "5000-5010"}]),
])
def test_ports(spec: str, expected: list[dict[str, object]]) -> None:
    assert parse_port(spec) == expected


@pytest.mark.parametrize("spec", ["80:abc", "abc", "1:2:3:4", "70000", "90-80", "1-2:3-5",
                                  "80/icmp", "[::1:80:80"])
def test_bad_ports(spec: str) -> None:
    with pytest.raises(SyntaxProblem):
        parse_port(spec)


@pytest.mark.parametrize(("spec", "expected"), [
    ("/data", {"type": "volume", "target": "/data", "volume": {}}),
    ("data:/data", {"type": "volume", "source": "data", "target": "/data", "volume": {}}),
    ("data:/data:nocopy", {"type": "volume", "source": "data", "target": "/data",
                           "volume": {"nocopy": True}}),
    ("./src:/app/:ro", {"type": "bind", "source": "./src", "target": "/app", "read_only": True,
                        "bind": {"create_host_path": True}}),
    ("/etc:/etc:rw,rslave", {"type": "bind", "source": "/etc", "target": "/etc",
                             "bind": {"propagation": "rslave", "create_host_path": True}}),
    ("~/x:/x:z", {"type": "bind", "source": "~/x", "target": "/x",
                  "bind": {"selinux": "z", "create_host_path": True}}),
    ("${SRC:-a}:/a:ro", {"type": "volume", "source": "${SRC:-a}", "target": "/a",
                         "read_only": True, "volume": {}}),
])
def test_volumes(spec: str, expected: dict[str, object]) -> None:
    assert parse_volume(spec) == expected


@pytest.mark.parametrize("spec", ["", "a::b", "a:b:c:d"])
def test_bad_volumes(spec: str) -> None:
    with pytest.raises(SyntaxProblem):
        parse_volume(spec)


@pytest.mark.parametrize(("text", "printed"), [
    ("90s", "1m30s"), ("1m30s", "1m30s"), ("1h", "1h0m0s"), ("500ms", "500ms"),
    ("1.5s", "1.5s"), ("0", "0s"), ("1d", "24h0m0s"), ("1500us", "1.5ms"), ("2h3m4.5s", "2h3m4.5s"),
])
def test_durations(text: str, printed: str) -> None:
    assert format_duration(parse_duration(text)) == printed


@pytest.mark.parametrize("text", ["10", "abc", "5x", ""])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(("text", "size"), [
    ("1024", 1024), (512, 512), ("512m", 536870912), ("1gb", 1073741824), ("1.5k", 1536),
    ("2G", 2147483648), ("100MiB", 104857600), ("-1", -1),
])
def test_sizes(text: object, size: int) -> None:
    assert parse_bytes(text) == size
