"""Platforms (`linux/amd64`, `linux/arm/v7`) for FROM --platform and the
predefined TARGET*/BUILD* build arguments."""

from __future__ import annotations

import platform as _host
import re
from dataclasses import dataclass

_COMPONENT = re.compile(r"[A-Za-z0-9_.-]+\Z")
_KNOWN_OS = frozenset({"linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "illumos",
                       "solaris", "aix", "android", "ios", "js", "wasip1", "plan9"})
_ARCH_ALIASES = {
    "x86_64": ("amd64", ""), "x86-64": ("amd64", ""), "amd64": ("amd64", ""),
    "aarch64": ("arm64", ""), "arm64": ("arm64", ""),
    "armhf": ("arm", "v7"), "armel": ("arm", "v6"), "arm": ("arm", ""),
    "armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"),
    "i386": ("386", ""), "i686": ("386", ""), "386": ("386", ""),
    "ppc64le": ("ppc64le", ""), "s390x": ("s390x", ""), "riscv64": ("riscv64", ""),
    "mips64le": ("mips64le", ""), "loong64": ("loong64", ""),
}


@dataclass(frozen=True)
class Platform:
    os: str = "linux"
    architecture: str = "amd64"
    variant: str = ""

    def __str__(self) -> str:
        base = f"{self.os}/{self.architecture}"
        return f"{base}/{self.variant}" if self.variant else base

    @classmethod
    def host(cls) -> Platform:
        """The platform of this machine (Linux is assumed; amd64 if unknown)."""
        arch, variant = _ARCH_ALIASES.get(_host.machine().lower(), ("amd64", ""))
        return _normalize("linux", arch, variant)

    @classmethod
    def parse(cls, text: str) -> Platform:
        """`os[/arch[/variant]]` or a bare architecture; raises ValueError."""
        parts = text.split("/")
        if not text or len(parts) > 3 or not all(_COMPONENT.match(p) for p in parts):
            raise ValueError(f'invalid platform "{text}": expected os/arch[/variant]')
        lowered = [p.lower() for p in parts]
        if len(lowered) == 1:
            word = lowered[0]
            if word in _KNOWN_OS:
                host = cls.host()
                return _normalize(word, host.architecture, host.variant)
            if word in _ARCH_ALIASES:
                arch, variant = _ARCH_ALIASES[word]
                return _normalize("linux", arch, variant)
            raise ValueError(f'invalid platform "{text}": unknown operating system or '
                             f"architecture")
        os_name = lowered[0]
        if os_name not in _KNOWN_OS:
            raise ValueError(f'invalid platform "{text}": unknown operating system "{parts[0]}"')
        arch, variant = _ARCH_ALIASES.get(lowered[1], (lowered[1], ""))
        if len(lowered) == 3:
            variant = lowered[2]
        return _normalize(os_name, arch, variant)


def _normalize(os_name: str, arch: str, variant: str) -> Platform:
    if arch == "arm64" and variant in ("v8", "8"):
        variant = ""
    elif arch == "arm":
        variant = {"": "v7", "7": "v7", "6": "v6", "5": "v5", "8": "v8"}.get(variant, variant)
    elif arch == "amd64" and variant == "v1":
        variant = ""
    return Platform(os_name, arch, variant)


def platform_args(target: Platform, build: Platform) -> dict[str, str]:
    """The predefined TARGET* and BUILD* arguments."""
    return {
        "BUILDPLATFORM": str(build),
        "BUILDOS": build.os,
        "BUILDARCH": build.architecture,
        "BUILDVARIANT": build.variant,
        "TARGETPLATFORM": str(target),
        "TARGETOS": target.os,
        "TARGETARCH": target.architecture,
        "TARGETVARIANT": target.variant,
    }
