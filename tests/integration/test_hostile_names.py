"""Hostile names cannot break or inject SQL: in field options, JSON keys, CSV headers, stream and folder names.

Names with quotes (' and "), semicolons, spaces, backslashes and non-ASCII characters go
through the real ingestion path (sync_source → DuckDB) and a real `dbt build`, whose macros
extract the primary key, cursor, text and group fields by these names.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import duckdb
import orjson
import pytest

from ingestion.sync import sync_source
from refinery.config import load_config
from tests.integration.fake_connector import REQUIREMENT, install_fake_connector, yaml_config
from tests.integration.test_dbt_build import run_dbt

pytestmark = pytest.mark.integration

KEY = "it's id"
TEXT = 'a"b; drop table raw._refinery_state; --'
GROUP = "naïve 名前"
CURSOR = "back\\slash"
FOLDER = 'it\'s "odd"; [x] naïve 名前 \\ back'

TEXTS = {
    "d1": "The first version of this document is long enough to pass the length rule.",
    "d2": "Quotes ' and \" and a semicolon; drop table raw._refinery_state; -- stay plain text here.",
    "d3": "A NUL \u0000 inside a JSON string is valid JSON and lands with the rest of this text.",
}
LATEST_D1 = "The second version of this document wins because its cursor value is larger."


def rows(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def test_hostile_field_and_folder_names_land_and_build_through_dbt(tmp_path):
    folder = tmp_path / FOLDER
    (folder / "data").mkdir(parents=True)
    records = [
        {KEY: "d1", TEXT: TEXTS["d1"], GROUP: "g'1", CURSOR: 1, 'naïve "extra"; --': "kept as data"},
        {KEY: "d2", TEXT: TEXTS["d2"], GROUP: "g'1", CURSOR: 1},
        {KEY: "d3", TEXT: TEXTS["d3"], GROUP: 'g"2', CURSOR: 1},
        {KEY: "d1", TEXT: LATEST_D1, GROUP: "g'1", CURSOR: 2},
    ]
    (folder / "data" / "docs.jsonl").write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([KEY, TEXT, GROUP])
    writer.writerow(["c1", "A CSV row whose header names need quoting in SQL and in JSON paths alike.", "g;3"])
    (folder / "data" / "rows.csv").write_text(buffer.getvalue(), encoding="utf-8")
    options = {"primary_key": KEY, "text_field": TEXT, "group_field": GROUP}
    sources = {
        "hostile": {"kind": "files", "path": "data/*.jsonl", "cursor_field": CURSOR, **options},
        "hostile_csv": {"kind": "files", "path": "data/*.csv", **options},
    }
    config_path = folder / "refinery.yml"
    config_path.write_text(json.dumps({"sources": sources}, ensure_ascii=False), encoding="utf-8")
    home = tmp_path / "home"
    config = load_config(config_path, home=home)
    for name in sources:
        result = sync_source(config, name, say=lambda _: None)
        assert (result.status, result.total("quarantined")) == ("succeeded", 0), result.error
    db = config.database_path
    assert rows(
        db,
        "select source_name, primary_key, cursor_field, text_field, group_field from raw._refinery_streams order by 1",
    ) == [("hostile", KEY, CURSOR, TEXT, GROUP), ("hostile_csv", KEY, None, TEXT, GROUP)]
    assert rows(db, "select count(*) from raw.hostile__records") == [(4,)]

    # No shop (faker) tables here; the texts are single sentences that no quality rule may drop.
    built = run_dbt(home, "build", "--exclude", "source:shop+", "--vars", "{quality_drop_rules: []}")
    assert built.returncode == 0, built.output[-6000:]
    staged = rows(
        db,
        "select source_name, source_key, group_key, raw_text, versions_count from staging.stg_refinery__documents "
        "order by source_name, source_key",
    )
    assert staged == [
        ("hostile", "d1", "g'1", LATEST_D1, 2),
        ("hostile", "d2", "g'1", TEXTS["d2"], 1),
        ("hostile", "d3", 'g"2', TEXTS["d3"], 1),
        ("hostile_csv", "c1", "g;3", "A CSV row whose header names need quoting in SQL and in JSON paths alike.", 1),
    ]
    examples = rows(db, "select source_name, text from marts.training_examples order by source_name, text")
    assert [source for source, _ in examples] == ["hostile", "hostile", "hostile", "hostile_csv"]
    # The escaped NUL lands and is staged as is; normalization drops control characters.
    assert any("\u0000" in text for *_, text, _ in staged)
    assert not any("\u0000" in text for _, text in examples)
    # the bookkeeping tables are intact: nothing in a name was executed
    assert rows(db, "select source_name, count(*) from raw._refinery_state group by all order by 1") == [
        ("hostile", 1),
        ("hostile_csv", 1),
    ]
    assert rows(db, "select table_name from duckdb_tables() where schema_name = 'raw' order by 1") == [
        ("_refinery_quarantine",),
        ("_refinery_schema_history",),
        ("_refinery_schemas",),
        ("_refinery_state",),
        ("_refinery_streams",),
        ("_refinery_sync_log",),
        ("hostile__records",),
        ("hostile_csv__records",),
    ]


STREAMS = {  # the connector's stream name → the table stream name it lands as
    "it's": "it_s",
    'a"b': "a_b",
    "x; drop table raw._refinery_state; --": "x_drop_table_raw_refinery_state",
    "naïve 名前": "na_ve",
    "back\\slash": "back_slash",
}


def test_hostile_connector_stream_names_land_and_resume(tmp_path, monkeypatch):
    connectors = tmp_path / "connectors"
    install_fake_connector(connectors)
    monkeypatch.setenv("REFINERY_CONNECTORS_DIR", str(connectors))
    connector = {
        "streams": [{"name": name, "primary_key": KEY, "records": 12} for name in STREAMS],
        "checkpoint_every": 5,
        "extra_keys": {TEXT: "value", GROUP: 'it\'s "quoted"'},
    }
    config_path = tmp_path / "refinery.yml"
    source = {"kind": "airbyte", "connector": REQUIREMENT, "streams": list(STREAMS), "config": connector}
    config_path.write_text(json.dumps({"sources": {"api": source}}, ensure_ascii=False), encoding="utf-8")
    assert yaml_config(connector)  # JSON is YAML: the same text is valid in refinery.yml
    config = load_config(config_path, home=tmp_path / "home")
    first = sync_source(config, "api", say=lambda _: None)
    assert first.status == "succeeded", first.error
    assert {stream: counts.landed for stream, counts in first.streams.items()} == dict.fromkeys(STREAMS.values(), 12)
    db = config.database_path
    for table_stream in STREAMS.values():
        assert rows(
            db,
            f'select count(distinct _airbyte_data ->> ?), min(_airbyte_data ->> ?) from raw."api__{table_stream}"',
            [f'$."{KEY}"', f'$."{GROUP}"'],
        ) == [(12, 'it\'s "quoted"')]
    # states are kept under the connector's own names, and handed back to it verbatim
    assert rows(
        db, "select stream_name, state ->> '$.stream.stream_state.next' from raw._refinery_state order by 1"
    ) == [(name, "12") for name in sorted(STREAMS)]
    assert rows(db, "select distinct primary_key from raw._refinery_streams") == [(KEY,)]
    second = sync_source(config, "api", say=lambda _: None)
    assert (second.status, second.total("landed")) == ("succeeded", 0)
    assert rows(db, "select count(*) from raw._refinery_state") == [(len(STREAMS),)]
