"""The agreement marts (label_agreement, annotator_pair_agreement) on given votes.

dbt compiles the three models once (int_label_votes_counted and the two marts); each
test loads votes into an `intermediate.int_label_votes` table of an in-memory DuckDB and runs
the compiled SQL on them, so what is checked is exactly what `dbt build` runs. Checked:
the published worked examples to the digits published (Krippendorff 2011, Fleiss 1971 as on
Wikipedia, Cohen's 50-item example on Wikipedia), the reference libraries on random data
with missing ratings (krippendorff, statsmodels, scikit-learn; 1e-9), and degenerate cases.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_EXECUTABLE = Path(sys.executable).parent / "dbt"
MODELS = {
    "int_label_votes_counted": "intermediate/labels/int_label_votes_counted.sql",
    "label_agreement": "marts/labels/label_agreement.sql",
    "annotator_pair_agreement": "marts/labels/annotator_pair_agreement.sql",
}
TOLERANCE = 1e-9
LEVELS = ("nominal", "ordinal", "interval", "ratio")


@dataclass(frozen=True)
class Vote:
    """One submitted vote as int_label_votes holds it (only the columns the models read)."""

    task_name: str
    item_key: str
    annotator_key: str
    label: str
    level: str = "nominal"
    label_value: float | None = None
    status: str = "submitted"
    updated_at: str = "2025-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The compiled SQL of the three models (dbt compile in an empty REFINERY_HOME)."""
    home = tmp_path_factory.mktemp("agreement-home")
    (home / "warehouse").mkdir()
    env = {
        **os.environ,
        "REFINERY_HOME": str(home),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_TARGET_PATH": str(home / "target"),
        "DBT_LOG_PATH": str(home / "logs"),
    }
    completed = subprocess.run(
        [str(DBT_EXECUTABLE), "compile", "--target", "ci", "--profiles-dir", ".", "--select", *MODELS],
        cwd=REPO_ROOT / "dbt_project",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-2000:]
    root = home / "target" / "compiled" / "refinery" / "models"
    return {name: (root / path).read_text() for name, path in MODELS.items()}


def run_models(compiled: dict[str, str], votes: Iterable[Vote]) -> tuple[list[dict], list[dict]]:
    """Run the compiled models on `votes`; return the rows of label_agreement and annotator_pair_agreement."""
    con = duckdb.connect()
    con.execute("attach ':memory:' as refinery")
    con.execute("create schema refinery.intermediate")
    # int_label_votes_counted also reads when each task was landed (not needed here: no rows).
    con.execute("create schema refinery.staging")
    con.execute(
        "create table refinery.staging.stg_refinery__annotation_tasks "
        "(source_name varchar, task_id varchar, extracted_at timestamptz)"
    )
    con.execute(
        """
        create table refinery.intermediate.int_label_votes (
            vote_id varchar, source_name varchar, annotation_id varchar, annotator_key varchar,
            task_name varchar, item_key varchar, label varchar, level varchar, label_value double,
            status varchar, is_gold boolean, created_at timestamptz, updated_at timestamptz,
            tool varchar, task_id varchar, item_hash varchar, lead_time_seconds double
        )
        """
    )
    rows = [
        (
            f"v{index}",
            vote.annotator_key.split(":")[0],
            str(index),
            vote.annotator_key,
            vote.task_name,
            vote.item_key,
            vote.label,
            vote.level,
            vote.label_value,
            vote.status,
            False,
            vote.updated_at,
            vote.updated_at,
            "label_studio",
            str(index),
            None,
            None,
        )
        for index, vote in enumerate(votes)
    ]
    if rows:
        con.executemany(
            f"insert into refinery.intermediate.int_label_votes values ({', '.join('?' * len(rows[0]))})",
            rows,
        )
    con.execute("create table refinery.intermediate.int_label_votes_counted as " + compiled["int_label_votes_counted"])
    results = []
    for model in ("label_agreement", "annotator_pair_agreement"):
        relation = con.execute(compiled[model])
        columns = [column[0] for column in relation.description]
        results.append([dict(zip(columns, row, strict=True)) for row in relation.fetchall()])
    con.close()
    return results[0], results[1]


