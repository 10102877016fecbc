"""`refinery labels export-queue`: the adjudication queue as a Label Studio import file."""

from __future__ import annotations

from pathlib import Path

import click

from ingestion.warehouse import WarehouseBusy
from refinery.cli.common import EXIT_BUSY, EXIT_CONFIG, fail, load


@click.group()
def labels() -> None:
    """Label workflows: export the adjudication queue for Label Studio."""


@labels.command("export-queue")
@click.option("--out", "out_file", type=click.Path(), required=True, help="The JSON file to write.")
@click.option("--task", "task", default=None, help="Only this task (labeling control); default: every task.")
@click.option(
    "--to-name",
    default="text",
    show_default=True,
    help="The Label Studio object tag the choices refer to (its name, and the data key of the text).",
)
def labels_export_queue(out_file: str, task: str | None, to_name: str) -> None:
    """Write marts.adjudication_queue as a Label Studio import file (votes and predictions as pre-annotations)."""
    config = load()
    from refinery.labels.export_queue import ExportError, export_queue

    try:
        written, textless = export_queue(config, Path(out_file), task=task, to_name=to_name)
    except ExportError as exc:
        fail(str(exc), EXIT_CONFIG)
    except WarehouseBusy as exc:
        fail(str(exc), EXIT_BUSY)
    click.echo(f"{written} items to adjudicate written to {out_file}")
    if textless:
        click.echo(
            f"warning: {textless} of them have no text; their adjudication cannot be matched back to the item "
            "(docs/labeling/adjudication.md)",
            err=True,
        )
