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

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from ingestion.config import ConfigError
from ingestion.warehouse import WarehouseBusy

EXIT_FAILED, EXIT_CONFIG, EXIT_BUSY = 1, 2, 3


def _fail(message: str, code: int) -> None:
    click.echo(f"refinery: {message}", err=True)
    sys.exit(code)


def _config():
    from dagster_project.settings import load_and_prepare

    try:
        return load_and_prepare()
    except ConfigError as exc:
        _fail(str(exc), EXIT_CONFIG)


@click.group()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="refinery.yml to use (REFINERY_CONFIG).")
def main(config_path: str | None) -> None:
    """Refinery: raw sources → cleaned, labeled, versioned training data."""
    if config_path:
        os.environ["REFINERY_CONFIG"] = str(Path(config_path).resolve())


@main.command()
@click.option(
    "--select",
    "selections",
    multiple=True,
    help="Dagster asset selection, e.g. 'key:raw/tickets__records+' or 'group:ingestion'. Repeatable.",
)
def run(selections: tuple[str, ...]) -> None:
    """Run every stage (or a selection) and publish a release if the content changed."""
    config = _config()
    from ingestion.warehouse import warehouse_lock

    started = datetime.now(UTC)
    os.environ["REFINERY_PROGRESS"] = "1"
    try:
        with warehouse_lock(config.warehouse_dir):
            click.echo(f"refinery run: {len(config.sources)} sources from {config.path}", err=True)
            result = _execute(selections)
    except WarehouseBusy as exc:
        _fail(str(exc), EXIT_BUSY)
    except ConfigError as exc:
        _fail(str(exc), EXIT_CONFIG)
    except Exception as exc:  # one line for the user; REFINERY_DEBUG=1 shows the traceback
        if os.environ.get("REFINERY_DEBUG") == "1":
            raise
        _fail(
            f"run failed before any step ran: {type(exc).__name__}: {exc} (REFINERY_DEBUG=1 for details)", EXIT_FAILED
        )
    from dagster_project.reporting import print_status

    click.echo("")
    print_status(config, click.echo, since=started)
    if not result.success:
        _fail(f"run failed: {_failure_reason(result)}", EXIT_FAILED)
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


@main.command()
def status() -> None:
    """Last syncs, the funnel, label coverage, check results and releases."""
    config = _config()
    from dagster_project.reporting import print_status

    try:
        print_status(config, click.echo)
    except WarehouseBusy as exc:
        _fail(str(exc), EXIT_BUSY)


@main.group()
def release() -> None:
    """List, show and export published releases."""


@release.command("list")
def release_list() -> None:
    """Every published release."""
    config = _config()
    from dagster_project.reporting import print_releases

    print_releases(config, click.echo)


@release.command("show")
@click.argument("version")
def release_show(version: str) -> None:
    """The manifest of release VERSION (e.g. v1)."""
    config = _config()
    from dagster_project.release import ReleaseError, get_release

    try:
        click.echo(json.dumps(get_release(config, version), indent=2, default=str))
    except ReleaseError as exc:
        _fail(str(exc), EXIT_CONFIG)


@release.command("export")
@click.argument("version")
@click.option("--format", "file_format", type=click.Choice(["parquet", "jsonl"]), default="parquet", show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True, help="An empty or new folder.")
def release_export(version: str, file_format: str, out_dir: str) -> None:
    """Write release VERSION as one file per split plus manifest.json."""
    config = _config()
    from dagster_project.release import ReleaseError, export_release

    try:
        for path in export_release(config, version, file_format, Path(out_dir)):
            click.echo(str(path))
    except ReleaseError as exc:
        _fail(str(exc), EXIT_CONFIG)


@main.group()
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
    config = _config()
    from dagster_project.adjudication import ExportError, export_queue

    try:
        written, textless = export_queue(config, Path(out_file), task=task, to_name=to_name)
    except ExportError as exc:
        _fail(str(exc), EXIT_CONFIG)
    except WarehouseBusy as exc:
        _fail(str(exc), EXIT_BUSY)
    click.echo(f"{written} items to adjudicate written to {out_file}")
    if textless:
        click.echo(
            f"warning: {textless} of them have no text; their adjudication cannot be matched back to the item "
            "(docs/labeling/adjudication.md)",
            err=True,
        )


@main.command()
@click.option("--port", default=3000, show_default=True)
def ui(port: int) -> None:
    """Serve the Dagster UI (asset graph, run history, checks) on 127.0.0.1."""
    _config()

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


if __name__ == "__main__":
    main()