def by_metric(rows: list[dict], task: str) -> dict[str, dict]:
    return {row["metric"]: row for row in rows if row["task_name"] == task}


def by_pair(rows: list[dict], task: str) -> dict[tuple[str, str], dict]:
    return {(row["annotator_key_a"], row["annotator_key_b"]): row for row in rows if row["task_name"] == task}


# --------------------------------------------------------------------------- published examples

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section E: 4 observers
# (rows) × 12 units (columns), None = missing. Published: nominal 0.743, ordinal 0.815,
# interval 0.849, ratio 0.797.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]
KRIPPENDORFF_2011_ALPHA = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849, "ratio": 0.797}

# Fleiss (1971) as worked on Wikipedia ("Fleiss' kappa", worked example): 10 subjects, 14 raters
# each, 5 categories; cell = raters who chose the category. P̄ = 0.378, P̄e = 0.213, κ = 0.210.
FLEISS_TABLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]

# Cohen's kappa on Wikipedia ("Cohen's kappa", simple example): 50 grant proposals, A and B
# both yes 20, A yes B no 5, A no B yes 10, both no 15. p_o = 0.7, p_e = 0.5, κ = 0.4.
COHEN_CELLS = [("yes", "yes", 20), ("yes", "no", 5), ("no", "yes", 10), ("no", "no", 15)]


def krippendorff_2011_votes(level: str) -> list[Vote]:
    votes = []
    for observer, row in enumerate(KRIPPENDORFF_2011):
        for unit, value in enumerate(row):
            if value is None:
                continue
            # Labels are the numbers as text; at the ordinal level the declared order is
            # 1 < 2 < ... < 5, so label_value (the rank) equals the number.
            votes.append(
                Vote(
                    f"k2011_{level}",
                    f"unit{unit + 1}",
                    f"obs:{'ABCD'[observer]}",
                    str(value),
                    level,
                    None if level == "nominal" else float(value),
                )
            )
    return votes


def test_krippendorff_2011_worked_example_at_four_levels(compiled):
    votes = [vote for level in LEVELS for vote in krippendorff_2011_votes(level)]
    agreement, _ = run_models(compiled, votes)
    matrix = np.array([[np.nan if value is None else value for value in row] for row in KRIPPENDORFF_2011])
    for level in LEVELS:
        alpha = by_metric(agreement, f"k2011_{level}")["krippendorff_alpha"]
        assert round(alpha["value"], 3) == KRIPPENDORFF_2011_ALPHA[level], level
        assert alpha["value"] == pytest.approx(
            krippendorff.alpha(reliability_data=matrix, level_of_measurement=level), abs=TOLERANCE
        )
        # Unit 12 has one value and is not pairable: 11 units, n = 40 pairable values (as published).
        assert (alpha["level"], alpha["items"], alpha["ratings"], alpha["annotators"]) == (level, 11, 40, 4)
        assert alpha["null_reason"] is None


def test_fleiss_1971_worked_example(compiled):
    votes = []
    for subject, counts in enumerate(FLEISS_TABLE):
        raters = iter(range(14))
        for category, count in enumerate(counts):
            votes += [Vote("fleiss", f"s{subject}", f"r:{next(raters)}", f"c{category + 1}") for _ in range(count)]
    agreement, _ = run_models(compiled, votes)
    metrics = by_metric(agreement, "fleiss")
    assert round(metrics["fleiss_kappa"]["value"], 3) == 0.210
    assert metrics["fleiss_kappa"]["value"] == pytest.approx(fleiss_kappa(np.array(FLEISS_TABLE)), abs=TOLERANCE)
    assert (metrics["fleiss_kappa"]["items"], metrics["fleiss_kappa"]["ratings"]) == (10, 140)
    # Percent agreement is Fleiss' P̄ on this complete design.
    assert round(metrics["percent_agreement"]["value"], 3) == 0.378


