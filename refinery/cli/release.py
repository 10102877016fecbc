"""`refinery release list | show | export`: the published releases."""

from __future__ import annotations

import json
from pathlib import Path

import click

from refinery.cli.common import EXIT_CONFIG, fail, load


@click.group()
def release() -> None:
    """List, show and export published releases."""


@release.command("list")
def release_list() -> None:
    """Every published release."""
    config = load()
    from refinery.reporting import print_releases

    print_releases(config, click.echo)


@release.command("show")
@click.argument("version")
def release_show(version: str) -> None:
    """The manifest of release VERSION (e.g. v1)."""
    config = load()
    from refinery.release import ReleaseError, get_release

    try:
        click.echo(json.dumps(get_release(config, version), indent=2, default=str))
    except ReleaseError as exc:
        fail(str(exc), EXIT_CONFIG)


@release.command("export")
@click.argument("version")
@click.option("--format", "file_format", type=click.Choice(["parquet", "jsonl"]), default="parquet", show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True, help="An empty or new folder.")
def release_export(version: str, file_format: str, out_dir: str) -> None:
    """Write release VERSION as one file per split plus manifest.json."""
    config = load()
    from refinery.release import ReleaseError, export_release

    try:
        for path in export_release(config, version, file_format, Path(out_dir)):
            click.echo(str(path))
    except ReleaseError as exc:
        fail(str(exc), EXIT_CONFIG)
