"""The demo path from a user's seat: `refinery run` twice, status, releases, export, dbt, the UI."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from ingestion.warehouse import warehouse_lock
from tests.conftest import PROJECT_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REFINERY = str(Path(sys.executable).parent / "refinery")
SEEDS = PROJECT_ROOT / "seeds" / "sample"


def cli(args, env, check=True, cwd=PROJECT_ROOT):
    result = subprocess.run([REFINERY, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"refinery {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("refinery-home")


@pytest.fixture(scope="module")
def env(home, connectors_dir):
    return {
        **os.environ,
        "REFINERY_HOME": str(home),
        "REFINERY_CONFIG": str(PROJECT_ROOT / "refinery.yml"),
        "REFINERY_CONNECTORS_DIR": str(connectors_dir),
    }


@pytest.fixture(scope="module")
def first_run(env):
    return cli(["run"], env)


@pytest.fixture(scope="module")
def second_run(first_run, env):
    return cli(["run"], env)


def warehouse(home: Path):
    return duckdb.connect(str(home / "warehouse" / "refinery.duckdb"), read_only=True)


def expected():
    return json.loads((SEEDS / "EXPECTED.json").read_text())


def test_first_run_lands_every_source_and_publishes_v1(first_run, home, env):
    out = first_run.stdout
    assert "Syncs (this run)" in out and "Funnel" in out and "Labels:" in out
    assert "Next: `refinery status`" in out
    with warehouse(home) as con:
        landed = dict(
            con.execute("select source_name, sum(records_landed) from raw._refinery_sync_log group by 1").fetchall()
        )
        quarantined = dict(
            con.execute("select source_name, count(*) from raw._refinery_quarantine group by 1").fetchall()
        )
        examples = con.execute("select count(*) from marts.training_examples").fetchone()[0]
    facts = expected()
    assert landed["tickets"] == facts["tickets"]["valid_lines"]
    assert quarantined == {"tickets": facts["tickets"]["malformed_lines"]}
    assert landed["shop"] == 500  # faker with count 200: 200 users, 200 purchases, 100 products
    assert landed["topics"] == facts["annotations"]["tasks"]
    labels = facts["label_imports"]
    assert landed["urgency_argilla"] == labels["argilla_records"]
    assert landed["urgency_sheet"] == labels["sheet_rows"]
    assert landed["topic_model"] == labels["topic_prediction_rows"]
    assert examples > 0
    listing = cli(["release", "list"], env).stdout
    assert "v1" in listing and "v2" not in listing


def test_consensus_marts_match_the_sample(first_run, home):
    facts = expected()["annotations"]
    with warehouse(home) as con:
        per_method = {
            method: (items, ties, gold)
            for method, items, ties, gold in con.execute(
                "select method, count(*), count(*) filter (where is_tie), count(*) filter (where label_basis = 'gold') "
                "from marts.item_labels where task_name = 'topic' group by 1"
            ).fetchall()
        }
        votes = dict(
            con.execute(
                "select split_part(annotator_key, ':', 2), votes from marts.annotator_quality where task_name = 'topic'"
            ).fetchall()
        )
        flagged = {
            row[0]
            for row in con.execute(
                "select split_part(annotator_key, ':', 2) from marts.annotator_quality "
                "where is_flagged and task_name = 'topic'"
            ).fetchall()
        }
        history = con.execute(
            "select count(*), count(*) filter (where dbt_valid_to is null) from snapshots.item_labels_history "
            "where task_name = 'topic'"
        ).fetchone()
    items = facts["tasks"] - facts["tasks_without_votes"]
    # The sample's 6 ties: one (2-2) has a ground_truth vote, and gold wins.
    assert per_method["majority_vote"] == (items, facts["ties"]["total"] - 1, facts["ground_truth"])
    assert per_method["dawid_skene"][0] == items and per_method["dawid_skene"][2] == facts["ground_truth"]
    assert votes == {name: a["submitted"] for name, a in facts["annotators"].items()}
    # The two annotators who match the planted topic least often are the flagged ones.
    weakest = sorted(facts["annotators"], key=lambda a: facts["annotators"][a]["matches_true_topic"])[:2]
    assert flagged == set(weakest)
    # One current version per item and method after the first run.
    assert history == (2 * items, 2 * items)


def test_funnel_matches_the_planted_cases_of_the_sample(first_run, home):
    facts = expected()["tickets"]
    with warehouse(home) as con:
        funnel = {
            (source, outcome, reason): records
            for source, outcome, reason, records in con.execute(
                "select source_name, outcome, reason, records from marts.pipeline_funnel"
            ).fetchall()
        }
    assert funnel[("tickets", "ingested", "ingested")] == facts["valid_lines"]
    assert funnel[("tickets", "quarantined", "quarantined")] == facts["malformed_lines"]
    assert funnel[("tickets", "dropped", "empty_text")] == facts["empty"]["count"]
    assert funnel[("tickets", "dropped", "too_short")] == facts["too_short"]["count"]
    exact = facts["exact_duplicates"]["redundant_tickets"] + facts["normalization_duplicates"]["count"]
    near = facts["near_duplicates"]["count"]
    assert funnel[("tickets", "duplicate", "exact_duplicate")] == exact
    assert funnel[("tickets", "duplicate", "near_duplicate")] == near
    # Tickets drop only on content rules (refinery.yml), which no sample ticket fails.
    rules = [reason for (source, outcome, reason) in funnel if source == "tickets" and outcome == "rule_failed"]
    assert len(rules) == 20
    assert sum(funnel[("tickets", "dropped", rule)] for rule in rules) == 0
    assert funnel[("tickets", "dropped", "language")] == 0
    kept = facts["valid_lines"] - facts["empty"]["count"] - facts["too_short"]["count"] - exact - near
    assert funnel[("tickets", "kept", "kept")] == kept == facts["kept_after_exact_normalized_short_and_near_dedup"]
    assert funnel[("handbook", "dropped", "too_short")] == 1  # notes/refund-policy-todo.txt
    assert funnel[("handbook", "duplicate", "exact_duplicate")] == 1  # cargo/README.txt = cargo/README.md


def test_planted_near_duplicates_and_pii_are_found(first_run, home):
    facts = expected()["tickets"]
    with warehouse(home) as con:
        clusters = dict(
            con.execute(
                "select d.source_key, r.source_key from marts.document_duplicates d "
                "join marts.document_duplicates r on d.representative_document_id = r.document_id "
                "where d.source_name = 'tickets' and d.match_type = 'near'"
            ).fetchall()
        )
        pii = {
            key: (emails, phones)
            for key, emails, phones in con.execute(
                "select n.source_key, p.pii_email_count, p.pii_phone_count from intermediate.int_documents_pii p "
                "join intermediate.int_documents_normalized n using (document_id) "
                "where n.source_name = 'tickets' and p.pii_total_count > 0"
            ).fetchall()
        }
        leaked = con.execute(
            "select count(*) from marts.training_examples where regexp_matches(text, '[\\w.+-]+@[\\w-]+\\.[\\w.]+')"
        ).fetchone()[0]
    # Every planted near pair, clustered under the original (first seen), and no other.
    assert clusters == {p["ticket_id"]: p["near_duplicate_of"] for p in facts["near_duplicates"]["pairs"]}
    # Every ticket with an e-mail address or a phone number, and no other, is found.
    assert set(pii) == set(facts["pii_ticket_ids"])
    assert sum(1 for emails, _ in pii.values() if emails) == facts["with_email"]
    assert sum(1 for _, phones in pii.values() if phones) == facts["with_phone"]
    assert leaked == 0  # redacted before training


def test_label_imports_of_the_sample(first_run, home):
    facts = expected()["label_imports"]
    with warehouse(home) as con:
        by_status = {
            (tool, status): (votes, gold)
            for tool, status, votes, gold in con.execute(
                "select tool, status, count(*), count(*) filter (where is_gold) from intermediate.int_label_votes "
                "where task_name = 'urgency' group by all"
            ).fetchall()
        }
        items = con.execute(
            "select count(distinct item_key), count(distinct item_key) filter (where item_key in ("
            "  select item_key from intermediate.int_label_votes where tool = 'argilla' intersect "
            "  select item_key from intermediate.int_label_votes where tool = 'csv')), "
            "count(*) filter (where level = 'ordinal' and label_value is null and label is not null) "
            "from intermediate.int_label_votes where task_name = 'urgency'"
        ).fetchone()
        documents = con.execute(
            "select count(distinct v.item_key) from intermediate.int_label_votes v "
            "join intermediate.int_documents_normalized d on v.item_key = d.content_hash "
            "where v.task_name = 'urgency' and d.source_name = 'tickets'"
        ).fetchone()[0]
        predictions = dict(
            con.execute("select source_name, count(*) from intermediate.int_label_predictions group by all").fetchall()
        )
        topic_votes = con.execute(
            "select item_key, label from intermediate.int_label_votes where tool = 'label_studio' "
            "and status = 'submitted' and task_name = 'topic' "
            "qualify row_number() over (partition by item_key, annotator_key order by updated_at desc) = 1"
        ).fetchall()
        confident = con.execute(
            "select item_id::integer, item_key, label from intermediate.int_label_predictions "
            "where source_name = 'topic_model' and score >= 0.9"
        ).fetchall()
    argilla, sheet = facts["argilla_responses"], facts["sheet_votes"]
    assert by_status == {
        ("argilla", "submitted"): (argilla["submitted"], 0),
        ("argilla", "draft"): (argilla["draft"], 0),
        ("argilla", "discarded"): (argilla["discarded"], 0),
        ("csv", "submitted"): (sheet["submitted"], facts["sheet_gold_rows"]),
        ("csv", "skipped"): (sheet["skipped"], 0),
    }
    # Every urgency item is a ticket (by text, or by ticket id through item_source), and every label is in `order`.
    assert items == (facts["urgency_items"], facts["urgency_items_in_both_tools"], 0)
    assert documents == facts["urgency_items"]
    assert predictions == {
        "topic_model": facts["topic_prediction_items"],
        "topics": expected()["annotations"]["predictions"],
        "urgency_argilla": facts["argilla_suggestions"],
    }
    counts: dict[str, Counter] = {}
    for key, label in topic_votes:
        counts.setdefault(key, Counter())[label] += 1
    majority = {
        key: c.most_common(1)[0][0] for key, c in counts.items() if list(c.values()).count(max(c.values())) == 1
    }
    disagreeing = sorted(tid for tid, key, label in confident if key in majority and majority[key] != label)
    assert disagreeing == facts["topic_predictions_confidently_disagreeing_with_majority"]


def test_review_queues_of_the_sample(first_run, home, env):
    """The ties and the topic model's planted confident disagreements reach the adjudication queue,
    the export and the label-noise candidates; `refinery run` printed their sizes."""
    facts = expected()
    disagreeing = facts["label_imports"]["topic_predictions_confidently_disagreeing_with_majority"]
    with warehouse(home) as con:
        ties = dict(
            con.execute(
                "select task_name, count(*) from marts.adjudication_queue "
                "where list_contains(reasons, 'tie') group by 1"
            ).fetchall()
        )
        queued_total, queued_topic = con.execute(
            "select count(*), count(*) filter (where task_name = 'topic') from marts.adjudication_queue"
        ).fetchone()
        model_disagrees = con.execute(
            "select distinct p.item_id::integer from marts.adjudication_queue q "
            "join intermediate.int_label_predictions p using (task_name, item_key) "
            "where list_contains(q.reasons, 'model_disagrees') and p.source_name = 'topic_model' order by 1"
        ).fetchall()
        candidates = con.execute(
            "select item_id::integer from marts.label_noise_candidates where task_name = 'topic' order by 1"
        ).fetchall()
        batch = con.execute(
            "select count(*), count(*) filter (where is_tie) from marts.active_learning_queue"
        ).fetchone()
    # One of the sample's topic ties has a ground_truth vote: gold settles it, so it is not queued.
    assert ties == {
        "topic": facts["annotations"]["ties"]["total"] - 1,
        "urgency": facts["label_imports"]["urgency_unanimous_majority_tie"][2],
    }
    assert [row[0] for row in model_disagrees] == disagreeing
    # Confident learning flags the same three (two wrong majorities, one wrong model: labels to re-check).
    assert [row[0] for row in candidates] == disagreeing
    # Every tie with a prediction is in the active-learning batch (no other item lacks a human label).
    assert batch[0] > 0 and batch[1] > 0
    out = first_run.stdout
    assert f"adjudication queue: {queued_total} items (tie {sum(ties.values())}," in out
    assert f"model_disagrees {len(disagreeing)})" in out
    assert f"label-noise candidates (confident learning): {len(disagreeing)} (task topic)" in out
    assert f"active learning batch: {batch[0]} unlabeled items" in out
    written = cli(["labels", "export-queue", "--out", str(home / "queue.json"), "--task", "topic"], env)
    tasks = json.loads((home / "queue.json").read_text())
    assert f"{len(tasks)} items to adjudicate written to" in written.stdout
    assert len(tasks) == queued_topic
    assert all(t["data"]["text"] and t["predictions"] for t in tasks)


def test_release_manifest_matches_the_published_rows(first_run, home, env):
    manifest = json.loads(cli(["release", "show", "v1"], env).stdout)
    with warehouse(home) as con:
        rows = con.execute("select count(*) from marts.training_examples").fetchone()[0]
        per_split = dict(con.execute("select split, count(*) from marts.training_examples group by 1").fetchall())
    assert manifest["rows"] == rows
    assert manifest["rows_per_split"] == per_split
    assert sum(manifest["rows_per_label"].values()) == rows
    assert {c["name"] for c in manifest["schema"]} >= {"example_id", "text", "label", "split", "document_id"}
    assert len(manifest["content_hash"]) == 32
    assert manifest["dbt_invocation_id"]
    assert set(manifest["source_states"]) == {
        "tickets",
        "handbook",
        "shop",
        "topics",
        "urgency_argilla",
        "urgency_sheet",
        "topic_model",
    }


def test_export_writes_one_file_per_split_readable_back(first_run, home, env, tmp_path):
    for file_format in ("parquet", "jsonl"):
        out = tmp_path / file_format
        written = cli(["release", "export", "v1", "--format", file_format, "--out", str(out)], env).stdout.split()
        manifest = json.loads((out / "manifest.json").read_text())
        assert sorted(Path(p).name for p in written) == sorted(
            [f"{split}.{file_format}" for split in manifest["rows_per_split"]] + ["manifest.json"]
        )
        for split, count in manifest["rows_per_split"].items():
            reader = "read_parquet" if file_format == "parquet" else "read_json_auto"
            with duckdb.connect() as con:
                rows = con.execute(
                    f"select count(*), count(distinct split) from {reader}(?)", [str(out / f"{split}.{file_format}")]
                ).fetchone()
            assert rows == (count, 1)


def test_second_run_lands_nothing_and_publishes_no_release(second_run, home, env):
    with warehouse(home) as con:
        per_sync = con.execute(
            "select sync_id, sum(records_landed) from raw._refinery_sync_log group by 1 order by min(started_at)"
        ).fetchall()
    assert len(per_sync) == 14  # seven sources, two runs
    assert [landed for _, landed in per_sync[7:]] == [0] * 7
    assert "content unchanged since v1" in second_run.stderr
    target = PROJECT_ROOT / "dbt_project" / "target"
    assert not list(target.glob("dbt_build-*"))  # builds reuse one artefact folder instead of one per run
    assert (target / "dagster" / "last_build" / "run_results.json").exists()
    listing = cli(["release", "list"], env).stdout
    assert "v1" in listing and "v2" not in listing


def test_runs_are_recorded_in_the_dagster_instance(second_run, home):
    from dagster import DagsterInstance, DagsterRunStatus

    with DagsterInstance.from_config(str(home / ".dagster")) as instance:
        runs = instance.get_runs()
        assert [run.status for run in runs] == [DagsterRunStatus.SUCCESS, DagsterRunStatus.SUCCESS]
        assert {run.job_name for run in runs} == {"refinery"}


def test_status_reports_syncs_funnel_labels_checks_and_releases(second_run, env):
    out = cli(["status"], env).stdout
    for section in ("Syncs (latest per source)", "Schema changes:", "Funnel", "Labels:", "Checks:", "Releases:"):
        assert section in out
    # the packaged connector reports its catalog: its streams' columns are recorded, no change between runs
    assert re.search(r"\n  [1-9]\d* streams discovered with [1-9][\d,]* columns; 0 changes since\n", out), out
    assert "passed" in out and "v1" in out
    # Labeling: agreement per task (the sample's topic and ordinal urgency tasks) and weak labels.
    assert re.search(
        r"agreement on topic \(nominal, \d+ items, \d+ annotators\): Krippendorff's alpha 0\.\d{3}", out
    ), out
    assert re.search(
        r"agreement on urgency \(ordinal, \d+ items, \d+ annotators\): Krippendorff's alpha 0\.\d{3}", out
    ), out
    assert "weak labels in training_examples:" in out


def test_a_second_writer_is_refused_while_the_warehouse_is_busy(second_run, home, env):
    with warehouse_lock(home / "warehouse"):
        result = cli(["run"], env, check=False)
    assert result.returncode == 3
    assert f"warehouse is busy (pid {os.getpid()})" in result.stderr


def test_bad_config_exits_2_naming_the_key(tmp_path, env):
    bad = tmp_path / "refinery.yml"
    bad.write_text("sources:\n  t: {kind: files, paht: x}\n")
    result = cli(["--config", str(bad), "status"], env, check=False)
    assert result.returncode == 2
    assert "unknown key 'sources.t.paht': did you mean 'path'?" in result.stderr


def test_dbt_build_works_from_the_dbt_project_after_the_demo(second_run, env):
    dbt = str(Path(sys.executable).parent / "dbt")
    result = subprocess.run(
        [dbt, "build", "--quiet"],
        cwd=PROJECT_ROOT / "dbt_project",
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_refinery_ui_serves_every_asset_and_the_last_run(second_run, env, home):
    port = _free_port()
    process = subprocess.Popen(
        [REFINERY, "ui", "--port", str(port)],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        query = {
            "query": "{ assetNodes { assetKey { path } } runsOrError { ... on Runs { results { status jobName } } } }"
        }
        data = None
        for _ in range(180):
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/graphql", json.dumps(query).encode(), {"Content-Type": "application/json"}
                )
                data = json.loads(urllib.request.urlopen(request, timeout=5).read())["data"]
                if data["assetNodes"]:
                    break
            except (OSError, KeyError, TypeError):
                pass
            time.sleep(1)
        assert data and data["assetNodes"], "the Dagster UI did not serve the asset graph within 180 s"
        keys = {"/".join(node["assetKey"]["path"]) for node in data["assetNodes"]}
        assert {
            "raw/tickets__records",
            "raw/handbook__documents",
            "raw/shop__users",
            "raw/topics__tasks",
            "marts/training_examples",
            "marts/pipeline_funnel",
            "release/training_examples",
        } <= keys
        runs = data["runsOrError"]["results"]
        assert len(runs) == 2 and all(run["status"] == "SUCCESS" and run["jobName"] == "refinery" for run in runs)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# Runs last in this module: it adds a run that the tests above do not expect.
def test_select_runs_only_the_chosen_assets(second_run, env, home):
    result = cli(["run", "--select", "key:raw/tickets__records"], env)
    assert "→ ingest tickets" in result.stderr
    assert "→ ingest shop" not in result.stderr and "→ dbt build" not in result.stderr
    with warehouse(home) as con:
        latest = con.execute(
            "select source_name from raw._refinery_sync_log order by started_at desc limit 1"
        ).fetchone()[0]
    assert latest == "tickets"
    bad = cli(["run", "--select", "key:raw/nothing_here"], env, check=False)
    assert bad.returncode == 2
    assert "matches no asset" in bad.stderr
