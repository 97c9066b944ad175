"""What every command family shares: the settings and store of the invocation,
Docker's per-item error reporting, its `[y/N]` prompt, and the three output
forms (table, json, Go template) of lists and documents."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import click

from minidock.cli.output import go_json, render_table
from minidock.errors import MinidockError, NotFoundError
from minidock.settings import Settings

if TYPE_CHECKING:
    from minidock.store.store import Store


# Docker's spelling of the options most commands share
FORMAT_HELP = "Format output using a Go template"
format_option = click.option("--format", "fmt", metavar="STRING", help=FORMAT_HELP)
format_option_short = click.option("-f", "--format", "fmt", metavar="STRING", help=FORMAT_HELP)
force_option = click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
filter_option = click.option("--filter", "filters", multiple=True,
                             help="Provide filter values (e.g. 'until=<timestamp>')")


def settings_of(ctx: click.Context) -> Settings:
    """The settings the `minidock` group made (or the environment's, outside it)."""
    return ctx.obj if isinstance(ctx.obj, Settings) else Settings.from_env()


def open_store(ctx: click.Context) -> Store:
    from minidock.store.store import Store  # not every command needs the image store

    return Store(settings_of(ctx))


def fail_each(items: Iterable[str], action: Callable[[str], object], *,
              missing_ok: bool = False) -> int:
    """Run `action(item)` for each item, printing errors as Docker does; how many failed.
    With `missing_ok` (`rm -f`, `rmi -f`) an object that does not exist is reported
    but is no failure."""
    failures = 0
    for item in items:
        try:
            action(item)
        except MinidockError as exc:
            click.echo(f"Error: {exc.message}", err=True)
            if not (missing_ok and isinstance(exc, NotFoundError)):
                failures += 1
    return failures


def confirm(message: str) -> bool:
    """Docker's `[y/N]` prompt; anything but y/yes (or no input) declines."""
    click.echo(f"{message}\nAre you sure you want to continue? [y/N] ", nl=False)
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def format_rows(spec: str | None, contexts: list[dict[str, Any]], headers: dict[str, Any],
                default_columns: list[str]) -> str:
    """Render rows as docker's --format does: table (default), json, or a template."""
    from minidock.cli.gotemplate import Template

    if spec == "json":
        return "".join(go_json({k: v for k, v in c.items() if not callable(v)}) + "\n"
                       for c in contexts)
    if not spec or spec == "table":
        rows = [[headers[k] for k in default_columns]]
        rows += [[c[k] for k in default_columns] for c in contexts]
        return render_table(rows)
    table = spec.startswith("table")
    body = spec[len("table"):].strip() if table else spec
    body = body.replace("\\t", "\t").replace("\\n", "\n")
    template = Template(body)
    if not table:
        return "".join(template.render(c) + "\n" for c in contexts)
    lines = [template.render(headers)] + [template.render(c) for c in contexts]
    return render_table([line.split("\t") for line in lines])


def print_documents(documents: list[dict[str, Any]], fmt: str | None,
                    nil_hints: Mapping[str, Any] | None = None) -> None:
    """`inspect` output: each document through the `--format` template, else one
    indented JSON array."""
    if fmt:
        from minidock.cli.gotemplate import Template

        template = Template(fmt.replace("\\t", "\t").replace("\\n", "\n"), nil_hints)
        for doc in documents:
            click.echo(template.render(doc))
    else:
        click.echo(go_json(documents, indent=4))
