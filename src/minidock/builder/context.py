"""The build context: the directory (or stdin tar) that COPY and ADD read from.

The context is never copied: COPY streams files straight from it into a layer.
A tar given on stdin is unpacked once into a private directory in the store's
temp area. `.dockerignore` rules make excluded paths invisible, and every path
a Dockerfile names is resolved inside the context root, so neither `../x` nor a
symlink that points out of the context can reach a host file.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from minidock.errors import BuildError, UsageError
from minidock.fsutil import remove_tree

CHUNK = 1 << 20
DEFAULT_DOCKERFILE = "Dockerfile"

# A predicate on a context-relative slash path ("a/b"): True when excluded.
ExcludeRule = Callable[[str], bool]


class ForbiddenPath(BuildError):
    """A path that resolves outside the build context."""


class SourceNotFound(BuildError):
    """A path that does not exist in the context (or is excluded by .dockerignore)."""


@dataclass(frozen=True)
class IgnoreRules:
    """.dockerignore applied to context paths.

    `excluded` is the patterns' answer for one path (its parents' exclusion
    included); `can_skip_dir` says whether an excluded directory may be skipped
    whole, i.e. no `!` rule could re-include something below it; `hides` is
    the answer for a path looked up directly, which also holds what lies in a
    directory Docker never looks into (`dir` then `!*/f1` hides `dir/f1`);
    `active` is False when nothing is excluded at all.
    """

    excluded: ExcludeRule
    can_skip_dir: ExcludeRule
    hides: ExcludeRule
    active: bool = True

    @staticmethod
    def none() -> IgnoreRules:
        return IgnoreRules(lambda _path: False, lambda _path: True, lambda _path: False,
                           active=False)

    @staticmethod
    def from_text(data: bytes) -> IgnoreRules:
        """Rules from the text of a .dockerignore file."""
        from minidock.dockerfile.dockerignore import IgnoreMatcher

        matcher = IgnoreMatcher.from_text(data)
        if not matcher:
            return IgnoreRules.none()
        return IgnoreRules(matcher.matches, matcher.can_skip_dir, matcher.hides)


class BuildContext:
    """A context directory on disk with its ignore rules and a per-build hash cache."""

    def __init__(self, root: Path, ignore: IgnoreRules | None = None, *,
                 owned_dir: Path | None = None):
        self.root = Path(os.path.realpath(root))
        self.ignore = ignore or IgnoreRules.none()
        self._owned_dir = owned_dir
        self._hashes: dict[tuple[int, int, int, int], str] = {}
        self._holds_included: dict[str, bool] = {}

    # ---- construction --------------------------------------------------------
    @classmethod
    def from_directory(cls, path: str | Path, ignore: IgnoreRules | None = None) -> BuildContext:
        p = Path(path)
        if not p.is_dir():
            if p.exists():
                raise UsageError(f"unable to prepare context: context must be a directory: {p}")
            raise UsageError(f"unable to prepare context: path {str(path)!r} not found")
        return cls(p, ignore)

    @classmethod
    def from_tar(cls, stream: BinaryIO, tmp_parent: Path) -> BuildContext:
        """Unpack a (possibly compressed) context tar into a private temp dir."""
        tmp_parent.mkdir(parents=True, exist_ok=True)
        target = Path(tempfile.mkdtemp(prefix="build-context-", dir=tmp_parent))
        try:
            unpack_context_tar(stream, target)
        except BaseException:
            remove_tree(target)
            raise
        return cls(target, owned_dir=target)

    def with_ignore(self, ignore: IgnoreRules) -> BuildContext:
        """The same context with .dockerignore rules (read from the context itself)."""
        ctx = BuildContext(self.root, ignore, owned_dir=self._owned_dir)
        self._owned_dir = None
        return ctx

    def close(self) -> None:
        """Remove the unpacked copy of a stdin context; a directory is left alone."""
        if self._owned_dir is not None:
            remove_tree(self._owned_dir)
            self._owned_dir = None

    def __enter__(self) -> BuildContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- paths ------------------------------------------------------------------
    def host_path(self, rel: str) -> Path:
        """The host path of a resolved context-relative path."""
        return self.root / rel if rel else self.root

    def is_excluded(self, rel: str) -> bool:
        """True when the context does not show `rel`.

        As BuildKit sends it: what .dockerignore excludes is not there, but an
        excluded directory that holds a re-included path is (`**` then
        `!dir/f1` keeps `dir`, with only `f1` in it).
        """
        if not rel or not self.ignore.active:
            return False
        if not self.ignore.excluded(rel):
            return self.ignore.hides(rel)  # inside a directory no exception reaches
        return not self._directory_holds_included(rel)

    def _directory_holds_included(self, rel: str) -> bool:
        """Whether the excluded `rel` is a directory with something included below."""
        known = self._holds_included.get(rel)
        if known is None:
            known = False
            if not self.ignore.can_skip_dir(rel):
                try:
                    is_dir = stat.S_ISDIR(os.lstat(self.host_path(rel)).st_mode)
                except (FileNotFoundError, NotADirectoryError):
                    is_dir = False
                known = is_dir and next(iter(self.walk(rel)), None) is not None
            self._holds_included[rel] = known
        return known

    def resolve(self, written: str, *, instruction: str = "COPY",
                follow_last: bool = True) -> str:
        """Resolve a path as written in the Dockerfile to a context-relative path.

        Symlinks are followed inside the context (the last component only when
        `follow_last`); `..` above the root, an absolute symlink to a host path
        outside the context, or a link chain that climbs out raise ForbiddenPath.
        Returns "" for the context root. Does not check existence of the result.
        """
        cleaned = posixpath.normpath("/" + written.replace("\\", "/")) if written else "/"
        if _climbs_out(written):
            raise ForbiddenPath(f"{instruction} failed: forbidden path outside the build "
                                f"context: {written}")
        parts = [p for p in cleaned.split("/") if p]
        resolved: list[str] = []
        hops = 0
        while parts:
            name = parts.pop(0)
            if name == ".":
                continue
            if name == "..":
                if not resolved:
                    raise ForbiddenPath(f"{instruction} failed: forbidden path outside the "
                                        f"build context: {written}")
                resolved.pop()
                continue
            candidate = "/".join([*resolved, name])
            if not parts and not follow_last:
                resolved.append(name)
                break
            try:
                st = os.lstat(self.host_path(candidate))
            except (FileNotFoundError, NotADirectoryError):
                resolved.append(name)
                resolved.extend(parts)
                break
            if not stat.S_ISLNK(st.st_mode):
                resolved.append(name)
                continue
            hops += 1
            if hops > 40:
                raise BuildError(f"{instruction} failed: too many levels of symbolic links: "
                                 f"{written}")
            target = os.readlink(self.host_path(candidate))
            if target.startswith("/"):
                inside = self._inside_root(target)
                if inside is None:
                    raise ForbiddenPath(
                        f"{instruction} failed: forbidden path outside the build context: "
                        f"{written} (symlink {candidate} -> {target})")
                resolved = []
                parts = [p for p in inside.split("/") if p] + parts
                continue
            depth = len(resolved)
            for piece in target.split("/"):
                if piece == "..":
                    depth -= 1
                elif piece not in ("", "."):
                    depth += 1
                if depth < 0:
                    raise ForbiddenPath(
                        f"{instruction} failed: forbidden path outside the build context: "
                        f"{written} (symlink {candidate} -> {target})")
            parts = [p for p in target.split("/") if p] + parts
        return "/".join(resolved)

    def _inside_root(self, absolute: str) -> str | None:
        """Map an absolute host path to a context-relative one, if it lies inside."""
        root = str(self.root)
        norm = posixpath.normpath(absolute)
        if norm == root:
            return ""
        if norm.startswith(root + "/"):
            return norm[len(root) + 1:]
        return None

    def lstat(self, rel: str) -> os.stat_result | None:
        """lstat of a context path, None if missing or excluded."""
        if self.is_excluded(rel):
            return None
        try:
            return os.lstat(self.host_path(rel))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def listdir(self, rel: str) -> list[str]:
        """Names in a context directory, sorted byte-wise, unfiltered."""
        return sorted(os.listdir(self.host_path(rel)), key=os.fsencode)

    def walk(self, rel: str) -> Iterator[tuple[str, os.stat_result]]:
        """Everything below directory `rel` (not `rel` itself), parents first.

        Yields context-relative paths not excluded by .dockerignore. An excluded
        directory is skipped whole unless a `!` rule might re-include a child;
        it is yielded when something below it is.
        """
        stack = [rel]
        while stack:
            current = stack.pop()
            try:
                names = self.listdir(current)
            except (FileNotFoundError, NotADirectoryError):
                continue
            subdirs: list[str] = []
            for name in names:
                child = f"{current}/{name}" if current else name
                try:
                    st = os.lstat(self.host_path(child))
                except FileNotFoundError:
                    continue
                # the walk never enters a directory Docker skips: the patterns decide
                excluded = self.ignore.excluded(child)
                if stat.S_ISDIR(st.st_mode):
                    if excluded and not self._directory_holds_included(child):
                        continue
                    yield child, st
                    subdirs.append(child)
                elif not excluded:
                    yield child, st
            stack.extend(reversed(subdirs))

    # ---- content digests ---------------------------------------------------------
    def file_sha256(self, rel: str, st: os.stat_result) -> str:
        """sha256 hex of a regular file, cached by (dev, ino, size, mtime) for this build."""
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        cached = self._hashes.get(key)
        if cached is not None:
            return cached
        h = hashlib.sha256()
        with open(self.host_path(rel), "rb") as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
        digest = h.hexdigest()
        self._hashes[key] = digest
        return digest


def _climbs_out(written: str) -> bool:
    """`../x` (relative and climbing) is refused outright, as Docker refuses it."""
    depth = 0
    for piece in written.replace("\\", "/").split("/"):
        if piece == "..":
            depth -= 1
            if depth < 0:
                return True
        elif piece not in ("", "."):
            depth += 1
    return False


def unpack_context_tar(stream: BinaryIO, target: Path) -> None:
    """Unpack a context tar into `target`, refusing anything that would land outside.

    Only regular files, directories, symlinks and hardlinks are created; a member
    whose path climbs out or crosses a symlink is rejected. Ownership is not
    applied (COPY uses root or --chown, never the context owner).
    """
    try:
        tar = tarfile.open(fileobj=stream, mode="r|*")
    except tarfile.TarError as exc:
        raise UsageError(f"unable to read the build context from stdin: {exc}") from None
    dir_modes: list[tuple[Path, int, float]] = []
    with tar:
        try:
            for member in tar:
                _unpack_member(tar, member, target, dir_modes)
        except tarfile.TarError as exc:
            raise UsageError(f"unable to read the build context from stdin: {exc}") from None
    for path, mode, mtime in reversed(dir_modes):
        os.chmod(path, mode)
        os.utime(path, (mtime, mtime))


def _unpack_member(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path,
                   dir_modes: list[tuple[Path, int, float]]) -> None:
    rel = posixpath.normpath("/" + member.name).lstrip("/")
    if not rel or rel == ".":
        return
    if _climbs_out(member.name.lstrip("/")):
        raise UsageError(f"build context tar member escapes the context: {member.name}")
    parent = target
    for piece in rel.split("/")[:-1]:
        parent = parent / piece
        try:
            st = os.lstat(parent)
        except FileNotFoundError:
            os.mkdir(parent, 0o755)
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise UsageError(f"build context tar member crosses a non-directory: {member.name}")
    dest = target / rel
    if member.isdir():
        if not dest.is_dir() or dest.is_symlink():
            remove_tree(dest)
            os.mkdir(dest, 0o755)
        # keep the dir writable while unpacking; final modes are applied at the end
        dir_modes.append((dest, member.mode & 0o7777, member.mtime))
        return
    remove_tree(dest)
    if member.isreg():
        src = tar.extractfile(member)
        assert src is not None
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(src, out, CHUNK)
        os.chmod(dest, member.mode & 0o7777)
        os.utime(dest, (member.mtime, member.mtime))
    elif member.issym():
        os.symlink(member.linkname, dest)
        os.utime(dest, (member.mtime, member.mtime), follow_symlinks=False)
    elif member.islnk():
        link_rel = posixpath.normpath("/" + member.linkname).lstrip("/")
        if _climbs_out(member.linkname.lstrip("/")) or not link_rel:
            raise UsageError(f"build context tar hardlink escapes the context: {member.name}")
        source = target / link_rel
        if os.path.islink(source) or not source.is_file():
            raise UsageError(f"build context tar hardlink to a missing file: {member.name}")
        os.link(source, dest)
    # devices, fifos and other special members are not useful in a context: skipped


@dataclass(frozen=True)
class Dockerfile:
    """The Dockerfile's text and the name errors use for it (`Dockerfile:7: ...`)."""

    text: bytes
    name: str
    ignore_file: bytes | None  # the .dockerignore that applies, if any


