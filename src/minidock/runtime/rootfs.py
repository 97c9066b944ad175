"""Rootfs drivers: how a container sees its image's layers plus its own changes.

* `overlay`: the image's extracted layers (`$root/layers/<hex>/`, shared and never
  written) are the lower dirs of a kernel overlayfs mount whose upper dir belongs
  to the container. Creating a container costs a few mkdirs and symlinks.
* `copy`: where overlayfs cannot be mounted (an overlay root, old kernels, some
  rootless set-ups), the stacked layers are copied into the container's own
  `rootfs/` with whiteouts applied. Creating a container costs a full copy of
  the image, in time and disk.

Both keep a small per-container "init" tree (mount points for /proc, /sys,
/dev and the /etc files minidock bind-mounts), so those never show up as
container changes. The mount itself happens inside the container's own mount
namespace (see sandbox.py), so nothing is ever mounted in the host's namespace
and a dead container leaves no mount behind.
"""

from __future__ import annotations

import errno
import os
import stat

from minidock.fsutil import copy_fd, remove_tree

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import TypeVar

    MountFn = Callable[..., None]  # libc.mount(source, target, fstype, flags, data=None)
    LayerT = TypeVar("LayerT", bound="str | os.PathLike[str]")  # a layer dir

OVERLAY = "overlay"
COPY = "copy"
DRIVERS = (OVERLAY, COPY)

# paths of the init tree: directories, then empty files, then symlinks
INIT_DIRS = ("proc", "sys", "dev", "dev/pts", "dev/shm", "etc")
INIT_FILES = ("etc/hosts", "etc/hostname", "etc/resolv.conf")
INIT_LINKS = (("etc/mtab", "/proc/mounts"),)
# what the init tree adds, as container paths: excluded from `diff` and `commit`
INIT_PATHS = frozenset("/" + p for p in (*INIT_DIRS, *INIT_FILES, "etc/mtab"))

OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")
_WH = ".wh."
_WH_OPQ = ".wh..wh..opq"


def overlay_options(lowers: Sequence[str], upper: str, work: str, *, rootless: bool,
                    volatile: bool = False) -> str:
    """The mount data for an overlay, lowers given top first."""
    # no redirects, metacopy or index: the upper dir stays a plain diff of the lowers,
    # and a layer dir can be a lower of any number of mounts at once. With
    # `userxattr` (rootless) the kernel takes only "nofollow" as "no redirects".
    opts = [f"lowerdir={':'.join(lowers)}", f"upperdir={upper}", f"workdir={work}",
            "index=off", "metacopy=off"]
    opts += ["redirect_dir=nofollow", "userxattr"] if rootless else ["redirect_dir=off"]
    if volatile:
        opts.append("volatile")
    return ",".join(opts)


def unique_layers(layers: Sequence[LayerT]) -> list[LayerT]:
    """Layer dirs (bottom first) with each one kept once, at its topmost place.

    An image can list the same layer twice (two build steps that both made an
    empty layer); overlayfs refuses a lower dir given twice ("Too many levels
    of symbolic links"). Dropping the lower copies changes nothing: whatever
    a lower copy adds, removes or hides, its upper copy does again, above it.
    """
    seen: set[LayerT] = set()
    out: list[LayerT] = []
    for layer in reversed(layers):
        if layer not in seen:
            seen.add(layer)
            out.append(layer)
    out.reverse()
    return out


def _make_init_tree(top: str) -> None:
    """Create the init entries that are missing below `top`.

    What it creates gets one fixed time (the epoch; every entry is mounted over
    in a container, /etc/mtab aside), and directories it adds entries to keep
    their own times, so two trees made from the same layers (a container's
    rootfs and the base the copy driver diffs it against) stay identical and the
    init tree never shows up as a change. (The time of `top` would not do: the
    copy driver creates the two trees moments apart.)
    """
    stamp = 0
    saved: dict[str, tuple[int, int]] = {}

    def touching(path: str) -> None:
        parent = os.path.dirname(path)
        if parent not in saved:
            st = os.stat(parent)
            saved[parent] = (st.st_atime_ns, st.st_mtime_ns)

    created: list[str] = []
    for d in INIT_DIRS:
        path = os.path.join(top, d)
        if os.path.lexists(path) and not os.path.isdir(path):
            touching(path)
            remove_tree(path)
        if not os.path.lexists(path):
            touching(path)
            os.mkdir(path, 0o755)
            created.append(path)
    for f in INIT_FILES:
        path = os.path.join(top, f)
        if os.path.lexists(path) and not (os.path.isfile(path) and not os.path.islink(path)):
            touching(path)
            remove_tree(path)
        if not os.path.lexists(path):
            touching(path)
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
            created.append(path)
    for link, target in INIT_LINKS:
        path = os.path.join(top, link)
        if not os.path.lexists(path):
            touching(path)
            os.symlink(target, path)
            created.append(path)
    for path in created:
        os.utime(path, ns=(stamp, stamp), follow_symlinks=False)
    for parent in sorted(saved, key=len, reverse=True):
        if parent not in created:
            os.utime(parent, ns=saved[parent])


