"""`cp` between a container and the host, with Docker's path rules.

Everything on the container side goes through directory file descriptors:
paths are resolved by the kernel with the container's root as `/` (openat2
RESOLVE_IN_ROOT), entries are opened with O_NOFOLLOW relative to their parent
directory, symlinks are copied as symlinks, never followed, and what was
created is changed (owner, mode, times) through a descriptor of the entry
itself (`PinnedEntry`), never again by name. So a hostile or changing
container tree (`/tmp/x -> /etc`, `..`, absolute links, a copied directory
swapped for a link while the copy runs) can neither read nor write anything
outside the container.

Rules (as `docker cp`): a file goes to DEST, or into DEST when it is a
directory; a directory is copied into DEST when DEST exists (its contents
when SRC ends in `/.`), or becomes DEST when it does not. `-` as DEST writes a
tar to stdout; `-` as SRC extracts a tar from stdin into a directory.
"""

from __future__ import annotations

import os
import stat
import tarfile
from typing import BinaryIO

from minidock.errors import MinidockError, NotFoundError, UsageError
from minidock.layer.safepath import PinnedEntry
from minidock.runtime.rootfs import copy_regular_file
from minidock.runtime.rootpath import make_dirs, open_in_root

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class CopyError(MinidockError):
    """A copy that cannot be done as asked."""


def _split(path: str) -> tuple[str, str, bool]:
    """(parent, name, contents_only) of a cp path; `x/.` means "the contents of x"."""
    contents = path.endswith("/.") or path == "."
    norm = os.path.normpath(path)
    if norm in ("/", "//"):
        return "/", "", contents
    parent, name = os.path.split(norm)
    return parent or ".", name, contents


