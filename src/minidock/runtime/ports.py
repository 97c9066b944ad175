"""Published ports: listen on the host, forward each connection into the container.

The supervisor (host network namespace) accepts; the sandbox helper, which
lives in the container's network namespace, hands over fresh unconnected TCP
sockets (SCM_RIGHTS). A socket belongs to the namespace it was created in, so
connecting it from the supervisor reaches the container's loopback with no
setns per connection. A few sockets are kept ready so a new connection costs
no round trip. Bytes are relayed by the supervisor's epoll loop with
TCP_NODELAY on both sides (small keep-alive requests would otherwise wait on
Nagle's algorithm).
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable

from minidock.errors import RuntimeError_
from minidock.runtime.options import PortBinding
from minidock.runtime.reactor import ERR, IN, OUT, Reactor
from minidock.runtime.record import Record

POOL_SIZE = 4
CHUNK = 64 * 1024  # below glibc's mmap threshold: larger recv buffers cost an mmap each


class Listener(Record):
    __slots__ = ("sock", "host_ip", "host_port", "container_port")

    def __init__(self, sock: socket.socket, host_ip: str, host_port: int, container_port: int):
        self.sock = sock
        self.host_ip = host_ip
        self.host_port = host_port
        self.container_port = container_port

    @property
    def display(self) -> str:
        """`0.0.0.0:8080->80/tcp`, `:::8080->80/tcp` as `ps` shows them."""
        return f"{format_host(self.host_ip)}:{self.host_port}->{self.container_port}/tcp"


def format_host(ip: str) -> str:
    return "::" if ip == "::" else (f"[{ip}]" if ":" in ip else ip)


def _ipv6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def _listen(ip: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((ip, port))
        s.listen(256)
        s.setblocking(False)
    except BaseException:
        s.close()
        raise
    return s


def bind_ports(bindings: list[PortBinding]) -> list[Listener]:
    """Open the host side of every binding: all addresses means 0.0.0.0 and ::
    (the same port on both). Raises RuntimeError_ (exit 125) when a port is taken."""
    listeners: list[Listener] = []
    v6 = None
    try:
        for b in bindings:
            if b.host_ip:
                addresses = [b.host_ip]
            else:
                if v6 is None:
                    v6 = _ipv6_available()
                addresses = ["0.0.0.0", "::"] if v6 else ["0.0.0.0"]
            listeners.extend(_bind_one(addresses, b))
    except BaseException:
        for item in listeners:
            item.sock.close()
        raise
    return listeners


def _bind_one(addresses: list[str], b: PortBinding) -> list[Listener]:
    attempts = 20 if b.host_port == 0 else 1
    for attempt in range(attempts):
        got: list[Listener] = []
        port = b.host_port
        try:
            for ip in addresses:
                s = _listen(ip, port)
                port = s.getsockname()[1]
                got.append(Listener(s, ip, port, b.container_port))
            return got
        except OSError as exc:
            for item in got:
                item.sock.close()
            if exc.errno == errno.EADDRINUSE and attempt + 1 < attempts:
                continue
            if exc.errno == errno.EADDRINUSE:
                raise RuntimeError_(f"Bind for {format_host(ip)}:{port} failed: port is "
                                    "already allocated") from None
            raise RuntimeError_(f"cannot listen on {format_host(ip)}:{port}: "
                                f"{exc.strerror}") from None
    raise AssertionError("unreachable")


class _Pipe:
    """One direction of a relayed connection."""

    __slots__ = ("src", "dst", "pending", "eof")

    def __init__(self, src: socket.socket, dst: socket.socket):
        self.src = src
        self.dst = dst
        self.pending = b""
        self.eof = False


class Forwarder:
    """Relays connections accepted on the listeners to the container's ports."""

    def __init__(self, reactor: Reactor, listeners: list[Listener],
                 new_socket: Callable[[], socket.socket],
                 request_socket: Callable[[], None] | None = None,
                 ctrl_fd: int | None = None,
                 receive_socket: Callable[[], socket.socket | None] | None = None):
        self._reactor = reactor
        self._listeners = listeners
        self._new_socket = new_socket
        self._request = request_socket
        self._receive = receive_socket
        self._ctrl_fd = ctrl_fd
        self._pool: list[socket.socket] = []
        self._requested = 0
        self._conns: dict[int, tuple[_Pipe, _Pipe]] = {}
        for item in listeners:
            reactor.add(item.sock.fileno(), IN, self._acceptor(item))
        if request_socket and receive_socket and ctrl_fd is not None and listeners:
            reactor.add(ctrl_fd, IN, self._on_ctrl)
            self._refill()

    # -- the socket pool -------------------------------------------------------
    # A short-lived command may end before (or while) the pool is filled: the
    # helper's end of the control socket is then closed, and asking it for a
    # socket fails (EPIPE, ECONNRESET). That is the container ending, not an
    # error of the supervisor, which must go on to collect its output and code.
    def _refill(self) -> None:
        while self._request is not None and len(self._pool) + self._requested < POOL_SIZE:
            try:
                self._request()
            except OSError:
                self._helper_gone()
                return
            self._requested += 1

    def _received(self) -> socket.socket | None:
        """The next socket the helper sent; None once it is gone."""
        if self._receive is None:
            return None
        try:
            sock = self._receive()
        except OSError:
            sock = None
        self._requested -= 1
        if sock is None:
            self._helper_gone()
        return sock

    def _helper_gone(self) -> None:
        if self._ctrl_fd is not None and self._ctrl_fd in self._reactor:
            self._reactor.remove(self._ctrl_fd)
        self._request = self._receive = None
        self._requested = 0

    def _on_ctrl(self, _ev: int) -> None:
        sock = self._received()
        if sock is not None:
            self._pool.append(sock)

    def _take_socket(self) -> socket.socket:
        if self._pool:
            sock = self._pool.pop()
            self._refill()
            return sock
        if self._requested:
            incoming = self._received()  # one is on its way already
            if incoming is not None:
                self._refill()
                return incoming
        return self._new_socket()

    # -- connections -------------------------------------------------------------
    def _acceptor(self, item: Listener) -> Callable[[int], None]:
        def accept(_ev: int) -> None:
            while True:
                try:
                    client, _addr = item.sock.accept()
                except (BlockingIOError, InterruptedError):
                    return
                except OSError:
                    return
                self._connect(client, item.container_port)
        return accept

    def _connect(self, client: socket.socket, port: int) -> None:
        try:
            upstream = self._take_socket()
        except (OSError, RuntimeError_):  # the container's network is gone
            client.close()
            return
        for s in (client, upstream):
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rc = upstream.connect_ex(("127.0.0.1", port))
        if rc not in (0, errno.EINPROGRESS):
            client.close()
            upstream.close()
            return
        up = _Pipe(client, upstream)
        down = _Pipe(upstream, client)
        self._conns[client.fileno()] = (up, down)
        self._conns[upstream.fileno()] = (down, up)
        if rc == 0:
            self._start(client, upstream)
        else:
            self._reactor.add(upstream.fileno(), OUT, self._connected(client, upstream))

    def _connected(self, client: socket.socket, upstream: socket.socket) -> Callable[[int], None]:
        def done(_ev: int) -> None:
            self._reactor.remove(upstream.fileno())
            if upstream.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                self._close(client.fileno())  # refused: close the client, as docker-proxy does
                return
            self._start(client, upstream)
        return done

    def _start(self, client: socket.socket, upstream: socket.socket) -> None:
        for s in (client, upstream):
            self._reactor.add(s.fileno(), IN, self._event_for(s.fileno()))

    def _event_for(self, fd: int) -> Callable[[int], None]:
        def handle(ev: int) -> None:
            pair = self._conns.get(fd)
            if pair is None:
                return
            reading, writing_back = pair  # reading: fd -> peer; writing_back: peer -> fd
            if ev & OUT and not self._flush(writing_back):
                return
            if ev & (IN | ERR):
                if not reading.pending and not reading.eof:
                    self._pump(reading)
                elif ev & ERR:
                    self._close(fd)  # hung up with nothing more to read: done
        return handle

    def _pump(self, pipe: _Pipe) -> None:
        try:
            data = pipe.src.recv(CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(pipe.src.fileno())
            return
        if not data:
            pipe.eof = True
            try:
                pipe.dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            self._update(pipe)
            return
        try:
            sent = pipe.dst.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._close(pipe.src.fileno())
            return
        if sent < len(data):
            pipe.pending = data[sent:]
        self._update(pipe)

    def _flush(self, pipe: _Pipe) -> bool:
        """Send what `pipe` holds; False if the connection was closed."""
        if not pipe.pending:
            self._update(pipe)
            return True
        try:
            sent = pipe.dst.send(pipe.pending)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            self._close(pipe.src.fileno())
            return False
        pipe.pending = pipe.pending[sent:]
        self._update(pipe)
        return True

    def _update(self, pipe: _Pipe) -> None:
        """Recompute interest: read src unless data waits; write dst while it waits."""
        src, dst = pipe.src.fileno(), pipe.dst.fileno()
        pair = self._conns.get(src)
        if pair is None:
            return
        other = pair[1]  # dst -> src
        if pipe.eof and other.eof and not pipe.pending and not other.pending:
            self._close(src)
            return
        if src in self._reactor:
            self._reactor.modify(src, (0 if pipe.pending or pipe.eof else IN)
                                 | (OUT if other.pending else 0))
        if dst in self._reactor:
            self._reactor.modify(dst, (0 if other.pending or other.eof else IN)
                                 | (OUT if pipe.pending else 0))

    def _close(self, fd: int) -> None:
        pair = self._conns.pop(fd, None)
        if pair is None:
            return
        for s in (pair[0].src, pair[0].dst):
            self._conns.pop(s.fileno(), None)
            self._reactor.remove(s.fileno())
            s.close()

    def close(self) -> None:
        for fd in list(self._conns):
            self._close(fd)
        for item in self._listeners:
            self._reactor.remove(item.sock.fileno())
            item.sock.close()
        for sock in self._pool:
            sock.close()
        self._pool.clear()
