"""What a user sees of a sync: the progress line, `refinery status`, Dagster materialization metadata."""

import json

import duckdb
import pytest

from ingestion.destination import DuckDBDestination
from ingestion.protocol import Log, Record, StreamSpec
from ingestion.sync import sync_source
from ingestion.warehouse import connect
from refinery import progress
from refinery.config import load_config
from refinery.reporting import print_agreement, print_schema_changes, print_syncs, print_weak_supervision

pytestmark = pytest.mark.unit


def test_progress_line_has_a_bar_share_rate_and_eta_when_the_total_is_known():
    line = progress.format_progress("tickets", 5_000, 2_000_000, 2.0, total_bytes=8_000_000, width=8)
    assert line == "    tickets  [##------]  25%  5,000 records  2,500/s  1.0 MB/s  ETA 0:06"


def test_progress_line_without_a_total_counts_and_shows_elapsed_time():
    line = progress.format_progress("stream", 12_345, 3_000_000, 61.0)
    assert line == "    stream  12,345 records  202/s  0.0 MB/s  1:01 elapsed"


def test_files_source_tells_the_progress_bar_how_many_bytes_it_will_read(tmp_path, write_config):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.jsonl").write_text("".join(json.dumps({"id": i}) + "\n" for i in range(100)))
    (data / "b.jsonl").write_text('{"id": 1000}\n')
    config = load_config(write_config("sources:\n  t: {kind: files, path: data/*.jsonl, primary_key: id}\n"))

    class Recorder:
        totals: list[int | None] = []  # noqa: RUF012 - one instance per test

        def set_total(self, total):
            self.totals.append(total)

        def __call__(self, source, counts):
            pass

    recorder = Recorder()
    sync_source(config, "t", on_progress=recorder, say=lambda _: None)
    (data / "b.jsonl").write_text('{"id": 1000}\n{"id": 1001}\n')  # only b changed
    sync_source(config, "t", on_progress=recorder, say=lambda _: None)
    assert recorder.totals == [
        (data / "a.jsonl").stat().st_size + len('{"id": 1000}\n'),
        len('{"id": 1000}\n{"id": 1001}\n'),
    ]


def test_status_shows_counts_bytes_duration_rate_and_schema_changes(tmp_path):
    db = tmp_path / "refinery.duckdb"
    destination = DuckDBDestination(db, "shop", "postgres")

    def spec(properties):
        return StreamSpec("orders", primary_key="id", json_schema={"properties": properties})

    destination.run([spec({"id": {"x-sql-type": "INTEGER"}})], [Record("orders", {"id": i}, 1) for i in range(40)])
    result = destination.run(
        [spec({"id": {"x-sql-type": "BIGINT"}, "note": {"x-sql-type": "VARCHAR"}})],
        [Record("orders", {"id": 1}, 1), Record("orders", {"id": None}, 1)],
    )
    assert result.schema_changes == {
        "orders": [("added", "note", None, "VARCHAR"), ("retyped", "id", "INTEGER", "BIGINT")]
    }
    lines: list[str] = []
    with connect(db, read_only=True) as con:
        print_syncs(con, lines.append)
        print_schema_changes(con, lines.append)
    header = lines[0].split()
    assert header == [
        "source",
        "read",
        "landed",
        "quarantined",
        "MB",
        "seconds",
        "records/s",
        "status",
        "ended",
        "(UTC)",
    ]
    row = lines[2].split()
    assert row[:5] == ["shop", "2", "1", "1", f"{result.total('bytes') / 1e6:,.2f}"]
    assert row[7] == "succeeded"
    with connect(db, read_only=True) as con:
        (logged,) = con.execute(
            "select max(epoch(ended_at) - epoch(started_at)) from raw._refinery_sync_log where sync_id = ?",
            [result.sync_id],
        ).fetchone()
    assert row[5] == f"{logged:.1f}"
    assert lines[3] == "  1 streams discovered with 1 columns; 2 changes since"
    changes = [line.split() for line in lines[6:]]
    assert [c[:-2] for c in changes] == [  # without the date and time
        ["shop.orders", "note", "added", "VARCHAR"],
        ["shop.orders", "id", "retyped", "INTEGER", "BIGINT"],
    ]


