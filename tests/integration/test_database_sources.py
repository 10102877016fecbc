"""`kind: postgres | mysql | sqlite` against the real PostgreSQL and MariaDB on 127.0.0.1 and a SQLite file.

Every test owns its own PostgreSQL schema, MariaDB database or SQLite file (random suffix)
and drops it afterwards: other sessions use the same servers at the same time.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
import yaml

from ingestion.destination import DuckDBDestination, stream_states_of
from ingestion.protocol import State
from ingestion.sources import SavedState, build_source
from ingestion.sync import sync_source
from refinery.config import ConfigError, load_config
from tests.secret_scan import secret_locations

pytestmark = pytest.mark.integration


class Backend:
    """One database to test against: run SQL on it and describe it as a refinery.yml entry."""

    kind: str
    ts_type: str  # a timestamp column type
    int_type = "integer"

    def execute(self, sql: str, params: list | None = None) -> None:
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        raise NotImplementedError

    def quote(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def retype_sql(self, table: str, column: str) -> list[str]:
        """Statements that change `column` of `table` from integer to a text type."""
        raise NotImplementedError


class Postgres(Backend):
    kind = "postgres"
    ts_type = "timestamp"

    def __init__(self) -> None:
        import psycopg

        self.schema = f"refinery_test_{uuid.uuid4().hex[:10]}"
        self.admin = psycopg.connect(host="127.0.0.1", user="postgres", dbname="test", autocommit=True)
        self.admin.execute(f'create schema "{self.schema}"')
        self.admin.execute(f'set search_path to "{self.schema}"')

    def execute(self, sql: str, params: list | None = None) -> None:
        self.admin.execute(sql.encode(), params)

    def options(self) -> dict[str, Any]:
        return {"kind": "postgres", "database": "test", "schema": self.schema}

    def retype_sql(self, table: str, column: str) -> list[str]:
        return [f"alter table {self.quote(table)} alter column {self.quote(column)} type text"]

    def close(self) -> None:
        self.admin.execute(f'drop schema if exists "{self.schema}" cascade')
        self.admin.close()


class MariaDB(Backend):
    kind = "mysql"
    ts_type = "datetime(6)"

    def __init__(self) -> None:
        import pymysql

        self.database = f"refinery_test_{uuid.uuid4().hex[:10]}"
        self.admin = pymysql.connect(host="127.0.0.1", user="root", autocommit=True, charset="utf8mb4")
        with self.admin.cursor() as cur:
            cur.execute(f"create database `{self.database}` character set utf8mb4")
            cur.execute(f"use `{self.database}`")

    def execute(self, sql: str, params: list | None = None) -> None:
        with self.admin.cursor() as cur:
            cur.execute(sql, params)

    def quote(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def options(self) -> dict[str, Any]:
        return {"kind": "mysql", "database": self.database}

    def retype_sql(self, table: str, column: str) -> list[str]:
        return [f"alter table {self.quote(table)} modify {self.quote(column)} varchar(40)"]

    def close(self) -> None:
        with self.admin.cursor() as cur:
            cur.execute(f"drop database if exists `{self.database}`")
        self.admin.close()


class SQLite(Backend):
    kind = "sqlite"
    ts_type = "text"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.con = sqlite3.connect(path, isolation_level=None)

    def execute(self, sql: str, params: list | None = None) -> None:
        self.con.execute(sql, params or [])

    def options(self) -> dict[str, Any]:
        return {"kind": "sqlite", "path": str(self.path)}

    def retype_sql(self, table: str, column: str) -> list[str]:
        # SQLite cannot change a column's type in place: rebuild the table (the usual recipe)
        q = self.quote
        return [
            f"alter table {q(table)} rename column {q(column)} to {q(column + '_old')}",
            f"alter table {q(table)} add column {q(column)} text",
            f"update {q(table)} set {q(column)} = {q(column + '_old')}",
            f"alter table {q(table)} drop column {q(column + '_old')}",
        ]

    def close(self) -> None:
        self.con.close()


def _make(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Backend:
    if kind == "postgres":
        request.getfixturevalue("postgres_service")
        return Postgres()
    if kind == "mysql":
        request.getfixturevalue("mysql_service")
        return MariaDB()
    return SQLite(tmp_path / f"src {uuid.uuid4().hex[:6]}.db")


@pytest.fixture(params=["postgres", "mysql", "sqlite"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    backend = _make(request.param, tmp_path, request)
    try:
        yield backend
    finally:
        backend.close()


@pytest.fixture(params=["postgres", "sqlite"])
def pg_or_sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    backend = _make(request.param, tmp_path, request)
    try:
        yield backend
    finally:
        backend.close()


def configure(tmp_path: Path, **sources: dict[str, Any]):
    path = tmp_path / "refinery.yml"
    path.write_text(yaml.safe_dump({"sources": sources}))
    return load_config(path, home=tmp_path)


def landed(config, table: str) -> list[dict[str, Any]]:
    with duckdb.connect(str(config.database_path), read_only=True) as con:
        rows = con.execute(f'select _airbyte_data from raw."{table}" order by _airbyte_extracted_at').fetchall()
    return [orjson.loads(row[0]) for row in rows]


def query(config, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(config.database_path), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def sync(config, name: str):
    result = sync_source(config, name, say=lambda _: None)
    assert result.status == "succeeded", result.error
    return result


def create_events(db: Backend, table: str = "events", rows: int = 0, ties: int = 1) -> None:
    db.execute(
        f"create table {db.quote(table)} (id {db.int_type} primary key, updated_at {db.ts_type} not null, "
        "name varchar(40), amount numeric(10,2))"
    )
    for i in range(1, rows + 1):
        insert_event(db, table, i, f"2024-01-{(i - 1) // ties + 1:02d} 10:00:00", f"n{i}")


def insert_event(db: Backend, table: str, id_: int, updated_at: str, name: str) -> None:
    marker = "?" if db.kind == "sqlite" else "%s"
    db.execute(
        f"insert into {db.quote(table)} (id, updated_at, name, amount) values ({marker}, {marker}, {marker}, {marker})",
        [id_, updated_at, name, "12.50"],
    )


# ---------------------------------------------------------------------------------------- tests


def test_every_table_or_only_the_listed_ones(db: Backend, tmp_path: Path) -> None:
    create_events(db, "events", rows=3)
    create_events(db, "Other Table", rows=2)
    config = configure(
        tmp_path,
        every={**db.options()},
        listed={**db.options(), "tables": ["Other Table"]},
    )
    result = sync(config, "every")
    assert {name: counts.landed for name, counts in result.streams.items()} == {"events": 3, "other_table": 2}
    result = sync(config, "listed")
    assert {name: counts.landed for name, counts in result.streams.items()} == {"other_table": 2}
    assert sorted(row["id"] for row in landed(config, "listed__other_table")) == [1, 2]
    streams = query(
        config,
        "select stream_name, kind, role, primary_key, cursor_field from raw._refinery_streams "
        "where source_name = 'every' order by stream_name",
    )
    assert streams == [("events", db.kind, "records", "id", None), ("other_table", db.kind, "records", "id", None)]


def test_full_refresh_replaces_the_previous_generation(db: Backend, tmp_path: Path) -> None:
    create_events(db, rows=3)
    config = configure(tmp_path, src={**db.options(), "tables": ["events"]})
    sync(config, "src")
    db.execute(f"delete from {db.quote('events')} where id = 2")
    db.execute(f"update {db.quote('events')} set name = 'renamed' where id = 3")
    sync(config, "src")
    rows = landed(config, "src__events")
    amount = 12.5 if db.kind == "sqlite" else "12.50"  # SQLite keeps a numeric value as REAL; servers as decimal
    assert sorted((row["id"], row["name"], row["amount"]) for row in rows) == [
        (1, "n1", amount),
        (3, "renamed", amount),
    ]
    assert query(config, 'select distinct _airbyte_generation_id from raw."src__events"') == [(2,)]


def test_incremental_lands_only_new_and_updated_rows(db: Backend, tmp_path: Path) -> None:
    create_events(db, rows=10, ties=4)  # four rows share each cursor value
    config = configure(
        tmp_path,
        src={**db.options(), "tables": [{"name": "events", "cursor_field": "updated_at"}], "checkpoint_every": 3},
    )
    assert sync(config, "src").streams["events"].landed == 10
    assert sync(config, "src").streams["events"].landed == 0
    insert_event(db, "events", 11, "2024-01-03 10:00:00", "same cursor as the last rows, larger id")
    insert_event(db, "events", 12, "2024-02-01 10:00:00", "new")
    db.execute(f"update {db.quote('events')} set updated_at = '2024-03-01 10:00:00', name = 'changed' where id = 2")
    result = sync(config, "src")
    assert result.streams["events"].landed == 3
    later = [row for row in landed(config, "src__events")][10:]
    assert sorted(row["id"] for row in later) == [2, 11, 12]
    assert next(row for row in later if row["id"] == 2)["name"] == "changed"
    (state,) = query(config, "select state from raw._refinery_state where source_name = 'src'")
    stream_state = orjson.loads(state[0])["stream"]["stream_state"]
    assert stream_state["cursor_field"] == "updated_at" and stream_state["primary_key"] == ["id"]
    assert stream_state["last"][1] == 2 and stream_state["last"][0].startswith("2024-03-01")


def _stopping_after(messages: Iterator, states: int) -> Iterator:
    """Pass messages through and die after the given number of STATEs (a crash after a commit)."""
    seen = 0
    for message in messages:
        yield message
        if isinstance(message, State):
            seen += 1
            if seen == states:
                raise RuntimeError("simulated crash")


def test_interrupted_sync_resumes_exactly_after_the_last_checkpoint(db: Backend, tmp_path: Path) -> None:
    create_events(db, rows=11, ties=11)  # every row has the same cursor value: only the pk orders them
    config = configure(
        tmp_path,
        src={**db.options(), "tables": [{"name": "events", "cursor_field": "updated_at"}], "checkpoint_every": 4},
    )
    source = build_source(config.sources["src"], config)
    destination = DuckDBDestination(config.database_path, "src", db.kind)
    crashed = destination.run(source.streams(), _stopping_after(source.read(SavedState()), states=2))
    assert crashed.status == "failed" and "simulated crash" in crashed.error
    assert sorted(row["id"] for row in landed(config, "src__events")) == list(range(1, 9))
    saved = stream_states_of(destination.saved_state())
    assert saved["events"]["last"][1] == 8
    result = sync(config, "src")
    assert result.streams["events"].landed == 3
    assert sorted(row["id"] for row in landed(config, "src__events")) == list(range(1, 12))


KILL_AFTER_SECOND_CHECKPOINT = """
import os, signal, sys
from refinery.config import load_config
from ingestion.protocol import State
from ingestion.sources import database
from ingestion.sync import sync_source

