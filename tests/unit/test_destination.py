"""The destination: batching inside a transaction, STATE commit order, quarantine, crashes."""

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import duckdb
import orjson
import pytest

from ingestion.destination import DuckDBDestination
from ingestion.protocol import Quarantined, Record, StreamSpec, Trace, stream_state_message

pytestmark = pytest.mark.unit

DOCS = StreamSpec("docs", role="documents", primary_key="id", text_field="text")


def rec(i: int, stream: str = "docs", **extra) -> Record:
    return Record(stream, {"id": f"k{i}", "text": f"text {i}", **extra}, 1_700_000_000_000 + i)


def query(db: Path, sql: str):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "warehouse" / "refinery.duckdb"


def test_records_land_in_v2_raw_layout_with_untouched_data(db):
    destination = DuckDBDestination(db, "src", "files", batch_size=2)
    result = destination.run([DOCS], [rec(1), rec(2), rec(3), stream_state_message("docs", {"n": 3})])
    assert result.status == "succeeded"
    assert (result.streams["docs"].read, result.streams["docs"].landed) == (3, 3)
    rows = query(
        db,
        "select _airbyte_data ->> 'id', _airbyte_data ->> 'text', epoch_ms(_airbyte_extracted_at), "
        "_airbyte_loaded_at is not null, _airbyte_meta ->> 'sync_id', _airbyte_generation_id "
        "from raw.src__docs order by 1",
    )
    assert [r[:3] for r in rows] == [
        ("k1", "text 1", 1_700_000_000_001),
        ("k2", "text 2", 1_700_000_000_002),
        ("k3", "text 3", 1_700_000_000_003),
    ]
    assert all(r[3] and r[4] == result.sync_id and r[5] == 0 for r in rows)
    columns = [
        r[0]
        for r in query(
            db,
            "select column_name from duckdb_columns() where table_name = 'src__docs' order by column_index",
        )
    ]
    assert columns == [
        "_airbyte_raw_id",
        "_airbyte_extracted_at",
        "_airbyte_loaded_at",
        "_airbyte_meta",
        "_airbyte_generation_id",
        "_airbyte_data",
    ]
    assert query(db, "select role, primary_key, text_field from raw._refinery_streams") == [("documents", "id", "text")]


def test_state_is_committed_with_the_records_before_it_and_failure_rolls_back_the_rest(db):
    def source():
        yield rec(1)
        yield rec(2)
        yield stream_state_message("docs", {"upto": 2})
        for i in range(3, 10):  # more than one batch, flushed inside the open transaction
            yield rec(i)
        raise ConnectionError("network dropped")

    destination = DuckDBDestination(db, "src", "files", batch_size=3)
    result = destination.run([DOCS], source())
    assert result.status == "failed"
    assert "ConnectionError: network dropped" in result.error
    assert query(db, "select _airbyte_data ->> 'id' from raw.src__docs order by 1") == [("k1",), ("k2",)]
    assert destination.stream_states() == {"docs": {"upto": 2}}
    assert query(db, "select status, records_landed, error from raw._refinery_sync_log") == [
        ("failed", 2, "ConnectionError: network dropped")
    ]


def test_trace_error_fails_the_sync_and_keeps_checkpointed_records(db):
    messages = [
        rec(1),
        stream_state_message("docs", {"upto": 1}),
        rec(2),
        Trace("ERROR", {"type": "ERROR", "error": {"message": "rate limited"}}),
    ]
    result = DuckDBDestination(db, "src", "files").run([DOCS], messages)
    assert (result.status, result.error) == ("failed", "rate limited")
    assert query(db, "select count(*) from raw.src__docs") == [(1,)]


def test_records_after_the_last_state_commit_when_the_source_ends_cleanly(db):
    result = DuckDBDestination(db, "src", "files").run([DOCS], [rec(1), stream_state_message("docs", {}), rec(2)])
    assert result.status == "succeeded"
    assert query(db, "select count(*) from raw.src__docs") == [(2,)]


def test_every_input_is_accounted_for_as_landed_or_quarantined(db):
    messages = [
        rec(1),
        Record("docs", {"text": "no key"}, 1),  # missing primary key
        Record("docs", {"id": "k9", "text": 42}, 1),  # wrong type for the text field
        Record("docs", {"id": "k8"}, 1),  # missing text field
        Record("elsewhere", {"id": 1}, 1),  # stream not in the catalog
        Quarantined("invalid JSON: truncated", b'{"type": "REC', "docs"),
        Quarantined("not a message", b"garbage"),
    ]
    result = DuckDBDestination(db, "src", "files").run([DOCS], messages)
    assert result.total("read") == 7
    assert result.total("landed") + result.total("quarantined") == 7
    assert result.total("landed") == 1
    reasons = dict(query(db, "select reason, raw_bytes from raw._refinery_quarantine order by reason"))
    assert reasons["invalid JSON: truncated"] == b'{"type": "REC'
    assert reasons["not a message"] == b"garbage"
    assert b'"text":42' in reasons["text field 'text' is int, expected a string"]
    assert "missing primary key field 'id'" in reasons
    assert "missing text field 'text'" in reasons
    assert any("not in the configured catalog" in reason for reason in reasons)
    log = dict(query(db, "select stream_name, records_quarantined from raw._refinery_sync_log"))
    assert log == {"docs": 4, "_unknown": 2}