def test_every_counter_of_a_sync_is_kept_as_materialization_metadata(tmp_path, write_config):
    import dagster as dg

    from dagster_project.assets.ingestion import build_ingestion_assets

    data = tmp_path / "data"
    data.mkdir()
    (data / "a.jsonl").write_text('{"id": 1}\n{"id": 2}\n{"nope": 3}\n')
    config = load_config(write_config("sources:\n  t: {kind: files, path: data/*.jsonl, primary_key: id}\n"))
    (asset,) = build_ingestion_assets(config)
    result = dg.materialize([asset], instance=dg.DagsterInstance.ephemeral())
    (event,) = result.asset_materializations_for_node("ingest_t")
    meta = {k: v.value for k, v in event.metadata.items()}
    assert (meta["records_read"], meta["records_landed"], meta["records_quarantined"]) == (3, 2, 1)
    with connect(config.database_path, read_only=True) as con:
        logged = con.execute("select bytes_read, sync_id from raw._refinery_sync_log").fetchall()
    assert [(meta["bytes_read"], meta["sync_id"])] == logged
    assert meta["bytes_read"] > len('{"id": 1}{"id": 2}{"nope": 3}')
    assert meta["duration_seconds"] > 0
    # both are rounded (rate to 0.1/s, duration to 1 ms): their product is the record count within that rounding
    assert meta["records_per_second"] * meta["duration_seconds"] == pytest.approx(3, abs=0.1)
    assert meta["table"] == "raw.t__records"


def test_source_warnings_are_shown_but_do_not_flood(tmp_path, write_config, monkeypatch):
    from ingestion import sync as sync_module

    folder = tmp_path / "docs"
    folder.mkdir()
    config = load_config(write_config("sources:\n  d: {kind: documents, path: docs}\n"))

    class Warner:
        def streams(self):
            return [StreamSpec("documents", role="documents", primary_key="path", text_field="text")]

        def read(self, saved):
            for i in range(8):
                yield Log("WARN", f"file {i}: odd")
            yield Log("INFO", "not shown")

    said: list[str] = []
    monkeypatch.setattr(sync_module, "build_source", lambda *args, **kwargs: Warner())
    sync_source(config, "d", say=said.append)
    assert said == [f"d: WARN: file {i}: odd" for i in range(5)] + [
        "d: further warnings not shown (documents keep theirs in the `warnings` field)"
    ]


def test_status_shows_labeling_functions_and_weak_labels(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create schema marts")
    con.execute("create schema intermediate")
    con.execute(
        "create table marts.lf_analysis as select * from (values "
        "('topic', 'lf_topic__a', 0.5, 0.25, 0.125, 0.75, 4, 2.5, 8), "
        "('topic', 'lf_topic__b', 0.0, 0.0, 0.0, null, null, 1.0, 8)) as t "
        "(task_name, lf_name, coverage, overlap, conflict, empirical_accuracy, correct, weight, n_documents)"
    )
    con.execute("alter table marts.lf_analysis add column incorrect bigint default 0")
    con.execute(
        "create table intermediate.int_lf_votes as select * from (values "
        "('topic', 'lf_topic__a', 'd1'), ('topic', 'lf_topic__a', 'd2'), ('topic', 'lf_topic__a', 'd3'), "
        "('topic', 'lf_topic__a', 'd4')) as t (task_name, lf_name, document_id)"
    )
    con.execute(
        "create table marts.training_examples as select * from (values "
        "('weak_supervision'), ('weak_supervision'), ('majority_vote'), (null)) as t (label_source)"
    )
    lines: list[str] = []
    print_weak_supervision(con, lines.append)
    assert lines == [
        "  labeling functions for topic: 2, voting on 4 of 8 documents (50%)",
        "    function     coverage  overlap  conflict  emp. acc.  weight",
        "    -----------  --------  -------  --------  ---------  ------",
        "    lf_topic__a      0.50     0.25      0.12  0.75 of 4    2.50",
        "    lf_topic__b      0.00     0.00      0.00          -    1.00",
        "  weak labels in training_examples: 2 of 4 examples (only where no human voted)",
    ]


def test_status_shows_agreement_per_task(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create schema marts")
    con.execute(
        "create table marts.label_agreement as select * from (values "
        "('topic', 'krippendorff_alpha', 'nominal', 0.6123, 40, 5, null), "
        "('topic', 'fleiss_kappa', 'nominal', 0.6, 38, 5, null), "
        "('topic', 'percent_agreement', 'nominal', 0.75, 40, 5, null), "
        "('urgency', 'krippendorff_alpha', 'ordinal', null, 0, 1, 'no_item_with_two_ratings'), "
        "('urgency', 'fleiss_kappa', 'ordinal', null, 0, 1, 'no_item_with_two_ratings'), "
        "('urgency', 'percent_agreement', 'ordinal', null, 0, 1, 'no_item_with_two_ratings')) as t "
        "(task_name, metric, level, value, items, annotators, null_reason)"
    )
    lines: list[str] = []
    print_agreement(con, lines.append)
    assert lines == [
        "  agreement on topic (nominal, 40 items, 5 annotators): Krippendorff's alpha 0.612, Fleiss' kappa 0.600, "
        "percent agreement 0.750",
        "  agreement on urgency (ordinal, 0 items, 1 annotators): Krippendorff's alpha -, Fleiss' kappa -, "
        "percent agreement -",
        "    urgency: not computed — fleiss_kappa: no_item_with_two_ratings; krippendorff_alpha: "
        "no_item_with_two_ratings; percent_agreement: no_item_with_two_ratings",
    ]
