"""Releases: `marts.training_examples` published into a DuckLake catalog as v1, v2, …

The catalog is `warehouse/releases.ducklake` with its Parquet data in `warehouse/releases/`.
A release is one DuckLake snapshot — the table's rows, a row in `releases` with the
manifest, and a commit message carrying the version — written in one transaction. A new
version is published only after a green `dbt build` and only when the content hash of the
rows differs from the latest release. Old releases are never rewritten: DuckLake time travel
(`AT (VERSION => snapshot)`) reads any of them forever (Refinery never expires snapshots).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from ingestion.warehouse import load_extension, sql_string
from refinery.config import Config
from refinery.settings import PROJECT_ROOT

LAKE = "lake"
SOURCE_TABLE = "marts.training_examples"
RELEASED_TABLE = "training_examples"
EXPORT_FORMATS = {"parquet", "jsonl"}


class ReleaseError(RuntimeError):
    """A release cannot be published or read; the message says why and what to do."""


@dataclass(frozen=True)
class PublishResult:
    published: bool
    version: str
    manifest: dict[str, Any]
    reason: str


def catalog_path(config: Config) -> Path:
    return config.warehouse_dir / "releases.ducklake"


def data_path(config: Config) -> Path:
    return config.warehouse_dir / "releases"


def open_lake(config: Config, read_only: bool = False, with_warehouse: bool = False) -> duckdb.DuckDBPyConnection:
    """An in-memory connection with the release catalog attached as `lake` (and the warehouse as `wh`)."""
    if read_only and not catalog_path(config).exists():
        raise ReleaseError(f"no releases yet in {catalog_path(config)}: run `refinery run` first")
    con = duckdb.connect()
    try:
        load_extension(con, "ducklake", config.warehouse_dir / ".extensions")
        options = [f"DATA_PATH {sql_string(str(data_path(config)) + '/')}"]
        if read_only:
            options.append("READ_ONLY")
        con.execute(f"ATTACH {sql_string('ducklake:' + str(catalog_path(config)))} AS {LAKE} ({', '.join(options)})")
        if with_warehouse:
            con.execute(f"ATTACH {sql_string(str(config.database_path))} AS wh (READ_ONLY)")
    except Exception:
        con.close()
        raise
    return con


def _ensure_catalog(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"""create table if not exists {LAKE}.releases (
            version varchar not null, version_number integer not null, created_at timestamptz not null,
            content_hash varchar not null, row_count bigint not null, manifest json not null)"""
    )


def content_hash(con: duckdb.DuckDBPyConnection, relation: str) -> str:
    """Order-independent hash of every row (each row as JSON, hashed, sorted, hashed again)."""
    return con.execute(
        f"select md5(coalesce(string_agg(row_hash, '' order by row_hash), '')) "
        f"from (select md5(to_json(t)::varchar) as row_hash from {relation} as t)"
    ).fetchone()[0]


def code_commit() -> str:
    """The git commit of the code that built the release ('-dirty' if there were local changes)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def publish_release(config: Config, last_build: dict[str, Any] | None) -> PublishResult:
    """Publish `marts.training_examples` as the next version if the build passed and content changed.

    Raises:
        ReleaseError: the last dbt build failed or is missing (an error-severity test failure
            publishes nothing).
    """
    if not last_build or not last_build.get("success"):
        failures = ", ".join(f["name"] for f in (last_build or {}).get("failures", [])[:5]) or "no build recorded"
        raise ReleaseError(f"not publishing: the last dbt build did not pass ({failures}); fix it and run again")
    data_path(config).mkdir(parents=True, exist_ok=True)
    con = open_lake(config, with_warehouse=True)
    try:
        _ensure_catalog(con)
        built_by = _built_by(con)
        if built_by != last_build.get("invocation_id"):
            raise ReleaseError(
                f"not publishing: {SOURCE_TABLE} was built by dbt invocation {built_by or '(unknown)'}, not by the "
                f"last green Refinery build ({last_build.get('invocation_id')}), so its tests may not have passed; "
                "run `refinery run` to rebuild and test it"
            )
        if not last_build.get("complete"):
            latest = _latest(con)
            return PublishResult(
                False,
                latest[0] if latest else "-",
                json.loads(latest[1]) if latest else {},
                "not published: the last dbt build was partial (--select); releases come only from a complete "
                "build of every model and test (`refinery run`)",
            )
        new_hash = content_hash(con, f"wh.{SOURCE_TABLE}")
        latest = con.execute(
            f"select version, version_number, content_hash from {LAKE}.releases order by version_number desc limit 1"
        ).fetchone()
        if latest and latest[2] == new_hash:
            manifest = json.loads(
                con.execute(f"select manifest from {LAKE}.releases where version = ?", [latest[0]]).fetchone()[0]
            )
            return PublishResult(False, latest[0], manifest, f"content unchanged since {latest[0]}")
        number = (latest[1] if latest else 0) + 1
        version = f"v{number}"
        manifest = _manifest(con, version, new_hash, last_build)
        schema = [(c["name"], c["type"]) for c in manifest["schema"]]
        existing = con.execute(
            "select column_name, data_type from duckdb_columns() where database_name = ? and table_name = ? "
            "order by column_index",
            [LAKE, RELEASED_TABLE],
        ).fetchall()
        con.execute("begin")
        if existing and [tuple(c) for c in existing] == schema:
            con.execute(f"delete from {LAKE}.{RELEASED_TABLE}")
            con.execute(f"insert into {LAKE}.{RELEASED_TABLE} select * from wh.{SOURCE_TABLE} order by example_id")
        else:
            con.execute(
                f"create or replace table {LAKE}.{RELEASED_TABLE} as "
                f"select * from wh.{SOURCE_TABLE} order by example_id"
            )
        con.execute(
            f"insert into {LAKE}.releases values (?, ?, ?, ?, ?, ?)",
            [version, number, manifest["created_at"], new_hash, manifest["rows"], json.dumps(manifest)],
        )
        extra = json.dumps({"release": version, "content_hash": new_hash})
        con.execute(
            f"call {LAKE}.set_commit_message('refinery', {sql_string('release ' + version)}, "
            f"extra_info => {sql_string(extra)})"
        )
        con.execute("commit")
        return PublishResult(True, version, manifest, "published")
    finally:
        con.close()