def test_hostile_stream_names_cannot_reach_sql():
    for name in ['x"; drop table raw._refinery_state; --', "Users", "a b", "naïve", "a__b"]:
        with pytest.raises(ValueError, match="cannot become a table name"):
            StreamSpec(name)


def test_field_names_with_quotes_are_data_not_sql(db):
    spec = StreamSpec("docs", role="documents", primary_key="it's", text_field='te"xt; drop')
    result = DuckDBDestination(db, "src", "files").run([spec], [Record("docs", {"it's": 1, 'te"xt; drop': "ok"}, 1)])
    assert result.total("landed") == 1
    assert query(db, "select primary_key, text_field from raw._refinery_streams") == [("it's", 'te"xt; drop')]


def test_full_refresh_stream_replaces_the_previous_generation_only_on_success(db):
    spec = StreamSpec("items", primary_key="id", full_refresh=True)
    destination = DuckDBDestination(db, "src", "airbyte")
    destination.run([spec], [rec(1, "items"), rec(2, "items")])
    destination.run([spec], [rec(3, "items"), Trace("ERROR", {"error": {"message": "boom"}})])
    assert query(db, "select _airbyte_data ->> 'id', _airbyte_generation_id from raw.src__items order by 1") == [
        ("k1", 1),
        ("k2", 1),
    ]
    destination.run([spec], [rec(4, "items")])
    assert query(db, "select _airbyte_data ->> 'id', _airbyte_generation_id from raw.src__items") == [("k4", 2)]


CRASHING_SYNC = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from ingestion.destination import DuckDBDestination
    from ingestion.protocol import Record, StreamSpec, stream_state_message

    db, kill_after = Path(sys.argv[1]), int(sys.argv[2])
    destination = DuckDBDestination(db, "src", "files", batch_size=7)
    start = (destination.stream_states().get("docs") or {}).get("next", 0)

    def source():
        for i in range(start, 100):
            if i == kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
            yield Record("docs", {"id": f"k{i}", "text": "t"}, 1)
            if i % 10 == 9:
                yield stream_state_message("docs", {"next": i + 1})

    spec = StreamSpec("docs", role="documents", primary_key="id", text_field="text")
    result = destination.run([spec], source())
    print(result.status)
""")


COMMIT_WINDOW_CRASH = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from ingestion import destination as module
    from ingestion.destination import DuckDBDestination
    from ingestion.protocol import Record, StreamSpec, stream_state_message

    db, point, nth = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    calls = {"n": 0}
    original = getattr(module.DuckDBDestination, point)

    def dying(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == nth:  # after the batch is flushed, before (or while) the state is committed
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, *args, **kwargs)

    if nth > 0:
        setattr(module.DuckDBDestination, point, dying)
    destination = DuckDBDestination(db, "src", "files", batch_size=4)
    start = (destination.stream_states().get("docs") or {}).get("next", 0)

    def source():
        for i in range(start, 30):
            yield Record("docs", {"id": f"k{i}", "text": "t"}, 1)
            if i % 10 == 9:
                yield stream_state_message("docs", {"next": i + 1})

    spec = StreamSpec("docs", role="documents", primary_key="id", text_field="text")
    print(destination.run([spec], source()).status)
""")


