"""The builder: evaluate -> cache lookup -> execute -> commit, step by step.

The Dockerfile frontend evaluates each stage purely (config changes, history
text, cache-key text, effects). For every step the builder forms the cache
key from the parent image ID and that text (plus the source digest for
COPY/ADD and bind-mount digests for RUN); on a hit it reuses the cached image,
otherwise it performs the effect: COPY/ADD write a layer straight from the
context, WORKDIR creates a missing directory, RUN runs a container through the
executor, and metadata steps only record history. Every step's image is
written (unlisted) and entered in the build cache; only the final image is
added to the image list, with its tags.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import posixpath
import secrets
import shutil
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minidock.builder import events as ev
from minidock.builder.add import ArchiveExpander, fetch_url, is_url
from minidock.builder.cachekey import step_key
from minidock.builder.commit import Committer, StepImage, load_step_image
from minidock.builder.context import BuildContext, context_size
from minidock.builder.copyplan import CopyOptions, CopyPlan, InlineFile, plan_copy, plan_mkdir
from minidock.builder.executor import Executor, RunMount, RunRequest, SandboxExecutor
from minidock.builder.imageconfig import BuildClock, child_config, scratch_config
from minidock.builder.imagefs import ImageFS
from minidock.builder.owners import resolve_chown, resolve_user
from minidock.builder.sources import ContextTree, ImageTree, SourceTree
from minidock.digest import Digest
from minidock.dockerfile import (
    CopyEffect,
    ImageBase,
    PlannedStage,
    RunEffect,
    ScratchBase,
    StageBase,
    Step,
    WorkdirEffect,
    load,
)
from minidock.dockerfile.dockerignore import IgnoreMatcher
from minidock.dockerfile.mounts import Mount
from minidock.errors import BuildError, MinidockError, UsageError
from minidock.fsutil import remove_tree
from minidock.layer.entry import Entry, EntryKind
from minidock.reference import Reference, parse
from minidock.store.buildlog import BuildLog, BuildRecord, StepLookup
from minidock.store.store import CACHE_MOUNTS_DIR, Image, Store

DEFAULT_RUN_NETWORK = "host"


class RunFailed(BuildError):
    """A RUN step's command exited non-zero (Docker's wording, exit status 1)."""

    def __init__(self, command: str, code: int):
        super().__init__(f"The command '{command}' returned a non-zero code: {code}")
        self.command = command
        self.code = code


@dataclass
class BuildOptions:
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str | None] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    pull: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    network: str | None = None  # RUN network when the step says "default": host unless set
    compression: str = "zstd"
    source_date_epoch: int | None = None
    secrets: dict[str, bytes] = field(default_factory=dict)  # id -> content (--secret)
    ssh: dict[str, str] = field(default_factory=dict)  # id -> agent socket (--ssh)


@dataclass(frozen=True)
class BuildResult:
    image: Image
    tags: tuple[Reference, ...]
    cache_record: BuildRecord | None = None
    """Each step's cache lookup, with those of the build of this Dockerfile before."""

    @property
    def image_id(self) -> Digest:
        return self.image.id


def source_date_epoch_from_env(env: Mapping[str, str] | None = None) -> int | None:
    """SOURCE_DATE_EPOCH as an int, None when unset; a bad value is a usage error."""
    text = (os.environ if env is None else env).get("SOURCE_DATE_EPOCH")
    if text is None or text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"invalid SOURCE_DATE_EPOCH {text!r}: an integer is expected") from None
    if value < 0:
        raise UsageError(f"invalid SOURCE_DATE_EPOCH {text!r}: must not be negative")
    return value


def _short(digest: Digest) -> str:
    return digest.short


def _container_id() -> str:
    return secrets.token_hex(6)


