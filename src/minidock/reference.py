"""Image references: `[registry/]name[:tag][@digest]`, normalised as Docker does.

`nginx` means `docker.io/library/nginx:latest`; the familiar form shown to users
drops `docker.io/` and `library/` again. A first component with a `.` or `:` or
equal to `localhost` is a registry host.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from minidock.errors import ReferenceError_

DEFAULT_REGISTRY = "docker.io"
DEFAULT_TAG = "latest"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_NAME_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
_HOST_RE = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$"
)


@dataclass(frozen=True)
class Reference:
    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """`registry/repository`, fully qualified."""
        return f"{self.registry}/{self.repository}"

    @property
    def familiar_name(self) -> str:
        """The repository as Docker shows it: `nginx`, `localhost:5000/demo/nginx`."""
        if self.registry == DEFAULT_REGISTRY:
            repo = self.repository
            return repo[len("library/"):] if repo.startswith("library/") else repo
        return self.name

    def __str__(self) -> str:
        return self.familiar

    @property
    def familiar(self) -> str:
        """`nginx:stable`, `nginx@sha256:...`."""
        return self._with_suffixes(self.familiar_name)

    @property
    def full(self) -> str:
        """`docker.io/library/nginx:stable`."""
        return self._with_suffixes(self.name)

    def _with_suffixes(self, name: str) -> str:
        """`name` followed by `:tag` and `@digest`, those that are set."""
        tag = f":{self.tag}" if self.tag else ""
        digest = f"@{self.digest}" if self.digest else ""
        return name + tag + digest

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.registry, self.repository, tag, None)


def parse(text: str, *, default_tag: bool = True) -> Reference:
    """Parse and normalise a reference; raise ReferenceError_ naming the problem."""
    original = text
    if not text or text != text.strip():
        raise ReferenceError_(f"invalid reference format: {original!r}")
    digest = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if not _DIGEST_RE.match(digest):
            raise ReferenceError_(f"invalid reference format: bad digest in {original!r}")
    tag = None
    slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > slash:
        text, tag = text[:colon], text[colon + 1:]
        if not _TAG_RE.match(tag):
            raise ReferenceError_(f"invalid reference format: bad tag {tag!r} in {original!r}")
    registry = DEFAULT_REGISTRY
    parts = text.split("/", 1)
    if len(parts) == 2 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"
                            or parts[0].startswith("[")):
        registry, text = parts
        if not _HOST_RE.match(registry):
            raise ReferenceError_(f"invalid reference format: bad registry {registry!r}")
    if not _NAME_RE.match(text):
        if text.lower() != text and _NAME_RE.match(text.lower()):
            raise ReferenceError_(
                f"invalid reference format: repository name must be lowercase: {original!r}")
        raise ReferenceError_(f"invalid reference format: {original!r}")
    if len(text) > 255:
        raise ReferenceError_(f"invalid reference format: name too long: {original!r}")
    if registry in (DEFAULT_REGISTRY, "index.docker.io"):
        registry = DEFAULT_REGISTRY
        if "/" not in text:
            text = f"library/{text}"
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(registry, text, tag, digest)


def looks_like_id(text: str) -> bool:
    """A hex image-ID prefix (or `sha256:` + hex) rather than a name."""
    if text.startswith("sha256:"):
        text = text[7:]
    return 1 <= len(text) <= 64 and all(c in "0123456789abcdef" for c in text)