def test_cohen_wikipedia_example(compiled):
    votes = []
    item = 0
    for label_a, label_b, count in COHEN_CELLS:
        for _ in range(count):
            votes += [Vote("grant", f"p{item}", "rev:A", label_a), Vote("grant", f"p{item}", "rev:B", label_b)]
            item += 1
    _, pairs = run_models(compiled, votes)
    pair = by_pair(pairs, "grant")[("rev:A", "rev:B")]
    assert pair["items_both_rated"] == 50
    assert pair["observed_agreement"] == pytest.approx(0.7, abs=1e-12)
    assert pair["expected_agreement"] == pytest.approx(0.5, abs=1e-12)
    assert round(pair["cohen_kappa"], 1) == 0.4
    assert pair["cohen_kappa"] == pytest.approx(0.4, abs=1e-12)
    assert pair["linear_weighted_kappa"] is None  # a nominal task
    assert pair["null_reason"] is None


# --------------------------------------------------------------------------- random data vs libraries

ORDER = ["none", "low", "mid", "high", "extreme"]  # declared order ≠ alphabetical order
NUMBERS = [0.5, 1.0, 2.0, 3.5, 7.0, 10.0]


def random_task(seed: int, level: str, items: int = 60, annotators: int = 7, coverage: float = 0.6) -> list[Vote]:
    """Votes of annotators who agree more than by chance, with ratings missing at random."""
    rng = np.random.default_rng(seed)
    domain = ORDER if level in ("nominal", "ordinal") else NUMBERS
    votes = []
    for item in range(items):
        truth = rng.integers(len(domain))
        for annotator in range(annotators):
            if rng.random() > coverage:
                continue
            index = truth if rng.random() < 0.55 else rng.integers(len(domain))
            value = domain[index]
            if level == "nominal":
                votes.append(Vote(f"t{seed}_{level}", f"i{item}", f"ann:{annotator}", value, level))
            elif level == "ordinal":
                votes.append(Vote(f"t{seed}_{level}", f"i{item}", f"ann:{annotator}", value, level, index + 1.0))
            else:
                votes.append(Vote(f"t{seed}_{level}", f"i{item}", f"ann:{annotator}", repr(value), level, value))
    return votes


def reliability_matrix(votes: list[Vote], level: str) -> np.ndarray:
    """annotators × items, NaN = missing; nominal labels coded by index, others by label_value."""
    annotators = sorted({vote.annotator_key for vote in votes})
    items = sorted({vote.item_key for vote in votes})
    matrix = np.full((len(annotators), len(items)), np.nan)
    for vote in votes:
        value = ORDER.index(vote.label) if level == "nominal" else vote.label_value
        matrix[annotators.index(vote.annotator_key), items.index(vote.item_key)] = value
    return matrix