def _latest(con: duckdb.DuckDBPyConnection) -> tuple[str, str] | None:
    return con.execute(f"select version, manifest from {LAKE}.releases order by version_number desc limit 1").fetchone()


def _built_by(con: duckdb.DuckDBPyConnection) -> str | None:
    """The dbt invocation id the training_examples post-hook wrote into the table comment."""
    row = con.execute(
        "select comment from duckdb_tables() where database_name = 'wh' and schema_name = 'marts' "
        "and table_name = 'training_examples'"
    ).fetchone()
    if row is None:
        raise ReleaseError(f"not publishing: {SOURCE_TABLE} does not exist; run `refinery run` first")
    comment = row[0] or ""
    return comment.removeprefix("dbt_invocation_id=") if comment.startswith("dbt_invocation_id=") else None


def _manifest(con: duckdb.DuckDBPyConnection, version: str, digest: str, last_build: dict[str, Any]) -> dict[str, Any]:
    table = f"wh.{SOURCE_TABLE}"
    rows = con.execute(f"select count(*) from {table}").fetchone()[0]
    per_split = dict(con.execute(f"select split, count(*) from {table} group by all order by 1").fetchall())
    per_label = {
        (label if label is not None else "(none)"): count
        for label, count in con.execute(f"select label, count(*) from {table} group by all order by 1").fetchall()
    }
    schema = [
        {"name": name, "type": data_type}
        for name, data_type in con.execute(
            "select column_name, data_type from duckdb_columns() where database_name = 'wh' "
            "and schema_name = 'marts' and table_name = 'training_examples' order by column_index"
        ).fetchall()
    ]
    states: dict[str, dict[str, Any]] = {}
    for source, stream, state in con.execute(
        "select source_name, stream_name, state from wh.raw._refinery_state order by all"
    ).fetchall():
        states.setdefault(source, {})[stream] = json.loads(state)
    return {
        "version": version,
        "created_at": datetime.now(UTC).isoformat(),
        "content_hash": digest,
        "rows": rows,
        "rows_per_split": per_split,
        "rows_per_label": per_label,
        "schema": schema,
        "code_commit": code_commit(),
        "dbt_invocation_id": last_build.get("invocation_id"),
        "source_states": states,
    }


