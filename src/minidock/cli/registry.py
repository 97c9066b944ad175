"""`pull`, `push`, `login`, `logout`: the registry commands and their Docker-like output.

Progress arrives from the library as events; on a terminal each layer has a line
redrawn in place with a bar, bytes and rate, otherwise each status change is one
plain line, and `-q` prints only the reference.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

import click

from minidock.registry.progress import TRANSFERRING, Progress
from minidock.settings import Settings

BAR_WIDTH = 50
REDRAW_INTERVAL = 0.1  # seconds between redraws of byte counts on a terminal


def human_size(n: float) -> str:
    """Docker's decimal units: 12.3MB."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.3g}{unit}"
        n /= 1000
    return f"{n:.3g}GB"


class ProgressView:
    """Shows layer events: lines redrawn in place on a TTY, one line per status otherwise."""

    def __init__(self, out: TextIO, *, tty: bool | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self.clock = clock
        self.lines: dict[str, str] = {}
        self.status: dict[str, str] = {}
        self.started: dict[str, float] = {}
        self.drawn = 0
        self.last_draw = 0.0

    def __call__(self, event: Progress) -> None:
        key = event.short_id
        changed = self.status.get(key) != event.status
        self.status[key] = event.status
        if event.status in TRANSFERRING:
            now = self.clock()
            start = self.started.setdefault(key, now)
            self.lines[key] = f"{key}: {event.status} " + self._bar(event, now - start)
        else:
            self.lines[key] = f"{key}: {event.status}"
        if not self.tty:
            if changed and event.status not in TRANSFERRING:
                self.out.write(self.lines[key] + "\n")
                self.out.flush()
            return
        now = self.clock()
        if changed or now - self.last_draw >= REDRAW_INTERVAL:
            self._draw(now)

    def _bar(self, event: Progress, elapsed: float) -> str:
        current, total = event.current, event.total
        filled = int(BAR_WIDTH * current / total) if total else BAR_WIDTH
        arrow = "=" * max(filled - 1, 0) + (">" if filled else "")
        bar = f"[{arrow:<{BAR_WIDTH}}]"
        rate = f"  {human_size(current / elapsed)}/s" if elapsed > 0 else ""
        return f"{bar} {human_size(current):>7}/{human_size(total)}{rate}"

    def _draw(self, now: float) -> None:
        if self.drawn:
            self.out.write(f"\x1b[{self.drawn}A")
        for text in self.lines.values():
            self.out.write(f"\x1b[2K{text}\n")
        self.drawn = len(self.lines)
        self.last_draw = now
        self.out.flush()

    def finish(self) -> None:
        if self.tty and self.lines:
            self._draw(self.clock())


@click.command()
@click.argument("reference")
@click.option("--platform", metavar="OS/ARCH[/VARIANT]",
              help="Pull this platform of a multi-platform image (default: this machine's).")
@click.option("-q", "--quiet", is_flag=True, help="Print only the image reference.")
@click.pass_obj
def pull(settings: Settings, reference: str, platform: str | None, quiet: bool) -> None:
    """Pull an image from a registry."""
    from minidock.reference import parse
    from minidock.registry import pull_image
    from minidock.store.store import Store

    ref = parse(reference)
    out = sys.stdout
    view = None
    if not quiet:
        path = ref.repository
        out.write(f"{ref.digest or ref.tag}: Pulling from {path}\n")
        out.flush()
        view = ProgressView(out)
    result = pull_image(Store(settings), ref, platform=platform, progress=view)
    if view is not None:
        view.finish()
        out.write(f"Digest: {result.digest}\n")
        state = "Downloaded newer image" if result.updated else "Image is up to date"
        out.write(f"Status: {state} for {ref}\n")
    out.write(f"{ref.full}\n")


@click.command()
@click.argument("reference")
@click.option("-q", "--quiet", is_flag=True, help="Print only the image reference.")
@click.pass_obj
def push(settings: Settings, reference: str, quiet: bool) -> None:
    """Push an image to a registry."""
    from minidock.reference import parse
    from minidock.registry import push as push_image
    from minidock.store.store import Store

    ref = parse(reference)
    out = sys.stdout
    view = None
    if not quiet:
        out.write(f"The push refers to repository [{ref.name}]\n")
        out.flush()
        view = ProgressView(out)
    result = push_image(Store(settings), ref, progress=view)
    if view is not None:
        view.finish()
        out.write(f"{ref.tag}: digest: {result.digest} size: {result.size}\n")
    else:
        out.write(f"{ref.full}\n")


@click.command()
@click.argument("registry", required=False, default="docker.io")
@click.option("-u", "--username", help="Username.")
@click.option("-p", "--password", help="Password (prefer --password-stdin).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_obj
def login(settings: Settings, registry: str, username: str | None, password: str | None,
          password_stdin: bool) -> None:
    """Log in to a registry; the credentials are stored in config.json."""
    from minidock.errors import UsageError
    from minidock.registry import login as do_login
    from minidock.registry.config import CONFIG_NAME

    if password is not None and password_stdin:
        raise UsageError("--password and --password-stdin are mutually exclusive")
    if password is not None:
        click.echo("WARNING! Using --password via the CLI is insecure. Use --password-stdin.",
                   err=True)
    if password_stdin:
        if not username:
            raise UsageError("Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    interactive = sys.stdin.isatty()
    if not username:
        if not interactive:
            raise UsageError("Cannot perform an interactive login from a non TTY device")
        username = click.prompt("Username")
    if password is None:
        if not interactive:
            raise UsageError("Cannot perform an interactive login from a non TTY device")
        password = click.prompt("Password", hide_input=True)
    do_login(settings, registry, username or "", password or "")
    click.echo(f"WARNING! Your password will be stored unencrypted in "
               f"{settings.config_dir / CONFIG_NAME}.", err=True)
    click.echo("Login Succeeded")


@click.command()
@click.argument("registry", required=False, default="docker.io")
@click.pass_obj
def logout(settings: Settings, registry: str) -> None:
    """Forget the stored credentials of a registry."""
    from minidock.registry import logout as do_logout

    if do_logout(settings, registry):
        click.echo(f"Removing login credentials for {registry}")
    else:
        click.echo(f"Not logged in to {registry}")
