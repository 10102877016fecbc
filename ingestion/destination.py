"""The one DuckDB destination every source writes through.

It knows nothing about any particular source. For each stream it keeps a raw table
`raw."<source>__<stream>"` in the Airbyte Destinations V2 raw layout and writes records
in Arrow batches. Records are inserted inside an open transaction that is committed only
when a STATE message arrives (or the source ends cleanly), together with that state and
the sync-log counters: a crash at any point leaves the last checkpoint and exactly the
records before it, so re-running lands nothing twice and loses nothing.

Throughput (docs/BENCHMARKS.md, "Landing throughput"): per record, Python only validates the
record and serializes its data once (orjson), and neither when the source already did
(`Record.checked` names the same rule, `Record.data_bytes` holds the bytes); ids (`uuid()`),
load time, generation and the empty `_airbyte_meta` are filled in by DuckDB in the
INSERT … SELECT. `_airbyte_data` reaches DuckDB as an Arrow `arrow.json` column, so DuckDB
does not parse it again (orjson's output is valid JSON and UTF-8). Each batch is inserted on
one writer thread while the caller's thread reads and validates the next batch (DuckDB
releases the GIL); every checkpoint, quarantine write and rollback first waits for that
insert, so the transaction boundaries are unchanged.

Anything that cannot be landed goes to `raw._refinery_quarantine` with the reason and the
original bytes, in the same transaction as its neighbours. See docs/raw-layer.md.
"""

from __future__ import annotations

import time
import uuid
from array import array
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from ingestion.protocol import (
    GLOBAL_STREAM,
    UNKNOWN_STREAM,
    Log,
    Message,
    Quarantined,
    Record,
    SourceFailed,
    State,
    StreamSpec,
    Trace,
    record_bytes,
    record_problem,
)
from ingestion.warehouse import connect, quote_identifier

RAW_SCHEMA = "raw"
# Arrow's `arrow.json` type: DuckDB takes such a column as JSON without parsing it again. Only
# orjson's output goes in (valid JSON, valid UTF-8).
JSON_TYPE = pa.json_(pa.large_string())
# DuckDB's `write_buffer_row_group_count` during a sync (default 5): a transaction's inserted rows
# are written to the database file (optimistically, freed again on rollback) as soon as one row
# group (122,880 rows) is full, i.e. on the writer thread while the next batch is read, instead of
# five row groups at a time and the rest by the commit on the reading thread. 150,000 bench records:
# commit 0.15 -> 0.03 s CPU (docs/BENCHMARKS.md, "Landing throughput").
WRITE_BUFFER_ROW_GROUPS = 1
ROW_GROUP_ROWS = 122_880  # DuckDB's default row group size (a database file can be created with another)

BOOKKEEPING_DDL = [
    f"create schema if not exists {RAW_SCHEMA}",
    f"""create table if not exists {RAW_SCHEMA}._refinery_streams (
        source_name varchar not null, stream_name varchar not null, table_name varchar not null,
        kind varchar not null, role varchar not null, primary_key varchar, cursor_field varchar,
        text_field varchar, group_field varchar, updated_at timestamptz not null,
        primary key (source_name, stream_name))""",
    f"""create table if not exists {RAW_SCHEMA}._refinery_state (
        source_name varchar not null, stream_name varchar not null, state_type varchar not null,
        state json not null, sync_id varchar not null, updated_at timestamptz not null,
        primary key (source_name, stream_name))""",
    f"""create table if not exists {RAW_SCHEMA}._refinery_sync_log (
        sync_id varchar not null, source_name varchar not null, stream_name varchar not null,
        started_at timestamptz not null, ended_at timestamptz, records_read bigint not null,
        records_landed bigint not null, records_quarantined bigint not null, bytes_read bigint not null,
        status varchar not null, error varchar, primary key (sync_id, stream_name))""",
    f"""create table if not exists {RAW_SCHEMA}._refinery_quarantine (
        quarantine_id varchar not null primary key, sync_id varchar not null, source_name varchar not null,
        stream_name varchar not null, reason varchar not null, raw_bytes blob,
        quarantined_at timestamptz not null)""",
    f"""create table if not exists {RAW_SCHEMA}._refinery_schemas (
        source_name varchar not null, stream_name varchar not null, json_schema json not null,
        sync_id varchar not null, updated_at timestamptz not null, primary key (source_name, stream_name))""",
    f"""create table if not exists {RAW_SCHEMA}._refinery_schema_history (
        source_name varchar not null, stream_name varchar not null, sync_id varchar not null,
        changed_at timestamptz not null, change varchar not null, column_name varchar not null,
        old_type varchar, new_type varchar)""",
]