class _Build:
    """One build's state: the store, the context, options and per-stage results."""

    def __init__(self, store: Store, context: BuildContext, options: BuildOptions,
                 progress: ev.Progress, executor: Executor | None):
        self.store = store
        self.context = context
        self.options = options
        self.progress = progress
        self._executor = executor
        self.clock = BuildClock(options.source_date_epoch)
        self.committer = Committer(store, options.compression, options.source_date_epoch)
        self.stage_results: dict[int, StepImage | None] = {}
        self.stage_names: dict[int, str] = {}
        self._context_views: dict[str, Path] = {}  # context dir -> its filtered view
        self._layer_dirs: dict[Digest, Path] = {}
        self._images: dict[str, StepImage] = {}
        self._scratch = store.ensure().blobs.temp_dir("build")  # cleaned if we are killed
        self.scratch = self._scratch.path
        self.rootless = os.geteuid() != 0
        self.lookups: list[StepLookup] = []
        self.instruction = ""  # the step being built, as written: what a lookup is about

    def close(self) -> None:
        self._scratch.close()

    # ---- images and their file trees ------------------------------------------------
    @property
    def executor(self) -> Executor:
        if self._executor is None:
            from minidock.runtime.storage import storage_driver

            # RUN bundles live in the build's owner-locked scratch dir: a build killed
            # mid-RUN leaves them where the store's temp cleaner removes them
            self._executor = SandboxExecutor(self.scratch, storage_driver(self.store.settings))
        return self._executor

    def layer_dirs(self, image: StepImage | None) -> list[Path]:
        """The image's layers extracted in the store (bottom first)."""
        if image is None:
            return []
        view = Image(self.store, image.descriptor, image.manifest)
        view.__dict__["config"] = image.config  # already parsed and verified
        dirs = []
        for index, diff_id in enumerate(view.diff_ids):
            found = self._layer_dirs.get(diff_id)
            if found is None:
                found = self.store.extracted_layer(view, index, rootless=self.rootless)
                self._layer_dirs[diff_id] = found
            dirs.append(found)
        return dirs

    def image_fs(self, image: StepImage | None) -> ImageFS:
        return ImageFS(self.layer_dirs(image), rootless=self.rootless)

    def local_or_pulled(self, ref: str, *, pull: bool, platform: str | None = None,
                        ) -> StepImage:
        """An image for FROM / --from: from the store, or pulled from its registry."""
        cached = self._images.get(ref)
        if cached is not None:
            return cached
        found: Image | None = None
        if not pull:
            try:
                found = self.store.find_image(ref)
            except MinidockError:
                found = None
        if found is None:
            found = self._pull(ref, platform, missing_locally=not pull)
        image = StepImage(found.manifest_descriptor, found.manifest, found.config)
        self._images[ref] = image
        return image

    def _pull(self, ref: str, platform: str | None, *, missing_locally: bool) -> Image:
        from minidock import registry

        hint = (f"load it with `minidock load -i FILE` (the fixture images come from "
                f"`fixtures/build_images.py`) or pull it with `minidock pull {ref}`")
        try:
            return registry.pull(self.store, ref, platform=platform)
        except MinidockError as exc:
            if missing_locally:
                raise BuildError(f"image {ref} is not in the store and could not be pulled: "
                                 f"{exc.message}", hint=exc.hint or hint) from None
            raise

    # ---- the build ----------------------------------------------------------------------
    def run(self, dockerfile_text: bytes, dockerfile_name: str) -> BuildResult:
        opts = self.options
        tags = tuple(parse(t) for t in opts.tags)
        for tag in tags:
            if tag.digest:
                raise UsageError(f"invalid tag {tag.familiar}: a tag cannot hold a digest")
        build_args = {k: v for k, v in opts.build_args.items() if v is not None}
        df = load(dockerfile_text, dockerfile_name)
        plan = df.plan(opts.target, build_args)
        size, files = context_size(self.context)
        self.progress(ev.ContextLoaded(size, files))
        total = sum(1 + len(p.stage.instructions) for p in plan.stages) + (
            1 if opts.labels else 0)
        number = 0
        final: StepImage | None = None
        for planned in plan.stages:
            if planned.stage.name:
                self.stage_names[planned.stage.index] = planned.stage.name
            number += 1
            self.progress(ev.StepStarted(number, total, planned.stage.from_.original))
            current = self._base_of(planned)
            if current is not None and not _has_triggers(current):
                self.progress(ev.StepDone(_short(current.id)))
            base_config = current.config.get("config") or {} if current is not None else None
            evaluation = plan.evaluate(planned, base_config)
            triggered = [s for s in evaluation.steps if s.triggered]
            if triggered:
                self.progress(ev.TriggersExecuting(len(triggered)))
            for step in evaluation.steps:
                if not step.triggered:
                    number += 1
                    self.progress(ev.StepStarted(number, total, step.instruction.original))
                self.instruction = step.instruction.original
                current = self._step(step, current, planned)
                if not step.triggered or step is triggered[-1]:
                    assert current is not None
                    self.progress(ev.StepDone(_short(current.id)))
            self.stage_results[planned.stage.index] = current
            final = current
        if opts.labels:
            number += 1
            shown = " ".join(f'"{k}"="{v}"' for k, v in opts.labels.items())
            self.progress(ev.StepStarted(number, total, f"LABEL {shown}"))
            self.instruction = f"LABEL {shown}"
            final = self._label_step(final, opts.labels, shown)
            self.progress(ev.StepDone(_short(final.id)))
        if final is None:
            final = self._scratch_image()
        for warning in plan.warnings:
            self.progress(ev.BuildWarning(warning))
        image = self.store.record_image(final.descriptor, tags)
        record = BuildLog(self.store.root).record(
            f"{self.context.root}\0{dockerfile_name}\0{opts.target or ''}", str(image.id),
            self.lookups)
        self.progress(ev.BuildFinished(str(image.id)))
        for tag in tags:
            self.progress(ev.Tagged(tag.familiar))
        return BuildResult(image, tags, record)

    def _base_of(self, planned: PlannedStage) -> StepImage | None:
        base = planned.base
        if isinstance(base, ScratchBase):
            return None
        if isinstance(base, StageBase):
            return self.stage_results[base.index]
        assert isinstance(base, ImageBase)
        platform = str(base.platform) if planned.stage.from_.platform else None
        return self.local_or_pulled(base.ref, pull=self.options.pull, platform=platform)

    def _scratch_image(self) -> StepImage:
        cfg = scratch_config()
        cfg["created"] = self.clock.timestamp()
        return self.committer.image(cfg, [])

    # ---- one step ------------------------------------------------------------------------
    def _cached(self, key: str) -> StepImage | None:
        digest = None if self.options.no_cache else self.store.cache.get(key)
        hit = None if digest is None else load_step_image(self.store, digest)
        self.lookups.append(StepLookup(self.instruction, key, hit is not None))
        return hit

    def _commit(self, parent: StepImage | None, step_config: dict[str, Any], created_by: str,
                layer: tuple[Any, Digest] | None, key: str, author: str | None) -> StepImage:
        parent_config = parent.config if parent is not None else scratch_config()
        cfg = child_config(parent_config, step_config, created_by=created_by,
                           created=self.clock.timestamp(),
                           diff_id=layer[1] if layer is not None else None, author=author)
        layers = list(parent.layers) if parent is not None else []
        if layer is not None:
            layers.append(layer[0])
        image = self.committer.image(cfg, layers)
        self.store.cache.put(key, image.descriptor.digest)
        return image

    def _step(self, step: Step, parent: StepImage | None, planned: PlannedStage) -> StepImage:
        parent_id = str(parent.id) if parent is not None else "scratch"
        config = step.state.image_config()
        author = step.state.author
        effect = step.effects[0] if step.effects else None
        if isinstance(effect, CopyEffect):
            return self._copy_step(step, effect, parent, parent_id, config, author)
        if isinstance(effect, RunEffect):
            return self._run_step(step, effect, parent, parent_id, config, author)
        key = step_key(parent_id, step.cache_text())
        hit = self._cached(key)
        if hit is not None:
            self.progress(ev.CacheHit())
            return hit
        if isinstance(effect, WorkdirEffect):
            layer = self._workdir_layer(effect, parent)
            if layer is not None:
                return self._commit(parent, config, step.created_by(), layer, key, author)
        container = _container_id()
        self.progress(ev.ContainerStarted(container))
        image = self._commit(parent, config, step.created_by(), None, key, author)
        self.progress(ev.ContainerRemoved(container))
        return image

    def _label_step(self, parent: StepImage | None, labels: dict[str, str],
                    shown: str) -> StepImage:
        base = dict((parent.config.get("config") or {}) if parent is not None else {})
        merged = dict(base.get("Labels") or {})
        merged.update(labels)
        base["Labels"] = merged
        parent_id = str(parent.id) if parent is not None else "scratch"
        created_by = f"/bin/sh -c #(nop)  LABEL {shown}"
        key = step_key(parent_id, created_by)
        hit = self._cached(key)
        if hit is not None:
            self.progress(ev.CacheHit())
            return hit
        container = _container_id()
        self.progress(ev.ContainerStarted(container))
        image = self._commit(parent, base, created_by, None, key, None)
        self.progress(ev.ContainerRemoved(container))
        return image

    # ---- WORKDIR --------------------------------------------------------------------------
    def _workdir_layer(self, effect: WorkdirEffect, parent: StepImage | None
                       ) -> tuple[Any, Digest] | None:
        """A layer creating the working directory, or None when it already exists.

        BuildKit's rule: a `mkdir -p` as USER, so every directory it creates is
        0755 and owned by USER (root when unset); existing parents are untouched.
        """
        fs = self.image_fs(parent)
        if fs.is_dir(effect.path):
            return None
        owner = resolve_user(effect.user, fs) if effect.user else None
        entries = plan_mkdir(effect.path, image=fs,
                             opts=CopyOptions(owner=owner, now=self.clock.now(),
                                              clamp=self.options.source_date_epoch))
        return self.committer.layer_from_entries(entries)

    # ---- COPY / ADD ------------------------------------------------------------------------
    def _source_tree(self, effect: CopyEffect) -> tuple[SourceTree, str]:
        if effect.from_stage is not None:
            name = self.stage_names.get(effect.from_stage, str(effect.from_stage))
            image = self.stage_results.get(effect.from_stage)
            return ImageTree(self.image_fs(image), f"stage {name}"), f"stage {name}"
        if effect.from_image is not None:
            image = self.local_or_pulled(effect.from_image, pull=False)
            return ImageTree(self.image_fs(image), f"image {effect.from_image}"), \
                f"image {effect.from_image}"
        return ContextTree(self.context), "build context"

    def _plan_copy(self, effect: CopyEffect, parent: StepImage | None) -> CopyPlan:
        instruction = "ADD" if effect.is_add else "COPY"
        if effect.parents:
            raise BuildError("COPY --parents is not supported by minidock")
        if effect.is_add and any(_is_git(s) for s in effect.sources):
            raise BuildError("ADD of a git repository is not supported by minidock")
        dest_image = ImageFS([]) if effect.link else self.image_fs(parent)
        owner = None
        if effect.chown:
            owner = resolve_chown(effect.chown, self.image_fs(parent), instruction)
        exclude = None
        if effect.exclude:
            matcher = IgnoreMatcher(effect.exclude)
            exclude = matcher.matches
        opts = CopyOptions(owner=owner, chmod=effect.chmod.apply if effect.chmod else None,
                           exclude=exclude, now=self.clock.now(),
                           clamp=self.options.source_date_epoch)
        sources: list[str | InlineFile] = [
            InlineFile(f.path, f.data, f.mode) for f in effect.files]
        tree: SourceTree | None = None
        local = [s for s in effect.sources if not (effect.is_add and is_url(s))]
        if local or not effect.files:
            tree, _ = self._source_tree(effect)
        for src in effect.sources:
            if effect.is_add and is_url(src):
                if effect.from_stage is not None:
                    raise BuildError(f"{instruction} failed: --from and a URL source")
                sources.append(fetch_url(src, self.scratch / "downloads",
                                         checksum=effect.checksum, instruction=instruction))
            else:
                sources.append(src)
        expand = None
        if effect.is_add and effect.unpack is not False:
            expand = ArchiveExpander(self.scratch / "archives", instruction, image=dest_image)
        return plan_copy(tree, sources, effect.dest, workdir="/", image=dest_image,
                         opts=opts, instruction=instruction, expand=expand)

    def _copy_step(self, step: Step, effect: CopyEffect, parent: StepImage | None,
                   parent_id: str, config: dict[str, Any], author: str | None) -> StepImage:
        plan = self._plan_copy(effect, parent)
        source_hash = plan.history_source
        key = step_key(parent_id, step.cache_text(source_hash), sources=plan.digest)
        hit = self._cached(key)
        if hit is not None:
            self.progress(ev.CacheHit())
            return hit
        layer = self.committer.layer_from_entries(plan.entries)
        return self._commit(parent, config, step.created_by(source_hash), layer, key, author)

    # ---- RUN ------------------------------------------------------------------------------
    def _mounts(self, effect: RunEffect, fs: ImageFS) -> _RunMounts:
        """Host sources for RUN --mount (and heredoc scripts), the mount targets the
        image lacks, digests of bound content for the cache key, and the variables
        secret and ssh mounts set."""
        out = _RunMounts()
        mounts, digests = out.mounts, out.digests
        for mount in effect.mounts:
            if mount.type in ("secret", "ssh"):
                if not self._optional_mount(mount, out):
                    continue
            elif mount.type == "cache":
                mounts.append(RunMount(self._cache_mount_dir(mount), mount.target, False))
            elif mount.type == "tmpfs":
                path = Path(tempfile.mkdtemp(prefix="tmpfs-", dir=self.scratch))
                mounts.append(RunMount(path, mount.target, False))
            else:
                source, digest = self._bind_source(mount)
                digests[mount.target] = digest
                mounts.append(RunMount(source, mount.target, not _writable(mount)))
            if not fs.exists(mount.target):
                out.scratch_paths.append(mount.target)
        for inline in effect.files:
            path = self.scratch / f"script-{hashlib.sha256(inline.data).hexdigest()[:16]}"
            path.write_bytes(inline.data)
            os.chmod(path, inline.mode)
            mounts.append(RunMount(path, inline.path, True))
        return out

    def _optional_mount(self, mount: Mount, out: _RunMounts) -> bool:
        """Add a secret or ssh mount given to the build; False when it is not mounted.

        One the build was not given is skipped unless `required`, as in BuildKit.
        A secret is a private read-only file (0400 root unless mode/uid/gid say
        otherwise) or only a variable (`env=`); its content never reaches a
        layer or the cache key.
        """
        given: bytes | str | None = (self.options.secrets if mount.type == "secret"
                                     else self.options.ssh).get(mount.id)
        if given is None:
            if mount.required:
                what = "secret" if mount.type == "secret" else "ssh agent"
                raise BuildError(f"RUN --mount=type={mount.type}: no {what} with id "
                                 f"{mount.id!r} was given to this build")
            return False
        if isinstance(given, str):  # an agent socket
            out.mounts.append(RunMount(Path(given), mount.target, False))
            out.env.append(f"SSH_AUTH_SOCK={mount.target}")
            return True
        if mount.env:
            out.env.append(f"{mount.env}={given.decode('utf-8', 'surrogateescape')}")
        if not mount.target:
            return False
        secrets_dir = self.scratch / "secrets"
        secrets_dir.mkdir(mode=0o700, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=secrets_dir)
        with os.fdopen(fd, "wb") as f:
            f.write(given)
        path = Path(name)
        if not self.rootless:
            os.chown(path, mount.uid or 0, mount.gid or 0)
        os.chmod(path, mount.mode if mount.mode is not None else 0o400)
        out.mounts.append(RunMount(path, mount.target, True))
        return True

    def _cache_mount_dir(self, mount: Mount) -> Path:
        """`RUN --mount=type=cache`: a directory kept in the store between builds."""
        ident = mount.id or mount.target
        path = self.store.root / CACHE_MOUNTS_DIR / hashlib.sha256(
            ident.encode()).hexdigest()[:32]
        if not path.is_dir():
            path.mkdir(parents=True, exist_ok=True)
            os.chmod(path, mount.mode if mount.mode is not None else 0o755)
            if mount.uid is not None or mount.gid is not None:
                os.chown(path, mount.uid or 0, mount.gid or 0)
        return path

    def _bind_source(self, mount: Mount) -> tuple[Path, str]:
        """What a bind mount shows (context or stage/image path) and its digest."""
        source = mount.source or "/"
        if mount.from_stage is None and mount.from_image is None:
            tree: SourceTree = ContextTree(self.context)
        elif mount.from_stage is not None:
            tree = ImageTree(self.image_fs(self.stage_results.get(mount.from_stage)),
                             f"stage {mount.from_stage}")
        else:
            tree = ImageTree(self.image_fs(self.local_or_pulled(mount.from_image or "",
                                                                pull=False)),
                             f"image {mount.from_image}")
        rel = tree.resolve(source, "RUN --mount")
        st = tree.lstat(rel)
        if st is None:
            raise BuildError(f"RUN --mount failed: {source} not found in {tree.description}")
        plan = plan_copy(tree, [source], "/m/", workdir="/", image=ImageFS([]),
                         opts=CopyOptions(), instruction="RUN --mount")
        if isinstance(tree, ContextTree) and not _writable(mount):
            if not stat.S_ISDIR(st.st_mode) or not self.context.ignore.active:
                return tree.host_path(rel), plan.digest
            return self._context_view(rel, plan.entries), plan.digest
        # a private copy: image trees are spread over layers, and rw binds must not
        # change their source
        copy_dir = Path(tempfile.mkdtemp(prefix="bind-", dir=self.scratch))
        _materialize(plan.entries, "m", copy_dir)
        inner = copy_dir
        if not stat.S_ISDIR(st.st_mode):
            inner = copy_dir / posixpath.basename(source.rstrip("/") or "m")
        return inner, plan.digest

    def _context_view(self, rel: str, entries: list[Entry]) -> Path:
        """A context directory as .dockerignore filters it, for a read-only bind.

        As BuildKit mounts the filtered context: a tree of hard links to the
        included files (the context's own inodes, so no file content is copied
        and modes, owners and times are the context's), made once per build.
        A context on another filesystem than the store is copied instead.
        """
        view = self._context_views.get(rel)
        if view is None:
            view = Path(tempfile.mkdtemp(prefix="context-view-", dir=self.scratch))
            _materialize(entries, "m", view, link=True)
            self._context_views[rel] = view
        return view

    def _run_step(self, step: Step, effect: RunEffect, parent: StepImage | None,
                  parent_id: str, config: dict[str, Any], author: str | None) -> StepImage:
        fs = self.image_fs(parent)
        bound = self._mounts(effect, fs)
        key = step_key(parent_id, step.cache_text(), extra=bound.digests)
        hit = self._cached(key)
        if hit is not None:
            self.progress(ev.CacheHit())
            return hit
        network = effect.network
        if network == "default":
            network = self.options.network or DEFAULT_RUN_NETWORK
        request = RunRequest(argv=list(effect.argv), env=[*effect.env, *bound.env],
                             cwd=effect.workdir, user=effect.user,
                             layers=self.layer_dirs(parent), network=network,
                             mounts=bound.mounts, scratch_paths=bound.scratch_paths)
        container = self.executor.create(request)
        try:
            short = container.id[:12]
            self.progress(ev.ContainerStarted(short))
            code = container.run(lambda data: self.progress(ev.StepOutput(data)))
            if code != 0:
                raise RunFailed(" ".join(effect.argv), code)
            layer = self.committer.write_layer(
                lambda sink: container.write_layer(sink, self.options.compression,
                                                   self.options.source_date_epoch))
        finally:
            container.remove()
        self.progress(ev.ContainerRemoved(short))
        return self._commit(parent, config, step.created_by(), layer, key, author)


