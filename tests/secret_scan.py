"""Find a secret anywhere Refinery stores data: the DuckDB file's bytes, its WAL, and every text column.

A byte scan alone is not enough: DuckDB compresses text columns (dictionary, FSST), so a value
stored in many rows need not appear literally in the file. A byte scan is still kept because it
also covers the write-ahead log.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

TEXT_TYPES = ("VARCHAR", "JSON", "BLOB")


def secret_locations(database: Path, secret: str) -> list[str]:
    """Where `secret` occurs: the file or WAL (by bytes), or `schema.table.column` (by query)."""
    found = []
    for path in (database, database.with_name(database.name + ".wal")):
        if path.exists() and secret.encode() in path.read_bytes():
            found.append(str(path))
    if not database.exists():
        return found
    with duckdb.connect(str(database), read_only=True) as con:
        columns = con.execute(
            "select table_schema, table_name, column_name, data_type from information_schema.columns "
            "where table_catalog = current_database() order by table_schema, table_name, ordinal_position"
        ).fetchall()
        for schema, table, column, data_type in columns:
            if not any(data_type.upper().startswith(kind) for kind in TEXT_TYPES):
                continue
            name = f'"{schema}"."{table}"."{column}"'
            # BLOB casts to varchar as escaped text; printable secrets stay literal in it.
            hits = con.execute(
                f'select count(*) from "{schema}"."{table}" where contains("{column}"::varchar, ?)', [secret]
            ).fetchone()[0]
            if hits:
                found.append(f"{name} ({hits} rows)")
    return found
