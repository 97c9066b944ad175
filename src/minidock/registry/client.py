"""The OCI distribution API for one repository: manifests, blobs, uploads.

Every request carries the Authorization the registry's challenge asks for; a 401
is answered once (new token or credentials) and the request sent again. Network
failures become one-line `RegistryError`s naming the host, and error replies carry
the registry's own words. The caller checks digests: this layer moves bytes.
"""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Callable
from typing import BinaryIO
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from minidock import mediatypes as mt
from minidock.digest import Digest
from minidock.errors import AuthError, RegistryError
from minidock.registry.auth import Authorizer, parse_challenges
from minidock.registry.config import Credentials
from minidock.registry.endpoint import Endpoint, Scheme
from minidock.registry.responses import ERROR_BODY_LIMIT, error_codes, error_message
from minidock.registry.transport import Body, Response, Transport

MANIFEST_ACCEPT = ", ".join((mt.OCI_INDEX, mt.DOCKER_MANIFEST_LIST, mt.OCI_MANIFEST,
                             mt.DOCKER_MANIFEST))
MANIFEST_LIMIT = 4 << 20  # no image manifest is near this; refusing more bounds memory
_REDIRECTS = (301, 302, 303, 307, 308)
_MAX_REDIRECTS = 5


class ResponseError(RegistryError):
    """The registry answered a request with an error status."""

    def __init__(self, message: str, *, status: int, codes: list[str],
                 hint: str | None = None):
        super().__init__(message, hint=hint)
        self.status = status
        self.codes = codes


class DeniedError(ResponseError, AuthError):
    """401/403: the credentials (or their absence) do not allow the request."""


class UnreachableError(RegistryError):
    """No connection to the registry could be made."""


class ConnectionLostError(RegistryError):
    """The connection broke in the middle of a request or transfer."""