class _Copier:
    """Copies one tree between two directory fds without following symlinks.

    `owner` (uid, gid) is applied to every entry when given; `keep_owner` copies
    the source's ids instead; otherwise entries belong to whoever creates them.
    """

    def __init__(self, owner: tuple[int, int] | None = None, keep_owner: bool = False):
        self.owner = owner
        self.keep_owner = keep_owner
        self.privileged = os.geteuid() == 0

    def copy(self, src_dir: int, src_name: str, dst_dir: int, dst_name: str) -> None:
        st = os.stat(src_name, dir_fd=src_dir, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            self._copy_dir(src_dir, src_name, dst_dir, dst_name, st)
            return
        self._replace(dst_dir, dst_name)
        mode = st.st_mode
        if stat.S_ISREG(mode):
            if not copy_regular_file(src_name, dst_name, src_dir=src_dir, dst_dir=dst_dir):
                raise CopyError(f"{src_name}: changed while copying")
        elif stat.S_ISLNK(mode):
            os.symlink(os.readlink(src_name, dir_fd=src_dir), dst_name, dir_fd=dst_dir)
        elif stat.S_ISFIFO(mode):
            os.mkfifo(dst_name, 0o600, dir_fd=dst_dir)
        elif (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)) and self.privileged:
            os.mknod(dst_name, stat.S_IFMT(mode) | 0o600, st.st_rdev, dir_fd=dst_dir)
        else:
            return  # sockets, and devices without privileges, are skipped
        with PinnedEntry(dst_dir, dst_name) as target:
            self._metadata(target, st)

    def _copy_dir(self, src_dir: int, src_name: str, dst_dir: int, dst_name: str,
                  st: os.stat_result) -> None:
        try:
            existing = os.stat(dst_name, dir_fd=dst_dir, follow_symlinks=False)
            if not stat.S_ISDIR(existing.st_mode):
                raise CopyError(f"cannot overwrite non-directory {dst_name!r} with directory")
        except FileNotFoundError:
            os.mkdir(dst_name, 0o700, dir_fd=dst_dir)
        with PinnedEntry(dst_dir, dst_name) as target:
            if not stat.S_ISDIR(target.mode):
                raise CopyError(f"{dst_name}: replaced while copying")
            sfd = os.open(src_name, _DIR, dir_fd=src_dir)
            try:
                dfd = os.open(".", _DIR, dir_fd=target.fd)
                try:
                    self.copy_contents(sfd, dfd)
                finally:
                    os.close(dfd)
            finally:
                os.close(sfd)
            self._metadata(target, st)

    def copy_contents(self, sfd: int, dfd: int) -> None:
        for name in sorted(os.listdir(sfd)):
            self.copy(sfd, name, dfd, name)

    def _replace(self, dst_dir: int, name: str) -> None:
        try:
            existing = os.stat(name, dir_fd=dst_dir, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(existing.st_mode):
            raise CopyError(f"cannot overwrite directory {name!r} with non-directory")
        os.unlink(name, dir_fd=dst_dir)

    def _metadata(self, target: PinnedEntry, st: os.stat_result) -> None:
        ids = (st.st_uid, st.st_gid) if self.keep_owner else self.owner
        if ids is not None:
            try:
                target.chown(*ids)
            except PermissionError:
                pass  # rootless: ids that are not ours stay ours
        target.chmod(stat.S_IMODE(st.st_mode))
        target.utime(st.st_atime_ns, st.st_mtime_ns)


def _follow_links(root_fd: int, path: str) -> str:
    """For -L: the path a chain of symlinks ends at, resolved inside the container."""
    for _ in range(40):
        parent, name, _ = _split(path)
        if not name:
            return path
        try:
            pfd = open_in_root(root_fd, parent, os.O_PATH | os.O_DIRECTORY)
        except (FileNotFoundError, NotADirectoryError):
            return path
        try:
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
            if not stat.S_ISLNK(st.st_mode):
                return path
            target = os.readlink(name, dir_fd=pfd)
        except FileNotFoundError:
            return path
        finally:
            os.close(pfd)
        path = os.path.normpath(target if target.startswith("/") else
                                os.path.join(parent, target))
    raise CopyError(f"{path}: too many levels of symbolic links")


def _container_source(root_fd: int, src: str, follow: bool, label: str
                      ) -> tuple[int, str, os.stat_result]:
    """(parent dir fd, name, lstat) of a path inside the container."""
    path = _follow_links(root_fd, src) if follow else src
    parent, name, _ = _split(path)
    if not name:  # the root itself: it is its own parent
        fd = open_in_root(root_fd, "/", _DIR & ~os.O_NOFOLLOW)
        return fd, ".", os.stat(".", dir_fd=fd)
    try:
        pfd = open_in_root(root_fd, parent, _DIR & ~os.O_NOFOLLOW)
    except (FileNotFoundError, NotADirectoryError):
        raise NotFoundError(f"Could not find the file {src} in container {label}") from None
    try:
        st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
    except FileNotFoundError:
        os.close(pfd)
        raise NotFoundError(f"Could not find the file {src} in container {label}") from None
    if src.endswith("/") and not stat.S_ISDIR(st.st_mode):
        os.close(pfd)
        raise CopyError(f"{src}: not a directory")
    return pfd, name, st


def _open_source(root: str, src: str, follow: bool, label: str
                 ) -> tuple[int, str, os.stat_result]:
    """`_container_source` for the container whose filesystem is at `root`."""
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return _container_source(root_fd, src, follow, label)
    finally:
        os.close(root_fd)


def copy_from_container(root: str, src: str, dest: str, *, label: str,
                        archive: bool = False, follow: bool = False) -> None:
    """Copy `src` of the container whose filesystem is at `root` to host `dest`."""
    sfd, sname, st = _open_source(root, src, follow, label)
    try:
        _copy_to_host(sfd, sname, st, src, dest, archive)
    finally:
        os.close(sfd)


def _copy_to_host(sfd: int, sname: str, st: os.stat_result, src: str, dest: str,
                  archive: bool) -> None:
    copier = _Copier(keep_owner=archive)
    is_dir = stat.S_ISDIR(st.st_mode)
    contents = _split(src)[2]
    dest_is_dir = os.path.isdir(dest)
    if os.path.lexists(dest) and not dest_is_dir and is_dir:
        raise CopyError(f"cannot copy directory {src} to file {dest}")
    if not os.path.lexists(dest):
        if dest.endswith("/") and not is_dir:
            raise CopyError(f"destination directory {dest} must exist")
        parent = os.path.dirname(os.path.normpath(dest)) or "."
        if not os.path.isdir(parent):
            raise CopyError(f"destination directory {parent} does not exist")
        pfd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            copier.copy(sfd, sname, pfd, os.path.basename(os.path.normpath(dest)))
        finally:
            os.close(pfd)
        return
    dfd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC) if dest_is_dir else None
    try:
        if dfd is None:  # an existing file: overwrite it
            parent = os.path.dirname(os.path.normpath(dest)) or "."
            pfd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                copier.copy(sfd, sname, pfd, os.path.basename(os.path.normpath(dest)))
            finally:
                os.close(pfd)
        elif is_dir and (contents or sname == "."):
            inner = os.open(sname, _DIR & ~os.O_NOFOLLOW if sname == "." else _DIR, dir_fd=sfd)
            try:
                copier.copy_contents(inner, dfd)
            finally:
                os.close(inner)
        else:
            copier.copy(sfd, sname, dfd, sname if sname != "." else "root")
    finally:
        if dfd is not None:
            os.close(dfd)


