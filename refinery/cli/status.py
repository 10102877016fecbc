"""`refinery status`: last syncs, the funnel, labels, checks and releases, read from the warehouse."""

from __future__ import annotations

import click

from ingestion.warehouse import WarehouseBusy
from refinery.cli.common import EXIT_BUSY, fail, load


@click.command()
def status() -> None:
    """Last syncs, the funnel, label coverage, check results and releases."""
    config = load()
    from refinery.reporting import print_status

    try:
        print_status(config, click.echo)
    except WarehouseBusy as exc:
        fail(str(exc), EXIT_BUSY)
