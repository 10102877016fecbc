"""The labeling benchmark's competitors, one function per method, run in their own process.

    python bench/labeling_competitors.py METHOD VOTES.parquet TRUTH.parquet

VOTES has columns task, worker, label (one vote per worker and task); TRUTH has task, label.
Prints one JSON object: seconds (the fit alone), load_seconds, accuracy and coverage against the
planted truth, and method-specific notes. bench/labeling.py measures wall time and peak RSS of the
whole process around it. Add a method by adding a function to METHODS.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import pandas as pd


def crowdkit_majority_vote(votes: pd.DataFrame) -> tuple[pd.Series | None, dict[str, Any]]:
    from crowdkit.aggregation import MajorityVote

    model = MajorityVote().fit(votes)
    # crowd-kit breaks a tie by column order (the first label); count them for the report.
    shares = model.probas_
    ties = int(((shares.to_numpy() == shares.max(axis=1).to_numpy()[:, None]).sum(axis=1) > 1).sum())
    return model.labels_, {"ties_broken_by_column_order": ties}


def crowdkit_dawid_skene(votes: pd.DataFrame) -> tuple[pd.Series, dict[str, Any]]:
    from crowdkit.aggregation import DawidSkene

    model = DawidSkene(n_iter=100, tol=1e-5).fit(votes)
    return model.labels_, {"iterations": len(model.loss_history_), "elbo": model.loss_history_[-1]}


def krippendorff_alpha(votes: pd.DataFrame) -> tuple[None, dict[str, Any]]:
    import krippendorff
    import numpy as np

    workers = votes["worker"].astype("category").cat.codes.to_numpy()
    items = votes["task"].astype("category").cat.codes.to_numpy()
    codes = votes["label"].astype("category").cat.codes.to_numpy().astype(float)
    matrix = np.full((workers.max() + 1, items.max() + 1), np.nan)
    matrix[workers, items] = codes
    alpha = krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
    return None, {"krippendorff_alpha": round(float(alpha), 4)}


METHODS: dict[str, Callable[[pd.DataFrame], tuple[pd.Series | None, dict[str, Any]]]] = {
    "crowdkit_majority_vote": crowdkit_majority_vote,
    "crowdkit_dawid_skene": crowdkit_dawid_skene,
    "krippendorff_alpha": krippendorff_alpha,
}


def main(argv: list[str]) -> int:
    method, votes_path, truth_path = argv
    started = time.perf_counter()
    votes = pd.read_parquet(votes_path, columns=["task", "worker", "label"])
    truth = pd.read_parquet(truth_path).set_index("task")["label"]
    loaded = time.perf_counter()
    labels, notes = METHODS[method](votes)
    fitted = time.perf_counter()
    result = {"load_seconds": loaded - started, "seconds": fitted - loaded, **notes}
    if labels is not None:  # an agreement coefficient labels nothing
        labels = labels.reindex(truth.index)
        result["accuracy"] = float((labels == truth).mean())
        result["coverage"] = float(labels.notna().mean())
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
