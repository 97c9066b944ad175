"""Container logs in Docker's json-file format: one JSON object per line,
`{"log": "...\\n", "stream": "stdout", "time": "..."}`.

The writer cuts output at newlines (and at 16 KiB without one), appends with
one write per chunk so readers never see half a line, and keeps a partial line
per stream until its newline or the end of the stream.
"""

from __future__ import annotations

import json
import os
import time

from minidock.runtime.clock import now_iso
from minidock.runtime.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

MAX_LINE = 16 * 1024


class LogWriter:
    def __init__(self, path: str):
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        self._partial: dict[str, bytes] = {}

    def write(self, stream: str, data: bytes) -> None:
        buf = self._partial.pop(stream, b"") + data
        stamp = now_iso()
        out = []
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                if len(buf) - start >= MAX_LINE:
                    nl = start + MAX_LINE - 1
                else:
                    break
            out.append(_entry(buf[start:nl + 1], stream, stamp))
            start = nl + 1
        if start < len(buf):
            self._partial[stream] = buf[start:]
        if out:
            self._write(b"".join(out))

    def flush(self) -> None:
        """Write out partial lines (at the end of the container's output)."""
        stamp = now_iso()
        out = [_entry(rest, stream, stamp) for stream, rest in self._partial.items() if rest]
        self._partial.clear()
        if out:
            self._write(b"".join(out))

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]

    def close(self) -> None:
        self.flush()
        os.close(self._fd)


def _entry(chunk: bytes, stream: str, stamp: str) -> bytes:
    return (json.dumps({"log": chunk.decode("utf-8", "replace"), "stream": stream,
                        "time": stamp}, ensure_ascii=False) + "\n").encode()


class LogEntry(Record):
    __slots__ = ("stream", "text", "time")

    def __init__(self, stream: str, text: str, time: str):
        self.stream = stream
        self.text = text
        self.time = time


def _parse(line: bytes) -> LogEntry | None:
    try:
        obj = json.loads(line)
        return LogEntry(obj.get("stream", "stdout"), obj.get("log", ""), obj.get("time", ""))
    except (ValueError, AttributeError):
        return None


def _tail_offset(fd: int, size: int, lines: int) -> int:
    """Offset of the start of the last `lines` lines, reading backwards."""
    if lines <= 0:
        return size
    pos = size
    count = 0
    block = 64 * 1024
    end_trim = True
    while pos > 0:
        step = min(block, pos)
        pos -= step
        data = os.pread(fd, step, pos)
        idx = len(data)
        if end_trim and data.endswith(b"\n"):
            idx -= 1  # the file's final newline ends the last line
        end_trim = False
        while True:
            nl = data.rfind(b"\n", 0, idx)
            if nl < 0:
                break
            count += 1
            if count == lines:
                return pos + nl + 1
            idx = nl
    return 0


def read_logs(path: str, *, tail: int | None = None, follow: bool = False,
              running: Callable[[], bool] | None = None,
              poll_interval: float = 0.1) -> Iterator[LogEntry]:
    """Entries of a log file; with `follow`, keep reading while `running()` says so."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        size = os.fstat(fd).st_size
        offset = _tail_offset(fd, size, tail) if tail is not None else 0
        pending = b""
        while True:
            data = os.pread(fd, 1 << 20, offset)
            if data:
                offset += len(data)
                pending += data
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    entry = _parse(line)
                    if entry is not None:
                        yield entry
                continue
            if not follow:
                return
            if running is not None and not running():
                # one last read: the writer may have finished just now
                if os.fstat(fd).st_size <= offset:
                    return
                continue
            time.sleep(poll_interval)
    finally:
        os.close(fd)
