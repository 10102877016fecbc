"""Dawid–Skene EM per task (labeling control), fitted the way crowd-kit's DawidSkene fits it.

A. P. Dawid and A. M. Skene, "Maximum Likelihood Estimation of Observer Error-Rates Using the
EM Algorithm", JRSS C 28(1), 1979. Each annotator w has a confusion matrix e_w[k, c] =
P(w answers k | the true label is c); each class a prior p[c]. EM alternates:

* E-step: P(true label of item i = c) ∝ p[c] · Π_{votes (i, w, k)} e_w[k, c]   (in log2, max-shifted)
* M-step: e_w[k, c] ∝ Σ_{items i that w answered k} P(i = c), p[c] = mean_i P(i = c)

crowd-kit 1.4.2 details reproduced on purpose (docs/labeling/consensus.md): start from majority-vote
shares; confusion cells clipped at 1e-10 before normalising, and only over the labels the annotator
actually used (a label they never gave has probability 0); priors clipped at 1e-10; stop after
`max_iterations` or as soon as the evidence lower bound per vote improves by less than `tolerance`
(crowd-kit's `_evidence_lower_bound`: its prior term is counted once per vote). Gold labels, when
`use_gold`, fix the posterior of their item to one-hot after every E-step (crowd-kit `true_labels`).

Why Python (numpy) and not SQL: EM is an iterative numeric loop with a data-dependent stop. In SQL
every iteration re-joins every vote with the confusion cells and aggregates per item (K rows per vote),
through a recursive CTE carrying the parameters; here an iteration is a few `np.bincount` calls over
integer-coded votes (about 0.1 s per iteration at 1M votes, K = 5 on one core: bench/labeling.py).

Output, one table in long form (`component`):
  posterior  item_key, label (class), probability
  confusion  annotator_key, label (the annotator's answer), true_label, probability
  prior      label, probability
and on every row the task's iterations, converged flag and final evidence lower bound per vote.
"""

import numpy as np
import pyarrow as pa

EPS = 1e-10  # crowd-kit's _EPS: floor of confusion cells and priors


def fit_dawid_skene(item, worker, label, gold, n_items, n_workers, n_labels, max_iterations, tolerance):
    """EM over integer-coded votes.

    Args:
        item, worker, label: int arrays, one entry per vote (0-based codes).
        gold: int array per item, the gold label's code or -1.
        n_items, n_workers, n_labels: sizes of the codes.
        max_iterations, tolerance: crowd-kit's n_iter and tol.

    Returns:
        (posteriors [items, K], errors [workers, K answered, K true], priors [K], iterations,
        converged, elbo per vote).
    """
    k = n_labels
    n_votes = len(item)
    cell = worker * k + label  # the (annotator, answer) row of the stacked confusion matrices
    used = np.bincount(cell, minlength=n_workers * k) > 0
    votes_per_item = np.bincount(item, minlength=n_items).astype(float)
    has_gold = gold >= 0

    def correct_with_gold(posteriors):
        if has_gold.any():
            posteriors[has_gold] = 0.0
            posteriors[np.flatnonzero(has_gold), gold[has_gold]] = 1.0
        return posteriors

    def m_step(posteriors):
        per_vote = posteriors[item]
        counts = np.stack(
            [np.bincount(cell, weights=per_vote[:, c], minlength=n_workers * k) for c in range(k)], axis=1
        )
        errors = np.where(used[:, None], np.maximum(counts, EPS), 0.0).reshape(n_workers, k, k)
        errors = errors / errors.sum(axis=1, keepdims=True)
        return counts, errors.reshape(n_workers * k, k)

    def e_step(priors, errors):
        log_errors = np.log2(errors, out=np.zeros_like(errors), where=used[:, None])[cell]
        log_likelihood = np.log2(np.maximum(priors, EPS)) + np.stack(
            [np.bincount(item, weights=log_errors[:, c], minlength=n_items) for c in range(k)], axis=1
        )
        scaled = np.exp2(log_likelihood - log_likelihood.max(axis=1, keepdims=True))
        return scaled / scaled.sum(axis=1, keepdims=True)

    def evidence_lower_bound(posteriors, priors, counts, errors):
        joint = (counts[used] * np.log(errors[used])).sum()
        joint += (votes_per_item @ posteriors) @ np.log(np.maximum(priors, EPS))
        clipped = np.maximum(posteriors, EPS)
        entropy = -(clipped * np.log(clipped)).sum()
        return (joint + entropy) / n_votes

    # Initialisation: majority-vote shares.
    shares = np.bincount(item * k + label, minlength=n_items * k).reshape(n_items, k).astype(float)
    posteriors = correct_with_gold(shares / shares.sum(axis=1, keepdims=True))
    priors = posteriors.mean(axis=0)
    counts, errors = m_step(posteriors)
    loss, iterations, converged = -np.inf, 0, False
    for _ in range(max_iterations):
        posteriors = correct_with_gold(e_step(priors, errors))
        priors = posteriors.mean(axis=0)
        counts, errors = m_step(posteriors)
        new_loss = evidence_lower_bound(posteriors, priors, counts, errors)
        iterations += 1
        if new_loss - loss < tolerance:
            converged = True
            loss = new_loss
            break
        loss = new_loss
    return posteriors, errors.reshape(n_workers, k, k), priors, iterations, converged, float(loss)