def _read_dockerfile_and_ignore(ctx_root: Path, dockerfile: str | None, stdin: BinaryIO | None,
                                *, context_from_stdin: bool) -> Dockerfile:
    """Docker's lookup: `-f -` from stdin; a relative `-f` from the current directory,
    then from the context; `<Dockerfile>.dockerignore` beside it wins over the
    context's `.dockerignore`."""
    if dockerfile == "-":
        if stdin is None or context_from_stdin:
            raise UsageError("invalid argument: can't use stdin for both build context and "
                             "dockerfile")
        text = stdin.read()
        return Dockerfile(text, DEFAULT_DOCKERFILE, _maybe_read(ctx_root / ".dockerignore"))
    name = dockerfile or DEFAULT_DOCKERFILE
    candidates: list[Path] = []
    if dockerfile and not context_from_stdin:
        candidates.append(Path(dockerfile) if os.path.isabs(dockerfile)
                          else Path.cwd() / dockerfile)
    if not os.path.isabs(name) or context_from_stdin:
        candidates.append(ctx_root / posixpath.normpath("/" + name).lstrip("/"))
    if dockerfile is None:
        candidates.append(ctx_root / "dockerfile")  # Docker accepts the lowercase name too
    for path in candidates:
        if path.is_file():
            ignore = _maybe_read(Path(str(path) + ".dockerignore"))
            if ignore is None:
                ignore = _maybe_read(ctx_root / ".dockerignore")
            return Dockerfile(path.read_bytes(), os.path.basename(name), ignore)
    raise UsageError(f"Cannot locate specified Dockerfile: {name}")