original = database.DatabaseSource.read


def read(self, saved):
    seen = 0
    for message in original(self, saved):
        yield message  # resumes only after the destination committed a STATE
        if isinstance(message, State):
            seen += 1
            if seen == 2:
                os.kill(os.getpid(), signal.SIGKILL)


database.DatabaseSource.read = read
sync_source(load_config(sys.argv[1]), "src", say=lambda _: None)
"""


def test_sigkill_after_a_checkpoint_then_resume_lands_every_row_once(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "k.db"
    con = sqlite3.connect(path)
    con.execute("create table t (id integer primary key, updated_at text not null)")
    con.executemany("insert into t values (?, '2024-01-01')", [(i,) for i in range(1, 251)])
    con.commit()
    con.close()
    config = configure(
        tmp_path,
        src={
            "kind": "sqlite",
            "path": str(path),
            "tables": [{"name": "t", "cursor_field": "updated_at"}],
            "checkpoint_every": 100,
        },
    )
    killed = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_SECOND_CHECKPOINT, str(config.path)],
        env={**os.environ, "REFINERY_HOME": str(tmp_path)},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    assert sorted(row["id"] for row in landed(config, "src__t")) == list(range(1, 201))
    assert sync(config, "src").streams["t"].landed == 50
    assert sorted(row["id"] for row in landed(config, "src__t")) == list(range(1, 251))
    statuses = query(config, "select status from raw._refinery_sync_log order by started_at")
    assert statuses == [("failed",), ("succeeded",)]


def test_schema_changes_land_in_schema_history(db: Backend, tmp_path: Path) -> None:
    db.execute(f"create table {db.quote('items')} (id integer primary key, size integer, colour varchar(10))")
    db.execute(f"insert into {db.quote('items')} values (1, 5, 'red')")
    config = configure(tmp_path, src={**db.options(), "tables": ["items"]})
    sync(config, "src")
    db.execute(f"alter table {db.quote('items')} add column weight numeric(8,3)")
    db.execute(f"alter table {db.quote('items')} drop column colour")
    for statement in db.retype_sql("items", "size"):
        db.execute(statement)
    sync(config, "src")
    history = query(
        config,
        "select change, column_name, old_type, new_type from raw._refinery_schema_history "
        "where change != 'discovered' order by change",
    )
    assert [(change, column) for change, column, _, _ in history] == [
        ("added", "weight"),
        ("removed", "colour"),
        ("retyped", "size"),
    ]
    added, _, retyped = history
    assert "numeric" in added[3].lower() or "decimal" in added[3].lower()
    assert retyped[2].lower().startswith("int") and retyped[3].lower() in {"text", "varchar(40)"}
    assert landed(config, "src__items")[-1] == {"id": 1, "size": "5", "weight": None}


HOSTILE_TABLE = 'we"ird; drop table sentinel; -- ü %s'
HOSTILE_COLUMN = 'up"dated; %(x)s'


@pytest.mark.parametrize("reader", ["driver", "duckdb"])
def test_hostile_identifiers_are_quoted_not_executed(db: Backend, reader: str, tmp_path: Path) -> None:
    table, column = HOSTILE_TABLE, HOSTILE_COLUMN
    db.execute(f"create table {db.quote('sentinel')} (id integer)")
    db.execute(f"create table {db.quote(table)} (id integer primary key, {db.quote(column)} {db.int_type} not null)")
    for i in range(1, 6):
        db.execute(f"insert into {db.quote(table)} values ({i}, {i // 2})")
    config = configure(
        tmp_path,
        src={
            **db.options(),
            "tables": [{"name": table, "cursor_field": column}],
            "checkpoint_every": 2,
            "reader": reader,
        },
    )
    stream = "we_ird_drop_table_sentinel_s"
    assert sync(config, "src").streams[stream].landed == 5
    db.execute(f"insert into {db.quote(table)} values (6, 9)")
    assert sync(config, "src").streams[stream].landed == 1
    assert sorted(row["id"] for row in landed(config, f"src__{stream}")) == [1, 2, 3, 4, 5, 6]
    assert landed(config, f"src__{stream}")[-1] == {"id": 6, column: 9}
    every = configure(tmp_path, every={**db.options(), "reader": reader})
    assert set(sync(every, "every").streams) == {"sentinel", stream}


def test_values_become_json_the_same_way_through_both_readers(db: Backend, tmp_path: Path) -> None:
    if db.kind == "postgres":
        db.execute(
            "create table v (id integer primary key, n numeric(12,4), tiny numeric, d date, ts timestamp, "
            "tz timestamptz, b bytea, j jsonb, f double precision, g double precision, u uuid, i interval, "
            "flag boolean, tags text[], nothing text)"
        )
        db.execute(
            "insert into v values (1, 12.5, 0.0000001, '2024-02-29', '2024-02-29 23:59:58.5', "
            "'2024-02-29 23:59:58+02', '\\x00ff'::bytea, '{\"a\": [1, 2.5]}', 1.5, 'NaN', "
            "'12345678-1234-5678-1234-567812345678', '1 day 02:00:03.5', true, array['x','y'], null)"
        )
        expected = {
            "id": 1,
            "n": "12.5000",
            "tiny": "0.0000001",
            "d": "2024-02-29",
            "ts": "2024-02-29T23:59:58.500000",
            "tz": "2024-02-29T21:59:58+00:00",
            "b": "AP8=",
            "j": {"a": [1, 2.5]},
            "f": 1.5,
            "g": "NaN",
            "u": "12345678-1234-5678-1234-567812345678",
            "i": "P1DT7203.5S",
            "flag": True,
            "tags": ["x", "y"],
            "nothing": None,
        }
    elif db.kind == "mysql":
        db.execute(
            "create table v (id int primary key, n decimal(12,4), dt datetime(6), ts timestamp(3) null, d date, "
            "t time, flag tinyint(1), b blob, j json, f double, e enum('a','b'), bits bit(3), "
            "big bigint unsigned, missing text)"
        )
        db.execute("set time_zone = '+02:00'")  # the reader's own session is in UTC whatever the server's zone
        db.execute(
            "insert into v values (1, 12.5, '2024-02-29 23:59:58.5', '2024-02-29 23:59:58.25', '2024-02-29', "
            "'-01:02:03', 1, x'00ff', '{\"a\": [1, 2.5]}', 1.5, 'b', b'101', 18446744073709551615, null)"
        )
        expected = {
            "id": 1,
            "n": "12.5000",
            "dt": "2024-02-29T23:59:58.500000",
            "ts": "2024-02-29T21:59:58.250000",
            "d": "2024-02-29",
            "t": "-01:02:03",
            "flag": 1,
            "b": "AP8=",
            "j": '{"a": [1, 2.5]}',
            "f": 1.5,
            "e": "b",
            "bits": "BQ==",
            "big": 18446744073709551615,
            "missing": None,
        }
    else:
        db.execute("create table v (id integer primary key, n numeric, t text, r real, b blob, missing text)")
        db.execute("insert into v values (1, 12.5, 'héllo', 2.25, x'00ff', null)")
        expected = {"id": 1, "n": 12.5, "t": "héllo", "r": 2.25, "b": "AP8=", "missing": None}
    config = configure(
        tmp_path,
        driver={**db.options(), "tables": ["v"], "reader": "driver"},
        duck={**db.options(), "tables": ["v"], "reader": "duckdb"},
    )
    sync(config, "driver")
    sync(config, "duck")
    assert landed(config, "driver__v") == [expected]
    if db.kind == "postgres":
        expected["tiny"] = 1e-07  # DuckDB's postgres scanner reads a numeric without precision as a double
    assert landed(config, "duck__v") == [expected]


def test_incremental_through_the_duckdb_reader(db: Backend, tmp_path: Path) -> None:
    create_events(db, rows=7, ties=3)
    config = configure(
        tmp_path,
        src={
            **db.options(),
            "tables": [{"name": "events", "cursor_field": "updated_at"}],
            "reader": "duckdb",
            "checkpoint_every": 2,
        },
    )
    assert sync(config, "src").streams["events"].landed == 7
    insert_event(db, "events", 8, "2024-01-03 10:00:00", "tie with the last cursor")
    assert sync(config, "src").streams["events"].landed == 1
    assert sorted(row["id"] for row in landed(config, "src__events")) == list(range(1, 9))


def test_null_cursor_rows_are_quarantined_not_lost(pg_or_sqlite: Backend, tmp_path: Path) -> None:
    db = pg_or_sqlite
    db.execute("create table n (id integer primary key, updated_at integer)")
    db.execute("insert into n values (1, 10), (2, null), (3, 11)")
    config = configure(tmp_path, src={**db.options(), "tables": [{"name": "n", "cursor_field": "updated_at"}]})
    result = sync(config, "src")
    assert (result.streams["n"].landed, result.streams["n"].quarantined) == (2, 1)
    ((reason, raw),) = query(config, "select reason, raw_bytes from raw._refinery_quarantine")
    assert "'updated_at' is NULL" in reason and "full_refresh" in reason
    assert orjson.loads(raw) == {"id": 2, "updated_at": None}


def test_invalid_utf8_in_sqlite_is_quarantined_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "bad.db"
    con = sqlite3.connect(path)
    con.execute("create table t (id integer primary key, body text)")
    con.execute("insert into t values (1, 'fine'), (2, cast(x'ff41' as text))")
    con.commit()
    con.close()
    config = configure(tmp_path, src={"kind": "sqlite", "path": str(path)})
    result = sync(config, "src")
    assert (result.streams["t"].landed, result.streams["t"].quarantined) == (1, 1)
    ((reason, raw),) = query(config, "select reason, raw_bytes from raw._refinery_quarantine")
    assert "not valid UTF-8" in reason and b"\\xffA" in raw


# ------------------------------------------------------------------------- secrets and errors


@pytest.fixture
def mysql_user(mysql_service, monkeypatch) -> Iterator[tuple[str, str, str]]:
    """A MariaDB database and a user with a password that can read it: (database, user, password)."""
    import pymysql

    suffix = uuid.uuid4().hex[:10]
    database, user, password = f"refinery_test_{suffix}", f"refinery_{suffix}", f"S3cret-{suffix}-pw"
    admin = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    try:
        with admin.cursor() as cur:
            cur.execute(f"create database `{database}`")
            cur.execute(f"create table `{database}`.t (id int primary key, secret_free varchar(20))")
            cur.execute(f"insert into `{database}`.t values (1, 'a'), (2, 'b')")
            cur.execute(f"create user '{user}'@'%%' identified by %s", [password])
            cur.execute(f"create user '{user}'@'localhost' identified by %s", [password])
            cur.execute(f"grant select on `{database}`.* to '{user}'@'%'")
            cur.execute(f"grant select on `{database}`.* to '{user}'@'localhost'")
        yield database, user, password
    finally:
        with admin.cursor() as cur:
            cur.execute(f"drop user if exists '{user}'@'%'")
            cur.execute(f"drop user if exists '{user}'@'localhost'")
            cur.execute(f"drop database if exists `{database}`")
        admin.close()


@pytest.mark.parametrize("reader", ["driver", "duckdb"])
def test_password_from_env_is_used_and_never_stored(mysql_user, reader, tmp_path, monkeypatch) -> None:
    database, user, password = mysql_user
    monkeypatch.setenv("REFINERY_TEST_DB_PASSWORD", password)
    options = {"kind": "mysql", "database": database, "user": user, "password_from_env": "REFINERY_TEST_DB_PASSWORD"}
    config = configure(tmp_path, src={**options, "reader": reader})
    assert sync(config, "src").streams["t"].landed == 2
    stored = b"".join(path.read_bytes() for path in config.warehouse_dir.rglob("*") if path.is_file())
    assert password.encode() not in stored
    assert b"secret_free" in stored  # the check reads the right bytes
    assert secret_locations(config.database_path, password) == []  # compressed columns hide bytes: query them
    assert secret_locations(config.database_path, "secret_free") != []  # the query reads the right tables

    monkeypatch.setenv("REFINERY_TEST_DB_PASSWORD", password + "-wrong")
    with pytest.raises(ConfigError) as failure:
        sync_source(config, "src", say=lambda _: None)
    message = str(failure.value)
    assert "source 'src'" in message and f"{user}@127.0.0.1:3306" in message
    assert "REFINERY_TEST_DB_PASSWORD" in message and "Access denied" in message
    assert password not in message


def test_missing_password_variable_names_it(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("REFINERY_TEST_UNSET_PASSWORD", raising=False)
    config = configure(
        tmp_path, src={"kind": "postgres", "database": "test", "password_from_env": "REFINERY_TEST_UNSET_PASSWORD"}
    )
    with pytest.raises(ConfigError, match="REFINERY_TEST_UNSET_PASSWORD, which is not set; export it"):
        sync_source(config, "src", say=lambda _: None)


@pytest.mark.parametrize("kind", ["postgres", "mysql"])
def test_unreachable_server_is_a_config_error_without_the_password(kind, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("REFINERY_TEST_DB_PASSWORD", "pw-never-shown-1234")
    config = configure(
        tmp_path,
        src={"kind": kind, "database": "test", "port": 1, "password_from_env": "REFINERY_TEST_DB_PASSWORD"},
    )
    with pytest.raises(ConfigError) as failure:
        sync_source(config, "src", say=lambda _: None)
    message = str(failure.value)
    assert message.startswith(f"{config.path}: source 'src' cannot read {kind} database 'test' at ")
    assert "127.0.0.1:1" in message and "the server is running" in message
    assert "pw-never-shown-1234" not in message


def test_missing_database_and_missing_table(postgres_service, tmp_path) -> None:
    db = Postgres()
    try:
        db.execute("create table present (id integer primary key)")
        config = configure(
            tmp_path,
            nodb={"kind": "postgres", "database": f"missing_{uuid.uuid4().hex[:8]}"},
            notable={**db.options(), "tables": ["present", "absent"]},
        )
        with pytest.raises(ConfigError, match=r"source 'nodb' cannot read postgres database 'missing_.*does not exist"):
            sync_source(config, "nodb", say=lambda _: None)
        with pytest.raises(ConfigError) as failure:
            sync_source(config, "notable", say=lambda _: None)
        message = str(failure.value)
        assert "'sources.notable.tables' names ['absent']" in message and "available: ['present']" in message
    finally:
        db.close()


def test_colliding_table_names_in_the_database_name_both(tmp_path) -> None:
    path = tmp_path / "c.db"
    con = sqlite3.connect(path)
    con.execute('create table "Order Items" (id integer)')
    con.execute('create table "order_items" (id integer)')
    con.commit()
    con.close()
    config = configure(tmp_path, src={"kind": "sqlite", "path": str(path)})
    with pytest.raises(ConfigError, match=r"tables 'Order Items' and 'order_items' would both land as stream"):
        sync_source(config, "src", say=lambda _: None)


# ------------------------------------------------------------------------------------------ dbt


def test_database_streams_flow_through_dbt(tmp_path: Path) -> None:
    """A table with a text_field becomes documents (training examples); other tables stay raw records."""
    import subprocess
    import sys

    path = tmp_path / "crm.db"
    con = sqlite3.connect(path)
    con.execute("create table tickets (id integer primary key, customer text, body text, updated_at text)")
    con.executemany(
        "insert into tickets values (?, ?, ?, ?)",
        [
            (1, "acme", "My order arrived damaged and I would like a replacement, please.", "2024-01-01"),
            (2, "acme", "The invoice for March was charged twice to my credit card, please refund.", "2024-01-02"),
            (3, "globex", "Please update the shipping address on my account to the new office.", "2024-01-03"),
        ],
    )
    con.execute("create table customers (id integer primary key, name text)")
    con.execute("insert into customers values (1, 'acme')")
    con.commit()
    con.close()
    ticket_table = {"name": "tickets", "cursor_field": "updated_at", "text_field": "body", "group_field": "customer"}
    config = configure(
        tmp_path,
        crm={"kind": "sqlite", "path": str(path), "tables": [ticket_table]},
        crm_records={"kind": "sqlite", "path": str(path), "tables": ["customers"]},
    )
    sync(config, "crm")
    sync(config, "crm_records")
    project = Path(__file__).resolve().parents[2] / "dbt_project"
    completed = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            "build",
            "--target",
            "ci",
            "--profiles-dir",
            str(project),
            "--project-dir",
            str(project),
            "--target-path",
            str(tmp_path / "dbt_target"),
            "--log-path",
            str(tmp_path / "dbt_logs"),
            "--vars",
            # Short support notes: no quality rule drops them, so all three reach training_examples.
            "{refinery_sources: [crm, crm_records], quality_drop_rules: []}",
        ],
        cwd=project,
        env={**os.environ, "REFINERY_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-4000:]
    assert " ERROR=0 " in completed.stdout
    documents = query(
        config,
        "select source_key, group_key, raw_text from staging.stg_refinery__documents "
        "where source_name = 'crm' order by source_key",
    )
    assert [(key, group) for key, group, _ in documents] == [("1", "acme"), ("2", "acme"), ("3", "globex")]
    assert documents[0][2].startswith("My order arrived damaged")
    examples = query(config, "select count(*) from marts.training_examples where source_name = 'crm'")
    assert examples == [(3,)]
    streams = query(config, "select source_name, stream_name, role from raw._refinery_streams order by source_name")
    assert streams == [("crm", "tickets", "documents"), ("crm_records", "customers", "records")]
