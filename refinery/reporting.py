"""What `refinery status` and the end of `refinery run` print, read from the warehouse (read-only)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import duckdb

from refinery.config import Config
from refinery.dbt import load_last_build
from refinery.read import connect_read_only, table_exists
from refinery.release import ReleaseError, list_releases

Out = Callable[[str], None]
OUTCOMES = ["ingested", "quarantined", "superseded", "dropped", "duplicate", "kept"]


def _table(rows: list[list[Any]], header: list[str], out: Out, indent: str = "  ") -> None:
    cells = [[str(c) for c in header]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for index, row in enumerate(cells):
        out(
            indent
            + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        )
        if index == 0:
            out(indent + "  ".join("-" * w for w in widths))


def print_syncs(con: duckdb.DuckDBPyConnection, out: Out, since: datetime | None = None) -> None:
    """Per source: records read/landed/quarantined, bytes, duration and rate of its latest sync (or this run's)."""
    if not table_exists(con, "raw", "_refinery_sync_log"):
        out("  (no syncs yet)")
        return
    where = (
        "where started_at >= ?"
        if since
        else ("where sync_id in (select arg_max(sync_id, started_at) from raw._refinery_sync_log group by source_name)")
    )
    rows = con.execute(
        f"""select source_name, sum(records_read), sum(records_landed), sum(records_quarantined), sum(bytes_read),
                   max(epoch(ended_at) - epoch(started_at)), string_agg(distinct status, ','), max(ended_at),
                   any_value(error) filter (where error is not null)
            from raw._refinery_sync_log {where} group by source_name order by source_name""",
        [since] if since else [],
    ).fetchall()
    body = [
        [
            r[0],
            f"{r[1]:,}",
            f"{r[2]:,}",
            f"{r[3]:,}",
            _megabytes(r[4]),
            f"{r[5]:.1f}" if r[5] is not None else "-",
            f"{r[1] / r[5]:,.0f}" if r[5] else "-",
            r[6],
            r[7].strftime("%Y-%m-%d %H:%M:%S") if r[7] else "-",
        ]
        for r in rows
    ]
    header = ["source", "read", "landed", "quarantined", "MB", "seconds", "records/s", "status", "ended (UTC)"]
    _table(body, header, out)
    for r in rows:
        if r[8]:
            out(f"  ! {r[0]}: {r[8]}")


def _megabytes(nbytes: int | None) -> str:
    return "-" if nbytes is None else f"{nbytes / 1e6:,.2f}"


SCHEMA_CHANGES_SHOWN = 10


def print_schema_changes(con: duckdb.DuckDBPyConnection, out: Out) -> None:
    """The latest added, removed and retyped columns (discovery of a new stream is summarized)."""
    if not table_exists(con, "raw", "_refinery_schema_history"):
        out("  (no source reports a schema)")
        return
    streams, columns = con.execute(
        "select count(distinct (source_name, stream_name)), count(*) from raw._refinery_schema_history "
        "where change = 'discovered'"
    ).fetchone()
    changes = con.execute(
        f"""select changed_at, source_name, stream_name, change, column_name, old_type, new_type,
                   count(*) over () as total
            from raw._refinery_schema_history where change <> 'discovered'
            order by changed_at desc, source_name, stream_name, change, column_name
            limit {SCHEMA_CHANGES_SHOWN}"""
    ).fetchall()
    out(f"  {streams:,} streams discovered with {columns:,} columns; {changes[0][7] if changes else 0:,} changes since")
    body = [
        [
            f"{c[1]}.{c[2]}",
            c[4],
            c[3],
            c[5] or "",
            c[6] or "",
            c[0].strftime("%Y-%m-%d %H:%M:%S"),
        ]
        for c in changes
    ]
    if body:
        _table(body, ["stream", "column", "change", "old type", "new type", "at (UTC)"], out)


def print_funnel(con: duckdb.DuckDBPyConnection, out: Out) -> None:
    if not table_exists(con, "marts", "pipeline_funnel"):
        out("  (not built yet: run `refinery run`)")
        return
    rows = con.execute(
        "select source_name, outcome, reason, sum(records) from marts.pipeline_funnel group by all order by all"
    ).fetchall()
    by_source: dict[str, dict[str, int]] = {}
    reasons: dict[str, dict[str, int]] = {}
    duplicates: dict[str, dict[str, int]] = {}
    failing: dict[str, dict[str, int]] = {}
    for source, outcome, reason, records in rows:
        by_source.setdefault(source, {})[outcome] = by_source.get(source, {}).get(outcome, 0) + int(records)
        if outcome == "dropped":
            reasons.setdefault(source, {})[reason] = int(records)
        elif outcome == "duplicate":
            duplicates.setdefault(source, {})[reason] = int(records)
        elif outcome == "rule_failed" and records:
            failing.setdefault(source, {})[reason] = int(records)
    body = [[s, *[f"{counts.get(o, 0):,}" for o in OUTCOMES]] for s, counts in sorted(by_source.items())]
    _table(body, ["source", *OUTCOMES], out)
    for source, by_reason in sorted(reasons.items()):
        # Every rule, zeros included, largest first: the first rule a document fails drops it.
        ranked = sorted(by_reason.items(), key=lambda item: (-item[1], item[0]))
        out(f"  dropped in {source}: " + ", ".join(f"{r} {n:,}" for r, n in ranked))
        if duplicates.get(source):
            out(f"  duplicates in {source}: " + ", ".join(f"{r} {n:,}" for r, n in sorted(duplicates[source].items())))
        if failing.get(source):
            ranked = sorted(failing[source].items(), key=lambda item: (-item[1], item[0]))
            out(f"  failing a rule in {source} (dropping or not): " + ", ".join(f"{r} {n:,}" for r, n in ranked))


def print_cleaning(con: duckdb.DuckDBPyConnection, out: Out) -> None:
    """Languages, PII found and redacted, duplicate clusters and tabular columns needing attention."""
    if table_exists(con, "intermediate", "int_documents_language"):
        languages = con.execute(
            "select coalesce(language, '?'), count(*) from intermediate.int_documents_language "
            "group by all order by 2 desc, 1 limit 6"
        ).fetchall()
        out("  languages: " + ", ".join(f"{lang} {n:,}" for lang, n in languages))
    if table_exists(con, "intermediate", "int_documents_pii"):
        columns = [
            name
            for (name,) in con.execute(
                "select column_name from information_schema.columns where table_schema = 'intermediate' "
                "and table_name = 'int_documents_pii' and column_name like 'pii_%_count' "
                "and column_name != 'pii_total_count' order by ordinal_position"
            ).fetchall()
        ]
        if columns:
            totals = con.execute(
                "select " + ", ".join(f'sum("{c}")' for c in columns) + ", count(*) filter (where pii_total_count > 0) "
                "from intermediate.int_documents_pii"
            ).fetchone()
            found = ", ".join(f"{c[4:-6]} {int(n or 0):,}" for c, n in zip(columns, totals[:-1], strict=True))
            out(f"  PII redacted: {found} (in {int(totals[-1] or 0):,} documents)")
    if table_exists(con, "marts", "document_duplicates"):
        clusters, members, near = con.execute(
            "select count(distinct cluster_id), count(*), count(*) filter (where match_type = 'near') "
            "from marts.document_duplicates"
        ).fetchone()
        out(f"  duplicate clusters: {clusters:,} ({members:,} documents, {near:,} near duplicates)")
    if table_exists(con, "marts", "tabular_quality"):
        flagged = con.execute(
            "select source_name || '.' || stream_name || '.' || column_name, coercion_failures, filled, outliers "
            "from marts.tabular_quality where coercion_failures > 0 or filled > 0 or outliers > 0 "
            "order by 1 limit 8"
        ).fetchall()
        for name, failures, filled, outliers in flagged:
            out(f"  table column {name}: {failures:,} coercion failures, {filled:,} filled, {outliers:,} outliers")


def print_labels(con: duckdb.DuckDBPyConnection, out: Out) -> None:
    if not table_exists(con, "marts", "training_examples"):
        out("  (not built yet)")
        return
    rows = con.execute(
        "select split, count(*), count(*) filter (where label_status = 'labeled'), "
        "count(*) filter (where label_status = 'tie') from marts.training_examples group by all order by all"
    ).fetchall()
    body = [
        [s, f"{n:,}", f"{labeled:,}", f"{100 * labeled / n:.0f}%" if n else "-", f"{ties:,}"]
        for s, n, labeled, ties in rows
    ]
    _table(body, ["split", "examples", "labeled", "coverage", "ties"], out)
    if table_exists(con, "marts", "item_labels"):
        for method, items, ties, gold, unmatched in con.execute(
            "select method, count(*), count(*) filter (where is_tie), count(*) filter (where label_basis = 'gold'), "
            "count(*) filter (where not has_document) from marts.item_labels group by method order by method"
        ).fetchall():
            out(
                f"  {method}: annotated items {items:,}; ties (no label, counted) {ties:,}; "
                f"gold labels {gold:,}; items matching no document {unmatched:,}"
            )
    print_agreement(con, out)
    if table_exists(con, "marts", "annotator_quality"):
        rows = con.execute(
            "select task_name, annotator_key, votes, consensus_agreement, dawid_skene_accuracy, flag_reasons "
            "from marts.annotator_quality order by is_flagged desc, task_name, annotator_key"
        ).fetchall()
        flagged = [row for row in rows if row[5]]
        out(f"  annotators (per task): {len(rows):,}; flagged: {len(flagged):,}")
        for task, annotator, votes, agreement, accuracy, reasons in flagged[:5]:
            measures = f"agreement {agreement:.2f}" if agreement is not None else "agreement -"
            measures += f", Dawid-Skene accuracy {accuracy:.2f}" if accuracy is not None else ""
            out(f"    {task} {annotator}: {votes:,} votes, {measures} ({', '.join(reasons)})")
    if table_exists(con, "snapshots", "item_labels_history"):
        versions, replaced = con.execute(
            "select count(*), count(*) filter (where dbt_valid_to is not null) from snapshots.item_labels_history"
        ).fetchone()
        out(f"  label history (snapshots.item_labels_history): {versions:,} versions, {replaced:,} replaced")
    print_label_review(con, out)
    print_weak_supervision(con, out)


def _three(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def print_agreement(con: duckdb.DuckDBPyConnection, out: Out) -> None:
    """Per task: Krippendorff's alpha (at the task's level), Fleiss' kappa and percent agreement."""
    if not table_exists(con, "marts", "label_agreement"):
        return
    rows = con.execute(
        "select task_name, any_value(level), max(items) filter (where metric = 'krippendorff_alpha'), "
        "max(annotators) filter (where metric = 'krippendorff_alpha'), "
        "max(value) filter (where metric = 'krippendorff_alpha'), "
        "max(value) filter (where metric = 'fleiss_kappa'), max(value) filter (where metric = 'percent_agreement'), "
        "string_agg(distinct metric || ': ' || null_reason, '; ' order by metric || ': ' || null_reason) "
        "from marts.label_agreement group by task_name order by task_name"
    ).fetchall()
    for task, level, items, annotators, alpha, fleiss, percent in (row[:7] for row in rows):
        out(
            f"  agreement on {task} ({level}, {items or 0:,} items, {annotators or 0:,} annotators): "
            f"Krippendorff's alpha {_three(alpha)}, Fleiss' kappa {_three(fleiss)}, percent agreement {_three(percent)}"
        )
    for task, reasons in ((row[0], row[7]) for row in rows if row[7]):
        out(f"    {task}: not computed — {reasons}")


def print_label_review(con: duckdb.DuckDBPyConnection, out: Out) -> None:
    """Adjudication queue by reason, the active-learning batch and the label-noise candidates."""
    if table_exists(con, "marts", "adjudication_queue"):
        total, *by_reason = con.execute(
            "select count(*), count(*) filter (where list_contains(reasons, 'tie')), "
            "count(*) filter (where list_contains(reasons, 'low_agreement')), "
            "count(*) filter (where list_contains(reasons, 'model_disagrees')) from marts.adjudication_queue"
        ).fetchone()
        reasons = ", ".join(
            f"{name} {count:,}"
            for name, count in zip(("tie", "low_agreement", "model_disagrees"), by_reason, strict=True)
        )
        out(
            f"  adjudication queue: {total:,} items ({reasons}); "
            "`refinery labels export-queue --out FILE` writes it for Label Studio"
        )
    if table_exists(con, "marts", "active_learning_queue"):
        rows = con.execute(
            "select any_value(strategy), count(*), count(distinct task_name) from marts.active_learning_queue"
        ).fetchone()
        strategy, items, tasks = rows
        if items:
            out(f"  active learning batch: {items:,} unlabeled items over {tasks:,} tasks, by {strategy}")
        else:
            out("  active learning batch: 0 items (no prediction for an item without a human label)")
    if table_exists(con, "marts", "label_noise_candidates"):
        candidates = con.execute(
            "select count(*), string_agg(distinct task_name, ', ' order by task_name) from marts.label_noise_candidates"
        ).fetchone()
        where = f" (task {candidates[1]})" if candidates[0] else ""
        out(f"  label-noise candidates (confident learning): {candidates[0]:,}{where}")


def print_weak_supervision(con: duckdb.DuckDBPyConnection, out: Out) -> None:
    """Labeling functions per task (Snorkel's coverage, overlap, conflict, accuracy) and the weak labels used."""
    if not table_exists(con, "marts", "lf_analysis"):
        return
    functions = con.execute(
        "select task_name, lf_name, coverage, overlap, conflict, empirical_accuracy, correct + incorrect, weight, "
        "n_documents from marts.lf_analysis order by task_name, lf_name"
    ).fetchall()
    if not functions:
        out("  labeling functions: none (docs/labeling/weak-supervision.md)")
        return
    voted: dict[str, int] = {}
    if table_exists(con, "intermediate", "int_lf_votes"):
        voted = dict(
            con.execute(
                "select task_name, count(distinct document_id) from intermediate.int_lf_votes group by 1"
            ).fetchall()
        )
    for task in sorted({row[0] for row in functions}):
        rows = [row for row in functions if row[0] == task]
        documents = rows[0][8] or 0
        covered = voted.get(task, 0)
        share = f" ({100 * covered / documents:.0f}%)" if documents else ""
        out(f"  labeling functions for {task}: {len(rows)}, voting on {covered:,} of {documents:,} documents{share}")
        body = [
            [
                name,
                _fraction(coverage),
                _fraction(overlap),
                _fraction(conflict),
                f"{accuracy:.2f} of {evaluated}" if accuracy is not None else "-",
                f"{weight:.2f}" if weight is not None else "-",
            ]
            for _, name, coverage, overlap, conflict, accuracy, evaluated, weight, _ in rows
        ]
        _table(body, ["function", "coverage", "overlap", "conflict", "emp. acc.", "weight"], out, indent="    ")
    if table_exists(con, "marts", "training_examples"):
        weak, examples = con.execute(
            "select count(*) filter (where label_source = 'weak_supervision'), count(*) from marts.training_examples"
        ).fetchone()
        out(f"  weak labels in training_examples: {weak:,} of {examples:,} examples (only where no human voted)")


def _fraction(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_checks(config: Config, out: Out) -> None:
    build = load_last_build(config)
    if not build:
        out("  (no dbt build recorded)")
        return
    counts = ", ".join(f"{k} {v}" for k, v in sorted(build["counts"].items()))
    out(f"  last dbt build {build.get('generated_at', '?')}: {'passed' if build['success'] else 'FAILED'} ({counts})")
    for failure in build["failures"]:
        out(f"  ✗ {failure['name']}: {failure['status']} {failure.get('message') or ''}".rstrip())
    for warning in build.get("warnings", []):
        out(f"  ! {warning['name']}: warn ({warning.get('failures')} rows)")


def print_releases(config: Config, out: Out) -> None:
    try:
        releases = list_releases(config)
    except ReleaseError as exc:
        out(f"  {exc}")
        return
    if not releases:
        out("  (no release yet)")
        return
    body = [
        [
            m["version"],
            m["created_at"][:19].replace("T", " "),
            f"{m['rows']:,}",
            " ".join(f"{k}={v}" for k, v in m["rows_per_split"].items()),
            m["content_hash"][:12],
            m.get("snapshot_id"),
        ]
        for m in releases
    ]
    _table(body, ["version", "created (UTC)", "rows", "per split", "content hash", "snapshot"], out)


def print_status(config: Config, out: Out = print, since: datetime | None = None) -> None:
    con = connect_read_only(config)
    out(f"Warehouse: {config.database_path}")
    if con is None:
        out("  (empty: run `refinery run`)")
        return
    try:
        out("\nSyncs" + (" (this run)" if since else " (latest per source)") + ":")
        print_syncs(con, out, since)
        out("\nSchema changes:")
        print_schema_changes(con, out)
        out("\nFunnel (records per source and outcome):")
        print_funnel(con, out)
        out("\nCleaning:")
        print_cleaning(con, out)
        out("\nLabels:")
        print_labels(con, out)
    finally:
        con.close()
    out("\nChecks:")
    print_checks(config, out)
    out("\nReleases:")
    print_releases(config, out)