def _maybe_read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def open_context(path: str, dockerfile: str | None = None, *, stdin: BinaryIO | None = None,
                 tmp_parent: Path) -> tuple[BuildContext, Dockerfile]:
    """The context named on the command line (a directory, or `-` for a tar on stdin)
    and its Dockerfile, with its .dockerignore rules applied."""
    if path == "-":
        if stdin is None:
            raise UsageError("no build context on stdin")
        if dockerfile == "-":
            raise UsageError("invalid argument: can't use stdin for both build context and "
                             "dockerfile")
        ctx = BuildContext.from_tar(stdin, tmp_parent)
    else:
        ctx = BuildContext.from_directory(path)
    try:
        found = _read_dockerfile_and_ignore(ctx.root, dockerfile, stdin,
                                            context_from_stdin=path == "-")
        if found.ignore_file is not None:
            ctx = ctx.with_ignore(IgnoreRules.from_text(found.ignore_file))
    except BaseException:
        ctx.close()
        raise
    return ctx, found


TAR_BLOCK = 512
USTAR_NAME, USTAR_PREFIX = 100, 155


def _fits_ustar(name: str) -> bool:
    """Whether a path fits a USTAR header's name and prefix fields (Go's rule)."""
    if not name.isascii():
        return False
    if len(name) <= USTAR_NAME:
        return True
    for i, char in enumerate(name):
        if char == "/" and i <= USTAR_PREFIX and 0 < len(name) - i - 1 <= USTAR_NAME:
            return True
    return False


