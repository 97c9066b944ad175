"""Redis: store and read values through its own protocol, from outside and inside."""

from __future__ import annotations

import socket


class Redis:
    """Just enough of the Redis protocol (RESP) to send commands and read replies."""

    def __init__(self, address):
        self.sock = socket.create_connection(address, timeout=10)
        self.reader = self.sock.makefile("rb")

    def close(self):
        self.reader.close()
        self.sock.close()

    def call(self, *words):
        request = [f"*{len(words)}\r\n".encode()]
        for word in words:
            data = word.encode() if isinstance(word, str) else word
            request.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self.sock.sendall(b"".join(request))
        return self._reply()

    def _reply(self):
        line = self.reader.readline().rstrip(b"\r\n")
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else self.reader.read(size + 2)[:-2]
        if kind == b"*":
            return [self._reply() for _ in range(int(rest))]
        raise RuntimeError(f"unexpected reply {line!r}")


def test_redis_stores_and_reads_a_value(minidock_container, redis_image):
    server = minidock_container(redis_image)  # 6379 (EXPOSEd) on a free host port
    server.wait_for_log("Ready to accept connections")

    client = Redis(server.endpoint(6379))
    try:
        assert client.call("SET", "greeting", "hello, minidock") == "OK"
        assert client.call("GET", "greeting") == b"hello, minidock"
        assert client.call("INCRBY", "visits", "3") == 3
    finally:
        client.close()

    # the image's own client, run inside the container, sees the same data
    assert server.exec(["redis-cli", "GET", "greeting"]) == (0, "hello, minidock\n")


def test_each_test_gets_a_fresh_server(minidock_container, redis_image):
    server = minidock_container(redis_image)
    server.wait_for_port(6379)

    client = Redis(server.endpoint(6379))
    try:
        assert client.call("GET", "greeting") is None
    finally:
        client.close()
