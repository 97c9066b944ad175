"""`image layers`, `image files` and `image analyze`: what an image's layers hold,
formatted from minidock.store.layers; `build-cache explain` and `build --explain`'s
report: why each build step was or was not a cache hit."""

from __future__ import annotations

import posixpath
import stat

import click

from minidock.cli.common import format_rows, open_store
from minidock.cli.output import human_size, render_table
from minidock.errors import NotFoundError
from minidock.store.buildlog import BuildRecord
from minidock.store.layers import Change, CIRules, FileInfo, ImageLayers, ci_failures

_TYPE_BITS = {"file": stat.S_IFREG, "hardlink": stat.S_IFREG, "dir": stat.S_IFDIR,
              "symlink": stat.S_IFLNK, "char": stat.S_IFCHR, "block": stat.S_IFBLK,
              "fifo": stat.S_IFIFO}

LAYER_HEADERS = {"Index": "INDEX", "DiffID": "DIFF ID", "Digest": "DIGEST", "Size": "SIZE",
                 "UncompressedSize": "UNCOMPRESSED", "Added": "ADDED", "Changed": "CHANGED",
                 "Removed": "REMOVED", "CreatedBy": "CREATED BY"}


@click.command("layers")
@click.argument("image")
@click.option("--format", "fmt", metavar="STRING",
              help="Format output: table, json, or a Go template")
@click.option("--no-trunc", is_flag=True, help="Don't truncate digests and instructions")
@click.pass_context
def layers(ctx: click.Context, image: str, fmt: str | None, no_trunc: bool) -> None:
    """Show the layers of an image, one row each, with what each changed."""
    stack = ImageLayers(open_store(ctx).image(image))
    contexts = []
    for info in stack.infos():
        created_by = " ".join(info.created_by.split())
        if not no_trunc and len(created_by) > 60:
            created_by = created_by[:59] + "…"
        contexts.append({
            "Index": str(info.index),
            "DiffID": str(info.diff_id) if no_trunc else info.diff_id.short,
            "Digest": str(info.digest) if no_trunc else info.digest.short,
            "Size": human_size(info.compressed_size),
            "UncompressedSize": human_size(info.uncompressed_size),
            "Added": str(info.added), "Changed": str(info.changed),
            "Removed": str(info.removed), "CreatedBy": created_by,
            "MediaType": info.media_type})
    click.echo(format_rows(fmt, contexts, LAYER_HEADERS, list(LAYER_HEADERS)), nl=False)


def _mode(info: FileInfo) -> str:
    return stat.filemode(_TYPE_BITS[info.kind] | info.mode)


def _columns(info: FileInfo) -> list[str]:
    name = info.path
    if info.kind == "symlink":
        name += " -> " + info.link_target
    elif info.kind == "hardlink":
        name += " link to /" + info.link_target.lstrip("/")
    return [_mode(info), f"{info.uid}:{info.gid}", str(info.size), name]


def _note(change: Change) -> str:
    if change.marker == "whiteout":
        hides = f", with {change.hidden} paths below it" if change.hidden else ""
        return f"  (whiteout {posixpath.join(posixpath.dirname(change.info.path), '.wh.')}" \
               f"{posixpath.basename(change.info.path)}{hides})"
    if change.marker == "opaque":
        return f"  (opaque directory: hides {change.hidden} lower paths)"
    return ""


def _within(path: str, prefix: str | None) -> bool:
    if not prefix or prefix == "/":
        return True
    prefix = "/" + prefix.strip("/")
    return path == prefix or path.startswith(prefix + "/")


def _draw_tree(paths: list[str], labels: dict[str, str]) -> list[str]:
    """`├──`-style lines for sorted absolute `paths`, each name followed by its label."""
    children: dict[str, list[str]] = {}
    for path in paths:
        parent = posixpath.dirname(path)
        children.setdefault(parent, []).append(path)
        while parent != "/" and parent not in labels:
            labels[parent] = ""
            grand = posixpath.dirname(parent)
            if parent not in children.get(grand, []):
                children.setdefault(grand, []).append(parent)
            parent = grand
    lines = ["/"]

    def walk(directory: str, indent: str) -> None:
        kids = sorted(children.get(directory, []))
        for n, kid in enumerate(kids):
            last = n == len(kids) - 1
            lines.append(f"{indent}{'└── ' if last else '├── '}{posixpath.basename(kid)}"
                         f"{labels[kid]}")
            walk(kid, indent + ("    " if last else "│   "))

    walk("/", "")
    return lines


@click.command("files")
@click.argument("image")
@click.argument("path", required=False)
@click.option("--layer", "index", type=int, metavar="N",
              help="Show the tree as of layer N (default: the last)")