class OverlayDriver:
    """Layers as overlay lower dirs; the container's changes land in `upper/`."""

    name = OVERLAY

    def create(self, bundle: str, layers: Sequence[str], *, shared_init: str | None = None
               ) -> None:
        """Prepare `bundle` (the container dir) for layers given bottom first.

        `lower/<n>` are short symlinks to the layer dirs so even 127 layers fit in
        the one page of mount data the kernel accepts. With `shared_init` (a tree
        made by `shared_init_tree`), `init` is a link to it instead of a copy:
        fewer files to make and delete per container.
        """
        for sub in ("upper", "work", "merged", "lower"):
            os.mkdir(os.path.join(bundle, sub), 0o755)
        for n, layer in enumerate(unique_layers(layers)):
            os.symlink(layer, os.path.join(bundle, "lower", str(n)))
        if shared_init is not None:
            os.symlink(shared_init, os.path.join(bundle, "init"))
        else:
            os.mkdir(os.path.join(bundle, "init"), 0o755)
            _make_init_tree(os.path.join(bundle, "init"))

    def lowers(self, bundle: str) -> list[str]:
        """Lower dirs relative to the bundle, top first (init tree on top)."""
        count = len(os.listdir(os.path.join(bundle, "lower")))
        return ["init", *(f"lower/{n}" for n in range(count - 1, -1, -1))]

    def mount(self, bundle: str, mount_fn: MountFn, *, rootless: bool,
              volatile: bool = False) -> str:
        """Mount the overlay (inside a private mount namespace); returns its path.

        The caller's working directory moves to the bundle so the lower dirs can
        be named relatively. `volatile` (for a container whose layer is thrown
        away when it ends, `--rm`) tells the kernel never to sync the upper dir:
        otherwise the unmount when the container ends syncs the whole filesystem
        the store lives on, which can take longer than the container's start.
        """
        os.chdir(bundle)
        # upper and work absolute: the mount table then names the container's dir
        upper, work = os.path.join(bundle, "upper"), os.path.join(bundle, "work")
        lowers = self.lowers(bundle)
        _drop_volatile_mark(work)
        try:
            mount_fn("overlay", "merged", "overlay", 0,
                     overlay_options(lowers, upper, work, rootless=rootless, volatile=volatile))
        except OSError as exc:
            if not volatile or exc.errno != errno.EINVAL:
                raise
            # a kernel older than 5.10 does not know "volatile": do without
            mount_fn("overlay", "merged", "overlay", 0,
                     overlay_options(lowers, upper, work, rootless=rootless))
        return os.path.join(bundle, "merged")

    def upper(self, bundle: str) -> str:
        return os.path.join(bundle, "upper")


def _drop_volatile_mark(work: str) -> None:
    """A volatile mount leaves `work/work/incompat/volatile` behind, and the kernel
    refuses to mount that work dir again while it is there. Only a `--rm`
    container is mounted volatile, and its layer is not kept: if its supervisor
    died before removing it, the container may be started again all the same."""
    mark = os.path.join(work, "work", "incompat", "volatile")
    if os.path.lexists(mark):
        remove_tree(os.path.join(work, "work"))


def shared_init_tree(parent: str) -> str:
    """The init tree `parent/.init`, made once (atomically) and shared read-only by
    the overlay containers whose bundles live in `parent`."""
    path = os.path.join(parent, ".init")
    if os.path.isdir(path):
        return path
    tmp = os.path.join(parent, f".init-{os.getpid()}-{os.urandom(4).hex()}")
    os.mkdir(tmp, 0o755)
    _make_init_tree(tmp)
    try:
        os.rename(tmp, path)
    except OSError:
        if not os.path.isdir(path):
            raise
        remove_tree(tmp)
    return path


class CopyDriver:
    """A full copy of the stacked layers in `rootfs/`: no overlayfs needed."""

    name = COPY

    def create(self, bundle: str, layers: Sequence[str], *, shared_init: str | None = None
               ) -> None:
        """Copy the layers (bottom first) into `bundle/rootfs`; the init entries go
        into the copy itself (`shared_init` is for the overlay driver only)."""
        rootfs = os.path.join(bundle, "rootfs")
        os.mkdir(rootfs, 0o755)
        copier = TreeCopier()
        for layer in unique_layers(layers):
            copier.apply_layer(layer, rootfs)
        _make_init_tree(rootfs)

    def mount(self, bundle: str, mount_fn: MountFn, *, rootless: bool,
              volatile: bool = False) -> str:
        """Bind the rootfs on itself: pivot_root needs a mount point (`volatile`
        is for the overlay driver's sake: nothing here is ever synced)."""
        from minidock.runtime.libc import MS_BIND, MS_REC

        rootfs = os.path.join(bundle, "rootfs")
        mount_fn(rootfs, rootfs, None, MS_BIND | MS_REC)
        os.chdir(bundle)
        return rootfs


