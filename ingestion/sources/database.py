"""`kind: postgres`, `kind: mysql`, `kind: sqlite` — the tables of a relational database.

Configuration (refinery.yml)::

    crm:
      kind: postgres                 # or mysql (MySQL / MariaDB)
      database: crm                  # required
      host: db.internal              # default 127.0.0.1
      port: 5432                     # default 5432 (postgres), 3306 (mysql)
      user: refinery                 # default postgres (postgres), root (mysql)
      password_from_env: CRM_DB_PASSWORD  # the NAME of an environment variable; omit for no password
      schema: public                 # postgres only, default public (mysql reads `database`)
      tables:                        # optional: default every table and view of the schema
        - customers                  # a table name: discovered primary key, full refresh
        - name: orders               # or a mapping
          cursor_field: updated_at   # incremental: only rows after the last (cursor, primary key)
          primary_key: id            # default: the table's primary key (a list for a composite one)
        - name: tickets
          text_field: body           # optional: each row is a document (role documents) with this text
          group_field: customer_id   # optional: split-assignment group (default: primary key)
        - {name: audit log, full_refresh: true}
      cursor_field: updated_at       # optional source-wide defaults for every table
      primary_key: id
      full_refresh: false
      reader: auto                   # auto | driver | duckdb (auto = the faster one measured per kind)
      checkpoint_every: 10000        # rows between checkpoints of an incremental table

    notes:
      kind: sqlite
      path: data/notes.db            # required: a SQLite file (relative to refinery.yml)
      tables: [notes]                # and the same table options as above

Each table is one stream, named by `table_stream_name` (`Audit Log` → `audit_log`), landed as
`raw."<source>__<stream>"` with role `records`, or `documents` with a `text_field` (then every
table of that source needs one). Its columns and their database types (information_schema /
pg_catalog / PRAGMA) become the stream's JSON schema with an
`x-sql-type` per column, so added, removed and retyped columns are recorded in
`raw._refinery_schema_history`.

A table with a cursor column is read incrementally: `ORDER BY cursor, primary key` with
`WHERE (cursor, pk) > (last cursor, last pk)` pushed down to the database, and a STATE with
the last (cursor, pk) every `checkpoint_every` rows, so an interrupted sync resumes right
after the last committed row, even when many rows share a cursor value. A table without a
cursor column is a full refresh: a new generation replaces the previous one when the sync
succeeds. A source-wide `cursor_field` applies to the tables that have that column; the
others are full refreshes.

Values land as JSON, the same through either reader:

- timestamps, dates and times ISO 8601 (`2024-05-01T10:00:00+00:00`); PostgreSQL timestamptz
  in UTC; MySQL DATETIME and TIMESTAMP without offset (TIMESTAMP in UTC);
- numeric/decimal as strings, exactly (`"12.50"`); SQLite has no decimal type (its NUMERIC
  values are integers or floats);
- non-finite floats as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`;
- bytes base64; PostgreSQL intervals ISO 8601 durations (`P1DT7203.5S`); MySQL TIME its text
  (`-01:02:03`); PostgreSQL json/jsonb and arrays as JSON; MySQL JSON as its text; NULL as null.

A row that cannot be converted (e.g. invalid UTF-8 text in SQLite) is quarantined with the
reason and its Python repr. Identifiers are always quoted, values always passed as
parameters. The password is only read from the environment and is redacted from every error.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import functools
import math
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ingestion.protocol import Message, Quarantined, Record, StreamSpec, record_bytes, stream_state_message
from ingestion.sources import SavedState
from refinery.config import Config, ConfigError, SourceConfig, redact, table_stream_name

_COMMON = {"tables", "cursor_field", "primary_key", "full_refresh", "reader", "checkpoint_every"}
_SERVER = {"host", "port", "user", "password_from_env"}
KIND_OPTIONS: dict[str, tuple[set[str], set[str]]] = {
    "postgres": ({"database"}, _COMMON | _SERVER | {"schema"}),
    "mysql": ({"database"}, _COMMON | _SERVER),
    "sqlite": ({"path"}, _COMMON),
}
TABLE_KEYS = {"name", "cursor_field", "primary_key", "full_refresh", "text_field", "group_field"}
READERS = ("auto", "driver", "duckdb")
# What `reader: auto` uses, per kind: the faster reader measured by bench/db_readers.py
# (numbers and method in docs/BENCHMARKS.md ("Database readers")). Re-measure before changing.
AUTO_READER = {"postgres": "driver", "mysql": "duckdb", "sqlite": "driver"}
DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306}
DEFAULT_USERS = {"postgres": "postgres", "mysql": "root"}
DEFAULT_CHECKPOINT_EVERY = 10_000
FETCH_SIZE = 5_000
DUCKDB_EXTENSIONS = {"postgres": "postgres_scanner", "mysql": "mysql_scanner", "sqlite": "sqlite_scanner"}


# -- configuration ---------------------------------------------------------------------------------


def check_options(source: SourceConfig, where: str) -> None:
    """Validate the options that need no connection (types, table entries, name collisions).

    Raises:
        ConfigError: naming the file, the key and the fix.
    """
    file = source.config_file
    options = source.options
    for key in ("database", "host", "user", "password_from_env", "schema", "path"):
        if key in options and (not isinstance(options[key], str) or not options[key]):
            raise ConfigError(f"{file}: '{where}.{key}' must be a non-empty string")
    env = options.get("password_from_env")
    if env is not None and (not env.replace("_", "").isalnum() or env[0].isdigit()):
        raise ConfigError(
            f"{file}: '{where}.password_from_env' is {env!r}: give the NAME of an environment variable that "
            "holds the password (e.g. CRM_DB_PASSWORD), never the password itself"
        )
    port = options.get("port")
    if port is not None and (not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536):
        raise ConfigError(f"{file}: '{where}.port' is {port!r}: give a TCP port number, e.g. 5432")
    if options.get("reader", "auto") not in READERS:
        raise ConfigError(f"{file}: '{where}.reader' is {options['reader']!r}: use one of {', '.join(READERS)}")
    every = options.get("checkpoint_every", DEFAULT_CHECKPOINT_EVERY)
    if not isinstance(every, int) or isinstance(every, bool) or every < 1:
        raise ConfigError(f"{file}: '{where}.checkpoint_every' is {every!r}: give a positive number of rows")
    if "full_refresh" in options and not isinstance(options["full_refresh"], bool):
        raise ConfigError(f"{file}: '{where}.full_refresh' must be true or false")
    if source.kind == "sqlite":
        path = source.resolve_path(options["path"])
        if not path.is_file():
            raise ConfigError(
                f"{file}: '{where}.path' = {options['path']!r} is not a file (resolved to {path}); "
                "point it at an existing SQLite database file"
            )
    _table_entries(source, where)


def _table_entries(source: SourceConfig, where: str) -> list[dict[str, Any]]:
    """The `tables:` option as a list of mappings {name, and optionally TABLE_KEYS' other keys}."""
    file = source.config_file
    tables = source.options.get("tables")
    if tables is None:
        return []
    if not isinstance(tables, list) or not tables:
        raise ConfigError(
            f"{file}: '{where}.tables' must be a non-empty list of table names or mappings like "
            "{name: orders, cursor_field: updated_at}; leave it out to read every table"
        )
    entries: list[dict[str, Any]] = []
    for index, entry in enumerate(tables):
        at = f"{where}.tables[{index}]"
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
            raise ConfigError(
                f"{file}: '{at}' is {entry!r}: give a table name or a mapping with at least 'name', "
                "e.g. {name: orders, cursor_field: updated_at}"
            )
        unknown = sorted(set(entry) - TABLE_KEYS)
        if unknown:
            raise ConfigError(f"{file}: '{at}' has unknown keys {unknown}; allowed: {', '.join(sorted(TABLE_KEYS))}")
        for key in ("cursor_field", "text_field", "group_field"):
            if key in entry and not (isinstance(entry[key], str) and entry[key]):
                raise ConfigError(f"{file}: '{at}.{key}' must be one column name")
        if "primary_key" in entry and _key_list(entry["primary_key"]) is None:
            raise ConfigError(f"{file}: '{at}.primary_key' must be a column name or a list of column names")
        if "full_refresh" in entry and not isinstance(entry["full_refresh"], bool):
            raise ConfigError(f"{file}: '{at}.full_refresh' must be true or false")
        entries.append(entry)
    _check_collisions(file, f"{where}.tables", [entry["name"] for entry in entries])
    documents = [entry["name"] for entry in entries if entry.get("text_field")]
    if documents and len(documents) != len(entries):
        # dbt's pipeline_funnel counts every record a source landed as a document candidate
        raise ConfigError(
            f"{file}: '{where}.tables' mixes tables with a text_field ({documents}) and tables without; "
            "give the document tables a source entry of their own (the funnel accounts for a whole source)"
        )
    return entries


def _key_list(value: Any) -> list[str] | None:
    if isinstance(value, str) and value:
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return list(value)
    return None


def _check_collisions(file: Path, where: str, names: list[str]) -> None:
    seen: dict[str, str] = {}
    for name in names:
        first = seen.setdefault(table_stream_name(name), name)
        if first == name and names.count(name) > 1:
            raise ConfigError(f"{file}: '{where}' lists table {name!r} more than once; list each table once")
        if first != name:
            raise ConfigError(
                f"{file}: '{where}': tables {first!r} and {name!r} would both land as stream "
                f"'{table_stream_name(name)}'; list only one of them (read the other through a second source entry)"
            )


def build(source: SourceConfig, config: Config, say: Callable[[str], None] = print) -> DatabaseSource:
    """The source object for a postgres, mysql or sqlite entry of refinery.yml."""
    return DatabaseSource(source, extension_dir=config.warehouse_dir / ".extensions")


# -- catalog ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """One table to read: its catalog and how it is read."""

    name: str
    stream: str
    columns: tuple[tuple[str, str], ...]  # (column, database type)
    primary_key: tuple[str, ...]
    cursor_field: str | None
    full_refresh: bool
    text_field: str | None = None
    group_field: str | None = None

    @functools.cached_property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    @property
    def order_key(self) -> list[str]:
        """The columns of the resume point: the cursor, then the primary key."""
        return [self.cursor_field, *self.primary_key] if self.cursor_field else []

    def spec(self) -> StreamSpec:
        return StreamSpec(
            name=self.stream,
            role="documents" if self.text_field else "records",
            primary_key=self.primary_key[0] if len(self.primary_key) == 1 else None,
            cursor_field=self.cursor_field,
            text_field=self.text_field,
            group_field=self.group_field,
            full_refresh=self.full_refresh,
            json_schema={
                "type": "object",
                "properties": {name: {"x-sql-type": sql_type} for name, sql_type in self.columns},
            },
        )


class DatabaseSource:
    def __init__(self, source: SourceConfig, extension_dir: Path) -> None:
        self.source = source
        self.kind = source.kind
        self.extension_dir = extension_dir
        self.where = f"sources.{source.name}"
        reader = source.option("reader", "auto")
        self.reader = AUTO_READER[self.kind] if reader == "auto" else reader
        self.every = int(source.option("checkpoint_every", DEFAULT_CHECKPOINT_EVERY))
        self._tables: list[Table] | None = None

    # -- Source protocol -------------------------------------------------------------------------
    def streams(self) -> list[StreamSpec]:
        """Connect, read the catalog, and declare one stream per table (raises ConfigError)."""
        self._tables = self._plan()
        return [table.spec() for table in self._tables]

    def planned_streams(self) -> list[StreamSpec]:
        """The configured tables without connecting; every table of the database needs its catalog."""
        entries = _table_entries(self.source, self.where)
        if not entries:
            return self.streams()
        return [
            StreamSpec(
                name=table_stream_name(entry["name"]), role="documents" if entry.get("text_field") else "records"
            )
            for entry in entries
        ]

    def read(self, saved: SavedState) -> Iterator[Message]:
        tables = self._tables if self._tables is not None else self._plan()
        with self._reader() as reader:
            for table in tables:
                yield from self._read_table(reader, table, saved.streams.get(table.stream))

    # -- planning --------------------------------------------------------------------------------
    def _plan(self) -> list[Table]:
        with self._connect() as con:
            catalog = self._catalog(con)
        entries = _table_entries(self.source, self.where)
        if not entries:
            entries = [{"name": name} for name in sorted(catalog)]
            _check_collisions(self.source.config_file, f"{self.where} (every table of {self._place()})", list(catalog))
        missing = [entry["name"] for entry in entries if entry["name"] not in catalog]
        if missing:
            raise ConfigError(
                f"{self.source.config_file}: '{self.where}.tables' names {missing}, which {self._place()} does not "
                f"have (names are case-sensitive); available: {sorted(catalog) or 'no tables'}"
            )
        return [self._table(entry, *catalog[entry["name"]]) for entry in entries]

    def _table(self, entry: dict[str, Any], columns: list[tuple[str, str]], discovered_pk: list[str]) -> Table:
        name = entry["name"]
        at = f"{self.where}.tables ({name!r})"
        names = [column for column, _ in columns]
        full_refresh = entry.get("full_refresh", self.source.option("full_refresh", False))
        for key in ("cursor_field", "text_field", "group_field"):
            if entry.get(key) is not None and entry[key] not in names:
                raise ConfigError(
                    f"{self.source.config_file}: '{at}.{key}' is {entry[key]!r}, which table {name!r} does not have; "
                    f"its columns: {names}"
                )
        cursor = entry.get("cursor_field")
        if cursor is None and self.source.option("cursor_field") in names:
            cursor = self.source.option("cursor_field")  # the source-wide default, where the column exists
        key = _key_list(entry.get("primary_key")) or (
            [self.source.option("primary_key")] if self.source.option("primary_key") in names else discovered_pk
        )
        absent = [column for column in key if column not in names]
        if absent:
            raise ConfigError(
                f"{self.source.config_file}: '{at}.primary_key' names {absent}, which table {name!r} does not have; "
                f"its columns: {names}"
            )
        if full_refresh:
            cursor = None
        if cursor is not None and not key:
            raise ConfigError(
                f"{self.source.config_file}: table {name!r} of '{self.where}' is incremental by {cursor!r} but has "
                "no primary key to order rows that share a cursor value; set 'primary_key' for it "
                "(a column or list of columns that is unique) or 'full_refresh: true'"
            )
        return Table(
            name=name,
            stream=table_stream_name(name),
            columns=tuple(columns),
            primary_key=tuple(key),
            cursor_field=cursor,
            full_refresh=cursor is None,
            text_field=entry.get("text_field"),
            group_field=entry.get("group_field"),
        )

    def _place(self) -> str:
        if self.kind == "sqlite":
            return f"SQLite file {self.source.resolve_path(self.source.option('path'))}"
        if self.kind == "postgres":
            return f"schema {self._schema()!r} of database {self.source.option('database')!r}"
        return f"database {self.source.option('database')!r}"

    def _schema(self) -> str:
        return str(self.source.option("schema", "public"))

    # -- connections -----------------------------------------------------------------------------
    def _password(self) -> str:
        env = self.source.option("password_from_env")
        if not env:
            return ""
        value = os.environ.get(env)
        if value is None:
            raise ConfigError(
                f"{self.source.config_file}: '{self.where}.password_from_env' names environment variable {env}, "
                "which is not set; export it before running"
            )
        return value

    def _redact(self, text: str) -> str:
        env = self.source.option("password_from_env")
        return redact(text, [os.environ.get(env, "")] if env else [])

    def _connection_error(self, exc: BaseException) -> ConfigError:
        if self.kind == "sqlite":
            target = self._place()
            fix = "check that the file is a SQLite database and readable"
        else:
            host = self.source.option("host", "127.0.0.1")
            port = self.source.option("port", DEFAULT_PORTS[self.kind])
            user = self.source.option("user", DEFAULT_USERS[self.kind])
            target = f"{self.kind} database {self.source.option('database')!r} at {user}@{host}:{port}"
            env = self.source.option("password_from_env")
            secret = f"the password in ${env}" if env else "the password (set password_from_env)"
            fix = f"check '{self.where}' host, port, database and user, {secret}, and that the server is running"
        message = self._redact(str(exc).strip() or type(exc).__name__)
        return ConfigError(
            f"{self.source.config_file}: source '{self.source.name}' cannot read {target}: {message}; {fix}"
        )

    def _connect(self) -> Any:
        """A driver connection (a context manager that closes it); ConfigError when it fails."""
        try:
            if self.kind == "postgres":
                import psycopg

                con = psycopg.connect(
                    host=self.source.option("host", "127.0.0.1"),
                    port=self.source.option("port", DEFAULT_PORTS["postgres"]),
                    user=self.source.option("user", DEFAULT_USERS["postgres"]),
                    password=self._password() or None,
                    dbname=self.source.option("database"),
                    connect_timeout=10,
                    application_name="refinery",
                    options="-c TimeZone=UTC",
                    autocommit=True,
                )
                con.read_only = True
                return con
            if self.kind == "mysql":
                import pymysql
                import pymysql.converters
                from pymysql.constants import FIELD_TYPE

                conversions = dict(pymysql.converters.conversions)
                for field_type in (FIELD_TYPE.DECIMAL, FIELD_TYPE.NEWDECIMAL):
                    conversions[field_type] = str  # exact decimals, no Decimal round trip
                conversions[FIELD_TYPE.TIME] = str  # '-01:02:03', as MySQL shows it and DuckDB reads it
                con = pymysql.connect(
                    host=self.source.option("host", "127.0.0.1"),
                    port=self.source.option("port", DEFAULT_PORTS["mysql"]),
                    user=self.source.option("user", DEFAULT_USERS["mysql"]),
                    password=self._password(),
                    database=self.source.option("database"),
                    connect_timeout=10,
                    charset="utf8mb4",
                    conv=conversions,
                    # UTC TIMESTAMPs; a streaming (unbuffered) read may pause while the warehouse commits
                    init_command="SET time_zone = '+00:00', net_write_timeout = 3600",
                )
                return _Closing(con)
            path = self.source.resolve_path(self.source.option("path"))
            con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            con.text_factory = _sqlite_text
            con.execute("select count(*) from sqlite_master").fetchone()  # fails here if not a database
            return _Closing(con)
        except ConfigError:
            raise
        except Exception as exc:
            raise self._connection_error(exc) from None

    def _catalog(self, con: Any) -> dict[str, tuple[list[tuple[str, str]], list[str]]]:
        """table name → ([(column, database type)], [primary key columns in key order])."""
        try:
            if self.kind == "postgres":
                return _postgres_catalog(con, self._schema())
            if self.kind == "mysql":
                return _mysql_catalog(con, str(self.source.option("database")))
            return _sqlite_catalog(con)
        except Exception as exc:
            raise self._connection_error(exc) from None

    def _reader(self) -> _Reader:
        if self.reader == "duckdb":
            return _DuckDBReader(self)
        return _DriverReader(self)

    # -- reading ---------------------------------------------------------------------------------
    def _read_table(self, reader: _Reader, table: Table, state: Any) -> Iterator[Message]:
        after = _resume_point(table, state)
        order = table.order_key
        last: list[Any] | None = None
        since_checkpoint = 0
        emitted_at = int(time.time() * 1000)
        for row in reader.rows(table, after):
            data = self._convert(table, row)
            if isinstance(data, Quarantined):
                yield data
            else:
                yield Record(table.stream, data, emitted_at)
                if order:
                    last = [data[column] for column in order]
            since_checkpoint += 1
            if since_checkpoint >= self.every:
                if last is not None:
                    yield stream_state_message(table.stream, _state(table, last))
                since_checkpoint = 0
                emitted_at = int(time.time() * 1000)
        if order and last is not None and since_checkpoint:
            yield stream_state_message(table.stream, _state(table, last))
        if order:
            # A row whose cursor is NULL has no place in the (cursor, pk) order: it is quarantined
            # (again at every sync while it stays NULL) rather than silently never read.
            for row in reader.rows(table, None, null_cursor=True):
                data = self._convert(table, row)
                raw = data.raw if isinstance(data, Quarantined) else record_bytes(data)
                yield Quarantined(
                    f"{table.name}: cursor column {table.cursor_field!r} is NULL, so this row cannot be read "
                    "incrementally; give it a value or read the table with full_refresh: true",
                    raw,
                    table.stream,
                )

    @staticmethod
    def _convert(table: Table, row: tuple) -> dict[str, Any] | Quarantined:
        try:
            return {
                name: value if type(value) in _PLAIN else _json_value(value)
                for name, value in zip(table.column_names, row, strict=True)
            }
        except (ValueError, TypeError) as exc:
            return Quarantined(
                f"{table.name}: row cannot be converted to JSON: {exc}",
                repr(dict(zip(table.column_names, row, strict=True))).encode("utf-8", "backslashreplace"),
                table.stream,
            )


def _state(table: Table, last: list[Any]) -> dict[str, Any]:
    return {"cursor_field": table.cursor_field, "primary_key": list(table.primary_key), "last": last}


def _resume_point(table: Table, state: Any) -> list[Any] | None:
    """The saved (cursor, pk…) to continue after, if it was saved for the same columns."""
    if not table.cursor_field or not isinstance(state, dict):
        return None
    if state.get("cursor_field") != table.cursor_field or state.get("primary_key") != list(table.primary_key):
        return None  # the table is now read by other columns: start over
    last = state.get("last")
    return last if isinstance(last, list) and len(last) == len(table.order_key) else None


class _Closing:
    """Give DB-API connections without a context manager that closes (pymysql, sqlite3) one."""

    def __init__(self, con: Any) -> None:
        self.con = con

    def __enter__(self) -> Any:
        return self.con

    def __exit__(self, *exc: object) -> None:
        self.con.close()


# -- catalogs ---------------------------------------------------------------------------------------

_PG_CATALOG = """
select c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
       coalesce((select k.position from unnest(i.indkey) with ordinality as k(attnum, position)
                 where k.attnum = a.attnum), 0) as key_position
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
left join pg_catalog.pg_index i on i.indrelid = c.oid and i.indisprimary
where n.nspname = %s and c.relkind in ('r', 'p', 'v', 'm', 'f') and not c.relispartition
order by c.relname, a.attnum
"""


def _postgres_catalog(con: Any, schema: str) -> dict[str, tuple[list[tuple[str, str]], list[str]]]:
    catalog: dict[str, tuple[list[tuple[str, str]], list[tuple[int, str]]]] = {}
    for table, column, sql_type, key_position in con.execute(_PG_CATALOG, [schema]).fetchall():
        columns, key = catalog.setdefault(table, ([], []))
        columns.append((column, sql_type))
        if key_position:
            key.append((key_position, column))
    return {table: (columns, [c for _, c in sorted(key)]) for table, (columns, key) in catalog.items()}


def _mysql_catalog(con: Any, database: str) -> dict[str, tuple[list[tuple[str, str]], list[str]]]:
    with con.cursor() as cur:
        cur.execute(
            "select c.table_name, c.column_name, c.column_type, coalesce(k.ordinal_position, 0) "
            "from information_schema.columns c "
            "left join information_schema.key_column_usage k on k.table_schema = c.table_schema "
            "and k.table_name = c.table_name and k.column_name = c.column_name and k.constraint_name = 'PRIMARY' "
            "where c.table_schema = %s order by c.table_name, c.ordinal_position",
            [database],
        )
        rows = cur.fetchall()
    catalog: dict[str, tuple[list[tuple[str, str]], list[tuple[int, str]]]] = {}
    for table, column, sql_type, key_position in rows:
        columns, key = catalog.setdefault(_text(table), ([], []))
        columns.append((_text(column), _text(sql_type)))
        if key_position:
            key.append((int(key_position), _text(column)))
    return {table: (columns, [c for _, c in sorted(key)]) for table, (columns, key) in catalog.items()}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


def _sqlite_catalog(con: sqlite3.Connection) -> dict[str, tuple[list[tuple[str, str]], list[str]]]:
    catalog: dict[str, tuple[list[tuple[str, str]], list[str]]] = {}
    tables = con.execute(
        "select name from sqlite_master where type in ('table', 'view') and substr(name, 1, 7) != 'sqlite_' "
        "order by name"
    ).fetchall()
    for (table,) in tables:
        info = con.execute("select name, type, pk from pragma_table_info(?) order by cid", [table]).fetchall()
        columns = [(name, sql_type or "") for name, sql_type, _ in info]
        key = [name for name, _, position in sorted(info, key=lambda row: row[2]) if position]
        catalog[table] = (columns, key)
    return catalog


# -- readers ---------------------------------------------------------------------------------------


class _Reader:
    """Rows of a table as tuples in catalog column order, after a resume point if given."""

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None: ...

    def rows(self, table: Table, after: list[Any] | None, null_cursor: bool = False) -> Iterator[tuple]:
        raise NotImplementedError


class _DriverReader(_Reader):
    """psycopg (server-side cursor), pymysql (SSCursor, unbuffered) or stdlib sqlite3."""

    def __init__(self, source: DatabaseSource) -> None:
        self.source = source
        self.kind = source.kind
        self.connection: Any = None

    def _con(self) -> Any:
        if self.connection is None:
            wrapper = self.source._connect()
            self.connection = wrapper.con if isinstance(wrapper, _Closing) else wrapper
        return self.connection

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def rows(self, table: Table, after: list[Any] | None, null_cursor: bool = False) -> Iterator[tuple]:
        quote = {"postgres": _quote_postgres, "mysql": _quote_mysql}.get(self.kind, _quote_double)
        relation = quote(table.name)
        if self.kind == "postgres":
            relation = f"{quote(self.source._schema())}.{relation}"
        marker = "?" if self.kind == "sqlite" else "%s"
        query, params = select_sql(quote, relation, table, after, lambda _: marker, null_cursor)
        con = self._con()
        try:
            if self.kind == "postgres":
                with con.transaction(), con.cursor(name=f"refinery_{uuid.uuid4().hex}") as cur:
                    cur.itersize = FETCH_SIZE
                    cur.execute(query.encode(), params)
                    yield from cur
            elif self.kind == "mysql":
                import pymysql.cursors

                with con.cursor(pymysql.cursors.SSCursor) as cur:
                    cur.execute(query, tuple(params))  # always a tuple: pymysql then turns %% back into %
                    while batch := cur.fetchmany(FETCH_SIZE):
                        yield from batch
            else:
                cur = con.execute(query, params)
                while batch := cur.fetchmany(FETCH_SIZE):
                    yield from batch
        except Exception as exc:
            raise RuntimeError(f"reading table {table.name!r}: {self.source._redact(str(exc))}") from None


def select_sql(
    quote: Callable[[str], str],
    relation: str,
    table: Table,
    after: list[Any] | None,
    placeholder: Callable[[str], str],
    null_cursor: bool = False,
) -> tuple[str, list[Any]]:
    """The SELECT of a table: every column; incremental ones ordered and after the resume point.

    `(cursor, pk…) > (?, ?…)` is a row-value comparison (PostgreSQL, MySQL/MariaDB, SQLite ≥ 3.15
    all evaluate it); the extra `cursor >= ?` lets the database use an index on the cursor.
    `placeholder(column)` is the parameter marker for a value compared with that column.
    `null_cursor` selects instead the rows whose cursor is NULL (they have no place in the order).
    """
    columns = ", ".join(quote(name) for name in table.column_names)
    query = f"select {columns} from {relation}"
    params: list[Any] = []
    order = table.order_key
    if order and null_cursor:
        return f"{query} where {quote(order[0])} is null order by {', '.join(quote(c) for c in order[1:])}", []
    if order:
        query += f" where {quote(order[0])} is not null"
    if order and after is not None:
        marks = ", ".join(placeholder(column) for column in order)
        query += (
            f" and {quote(order[0])} >= {placeholder(order[0])} and ({', '.join(quote(c) for c in order)}) > ({marks})"
        )
        params = [after[0], *after]
    if order:
        query += " order by " + ", ".join(quote(c) for c in order)
    return query, params


def _quote_double(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_postgres(name: str) -> str:
    return _quote_double(name).replace("%", "%%")  # psycopg reads % as a parameter marker


def _quote_mysql(name: str) -> str:
    return ("`" + name.replace("`", "``") + "`").replace("%", "%%")  # pymysql formats the query with %


class _DuckDBReader(_Reader):
    """An in-memory DuckDB that ATTACHes the database read-only through its scanner extension.

    The credentials go into a temporary DuckDB secret (never into the ATTACH string, which
    DuckDB may echo in errors). DuckDB pushes `cursor >= ?` down to the database; the
    row-value tie-break and the ORDER BY run in DuckDB.
    """

    def __init__(self, source: DatabaseSource) -> None:
        self.source = source
        self.kind = source.kind
        self.connection: Any = None

    def _con(self) -> Any:
        if self.connection is not None:
            return self.connection
        import duckdb

        from ingestion.warehouse import load_extension, sql_string

        con = duckdb.connect()
        try:
            load_extension(con, DUCKDB_EXTENSIONS[self.kind], self.source.extension_dir)
            con.execute("set TimeZone = 'UTC'")
            if self.kind == "mysql":
                # tinyint(1) stays a number, as the driver reads it: both readers land the same JSON
                con.execute("set mysql_tinyint1_as_boolean = false")
            options = self.source.source
            if self.kind == "sqlite":
                path = options.resolve_path(options.option("path")).resolve()
                con.execute(f"attach {sql_string(str(path))} as src (type sqlite, read_only)")
            else:
                fields = {
                    "host": options.option("host", "127.0.0.1"),
                    "port": options.option("port", DEFAULT_PORTS[self.kind]),
                    "user": options.option("user", DEFAULT_USERS[self.kind]),
                    "database": options.option("database"),
                    "password": self.source._password(),
                }
                settings = ", ".join(
                    f"{key} {value if isinstance(value, int) else sql_string(str(value))}"
                    for key, value in fields.items()
                )
                con.execute(f"create temporary secret refinery_source (type {self.kind}, {settings})")
                con.execute(f"attach '' as src (type {self.kind}, secret refinery_source, read_only)")
        except ConfigError:
            con.close()
            raise
        except Exception as exc:
            con.close()
            raise self.source._connection_error(exc) from None
        self.connection = con
        return con

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def rows(self, table: Table, after: list[Any] | None, null_cursor: bool = False) -> Iterator[tuple]:
        from ingestion.warehouse import quote_identifier

        con = self._con()
        if self.kind == "postgres":
            relation = f"src.{quote_identifier(self.source._schema())}.{quote_identifier(table.name)}"
        else:
            relation = f"src.{quote_identifier(table.name)}"
        try:
            found = con.sql(f"select * from {relation} limit 0").types
            types = {name: str(kind) for name, kind in zip(table.column_names, found, strict=True)}
            # typed parameters: an untyped string would make the comparison a string comparison
            query, params = select_sql(
                quote_identifier, relation, table, after, lambda column: f"cast(? as {types[column]})", null_cursor
            )
            # DuckDB hands PostgreSQL json/jsonb over as text; the driver (and so the other reader) as parsed JSON
            json_columns = [
                index
                for index, (name, sql_type) in enumerate(table.columns)
                if types[name] == "JSON" or (self.kind == "postgres" and sql_type in ("json", "jsonb"))
            ]
            result = con.execute(query, params)
            while batch := result.fetchmany(FETCH_SIZE):
                if json_columns:
                    batch = [_parse_json_columns(row, json_columns) for row in batch]
                yield from batch
        except Exception as exc:
            raise RuntimeError(f"reading table {table.name!r}: {self.source._redact(str(exc))}") from None


def _parse_json_columns(row: tuple, indexes: list[int]) -> tuple:
    values = list(row)
    for index in indexes:
        if isinstance(values[index], str):
            values[index] = orjson.loads(values[index])
    return tuple(values)


# -- values ----------------------------------------------------------------------------------------


class _Undecodable(bytes):
    """SQLite TEXT that is not valid UTF-8 (SQLite does not enforce the encoding)."""


def _sqlite_text(raw: bytes) -> str | _Undecodable:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return _Undecodable(raw)


_PLAIN = frozenset({str, int, bool, type(None)})


def _json_value(value: Any) -> Any:
    """A database value as JSON (see the module docstring); ValueError when it has no JSON form."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is float:
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, _Undecodable):
        raise ValueError(f"text is not valid UTF-8: {bytes(value)[:40]!r}")
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dt.timedelta):
        return _iso_duration(value)
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):  # subclasses (enums, …)
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _json_value(float(value))
    return str(value)  # network addresses, ranges, …: their text form


def _iso_duration(value: dt.timedelta) -> str:
    sign = "-" if value < dt.timedelta(0) else ""
    value = abs(value)
    seconds = value.seconds + value.microseconds / 1_000_000
    text = f"{seconds:.6f}".rstrip("0").rstrip(".")
    return f"{sign}P{value.days}DT{text}S"
