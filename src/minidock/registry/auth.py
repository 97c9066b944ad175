"""Registry authentication: the `WWW-Authenticate` challenge flow.

A registry answers 401 with a challenge. `Basic` means: send the stored user and
password with every request. `Bearer realm=...,service=...,scope=...` means: ask
the token server at `realm` for a token covering a scope such as
`repository:demo/nginx:pull,push` (sending the stored credentials there, if any,
else anonymously) and send that token. Tokens are cached per scope until shortly
before they expire, so a pull fetches one token, not one per blob.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from minidock.errors import AuthError, RegistryError
from minidock.registry.config import Credentials
from minidock.registry.responses import ERROR_BODY_LIMIT, error_message
from minidock.registry.transport import Transport

DEFAULT_TOKEN_LIFETIME = 60  # seconds, as the token spec says when expires_in is absent
EXPIRY_MARGIN = 10  # refresh this many seconds early so a token never expires mid-request

_TOKEN_CHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_SCHEME_RE = re.compile(rf"\s*({_TOKEN_CHARS})(?:\s+|$)")
_PARAM_RE = re.compile(rf"\s*({_TOKEN_CHARS})\s*=\s*(\"(?:[^\"\\]|\\.)*\"|[^,\s]*)\s*(?:,|$)")


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lower case: "basic" or "bearer"
    params: dict[str, str] = field(default_factory=dict)


def parse_challenges(values: list[str]) -> list[Challenge]:
    """Parse `WWW-Authenticate` header values (each may hold several challenges)."""
    out: list[Challenge] = []
    for value in values:
        pos = 0
        while pos < len(value):
            m = _SCHEME_RE.match(value, pos)
            if not m:
                break
            scheme = m.group(1).lower()
            pos = m.end()
            params: dict[str, str] = {}
            while pos < len(value):
                p = _PARAM_RE.match(value, pos)
                if not p:
                    break
                raw = p.group(2)
                if raw.startswith('"'):
                    raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
                params[p.group(1).lower()] = raw
                pos = p.end()
            out.append(Challenge(scheme, params))
            while pos < len(value) and value[pos] in ", ":
                pos += 1
    return out


def basic_header(creds: Credentials) -> str:
    token = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
    return f"Basic {token}"


class Authorizer:
    """Decides the Authorization header of each request from the registry's challenge."""

    def __init__(self, transport: Transport, credentials: Credentials | None, *,
                 verify_tls: bool = True, clock: Callable[[], float] = time.monotonic):
        self._transport = transport
        self.credentials = credentials
        self._verify_tls = verify_tls
        self._clock = clock
        self.challenge: Challenge | None = None
        self._tokens: dict[tuple[str, ...], tuple[str, float]] = {}
        self.token_requests = 0  # how many times a token server was asked (for diagnostics)

    def learn(self, challenges: list[Challenge]) -> bool:
        """Adopt the registry's challenge; False when none is one minidock can answer."""
        for wanted in ("bearer", "basic"):
            for ch in challenges:
                if ch.scheme == wanted:
                    self.challenge = ch
                    return True
        return False

    def can_answer(self) -> bool:
        """Whether sending the request again can get past the current challenge."""
        ch = self.challenge
        return ch is not None and (ch.scheme == "bearer" or self.credentials is not None)

    def headers(self, scopes: tuple[str, ...]) -> dict[str, str]:
        """Authorization for a request needing `scopes` (fetches a token when needed)."""
        ch = self.challenge
        if ch is None:
            return {}
        if ch.scheme == "basic":
            if self.credentials is None:
                return {}
            return {"Authorization": basic_header(self.credentials)}
        return {"Authorization": f"Bearer {self.token(scopes)}"}

    def forget(self, scopes: tuple[str, ...]) -> None:
        """Drop a cached token the registry refused."""
        self._tokens.pop(tuple(sorted(set(scopes))), None)

    def token(self, scopes: tuple[str, ...]) -> str:
        """A bearer token covering `scopes`, from the cache or the token server."""
        key = tuple(sorted(set(scopes)))
        cached = self._tokens.get(key)
        now = self._clock()
        if cached is not None and cached[1] > now:
            return cached[0]
        token, lifetime = self._fetch_token(key)
        self._tokens[key] = (token, now + max(lifetime - EXPIRY_MARGIN, 1))
        return token

    def _fetch_token(self, scopes: tuple[str, ...]) -> tuple[str, int]:
        assert self.challenge is not None
        realm = self.challenge.params.get("realm")
        if not realm or urlsplit(realm).scheme not in ("http", "https"):
            raise RegistryError(f"the registry's token realm {realm!r} is not an http(s) URL")
        query: list[tuple[str, str]] = []
        if self.challenge.params.get("service"):
            query.append(("service", self.challenge.params["service"]))
        query.extend(("scope", s) for s in scopes)
        headers = {"Accept": "application/json"}
        if self.credentials is not None:
            query.append(("account", self.credentials.username))
            headers["Authorization"] = basic_header(self.credentials)
        sep = "&" if "?" in realm else "?"
        url = realm + (sep + urlencode(query) if query else "")
        self.token_requests += 1
        with self._transport.request("GET", url, headers=headers,
                                     verify_tls=self._verify_tls) as resp:
            body = resp.read(ERROR_BODY_LIMIT)
            if resp.status in (401, 403):
                raise AuthError(error_message(resp.status, resp.reason, body))
            if resp.status != 200:
                raise RegistryError("token server: "
                                    + error_message(resp.status, resp.reason, body))
        try:
            obj = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise RegistryError("token server sent a reply that is not JSON") from None
        token = (obj.get("token") or obj.get("access_token")) if isinstance(obj, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryError("token server sent no token")
        lifetime = obj.get("expires_in", DEFAULT_TOKEN_LIFETIME)
        if not isinstance(lifetime, int) or isinstance(lifetime, bool) or lifetime <= 0:
            lifetime = DEFAULT_TOKEN_LIFETIME
        return token, lifetime
