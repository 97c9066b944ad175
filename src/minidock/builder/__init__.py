"""The builder: `minidock build` as a library.

What other modules use:
- `open_context(path, dockerfile, stdin=..., tmp_parent=...) -> (BuildContext, Dockerfile)`;
- `build_image(store, context, dockerfile_bytes, BuildOptions(...), progress=..., executor=...)
  -> BuildResult` (`.image`, `.image_id`, `.tags`);
- `prune_build_cache(store) -> bytes reclaimed`;
- `parse_secret` / `parse_ssh`: `--secret` and `--ssh` values for `BuildOptions.secrets`/`.ssh`;
- progress events in `minidock.builder.events`; `Executor` for RUN in `minidock.builder.executor`.
"""

from minidock.builder.builder import (
    BuildOptions,
    BuildResult,
    RunFailed,
    build_image,
    prune_build_cache,
    source_date_epoch_from_env,
)
from minidock.builder.context import BuildContext, Dockerfile, IgnoreRules, open_context
from minidock.builder.secrets import parse_secret, parse_ssh

__all__ = [
    "BuildContext",
    "BuildOptions",
    "BuildResult",
    "Dockerfile",
    "IgnoreRules",
    "RunFailed",
    "build_image",
    "open_context",
    "parse_secret",
    "parse_ssh",
    "prune_build_cache",
    "source_date_epoch_from_env",
]
