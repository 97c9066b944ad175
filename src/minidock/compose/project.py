"""A compose project loaded from the command line's options: files merged in order,
named, filtered by profiles, validated and normalised.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any

from minidock.compose import model as normal
from minidock.compose import validate
from minidock.compose.files import (
    ProjectOptions,
    check_project_name,
    normalize_project_name,
    resolve,
)
from minidock.compose.interpolate import TemplateError, substitute
from minidock.compose.loader import Context, Sources, load_file, parse_file
from minidock.compose.merge import merge
from minidock.errors import ComposeError


@dataclass
class Project:
    """The normalised model (`model`, as `config` prints it) and what it came from."""

    name: str
    working_dir: str
    files: list[str]
    model: dict[str, Any]
    profiles: list[str]
    all_profiles: list[str]
    all_volumes: list[str]
    environment: dict[str, str]
    warnings: list[str] = field(default_factory=list)

    @property
    def services(self) -> dict[str, Any]:
        return dict(self.model.get("services") or {})


def _name_in_files(files: list[str], ctx: Context) -> str:
    """The last non-empty top-level `name:`, interpolated (read before the full load)."""
    name = ""
    for path in files:
        data, _ = parse_file(path, ctx.sources.cwd)
        if isinstance(data, dict) and data.get("name"):
            name = str(data["name"])
    if name and ctx.interpolate:
        try:
            name = substitute(name, ctx.lookup)
        except TemplateError as exc:
            raise ComposeError(str(exc), path=("name",)) from None
    return name


def _project_name(options: ProjectOptions, files: list[str], working_dir: str,
                  ctx: Context) -> str:
    if options.project_name:
        return check_project_name(options.project_name)
    if ctx.environment.get("COMPOSE_PROJECT_NAME"):
        return check_project_name(ctx.environment["COMPOSE_PROJECT_NAME"])
    from_files = normalize_project_name(_name_in_files(files, ctx))
    name = from_files or normalize_project_name(os.path.basename(working_dir))
    if not name:
        raise ComposeError("project name must not be empty")
    return name


def load_project(options: ProjectOptions) -> Project:
    """Load, merge, validate and normalise; raise ComposeError (one line) on any problem."""
    resolved = resolve(options)
    ctx = Context(environment=dict(resolved.environment),
                  sources=Sources(cwd=os.path.abspath(options.cwd or os.getcwd())),
                  interpolate=options.interpolate, warnings=list(resolved.warnings))
    name = _project_name(options, resolved.files, resolved.working_dir, ctx)
    ctx.environment["COMPOSE_PROJECT_NAME"] = name
    merged: dict[str, Any] = {}
    for path in resolved.files:
        merged = merge(merged, load_file(path, resolved.working_dir, ctx))
    if not merged:
        raise ComposeError("empty compose file", filename=ctx.sources.files[0][0])
    services = {k: v or {} for k, v in (merged.get("services") or {}).items()}
    try:
        enabled, active = normal.enabled_services(services, resolved.profiles, options.services)
        if options.services:
            enabled = normal.with_dependencies(enabled, options.services)
        result = normal.normalize(copy.deepcopy(merged), name, ctx.environment, enabled)
        if options.interpolate:  # an uninterpolated model is printed, not checked
            validate.check(result, services)
    except ComposeError as exc:
        raise ctx.sources.locate(exc) from None
    warnings = ctx.warnings + [f'The "{v}" variable is not set. Defaulting to a blank string.'
                               for v in ctx.unset]
    all_profiles = sorted({p for s in services.values() for p in s.get("profiles") or []})
    return Project(name=name, working_dir=resolved.working_dir, files=resolved.files,
                   model=result, profiles=active, all_profiles=all_profiles,
                   all_volumes=sorted(merged.get("volumes") or {}),
                   environment=ctx.environment, warnings=warnings)
