"""minidock: docker build and docker run rebuilt in Python, with no daemon.

The public API (`minidock.run`, `minidock.build`, `minidock.images`, ...,
documented in docs/api.md) lives in `minidock.api` and is imported on first
use, so `minidock run` on the command line never pays for it. No subpackage
shares a name with an API function (the builder is `minidock.builder`, the
image model `minidock.oci`), so each name means one thing.
"""

_API = ("Client", "Container", "ExecResult", "Image", "RunResult", "WaitTimeout",
        "build", "containers", "container", "image", "images", "load", "pull", "run")


def __getattr__(name: str) -> object:
    if name == "__version__":
        from minidock.version import __version__

        return __version__
    if name in _API:
        from minidock import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API, "__version__"})


__all__ = list(_API)