def expected_nominal_metrics(votes: list[Vote]) -> tuple[float, float]:
    """Percent agreement (mean pairwise agreement over items with >= 2 ratings) and Fleiss' kappa
    on the items with the modal number of ratings (ties: the larger), via statsmodels."""
    per_item: dict[str, Counter] = defaultdict(Counter)
    for vote in votes:
        per_item[vote.item_key][vote.label] += 1
    pairable = {item: counts for item, counts in per_item.items() if counts.total() >= 2}
    percent = float(
        np.mean(
            [
                (sum(n * n for n in counts.values()) - counts.total()) / (counts.total() * (counts.total() - 1))
                for counts in pairable.values()
            ]
        )
    )
    sizes = Counter(counts.total() for counts in pairable.values())
    modal = max(sizes, key=lambda size: (sizes[size], size))
    labels = sorted({vote.label for vote in votes})
    table = np.array([[counts[label] for label in labels] for counts in pairable.values() if counts.total() == modal])
    return percent, float(fleiss_kappa(table))


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_random_data_matches_krippendorff_statsmodels_and_sklearn(compiled, seed):
    tasks = {level: random_task(seed, level) for level in LEVELS}
    agreement, pairs = run_models(compiled, [vote for votes in tasks.values() for vote in votes])
    for level, votes in tasks.items():
        task = f"t{seed}_{level}"
        metrics = by_metric(agreement, task)
        alpha = krippendorff.alpha(reliability_data=reliability_matrix(votes, level), level_of_measurement=level)
        assert metrics["krippendorff_alpha"]["value"] == pytest.approx(alpha, abs=TOLERANCE), level
        assert metrics["krippendorff_alpha"]["level"] == level
        percent, kappa = expected_nominal_metrics(votes)
        assert metrics["percent_agreement"]["value"] == pytest.approx(percent, abs=TOLERANCE)
        assert metrics["fleiss_kappa"]["value"] == pytest.approx(kappa, abs=TOLERANCE)

        ratings: dict[str, dict[str, Vote]] = defaultdict(dict)
        for vote in votes:
            ratings[vote.annotator_key][vote.item_key] = vote
        checked = 0
        for (annotator_a, annotator_b), pair in by_pair(pairs, task).items():
            shared = sorted(ratings[annotator_a].keys() & ratings[annotator_b].keys())
            assert pair["items_both_rated"] == len(shared)
            labels_a = [ratings[annotator_a][item].label for item in shared]
            labels_b = [ratings[annotator_b][item].label for item in shared]
            assert pair["cohen_kappa"] == pytest.approx(cohen_kappa_score(labels_a, labels_b), abs=TOLERANCE)
            if level == "ordinal":
                ranks_a = [ratings[annotator_a][item].label_value for item in shared]
                ranks_b = [ratings[annotator_b][item].label_value for item in shared]
                for weights in ("linear", "quadratic"):
                    expected = cohen_kappa_score(ranks_a, ranks_b, labels=[1.0, 2.0, 3.0, 4.0, 5.0], weights=weights)
                    assert pair[f"{weights}_weighted_kappa"] == pytest.approx(expected, abs=TOLERANCE)
            else:
                assert pair["linear_weighted_kappa"] is None
            checked += 1
        assert checked == 21  # every pair of the 7 annotators shares items here


def test_fleiss_uses_the_items_with_the_modal_number_of_ratings(compiled):
    # Four items rated 3 times, two rated twice, one once: Fleiss uses the four; percent
    # agreement and alpha use all six pairable items.
    labels = {
        "i1": "aab",
        "i2": "aaa",
        "i3": "bba",
        "i4": "abb",
        "i5": "ab",
        "i6": "bb",
        "i7": "a",
    }
    votes = [
        Vote("modal", item, f"ann:{position}", label)
        for item, item_labels in labels.items()
        for position, label in enumerate(item_labels)
    ]
    agreement, _ = run_models(compiled, votes)
    metrics = by_metric(agreement, "modal")
    table = np.array([[item.count("a"), item.count("b")] for item in ("aab", "aaa", "bba", "abb")])
    assert metrics["fleiss_kappa"]["value"] == pytest.approx(fleiss_kappa(table), abs=TOLERANCE)
    assert (metrics["fleiss_kappa"]["items"], metrics["fleiss_kappa"]["ratings"]) == (4, 12)
    assert (metrics["percent_agreement"]["items"], metrics["percent_agreement"]["ratings"]) == (6, 16)
    assert metrics["percent_agreement"]["value"] == pytest.approx((1 / 3 + 1 + 1 / 3 + 1 / 3 + 0 + 1) / 6)
    assert metrics["krippendorff_alpha"]["items"] == 6

    # As many items with 2 ratings as with 3: the larger number wins.
    tie = {"i1": "aab", "i2": "abb", "i3": "aa", "i4": "ab"}
    votes = [
        Vote("tie", item, f"ann:{n}", label) for item, item_labels in tie.items() for n, label in enumerate(item_labels)
    ]
    agreement, _ = run_models(compiled, votes)
    fleiss = by_metric(agreement, "tie")["fleiss_kappa"]
    assert (fleiss["items"], fleiss["ratings"]) == (2, 6)
    assert fleiss["value"] == pytest.approx(fleiss_kappa(np.array([[2, 1], [1, 2]])), abs=TOLERANCE)


# --------------------------------------------------------------------------- counted votes, degenerate cases


