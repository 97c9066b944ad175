"""Thin ctypes wrappers for the Linux calls Python 3.11 does not expose.

`unshare`, `setns`, `mount`, `umount2`, `pivot_root`, `sethostname`, `prctl` and
`capset` are called through libc with errno checking, so a failure raises
`OSError` with the real errno instead of returning -1 silently. Only constants
the runtime uses are defined here.
"""

from __future__ import annotations

import ctypes
import os
import sys

_libc = ctypes.CDLL(None, use_errno=True)

# namespaces (sched.h)
CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# mount flags (sys/mount.h)
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2

# prctl
PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36

# network interface flags (sys/socket.h, linux/sockios.h, net/if.h)
AF_INET = 2
SOCK_DGRAM = 2
SOCK_CLOEXEC = 0o2000000
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP_RUNNING = 0x1 | 0x40
_IFREQ_SIZE = 40  # struct ifreq: a 16-byte name and a 24-byte union

_SYS_PIVOT_ROOT = 155  # x86_64
_SYS_CAPSET = 126
_ARCH_SYSCALLS = {"aarch64": (41, 91)}  # pivot_root, capset on arm64


def _check(result: int, what: str, path: str | None = None) -> int:
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}", path)
    return result


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def _b(text: str | bytes | None) -> bytes | None:
    if text is None or isinstance(text, bytes):
        return text
    return os.fsencode(text)


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    _check(_libc.mount(_b(source), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data)),
           f"mount {fstype or 'bind'} on {target}", target)


def umount2(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(_b(target), ctypes.c_int(flags)), f"umount {target}", target)


def loopback_up() -> None:
    """Bring `lo` up in the current network namespace (`ip link set lo up`): the
    SIOCGIFFLAGS/SIOCSIFFLAGS ioctls on a datagram socket. The socket comes from
    libc, so starting a container never imports the socket module (2 ms)."""
    import fcntl

    fd = _check(_libc.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket")
    try:
        name = b"lo".ljust(16, b"\0")
        reply = fcntl.ioctl(fd, _SIOCGIFFLAGS, name.ljust(_IFREQ_SIZE, b"\0"))
        flags = int.from_bytes(reply[16:18], sys.byteorder) | _IFF_UP_RUNNING
        fcntl.ioctl(fd, _SIOCSIFFLAGS,
                    (name + flags.to_bytes(2, sys.byteorder)).ljust(_IFREQ_SIZE, b"\0"))
    finally:
        os.close(fd)


def _syscall_numbers() -> tuple[int, int]:
    return _ARCH_SYSCALLS.get(os.uname().machine, (_SYS_PIVOT_ROOT, _SYS_CAPSET))


def pivot_root(new_root: str, put_old: str) -> None:
    number = _syscall_numbers()[0]
    _check(_libc.syscall(ctypes.c_long(number), _b(new_root), _b(put_old)), "pivot_root",
           new_root)


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, ctypes.c_size_t(len(raw))), "sethostname")


def prctl(option: int, arg2: int = 0) -> None:
    _check(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg2), ctypes.c_ulong(0),
                       ctypes.c_ulong(0), ctypes.c_ulong(0)), "prctl")


def set_pdeathsig(signum: int) -> None:
    """Ask the kernel to send `signum` to this process when its parent dies."""
    prctl(PR_SET_PDEATHSIG, signum)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


_CAP_V3 = 0x20080522


def limit_capabilities(keep: set[int], last_cap: int) -> None:
    """Drop every capability not in `keep` from the bounding, permitted,
    effective and inheritable sets of this process."""
    for cap in range(last_cap + 1):
        if cap not in keep:
            try:
                prctl(PR_CAPBSET_DROP, cap)
            except OSError as exc:
                if exc.errno != 22:  # EINVAL: the kernel does not know this cap
                    raise
    mask = 0
    for cap in keep:
        mask |= 1 << cap
    header = _CapHeader(_CAP_V3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        word = (mask >> (32 * i)) & 0xFFFFFFFF
        data[i].effective = data[i].permitted = data[i].inheritable = word
    number = _syscall_numbers()[1]
    _check(_libc.syscall(ctypes.c_long(number), ctypes.byref(header), ctypes.byref(data)),
           "capset")
