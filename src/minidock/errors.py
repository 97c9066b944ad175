"""One exception tree for the whole library.

Every error carries a one-line message, an optional hint and the exit code the
CLI should use, so the CLI maps errors to output in one place and never shows a
traceback unless asked with --debug.
"""

from __future__ import annotations


class MinidockError(Exception):
    """Base of every error minidock raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class UsageError(MinidockError):
    """Bad flags or arguments given by the user."""

    exit_code = 125


class NotFoundError(MinidockError):
    """An image, container, volume or blob that does not exist."""


class ImageNotFound(NotFoundError):
    def __init__(self, ref: str, *, hint: str | None = None):
        super().__init__(f"No such image: {ref}", hint=hint)
        self.ref = ref


class ContainerNotFound(NotFoundError):
    def __init__(self, ref: str):
        super().__init__(f"No such container: {ref}")
        self.ref = ref


class VolumeNotFound(NotFoundError):
    def __init__(self, name: str):
        super().__init__(f"No such volume: {name}")
        self.name = name


class ReferenceError_(MinidockError):
    """A malformed image reference."""


class DigestError(MinidockError):
    """Content did not match its digest or size: never served silently."""


class StoreError(MinidockError):
    """The store is unusable or inconsistent."""


class ConflictError(MinidockError):
    """The operation conflicts with the current state (image in use, name taken)."""

    exit_code = 1


class ArchiveError(MinidockError):
    """A save/load/import archive that is truncated, malformed or incomplete."""


class LayerError(MinidockError):
    """A layer tar that cannot be applied safely."""


class DockerfileError(MinidockError):
    """A Dockerfile that cannot be parsed or evaluated.

    `line` is the 1-based line number; the message reads
    `Dockerfile:7: unknown instruction: RUNN (did you mean RUN?)`.
    """

    def __init__(self, message: str, *, line: int | None = None, filename: str = "Dockerfile",
                 hint: str | None = None):
        self.line = line
        self.filename = filename
        self.detail = message
        text = f"{filename}:{line}: {message}" if line is not None else f"{filename}: {message}"
        super().__init__(text, hint=hint)


class ComposeError(MinidockError):
    """A compose project that cannot be read, merged or validated (docker compose's exit 1).

    `path` is the YAML path inside the model, `filename` and `line` where the file
    has it; the message reads `compose.yaml:12: services.web.ports[0]: invalid port "80:abc"`,
    without `:12` when no line is known and without the file when none is.
    """

    exit_code = 1

    def __init__(self, detail: str, *, path: tuple[str | int, ...] = (),
                 filename: str | None = None, line: int | None = None, hint: str | None = None):
        self.detail = detail
        self.path = path
        self.filename = filename
        self.line = line
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
        text = f"{where}: {detail}" if where else detail
        if filename is not None:
            text = f"{filename}:{line}: {text}" if line is not None else f"{filename}: {text}"
        super().__init__(text, hint=hint)


class BuildError(MinidockError):
    """A build step failed."""


class RuntimeError_(MinidockError):
    """minidock could not create or run a container (docker's exit 125)."""

    exit_code = 125


class CommandNotInvokable(MinidockError):
    """The container command exists but cannot be executed (exit 126)."""

    exit_code = 126


class CommandNotFound(MinidockError):
    """The container command was not found (exit 127)."""

    exit_code = 127


class RegistryError(MinidockError):
    """A registry refused or failed a request."""


class AuthError(RegistryError):
    """The registry rejected the credentials."""


class WaitTimeout(MinidockError):
    """A readiness wait expired; names the container, the condition and its last log lines."""

    def __init__(self, message: str, *, container: str, condition: str,
                 log_lines: list[str]):
        super().__init__(message)
        self.container = container
        self.condition = condition
        self.log_lines = log_lines
