"""Weak supervision in dbt: lf_analysis against Snorkel's LFAnalysis, the label model against an
independent implementation, and discovery of labeling functions by tag.

The dbt models are run on label matrices written straight into the warehouse (the inputs of
int_lf_accuracies, int_weak_labels and lf_analysis), so random matrices of any shape can be
checked without documents or regular expressions. The reference below re-implements snorkel
0.10.0's `LFAnalysis.lf_summary` (snorkel/labeling/analysis.py) in dense numpy, and is itself
checked against numbers snorkel printed for a fixed matrix (snorkel pins old packages and its
label models need torch, so it is not installed here).
"""

from __future__ import annotations

import math
import os
import random
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pytest

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT = REPO_ROOT / "dbt_project"
DBT_EXECUTABLE = Path(sys.executable).parent / "dbt"
SETTINGS = {"prior": 0.7, "strength": 2.0, "max_accuracy": 0.99}  # dbt_project.yml defaults


# --------------------------------------------------------------------------- references


def snorkel_lf_summary(matrix: np.ndarray, gold: np.ndarray | None = None) -> dict[str, list]:
    """snorkel 0.10.0 LFAnalysis(L).lf_summary(Y), dense: -1 = abstain, labels 0..k-1, Y for every row."""
    n, m = matrix.shape
    labeled = matrix != -1
    overlapped = labeled.sum(axis=1) > 1
    # Snorkel: a row conflicts when a non-abstain label differs from the row's largest label.
    conflicted = (labeled & (matrix != matrix.max(axis=1, keepdims=True))).any(axis=1)
    summary = {
        "polarity": [sorted(set(matrix[labeled[:, j], j].tolist())) for j in range(m)],
        "coverage": (labeled.sum(axis=0) / n).tolist(),
        "overlaps": ((labeled & overlapped[:, None]).sum(axis=0) / n).tolist(),
        "conflicts": ((labeled & conflicted[:, None]).sum(axis=0) / n).tolist(),
    }
    if gold is not None:
        hit = labeled & (matrix == gold[:, None])
        signed = np.where(labeled, np.where(hit, 1, -1), 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            accuracy = np.nan_to_num(0.5 * (signed.sum(axis=0) / labeled.sum(axis=0) + 1))
        summary["correct"] = hit.sum(axis=0).tolist()
        summary["incorrect"] = (labeled & ~hit).sum(axis=0).tolist()
        summary["emp_acc"] = accuracy.tolist()
    return summary


# A fixed matrix (12 data points, 5 functions, classes 0-2; the last function never fires) and
# gold labels for 9 of its rows, with what snorkel 0.10.0 printed for it: lf_summary() of the
# whole matrix, and lf_summary(Y) of the 9 rows with gold (Snorkel needs Y for every row).
FROZEN_L = np.array(
    [
        [0, 0, -1, 1, -1],
        [1, -1, -1, -1, -1],
        [-1, -1, -1, -1, -1],
        [2, 2, 2, -1, -1],
        [0, 1, -1, 0, -1],
        [-1, 1, -1, 1, -1],
        [2, -1, 0, -1, -1],
        [0, 0, 0, 0, -1],
        [-1, -1, 2, -1, -1],
        [1, 1, -1, 2, -1],
        [0, -1, -1, 0, -1],
        [-1, 2, 2, -1, -1],
    ]
)
FROZEN_Y = np.array([0, 1, 2, -1, 0, 1, 2, -1, 2, 1, -1, 0])
SNORKEL_SAYS = {
    "polarity": [[0, 1, 2], [0, 1, 2], [0, 2], [0, 1, 2], []],
    "coverage": [0.6666666666666666, 0.5833333333333334, 0.4166666666666667, 0.5, 0.0],
    "overlaps": [0.5833333333333334, 0.5833333333333334, 0.3333333333333333, 0.5, 0.0],
    "conflicts": [0.3333333333333333, 0.25, 0.08333333333333333, 0.25, 0.0],
    "correct": [5, 3, 1, 2, 0],
    "incorrect": [0, 2, 2, 2, 0],
    "emp_acc": [1.0, 0.6, 0.33333333333333337, 0.5, 0.0],
}


def reference_label_model(
    functions: dict[str, list[str]],
    votes: dict[tuple[str, str], dict[str, str]],
    references: dict[str, dict[str, str]],
    prior: float,
    strength: float,
    max_accuracy: float,
) -> tuple[dict[str, dict], dict[tuple[str, str], dict]]:
    """The label model of docs/labeling/weak-supervision.md, written from its description."""
    accuracies: dict[str, dict] = {}
    weak: dict[tuple[str, str], dict] = {}
    for task, names in functions.items():
        task_refs = references.get(task, {})
        classes = {label for name in names for label in votes.get((task, name), {}).values()}
        classes |= set(task_refs.values())
        k = max(len(classes), 2)
        for name in names:
            mine = votes.get((task, name), {})
            pairs = [(label, task_refs[doc]) for doc, label in mine.items() if doc in task_refs]
            if pairs:
                source, evaluated, agreed = "reference", len(pairs), sum(a == b for a, b in pairs)
            else:
                evaluated = agreed = 0
                for doc, label in mine.items():
                    others = Counter(
                        votes[(task, other)][doc]
                        for other in names
                        if other != name and doc in votes.get((task, other), {})
                    )
                    if not others:
                        continue
                    top = max(others.values())
                    leaders = [lab for lab, count in others.items() if count == top]
                    if len(leaders) == 1:
                        evaluated += 1
                        agreed += leaders[0] == label
                source = "other_functions" if evaluated else "prior"
            accuracy = (agreed + strength * prior) / (evaluated + strength) if evaluated + strength > 0 else prior
            accuracy = min(max(accuracy, 1.0 / k), max_accuracy)
            weight = max(math.log(accuracy * (k - 1) / (1 - accuracy)), 0.0)
            accuracies[name] = {
                "n_classes": k,
                "accuracy_source": source,
                "n_evaluated": evaluated,
                "n_agreed": agreed,
                "estimated_accuracy": accuracy,
                "weight": weight,
            }
        scores: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        voters: Counter = Counter()
        for name in names:
            for doc, label in votes.get((task, name), {}).items():
                scores[doc][label] += accuracies[name]["weight"]
                voters[doc] += 1
        for doc, by_label in scores.items():
            top = max(by_label.values())
            leaders = sorted(label for label, score in by_label.items() if score >= top - 1e-9)
            total = sum(math.exp(score - top) for score in by_label.values()) + (k - len(by_label)) * math.exp(-top)
            weak[(task, doc)] = {
                "label": leaders[0] if len(leaders) == 1 else None,
                "confidence": 1.0 / total,
                "n_lfs_voting": voters[doc],
                "is_tie": len(leaders) > 1,
            }
    return accuracies, weak


def test_reference_reproduces_what_snorkel_printed() -> None:
    full = snorkel_lf_summary(FROZEN_L)
    has_gold = FROZEN_Y != -1
    with_gold = snorkel_lf_summary(FROZEN_L[has_gold], FROZEN_Y[has_gold])
    assert full["polarity"] == SNORKEL_SAYS["polarity"]
    for key in ("coverage", "overlaps", "conflicts"):
        assert full[key] == pytest.approx(SNORKEL_SAYS[key], abs=1e-15)
    for key in ("correct", "incorrect"):
        assert with_gold[key] == SNORKEL_SAYS[key]
    assert with_gold["emp_acc"] == pytest.approx(SNORKEL_SAYS["emp_acc"], abs=1e-15)


# --------------------------------------------------------------------------- running the models


@dataclass
class Matrix:
    """A label matrix per task, as the warehouse tables the weak-supervision models read."""

    documents: list[str]  # kept documents = data points
    dropped: list[str]  # documents that are not kept (never data points)
    functions: dict[str, list[str]]  # task -> function names (columns)
    votes: dict[tuple[str, str], dict[str, str]]  # (task, function) -> {document: label}
    references: dict[str, dict[str, str]]  # task -> {document: reference label}

    def as_array(self, task: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
        labels = sorted(
            {label for name in self.functions[task] for label in self.votes.get((task, name), {}).values()}
            | set(self.references.get(task, {}).values())
        )
        index = {label: i for i, label in enumerate(labels)}
        matrix = np.full((len(self.documents), len(self.functions[task])), -1)
        gold = np.full(len(self.documents), -1)
        for i, doc in enumerate(self.documents):
            for j, name in enumerate(self.functions[task]):
                if doc in self.votes.get((task, name), {}):
                    matrix[i, j] = index[self.votes[(task, name)][doc]]
            if doc in self.references.get(task, {}):
                gold[i] = index[self.references[task][doc]]
        return matrix, gold, labels


def random_matrix(seed: int) -> Matrix:
    """Two tasks: t1 with k classes and references on part of the documents, t2 with none."""
    rng = random.Random(seed)
    documents = [f"doc-{seed}-{i:04d}" for i in range(rng.randint(40, 250))]
    functions: dict[str, list[str]] = {}
    votes: dict[tuple[str, str], dict[str, str]] = {}
    references: dict[str, dict[str, str]] = {}
    shapes = [("t1", rng.randint(2, 6), rng.randint(3, 7), rng.uniform(0.1, 0.7)), ("t2", 2, 3, 0.0)]
    for task, k, m, referenced in shapes:
        classes = [f"c{i}" for i in range(k)]
        truth = {doc: rng.choice(classes) for doc in documents}
        names = [f"lf_{task}__f{j}" for j in range(m)] + [f"lf_{task}__silent"]
        functions[task] = names
        for name in names[:-1]:
            fires, accuracy = rng.uniform(0.1, 0.8), rng.uniform(0.2, 0.95)
            own = rng.sample(classes, rng.randint(1, k))  # the labels this function can emit
            chosen = {}
            for doc in documents:
                if rng.random() < fires:
                    chosen[doc] = truth[doc] if truth[doc] in own and rng.random() < accuracy else rng.choice(own)
            votes[(task, name)] = chosen
        references[task] = {doc: truth[doc] for doc in documents if rng.random() < referenced}
    return Matrix(documents, [f"dropped-{seed}-{i}" for i in range(5)], functions, votes, references)


def make_home(root: Path) -> Path:
    (root / "warehouse").mkdir(parents=True)
    return root


def write_matrix(home: Path, matrix: Matrix) -> None:
    con = duckdb.connect(str(home / "warehouse" / "refinery.duckdb"))
    try:
        con.execute("create schema if not exists intermediate")
        con.execute(
            "create or replace table intermediate.int_documents_deduplicated "
            "(document_id varchar, source_name varchar, is_kept boolean)"
        )
        con.executemany(
            "insert into intermediate.int_documents_deduplicated values (?, 's', ?)",
            [(doc, True) for doc in matrix.documents] + [(doc, False) for doc in matrix.dropped],
        )
        con.execute(
            "create or replace table intermediate.int_labeling_functions "
            "(task_name varchar, lf_name varchar, description varchar, model_path varchar)"
        )
        con.executemany(
            "insert into intermediate.int_labeling_functions values (?, ?, '', '')",
            [(task, name) for task, names in matrix.functions.items() for name in names],
        )
        con.execute(
            "create or replace table intermediate.int_lf_votes "
            "(task_name varchar, lf_name varchar, document_id varchar, label varchar)"
        )
        con.executemany(
            "insert into intermediate.int_lf_votes values (?, ?, ?, ?)",
            [
                (task, name, doc, label)
                for (task, name), chosen in matrix.votes.items()
                for doc, label in chosen.items()
            ],
        )
        con.execute(
            "create or replace table intermediate.int_lf_reference_labels "
            "(task_name varchar, document_id varchar, reference_label varchar, reference_source varchar)"
        )
        con.executemany(
            "insert into intermediate.int_lf_reference_labels values (?, ?, ?, 'consensus')",
            [(task, doc, label) for task, refs in matrix.references.items() for doc, label in refs.items()],
        )
    finally:
        con.close()


def run_dbt(home: Path, *args: str, project: Path = DBT_PROJECT) -> subprocess.CompletedProcess:
    env = {**os.environ, "REFINERY_HOME": str(home), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}
    command = [
        str(DBT_EXECUTABLE),
        *args,
        "--target",
        "ci",
        "--profiles-dir",
        str(project),
        "--project-dir",
        str(project),
        "--target-path",
        str(home / "dbt_target"),
        "--log-path",
        str(home / "dbt_logs"),
    ]
    return subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False)


def rows(home: Path, sql: str) -> list[dict]:
    con = duckdb.connect(str(home / "warehouse" / "refinery.duckdb"), read_only=True)
    try:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


SEEDS = [1, 2, 3]


@pytest.fixture(scope="module", params=SEEDS, ids=[f"seed{s}" for s in SEEDS])
def built_matrix(request, tmp_path_factory) -> tuple[Path, Matrix]:
    matrix = random_matrix(request.param)
    home = make_home(tmp_path_factory.mktemp(f"weak-{request.param}"))
    write_matrix(home, matrix)
    result = run_dbt(home, "run", "--select", "int_lf_accuracies", "int_weak_labels", "lf_analysis")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return home, matrix


def test_lf_analysis_matches_snorkel_definitions_on_random_matrices(built_matrix) -> None:
    home, matrix = built_matrix
    got = {row["lf_name"]: row for row in rows(home, "select * from marts.lf_analysis")}
    assert set(got) == {name for names in matrix.functions.values() for name in names}
    for task, names in matrix.functions.items():
        array, gold, labels = matrix.as_array(task)
        full = snorkel_lf_summary(array)
        has_gold = gold != -1
        with_gold = snorkel_lf_summary(array[has_gold], gold[has_gold]) if has_gold.any() else None
        for j, name in enumerate(names):
            row = got[name]
            assert row["task_name"] == task
            assert row["polarity"] == [labels[i] for i in full["polarity"][j]]
            assert row["n_documents"] == len(matrix.documents)
            assert row["n_labeled"] == len(matrix.votes.get((task, name), {}))
            assert row["coverage"] == pytest.approx(full["coverage"][j], abs=1e-12)
            assert row["overlap"] == pytest.approx(full["overlaps"][j], abs=1e-12)
            assert row["conflict"] == pytest.approx(full["conflicts"][j], abs=1e-12)
            assert row["n_with_reference"] == int(has_gold.sum())
            if with_gold is None:
                assert (row["correct"], row["incorrect"], row["empirical_accuracy"]) == (None, None, None)
                continue
            assert (row["correct"], row["incorrect"]) == (with_gold["correct"][j], with_gold["incorrect"][j])
            if row["correct"] + row["incorrect"] == 0:
                # The one deliberate difference: Snorkel's nan_to_num reports 0, lf_analysis NULL.
                assert row["empirical_accuracy"] is None and with_gold["emp_acc"][j] == 0
            else:
                assert row["empirical_accuracy"] == pytest.approx(with_gold["emp_acc"][j], abs=1e-12)


def test_label_model_matches_its_description_on_random_matrices(built_matrix) -> None:
    home, matrix = built_matrix
    accuracies, weak = reference_label_model(matrix.functions, matrix.votes, matrix.references, **SETTINGS)
    got_accuracies = {row["lf_name"]: row for row in rows(home, "select * from intermediate.int_lf_accuracies")}
    assert set(got_accuracies) == set(accuracies)
    for name, expected in accuracies.items():
        row = got_accuracies[name]
        for key in ("n_classes", "accuracy_source", "n_evaluated", "n_agreed"):
            assert row[key] == expected[key], (name, key)
        assert row["estimated_accuracy"] == pytest.approx(expected["estimated_accuracy"], abs=1e-12)
        assert row["weight"] == pytest.approx(expected["weight"], abs=1e-12)
    sources = {row["accuracy_source"] for row in got_accuracies.values()}
    assert {"reference", "other_functions", "prior"} <= sources  # every branch is exercised
    got_weak = {
        (row["task_name"], row["document_id"]): row for row in rows(home, "select * from intermediate.int_weak_labels")
    }
    assert set(got_weak) == set(weak)
    for key, expected in weak.items():
        row = got_weak[key]
        assert (row["label"], row["n_lfs_voting"], row["is_tie"]) == (
            expected["label"],
            expected["n_lfs_voting"],
            expected["is_tie"],
        ), key
        assert row["confidence"] == pytest.approx(expected["confidence"], abs=1e-9)


# --------------------------------------------------------------------------- discovery by tag

DOCUMENTS = {  # document: (source, text, kept)
    "d-refund": ("tickets", "I still have not received my refund for the returned headphones.", True),
    "d-parcel": ("tickets", "The parcel never arrived and tracking has not changed in five days.", True),
    "d-login": ("tickets", "I cannot log in to my account since the password reset.", True),
    "d-dropped": ("tickets", "A dropped document is never labeled, whatever it says: refund parcel login.", False),
    # The topic task covers the tickets source only (dbt_project.yml weak_supervision_sources).
    "d-page": ("handbook", "A handbook page on refunds, parcels and account passwords.", True),
}

EXTRA_FUNCTION = """
{{ config(tags=['labeling_function'], meta={'task': 'topic'}) }}
-- A labeling function outside the labeling_functions folder and without the lf_ name pattern.
select
    document_id,
    case when normalized_text like '%refund%' then 'billing' end as label
from {{ ref('int_documents_deduplicated') }}
where is_kept
"""


@pytest.fixture
def documents_home(tmp_path) -> Path:
    home = make_home(tmp_path / "home")
    con = duckdb.connect(str(home / "warehouse" / "refinery.duckdb"))
    try:
        con.execute("create schema intermediate")
        con.execute(
            "create table intermediate.int_documents_deduplicated "
            "(document_id varchar, source_name varchar, normalized_text varchar, is_kept boolean)"
        )
        con.executemany(
            "insert into intermediate.int_documents_deduplicated values (?, ?, ?, ?)",
            [(doc, source, text, kept) for doc, (source, text, kept) in DOCUMENTS.items()],
        )
    finally:
        con.close()
    return home


def project_copy(root: Path) -> Path:
    copy = root / "dbt_project"
    shutil.copytree(DBT_PROJECT, copy, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    return copy


def build_votes(home: Path, project: Path = DBT_PROJECT) -> subprocess.CompletedProcess:
    return run_dbt(home, "run", "--select", "int_labeling_functions", "int_lf_votes", project=project)


def test_a_model_tagged_labeling_function_adds_its_votes(documents_home, tmp_path) -> None:
    before = build_votes(documents_home)
    assert before.returncode == 0, before.stdout[-4000:]
    sample = rows(documents_home, "select lf_name, document_id, label from intermediate.int_lf_votes")
    assert {(r["lf_name"], r["document_id"]) for r in sample} >= {
        ("lf_topic__billing_terms", "d-refund"),
        ("lf_topic__shipping_terms", "d-parcel"),
        ("lf_topic__account_terms", "d-login"),
    }
    assert {r["document_id"] for r in sample} == {"d-refund", "d-parcel", "d-login"}

    project = project_copy(tmp_path)
    (project / "models" / "sandbox").mkdir()
    (project / "models" / "sandbox" / "refund_mentions.sql").write_text(EXTRA_FUNCTION)
    after = build_votes(documents_home, project)
    assert after.returncode == 0, after.stdout[-4000:]
    votes = rows(documents_home, "select task_name, lf_name, document_id, label from intermediate.int_lf_votes")
    new = [(r["task_name"], r["document_id"], r["label"]) for r in votes if r["lf_name"] == "refund_mentions"]
    assert new == [("topic", "d-refund", "billing")]
    assert len(votes) == len(sample) + 1  # the sample functions' votes are unchanged
    registry = rows(documents_home, "select task_name, model_path from intermediate.int_labeling_functions")
    assert {"task_name": "topic", "model_path": "models/sandbox/refund_mentions.sql"} in registry
    assert len(registry) == 7  # six sample functions and the new one


@pytest.mark.parametrize(
    ("file_name", "sql", "message"),
    [
        (
            "no_task_rule.sql",
            "{{ config(tags=['labeling_function']) }}\n"
            "select document_id, null::varchar as label from {{ ref('int_documents_deduplicated') }}",
            "no task. Name it lf_<task>__<name> or set config(meta={'task': '<task>'})",
        ),
        (
            "lf_topic__reads_pii.sql",
            "{{ config(tags=['labeling_function']) }}\n"
            "select document_id, null::varchar as label from {{ ref('int_documents_pii') }}",
            "add the line `-- depends_on: {{ ref('int_documents_pii') }}`",
        ),
    ],
    ids=["without-task", "reads-another-model"],
)
def test_a_broken_labeling_function_stops_the_build_saying_why(documents_home, tmp_path, file_name, sql, message):
    project = project_copy(tmp_path)
    (project / "models" / "sandbox").mkdir()
    (project / "models" / "sandbox" / file_name).write_text(sql)
    result = build_votes(documents_home, project)
    assert result.returncode != 0
    assert message in result.stdout, result.stdout[-4000:]


@pytest.mark.parametrize(
    ("variables", "model", "message"),
    [
        (
            "{weak_supervision_max_accuracy: 1.0}",
            "int_lf_accuracies",
            "var weak_supervision_max_accuracy = 1.0 is out of range: it must be a number in (0.5, 1.0)",
        ),
        (
            "{weak_label_min_confidence: high}",
            "training_examples",
            "var weak_label_min_confidence = high is out of range: it must be a number in [0.0, 1.0]",
        ),
        (
            "{weak_supervision_sources: {topic: tickets}}",
            "int_lf_votes",
            "the sources of task 'topic' must be a list of source names, e.g. [tickets]; got tickets",
        ),
    ],
    ids=["max-accuracy-1", "confidence-not-a-number", "sources-not-a-list"],
)
def test_a_bad_setting_stops_the_build_naming_the_var(documents_home, variables, model, message) -> None:
    result = run_dbt(documents_home, "compile", "--select", model, "--vars", variables)
    assert result.returncode != 0
    assert message in result.stdout, result.stdout[-4000:]
