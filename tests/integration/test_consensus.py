"""Consensus models against crowd-kit, and the label history snapshot, through real dbt builds.

A random multi-annotator Label Studio export (planted annotator accuracies, missing votes, gold
votes on one control) is landed as raw records (docs/raw-layer.md), the labeling models are built
with dbt, and their numbers are compared with crowd-kit 1.4.2's own DawidSkene and MajorityVote
run on the very votes dbt counted (int_label_votes_counted).
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import DawidSkene, MajorityVote

from tests.integration.test_dbt_build import DbtRun, _create_bookkeeping, _register_stream, run_dbt

pytestmark = pytest.mark.integration

SELECT = ["--select", "+item_labels +annotator_quality item_labels_history", "--indirect-selection", "cautious"]
TOPICS = ["account", "billing", "shipping", "technical"]
URGENCY = ["high", "low", "medium"]
ACCURACIES = [0.92, 0.85, 0.8, 0.7, 0.62, 0.5, 0.3]  # planted; chance is 0.25 on 4 topics, 0.33 on 3 urgencies


def _annotation(
    annotation_id: int, annotator: int, choices: dict[str, str], gold: bool = False, when: str = ""
) -> dict:
    return {
        "id": annotation_id,
        "completed_by": annotator,
        "result": [
            {
                "id": f"r{annotation_id}{name}",
                "from_name": name,
                "to_name": "text",
                "type": "choices",
                "value": {"choices": [value]},
            }
            for name, value in choices.items()
        ],
        "was_cancelled": False,
        "ground_truth": gold,
        "lead_time": 5.0 + annotator,
        "created_at": when or "2025-01-01T00:00:00Z",
        "updated_at": when or "2025-01-01T00:00:00Z",
    }


def _land_tasks(con: duckdb.DuckDBPyConnection, table: str, extracted_at: str, tasks: list[dict]) -> None:
    con.executemany(
        f'insert into raw."{table}" values (?, ?::timestamptz, ?::timestamptz, ?::json, 0, ?::json)',
        [
            [str(uuid.uuid4()), extracted_at, extracted_at, json.dumps({"sync_id": "s1", "changes": []}), json.dumps(t)]
            for t in tasks
        ],
    )


def _answer(rng: np.random.Generator, truth: int, accuracy: float, k: int) -> int:
    if rng.random() < accuracy:
        return truth
    return int((truth + rng.integers(1, k)) % k)


def random_export(seed: int = 7, items: int = 240) -> tuple[list[dict], int]:
    """Tasks with a `topic` answer from each annotator who saw the item (p = 0.6) and an `urgency`
    answer from annotators 1-4; annotator 99 gives gold `urgency` labels on every 8th item."""
    rng = np.random.default_rng(seed)
    tasks, votes, annotation_id = [], 0, 1
    for item in range(items):
        topic, urgency = int(rng.integers(0, 4)), int(rng.integers(0, 3))
        annotations = []
        seen = [w for w in range(len(ACCURACIES)) if rng.random() < 0.6] or [int(rng.integers(0, len(ACCURACIES)))]
        for w in seen:
            choices = {"topic": TOPICS[_answer(rng, topic, ACCURACIES[w], 4)]}
            if w < 4:
                choices["urgency"] = URGENCY[_answer(rng, urgency, ACCURACIES[w], 3)]
            annotations.append(_annotation(annotation_id, w + 1, choices))
            annotation_id += 1
            votes += len(choices)
        if item % 8 == 0:
            annotations.append(_annotation(annotation_id, 99, {"urgency": URGENCY[urgency]}, gold=True))
            annotation_id += 1
            votes += 1
        tasks.append(
            {"id": item, "data": {"text": f"Random ticket number {item} about something."}, "annotations": annotations}
        )
    return tasks, votes


def make_annotation_home(root: Path, tasks: list[dict]) -> Path:
    (root / "warehouse").mkdir(parents=True)
    con = duckdb.connect(str(root / "warehouse" / "refinery.duckdb"))
    try:
        _create_bookkeeping(con)
        table = _register_stream(con, "crowd", "tasks", "label_studio", "annotations", "id", text_field="text")
        _land_tasks(con, table, "2025-02-01T00:00:00Z", tasks)
    finally:
        con.close()
    return root


@pytest.fixture(scope="module")
def crowd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DbtRun, int]]:
    tasks, votes = random_export()
    home = make_annotation_home(tmp_path_factory.mktemp("consensus_home"), tasks)
    run = run_dbt(home, "build", *SELECT)
    assert run.returncode == 0, run.output[-6000:]
    yield run, votes
    shutil.rmtree(home, ignore_errors=True)


def counted_votes(run: DbtRun, task: str) -> pd.DataFrame:
    rows = run.rows(
        "select item_key, annotator_key, label, is_gold from intermediate.int_label_votes_counted "
        "where task_name = ? order by all",
        [task],
    )
    return pd.DataFrame(rows, columns=["task", "worker", "label", "is_gold"])


def fitted(run: DbtRun, task: str, component: str) -> list[tuple]:
    return run.rows(
        "select item_key, annotator_key, label, true_label, probability, iterations, converged, elbo "
        "from intermediate.int_dawid_skene_fitted where task_name = ? and component = ?",
        [task, component],
    )


def item_labels(run: DbtRun, task: str, method: str) -> dict[str, tuple]:
    rows = run.rows(
        "select item_key, label, label_basis, confidence, votes, is_tie from marts.item_labels "
        "where task_name = ? and method = ?",
        [task, method],
    )
    return {row[0]: row[1:] for row in rows}


def assert_matches_crowdkit(run: DbtRun, task: str, model: DawidSkene) -> None:
    """Posteriors, confusion matrices, priors, iteration count, final loss and labels."""
    posteriors = fitted(run, task, "posterior")
    ours = pd.DataFrame([(r[0], r[2], r[4]) for r in posteriors], columns=["task", "label", "p"]).pivot(
        index="task", columns="label", values="p"
    )
    theirs = model.probas_.loc[ours.index, ours.columns]
    assert np.abs(ours.to_numpy() - theirs.to_numpy()).max() < 1e-6
    assert {r[5] for r in posteriors} == {len(model.loss_history_)}
    assert abs(posteriors[0][7] - model.loss_history_[-1]) < 1e-9
    # Confusion cells crowd-kit has (labels the annotator used); the others are 0 in ours.
    confusion = {(r[1], r[2], r[3]): r[4] for r in fitted(run, task, "confusion")}
    for (worker, answer), row in model.errors_.iterrows():
        for true_label, probability in row.items():
            assert abs(confusion.pop((worker, answer, true_label)) - probability) < 1e-6
    assert set(confusion.values()) <= {0.0}
    priors = {r[2]: r[4] for r in fitted(run, task, "prior")}
    assert max(abs(priors[label] - p) for label, p in model.priors_.items()) < 1e-6
    # Labels: the same argmax; a tie in ours (equal posteriors) is one in crowd-kit too.
    labels = item_labels(run, task, "dawid_skene")
    assert set(labels) == set(model.labels_.index)
    for item, (label, _basis, confidence, _votes, is_tie) in labels.items():
        top_two = np.sort(model.probas_.loc[item].to_numpy())[-2:]
        if is_tie:
            assert label is None and top_two[1] - top_two[0] < 1e-9
        else:
            assert label == model.labels_[item]
            assert abs(confidence - top_two[1]) < 1e-6


def test_every_generated_vote_is_counted(crowd: tuple[DbtRun, int]) -> None:
    run, votes = crowd
    assert run.rows("select count(*) from intermediate.int_label_votes_counted")[0][0] == votes


def test_dawid_skene_matches_crowdkit_without_gold(crowd: tuple[DbtRun, int]) -> None:
    run, _ = crowd
    votes = counted_votes(run, "topic")
    assert not votes["is_gold"].any()
    model = DawidSkene(n_iter=100, tol=1e-5).fit(votes[["task", "worker", "label"]])
    assert len(model.loss_history_) > 2  # really iterated
    assert_matches_crowdkit(run, "topic", model)
    # The planted worse-than-chance annotator has the lowest confusion diagonal.
    accuracy = dict(
        run.rows("select annotator_key, dawid_skene_accuracy from marts.annotator_quality where task_name = 'topic'")
    )
    assert min(accuracy, key=accuracy.get) == f"crowd:{len(ACCURACIES)}"


def test_dawid_skene_with_gold_matches_crowdkit_true_labels(crowd: tuple[DbtRun, int]) -> None:
    run, _ = crowd
    votes = counted_votes(run, "urgency")
    gold = votes[votes["is_gold"]].set_index("task")["label"]
    assert len(gold) == 30
    model = DawidSkene(n_iter=100, tol=1e-5).fit(votes[["task", "worker", "label"]], true_labels=gold)
    assert_matches_crowdkit(run, "urgency", model)
    # Gold wins under both methods.
    for method in ("dawid_skene", "majority_vote"):
        labels = item_labels(run, "urgency", method)
        for item, label in gold.items():
            assert labels[item][0:3] == (label, "gold", 1.0)


def test_majority_vote_matches_crowdkit(crowd: tuple[DbtRun, int]) -> None:
    run, _ = crowd
    votes = counted_votes(run, "topic")
    model = MajorityVote().fit(votes[["task", "worker", "label"]])
    labels = item_labels(run, "topic", "majority_vote")
    assert set(labels) == set(model.labels_.index)
    ties = 0
    for item, (label, basis, confidence, count, is_tie) in labels.items():
        shares = model.probas_.loc[item]
        assert abs(confidence - shares.max()) < 1e-12
        assert count == (votes["task"] == item).sum()
        if is_tie:
            ties += 1
            assert label is None and basis is None and (shares == shares.max()).sum() > 1
        else:
            assert (label, basis) == (model.labels_[item], "majority")
    assert ties > 0  # the data has ties, so the policy was exercised


def test_dawid_skene_iteration_limit_reaches_the_model(crowd: tuple[DbtRun, int]) -> None:
    run, _ = crowd
    limited = run_dbt(
        run.home, "run", "--select", "int_dawid_skene_fitted", "--vars", "{dawid_skene_max_iterations: 3}"
    )
    assert limited.returncode == 0, limited.output[-4000:]
    try:
        rows = fitted(run, "topic", "prior")
        assert {(r[5], r[6]) for r in rows} == {(3, False)}
        model = DawidSkene(n_iter=3, tol=1e-5).fit(counted_votes(run, "topic")[["task", "worker", "label"]])
        priors = {r[2]: r[4] for r in rows}
        assert max(abs(priors[label] - p) for label, p in model.priors_.items()) < 1e-6
    finally:
        restored = run_dbt(run.home, "run", "--select", "int_dawid_skene_fitted")
        assert restored.returncode == 0, restored.output[-4000:]


def test_label_history_records_a_changed_vote(tmp_path: Path) -> None:
    """A re-exported task whose vote changed gives a second snapshot row; the first one is closed."""
    text = "The parcel never arrived and tracking has not moved for a week."
    first = [
        {
            "id": 1,
            "data": {"text": text},
            "annotations": [
                _annotation(11, 1, {"topic": "shipping"}),
                _annotation(12, 2, {"topic": "shipping"}),
                _annotation(13, 3, {"topic": "billing"}),
            ],
        }
    ]
    home = make_annotation_home(tmp_path / "home", first)
    run = run_dbt(home, "build", *SELECT)
    assert run.returncode == 0, run.output[-4000:]
    history = (
        "select label, votes, last_extracted_at::varchar, dbt_valid_to is null from snapshots.item_labels_history "
        "where method = 'majority_vote' order by dbt_valid_from"
    )
    assert [(*r[0:2], r[3]) for r in run.rows(history)] == [("shipping", 3, True)]

    # The next export: annotator 2 changed their mind (newer updated_at), annotator 4 joined.
    second = [
        {
            "id": 1,
            "data": {"text": text},
            "annotations": [
                _annotation(11, 1, {"topic": "shipping"}),
                _annotation(12, 2, {"topic": "billing"}, when="2025-03-01T00:00:00Z"),
                _annotation(13, 3, {"topic": "billing"}),
                _annotation(14, 4, {"topic": "billing"}),
            ],
        }
    ]
    con = duckdb.connect(str(home / "warehouse" / "refinery.duckdb"))
    try:
        _land_tasks(con, "crowd__tasks", "2025-03-02T00:00:00Z", second)
    finally:
        con.close()
    run = run_dbt(home, "build", *SELECT)
    assert run.returncode == 0, run.output[-4000:]
    rows = run.rows(history)
    assert [(r[0], r[1], r[3]) for r in rows] == [("shipping", 3, False), ("billing", 4, True)]
    assert rows[0][2].startswith("2025-02-01") and rows[1][2].startswith("2025-03-02")
    # A build with nothing new adds no version.
    run = run_dbt(home, "build", *SELECT)
    assert run.returncode == 0, run.output[-4000:]
    assert len(run.rows(history)) == 2