@pytest.mark.parametrize(("point", "nth"), [("_flush_quarantine", 2), ("_write_counts", 2), ("_write_counts", 3)])
def test_sigkill_between_flush_state_and_commit_loses_and_repeats_nothing(db, tmp_path, point, nth):
    script = tmp_path / "crash_commit.py"
    script.write_text(COMMIT_WINDOW_CRASH)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    killed = subprocess.run([sys.executable, str(script), str(db), point, str(nth)], env=env, capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    landed = query(db, "select count(*) from raw.src__docs")[0][0]
    saved = (DuckDBDestination(db, "src", "files").stream_states().get("docs") or {}).get("next", 0)
    assert landed == saved  # the records on disk are exactly those the saved state covers
    resumed = subprocess.run(
        [sys.executable, str(script), str(db), point, "0"], env=env, capture_output=True, text=True
    )
    assert resumed.stdout.strip() == "succeeded", resumed.stderr
    assert query(db, "select count(*), count(distinct _airbyte_data ->> 'id') from raw.src__docs") == [(30, 30)]


@pytest.mark.parametrize("kill_after", [3, 10, 27, 58, 99])
def test_sigkill_mid_sync_then_rerun_lands_every_record_exactly_once(db, tmp_path, kill_after):
    script = tmp_path / "crash.py"
    script.write_text(CRASHING_SYNC)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    killed = subprocess.run([sys.executable, str(script), str(db), str(kill_after)], env=env, capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    committed = kill_after // 10 * 10
    assert query(db, "select count(*) from raw.src__docs")[0][0] == committed
    resumed = subprocess.run([sys.executable, str(script), str(db), "-1"], env=env, capture_output=True, text=True)
    assert resumed.stdout.strip() == "succeeded", resumed.stderr
    assert query(db, "select count(*), count(distinct _airbyte_data ->> 'id') from raw.src__docs") == [(100, 100)]
    statuses = query(
        db,
        "select status, coalesce(error like 'interrupted%', false) from raw._refinery_sync_log order by started_at",
    )
    assert statuses == [("failed", True), ("succeeded", False)]


def test_code_after_state_runs_after_commit(db):
    """The contract stream sources rely on to acknowledge only what is durable."""
    seen_by_other_connection = []

    def source():
        yield rec(1)
        yield rec(2)
        yield stream_state_message("docs", {"upto": 2})
        # here the source would ack its broker: the records and the state must already be committed
        with duckdb.connect(str(db)) as other:  # same instance, its own transaction: sees committed data only
            seen_by_other_connection.append(
                (
                    other.execute("select count(*) from raw.src__docs").fetchone()[0],
                    other.execute("select state ->> '$.stream.stream_state.upto' from raw._refinery_state").fetchone()[
                        0
                    ],
                )
            )
        yield rec(3)
        raise ConnectionError("after the ack")

    result = DuckDBDestination(db, "src", "files").run([DOCS], source())
    assert result.status == "failed"
    assert seen_by_other_connection == [(2, "2")]


def test_schema_changes_are_recorded_per_stream(db):
    def spec(properties):
        return StreamSpec("items", primary_key="id", json_schema={"type": "object", "properties": properties})

    destination = DuckDBDestination(db, "src", "postgres")
    first = {"id": {"type": "integer"}, "name": {"type": ["null", "string"]}, "price": {"x-sql-type": "INTEGER"}}
    destination.run([spec(first)], [Record("items", {"id": 1}, 1)])
    destination.run([spec(first)], [Record("items", {"id": 2}, 2)])  # unchanged: nothing recorded
    second = {
        "id": {"type": "integer"},
        "price": {"x-sql-type": "DECIMAL(10,2)"},
        "created": {"type": "string", "format": "date-time"},
    }
    destination.run([spec(second)], [Record("items", {"id": 3}, 3)])
    rows = query(
        db,
        "select change, column_name, old_type, new_type from raw._refinery_schema_history "
        "order by changed_at, change, column_name",
    )
    assert rows == [
        ("discovered", "id", None, "integer"),
        ("discovered", "name", None, "string"),
        ("discovered", "price", None, "INTEGER"),
        ("added", "created", None, "string(date-time)"),
        ("removed", "name", "string", None),
        ("retyped", "price", "INTEGER", "DECIMAL(10,2)"),
    ]


def test_raw_layout_ids_and_meta_are_filled_per_record(db):
    changes = [{"field": "text", "change": "TRUNCATED", "reason": "SOURCE_FIELD_SIZE_LIMITATION"}]
    with_changes = Record("docs", {"id": "k2", "text": "cut"}, 1_700_000_000_002, changes=changes)
    destination = DuckDBDestination(db, "src", "files", batch_size=2)
    result = destination.run([DOCS], [rec(1), with_changes, rec(3), rec(4), rec(5)])
    assert result.total("landed") == 5
    types = query(
        db,
        "select column_name, data_type from duckdb_columns() where table_name = 'src__docs' order by column_index",
    )
    assert types == [
        ("_airbyte_raw_id", "VARCHAR"),
        ("_airbyte_extracted_at", "TIMESTAMP WITH TIME ZONE"),
        ("_airbyte_loaded_at", "TIMESTAMP WITH TIME ZONE"),
        ("_airbyte_meta", "JSON"),
        ("_airbyte_generation_id", "BIGINT"),
        ("_airbyte_data", "JSON"),
    ]
    rows = query(
        db,
        "select _airbyte_data ->> 'id', _airbyte_meta::varchar, _airbyte_raw_id, _airbyte_data::varchar "
        "from raw.src__docs order by 1",
    )
    metas = {key: orjson.loads(meta) for key, meta, _, _ in rows}
    assert metas["k2"] == {"sync_id": result.sync_id, "changes": changes}
    assert all(metas[key] == {"sync_id": result.sync_id, "changes": []} for key in ("k1", "k3", "k4", "k5"))
    ids = [raw_id for _, _, raw_id, _ in rows]
    assert len(set(ids)) == 5
    assert all(str(uuid.UUID(raw_id)) == raw_id for raw_id in ids)
    assert rows[0][3] == '{"id":"k1","text":"text 1"}'  # the data as orjson serializes it, unchanged


def test_a_batch_that_fails_to_insert_fails_the_sync_and_keeps_the_last_checkpoint(db):
    db.parent.mkdir(parents=True)
    with duckdb.connect(str(db)) as con:  # a constraint the 6th record breaks, inside a background batch
        con.execute("create schema raw")
        con.execute(
            """create table raw.src__docs (_airbyte_raw_id varchar not null, _airbyte_extracted_at timestamptz not null,
            _airbyte_loaded_at timestamptz, _airbyte_meta json, _airbyte_generation_id bigint,
            _airbyte_data json check (_airbyte_data ->> 'id' <> 'k6'))"""
        )
    messages = [rec(1), rec(2), stream_state_message("docs", {"upto": 2}), *[rec(i) for i in range(3, 12)]]
    destination = DuckDBDestination(db, "src", "files", batch_size=2)
    result = destination.run([DOCS], messages)
    assert result.status == "failed"
    assert "Constraint" in result.error
    assert query(db, "select _airbyte_data ->> 'id' from raw.src__docs order by 1") == [("k1",), ("k2",)]
    assert destination.stream_states() == {"docs": {"upto": 2}}
    assert query(db, "select status, records_landed from raw._refinery_sync_log") == [("failed", 2)]


def test_batches_are_cut_by_bytes_and_every_record_lands_once(db):
    big = [Record("docs", {"id": f"k{i}", "text": "x" * 1000}, 1) for i in range(50)]
    destination = DuckDBDestination(db, "src", "files", batch_size=1_000, batch_bytes=4_000)
    flushed = []
    original = destination._flush

    def counting(con, stream, buffer, generation, background=True):
        flushed.append(len(buffer.extracted))
        original(con, stream, buffer, generation, background)

    destination._flush = counting
    result = destination.run([DOCS], [*big[:25], stream_state_message("docs", {}), *big[25:]])
    assert result.total("landed") == 50
    assert query(db, "select count(*), count(distinct _airbyte_data ->> 'id') from raw.src__docs") == [(50, 50)]
    assert max(flushed) == 4  # 4 records of ~1 KB reach batch_bytes
    assert sum(flushed) == 50


def test_a_records_serialized_data_is_stored_and_its_check_skipped_only_for_the_same_rule(db):
    rule = ("id", "text")  # what DOCS checks
    given = Record("docs", {"id": "k1", "text": "t"}, 1, data_bytes=b'{"id":"k1","text":"t"}', checked=rule)
    other_rule = Record("docs", {"text": "no key"}, 1, data_bytes=b'{"text":"no key"}', checked=("key", None))
    unchecked = Record("docs", {"id": "k3"}, 1, data_bytes=b'{"id":"k3"}')
    result = DuckDBDestination(db, "src", "files").run([DOCS], [given, other_rule, unchecked])
    assert (result.total("landed"), result.total("quarantined")) == (1, 2)
    assert query(db, "select _airbyte_data::varchar from raw.src__docs") == [('{"id":"k1","text":"t"}',)]
    assert query(db, "select reason, raw_bytes from raw._refinery_quarantine order by reason") == [
        ("missing primary key field 'id'", b'{"text":"no key"}'),
        ("missing text field 'text'", b'{"id":"k3"}'),
    ]


def test_batches_end_one_row_past_each_full_duckdb_row_group():
    from ingestion.destination import ROW_GROUP_ROWS, _batch_cut

    landed, ends = 0, []
    while landed < 3 * ROW_GROUP_ROWS:
        landed += _batch_cut(landed, 20_000)
        ends.append(landed)
    assert {ROW_GROUP_ROWS + 1, 2 * ROW_GROUP_ROWS + 1} <= set(ends)
    assert max(b - a for a, b in zip([0, *ends], ends, strict=False)) == 20_000
    assert _batch_cut(0, 100) == 100 and _batch_cut(ROW_GROUP_ROWS, 100) == 100