def copy_into_container(root: str, src: str, dest: str, *, label: str,
                        archive: bool = False, follow: bool = False) -> None:
    """Copy host `src` into the container whose filesystem is at `root`."""
    try:
        st = os.stat(src) if follow else os.lstat(src)
    except FileNotFoundError:
        raise NotFoundError(f"could not find the file {src}: no such file or directory") from None
    parent_src, sname, contents = _split(src)
    if follow and stat.S_ISLNK(os.lstat(src).st_mode):
        real = os.path.realpath(src)
        parent_src, sname = os.path.split(real)
    sfd = os.open(parent_src, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    owner = None if archive or os.geteuid() != 0 else (0, 0)
    copier = _Copier(owner=owner, keep_owner=archive)
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        is_dir = stat.S_ISDIR(st.st_mode)
        dparent, dname, _ = _split(dest)
        try:
            target_dir = open_in_root(root_fd, dest, _DIR & ~os.O_NOFOLLOW) if dname or \
                dest == "/" else None
        except (FileNotFoundError, NotADirectoryError):
            target_dir = None
        if dest in ("/", "") and target_dir is None:
            target_dir = open_in_root(root_fd, "/", _DIR & ~os.O_NOFOLLOW)
        if target_dir is not None:
            try:
                if is_dir and (contents or sname == "."):
                    inner = os.open(sname, _DIR & ~os.O_NOFOLLOW, dir_fd=sfd)
                    try:
                        copier.copy_contents(inner, target_dir)
                    finally:
                        os.close(inner)
                else:
                    copier.copy(sfd, sname, target_dir, sname)
            finally:
                os.close(target_dir)
            return
        if dest.endswith("/") and not is_dir:
            raise CopyError(f"destination directory {dest} must exist")
        try:
            pfd = open_in_root(root_fd, dparent, _DIR & ~os.O_NOFOLLOW)
        except (FileNotFoundError, NotADirectoryError):
            raise CopyError(f"destination directory {dparent} does not exist in container "
                            f"{label}") from None
        try:
            try:
                existing = os.stat(dname, dir_fd=pfd, follow_symlinks=False)
            except FileNotFoundError:
                existing = None
            if existing is not None and is_dir:
                raise CopyError(f"cannot copy directory {src} to file {dest}")
            if existing is not None and stat.S_ISLNK(existing.st_mode):
                os.unlink(dname, dir_fd=pfd)  # a dangling link: replace it, never follow it
            copier.copy(sfd, sname, pfd, dname)
        finally:
            os.close(pfd)
    finally:
        os.close(root_fd)
        os.close(sfd)


# ---- tar streams (`-`) ---------------------------------------------------------------------

def tar_from_container(root: str, src: str, sink: BinaryIO, *, label: str,
                       follow: bool = False) -> None:
    """Write `src` (and below) as a tar stream, its top entry named after it."""
    sfd, sname, _st = _open_source(root, src, follow, label)
    try:
        with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            top = os.path.basename(os.path.normpath(src)) or "."
            _tar_add(tar, sfd, sname, top)
    finally:
        os.close(sfd)


def _tar_add(tar: tarfile.TarFile, dir_fd: int, name: str, arcname: str) -> None:
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    info = tarfile.TarInfo(arcname)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mtime = int(st.st_mtime)
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
        fd = os.open(name, _DIR & ~os.O_NOFOLLOW if name == "." else _DIR, dir_fd=dir_fd)
        try:
            for child in sorted(os.listdir(fd)):
                _tar_add(tar, fd, child, f"{arcname}/{child}")
        finally:
            os.close(fd)
    elif stat.S_ISREG(mode):
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                     dir_fd=dir_fd)
        with os.fdopen(fd, "rb") as f:
            info.size = os.fstat(fd).st_size
            tar.addfile(info, f)
    elif stat.S_ISLNK(mode):
        info.type = tarfile.SYMTYPE
        info.linkname = os.readlink(name, dir_fd=dir_fd)
        tar.addfile(info)
    elif stat.S_ISFIFO(mode):
        info.type = tarfile.FIFOTYPE
        tar.addfile(info)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        tar.addfile(info)