@dataclass
class _RunMounts:
    """What a RUN step's mounts add to its container, and digests for its cache key."""

    mounts: list[RunMount] = field(default_factory=list)
    scratch_paths: list[str] = field(default_factory=list)  # targets the image lacks
    digests: dict[str, str] = field(default_factory=dict)
    env: list[str] = field(default_factory=list)


def _has_triggers(image: StepImage) -> bool:
    return bool((image.config.get("config") or {}).get("OnBuild"))


def _is_git(source: str) -> bool:
    return source.startswith("git@") or (is_url(source) and source.split("#")[0].endswith(
        ".git"))


def _writable(mount: Mount) -> bool:
    """Bind mounts are read-only unless `rw` (the frontend fills in that default)."""
    return not mount.readonly


def _materialize(entries: list[Entry], prefix: str, target: Path, *,
                 link: bool = False) -> None:
    """Write planned entries (paths under `prefix`) as real files below `target`;
    with `link`, a file from the host is a hard link to it where the filesystem
    allows (its mode is then its own)."""
    for entry in entries:
        rel = entry.path[len(prefix):].lstrip("/") if entry.path.startswith(prefix) else None
        if rel is None:
            continue
        dest = target / rel if rel else target
        if entry.kind is EntryKind.DIR:
            dest.mkdir(parents=True, exist_ok=True)
        elif entry.kind is EntryKind.FILE:
            dest.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(entry.source, bytes):
                dest.write_bytes(entry.source)
            elif entry.source is not None:
                if link and _hard_link(entry.source, dest):
                    continue
                shutil.copyfile(entry.source, dest)
            os.chmod(dest, entry.mode)
        elif entry.kind is EntryKind.SYMLINK:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(entry.linkname, dest)