@dataclass(slots=True)  # slots: two of its counters are updated per record
class StreamCounts:
    read: int = 0
    landed: int = 0
    quarantined: int = 0
    bytes: int = 0


@dataclass
class SyncResult:
    """What one sync did, per stream (committed numbers only)."""

    sync_id: str
    source_name: str
    status: str
    error: str | None
    started_at: datetime
    ended_at: datetime
    streams: dict[str, StreamCounts] = field(default_factory=dict)
    # stream → (change, column, old type, new type) recorded in raw._refinery_schema_history by this sync
    schema_changes: dict[str, list[tuple[str, str, str | None, str | None]]] = field(default_factory=dict)

    @property
    def duration_seconds(self) -> float:
        return (self.ended_at - self.started_at).total_seconds()

    def total(self, attribute: str) -> int:
        return sum(getattr(counts, attribute) for counts in self.streams.values())


def table_name(source_name: str, stream_name: str) -> str:
    return f"{source_name}__{stream_name}"


@dataclass(slots=True)
class _Buffer:
    """The records of one stream not yet inserted, already in Arrow's memory layout.

    The serialized records are appended to one growing `data` buffer with their end offsets,
    rather than kept as one bytes object each: tens of thousands of live KB-sized objects per
    batch made the allocator return and re-fault memory (~170k page faults, ~0.3 s of system CPU
    per 150k records on the 2-core VM, see docs/BENCHMARKS.md). A flushed
    batch keeps its buffers (the writer thread reads them); the next batch starts new ones.
    """

    extracted: array = field(default_factory=lambda: array("q"))  # emitted_at, epoch ms
    ends: array = field(default_factory=lambda: array("q", [0]))  # offsets of each record in `data`
    data: bytearray = field(default_factory=bytearray)  # the serialized `_airbyte_data`, back to back
    metas: dict[int, str] = field(default_factory=dict)  # row → `_airbyte_meta` of records with changes
    quarantine: list[tuple[str, bytes]] = field(default_factory=list)
    pending: StreamCounts = field(default_factory=StreamCounts)
    cut: int = 0  # flush when this many records are buffered (see _batch_cut)

    def clear(self) -> None:
        self.extracted = array("q")
        self.ends = array("q", [0])
        self.data = bytearray()
        self.metas = {}


