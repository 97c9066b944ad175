"""`--chmod` values of COPY/ADD: octal (`0755`) or symbolic (`u=rwx,go+rX`).

Parsed once, applied per file by the builder with `ChmodSpec.apply`, which
needs to know whether the file is a directory (for `X`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SYMBOLIC_CLAUSE = re.compile(r"([ugoa]*)((?:[-+=](?:[ugo]|[rwxXst]*))+)\Z")
_ACTION = re.compile(r"([-+=])([ugo]|[rwxXst]*)")

_WHO_BITS = {"u": 0o4700, "g": 0o2070, "o": 0o1007}  # rwx + the special bit of each class
_PERM_BITS = {"r": 0o444, "w": 0o222, "x": 0o111, "s": 0o6000, "t": 0o1000}


class ChmodError(ValueError):
    """A --chmod value that is neither octal nor a symbolic mode."""


@dataclass(frozen=True)
class ChmodSpec:
    """A parsed --chmod: `octal` is set for numeric modes, else `symbolic`."""

    text: str
    octal: int | None = None
    symbolic: tuple[tuple[str, str, str], ...] = ()  # (who, op, perms)

    def apply(self, mode: int, is_dir: bool) -> int:
        """The permission bits (0o7777) a file gets, given its current mode."""
        if self.octal is not None:
            return self.octal
        current = mode & 0o7777
        for who, op, perms in self.symbolic:
            mask = 0
            for w in who or "ugo":
                mask |= _WHO_BITS[w]
            if perms in ("u", "g", "o"):
                value = _copy_class(current, perms)
            else:
                value = 0
                for p in perms:
                    if p == "X":
                        if is_dir or current & 0o111:
                            value |= _PERM_BITS["x"]
                    else:
                        value |= _PERM_BITS[p]
            bits = value & mask
            if op == "+":
                current |= bits
            elif op == "-":
                current &= ~bits
            else:
                # `=` replaces the classes' bits; like chmod(1), a directory keeps
                # its setuid/setgid bits unless `s` is named
                preserved = current & 0o6000 & mask if is_dir and "s" not in perms else 0
                current = (current & ~mask) | bits | preserved
        return current & 0o7777


def _copy_class(mode: int, who: str) -> int:
    """`g=u` style: the rwx bits of one class, replicated into every class."""
    shift = {"u": 6, "g": 3, "o": 0}[who]
    rwx = (mode >> shift) & 0o7
    return rwx << 6 | rwx << 3 | rwx


def parse_chmod(text: str) -> ChmodSpec:
    """Parse a --chmod value; raises ChmodError with Docker's wording."""
    numeric_error = ChmodError(
        f"invalid chmod parameter: '{text}'. it should be octal string and between 0 and 07777")
    if text and text.isascii() and text.isdigit():
        if any(c in "89" for c in text):
            raise numeric_error
        value = int(text, 8)
        if value > 0o7777:
            raise numeric_error
        return ChmodSpec(text=text, octal=value)
    clauses: list[tuple[str, str, str]] = []
    for clause in text.split(","):
        match = _SYMBOLIC_CLAUSE.match(clause)
        if match is None:
            raise ChmodError(f"invalid chmod parameter: '{text}'")
        who = match.group(1).replace("a", "ugo")
        for action in _ACTION.finditer(match.group(2)):
            clauses.append((who, action.group(1), action.group(2)))
    return ChmodSpec(text=text, symbolic=tuple(clauses))