def network_error(exc: BaseException, host: str, *, started: bool) -> RegistryError:
    """A one-line error for a failed connection, with a hint where one helps."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return UnreachableError(
            f"cannot connect to registry {host}: TLS certificate not trusted "
            f"({exc.verify_message or exc.reason})",
            hint=f"if {host} is a test registry, list it in MINIDOCK_INSECURE_REGISTRIES")
    if isinstance(exc, ssl.SSLError) and not started:
        return UnreachableError(
            f"cannot connect to registry {host}: TLS handshake failed ({exc.reason})",
            hint=f"if {host} serves plain HTTP, list it in MINIDOCK_INSECURE_REGISTRIES")
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    if isinstance(exc, TimeoutError):
        reason = "timed out"
    elif isinstance(exc, http.client.IncompleteRead):
        reason = f"connection closed after {len(exc.partial)} bytes of the reply"
    elif isinstance(exc, http.client.RemoteDisconnected):
        reason = "the registry closed the connection"
    if started:
        return ConnectionLostError(f"connection to registry {host} lost: {reason}")
    return UnreachableError(f"cannot connect to registry {host}: {reason}")


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


class RegistryClient:
    """Talks to one repository of one registry with one set of credentials."""

    def __init__(self, endpoint: Endpoint, repository: str, *,
                 credentials: Credentials | None = None, push: bool = False,
                 transport: Transport | None = None):
        self.endpoint = endpoint
        self.repository = repository
        self._owns_transport = transport is None
        self.transport = transport or Transport()
        self.base: str | None = None
        self.scheme: Scheme | None = None
        action = "pull,push" if push else "pull"
        self.scopes = (f"repository:{repository}:{action}",) if repository else ()
        self.auth = Authorizer(self.transport, credentials,
                               verify_tls=all(s.verify_tls for s in endpoint.schemes))
        self.requests = 0

    # ---- connection and auth ---------------------------------------------------
    def connect(self) -> None:
        """Find a scheme that answers `GET /v2/` and learn the registry's challenge."""
        if self.base is not None:
            return
        failure: BaseException | None = None
        for scheme in self.endpoint.schemes:
            base = f"{scheme.name}://{self.endpoint.host}"
            try:
                self.requests += 1
                with self.transport.request("GET", base + "/v2/",
                                            verify_tls=scheme.verify_tls) as resp:
                    body = resp.read(ERROR_BODY_LIMIT)
            except (OSError, http.client.HTTPException) as exc:
                failure = exc
                continue
            if resp.status == 401:
                if not self.auth.learn(parse_challenges(resp.header_all("WWW-Authenticate"))):
                    raise DeniedError(error_message(401, resp.reason, body), status=401,
                                      codes=error_codes(body))
            elif resp.status != 200:
                raise ResponseError(
                    f"{self.endpoint.host} is not an OCI registry: GET /v2/ answered "
                    f"{resp.status} {resp.reason}", status=resp.status, codes=[])
            self.base, self.scheme = base, scheme
            return
        assert failure is not None
        raise network_error(failure, self.endpoint.host, started=False)

    def check_login(self) -> None:
        """Prove the credentials: a token (bearer) or `/v2/` itself (basic) must accept them."""
        self.connect()
        ch = self.auth.challenge
        if ch is None:
            return  # the registry needs no login; Docker reports success as well
        if ch.scheme == "bearer":
            self.auth.token(())
        with self.request("GET", "/v2/", scoped=False) as resp:
            body = resp.read(ERROR_BODY_LIMIT)
            if resp.status != 200:
                raise self.error(resp, body)

    def request(self, method: str, path_or_url: str, *, headers: dict[str, str] | None = None,
                body: Body = None, follow_redirects: bool = False,
                scoped: bool = True) -> Response:
        """Send with authorization; answer one 401 challenge; follow redirects if asked."""
        self.connect()
        assert self.base is not None and self.scheme is not None
        url = path_or_url if "://" in path_or_url else self.base + path_or_url
        scopes = self.scopes if scoped else ()
        resp = self._send(method, url, headers, body, scopes)
        if resp.status == 401:
            challenge_body = resp.read(ERROR_BODY_LIMIT)
            challenges = parse_challenges(resp.header_all("WWW-Authenticate"))
            resp.close()
            self.auth.forget(scopes)
            if not (self.auth.learn(challenges) and self.auth.can_answer()):
                raise DeniedError(error_message(401, resp.reason, challenge_body), status=401,
                                  codes=error_codes(challenge_body))
            resp = self._send(method, url, headers, body, scopes)
        hops = 0
        while follow_redirects and resp.status in _REDIRECTS and resp.header("Location"):
            hops += 1
            if hops > _MAX_REDIRECTS:
                resp.close()
                raise RegistryError(f"too many redirects from {self.endpoint.host}")
            target = urljoin(url, resp.header("Location") or "")
            resp.read(ERROR_BODY_LIMIT)
            resp.close()
            url = target
            resp = self._send(method, url, None, None, scopes)
        return resp

    def _send(self, method: str, url: str, headers: dict[str, str] | None, body: Body,
              scopes: tuple[str, ...]) -> Response:
        all_headers = dict(headers or {})
        same_host = urlsplit(url).netloc == self.endpoint.host
        if same_host:  # never hand credentials to a redirect target
            all_headers.update(self.auth.headers(scopes))
        parts = urlsplit(url)
        verify = self.scheme.verify_tls if same_host and self.scheme else parts.scheme == "https"
        self.requests += 1
        try:
            return self.transport.request(method, url, headers=all_headers, body=body,
                                          verify_tls=verify)
        except (OSError, http.client.HTTPException) as exc:
            raise network_error(exc, parts.netloc, started=True) from None

    def error(self, resp: Response, body: bytes, *, what: str | None = None) -> ResponseError:
        """The exception for an error reply; `what` prefixes the registry's words."""
        message = error_message(resp.status, resp.reason, body)
        if what:
            message = f"{what}: {message}"
        cls = DeniedError if resp.status in (401, 403) else ResponseError
        return cls(message, status=resp.status, codes=error_codes(body))

    # ---- manifests -------------------------------------------------------------
    def get_manifest(self, reference: str) -> tuple[bytes, str | None, str | None]:
        """(bytes exactly as served, Content-Type, Docker-Content-Digest) of a manifest."""
        with self.request("GET", f"/v2/{self.repository}/manifests/{reference}",
                          headers={"Accept": MANIFEST_ACCEPT}, follow_redirects=True) as resp:
            if resp.status != 200:
                raise self.error(resp, resp.read(ERROR_BODY_LIMIT))
            data = self._read_all(resp, MANIFEST_LIMIT)
            if len(data) > MANIFEST_LIMIT:
                raise RegistryError(f"manifest {reference} is larger than {MANIFEST_LIMIT} bytes")
            return data, _media_type(resp.header("Content-Type")), resp.header(
                "Docker-Content-Digest")

    def put_manifest(self, reference: str, data: bytes, media_type: str) -> str | None:
        """Upload a manifest under a tag or digest; returns the registry's digest header."""
        with self.request("PUT", f"/v2/{self.repository}/manifests/{reference}",
                          headers={"Content-Type": media_type,
                                   "Content-Length": str(len(data))}, body=data) as resp:
            body = resp.read(ERROR_BODY_LIMIT)
            if resp.status not in (200, 201):
                raise self.error(resp, body)
            return resp.header("Docker-Content-Digest")

    # ---- blobs -----------------------------------------------------------------
    def blob_exists(self, digest: Digest) -> bool:
        with self.request("HEAD", f"/v2/{self.repository}/blobs/{digest}",
                          follow_redirects=True) as resp:
            if resp.status == 200:
                return True
            if resp.status == 404:
                return False
            raise self.error(resp, b"")

    def open_blob(self, digest: Digest) -> Response:
        """The blob's response, positioned at the body; the caller reads and closes it."""
        resp = self.request("GET", f"/v2/{self.repository}/blobs/{digest}",
                            follow_redirects=True)
        if resp.status != 200:
            with resp:
                raise self.error(resp, resp.read(ERROR_BODY_LIMIT))
        return resp

    def start_upload(self) -> str:
        """POST a new upload session; returns its absolute URL."""
        with self.request("POST", f"/v2/{self.repository}/blobs/uploads/") as resp:
            body = resp.read(ERROR_BODY_LIMIT)
            if resp.status != 202:
                raise self.error(resp, body)
            return self._location(resp)

    def upload_chunk(self, location: str, start: int, length: int,
                     opener: Callable[[], BinaryIO]) -> str:
        """PATCH one chunk at `start`; returns the URL for the next step."""
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(length),
                   "Content-Range": f"{start}-{start + length - 1}"}
        with self.request("PATCH", location, headers=headers, body=opener) as resp:
            body = resp.read(ERROR_BODY_LIMIT)
            if resp.status != 202:
                raise self.error(resp, body)
            return self._location(resp)

    def finish_upload(self, location: str, digest: Digest, length: int = 0,
                      opener: Callable[[], BinaryIO] | None = None) -> None:
        """PUT `?digest=` closing the session, with the whole blob (monolithic) or nothing."""
        headers = {"Content-Length": str(length)}
        if opener is not None:
            headers["Content-Type"] = "application/octet-stream"
        with self.request("PUT", with_query(location, digest=str(digest)), headers=headers,
                          body=opener) as resp:
            body = resp.read(ERROR_BODY_LIMIT)
            if resp.status not in (201, 204):
                raise self.error(resp, body)

    # ---- helpers -----------------------------------------------------------------
    def _location(self, resp: Response) -> str:
        location = resp.header("Location")
        if not location:
            raise RegistryError(f"registry {self.endpoint.host} sent no upload Location")
        return urljoin(resp.url, location)

    def _read_all(self, resp: Response, limit: int) -> bytes:
        try:
            return resp.read(limit)
        except (OSError, http.client.HTTPException) as exc:
            raise network_error(exc, self.endpoint.host, started=True) from None

    def close(self) -> None:
        if self._owns_transport:
            self.transport.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _media_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip() or None
