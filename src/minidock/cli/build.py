"""`minidock build` and `minidock builder prune`: the classic builder's words on screen."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from minidock.cli.output import human_size, human_size4
from minidock.settings import Settings


class ClassicPrinter:
    """Renders build events the way the classic `docker build` printed them."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.warnings: list[str] = []
        self._at_line_start = True

    def _line(self, text: str) -> None:
        if not self._at_line_start:
            click.echo("")
        click.echo(text)
        self._at_line_start = True

    def __call__(self, event: object) -> None:
        from minidock.builder import events as ev

        if isinstance(event, ev.BuildWarning):
            self.warnings.append(event.message)
            return
        if self.quiet:
            return
        if isinstance(event, ev.ContextLoaded):
            self._line(f"Sending build context to minidock  {human_size4(event.size)}")
        elif isinstance(event, ev.StepStarted):
            self._line(f"Step {event.number}/{event.total} : {event.text}")
        elif isinstance(event, ev.TriggersExecuting):
            plural = "trigger" if event.count == 1 else "triggers"
            self._line(f"# Executing {event.count} build {plural}")
        elif isinstance(event, ev.CacheHit):
            self._line(" ---> Using cache")
        elif isinstance(event, ev.ContainerStarted):
            self._line(f" ---> Running in {event.container_id}")
        elif isinstance(event, ev.StepOutput):
            out = sys.stdout.buffer
            out.write(event.data)
            out.flush()
            self._at_line_start = event.data.endswith(b"\n")
        elif isinstance(event, ev.ContainerRemoved):
            self._line(f"Removing intermediate container {event.container_id}")
        elif isinstance(event, ev.StepDone):
            self._line(f" ---> {event.image_id}")
        elif isinstance(event, ev.BuildFinished):
            for warning in self.warnings:
                self._line(warning)
            self.warnings = []
            self._line(f"Successfully built {event.image_id[7:19]}")
        elif isinstance(event, ev.Tagged):
            self._line(f"Successfully tagged {event.reference}")

    def flush_warnings(self) -> None:
        for warning in self.warnings:
            click.echo(warning, err=True)
        self.warnings = []


def _build_args(values: tuple[str, ...]) -> dict[str, str | None]:
    """`K=V` sets a value; a bare `K` takes it from the environment (unset: ignored)."""
    import os

    out: dict[str, str | None] = {}
    for item in values:
        key, sep, value = item.partition("=")
        out[key] = value if sep else os.environ.get(key)
    return out


def _labels(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in values:
        key, _, value = item.partition("=")
        out[key] = value
    return out


@click.command("build")
@click.option("-t", "--tag", "tags", multiple=True, metavar="REF",
              help="Name and optionally a tag (name:tag); may be repeated.")
@click.option("-f", "--file", "dockerfile", metavar="FILE",
              help="Name of the Dockerfile (default: PATH/Dockerfile; - reads stdin).")
@click.option("--build-arg", "build_args", multiple=True, metavar="K[=V]",
              help="Set a build-time variable.")
@click.option("--target", metavar="STAGE", help="Build up to this stage.")
@click.option("--no-cache", is_flag=True, help="Do not use the build cache.")
@click.option("--pull", is_flag=True, help="Always try to pull newer base images.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the image ID.")
@click.option("--label", "labels", multiple=True, metavar="K=V", help="Set image labels.")
@click.option("--network", type=click.Choice(["default", "host", "none"]), default=None,
              help="Network for RUN steps (default: host).")
@click.option("--iidfile", metavar="FILE", help="Write the image ID to this file.")
@click.option("--compression", type=click.Choice(["zstd", "gzip", "none"]), default=None,
              help="Layer compression (default: $MINIDOCK_COMPRESSION or zstd).")
@click.option("--secret", "secrets", multiple=True, metavar="id=ID[,src=FILE|,env=VAR]",
              help="A secret for RUN --mount=type=secret; may be repeated.")
@click.option("--ssh", "ssh", multiple=True, metavar="default|ID=SOCKET",
              help="An ssh agent for RUN --mount=type=ssh (default: $SSH_AUTH_SOCK).")
@click.option("--explain", is_flag=True,
              help="After the build, say why each step was or was not a cache hit.")
@click.argument("path", metavar="PATH|-")
@click.pass_obj
def build(settings: Settings, tags: tuple[str, ...], dockerfile: str | None,
          build_args: tuple[str, ...], target: str | None, no_cache: bool, pull: bool,
          quiet: bool, labels: tuple[str, ...], network: str | None, iidfile: str | None,
          compression: str | None, secrets: tuple[str, ...], ssh: tuple[str, ...],
          explain: bool, path: str) -> None:
    """Build an image from a Dockerfile."""
    from minidock.builder import (
        BuildOptions,
        RunFailed,
        build_image,
        open_context,
        parse_secret,
        parse_ssh,
        source_date_epoch_from_env,
    )
    from minidock.store.store import Store

    if compression is not None:
        settings = Settings(root=settings.root, config_dir=settings.config_dir,
                            compression=compression, storage_driver=settings.storage_driver,
                            registry_mirror=settings.registry_mirror)
    store = Store(settings)
    printer = ClassicPrinter(quiet)
    options = BuildOptions(
        tags=list(tags), build_args=_build_args(build_args), target=target, no_cache=no_cache,
        pull=pull, labels=_labels(labels), network=None if network == "default" else network,
        compression=settings.compression, source_date_epoch=source_date_epoch_from_env(),
        secrets=dict(parse_secret(spec) for spec in secrets),
        ssh=dict(parse_ssh(spec) for spec in ssh))
    context, found = open_context(path, dockerfile, stdin=sys.stdin.buffer,
                                  tmp_parent=store.ensure().tmp_dir)
    with context:
        try:
            result = build_image(store, context, found.text, options,
                                 dockerfile_name=found.name, progress=printer)
        except RunFailed as exc:
            printer.flush_warnings()
            click.echo(exc.message, err=True)
            sys.exit(exc.exit_code)
        except BaseException:
            printer.flush_warnings()
            raise
    if iidfile:
        Path(iidfile).write_text(str(result.image_id))
    if quiet:
        click.echo(str(result.image_id))
    if explain and result.cache_record is not None:
        from minidock.cli.internals import explanation_lines

        click.echo("\n".join(explanation_lines(result.cache_record)))


@click.group("builder")
def builder_group() -> None:
    """Manage the build cache."""


@builder_group.command("prune")
@click.option("-a", "--all", "all_", is_flag=True,
              help="Remove all build cache (the same as without: minidock keeps no other).")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.pass_obj
def prune(settings: Settings, all_: bool, force: bool) -> None:
    """Remove the build cache and reclaim what only it used."""
    from minidock.builder import prune_build_cache
    from minidock.store.store import Store

    if not force:
        click.confirm("WARNING! This will remove all dangling build cache.\n"
                      "Are you sure you want to continue?", abort=True)
    reclaimed = prune_build_cache(Store(settings))
    click.echo(f"Total:\t{human_size(reclaimed)}")
