"""One compose file read into the long-form model: parsed, interpolated, validated,
canonicalised, its relative paths made absolute, its `include`s and `extends` applied.

Every ComposeError raised while a file is processed is given that file's name and
the line of the failing path; errors found later, on the merged model, are located
through the same records (`Sources.locate`).
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any

from minidock.compose import schema
from minidock.compose.canonical import canonical
from minidock.compose.dotenv import parse_env_file
from minidock.compose.interpolate import interpolate
from minidock.compose.merge import dedupe_model, merge
from minidock.compose.tree import Path
from minidock.compose.yamlload import load_yaml
from minidock.errors import ComposeError


def display_name(path: str, cwd: str) -> str:
    """A file as errors name it: relative to the current directory when below it."""
    rel = os.path.relpath(path, cwd)
    return path if rel.startswith("..") else rel


@dataclass
class Sources:
    """The line of each YAML path, per loaded file, to place errors."""

    cwd: str
    files: list[tuple[str, dict[Path, int]]] = field(default_factory=list)

    def add(self, path: str, positions: dict[Path, int]) -> str:
        name = display_name(path, self.cwd)
        self.files.append((name, positions))
        return name

    def locate(self, error: ComposeError) -> ComposeError:
        """The same error naming the last file that has (a prefix of) its path."""
        if error.filename is not None or not error.path:
            return error
        best: tuple[int, str, int] | None = None
        for name, positions in reversed(self.files):
            for size in range(len(error.path), 0, -1):
                line = positions.get(error.path[:size])
                if line is not None:
                    if best is None or size > best[0]:
                        best = (size, name, line)
                    break
        if best is None:
            return error
        return ComposeError(error.detail, path=error.path, filename=best[1], line=best[2],
                            hint=error.hint)


@dataclass
class Context:
    """What every file of one project is read with."""

    environment: dict[str, str]
    sources: Sources
    interpolate: bool = True
    warnings: list[str] = field(default_factory=list)
    unset: list[str] = field(default_factory=list)
    including: tuple[str, ...] = ()

    def lookup(self, name: str) -> str | None:
        return self.environment.get(name)


def parse_file(path: str, cwd: str) -> tuple[Any, dict[Path, int]]:
    """The YAML of one file, uninterpolated, and the line of each path."""
    name = display_name(path, cwd)
    try:
        with open(path, encoding="utf-8-sig") as fh:
            text = fh.read()
    except OSError as exc:
        raise ComposeError(f"cannot read compose file: {exc.strerror}", filename=name) from None
    except UnicodeDecodeError as exc:
        raise ComposeError(f"not UTF-8 text (byte {exc.start})", filename=name) from None
    return load_yaml(text, name)


def read_file(path: str, ctx: Context) -> tuple[dict[str, Any], str, dict[Path, int]]:
    """Parse and interpolate one file; return its data, display name and positions."""
    data, positions = parse_file(path, ctx.sources.cwd)
    name = ctx.sources.add(path, positions)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ComposeError("top-level object must be a mapping", filename=name, line=1)
    if ctx.interpolate:
        data = _located(name, positions, lambda: interpolate(data, ctx.lookup, ctx.unset))
    return data, name, positions


def _located(name: str, positions: dict[Path, int], action: Any) -> Any:
    """Run `action`; a ComposeError from it is placed in this file."""
    try:
        return action()
    except ComposeError as exc:
        if exc.filename is not None:
            raise
        line = None
        for size in range(len(exc.path), -1, -1):
            line = positions.get(exc.path[:size])
            if line is not None:
                break
        raise ComposeError(exc.detail, path=exc.path, filename=name, line=line,
                           hint=exc.hint) from None


def load_file(path: str, base_dir: str, ctx: Context) -> dict[str, Any]:
    """The long-form model of one file, `include`s and `extends` applied."""
    data, name, positions = read_file(path, ctx)
    _located(name, positions, lambda: schema.validate(data))
    if "version" in data:
        ctx.warnings.append(f"{name}: the attribute `version` is obsolete, it will be ignored, "
                            "please remove it to avoid potential confusion")
        data = {k: v for k, v in data.items() if k != "version"}
    model = _located(name, positions, lambda: dedupe_model(canonical(data)))
    resolve_paths(model, base_dir)
    for index, entry in enumerate(model.pop("include", None) or []):
        model = _located(name, positions, lambda m=model, e=entry, i=index:
                         _include(m, e, base_dir, ctx, i, path))
    services = model.get("services") or {}
    for service in list(services):
        _located(name, positions,
                 lambda s=service: apply_extends(services, s, path, ctx, ()))
    return model


# -- paths -----------------------------------------------------------------------------------

def _abs(value: str, base: str) -> str:
    value = os.path.expanduser(value)
    return value if os.path.isabs(value) or not value else os.path.normpath(
        os.path.join(base, value))


def _context(value: str, base: str) -> str:
    remote = ("https://", "http://", "git://", "ssh://", "github.com/", "git@", "service:")
    if "://" in value or value.startswith(remote):
        return value
    return _abs(value, base)


def resolve_paths(model: dict[str, Any], base: str) -> None:
    """Relative host paths of one file, made absolute against `base`."""
    for service in (model.get("services") or {}).values():
        if not isinstance(service, dict):
            continue
        build = service.get("build")
        if isinstance(build, dict):
            if isinstance(build.get("context"), str):
                build["context"] = _context(build["context"], base)
            extra = build.get("additional_contexts")
            if isinstance(extra, dict):
                build["additional_contexts"] = {k: _context(str(v), base)
                                                for k, v in extra.items()}
        for env_file in service.get("env_file") or []:
            env_file["path"] = _abs(str(env_file["path"]), base)
        if isinstance(service.get("label_file"), list):
            service["label_file"] = [_abs(str(f), base) for f in service["label_file"]]
        extends = service.get("extends")
        if isinstance(extends, dict) and isinstance(extends.get("file"), str):
            extends["file"] = _abs(extends["file"], base)
        for volume in service.get("volumes") or []:
            if volume.get("type") == "bind" and isinstance(volume.get("source"), str):
                volume["source"] = _abs(volume["source"], base)
        for watch in (service.get("develop") or {}).get("watch") or []:
            if isinstance(watch, dict) and isinstance(watch.get("path"), str):
                watch["path"] = _abs(watch["path"], base)
    for kind in ("secrets", "configs"):
        for resource in (model.get(kind) or {}).values():
            if isinstance(resource.get("file"), str):
                resource["file"] = _abs(resource["file"], base)
    for volume in (model.get("volumes") or {}).values():
        opts = volume.get("driver_opts") or {}
        if volume.get("driver") == "local" and opts.get("o") == "bind" and "device" in opts:
            opts["device"] = _abs(str(opts["device"]), base)


# -- extends ---------------------------------------------------------------------------------

def apply_extends(services: dict[str, Any], name: str, file: str, ctx: Context,
                  chain: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """Resolve `services[name].extends` in place (recursively) and return the service."""
    service = services[name]
    extends = service.get("extends") if isinstance(service, dict) else None
    if not extends:
        return service
    path: Path = ("services", name, "extends")
    if (file, name) in chain:
        loop = " -> ".join(f"{s} in {display_name(f, ctx.sources.cwd)}"
                           for f, s in chain + ((file, name),))
        raise ComposeError(f"circular reference: {loop}", path=path)
    ref = extends["service"]
    other = extends.get("file")
    if other:
        base_services = _extends_file(other, name, ref, file, ctx, path)
        base_file = other
    else:
        base_services, base_file = services, file
        if ref not in services:
            raise ComposeError(f'cannot extend service "{name}": service "{ref}" not found',
                               path=path)
    base = apply_extends(base_services, ref, base_file, ctx, chain + ((file, name),))
    merged = merge(copy.deepcopy(base), {k: v for k, v in service.items() if k != "extends"},
                   ("services", name))
    merged.pop("extends", None)
    services[name] = merged
    return merged


def _extends_file(other: str, name: str, ref: str, file: str, ctx: Context,
                  path: Path) -> dict[str, Any]:
    if not os.path.isfile(other):
        raise ComposeError(f'cannot extend service "{name}": file {other} not found', path=path)
    data, other_name, positions = read_file(other, ctx)
    model = _located(other_name, positions, lambda: dedupe_model(canonical(data)))
    resolve_paths(model, os.path.dirname(other))
    services = model.get("services") or {}
    if ref not in services:
        raise ComposeError(f'cannot extend service "{name}": service "{ref}" not found in '
                           f"{other_name}", path=path)
    return dict(services)


# -- include ---------------------------------------------------------------------------------

def _include(model: dict[str, Any], entry: Any, base_dir: str, ctx: Context, index: int,
             including_file: str) -> dict[str, Any]:
    """Merge one `include` entry's resources into `model`; the including file wins."""
    entry = {"path": entry} if isinstance(entry, str) else dict(entry)
    paths = entry["path"] if isinstance(entry["path"], list) else [entry["path"]]
    files = [_abs(str(p), base_dir) for p in paths]
    where: Path = ("include", index)
    for file in files:
        if file in ctx.including + (including_file,):
            chain = " include ".join(display_name(f, ctx.sources.cwd)
                                     for f in ctx.including + (including_file, file))
            raise ComposeError(f"include cycle detected: {chain}", path=where)
        if not os.path.isfile(file):
            raise ComposeError(f"included file {file} not found", path=where)
    project_dir = (_abs(str(entry["project_directory"]), base_dir)
                   if entry.get("project_directory") else os.path.dirname(files[0]))
    env_files = entry.get("env_file")
    env_files = [env_files] if isinstance(env_files, str) else list(env_files or [])
    if not env_files and os.path.isfile(os.path.join(project_dir, ".env")):
        env_files = [os.path.join(project_dir, ".env")]
    environment = dict(ctx.environment)
    for env_file in env_files:
        values = parse_env_file(_abs(str(env_file), base_dir), ctx.lookup)
        environment.update({k: v for k, v in values.items() if k not in ctx.environment})
    sub = Context(environment=environment, sources=ctx.sources, interpolate=ctx.interpolate,
                  warnings=ctx.warnings, unset=ctx.unset,
                  including=ctx.including + (including_file,))
    imported: dict[str, Any] = {}
    for file in files:
        imported = merge(imported, load_file(file, project_dir, sub))
    out = dict(model)
    for kind in ("services", "volumes", "networks", "secrets", "configs"):
        theirs = imported.get(kind) or {}
        if not theirs:
            continue
        ours = dict(out.get(kind) or {})
        for key, value in theirs.items():
            ours[key] = merge(value, ours[key], (kind, key)) if key in ours else value
        out[kind] = ours
    return out
