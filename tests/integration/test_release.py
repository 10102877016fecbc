"""Releases in DuckLake: gated on the build, published only on change, every version readable forever."""

import json

import duckdb
import pytest

from refinery.config import load_config
from refinery.release import (
    ReleaseError,
    catalog_path,
    export_release,
    get_release,
    list_releases,
    publish_release,
    read_release,
)

pytestmark = pytest.mark.integration

STAMP = "comment on table marts.training_examples is 'dbt_invocation_id=inv-1'"
GREEN = {"success": True, "complete": True, "invocation_id": "inv-1", "failures": []}


@pytest.fixture
def config(tmp_path, write_config, monkeypatch):
    monkeypatch.setenv("REFINERY_HOME", str(tmp_path / "home"))
    (tmp_path / "docs").mkdir()
    cfg = load_config(write_config("sources: {d: {kind: documents, path: docs}}"))
    cfg.warehouse_dir.mkdir(parents=True)
    with duckdb.connect(str(cfg.database_path)) as con:
        con.execute("create schema marts; create schema raw")
        con.execute(
            "create table marts.training_examples (example_id varchar, document_id varchar, text varchar, "
            "label varchar, split varchar)"
        )
        con.execute(
            "insert into marts.training_examples values ('a', 'a', 'alpha', 'billing', 'train'), "
            "('b', 'b', 'beta', null, 'test')"
        )
        con.execute(STAMP)
        con.execute(
            "create table raw._refinery_state (source_name varchar, stream_name varchar, state_type varchar, "
            "state json, sync_id varchar, updated_at timestamptz)"
        )
        con.execute("""insert into raw._refinery_state values ('d', 'documents', 'STREAM',
                       '{"type": "STREAM", "stream": {"stream_descriptor": {"name": "documents"}}}', 's1', now())""")
    return cfg


def rows(version_rows):
    return [(r["example_id"], r["text"], r["label"], r["split"]) for r in version_rows]


def execute(config, sql):
    with duckdb.connect(str(config.database_path)) as con:
        con.execute(sql)


def test_a_failed_or_missing_build_publishes_nothing(config):
    with pytest.raises(ReleaseError, match=r"the last dbt build did not pass \(unique_training_examples\)"):
        publish_release(config, {"success": False, "failures": [{"name": "unique_training_examples"}]})
    with pytest.raises(ReleaseError, match="no build recorded"):
        publish_release(config, None)
    assert not catalog_path(config).exists()
    assert list_releases(config) == []


def test_versions_are_published_on_change_and_stay_readable(config, tmp_path):
    first = publish_release(config, GREEN)
    assert (first.published, first.version) == (True, "v1")
    manifest = first.manifest
    assert (manifest["rows"], manifest["rows_per_split"], manifest["rows_per_label"]) == (
        2,
        {"test": 1, "train": 1},
        {"(none)": 1, "billing": 1},
    )
    assert [c["name"] for c in manifest["schema"]] == ["example_id", "document_id", "text", "label", "split"]
    assert manifest["dbt_invocation_id"] == "inv-1"
    assert manifest["source_states"]["d"]["documents"]["type"] == "STREAM"
    assert manifest["code_commit"] == "unknown" or len(manifest["code_commit"].removesuffix("-dirty")) == 40

    again = publish_release(config, GREEN)
    assert (again.published, again.version, again.reason) == (False, "v1", "content unchanged since v1")

    execute(config, "update marts.training_examples set label = 'shipping' where example_id = 'b'")
    second = publish_release(config, GREEN)
    assert (second.published, second.version) == (True, "v2")
    assert second.manifest["content_hash"] != manifest["content_hash"]

    execute(config, "alter table marts.training_examples add column source_name varchar default 'd'")
    third = publish_release(config, GREEN)
    assert third.version == "v3"

    assert rows(read_release(config, "v1")) == [("a", "alpha", "billing", "train"), ("b", "beta", None, "test")]
    assert rows(read_release(config, "v2")) == [("a", "alpha", "billing", "train"), ("b", "beta", "shipping", "test")]
    assert read_release(config, "v3")[0]["source_name"] == "d"
    assert "source_name" not in read_release(config, "v1")[0]
    listed = list_releases(config)
    assert [m["version"] for m in listed] == ["v1", "v2", "v3"]
    assert len({m["snapshot_id"] for m in listed}) == 3

    out = tmp_path / "export"
    written = export_release(config, "v1", "parquet", out)
    assert sorted(p.name for p in written) == ["manifest.json", "test.parquet", "train.parquet"]
    with duckdb.connect() as con:
        assert con.execute("select example_id, label from read_parquet(?)", [str(out / "test.parquet")]).fetchall() == [
            ("b", None)
        ]
    assert json.loads((out / "manifest.json").read_text())["version"] == "v1"


def test_a_partial_build_publishes_nothing_and_says_why(config):
    result = publish_release(config, {**GREEN, "complete": False})
    assert (result.published, result.version) == (False, "-")
    assert "partial (--select)" in result.reason
    assert list_releases(config) == []


def test_a_table_rebuilt_outside_the_green_build_is_not_published(config):
    execute(config, "comment on table marts.training_examples is 'dbt_invocation_id=inv-2'")
    with pytest.raises(
        ReleaseError, match=r"built by dbt invocation inv-2, not by the last green Refinery build \(inv-1\)"
    ):
        publish_release(config, GREEN)
    assert list_releases(config) == []


def test_unknown_version_names_the_known_ones(config):
    publish_release(config, GREEN)
    with pytest.raises(ReleaseError, match=r"no release 'v9' \(releases: v1\)"):
        get_release(config, "v9")
    with pytest.raises(ReleaseError, match="unknown export format 'csv'"):
        export_release(config, "v1", "csv", config.home / "x")


def test_release_content_hash_ignores_row_order(config):
    first = publish_release(config, GREEN).manifest["content_hash"]
    execute(
        config,
        "create or replace table marts.training_examples as "
        "select * from marts.training_examples order by example_id desc",
    )
    execute(config, STAMP)
    assert publish_release(config, GREEN).published is False
    assert get_release(config, "v1")["content_hash"] == first


def test_export_refuses_a_folder_with_files_in_it(config, tmp_path):
    publish_release(config, GREEN)
    out = tmp_path / "used"
    out.mkdir()
    (out / "train.parquet").write_text("from another version")
    with pytest.raises(ReleaseError, match="is not empty: export into a new or empty folder"):
        export_release(config, "v1", "jsonl", out)
    assert sorted(p.name for p in out.iterdir()) == ["train.parquet"]
