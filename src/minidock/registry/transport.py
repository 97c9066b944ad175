"""HTTP(S) over `http.client`, one kept-alive connection per host, big buffers.

A pull or push is many requests to one host; reusing the connection saves a
handshake per blob and 1 MiB send/receive blocks keep the per-call overhead of
Python out of the transfer. A response must be read to its end before the
connection is used again; closing it early drops the connection instead.
"""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Callable
from typing import BinaryIO
from urllib.parse import urlsplit

from minidock.version import __version__

BLOCK = 1 << 20
DEFAULT_TIMEOUT = 60.0
USER_AGENT = f"minidock/{__version__}"

# what a request body may be: nothing, bytes, or a callable that opens a fresh stream
# (so the request can be sent again on a new connection when a kept-alive one went stale)
Body = bytes | Callable[[], BinaryIO] | None

_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
          ConnectionAbortedError)


class Response:
    """A response whose body is streamed; close it (or read it all) before the next request."""

    def __init__(self, raw: http.client.HTTPResponse, conn: http.client.HTTPConnection,
                 url: str):
        self._raw = raw
        self._conn = conn
        self.url = url
        self.status = raw.status
        self.reason = raw.reason
        self.headers = raw.headers

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def header_all(self, name: str) -> list[str]:
        return self.headers.get_all(name) or []

    @property
    def length(self) -> int | None:
        value = self.headers.get("Content-Length")
        try:
            return int(value) if value is not None else None
        except ValueError:
            return None

    def readinto(self, buf: memoryview | bytearray) -> int:
        return self._raw.readinto(buf)

    def read(self, limit: int | None = None) -> bytes:
        """The whole body; with `limit`, stop and return at most limit+1 bytes."""
        if limit is None:
            return self._raw.read()
        data = self._raw.read(limit + 1)
        if len(data) > limit:
            self._conn.close()  # the rest is not wanted: drop the connection
        return data

    def close(self) -> None:
        if self._raw.isclosed():
            return
        consumed = self._raw.length == 0 and not self._raw.chunked  # e.g. a HEAD reply
        self._raw.close()
        if not consumed:
            # unread body left on the socket would corrupt the next response
            self._conn.close()

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Transport:
    """Keeps one open connection per (scheme, host, certificate check) and reuses it."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT):
        self.timeout = timeout
        self._conns: dict[tuple[str, str, bool], http.client.HTTPConnection] = {}

    def _connection(self, scheme: str, netloc: str, verify: bool) -> http.client.HTTPConnection:
        key = (scheme, netloc, verify)
        conn = self._conns.get(key)
        if conn is None:
            if scheme == "https":
                ctx = ssl.create_default_context()
                if not verify:
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                conn = http.client.HTTPSConnection(netloc, timeout=self.timeout, context=ctx,
                                                   blocksize=BLOCK)
            elif scheme == "http":
                conn = http.client.HTTPConnection(netloc, timeout=self.timeout, blocksize=BLOCK)
            else:
                raise ValueError(f"unsupported URL scheme {scheme!r}")
            self._conns[key] = conn
        return conn

    def request(self, method: str, url: str, *, headers: dict[str, str] | None = None,
                body: Body = None, verify_tls: bool = True) -> Response:
        """Send one request; a kept-alive connection the server closed is reopened once."""
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        all_headers = {"User-Agent": USER_AGENT, **(headers or {})}
        if body is None and method in ("POST", "PUT", "PATCH"):
            all_headers.setdefault("Content-Length", "0")
        conn = self._connection(parts.scheme, parts.netloc, verify_tls)
        for attempt in (1, 2):
            reused = conn.sock is not None
            payload = body() if callable(body) else body
            try:
                conn.request(method, target, body=payload, headers=all_headers)
                raw = conn.getresponse()
            except _STALE:
                conn.close()
                if reused and attempt == 1:
                    continue
                raise
            except BaseException:
                conn.close()
                raise
            finally:
                if payload is not None and not isinstance(payload, bytes):
                    payload.close()
            return Response(raw, conn, url)
        raise AssertionError("unreachable")

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