def _hard_link(source: str, dest: Path) -> bool:
    """Link `dest` to the file `source` (never through a symlink); False where the
    filesystem refuses (another device, link limit, protected_hardlinks)."""
    try:
        os.link(source, dest, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.EXDEV, errno.EMLINK, errno.EPERM):
            return False
        raise
    return True


def build_image(store: Store, context: BuildContext, dockerfile: bytes, options: BuildOptions,
                *, dockerfile_name: str = "Dockerfile", progress: ev.Progress = ev.ignore,
                executor: Executor | None = None) -> BuildResult:
    """Build `dockerfile` with `context` into `store`; returns the final image.

    Raises DockerfileError for Dockerfile problems (with the line), BuildError
    for failed steps (RunFailed for a RUN that exits non-zero) and for a base
    image that is neither in the store nor pullable (its hint says how to load it).
    Completed steps stay in the build cache whatever happens.
    """
    store.ensure()
    with store.writing():
        build = _Build(store, context, options, progress, executor)
        try:
            return build.run(dockerfile, dockerfile_name)
        finally:
            build.close()


def prune_build_cache(store: Store) -> int:
    """Forget every build cache entry and cache mount; returns the bytes GC reclaimed."""
    if not store.root.is_dir():
        return 0
    sizes = {d: store.blobs.size(d) for d in store.blobs.all()}
    with store.lock():
        store.cache.prune()
    mounts = store.root / CACHE_MOUNTS_DIR
    reclaimed = 0
    if mounts.is_dir():
        for dirpath, _dirs, files in os.walk(mounts):
            for name in files:
                try:
                    reclaimed += os.lstat(os.path.join(dirpath, name)).st_size
                except OSError:
                    pass
        with contextlib.suppress(OSError):  # what cannot go now goes at the next prune
            remove_tree(mounts)
    removed = store.gc()
    return reclaimed + sum(sizes.get(d, 0) for d in removed)
