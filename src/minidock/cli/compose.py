"""`minidock compose`: the project options, and `config`, the normalised model."""

from __future__ import annotations

import click


@click.group("compose")
@click.option("-f", "--file", "files", multiple=True, metavar="FILE",
              help="Compose configuration files")
@click.option("-p", "--project-name", metavar="NAME", help="Project name")
@click.option("--project-directory", metavar="DIR",
              help="Alternate working directory (default: the first file's directory)")
@click.option("--profile", "profiles", multiple=True, metavar="PROFILE",
              help="Specify a profile to enable")
@click.option("--env-file", "env_files", multiple=True, metavar="FILE",
              help="Specify an alternate environment file")
@click.pass_context
def compose_group(ctx: click.Context, files: tuple[str, ...], project_name: str | None,
                  project_directory: str | None, profiles: tuple[str, ...],
                  env_files: tuple[str, ...]) -> None:
    """Define and run multi-container applications."""
    ctx.meta["compose"] = {"files": files, "project_name": project_name,
                           "project_directory": project_directory, "profiles": profiles,
                           "env_files": env_files}


@compose_group.command("config")
@click.argument("services", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml",
              help="Format the output")
@click.option("-q", "--quiet", is_flag=True, help="Only validate the configuration")
@click.option("--services", "list_services", is_flag=True,
              help="Print the service names, one per line")
@click.option("--volumes", "list_volumes", is_flag=True,
              help="Print the volume names, one per line")
@click.option("--profiles", "list_profiles", is_flag=True,
              help="Print the profile names, one per line")
@click.option("--images", "list_images", is_flag=True,
              help="Print the image names, one per line")
@click.option("--no-interpolate", is_flag=True, help="Don't interpolate environment variables")
@click.option("-o", "--output", metavar="FILE", help="Save to file (default to stdout)")
@click.pass_context
def config(ctx: click.Context, services: tuple[str, ...], fmt: str, quiet: bool,
           list_services: bool, list_volumes: bool, list_profiles: bool, list_images: bool,
           no_interpolate: bool, output: str | None) -> None:
    """Parse, resolve and render the compose file in canonical format."""
    from minidock.compose.files import ProjectOptions
    from minidock.compose.model import dependency_order
    from minidock.compose.project import load_project
    from minidock.compose.render import escape_dollars, ordered, to_json, to_yaml

    options = ProjectOptions(**ctx.meta["compose"], interpolate=not no_interpolate,
                             services=services)
    project = load_project(options)
    for warning in project.warnings:
        click.echo(f"WARN[0000] {warning}", err=True)
    if quiet:
        return
    listing = (dependency_order(project.services) if list_services else
               project.all_volumes if list_volumes else
               project.all_profiles if list_profiles else
               [s.get("image") or f"{project.name}-{name}"
                for name, s in sorted(project.services.items())] if list_images else None)
    if listing is not None:
        for name in listing:
            click.echo(name)
        return
    model = ordered(project.model, typed=not no_interpolate, for_json=fmt == "json")
    text = to_json(model) if fmt == "json" else to_yaml(model)  # JSON: no final newline
    if not no_interpolate:
        text = escape_dollars(text)
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        click.echo(text, nl=False)