def tar_into_container(root: str, stream: BinaryIO, dest: str, *, label: str) -> None:
    """Extract a tar stream into the existing directory `dest` of the container.

    Member names are cleaned so they stay below `dest`, and every parent is
    resolved inside the container's root, so no member lands outside it.
    """
    from minidock.layer.entry import clean_path

    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            base = open_in_root(root_fd, dest, _DIR & ~os.O_NOFOLLOW)
        except (FileNotFoundError, NotADirectoryError):
            raise CopyError(f"destination {dest} must be an existing directory in container "
                            f"{label}") from None
        os.close(base)
        owner_root = os.geteuid() == 0
        try:
            tar = tarfile.open(fileobj=stream, mode="r|*")
        except tarfile.TarError as exc:
            raise UsageError(f"invalid tar stream on stdin: {exc}") from None
        with tar:
            for member in tar:
                rel = clean_path(member.name)
                if not rel:
                    continue
                path = os.path.join(dest, rel)
                parent, name = os.path.split(os.path.normpath("/" + path))
                pfd = make_dirs(root_fd, parent)
                dfd = os.open(".", _DIR & ~os.O_NOFOLLOW, dir_fd=pfd)
                os.close(pfd)
                try:
                    _extract_member(tar, member, dfd, name, root_fd, dest, owner_root)
                finally:
                    os.close(dfd)
    finally:
        os.close(root_fd)


def _extract_member(tar: tarfile.TarFile, member: tarfile.TarInfo, dfd: int, name: str,
                    root_fd: int, dest: str, owner_root: bool) -> None:
    from minidock.layer.entry import clean_path

    try:
        existing = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        existing = None
    if member.isdir():
        if existing is not None and not stat.S_ISDIR(existing.st_mode):
            os.unlink(name, dir_fd=dfd)
            existing = None
        if existing is None:
            os.mkdir(name, 0o700, dir_fd=dfd)
    else:
        if existing is not None:
            if stat.S_ISDIR(existing.st_mode):
                raise CopyError(f"cannot overwrite directory {member.name} with non-directory")
            os.unlink(name, dir_fd=dfd)
        if member.isfile():
            src = tar.extractfile(member)
            fout = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                           | os.O_CLOEXEC, 0o600, dir_fd=dfd)
            try:
                while src is not None and (chunk := src.read(1 << 20)):
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fout, view):]
            finally:
                os.close(fout)
        elif member.issym():
            os.symlink(member.linkname, name, dir_fd=dfd)
        elif member.islnk():
            target = os.path.join(dest, clean_path(member.linkname))
            tparent, tname = os.path.split(os.path.normpath("/" + target))
            tfd = open_in_root(root_fd, tparent, _DIR & ~os.O_NOFOLLOW)
            try:
                os.link(tname, name, src_dir_fd=tfd, dst_dir_fd=dfd, follow_symlinks=False)
            finally:
                os.close(tfd)
            return
        elif member.isfifo():
            os.mkfifo(name, 0o600, dir_fd=dfd)
        elif (member.ischr() or member.isblk()) and owner_root:
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(name, kind | 0o600, os.makedev(member.devmajor, member.devminor),
                     dir_fd=dfd)
        else:
            return
    with PinnedEntry(dfd, name) as made:
        if owner_root:
            made.chown(member.uid, member.gid)
        made.chmod(member.mode & 0o7777)
        mtime_ns = int(member.mtime * 10**9)
        made.utime(mtime_ns, mtime_ns)
