"""What Refinery hands dbt and keeps from it: the target, the vars from refinery.yml, build summaries.

Used by the Dagster dbt asset (which runs the build), the release gate and `refinery status`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from refinery.config import ANNOTATION_KINDS, Config, SourceConfig

LAST_BUILD_FILE = "last_build.json"


def dbt_target() -> str:
    return os.environ.get("REFINERY_DBT_TARGET", "dev")


def dbt_vars(config: Config) -> dict[str, Any]:
    """Variables every Refinery dbt invocation gets: which sources refinery.yml configures, and the
    quality rules that drop documents of the sources that choose their own (`quality_drop_rules`),
    each annotation source's level of measurement (`level`, `order`) and `gold` flag, and the `task` / `item_source`
    of the CSV label sources (docs/labeling/imports.md)."""
    variables: dict[str, Any] = {"refinery_sources": sorted(config.sources)}
    by_source = {
        name: list(source.options["quality_drop_rules"])
        for name, source in sorted(config.sources.items())
        if "quality_drop_rules" in source.options
    }
    if by_source:
        variables["quality_drop_rules_by_source"] = by_source
    label_sources = {
        name: {
            "level": source.options.get("level", "nominal"),
            "order": [str(v) for v in source.options.get("order") or []],
            **_item_options(source),
            # An adjudication export (docs/labeling/adjudication.md): every annotation is gold.
            **({"gold": True} if source.options.get("gold") is True else {}),
        }
        for name, source in sorted(config.sources.items())
        if source.kind in ANNOTATION_KINDS
    }
    if label_sources:
        variables["label_sources"] = label_sources
    prediction_sources = {
        name: _item_options(source)
        for name, source in sorted(config.sources.items())
        if source.kind == "predictions_csv"
    }
    if prediction_sources:
        variables["prediction_sources"] = prediction_sources
    return variables


def _item_options(source: SourceConfig) -> dict[str, str]:
    """A CSV label source's `task` (for rows without one) and `item_source` (whose ids its rows use)."""
    return {key: str(source.options[key]) for key in ("task", "item_source") if key in source.options}


def summarize_run_results(run_results: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of dbt's run_results.json that status and release need."""
    results = run_results.get("results", [])
    counts: dict[str, int] = {}
    failures, warnings = [], []
    for result in results:
        status = str(result.get("status"))
        counts[status] = counts.get(status, 0) + 1
        entry = {
            "unique_id": result.get("unique_id"),
            "name": node_name(str(result.get("unique_id", ""))),
            "status": status,
            "failures": result.get("failures"),
            "message": (result.get("message") or "")[:500],
        }
        if status in {"error", "fail", "runtime error"}:
            failures.append(entry)
        elif status == "warn":
            warnings.append(entry)
    metadata = run_results.get("metadata", {})
    return {
        "invocation_id": metadata.get("invocation_id"),
        "generated_at": metadata.get("generated_at"),
        "recorded_at": datetime.now(UTC).isoformat(),
        "success": not failures and bool(results),
        "counts": counts,
        "tests": sum(1 for r in results if str(r.get("unique_id", "")).startswith(("test.", "unit_test."))),
        "failures": failures,
        "warnings": warnings,
    }


def node_name(unique_id: str) -> str:
    """The readable name in a dbt unique id (`test.<package>.<name>.<hash>` → `<name>`)."""
    parts = unique_id.split(".")
    if parts[0] == "test" and len(parts) >= 3:
        return parts[2]
    return parts[-1] if unique_id else "?"


def save_last_build(config: Config, summary: Mapping[str, Any]) -> None:
    path = config.warehouse_dir / LAST_BUILD_FILE
    path.write_text(json.dumps(summary, indent=1))


def load_last_build(config: Config) -> dict[str, Any] | None:
    path = config.warehouse_dir / LAST_BUILD_FILE
    return json.loads(path.read_text()) if path.exists() else None
