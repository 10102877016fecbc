"""`refinery run`: materialize the asset graph through Dagster, in-process, and print what happened."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime

import click

from ingestion.warehouse import WarehouseBusy
from refinery.cli.common import EXIT_BUSY, EXIT_CONFIG, EXIT_FAILED, fail, load
from refinery.config import ConfigError


@click.command()
@click.option(
    "--select",
    "selections",
    multiple=True,
    help="Dagster asset selection, e.g. 'key:raw/tickets__records+' or 'group:ingestion'. Repeatable.",
)
def run(selections: tuple[str, ...]) -> None:
    """Run every stage (or a selection) and publish a release if the content changed."""
    config = load()
    from ingestion.warehouse import warehouse_lock

    started = datetime.now(UTC)
    os.environ["REFINERY_PROGRESS"] = "1"
    try:
        with warehouse_lock(config.warehouse_dir):
            click.echo(f"refinery run: {len(config.sources)} sources from {config.path}", err=True)
            result = _execute(selections)
    except WarehouseBusy as exc:
        fail(str(exc), EXIT_BUSY)
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG)
    except Exception as exc:  # one line for the user; REFINERY_DEBUG=1 shows the traceback
        if os.environ.get("REFINERY_DEBUG") == "1":
            raise
        fail(f"run failed before any step ran: {type(exc).__name__}: {exc} (REFINERY_DEBUG=1 for details)", EXIT_FAILED)
    from refinery.reporting import print_status

    click.echo("")
    print_status(config, click.echo, since=started)
    if not result.success:
        fail(f"run failed: {_failure_reason(result)}", EXIT_FAILED)
    click.echo(
        "\nNext: `refinery status`, `refinery release list`, `refinery ui` (asset graph and run history), "
        "`cd dbt_project && dbt docs generate && dbt docs serve` (model docs and lineage)."
    )


def _execute(selections: tuple[str, ...]):
    import dagster as dg

    from dagster_project.definitions import JOB_NAME, defs

    job = defs.resolve_job_def(JOB_NAME)
    selection = None
    if selections:
        try:
            combined = dg.AssetSelection.from_string(" or ".join(f"({s})" for s in selections))
            selection = list(combined.resolve(defs.resolve_asset_graph()))
        except Exception as exc:  # the selection grammar's own message names the problem
            raise ConfigError(f"--select {' '.join(selections)!r} is not a valid asset selection: {exc}") from exc
        if not selection:
            raise ConfigError(f"--select {' '.join(selections)!r} matches no asset; see `refinery ui` for the keys")
    instance = dg.DagsterInstance.get()
    return job.execute_in_process(
        instance=instance,
        asset_selection=selection,
        raise_on_error=False,
        # Dagster's own console log would print stack traces; the reason is printed in one line below
        # and the full logs are in the run's history (`refinery ui`).
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        tags={"refinery/cli": "run"},
    )


def _failure_reason(result) -> str:
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            while error is not None and error.cause is not None and "Error occurred while executing" in error.message:
                error = error.cause  # Dagster's wrapper around an unexpected exception: show the exception
            lines = (error.message if error else "step failed").strip().splitlines()
            message = re.sub(r"^[\w.]*(Failure|Error|Exception): ", "", lines[-1] if lines else "failed")
            return f"{event.step_key}: {message}"
    return "the run did not succeed (see `refinery ui` for its logs)"
