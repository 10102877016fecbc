"""Malformed input is quarantined with its reason and original bytes; every record is accounted for.

Covers the `kind: files` JSONL and CSV readers (through the real `sync_source` and DuckDB) and
packaged-connector output (`protocol.parse_line` feeding the destination).
"""

from __future__ import annotations

import json
import random
import tracemalloc
from pathlib import Path

import duckdb
import orjson
import pytest

from ingestion import protocol
from ingestion.destination import DuckDBDestination
from ingestion.protocol import Quarantined, Record, StreamSpec, duplicate_key, parse_line
from ingestion.sources import SavedState, build_source
from ingestion.sync import sync_source
from refinery.config import load_config

pytestmark = pytest.mark.unit


def query(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def quarantine(db: Path) -> list[tuple[str, str, bytes]]:
    return query(db, "select stream_name, reason, raw_bytes from raw._refinery_quarantine order by reason")


def sync_log(db: Path) -> dict[str, tuple[int, int, int]]:
    rows = query(
        db, "select stream_name, records_read, records_landed, records_quarantined from raw._refinery_sync_log"
    )
    return {stream: (read, landed, quarantined) for stream, read, landed, quarantined in rows}


JSONL_LINES = [
    (b'{"id": 1, "text": "fine"}\n', None),
    (b'{"id": 2, "text": \n', "invalid JSON: unexpected end of data: line 1 column 19 (char 18)"),
    (b'{"id": 3, "text": "caf\xe9"}\n', "invalid UTF-8 at offset 22"),
    (
        b'{"id": 4, "text": "a\x00b"}\n',
        "NUL byte at offset 20 (not allowed in JSON text; inside a string write \\u0000)",
    ),
    (b'{"id": 5, "text": "a\\u0000b"}\n', None),  # an escaped NUL is valid JSON: it lands (see docs)
    (b'{"id": 6, "text": 42}\n', "text field 'body' is int, expected a string"),
    (b'{"id": {"a": 1}, "body": "x"}\n', "primary key field 'id' is an object, expected a string or a number"),
    (b'{"id": [1, 2], "body": "x"}\n', "primary key field 'id' is an array, expected a string or a number"),
    (b'{"body": "no key"}\n', "missing primary key field 'id'"),
    (b'{"id": null, "body": "null key"}\n', "missing primary key field 'id'"),
    (b'{"id": 11}\n', "missing text field 'body'"),
    (b'{"id": 12, "id": 13, "body": "x"}\n', "duplicate key 'id'"),
    (b'{"id": 14, "body": "x", "meta": {"a": 1, "a": 2}}\n', "duplicate key 'a'"),
    (b'{"id": 15, "body": "x", "b\\u003a": 1, "b:": 2}\n', "duplicate key 'b:'"),  # escaped ':' in a key
    (b"[1, 2]\n", "expected a JSON object, got list"),
    (b'"just a string"\n', "expected a JSON object, got str"),
    (b'{"id": 17, "body": "at 12:30, see http://x.y/a:b", "c\\u003a": 1}\n', None),  # colons, no duplicate
    (b'{"id": 18, "body": "' + b"y" * 300 + b'"}\n', "record of 322 bytes exceeds the maximum record size of 200 "),
    (b"   \n", None),  # blank: not a record
    (b'{"id": "19", "body": null, "extra": {"nested": [1, {"k": "v"}]}}', None),  # last line, no line break
]


def test_jsonl_lines_are_quarantined_with_exact_reason_and_bytes(tmp_path, write_config, monkeypatch):
    (tmp_path / "in").mkdir()
    data = b"".join(line for line, _ in JSONL_LINES)
    (tmp_path / "in" / "t.jsonl").write_bytes(data.replace(b'"text"', b'"body"'))
    monkeypatch.setattr(protocol, "MAX_RECORD_BYTES", 200)
    config = load_config(
        write_config("sources: {t: {kind: files, path: 'in/*.jsonl', primary_key: id, text_field: body}}")
    )
    result = sync_source(config, "t", say=lambda _: None)
    assert result.status == "succeeded", result.error
    db = config.database_path

    expected = []
    for number, (line, reason) in enumerate(JSONL_LINES, start=1):
        if reason is not None:
            expected.append(("records", f"t.jsonl line {number}: {reason}", line.replace(b'"text"', b'"body"')))
    got = quarantine(db)
    oversized = [row for row in got if "maximum record size" in row[1]]
    assert oversized == [
        (
            "records",
            "t.jsonl line 18: record of 322 bytes exceeds the maximum record size of 200 bytes "
            "(set REFINERY_MAX_RECORD_BYTES to raise it)",
            JSONL_LINES[17][0],
        )
    ]
    expected = [
        (s, r + "bytes (set REFINERY_MAX_RECORD_BYTES to raise it)" if r.endswith("200 ") else r, b)
        for s, r, b in expected
    ]
    assert got == sorted(expected, key=lambda row: row[1])

    landed = query(db, "select _airbyte_data ->> 'id', _airbyte_data ->> 'body' from raw.t__records order by 1")
    assert landed == [("1", "fine"), ("17", "at 12:30, see http://x.y/a:b"), ("19", None), ("5", "a\x00b")]
    # the escaped NUL is stored as JSON text, untouched
    assert query(db, "select _airbyte_data::varchar from raw.t__records where _airbyte_data ->> 'id' = '5'") == [
        ('{"id":5,"body":"a\\u0000b"}',)
    ]
    assert sync_log(db) == {"records": (19, 4, 15)}  # 20 lines, 1 blank: read == landed + quarantined


def test_a_50_megabyte_line_is_quarantined_with_its_size_and_held_once(tmp_path, write_config):
    size = 50 * 1024 * 1024
    big = b'{"id": 1, "text": "' + b"x" * (size - 21) + b'"}'
    assert len(big) == size
    (tmp_path / "big.jsonl").write_bytes(big + b'\n{"id": 2, "text": "small"}\n')
    config = load_config(write_config("sources: {t: {kind: files, path: big.jsonl, primary_key: id}}"))

    # reading holds the line once: peak Python memory stays well below two copies of it
    source = build_source(config.sources["t"], config)
    tracemalloc.start()
    try:
        items = [
            (type(m).__name__, len(m.raw) if isinstance(m, Quarantined) else None) for m in source.read(SavedState())
        ]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert items == [("Quarantined", size + 1), ("Record", None), ("State", None)]
    assert size < peak < 1.5 * size

    result = sync_source(config, "t", say=lambda _: None)
    assert result.status == "succeeded", result.error
    (row,) = query(
        config.database_path,
        "select reason, octet_length(raw_bytes), md5(raw_bytes) = md5(?::blob) from raw._refinery_quarantine",
        [big + b"\n"],
    )
    assert row == (
        f"big.jsonl line 1: record of {size} bytes exceeds the maximum record size of 16777216 bytes "
        "(set REFINERY_MAX_RECORD_BYTES to raise it)",
        size + 1,
        True,
    )
    assert query(config.database_path, "select _airbyte_data ->> 'text' from raw.t__records") == [("small",)]
    assert sync_log(config.database_path) == {"records": (2, 1, 1)}


def test_max_record_bytes_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("REFINERY_MAX_RECORD_BYTES", "1024")
    assert protocol._max_record_bytes_from_env() == 1024
    monkeypatch.delenv("REFINERY_MAX_RECORD_BYTES")
    assert protocol._max_record_bytes_from_env() == 16 * 1024 * 1024
    monkeypatch.setenv("REFINERY_MAX_RECORD_BYTES", "16MB")
    with pytest.raises(ValueError, match=r"REFINERY_MAX_RECORD_BYTES='16MB': give a whole number of bytes"):
        protocol._max_record_bytes_from_env()


CSV_ROWS = [
    (b"id,text,note\r\n", None),  # the header
    (b"1,one,a\r\n", None),
    (b"2,two\r\n", "2 fields, the header has 3"),
    (b"3,three,b,extra\r\n", "4 fields, the header has 3"),
    (b'4,"multi\r\nline",c\r\n', None),  # a quoted line break: one row over two lines
    (b'5,"bad"quote,d\r\n', "malformed CSV: ',' expected after '\"'"),
    (b"6,caf\xe9,e\r\n", "invalid UTF-8 at offset 5"),
    (b",no key,f\r\n", "missing primary key field 'id'"),
    (b"\r\n", None),  # blank
    (b"8,a\x00b,g\r\n", None),  # a NUL inside a CSV field is text: it lands (as \u0000 in the JSON)
    (
        b"9," + b"z" * 300 + b",h\r\n",
        "record of 304 bytes exceeds the maximum record size of 200 bytes (set REFINERY_MAX_RECORD_BYTES to raise it)",
    ),
    (b"10,ten,i\r\n", None),
    (b'11,"never closed,j\r\n12,twelve,k\r\n', "malformed CSV: unexpected end of data"),
]


def test_csv_rows_are_quarantined_with_their_original_bytes(tmp_path, write_config, monkeypatch):
    (tmp_path / "t.csv").write_bytes(b"\xef\xbb\xbf" + b"".join(row for row, _ in CSV_ROWS))
    monkeypatch.setattr(protocol, "MAX_RECORD_BYTES", 200)
    config = load_config(write_config("sources: {t: {kind: files, path: t.csv, primary_key: id, text_field: text}}"))
    result = sync_source(config, "t", say=lambda _: None)
    assert result.status == "succeeded", result.error
    db = config.database_path
    lines_before = 0
    expected = []
    for row, reason in CSV_ROWS:
        if reason is not None:
            expected.append(("records", f"t.csv line {lines_before + 1}: {reason}", row))
        lines_before += row.count(b"\n")
    assert quarantine(db) == sorted(expected, key=lambda item: item[1])
    landed = query(db, "select _airbyte_data::varchar from raw.t__records order by _airbyte_data ->> 'id'")
    assert landed == [
        ('{"id":"1","text":"one","note":"a"}',),
        ('{"id":"10","text":"ten","note":"i"}',),
        ('{"id":"4","text":"multi\\r\\nline","note":"c"}',),
        ('{"id":"8","text":"a\\u0000b","note":"g"}',),
    ]
    assert sync_log(db) == {"records": (11, 4, 7)}


def test_a_csv_header_with_a_repeated_column_quarantines_the_file(tmp_path, write_config):
    content = b"id,text,text\n1,a,b\n"
    (tmp_path / "t.csv").write_bytes(content)
    config = load_config(write_config("sources: {t: {kind: files, path: t.csv}}"))
    sync_source(config, "t", say=lambda _: None)
    assert quarantine(config.database_path) == [
        ("records", "t.csv line 1 (header): duplicate column 'text' in the header", content)
    ]
    assert sync_log(config.database_path) == {"records": (1, 0, 1)}


def connector_line(data: dict | bytes, stream: str = "users") -> bytes:
    body = data if isinstance(data, bytes) else orjson.dumps(data)
    return (
        b'{"type": "RECORD", "record": {"stream": "'
        + stream.encode()
        + b'", "data": '
        + body
        + b', "emitted_at": 1}}\n'
    )


def test_connector_output_is_quarantined_per_stream_with_the_original_line(tmp_path, monkeypatch):
    monkeypatch.setattr(protocol, "MAX_RECORD_BYTES", 300)
    lines = [
        (connector_line({"id": 1, "name": "ok"}), None, None),
        (b'{"type": "RECORD", "record": {"stream": "users", "data": {"id": 2\n', "_unknown", "invalid JSON: "),
        (connector_line(b'{"id": 3, "name": "caf\xe9"}'), "_unknown", "invalid UTF-8 at offset 79"),
        (connector_line(b'{"id": 4, "name": "a\x00b"}'), "_unknown", "NUL byte at offset 77"),
        (connector_line(b'{"id": 5, "id": 6}'), "users", "duplicate key 'id'"),
        (connector_line({"id": {"nested": 7}}), "users", "primary key field 'id' is an object"),
        (connector_line({"name": "no id"}), "users", "missing primary key field 'id'"),
        (connector_line({"id": 8, "bio": "b" * 300}), "users", "record of 393 bytes exceeds the maximum record size"),
        (b'{"hello": "world"}\n', "_unknown", "not an Airbyte message: unknown type None"),
        (connector_line({"id": 9, "name": "a\\u0000b"}), None, None),
        (
            b'{"type": "STATE", "state": {"type": "STREAM", "stream": {"stream_descriptor": {"name": "users"}, '
            b'"stream_state": {"n": 9}}}}\n',
            None,
            None,
        ),
    ]
    messages = [parse_line(line) for line, _, _ in lines]
    spec = StreamSpec("users", primary_key="id")
    db = tmp_path / "refinery.duckdb"
    result = DuckDBDestination(db, "shop", "airbyte").run([spec], messages)
    assert result.status == "succeeded"
    got = query(db, "select stream_name, reason, raw_bytes from raw._refinery_quarantine")
    expected = [(stream, prefix, line) for line, stream, prefix in lines if stream is not None]
    assert len(got) == len(expected)
    for stream, prefix, line in expected:
        assert [(s, raw) for s, reason, raw in got if reason.startswith(prefix)] == [(stream, line)], prefix
    assert query(db, "select _airbyte_data ->> 'id' from raw.shop__users order by 1") == [("1",), ("9",)]
    assert sync_log(db) == {"users": (6, 2, 4), "_unknown": (4, 0, 4)}


def test_duplicate_key_detection_has_no_false_negatives_or_positives():
    """Seeded random objects, some with a repeated key (spelled with whitespace and escapes)."""
    rng = random.Random(20261124)
    keys = ["id", "a:b", "t", "naïve", 'q"k', "c\\d", ":", "x y"]
    values = ['"12:30"', '"a\\u003ab"', "1", "null", '{"k": "v:w"}', '[1, {"z": ":"}]', '"\\u00e9"']

    def spell(key: str) -> str:
        text = json.dumps(key, ensure_ascii=rng.random() < 0.5)
        return text.replace(":", "\\u003a") if rng.random() < 0.3 else text

    for _ in range(3000):
        chosen = rng.sample(keys, rng.randint(1, 5))
        repeat = rng.random() < 0.4
        if repeat:
            chosen.append(rng.choice(chosen))
        members = [f"{spell(key)}{rng.choice(['', ' '])}:{rng.choice(['', ' '])}{rng.choice(values)}" for key in chosen]
        text = ("{" + ", ".join(members) + "}").encode()
        found = duplicate_key(text, orjson.loads(text))
        assert (found is not None) == repeat, text
        if repeat:
            assert found == chosen[-1]


def test_records_with_hostile_field_values_keep_their_raw_record(tmp_path):
    """The destination quarantines a rejected connector record with the line as it arrived."""
    line = b'{"type":"RECORD","record":{"stream":"users","data":{"name":"  spaced  "},"emitted_at":1}}\n'
    message = parse_line(line)
    assert isinstance(message, Record) and message.raw == line
    db = tmp_path / "refinery.duckdb"
    DuckDBDestination(db, "shop", "airbyte").run([StreamSpec("users", primary_key="id")], [message])
    assert quarantine(db) == [("users", "missing primary key field 'id'", line)]


def test_a_packaged_connectors_bad_lines_are_counted_on_their_stream(tmp_path, monkeypatch):
    """Through the real connector runner: a subprocess printing bad lines for its stream 'Users'."""
    from tests.integration.fake_connector import REQUIREMENT, install_fake_connector, yaml_config

    install_fake_connector(tmp_path / "connectors")
    monkeypatch.setenv("REFINERY_CONNECTORS_DIR", str(tmp_path / "connectors"))
    monkeypatch.setattr(protocol, "MAX_RECORD_BYTES", 300)
    record = '{"type": "RECORD", "record": {"stream": "Users", "data": %s, "emitted_at": 1}}'
    bad = [
        record % '{"id": 1, "id": 2}',
        record % ('{"id": 3, "bio": "' + "b" * 300 + '"}'),
        record % '{"id": [4]}',
        record % '{"id": 5',
    ]
    connector = {"streams": [{"name": "Users", "primary_key": "id", "records": 10}], "extra_lines": bad}
    config_path = tmp_path / "refinery.yml"
    config_path.write_text(
        f"sources: {{api: {{kind: airbyte, connector: '{REQUIREMENT}', config: {yaml_config(connector)}}}}}"
    )
    config = load_config(config_path, home=tmp_path / "home")
    result = sync_source(config, "api", say=lambda _: None)
    assert result.status == "succeeded", result.error
    db = config.database_path
    got = query(db, "select stream_name, reason, raw_bytes from raw._refinery_quarantine order by reason")
    assert got == [
        ("users", "duplicate key 'id'", bad[0].encode() + b"\n"),
        ("_unknown", "invalid JSON: unexpected end of data: line 1 column 85 (char 84)", bad[3].encode() + b"\n"),
        ("users", "primary key field 'id' is an array, expected a string or a number", bad[2].encode() + b"\n"),
        (
            "users",
            "record of 396 bytes exceeds the maximum record size of 300 bytes "
            "(set REFINERY_MAX_RECORD_BYTES to raise it)",
            bad[1].encode() + b"\n",
        ),
    ]
    assert sync_log(db) == {"users": (13, 10, 3), "_unknown": (1, 0, 1)}
