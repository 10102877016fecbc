"""Adjudication, active learning and label-noise candidates through real dbt builds.

The adjudication round trip through real dbt builds and the real `refinery labels export-queue`.

A small Label Studio export (a tie, a 2-1 item a confident model disagrees with, two clear items)
is landed as raw records and built; the queue is exported with the CLI and the file validated with
Label Studio's own LabelInterface; an "adjudicated" Label Studio export made from it (the
adjudicator's annotation on each exported task, as Label Studio would export it, with the
pre-annotations) is landed as a second source with `gold: true` and built again: the adjudicated
labels win, the items leave the queue, every vote stays and the label history has both versions.

A random noisy export (one vote per item, 20% wrong) with a model's class probabilities checks
label_noise_candidates against cleanlab's find_label_issues(filter_by='confident_learning') and
active_learning_queue against numpy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest
from cleanlab.count import get_confident_thresholds
from cleanlab.filter import find_label_issues
from label_studio_sdk.label_interface import LabelInterface

from refinery.config import load_config
from refinery.dbt import dbt_vars
from tests.integration.test_consensus import _annotation, _land_tasks
from tests.integration.test_dbt_build import DbtRun, _create_bookkeeping, _land, _register_stream, run_dbt

pytestmark = pytest.mark.integration

SELECT = ["--select", "+adjudication_queue item_labels_history", "--indirect-selection", "cautious"]
REFINERY = str(Path(sys.executable).parent / "refinery")
LABEL_CONFIG = """
<View>
  <Text name="text" value="$text"/>
  <Choices name="topic" toName="text" choice="single">
    <Choice value="account"/><Choice value="billing"/><Choice value="shipping"/><Choice value="technical"/>
  </Choices>
