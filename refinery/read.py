"""Reading the warehouse from a command (`status`, `quarantine`, `labels export-queue`): read-only."""

from __future__ import annotations

import duckdb

from ingestion.warehouse import busy
from refinery.config import Config


def connect_read_only(config: Config) -> duckdb.DuckDBPyConnection | None:
    """A read-only connection, or None when there is no warehouse yet.

    Raises:
        WarehouseBusy: a run is writing the file (DuckDB admits no reader beside a writer).
    """
    if not config.database_path.exists():
        return None
    try:
        return duckdb.connect(str(config.database_path), read_only=True)
    except duckdb.IOException as exc:
        if "lock" not in str(exc).lower():
            raise
        raise busy(config.warehouse_dir) from exc


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether a table or view exists (information_schema lists both)."""
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
        ).fetchone()[0]
    )
