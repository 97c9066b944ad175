"""Published ports: bytes relayed intact both ways, half-close, refusals, IPv6, many at once."""

from __future__ import annotations

import hashlib
import os
import socket
import threading

import pytest
from runtime_helpers import Minidock, free_port, wait_for

ECHO = "echo ready; exec nc -ll -p 7000 -e cat"


@pytest.fixture
def echo(md: Minidock):  # type: ignore[no-untyped-def]
    """A container running an echo server on 7000, published on a free host port."""
    port = free_port()
    md.ok("run", "-d", "--name", "echo", "-p", f"{port}:7000", "busybox", "sh", "-c", ECHO)
    wait_for(lambda: "ready" in md("logs", "echo").out)
    yield port
    md.ok("rm", "-f", "echo")


def _connect(port: int, host: str = "127.0.0.1") -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET

    def attempt() -> socket.socket | None:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect((host, port))
        s.sendall(b"ping\n")
        try:
            if s.recv(5) == b"ping\n":
                return s
        except OSError:
            pass
        s.close()
        return None
    return wait_for(attempt)


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(min(1 << 20, n - len(buf)))
        assert chunk, "connection closed early"
        buf += chunk
    return bytes(buf)


def test_many_round_trips_on_one_connection(echo: int) -> None:
    with _connect(echo) as s:
        for i in range(500):
            msg = f"request {i}\n".encode()
            s.sendall(msg)
            assert _recv_exact(s, len(msg)) == msg


def test_large_transfer_both_ways_is_intact(echo: int) -> None:
    payload = os.urandom(8 << 20)
    with _connect(echo) as s:
        received = bytearray()

        def reader() -> None:
            while len(received) < len(payload):
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                received.extend(chunk)
        t = threading.Thread(target=reader)
        t.start()
        s.sendall(payload)
        t.join(60)
    assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()


def test_half_close_delivers_the_rest_then_closes(echo: int) -> None:
    with _connect(echo) as s:
        s.sendall(b"last words\n")
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    assert data == b"last words\n"


def test_parallel_connections(echo: int) -> None:
    errors: list[str] = []

    def client(n: int) -> None:
        try:
            with _connect(echo) as s:
                for i in range(50):
                    msg = f"{n}:{i}\n".encode()
                    s.sendall(msg)
                    if _recv_exact(s, len(msg)) != msg:
                        errors.append(f"{n}:{i}")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))
    threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []


def test_ipv6_side_reaches_the_same_container(echo: int) -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("this host has no IPv6 loopback")
    with _connect(echo, "::1") as s:
        s.sendall(b"over v6\n")
        assert _recv_exact(s, 8) == b"over v6\n"


def test_nothing_listening_inside_closes_the_client(md: Minidock) -> None:
    port = free_port()
    md.ok("run", "-d", "--name", "idle", "-p", f"127.0.0.1:{port}:9", "busybox", "sleep", "1000")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        assert s.recv(10) == b""  # refused inside: the client sees the connection end
    md.ok("rm", "-f", "idle")


def test_loopback_only_binding_and_random_ports(md: Minidock) -> None:
    md.ok("run", "-d", "--name", "rnd", "-p", "127.0.0.1::7000", "-p", "7001", "busybox",
          "sh", "-c", "nc -ll -p 7000 -e cat & nc -ll -p 7001 -e cat & wait")
    lines = md.ok("port", "rnd").splitlines()
    assert len(lines) in (2, 3)  # 7001 on 0.0.0.0 (and :: when the host has IPv6)
    loopback = [line for line in lines if line.startswith("7000/tcp -> 127.0.0.1:")]
    assert len(loopback) == 1
    port = int(loopback[0].rsplit(":", 1)[1])
    with _connect(port) as s:
        s.sendall(b"x\n")
        assert _recv_exact(s, 2) == b"x\n"
    md.ok("rm", "-f", "rnd")


def test_network_none_and_host(md: Minidock) -> None:
    out = md.ok("run", "--rm", "--network", "none", "busybox", "sh", "-c",
                "ip -o link 2>/dev/null | grep -c ': ' || cat /sys/class/net/lo/operstate")
    assert out.strip() in ("1", "unknown")  # only the loopback
    host_name = os.uname().nodename
    assert md.ok("run", "--rm", "--network", "host", "busybox", "hostname").strip() == host_name