def test_only_the_latest_submitted_vote_of_an_annotator_counts(compiled):
    votes = [
        Vote("latest", "i1", "ann:1", "a", updated_at="2025-01-01T00:00:00Z"),
        Vote("latest", "i1", "ann:1", "b", updated_at="2025-02-01T00:00:00Z"),  # changed their mind
        Vote("latest", "i1", "ann:2", "b"),
        Vote("latest", "i1", "ann:3", "a", status="skipped"),
        Vote("latest", "i2", "ann:1", "a"),
        Vote("latest", "i2", "ann:2", "b"),
        Vote("latest", "i2", "ann:3", "b", status="draft"),
    ]
    agreement, pairs = run_models(compiled, votes)
    percent = by_metric(agreement, "latest")["percent_agreement"]
    assert (percent["value"], percent["items"], percent["ratings"], percent["annotators"]) == (0.5, 2, 4, 2)
    assert list(by_pair(pairs, "latest")) == [("ann:1", "ann:2")]


def test_degenerate_tasks_give_null_with_a_reason(compiled):
    votes = [
        # one value in the domain: every rating is 'a'
        Vote("same", "i1", "ann:1", "a"),
        Vote("same", "i1", "ann:2", "a"),
        Vote("same", "i2", "ann:1", "a"),
        Vote("same", "i2", "ann:2", "a"),
        # no item with two ratings
        Vote("lonely", "i1", "ann:1", "a"),
        Vote("lonely", "i2", "ann:2", "b"),
        # ratio level with a negative number
        Vote("negative", "i1", "ann:1", "-1", "ratio", -1.0),
        Vote("negative", "i1", "ann:2", "2", "ratio", 2.0),
    ]
    agreement, pairs = run_models(compiled, votes)
    reasons = {(row["task_name"], row["metric"]): (row["value"], row["null_reason"]) for row in agreement}
    assert reasons[("same", "krippendorff_alpha")] == (None, "one_value_in_domain")
    assert reasons[("same", "fleiss_kappa")] == (None, "one_value_in_domain")
    assert reasons[("same", "percent_agreement")] == (1.0, None)
    for metric in ("krippendorff_alpha", "fleiss_kappa", "percent_agreement"):
        assert reasons[("lonely", metric)] == (None, "no_item_with_two_ratings")
    assert reasons[("negative", "krippendorff_alpha")] == (None, "negative_value_at_ratio_level")
    # The reference implementation raises on the single-value case; the mart says why instead.
    with pytest.raises(ValueError, match="more than one value"):
        krippendorff.alpha(reliability_data=[[1, 1], [1, 1]], level_of_measurement="nominal")
    same_pair = by_pair(pairs, "same")[("ann:1", "ann:2")]
    assert (same_pair["cohen_kappa"], same_pair["null_reason"]) == (None, "one_value_in_domain")
    with warnings.catch_warnings():  # scikit-learn warns that kappa is undefined, and returns NaN
        warnings.simplefilter("ignore")
        assert math.isnan(cohen_kappa_score(["a", "a"], ["a", "a"]))
    assert by_pair(pairs, "lonely") == {}  # no item in common: no row
    negative_pair = by_pair(pairs, "negative")[("ann:1", "ann:2")]
    assert (negative_pair["cohen_kappa"], negative_pair["null_reason"]) == (None, "overlap_below_two")


def test_ordinal_labels_outside_the_order_are_left_out_of_alpha(compiled):
    votes = krippendorff_2011_votes("ordinal")
    # A label the source's `order` does not list has no rank (label_value NULL).
    votes += [Vote("k2011_ordinal", "unit12", "obs:A", "unknown", "ordinal", None)]
    agreement, pairs = run_models(compiled, votes)
    alpha = by_metric(agreement, "k2011_ordinal")["krippendorff_alpha"]
    assert round(alpha["value"], 3) == 0.815
    assert alpha["ratings"] == 40
    pair = by_pair(pairs, "k2011_ordinal")[("obs:A", "obs:B")]
    assert pair["cohen_kappa"] is not None
    assert pair["linear_weighted_kappa"] is None  # the overlap holds a label with no rank
    pair_cd = by_pair(pairs, "k2011_ordinal")[("obs:C", "obs:D")]
    assert pair_cd["linear_weighted_kappa"] is not None