class _Writer:
    """Runs batch inserts on one thread, one at a time, while the caller prepares the next batch.

    The caller uses the connection itself only after `wait()`, so the connection is never used by
    two threads at once; an insert's error is raised by the next `submit()` or `wait()`. The
    thread starts with the first full batch: a sync smaller than one batch never starts it.
    """

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[None] | None = None

    def submit(self, work: Callable[[], None]) -> None:
        self.wait()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="refinery-writer")
        self._pending = self._pool.submit(work)

    def wait(self) -> None:
        """Block until the submitted insert is done; raise its error."""
        if self._pending is not None:
            self._pending.result()
            self._pending = None

    def close(self) -> None:
        """Let a running insert finish (its error is dropped: only a failing sync closes with one pending)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._pending = None


ProgressCallback = Callable[[str, dict[str, StreamCounts]], None]


class DuckDBDestination:
    """Land one source's messages in the warehouse file."""

    def __init__(
        self,
        database: Path,
        source_name: str,
        kind: str,
        batch_size: int = 20_000,
        batch_bytes: int = 16 * 2**20,
        duckdb_threads: int | None = 1,
    ) -> None:
        """Land into `database`; a batch is inserted after `batch_size` records or `batch_bytes` of data.

        A batch also ends one row past each full DuckDB row group (see `_batch_cut`).

        `duckdb_threads`: DuckDB's worker threads while the sync runs (restored after; None: leave
        DuckDB's setting). One by default: a batch insert gains nothing from more (measured in
        bench/landing.py), and extra DuckDB threads only take CPU from the thread reading the source.
        """
        self.database = database
        self.source_name = source_name
        self.kind = kind
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self.duckdb_threads = duckdb_threads
        self._writer: _Writer | None = None  # set while run() is running
        self._empty_meta = ""

    # -- state -----------------------------------------------------------------------------------
    def saved_state(self) -> list[dict[str, Any]]:
        """The saved STATE objects of this source, as a connector's `--state` file expects."""
        if not self.database.exists():
            return []
        with connect(self.database) as con:
            _ensure_bookkeeping(con)
            rows = con.execute(
                f"select stream_name, state_type, state from {RAW_SCHEMA}._refinery_state "
                "where source_name = ? order by stream_name",
                [self.source_name],
            ).fetchall()
        states = [(stream, kind, orjson.loads(state)) for stream, kind, state in rows]
        global_rows = [state for stream, kind, state in states if stream == GLOBAL_STREAM]
        if global_rows:
            return global_rows
        return [state for _, _, state in states]

    def stream_states(self) -> dict[str, Any]:
        """stream name → the stream's saved `stream_state` (for built-in sources)."""
        return stream_states_of(self.saved_state())

    # -- the sync --------------------------------------------------------------------------------
    def run(
        self,
        streams: list[StreamSpec],
        messages: Iterable[Message],
        on_progress: ProgressCallback | None = None,
        on_log: Callable[[Log], None] | None = None,
    ) -> SyncResult:
        """Land every message; commit at each STATE; record the sync.

        Returns the result; if the source failed, the result has status 'failed' and the
        records after the last STATE were rolled back (nothing before it is lost).
        """
        sync_id = str(uuid.uuid4())
        started = _now()
        specs = {spec.name: spec for spec in streams}
        rules = {spec.name: _rule(spec) for spec in streams}
        committed: dict[str, StreamCounts] = {name: StreamCounts() for name in specs}
        batch_size, batch_bytes = self.batch_size, self.batch_bytes
        buffers: dict[str, _Buffer] = {name: _Buffer(cut=_batch_cut(0, batch_size)) for name in specs}
        errors: list[str] = []
        con = connect(self.database)
        self._writer = _Writer()
        settings = {"write_buffer_row_group_count": WRITE_BUFFER_ROW_GROUPS}
        if self.duckdb_threads is not None:
            settings["threads"] = self.duckdb_threads
        restore: dict[str, int] = {}
        try:
            for name, value in settings.items():
                restore[name] = con.execute(f"select current_setting('{name}')").fetchone()[0]
                con.execute(f"set {name} = {int(value)}")
            _ensure_bookkeeping(con)
            self._close_interrupted(con)
            schema_changes: dict[str, list[tuple[str, str, str | None, str | None]]] = {}
            generations = self._prepare_streams(con, specs, sync_id, started, schema_changes)
            self._empty_meta = orjson.dumps({"sync_id": sync_id, "changes": []}).decode()
            con.begin()
            last_report = time.monotonic()
            try:
                for message in messages:
                    if isinstance(message, Record):
                        stream = message.stream
                        buffer = buffers.get(stream)
                        data = message.data_bytes
                        if data is None:
                            data = record_bytes(message.data)
                        if buffer is None:
                            self._quarantine_into(
                                buffers,
                                committed,
                                stream,
                                f"record for stream {stream!r}, which is not in the configured "
                                f"catalog ({', '.join(sorted(specs)) or 'no streams'})",
                                data,
                            )
                            continue
                        if message.checked != rules[stream]:  # else the source ran the same check
                            problem = _validate(specs[stream], message.data)
                            if problem:
                                raw = message.raw if message.raw is not None else data  # as it arrived, if known
                                self._quarantine_into(buffers, committed, stream, problem, raw)
                                continue
                        extracted = buffer.extracted
                        if message.changes:
                            buffer.metas[len(extracted)] = orjson.dumps(
                                {"sync_id": sync_id, "changes": message.changes}
                            ).decode()
                        extracted.append(message.emitted_at)
                        batch_data = buffer.data
                        batch_data += data
                        buffer.ends.append(len(batch_data))
                        pending = buffer.pending
                        pending.read += 1
                        pending.bytes += message.size or len(data)
                        if len(extracted) >= buffer.cut or len(batch_data) >= batch_bytes:
                            self._flush(con, stream, buffer, generations[stream])
                            if on_progress and time.monotonic() - last_report > 1.0:
                                on_progress(self.source_name, _merged(committed, buffers))
                                last_report = time.monotonic()
                    elif isinstance(message, Quarantined):
                        self._quarantine_into(buffers, committed, message.stream, message.reason, message.raw)
                    elif isinstance(message, State):
                        self._checkpoint(con, buffers, committed, generations, sync_id, message)
                        if on_progress and time.monotonic() - last_report > 1.0:
                            on_progress(self.source_name, committed)
                            last_report = time.monotonic()
                    elif isinstance(message, Trace) and message.trace_type == "ERROR":
                        errors.append(message.error_message)
                    elif isinstance(message, Log) and on_log:
                        on_log(message)
                if errors:
                    raise SourceFailed("; ".join(errors))
                self._checkpoint(con, buffers, committed, generations, sync_id, None, final=True)
            except BaseException as exc:
                self._writer.close()  # the running insert finishes (or fails) before the rollback
                con.rollback()
                error = _describe(exc)
                self._finish_log(con, sync_id, committed, "failed", error)
                if isinstance(exc, KeyboardInterrupt | SystemExit):
                    raise
                return SyncResult(
                    sync_id, self.source_name, "failed", error, started, _now(), committed, schema_changes
                )
            return SyncResult(sync_id, self.source_name, "succeeded", None, started, _now(), committed, schema_changes)
        finally:
            self._writer.close()
            self._writer = None
            for name, value in restore.items():
                con.execute(f"set {name} = {int(value)}")
            con.close()

    # -- internals -------------------------------------------------------------------------------
    def _close_interrupted(self, con: duckdb.DuckDBPyConnection) -> None:
        """Syncs of this source still 'running' died with their process (we hold the lock now)."""
        con.execute(
            f"update {RAW_SCHEMA}._refinery_sync_log set status = 'failed', ended_at = ?, "
            "error = 'interrupted: the process stopped before the sync finished; records up to its last "
            "checkpoint were kept' where source_name = ? and status = 'running'",
            [_now(), self.source_name],
        )

    def _prepare_streams(
        self,
        con: duckdb.DuckDBPyConnection,
        specs: dict[str, StreamSpec],
        sync_id: str,
        started: datetime,
        schema_changes: dict[str, list[tuple[str, str, str | None, str | None]]],
    ) -> dict[str, int]:
        generations: dict[str, int] = {}
        for spec in specs.values():
            table = quote_identifier(table_name(self.source_name, spec.name))
            con.execute(
                f"""create table if not exists {RAW_SCHEMA}.{table} (
                    _airbyte_raw_id varchar not null, _airbyte_extracted_at timestamptz not null,
                    _airbyte_loaded_at timestamptz, _airbyte_meta json, _airbyte_generation_id bigint,
                    _airbyte_data json)"""
            )
            current = con.execute(
                f"select coalesce(max(_airbyte_generation_id), 0) from {RAW_SCHEMA}.{table}"
            ).fetchone()[0]
            generations[spec.name] = current + 1 if spec.full_refresh else current
            con.execute(
                f"insert or replace into {RAW_SCHEMA}._refinery_streams values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    self.source_name,
                    spec.name,
                    table_name(self.source_name, spec.name),
                    self.kind,
                    spec.role,
                    spec.primary_key,
                    spec.cursor_field,
                    spec.text_field,
                    spec.group_field,
                    started,
                ],
            )
            self._start_log(con, sync_id, spec.name, started)
            if spec.json_schema is not None:
                changes = self._record_schema(con, spec, sync_id, started)
                if changes:
                    schema_changes[spec.name] = changes
        return generations

    def _record_schema(
        self, con: duckdb.DuckDBPyConnection, spec: StreamSpec, sync_id: str, now: datetime
    ) -> list[tuple[str, str, str | None, str | None]]:
        """Compare the stream's schema with the last one seen; record what changed (one transaction)."""
        new = column_types(spec.json_schema)
        row = con.execute(
            f"select json_schema from {RAW_SCHEMA}._refinery_schemas where source_name = ? and stream_name = ?",
            [self.source_name, spec.name],
        ).fetchone()
        old = column_types(orjson.loads(row[0])) if row else None
        if old == new and row is not None:
            return []
        changes = schema_changes(old, new)
        con.begin()
        con.executemany(
            f"insert into {RAW_SCHEMA}._refinery_schema_history values (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [self.source_name, spec.name, sync_id, now, change, column, before, after]
                for change, column, before, after in changes
            ],
        )
        con.execute(
            f"insert or replace into {RAW_SCHEMA}._refinery_schemas values (?, ?, ?, ?, ?)",
            [self.source_name, spec.name, orjson.dumps(spec.json_schema).decode(), sync_id, now],
        )
        con.commit()
        return changes

    def _start_log(self, con: duckdb.DuckDBPyConnection, sync_id: str, stream: str, started: datetime) -> None:
        con.execute(
            f"insert or ignore into {RAW_SCHEMA}._refinery_sync_log values "
            "(?, ?, ?, ?, null, 0, 0, 0, 0, 'running', null)",
            [sync_id, self.source_name, stream, started],
        )

    def _quarantine_into(
        self,
        buffers: dict[str, _Buffer],
        committed: dict[str, StreamCounts],
        stream: str,
        reason: str,
        raw: bytes,
    ) -> None:
        if stream not in buffers:
            stream = UNKNOWN_STREAM
            buffers.setdefault(stream, _Buffer())
            committed.setdefault(stream, StreamCounts())
        buffer = buffers[stream]
        buffer.quarantine.append((reason, raw))
        buffer.pending.read += 1
        buffer.pending.quarantined += 1
        buffer.pending.bytes += len(raw)

    def _flush(
        self,
        con: duckdb.DuckDBPyConnection,
        stream: str,
        buffer: _Buffer,
        generation: int,
        background: bool = True,
    ) -> None:
        """Insert the buffered records as one Arrow batch into the open transaction.

        `background`: on the writer thread (the caller goes on reading); else here, after the
        writer's pending insert.
        """
        count = len(buffer.extracted)
        if not count:
            return
        if buffer.metas:
            metas: pa.Array = pa.array([buffer.metas.get(row) for row in range(count)], pa.large_string())
            metas = pa.ExtensionArray.from_storage(JSON_TYPE, metas)
        else:
            metas = pa.nulls(count, JSON_TYPE)
        batch = pa.table(
            {
                "extracted_at": pa.Array.from_buffers(
                    pa.timestamp("ms", tz="UTC"), count, [None, pa.py_buffer(buffer.extracted)]
                ),
                "meta": metas,
                "data": pa.ExtensionArray.from_storage(
                    JSON_TYPE,
                    pa.Array.from_buffers(
                        pa.large_string(), count, [None, pa.py_buffer(buffer.ends), pa.py_buffer(buffer.data)]
                    ),
                ),
            }
        )
        sql = (
            f"insert into {RAW_SCHEMA}.{quote_identifier(table_name(self.source_name, stream))} "
            "select uuid()::varchar, extracted_at, $loaded_at, coalesce(meta, $empty_meta::json), $generation, data "
            "from _refinery_batch"
        )
        params = {"loaded_at": _now(), "empty_meta": self._empty_meta, "generation": generation}

        def insert() -> None:
            con.register("_refinery_batch", batch)
            try:
                con.execute(sql, params)
            finally:
                con.unregister("_refinery_batch")

        if background:
            self._writer.submit(insert)
        else:
            self._writer.wait()
            insert()
        buffer.pending.landed += count
        buffer.cut = _batch_cut(buffer.pending.landed, self.batch_size)
        buffer.clear()

    def _flush_quarantine(self, con: duckdb.DuckDBPyConnection, sync_id: str, stream: str, buffer: _Buffer) -> None:
        if buffer.quarantine:
            now = _now()
            con.executemany(
                f"insert into {RAW_SCHEMA}._refinery_quarantine values (?, ?, ?, ?, ?, ?, ?)",
                [
                    [str(uuid.uuid4()), sync_id, self.source_name, stream, reason, raw, now]
                    for reason, raw in buffer.quarantine
                ],
            )
            buffer.quarantine.clear()

    def _checkpoint(
        self,
        con: duckdb.DuckDBPyConnection,
        buffers: dict[str, _Buffer],
        committed: dict[str, StreamCounts],
        generations: dict[str, int],
        sync_id: str,
        state: State | None,
        final: bool = False,
    ) -> None:
        """Flush every buffer, save the state, update counters and commit — one transaction."""
        now = _now()
        self._writer.wait()  # every record before the state is in the transaction; the connection is ours again
        for stream, buffer in buffers.items():
            if stream in generations:
                self._flush(con, stream, buffer, generations[stream], background=False)
        for stream, buffer in buffers.items():
            self._flush_quarantine(con, sync_id, stream, buffer)
        if state is not None:
            if state.state_type == "STREAM":
                (stream_name,) = state.stream_states
            else:
                stream_name = GLOBAL_STREAM
            con.execute(
                f"insert or replace into {RAW_SCHEMA}._refinery_state values (?, ?, ?, ?, ?, ?)",
                [
                    self.source_name,
                    stream_name,
                    state.state_type,
                    orjson.dumps(state.message).decode(),
                    sync_id,
                    now,
                ],
            )
        if final:
            for stream, generation in generations.items():
                table = quote_identifier(table_name(self.source_name, stream))
                con.execute(f"delete from {RAW_SCHEMA}.{table} where _airbyte_generation_id < ?", [generation])
        for stream, buffer in buffers.items():
            total = committed.setdefault(stream, StreamCounts())
            total.read += buffer.pending.read
            total.landed += buffer.pending.landed
            total.quarantined += buffer.pending.quarantined
            total.bytes += buffer.pending.bytes
            buffer.pending = StreamCounts()
            buffer.cut = _batch_cut(0, self.batch_size)
        self._write_counts(con, sync_id, committed, "succeeded" if final else "running", None, now if final else None)
        con.commit()
        if not final:
            con.begin()

    def _write_counts(
        self,
        con: duckdb.DuckDBPyConnection,
        sync_id: str,
        committed: dict[str, StreamCounts],
        status: str,
        error: str | None,
        ended_at: datetime | None,
    ) -> None:
        for stream, counts in committed.items():
            self._start_log(con, sync_id, stream, _now())
            con.execute(
                f"update {RAW_SCHEMA}._refinery_sync_log set records_read = ?, records_landed = ?, "
                "records_quarantined = ?, bytes_read = ?, status = ?, error = ?, ended_at = ? "
                "where sync_id = ? and stream_name = ?",
                [
                    counts.read,
                    counts.landed,
                    counts.quarantined,
                    counts.bytes,
                    status,
                    error,
                    ended_at,
                    sync_id,
                    stream,
                ],
            )

    def _finish_log(
        self,
        con: duckdb.DuckDBPyConnection,
        sync_id: str,
        committed: dict[str, StreamCounts],
        status: str,
        error: str,
    ) -> None:
        con.begin()
        self._write_counts(con, sync_id, committed, status, error, _now())
        con.commit()