def model(dbt, session):
    dbt.config(materialized="table")
    max_iterations = int(dbt.config.get("max_iterations"))
    tolerance = float(dbt.config.get("tolerance"))
    use_gold = str(dbt.config.get("use_gold")).lower() == "true"
    if max_iterations < 1 or not tolerance > 0:
        raise ValueError(
            f"int_dawid_skene_fitted: dawid_skene_max_iterations={max_iterations} and "
            f"dawid_skene_tolerance={tolerance} must be >= 1 and > 0 (dbt_project/dbt_project.yml)"
        )
    votes = dbt.ref("int_label_votes_compared")

    # Integer codes in sorted order (crowd-kit sorts labels too: a posterior tie goes to the first).
    coded = votes.query(
        "votes",
        """
        select
            dense_rank() over (order by task_name) - 1 as task_index,
            dense_rank() over (partition by task_name order by item_key) - 1 as item_index,
            dense_rank() over (partition by task_name order by annotator_key) - 1 as worker_index,
            dense_rank() over (partition by task_name order by label) - 1 as label_index
        from votes
        order by task_index, item_index, worker_index
        """,
    ).fetchnumpy()
    dictionaries = votes.query(
        "votes",
        """
        select
            task_name,
            list(distinct item_key order by item_key) as items,
            list(distinct annotator_key order by annotator_key) as annotators,
            list(distinct label order by label) as labels,
            map_from_entries(list(distinct {'k': item_key, 'v': gold_label}) filter (where gold_label is not null))
                as gold
        from votes
        group by task_name
        order by task_name
        """,
    ).fetchall()

    task_of_vote = np.asarray(coded["task_index"], dtype=np.int64)
    bounds = np.searchsorted(task_of_vote, np.arange(len(dictionaries) + 1))
    columns = {name: [] for name in ("task_name", "component", "item_key", "annotator_key", "label", "true_label")}
    numbers = {"probability": [], "iterations": [], "converged": [], "elbo": []}

    def add(task_name, component, n, item_key, annotator_key, label, true_label, probability, fit):
        columns["task_name"].append(np.full(n, task_name, dtype=object))
        columns["component"].append(np.full(n, component, dtype=object))
        for name, values in (
            ("item_key", item_key),
            ("annotator_key", annotator_key),
            ("label", label),
            ("true_label", true_label),
        ):
            columns[name].append(np.full(n, None, dtype=object) if values is None else values)
        numbers["probability"].append(probability)
        numbers["iterations"].append(np.full(n, fit[0], dtype=np.int32))
        numbers["converged"].append(np.full(n, fit[1], dtype=bool))
        numbers["elbo"].append(np.full(n, fit[2], dtype=float))

    for index, (task_name, items, annotators, labels, gold_map) in enumerate(dictionaries):
        start, stop = bounds[index], bounds[index + 1]
        items = np.array(items, dtype=object)
        annotators = np.array(annotators, dtype=object)
        labels = np.array(labels, dtype=object)
        k, n_items, n_workers = len(labels), len(items), len(annotators)
        gold = np.full(n_items, -1, dtype=np.int64)
        if use_gold and gold_map:
            item_code = {key: i for i, key in enumerate(items)}
            label_code = {value: c for c, value in enumerate(labels)}
            for key, value in gold_map.items():
                gold[item_code[key]] = label_code[value]
        posteriors, errors, priors, iterations, converged, elbo = fit_dawid_skene(
            np.asarray(coded["item_index"][start:stop], dtype=np.int64),
            np.asarray(coded["worker_index"][start:stop], dtype=np.int64),
            np.asarray(coded["label_index"][start:stop], dtype=np.int64),
            gold,
            n_items,
            n_workers,
            k,
            max_iterations,
            tolerance,
        )
        fit = (iterations, converged, elbo)
        add(
            task_name,
            "posterior",
            n_items * k,
            np.repeat(items, k),
            None,
            np.tile(labels, n_items),
            None,
            posteriors.ravel(),
            fit,
        )
        add(
            task_name,
            "confusion",
            n_workers * k * k,
            None,
            np.repeat(annotators, k * k),
            np.tile(np.repeat(labels, k), n_workers),
            np.tile(labels, n_workers * k),
            errors.ravel(),
            fit,
        )
        add(task_name, "prior", k, None, None, labels, None, priors, fit)

    def joined(parts, dtype):
        return np.concatenate(parts) if parts else np.array([], dtype=dtype)

    return pa.table(
        {
            **{name: pa.array(joined(parts, object), type=pa.string()) for name, parts in columns.items()},
            "probability": pa.array(joined(numbers["probability"], float), type=pa.float64()),
            "iterations": pa.array(joined(numbers["iterations"], np.int32), type=pa.int32()),
            "converged": pa.array(joined(numbers["converged"], bool), type=pa.bool_()),
            "elbo": pa.array(joined(numbers["elbo"], float), type=pa.float64()),
        }
    )