def list_releases(config: Config) -> list[dict[str, Any]]:
    """Every release, oldest first, with its manifest and DuckLake snapshot id."""
    if not catalog_path(config).exists():
        return []
    con = open_lake(config, read_only=True)
    try:
        return _releases(con)
    finally:
        con.close()


def get_release(config: Config, version: str) -> dict[str, Any]:
    """The manifest of one release (with its snapshot id)."""
    with _reader(config) as con:
        return _release(con, version)


def read_release(config: Config, version: str) -> list[dict[str, Any]]:
    """The rows of one release, as they were published."""
    with _reader(config) as con:
        cursor = con.execute(f"select * from {_as_published(_release(con, version))} order by example_id")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@contextlib.contextmanager
def _reader(config: Config) -> Iterator[duckdb.DuckDBPyConnection]:
    con = open_lake(config, read_only=True)
    try:
        yield con
    finally:
        con.close()


def _releases(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    if not con.execute(
        "select count(*) from duckdb_tables() where database_name = ? and table_name = 'releases'", [LAKE]
    ).fetchone()[0]:
        return []
    snapshots = {
        json.loads(extra).get("release"): snapshot
        for snapshot, extra in con.execute(
            f"select snapshot_id, commit_extra_info from {LAKE}.snapshots() where commit_extra_info is not null"
        ).fetchall()
    }
    releases = []
    for (manifest_json,) in con.execute(f"select manifest from {LAKE}.releases order by version_number").fetchall():
        manifest = json.loads(manifest_json)
        manifest["snapshot_id"] = snapshots.get(manifest["version"])
        releases.append(manifest)
    return releases


def _release(con: duckdb.DuckDBPyConnection, version: str) -> dict[str, Any]:
    releases = _releases(con)
    for manifest in releases:
        if manifest["version"] == version:
            return manifest
    known = ", ".join(m["version"] for m in releases) or "none yet"
    raise ReleaseError(f"no release {version!r} (releases: {known}); see `refinery release list`")


def _as_published(manifest: dict[str, Any]) -> str:
    """The released table as of the release's snapshot (DuckLake time travel)."""
    return f"{LAKE}.{RELEASED_TABLE} at (version => {int(manifest['snapshot_id'])})"


def export_release(config: Config, version: str, file_format: str, out_dir: Path) -> list[Path]:
    """Write one file per split that has rows (`train.parquet`, …) plus `manifest.json` into an empty out_dir."""
    if file_format not in EXPORT_FORMATS:
        raise ReleaseError(f"unknown export format {file_format!r}: use {' or '.join(sorted(EXPORT_FORMATS))}")
    written = []
    with _reader(config) as con:
        manifest = _release(con, version)
        if out_dir.exists() and any(out_dir.iterdir()):
            raise ReleaseError(
                f"{out_dir} is not empty: export into a new or empty folder, so files of another version "
                "cannot mix with this one"
            )
        out_dir.mkdir(parents=True, exist_ok=True)
        copy_format = "(format parquet)" if file_format == "parquet" else "(format json)"
        for split in manifest["rows_per_split"]:
            target = out_dir / f"{split}.{file_format}"
            con.execute(
                f"copy (select * from {_as_published(manifest)} where split = {sql_string(split)} "
                f"order by example_id) to {sql_string(str(target))} {copy_format}"
            )
            written.append(target)
    manifest_path = out_dir / "manifest.json"
    manifest_path.write_text(json.dumps(manifest, indent=1, default=str))
    return [*written, manifest_path]
