"""What the dbt asset records about a build: readable failure names and counts."""

import pytest

pytestmark = pytest.mark.unit


def test_dbt_failure_names_are_readable():
    from refinery.dbt import node_name, summarize_run_results

    assert node_name("test.refinery.source_unique_shop_users__airbyte_raw_id.680e2d1373") == (
        "source_unique_shop_users__airbyte_raw_id"
    )
    assert node_name("test.refinery.assert_quarantine_rate_within_limit") == "assert_quarantine_rate_within_limit"
    assert node_name("unit_test.refinery.int_item_labels_aggregated.tie_yields_no_label") == "tie_yields_no_label"
    assert node_name("model.refinery.training_examples") == "training_examples"
    summary = summarize_run_results(
        {
            "metadata": {"invocation_id": "i"},
            "results": [
                {"unique_id": "model.refinery.a", "status": "success"},
                {"unique_id": "test.refinery.not_null_a_id.abc123", "status": "fail", "failures": 2},
                {"unique_id": "test.refinery.b.def", "status": "warn", "failures": 1},
            ],
        }
    )
    assert (summary["success"], summary["tests"], summary["counts"]) == (False, 2, {"success": 1, "fail": 1, "warn": 1})
    assert [f["name"] for f in summary["failures"]] == ["not_null_a_id"]
    assert [w["name"] for w in summary["warnings"]] == ["b"]
