"""Validation of values that end up in the image config: EXPOSE ports and
STOPSIGNAL signals. Errors are ValueError with Docker's wording."""

from __future__ import annotations

_PROTOCOLS = ("tcp", "udp", "sctp")

_SIGNALS = frozenset({
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT",
    "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM",
    "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
    "RTMIN", "RTMAX",
    *(f"RTMIN+{i}" for i in range(1, 16)),
    *(f"RTMAX-{i}" for i in range(1, 15)),
})


def _port_number(text: str) -> int:
    if not text:
        raise ValueError("value is empty")
    if not text.isascii() or not text.lstrip("+-").isdigit():
        raise ValueError("invalid syntax")
    number = int(text)
    if number < 0 or number > 65535:
        raise ValueError("value out of range (0–65535)")
    return number


def _port_range(text: str) -> tuple[int, int]:
    if not text:
        raise ValueError("empty string specified for ports")
    start_text, has_end, end_text = text.partition("-")
    try:
        start = _port_number(start_text)
    except ValueError as exc:
        raise ValueError(f"invalid start port '{start_text}': {exc}") from None
    if not has_end or start_text == end_text:
        return start, start
    try:
        end = _port_number(end_text)
    except ValueError as exc:
        raise ValueError(f"invalid end port '{end_text}': {exc}") from None
    if end < start:
        raise ValueError(f"invalid port range: {text}")
    return start, end


def parse_port(spec: str) -> list[str]:
    """`80`, `80/udp`, `8000-8002/tcp` -> `["80/tcp"]`, ... (ranges are expanded).

    Like Docker, an `ip:hostPort:` prefix is tolerated and ignored.
    """
    container = spec.rsplit(":", 1)[-1]
    port, _, proto = container.partition("/")
    if not port:
        raise ValueError(f'invalid port: "{spec}": no port specified')
    proto = proto.lower() or "tcp"
    if proto not in _PROTOCOLS:
        raise ValueError(f'invalid port: "{spec}": invalid proto: {container.partition("/")[2]}')
    try:
        start, end = _port_range(port)
    except ValueError:
        raise ValueError(f"invalid containerPort: {port}") from None
    return [f"{number}/{proto}" for number in range(start, end + 1)]


def check_stop_signal(text: str) -> str:
    """Accept a signal number or name (`SIGTERM`, `term`, `RTMIN+3`); returns it unchanged."""
    if text.isascii() and text.lstrip("+-").isdigit():
        number = int(text)
        if 1 <= number <= 64:
            return text
        raise ValueError(f"Invalid signal: {text}")
    name = text.upper()
    if name.startswith("SIG"):
        name = name[3:]
    if name not in _SIGNALS:
        raise ValueError(f"Invalid signal: {text}")
    return text
