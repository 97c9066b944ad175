"""The one mapping from the exception a command ends with to its exit code and
the one-line message the user sees, for click's commands (cli.main) and for the
click-free `run`/`create` path (cli.run) alike. Imports nothing but minidock.errors,
so `run`'s start-up does not pay for it."""

from __future__ import annotations

import sys

from minidock.errors import MinidockError

# what a command may end with that is not a bug: exit_status decides what it becomes
COMMAND_ERRORS = (MinidockError, KeyboardInterrupt, OSError)


def exit_status(exc: BaseException, *, debug: bool = False) -> int | None:
    """Write `exc`'s message (and hint) to stderr and return the exit code.

    None means the exception should propagate: with `debug`, to show its
    traceback, and for anything that is not one of COMMAND_ERRORS.
    """
    if isinstance(exc, KeyboardInterrupt):
        return 130
    if isinstance(exc, BrokenPipeError):
        return 0  # our reader went away: there is nobody left to tell
    if debug:
        return None
    if isinstance(exc, MinidockError):
        text = f"Error: {exc.message}\n" + (f"Hint: {exc.hint}\n" if exc.hint else "")
        code = exc.exit_code
    elif isinstance(exc, OSError):
        text = (f"Error: {exc.strerror or exc}"
                + (f": {exc.filename}" if getattr(exc, "filename", None) else "") + "\n")
        code = 125
    else:
        return None
    sys.stderr.write(text)
    sys.stderr.flush()
    return code
