"""The `refinery` command.

    refinery run [--select SELECTION]…   materialize the asset graph through Dagster, in-process
    refinery status                       last syncs, funnel, labels, checks, releases
    refinery release list | show V | export V --format parquet|jsonl --out DIR
    refinery labels export-queue --out FILE [--task T]   the adjudication queue as a Label Studio import
    refinery ui [--port 3000]             the Dagster UI on 127.0.0.1

Every run is recorded in the Dagster instance under REFINERY_HOME/.dagster, so it shows in
the UI's history. Exit codes: 0 ok, 1 the pipeline failed, 2 bad configuration or input,
3 the warehouse is busy.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from refinery.cli.labels import labels
from refinery.cli.release import release
from refinery.cli.run import run
from refinery.cli.status import status
from refinery.cli.ui import ui


@click.group()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="refinery.yml to use (REFINERY_CONFIG).")
def main(config_path: str | None) -> None:
    """Refinery: raw sources → cleaned, labeled, versioned training data."""
    if config_path:
        os.environ["REFINERY_CONFIG"] = str(Path(config_path).resolve())


for command in (run, status, release, labels, ui):
    main.add_command(command)


if __name__ == "__main__":
    main()
