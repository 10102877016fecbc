"""The Dagster definitions load, and the asset graph's keys and edges match the snapshot.

Lineage changes must be deliberate: regenerate the snapshot with
`REFINERY_UPDATE_SNAPSHOTS=1 pytest tests/integration/test_dagster_definitions.py` and review the diff.
"""

import json
import os
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.integration

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"


@pytest.fixture(scope="module")
def definitions(tmp_path_factory, connectors_dir):
    home = tmp_path_factory.mktemp("home")
    saved = {
        k: os.environ.get(k) for k in ("REFINERY_HOME", "REFINERY_CONFIG", "REFINERY_CONNECTORS_DIR", "DAGSTER_HOME")
    }
    os.environ.update(
        REFINERY_HOME=str(home),
        REFINERY_CONFIG=str(PROJECT_ROOT / "refinery.yml"),
        REFINERY_CONNECTORS_DIR=str(connectors_dir),
    )
    from dagster_project.definitions import build_definitions
    from refinery.settings import load_and_prepare

    yield build_definitions(load_and_prepare())
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def graph_of(defs) -> dict:
    graph = defs.resolve_asset_graph()
    nodes = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        nodes[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(parent.to_user_string() for parent in node.parent_keys),
        }
    return nodes


def test_asset_graph_matches_snapshot(definitions):
    graph = graph_of(definitions)
    if os.environ.get("REFINERY_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(json.dumps(graph, indent=1, sort_keys=True) + "\n")
    assert graph == json.loads(SNAPSHOT.read_text())


def test_every_raw_stream_feeds_the_models_that_union_its_role(definitions):
    graph = graph_of(definitions)
    assert set(graph["staging/stg_refinery__documents"]["deps"]) >= {"raw/tickets__records", "raw/handbook__documents"}
    assert "raw/topics__tasks" in graph["staging/stg_refinery__annotation_tasks"]["deps"]
    assert "raw/shop__users" in graph["staging/stg_shop__users"]["deps"]
    assert graph["release/training_examples"]["deps"] == ["marts/training_examples"]
    assert {graph[k]["group"] for k in graph if k.startswith("raw/")} == {"ingestion"}


def test_dbt_tests_become_asset_checks_and_writers_share_one_pool(definitions):
    graph = definitions.resolve_asset_graph()
    checks = {key.name for key in graph.asset_check_keys}
    assert any(name.startswith("unique_training_examples") for name in checks)
    assert any(name.startswith("accepted_values_training_examples_split") for name in checks)
    pools = {asset.op.name: asset.op.pool for asset in definitions.assets if hasattr(asset, "op")}
    assert pools == {
        "ingest_tickets": "duckdb_writer",
        "ingest_handbook": "duckdb_writer",
        "ingest_shop": "duckdb_writer",
        "ingest_topics": "duckdb_writer",
        "ingest_urgency_argilla": "duckdb_writer",
        "ingest_urgency_sheet": "duckdb_writer",
        "ingest_topic_model": "duckdb_writer",
        "dbt_build": "duckdb_writer",
        "release__training_examples": "duckdb_writer",
    }