@click.option("--changes", is_flag=True, help="Show only what layer N changed (A/C/D)")
@click.option("--tree", "as_tree", is_flag=True, help="Draw the files as a tree")
@click.pass_context
def files(ctx: click.Context, image: str, path: str | None, index: int | None, changes: bool,
          as_tree: bool) -> None:
    """List the files of an image as of a layer, or what one layer changed."""
    stack = ImageLayers(open_store(ctx).image(image))
    last = len(stack) - 1 if index is None else index
    if changes:
        rows = [c for c in stack.changes(last) if _within(c.info.path, path)]
        if as_tree:
            labels = {c.info.path: f"  [{c.action}]{_note(c)}" for c in rows}
            click.echo("\n".join(_draw_tree([c.info.path for c in rows], labels)))
            return
        table = [[c.action, *_columns(c.info)[:-1], _columns(c.info)[-1] + _note(c)]
                 for c in rows]
    else:
        tree = {p: info for p, info in stack.tree(last).items() if _within(p, path)}
        if as_tree:
            labels = {p: "" for p in tree}
            click.echo("\n".join(_draw_tree(list(tree), labels)))
            return
        table = [_columns(info) for info in tree.values()]
    if table:
        click.echo(render_table(table), nl=False)


def _size_option(value: str | None) -> int | None:
    from minidock.compose.units import parse_bytes

    if value is None:
        return None
    try:
        return parse_bytes(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("analyze")
@click.argument("image")
@click.option("--ci", is_flag=True, help="Exit 1 when a threshold is broken (dive's CI mode)")
@click.option("--lowest-efficiency", type=float, metavar="F",
              help="CI: lowest allowed efficiency, 0 to 1 (default 0.9)")
@click.option("--highest-wasted-bytes", metavar="SIZE",
              help="CI: highest allowed wasted bytes, e.g. 20MB (default: no limit)")
@click.option("--highest-user-wasted-percent", type=float, metavar="F",
              help="CI: highest allowed ratio of wasted bytes to the bytes above the first "
                   "layer (default 0.1)")
@click.option("--top", default=10, show_default=True, help="How many offenders to list")
@click.pass_context
def analyze(ctx: click.Context, image: str, ci: bool, lowest_efficiency: float | None,
            highest_wasted_bytes: str | None, highest_user_wasted_percent: float | None,
            top: int) -> None:
    """Score how much of an image's size is wasted, as dive does."""
    defaults = CIRules()
    rules = CIRules(
        defaults.lowest_efficiency if lowest_efficiency is None else lowest_efficiency,
        _size_option(highest_wasted_bytes),
        defaults.highest_user_wasted_percent if highest_user_wasted_percent is None
        else highest_user_wasted_percent)
    result = ImageLayers(open_store(ctx).image(image)).analyze()
    click.echo(f"efficiency: {result.efficiency * 100:.4f} %")
    click.echo(f"wastedBytes: {result.wasted_bytes} bytes ({human_size(result.wasted_bytes)})")
    click.echo(f"userWastedPercent: {result.user_wasted_percent * 100:.4f} %")
    if result.offenders:
        rows = [["Count", "Total Space", "Path"]]
        rows += [[str(o.count), human_size(o.total_size), o.path]
                 for o in result.offenders[:top]]
        click.echo("Inefficient Files:")
        click.echo(render_table(rows), nl=False)
    if not ci:
        return
    failures = ci_failures(result, rules)
    for line in failures:
        click.echo(f"FAIL: {line}")
    if failures:
        ctx.exit(1)
    click.echo("PASS")


def explanation_lines(record: BuildRecord) -> list[str]:
    """`hit`/`miss` per cache lookup with the key's parts, and for a miss why."""
    from minidock.builder.explain import explain

    lines = []
    for step in explain(record):
        if step.hit:
            lines.append(f"hit   {step.instruction}")
        else:
            lines.append(f"miss  {step.instruction}: {'; '.join(step.reasons)}")
        for name, value in step.parts.items():
            shown = " ".join(f"{k}={v}" for k, v in value.items()) if isinstance(
                value, dict) else str(value).replace("\n", "\\n")
            lines.append(f"        {name}: {shown}")
    return lines


@click.group("build-cache")
def build_cache_group() -> None:
    """Look into the build cache."""


@build_cache_group.command("explain")
@click.argument("image")
@click.pass_context
def explain_command(ctx: click.Context, image: str) -> None:
    """Why each step of the build that made IMAGE was or was not a cache hit."""
    from minidock.store.buildlog import BuildLog

    store = open_store(ctx)
    found = store.image(image)
    record = BuildLog(store.root).of_image(str(found.id))
    if record is None:
        raise NotFoundError(f"no build of {image} was recorded in this store "
                            "(it was pulled, loaded, or built before builds were recorded)")
    click.echo("\n".join(explanation_lines(record)))
