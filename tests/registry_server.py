"""Real registries for tests: Debian's docker-registry, a token server, a faulty proxy.

Shared by every test directory that needs a registry:

    with RegistryServer(tmp_path) as reg:          # anonymous, http://127.0.0.1:PORT
        ...reg.host...
    RegistryServer(tmp, htpasswd=("alice", "s3cret"))   # basic auth
    with TokenServer(tmp, users={"alice": "s3cret"}) as ts:
        RegistryServer(tmp, token_server=ts)        # bearer tokens signed by ts

The registry runs as a child process with a generated config (filesystem storage
in a temp dir) and is stopped by its PID. Tokens are RS256 JWTs signed with a
self-signed key made by `openssl`, so no Python crypto package is needed.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

REGISTRY_BIN = shutil.which("docker-registry") or "/usr/bin/docker-registry"
START_TIMEOUT = 30.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """A bearer-token server: checks users' passwords, issues RS256 JWTs for scopes.

    Anonymous requests get a token with no access (as public registries do for
    private repositories); a wrong password gets 401 with Docker Hub's message.
    """

    issuer = "minidock-test-issuer"
    service = "minidock-test-registry"

    def __init__(self, workdir: Path, users: dict[str, str]):
        self.dir = Path(workdir) / f"token-{secrets.token_hex(3)}"
        self.dir.mkdir(parents=True)
        self.users = dict(users)
        self.key = self.dir / "key.pem"
        self.cert = self.dir / "cert.pem"
        self.requests: list[tuple[str | None, list[str]]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def realm(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    def start(self) -> TokenServer:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", str(self.key), "-out", str(self.cert), "-days", "2",
                        "-subj", "/CN=minidock-test-token-issuer"],
                       check=True, capture_output=True)
        der = subprocess.run(["openssl", "x509", "-in", str(self.cert), "-outform", "DER"],
                             check=True, capture_output=True).stdout
        self._x5c = base64.b64encode(der).decode()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                owner._answer(self)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> TokenServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _answer(self, req: BaseHTTPRequestHandler) -> None:
        query = parse_qs(urlsplit(req.path).query)
        scopes = query.get("scope", [])
        account = None
        header = req.headers.get("Authorization", "")
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if self.users.get(user) != password:
                self.requests.append((user, scopes))
                self._reply(req, 401, {"details": "incorrect username or password"})
                return
            account = user
        self.requests.append((account, scopes))
        access = []
        if account is not None:
            for scope in scopes:
                kind, _, rest = scope.partition(":")
                name, _, actions = rest.rpartition(":")
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": account or "", "aud": self.service,
                  "exp": now + 300, "nbf": now - 10, "iat": now,
                  "jti": secrets.token_hex(8), "access": access}
        self._reply(req, 200, {"token": self.sign(claims), "expires_in": 300})

    def sign(self, claims: dict) -> str:
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        signing_input = (_b64url(json.dumps(header).encode()) + "."
                         + _b64url(json.dumps(claims).encode())).encode()
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)],
                                   input=signing_input, check=True,
                                   capture_output=True).stdout
        return signing_input.decode() + "." + _b64url(signature)

    @staticmethod
    def _reply(req: BaseHTTPRequestHandler, status: int, obj: dict) -> None:
        body = json.dumps(obj).encode()
        req.send_response(status)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)


class RegistryServer:
    """docker-registry on 127.0.0.1 (or `bind`) and a free port, stopped by PID."""

    def __init__(self, workdir: Path, *, htpasswd: tuple[str, str] | None = None,
                 token_server: TokenServer | None = None, bind: str = "127.0.0.1"):
        self.dir = Path(workdir) / f"registry-{secrets.token_hex(3)}"
        self.dir.mkdir(parents=True)
        self.htpasswd = htpasswd
        self.token_server = token_server
        self.bind = bind
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"{self.bind}:{self.port}"

    def _config(self) -> dict:
        config: dict = {
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(self.dir / "data")},
                        "delete": {"enabled": True}},
            "http": {"addr": self.host, "secret": secrets.token_hex(16)},
        }
        if self.htpasswd is not None:
            user, password = self.htpasswd
            line = subprocess.run(["htpasswd", "-Bbn", user, password], check=True,
                                  capture_output=True, text=True).stdout.strip()
            (self.dir / "htpasswd").write_text(line + "\n")
            config["auth"] = {"htpasswd": {"realm": "minidock-test",
                                           "path": str(self.dir / "htpasswd")}}
        elif self.token_server is not None:
            ts = self.token_server
            config["auth"] = {"token": {"realm": ts.realm, "service": ts.service,
                                        "issuer": ts.issuer,
                                        "rootcertbundle": str(ts.cert)}}
        return config

    def start(self) -> RegistryServer:
        last_error = ""
        for _ in range(3):  # a free port can be taken between probing and binding
            self.port = free_port(self.bind)
            cfg = self.dir / "config.yml"
            cfg.write_text(json.dumps(self._config(), indent=2))  # YAML accepts JSON
            log = open(self.dir / "registry.log", "wb")  # noqa: SIM115
            self.proc = subprocess.Popen([REGISTRY_BIN, "serve", str(cfg)], stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            log.close()
            if self._wait_ready():
                return self
            last_error = (self.dir / "registry.log").read_text(errors="replace")[-2000:]
            self.stop()
        raise RuntimeError(f"docker-registry did not start: {last_error}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return False
            try:
                conn = http.client.HTTPConnection(self.bind, self.port, timeout=2)
                conn.request("GET", "/v2/")
                conn.getresponse().read()
                conn.close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> RegistryServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
               "proxy-connection"}


class FaultyProxy:
    """An HTTP proxy in front of a registry that can damage blob replies.

    `corrupt` holds blob digests whose body gets one byte flipped; `cut` holds
    digests whose body stops halfway (the connection is then closed). Every request
    is recorded as (method, path) in `requests`.
    """

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.corrupt: set[str] = set()
        self.cut: set[str] = set()
        self.requests: list[tuple[str, str]] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def host(self) -> str:
        assert self._server is not None
        return f"127.0.0.1:{self._server.server_address[1]}"

    def blob_gets(self) -> list[str]:
        return [path.rsplit("/", 1)[1] for method, path in self.requests
                if method == "GET" and "/blobs/sha256:" in path]

    def start(self) -> FaultyProxy:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                owner._forward(self)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FaultyProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _forward(self, req: BaseHTTPRequestHandler) -> None:
        self.requests.append((req.command, req.path))
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else None
        headers = {k: v for k, v in req.headers.items() if k.lower() not in _HOP_BY_HOP}
        conn = http.client.HTTPConnection(self.upstream, timeout=30)
        try:
            conn.request(req.command, req.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        digest = req.path.rsplit("/", 1)[-1] if "/blobs/sha256:" in req.path else ""
        cut = req.command == "GET" and resp.status == 200 and digest in self.cut
        if req.command == "GET" and resp.status == 200 and digest in self.corrupt and data:
            middle = len(data) // 2
            data = data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1:]
        req.send_response(resp.status, resp.reason)
        for key, value in resp.getheaders():
            if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                req.send_header(key, value)
        declared = resp.getheader("Content-Length")
        if req.command == "HEAD" and declared is not None:
            req.send_header("Content-Length", declared)
        elif req.command != "HEAD":
            req.send_header("Content-Length", str(len(data)))
        if cut:
            req.send_header("Connection", "close")
        req.end_headers()
        if req.command == "HEAD":
            return
        if cut:
            req.wfile.write(data[: len(data) // 2])
            req.wfile.flush()
            req.close_connection = True
            return
        req.wfile.write(data)