def stream_states_of(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """stream name → `stream_state`, from saved STREAM-form STATE messages."""
    result: dict[str, Any] = {}
    for message in messages:
        if message.get("type") == "STREAM":
            stream = message.get("stream") or {}
            result[(stream.get("stream_descriptor") or {}).get("name")] = stream.get("stream_state")
    return result


def column_types(json_schema: dict[str, Any] | None) -> dict[str, str]:
    """column → type string, from a JSON Schema's top-level `properties` (see StreamSpec.json_schema)."""
    result: dict[str, str] = {}
    for column, prop in ((json_schema or {}).get("properties") or {}).items():
        prop = prop if isinstance(prop, dict) else {}
        if prop.get("x-sql-type"):
            result[column] = str(prop["x-sql-type"])
            continue
        kinds = prop.get("type", "any")
        kinds = [kinds] if isinstance(kinds, str) else list(kinds or ["any"])
        text = "|".join(sorted(str(k) for k in kinds if k != "null")) or "null"
        if prop.get("format"):
            text += f"({prop['format']})"
        elif prop.get("airbyte_type"):
            text += f"({prop['airbyte_type']})"
        result[column] = text
    return result


def schema_changes(old: dict[str, str] | None, new: dict[str, str]) -> list[tuple[str, str, str | None, str | None]]:
    """(change, column, old type, new type) rows: 'discovered' the first time, then added/removed/retyped."""
    if old is None:
        return [("discovered", column, None, kind) for column, kind in new.items()]
    rows: list[tuple[str, str, str | None, str | None]] = []
    rows += [("added", c, None, new[c]) for c in new if c not in old]
    rows += [("removed", c, old[c], None) for c in old if c not in new]
    rows += [("retyped", c, old[c], new[c]) for c in new if c in old and old[c] != new[c]]
    return rows


def _batch_cut(landed: int, batch_size: int) -> int:
    """How many buffered records the next batch holds, `landed` rows into the open transaction.

    `batch_size`, except that a batch ends one row past a full row group: DuckDB writes a full row
    group (with WRITE_BUFFER_ROW_GROUPS = 1) when an insert first adds a row after it, so this
    starts that write on the writer thread as soon as the group is full, not up to a batch later
    (for the last group of a sync that is time the commit no longer waits for).
    """
    into_group = landed % ROW_GROUP_ROWS
    if into_group == 0:
        return batch_size if landed else min(batch_size, ROW_GROUP_ROWS + 1)
    return min(batch_size, ROW_GROUP_ROWS - into_group + 1)


def _rule(spec: StreamSpec) -> tuple[str | None, str | None]:
    """The (primary key, text field) a stream's records are checked for (`Record.checked` names one)."""
    return spec.primary_key, spec.text_field if spec.role == "documents" else None


def _validate(spec: StreamSpec, data: dict[str, Any]) -> str | None:
    """Why a record cannot be landed in this stream, or None (rules: protocol.record_problem)."""
    return record_problem(data, *_rule(spec))


def _merged(committed: dict[str, StreamCounts], buffers: dict[str, _Buffer]) -> dict[str, StreamCounts]:
    merged = {}
    for stream in set(committed) | set(buffers):
        done = committed.get(stream, StreamCounts())
        pending = buffers[stream].pending if stream in buffers else StreamCounts()
        merged[stream] = StreamCounts(
            done.read + pending.read,
            done.landed + pending.landed,
            done.quarantined + pending.quarantined,
            done.bytes + pending.bytes,
        )
    return merged


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, SourceFailed) else f"{type(exc).__name__}: {text}"


def _now() -> datetime:
    return datetime.now(UTC)


def _ensure_bookkeeping(con: duckdb.DuckDBPyConnection) -> None:
    for statement in BOOKKEEPING_DDL:
        con.execute(statement)