</View>
"""
CROWD_CONFIG = "sources:\n  crowd: {kind: label_studio, path: exports/crowd-*.json}\n"
# Added once the adjudicated export exists: every annotation of this source is gold.
ADJUDICATION_SOURCE = "  adjudication: {kind: label_studio, path: exports/adjudicated-*.json, gold: true}\n"
TEXTS = {
    1: "I was charged twice for my order, or is that my account settings?",
    2: "Where is my parcel? Tracking has not moved in a week.",
    3: "The invoice shows the wrong VAT amount for last month.",
    4: "The app crashes when I open the settings page.",
}


def _prediction(label: str, score: float) -> dict:
    return {
        "model_version": "topic-clf-v1",
        "score": score,
        "created_at": "2025-01-15T00:00:00Z",
        "result": [
            {
                "id": f"p-{label}",
                "from_name": "topic",
                "to_name": "text",
                "type": "choices",
                "value": {"choices": [label]},
            }
        ],
    }


def crowd_export() -> list[dict]:
    votes = {1: ["account", "billing"], 2: ["shipping"] * 3, 3: ["account", "account", "billing"], 4: ["technical"] * 2}
    predictions = {1: ("billing", 0.7), 2: ("shipping", 0.99), 3: ("billing", 0.96), 4: ("account", 0.6)}
    tasks, annotation_id = [], 1
    for task_id, labels in votes.items():
        annotations = []
        for annotator, label in enumerate(labels, start=1):
            annotations.append(_annotation(annotation_id, annotator, {"topic": label}, when="2025-01-10T00:00:00Z"))
            annotation_id += 1
        tasks.append(
            {
                "id": task_id,
                "data": {"text": TEXTS[task_id]},
                "annotations": annotations,
                "predictions": [_prediction(*predictions[task_id])],
            }
        )
    return tasks


def adjudicated_export(exported: list[dict], decisions: dict[str, str]) -> list[dict]:
    """What Label Studio exports after the import: each task with its data, the pre-annotations
    (predictions, with Label Studio's own ids and times) and the adjudicator's annotation."""
    tasks = []
    for index, task in enumerate(exported, start=1):
        label = decisions[task["data"]["item_key"]]
        annotation = _annotation(900 + index, 7, {"topic": label}, when="2025-03-01T00:00:00Z")
        predictions = [
            {**p, "id": 500 + n, "created_at": "2025-03-01T00:00:00Z"} for n, p in enumerate(task["predictions"])
        ]
        tasks.append({"id": 200 + index, "data": task["data"], "annotations": [annotation], "predictions": predictions})
    return tasks


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("adjudication_home")
    (root / "warehouse").mkdir()
    (root / "exports").mkdir()
    (root / "exports" / "crowd-1.json").write_text(json.dumps(crowd_export()))
    (root / "refinery.yml").write_text(CROWD_CONFIG)
    con = duckdb.connect(str(root / "warehouse" / "refinery.duckdb"))
    try:
        _create_bookkeeping(con)
        table = _register_stream(con, "crowd", "tasks", "label_studio", "annotations", "id", text_field="text")
        _land_tasks(con, table, "2025-02-01T00:00:00Z", crowd_export())
    finally:
        con.close()
    return root


def build(home: Path) -> DbtRun:
    # The vars Refinery's own dbt invocations get from refinery.yml (the adjudication source's gold flag).
    variables = dbt_vars(load_config(home / "refinery.yml", home=home))
    run = run_dbt(home, "build", *SELECT, "--vars", json.dumps(variables))
    assert run.returncode == 0, run.output[-6000:]
    return run


def export_queue(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "REFINERY_HOME": str(home), "REFINERY_CONFIG": str(home / "refinery.yml")}
    return subprocess.run([REFINERY, "labels", "export-queue", *args], env=env, capture_output=True, text=True)


def item_key(run: DbtRun, task_id: int) -> str:
    return run.rows(
        "select distinct item_key from intermediate.int_label_votes where source_name = 'crowd' and task_id = ?",
        [str(task_id)],
    )[0][0]


def test_export_queue_errors_name_the_problem(tmp_path: Path) -> None:
    (tmp_path / "crowd.json").write_text("[]")
    (tmp_path / "refinery.yml").write_text("sources:\n  crowd: {kind: label_studio, path: crowd.json}\n")
    missing = export_queue(tmp_path, "--out", str(tmp_path / "queue.json"))
    assert missing.returncode == 2
    assert "no marts.adjudication_queue yet: run `refinery run` first" in missing.stderr
    no_folder = export_queue(tmp_path, "--out", str(tmp_path / "nowhere" / "queue.json"))
    assert no_folder.returncode == 2
    assert f"the folder {tmp_path / 'nowhere'} does not exist" in no_folder.stderr


def test_adjudication_round_trip(home: Path) -> None:
    first = build(home)
    tie, majority, disputed = item_key(first, 1), item_key(first, 2), item_key(first, 3)
    queue = {
        row[0]: row[1:]
        for row in first.rows(
            "select item_key, reasons, vote_count, vote_share, consensus_label, prediction_label, prediction_score, "
            "prediction_model_version, priority from marts.adjudication_queue where task_name = 'topic'"
        )
    }
    assert queue == {
        tie: (["tie", "low_agreement"], 2, 0.5, None, "billing", 0.7, "topic-clf-v1", 1),
        disputed: (["model_disagrees"], 3, 2 / 3, "account", "billing", 0.96, "topic-clf-v1", 2),
    }
    assert first.rows(
        "select label, is_tie from marts.item_labels where item_key = ? and method = 'majority_vote'", [tie]
    ) == [(None, True)]

    unknown = export_queue(home, "--out", str(home / "queue.json"), "--task", "topics")
    assert unknown.returncode == 2
    assert "--task 'topics' is not a labeled task; the tasks are: topic" in unknown.stderr
    done = export_queue(home, "--out", str(home / "queue.json"), "--task", "topic")
    assert done.returncode == 0, done.stderr
    assert "2 items to adjudicate written to" in done.stdout
    exported = json.loads((home / "queue.json").read_text())
    assert [t["data"]["item_key"] for t in exported] == [tie, disputed]
    assert exported[0]["data"]["text"] == TEXTS[1]
    assert exported[0]["data"]["reasons"] == "tie, low_agreement"
    # The votes as pre-annotations, one per annotator, then the model's prediction with its score.
    assert [
        (p["model_version"], p["result"][0]["value"]["choices"], p.get("score")) for p in exported[0]["predictions"]
    ] == [
        ("annotator:crowd:1", ["account"], None),
        ("annotator:crowd:2", ["billing"], None),
        ("topic-clf-v1", ["billing"], 0.7),
    ]
    # Label Studio's own validation of the import against the labeling config.
    interface = LabelInterface(LABEL_CONFIG)
    result_ids = [r["id"] for t in exported for p in t["predictions"] for r in p["result"]]
    assert len(result_ids) == len(set(result_ids))
    for task in exported:
        assert interface.validate_task({"data": task["data"]})
        for prediction in task["predictions"]:
            assert interface.validate_prediction(prediction, return_errors=True) == []
    assert interface.validate_prediction(
        {"result": [{**exported[0]["predictions"][0]["result"][0], "value": {"choices": ["nope"]}}]}, return_errors=True
    )  # the validator does reject a label the config lacks

    # The adjudicator decides: the tie is billing, and the model was right about the 2-1 item.
    adjudicated = adjudicated_export(exported, {tie: "billing", disputed: "billing"})
    (home / "exports" / "adjudicated-1.json").write_text(json.dumps(adjudicated))
    (home / "refinery.yml").write_text(CROWD_CONFIG + ADJUDICATION_SOURCE)
    con = duckdb.connect(str(home / "warehouse" / "refinery.duckdb"))
    try:
        table = _register_stream(con, "adjudication", "tasks", "label_studio", "annotations", "id", text_field="text")
        _land_tasks(con, table, "2025-03-02T00:00:00Z", adjudicated)
    finally:
        con.close()
    second = build(home)

    labels = dict(
        second.rows(
            "select item_key, label || '/' || label_basis from marts.item_labels where method = 'majority_vote'"
        )
    )
    assert labels[tie] == "billing/gold"
    assert labels[disputed] == "billing/gold"
    assert labels[majority] == "shipping/majority"
    assert second.rows("select count(*) from marts.adjudication_queue")[0][0] == 0
    # Every vote is kept: the crowd's and the adjudicator's (gold through the source option).
    assert second.rows(
        "select source_name, is_gold, count(*) from intermediate.int_label_votes where item_key in (?, ?) "
        "group by all order by all",
        [tie, disputed],
    ) == [("adjudication", True, 2), ("crowd", False, 5)]
    # The re-exported pre-annotations are not landed as predictions.
    assert second.rows("select distinct source_name from intermediate.int_label_predictions") == [("crowd",)]
    # The label history: the tie, then the adjudicated label.
    history = second.rows(
        "select label, label_basis, is_tie, votes, dbt_valid_to is null from snapshots.item_labels_history "
        "where item_key = ? and method = 'majority_vote' order by dbt_valid_from",
        [tie],
    )
    assert history == [(None, None, True, 2, False), ("billing", "gold", False, 3, True)]


CLASSES = ["account", "billing", "shipping", "technical"]


def noisy_home(root: Path, seed: int = 11, items: int = 300) -> tuple[Path, dict[str, str], dict[str, list[float]]]:
    """One vote per item (20% of them wrong), and a model's class probabilities (4 decimals, as a
    predictions_csv file) for those items and for 40 items nobody labeled."""
    rng = np.random.default_rng(seed)
    (root / "warehouse").mkdir(parents=True)
    con = duckdb.connect(str(root / "warehouse" / "refinery.duckdb"))
    given, probabilities = {}, {}
    try:
        _create_bookkeeping(con)
        tasks_table = _register_stream(con, "crowd", "tasks", "label_studio", "annotations", "id", text_field="text")
        model_table = _register_stream(
            con, "model", "predictions", "predictions_csv", "annotations", None, text_field="text"
        )
        tasks = []
        for item in range(items + 40):
            text = f"Ticket {item}: something about an order."
            truth = int(rng.integers(0, 4))
            weights = rng.dirichlet(np.ones(4) * 0.6) + np.eye(4)[truth] * rng.uniform(0, 1.5)
            p = np.round(weights / weights.sum(), 4)
            probabilities[text] = [float(v) for v in p]
            for label, value in zip(CLASSES, p, strict=True):
                _land(
                    con,
                    model_table,
                    "2025-02-01T00:00:00Z",
                    {
                        "item_id": str(item),
                        "label": label,
                        "probability": str(value),
                        "model_version": "cv-fold",
                        "text": text,
                        "task": "topic",
                    },
                )
            if item < items:
                label = truth if rng.random() > 0.2 else int(rng.integers(0, 4))
                given[text] = CLASSES[label]
                tasks.append(
                    {
                        "id": item,
                        "data": {"text": text},
                        "annotations": [_annotation(item + 1, 1, {"topic": CLASSES[label]})],
                    }
                )
        _land_tasks(con, tasks_table, "2025-02-01T00:00:00Z", tasks)
    finally:
        con.close()
    return root, given, probabilities


@pytest.fixture(scope="module")
def noisy(tmp_path_factory: pytest.TempPathFactory) -> tuple[DbtRun, dict[str, str], dict[str, list[float]]]:
    home, given, probabilities = noisy_home(tmp_path_factory.mktemp("noisy_home"))
    run = run_dbt(
        home,
        "build",
        "--select",
        "+label_noise_candidates +active_learning_queue",
        "--indirect-selection",
        "cautious",
        "--vars",
        json.dumps({"active_learning_strategy": "entropy", "active_learning_batch_size": 25}),
    )
    assert run.returncode == 0, run.output[-6000:]
    return run, given, probabilities


def _texts(run: DbtRun) -> dict[str, str]:
    return dict(run.rows("select distinct item_key, item_text from intermediate.int_label_votes"))


def test_label_noise_candidates_match_cleanlab(noisy: tuple[DbtRun, dict[str, str], dict[str, list[float]]]) -> None:
    run, given, probabilities = noisy
    texts = list(given)
    labels = np.array([CLASSES.index(given[t]) for t in texts])
    pred_probs = np.array([probabilities[t] for t in texts])
    issues = find_label_issues(labels, pred_probs, filter_by="confident_learning")
    expected = {texts[i]: CLASSES[int(pred_probs[i].argmax())] for i in np.flatnonzero(issues)}
    assert 10 < len(expected) < 100  # the planted noise is found, not everything
    by_key = _texts(run)
    rows = run.rows(
        "select item_key, given_label, suggested_label, given_label_threshold, noise_rank "
        "from marts.label_noise_candidates"
    )
    assert {by_key[r[0]] for r in rows} == set(expected)
    thresholds = get_confident_thresholds(labels, pred_probs)
    for key, label, _suggested, threshold, _rank in rows:
        assert label == given[by_key[key]]
        assert abs(threshold - thresholds[CLASSES.index(label)]) < 1e-12
    # Ranked as cleanlab ranks them (self_confidence: the least probable given label first).
    ranked = find_label_issues(
        labels, pred_probs, filter_by="confident_learning", return_indices_ranked_by="self_confidence"
    )
    assert [by_key[r[0]] for r in sorted(rows, key=lambda r: r[4])] == [texts[i] for i in ranked]


def test_active_learning_queue_takes_the_unlabeled_items_by_entropy(
    noisy: tuple[DbtRun, dict[str, str], dict[str, list[float]]],
) -> None:
    run, given, probabilities = noisy
    unlabeled = {t: p for t, p in probabilities.items() if t not in given}
    assert len(unlabeled) == 40
    # -sum p ln p on the probabilities as given (4 decimals, so their sum is 1 +- 1e-4; scipy's entropy
    # would renormalize them; on distributions summing to 1 they agree: the dbt unit tests).
    entropy = {t: float(-sum(v * np.log(v) for v in p if v > 0)) for t, p in unlabeled.items()}
    rows = run.rows(
        "select item_id, uncertainty, entropy, margin, least_confidence, query_rank from marts.active_learning_queue "
        "order by query_rank"
    )
    assert len(rows) == 25
    by_id = {f"Ticket {r[0]}: something about an order.": r for r in rows}
    assert set(by_id) <= set(unlabeled)
    assert [t for t, _ in sorted(entropy.items(), key=lambda kv: -kv[1])[:25]] == list(by_id)
    for text, (_id, uncertainty, value, margin, least_confidence, _rank) in by_id.items():
        top = sorted(unlabeled[text], reverse=True)
        assert abs(value - entropy[text]) < 1e-12 and uncertainty == value
        assert abs(margin - (top[0] - top[1])) < 1e-12
        assert abs(least_confidence - (1 - top[0])) < 1e-12
