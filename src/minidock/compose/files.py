"""Which compose files, which directory, which environment: the command line resolved.

Without `-f` (or COMPOSE_FILE) the first of compose.yaml, compose.yml,
docker-compose.yml, docker-compose.yaml is taken from the directory, or the
nearest parent that has one, with a compose.override.y(a)ml beside it. The
environment for interpolation is the `.env` file (or `--env-file`s) under the
process environment, which wins.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from minidock.compose.dotenv import parse_env_file
from minidock.errors import ComposeError

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_FILES = ("compose.override.yml", "compose.override.yaml",
                  "docker-compose.override.yml", "docker-compose.override.yaml")


@dataclass(frozen=True)
class ProjectOptions:
    """What `minidock compose` was given; every field has docker compose's meaning."""

    files: tuple[str, ...] = ()
    project_name: str | None = None
    project_directory: str | None = None
    profiles: tuple[str, ...] = ()
    env_files: tuple[str, ...] = ()
    interpolate: bool = True
    services: tuple[str, ...] = ()
    cwd: str | None = None
    environ: Mapping[str, str] | None = None


@dataclass
class Resolved:
    """The files to load, the project directory and the interpolation environment."""

    files: list[str]
    working_dir: str
    environment: dict[str, str]
    profiles: list[str]
    warnings: list[str] = field(default_factory=list)


def normalize_project_name(name: str) -> str:
    """Lowercase, only `[a-z0-9_-]`, no leading `_` or `-` (the rule for directory names)."""
    return re.sub(r"[^a-z0-9_-]", "", name.lower()).lstrip("_-")


def check_project_name(name: str) -> str:
    """A name given with -p or COMPOSE_PROJECT_NAME must already be normal."""
    if not name or normalize_project_name(name) != name:
        raise ComposeError(f'invalid project name "{name}": must consist only of lowercase '
                           "alphanumeric characters, hyphens, and underscores as well as "
                           "start with a letter or number")
    return name


def find_compose_files(start: str, warnings: list[str]) -> list[str]:
    """The default file of `start` or its nearest parent, then its override file."""
    directory = os.path.abspath(start)
    while True:
        found = [os.path.join(directory, n) for n in DEFAULT_FILES
                 if os.path.isfile(os.path.join(directory, n))]
        if found:
            if len(found) > 1:
                warnings.append(f"Found multiple config files with supported names: "
                                f"{', '.join(found)}")
                warnings.append(f"Using {found[0]}")
            overrides = [os.path.join(directory, n) for n in OVERRIDE_FILES
                         if os.path.isfile(os.path.join(directory, n))]
            return found[:1] + overrides[:1]
        parent = os.path.dirname(directory)
        if parent == directory:
            raise ComposeError("no configuration file provided: not found")
        directory = parent


def resolve(options: ProjectOptions) -> Resolved:
    """Files, project directory, environment and profiles, as docker compose finds them."""
    cwd = os.path.abspath(options.cwd or os.getcwd())
    environ = dict(os.environ if options.environ is None else options.environ)
    warnings: list[str] = []
    files = [os.path.join(cwd, f) for f in options.files]
    env_dir = (os.path.join(cwd, options.project_directory) if options.project_directory
               else os.path.dirname(files[0]) if files else cwd)
    dotenv_files = [os.path.join(cwd, f) for f in options.env_files]
    if not dotenv_files and os.path.isfile(os.path.join(env_dir, ".env")):
        dotenv_files = [os.path.join(env_dir, ".env")]
    environment: dict[str, str] = {}
    for path in dotenv_files:
        if not os.path.isfile(path):
            raise ComposeError(f"couldn't find env file: {path}")
        environment.update(parse_env_file(path, lambda k: environ.get(k, environment.get(k))))
    environment.update(environ)
    if not files and environment.get("COMPOSE_FILE"):
        sep = environment.get("COMPOSE_PATH_SEPARATOR", os.pathsep)
        files = [os.path.join(cwd, f) for f in environment["COMPOSE_FILE"].split(sep) if f]
    if not files:
        files = find_compose_files(env_dir, warnings)
    for path in files:
        if not os.path.isfile(path):
            raise ComposeError(f"open {path}: no such file or directory")
    working_dir = (os.path.join(cwd, options.project_directory) if options.project_directory
                   else os.path.dirname(files[0]))
    profiles = list(options.profiles) or [
        p for p in environment.get("COMPOSE_PROFILES", "").split(",") if p]
    return Resolved(files=[os.path.normpath(f) for f in files],
                    working_dir=os.path.normpath(working_dir), environment=environment,
                    profiles=profiles, warnings=warnings)