def get_driver(name: str) -> OverlayDriver | CopyDriver:
    if name == OVERLAY:
        return OverlayDriver()
    if name == COPY:
        return CopyDriver()
    from minidock.errors import UsageError

    raise UsageError(f"unknown storage driver {name!r}: choose one of {', '.join(DRIVERS)}")


# ---- layer stacking for the copy driver (and for volume seeding) -------------

def is_whiteout(st: os.stat_result) -> bool:
    """An overlay whiteout: a character device 0/0."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str) -> bool:
    for name in OPAQUE_XATTRS:
        try:
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue
    return os.path.lexists(os.path.join(path, _WH_OPQ))


class TreeCopier:
    """Copies trees keeping types, modes, owners, times, xattrs and hard links.

    `apply_layer` stacks one extracted layer over a destination, honouring its
    whiteouts and opaque directories, which is what overlayfs would show.
    """

    def __init__(self) -> None:
        self._privileged = os.geteuid() == 0
        self._links: dict[tuple[int, int], str] = {}

    def apply_layer(self, layer: str, dest: str) -> None:
        self._links = {}
        self._apply_dir(layer, dest)

    def copy_tree(self, src: str, dest: str) -> None:
        """Copy the contents of `src` into the existing directory `dest`."""
        self._links = {}
        self._apply_dir(src, dest, layer=False)

    def _apply_dir(self, src: str, dest: str, layer: bool = True) -> None:
        with os.scandir(src) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            name = entry.name
            s = entry.path
            d = os.path.join(dest, name)
            st = entry.stat(follow_symlinks=False)
            if layer:
                if name == _WH_OPQ:
                    continue
                if name.startswith(_WH):
                    target = os.path.join(dest, name[len(_WH):])
                    if os.path.lexists(target):
                        remove_tree(target)
                    continue
                if is_whiteout(st):
                    if os.path.lexists(d):
                        remove_tree(d)
                    continue
            if stat.S_ISDIR(st.st_mode):
                if os.path.lexists(d) and (os.path.islink(d) or not os.path.isdir(d)):
                    remove_tree(d)
                if os.path.isdir(d):
                    if layer and is_opaque(s):
                        for child in os.listdir(d):
                            remove_tree(os.path.join(d, child))
                else:
                    os.mkdir(d, 0o700)
                if not self._privileged:
                    os.chmod(d, 0o700)  # our own dirs may be read-only: open them to write
                self._apply_dir(s, d, layer)
                self._metadata(s, d, st)
                continue
            if os.path.lexists(d):
                remove_tree(d)
            self._copy_entry(s, d, st)

    def _copy_entry(self, src: str, dest: str, st: os.stat_result) -> None:
        mode = st.st_mode
        if stat.S_ISREG(mode) and st.st_nlink > 1:
            first = self._links.get((st.st_dev, st.st_ino))
            if first is not None and os.path.lexists(first):
                os.link(first, dest)
                return
            self._links[(st.st_dev, st.st_ino)] = dest
        if stat.S_ISREG(mode):
            if not copy_regular_file(src, dest):
                return  # replaced meanwhile: layers are read-only, so never seen
        elif stat.S_ISLNK(mode):
            os.symlink(os.readlink(src), dest)
        elif stat.S_ISFIFO(mode):
            os.mkfifo(dest, 0o600)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            if not self._privileged:
                return  # device nodes need privileges; the sandbox gives /dev anyway
            os.mknod(dest, stat.S_IFMT(mode) | 0o600, st.st_rdev)
        elif stat.S_ISSOCK(mode):
            return
        self._metadata(src, dest, st)

    def _metadata(self, src: str, dest: str, st: os.stat_result) -> None:
        link = stat.S_ISLNK(st.st_mode)
        if self._privileged:
            os.lchown(dest, st.st_uid, st.st_gid)
        try:  # unprivileged, only user.* ones (the owners an extraction recorded) can be set
            for name in os.listxattr(src, follow_symlinks=False):
                if name.startswith(("trusted.overlay.", "user.overlay.")) or \
                        not (self._privileged or name.startswith("user.")):
                    continue
                os.setxattr(dest, name, os.getxattr(src, name, follow_symlinks=False),
                            follow_symlinks=False)
        except OSError:
            pass
        if not link:
            os.chmod(dest, stat.S_IMODE(st.st_mode))
        os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def copy_regular_file(src: str, dest: str, *, src_dir: int | None = None,
                      dst_dir: int | None = None) -> bool:
    """Copy the content of the regular file `src` into a new file `dest` (mode
    0600: the caller sets the metadata), following no symlink. False, with
    nothing made, when `src` is no regular file (any more)."""
    fin = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                  dir_fd=src_dir)
    try:
        if not stat.S_ISREG(os.fstat(fin).st_mode):
            return False
        fout = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                       0o600, dir_fd=dst_dir)
        try:
            copy_fd(fin, fout)
        finally:
            os.close(fout)
    finally:
        os.close(fin)
    return True
