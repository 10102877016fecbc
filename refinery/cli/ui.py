"""`refinery ui`: the Dagster UI (asset graph, run history, checks) on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from refinery.cli.common import load


@click.command()
@click.option("--port", default=3000, show_default=True)
def ui(port: int) -> None:
    """Serve the Dagster UI (asset graph, run history, checks) on 127.0.0.1."""
    load()

    command = [
        str(Path(sys.executable).parent / "dagster"),
        "dev",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-m",
        "dagster_project.definitions",
    ]
    click.echo(f"Dagster UI on http://127.0.0.1:{port} (Ctrl-C to stop)", err=True)
    try:
        sys.exit(subprocess.call(command))
    except KeyboardInterrupt:
        sys.exit(0)