def _pax_record(key: str, value: str) -> int:
    """Length of one `LEN key=value\n` PAX record, LEN counting its own digits."""
    body = len(f" {key}={value}\n".encode())
    length = body + len(str(body))
    return body + len(str(length))


def _tar_entry_size(name: str, link: str, data_size: int) -> int:
    """Bytes one entry takes in the tar stream the docker client sends: its header,
    a PAX header and records when a path does not fit USTAR, and the data padded."""
    size = TAR_BLOCK + -(-data_size // TAR_BLOCK) * TAR_BLOCK
    records = (_pax_record("path", name) if not _fits_ustar(name) else 0) + (
        _pax_record("linkpath", link) if link and not _fits_ustar(link) else 0)
    if records:
        size += TAR_BLOCK + -(-records // TAR_BLOCK) * TAR_BLOCK
    return size


def context_size(ctx: BuildContext) -> tuple[int, int]:
    """(bytes, files) of the context after .dockerignore, bytes counted as the size of
    the tar stream docker sends (a header per entry, data padded to 512-byte blocks,
    a second link to one inode as a hard link, the two end blocks): the context line."""
    total, files = 2 * TAR_BLOCK, 0
    first_names: dict[tuple[int, int], str] = {}
    for rel, st in ctx.walk(""):
        files += 1
        link, data_size = "", 0
        if stat.S_ISDIR(st.st_mode):
            rel += "/"
        elif stat.S_ISLNK(st.st_mode):
            link = os.readlink(ctx.host_path(rel))
        elif stat.S_ISREG(st.st_mode):
            inode = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and inode in first_names:
                link = first_names[inode]
            else:
                first_names[inode] = rel
                data_size = st.st_size
        total += _tar_entry_size(rel, link, data_size)
    return total, files
