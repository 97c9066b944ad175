"""A minimal epoll loop: the supervisor relays logs, terminals and published
ports from one thread, so it needs no locks and wakes only when there is work."""

from __future__ import annotations

import select

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    Handler = Callable[[int], None]

IN = select.EPOLLIN
OUT = select.EPOLLOUT
ERR = select.EPOLLERR | select.EPOLLHUP


class Reactor:
    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._handlers: dict[int, Handler] = {}
        self._masks: dict[int, int] = {}

    def add(self, fd: int, mask: int, handler: Handler) -> None:
        self._epoll.register(fd, mask)
        self._handlers[fd] = handler
        self._masks[fd] = mask

    def modify(self, fd: int, mask: int) -> None:
        if self._masks.get(fd) != mask:
            self._epoll.modify(fd, mask)
            self._masks[fd] = mask

    def mask(self, fd: int) -> int:
        return self._masks.get(fd, 0)

    def remove(self, fd: int) -> None:
        if self._handlers.pop(fd, None) is not None:
            del self._masks[fd]
            try:
                self._epoll.unregister(fd)
            except (OSError, ValueError):
                pass

    def __contains__(self, fd: int) -> bool:
        return fd in self._handlers

    def run_once(self, timeout: float | None = None) -> int:
        """Wait for events (up to `timeout` seconds) and dispatch them."""
        events = self._epoll.poll(-1 if timeout is None else timeout)
        for fd, ev in events:
            handler = self._handlers.get(fd)
            if handler is not None:
                handler(ev)
        return len(events)

    def close(self) -> None:
        self._epoll.close()
