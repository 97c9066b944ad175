"""minidock: docker build and docker run rebuilt in Python, with no daemon.

The public API (`minidock.run`, `minidock.build`, `minidock.images`, ...,
documented in docs/api.md) lives in `minidock.api` and is imported on first
use, so `minidock run` on the command line never pays for it.

`minidock.build` and `minidock.image` are also the names of the builder and
image-model packages. Those two package modules are made callable: calling
them calls the API's `build` / `image`, while their contents stay reachable
as before (`from minidock.build import BuildOptions`).
"""

import sys

__version__ = "0.1.0"

_API = ("Client", "Container", "ExecResult", "Image", "RunResult", "WaitTimeout",
        "containers", "container", "images", "load", "pull", "run")
_CALLABLE_PACKAGES = ("build", "image")
_Module = type(sys)


class _CallablePackage(_Module):
    """A subpackage that is also the API function of the same name."""

    def __call__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        from minidock import api

        return getattr(api, self.__name__.rpartition(".")[2])(*args, **kwargs)


class _Package(_Module):
    """This package's module: makes `build`/`image` callable when they are imported."""

    def __setattr__(self, name: str, value: object) -> None:
        if name in _CALLABLE_PACKAGES and type(value) is _Module:
            value.__class__ = _CallablePackage
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> object:
    if name in _CALLABLE_PACKAGES:
        __import__(f"{__name__}.{name}")  # the import sets the attribute (made callable)
        return sys.modules[f"{__name__}.{name}"]
    if name in _API:
        from minidock import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API, *_CALLABLE_PACKAGES})


__all__ = [*_API, *_CALLABLE_PACKAGES]
