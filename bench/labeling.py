"""Consensus at scale: Refinery's dbt models against crowd-kit on one generated crowd.

    .venv/bin/python bench/labeling.py                       # 100,000 items x 10 annotators = 1M votes
    .venv/bin/python bench/labeling.py --items 10000 --methods refinery_dawid_skene,crowdkit_dawid_skene

Generates (deterministically for --seed) a Label Studio export: every annotator answers every item
of a `topic` control with --classes classes (skewed priors); annotator w answers the planted truth
with probability ACCURACIES[w], else a uniformly random other class. It is landed as raw records
(docs/raw-layer.md) into a fresh REFINERY_HOME, and `dbt run --select +int_label_votes` flattens it
(setup, timed apart: that model belongs to the imports). Then each method runs in its own process:

* refinery_majority_vote  dbt run of int_label_votes_counted, int_label_votes_compared, int_item_labels_aggregated
* refinery_dawid_skene    dbt run of int_dawid_skene_fitted (needs the majority-vote models' tables)
* crowdkit_majority_vote, crowdkit_dawid_skene   bench/labeling_competitors.py on the same counted votes
* refinery_agreement      dbt run of label_agreement and annotator_pair_agreement (Krippendorff's alpha,
                          Fleiss' kappa, percent agreement, Cohen's kappa per pair)
* krippendorff_alpha      the `krippendorff` package's nominal alpha on the same votes (its reliability
                          matrix built from them is part of its time)

Reported per method: wall seconds, CPU seconds and peak RSS of its process, the
model times dbt records (run_results.json), accuracy against the planted truth (a tie counts as
wrong) and coverage (items with a label). Add a method with add_method(); the lead's
Krippendorff model and the `krippendorff` package slot in the same way (a dbt selection, or a
function in labeling_competitors.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from ingestion.destination import BOOKKEEPING_DDL  # noqa: E402

DBT = Path(sys.executable).parent / "dbt"
ACCURACIES = [0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.5, 0.35]  # planted, one per annotator
PRIORS = [0.35, 0.25, 0.2, 0.12, 0.08]  # planted class balance (--classes 5)
EXTRACTED_AT = "2025-06-01T00:00:00Z"


@dataclass
class Context:
    home: Path
    votes_parquet: Path
    truth_parquet: Path
    competitor_python: str
    threads: int

    @property
    def database(self) -> Path:
        return self.home / "warehouse" / "refinery.duckdb"


@dataclass
class Method:
    name: str
    run: Callable[[Context], dict[str, Any]]
    needs: list[str] = field(default_factory=list)  # methods that must have run first (their tables)


METHODS: dict[str, Method] = {}


def add_method(name: str, run: Callable[[Context], dict[str, Any]], needs: list[str] | None = None) -> None:
    METHODS[name] = Method(name, run, needs or [])


# --------------------------------------------------------------------------- data


def generate(items: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(truth per item, annotator per vote, answer per vote); votes ordered by item, then annotator."""
    rng = np.random.default_rng(seed)
    priors = np.array(PRIORS[:classes] if classes <= len(PRIORS) else [1.0] * classes)
    truth = rng.choice(classes, size=items, p=priors / priors.sum())
    annotators = len(ACCURACIES)
    answers = np.empty((items, annotators), dtype=np.int64)
    for w, accuracy in enumerate(ACCURACIES):
        wrong = (truth + rng.integers(1, classes, size=items)) % classes
        answers[:, w] = np.where(rng.random(items) < accuracy, truth, wrong)
    annotator = np.tile(np.arange(annotators), items)
    return truth, annotator, answers.ravel()


def land(ctx: Context, truth: np.ndarray, annotator: np.ndarray, answer: np.ndarray) -> None:
    """Raw Label Studio tasks (one record per item, one annotation per annotator) built in SQL."""
    items = len(truth)
    annotators = len(ACCURACIES)
    con = duckdb.connect(str(ctx.database))
    try:
        for statement in BOOKKEEPING_DDL:
            con.execute(statement)
        con.execute(
            """create table raw.bench__tasks (_airbyte_raw_id varchar not null,
            _airbyte_extracted_at timestamptz not null, _airbyte_loaded_at timestamptz, _airbyte_meta json,
            _airbyte_generation_id bigint, _airbyte_data json)"""
        )
        con.execute(
            "insert into raw._refinery_streams values ('bench', 'tasks', 'bench__tasks', 'label_studio', "
            "'annotations', 'id', null, 'text', null, ?::timestamptz)",
            [EXTRACTED_AT],
        )
        votes = pa.table(  # noqa: F841 (read by the SQL below)
            {
                "item": np.repeat(np.arange(items), annotators),
                "annotator": annotator + 1,
                "label": pa.array([f"class_{c}" for c in range(truth.max() + 1)]).take(pa.array(answer)),
            }
        )
        con.execute(
            f"""
            insert into raw.bench__tasks
            select
                uuid()::varchar, ?::timestamptz, ?::timestamptz, '{{}}'::json, 0,
                json_object(
                    'id', item,
                    'data', json_object('text', 'Benchmark item number ' || item || ', generated for consensus.'),
                    'annotations', list(json_object(
                        'id', item * {annotators} + annotator,
                        'completed_by', annotator,
                        'result', [json_object('id', 'r' || annotator, 'from_name', 'topic', 'to_name', 'text',
                                               'type', 'choices', 'value', json_object('choices', [label]))],
                        'was_cancelled', false,
                        'ground_truth', false,
                        'lead_time', 3.0 + annotator,
                        'created_at', '2025-05-01T00:00:00Z',
                        'updated_at', '2025-05-01T00:00:00Z'
                    ) order by annotator)
                )
            from votes
            group by item
            """,
            [EXTRACTED_AT, EXTRACTED_AT],
        )
        truth_table = pa.table(  # noqa: F841 (read by the SQL below)
            {"item_id": np.arange(items).astype(str), "true_label": [f"class_{c}" for c in truth]}
        )
        con.execute("create schema bench")
        con.execute("create table bench.truth as select * from truth_table")
    finally:
        con.close()


def export_votes(ctx: Context) -> None:
    """The counted votes and the truth, keyed by item_key, as parquet files for the competitors."""
    con = duckdb.connect(str(ctx.database), read_only=True)
    try:
        con.execute(
            f"""copy (select item_key as task, annotator_key as worker, label from intermediate.int_label_votes
                where status = 'submitted' order by item_key, annotator_key)
                to '{ctx.votes_parquet}' (format parquet)"""
        )
        con.execute(
            f"""copy (select distinct votes.item_key as task, truth.true_label as label
                from intermediate.int_label_votes as votes inner join bench.truth on votes.item_id = truth.item_id)
                to '{ctx.truth_parquet}' (format parquet)"""
        )
    finally:
        con.close()


# --------------------------------------------------------------------------- measuring


# Runs the command and writes its children's peak RSS and CPU time to the file named first: a
# small process forks the command, so the peak is the command's own (a child forked from this
# process would count this process's memory until its exec).
_MEASURE = (
    "import json, resource, subprocess, sys; code = subprocess.call(sys.argv[2:]); "
    "usage = resource.getrusage(resource.RUSAGE_CHILDREN); "
    "open(sys.argv[1], 'w').write(json.dumps([usage.ru_maxrss, usage.ru_utime + usage.ru_stime])); "
    "sys.exit(code)"
)


def measured(command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> dict[str, Any]:
    """Run a process; its wall and CPU seconds, peak RSS (MB) and output."""
    with tempfile.NamedTemporaryFile(suffix=".json") as usage_file:
        started = time.perf_counter()
        completed = subprocess.run(
            [sys.executable, "-c", _MEASURE, usage_file.name, *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
        if completed.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({completed.returncode}):\n{completed.stdout[-4000:]}")
        peak_kb, cpu = json.loads(Path(usage_file.name).read_text())
    return {"wall_seconds": wall, "cpu_seconds": cpu, "peak_rss_mb": peak_kb / 1024, "output": completed.stdout}


def dbt(ctx: Context, *args: str) -> dict[str, Any]:
    target = ctx.home / "dbt_target"
    env = {
        **os.environ,
        "REFINERY_HOME": str(ctx.home),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    }
    project = REPO / "dbt_project"
    result = measured(
        [
            str(DBT),
            *args,
            "--profiles-dir",
            str(project),
            "--project-dir",
            str(project),
            "--target-path",
            str(target),
            "--log-path",
            str(ctx.home / "dbt_logs"),
            "--threads",
            str(ctx.threads),
        ],
        env=env,
        cwd=project,
    )
    run_results = json.loads((target / "run_results.json").read_text())
    result["models"] = {r["unique_id"].split(".")[-1]: round(r["execution_time"], 2) for r in run_results["results"]}
    return result


def query(ctx: Context, sql: str) -> list[tuple]:
    con = duckdb.connect(str(ctx.database), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def truth_join(labels_sql: str) -> str:
    return f"""
        with labels as ({labels_sql}),
        truth as (
            select distinct votes.item_key, truth.true_label
            from intermediate.int_label_votes as votes inner join bench.truth on votes.item_id = truth.item_id
        )
        select
            avg((labels.label = truth.true_label)::integer::double) filter (where true) as accuracy_labeled,
            count(labels.label)::double / count(*) as coverage,
            count(*) filter (where labels.label = truth.true_label)::double / count(*) as accuracy
        from truth left join labels on truth.item_key = labels.item_key
    """


# --------------------------------------------------------------------------- methods


def refinery_majority_vote(ctx: Context) -> dict[str, Any]:
    result = dbt(ctx, "run", "--select", "int_label_votes_counted int_label_votes_compared int_item_labels_aggregated")
    _, coverage, accuracy = query(
        ctx, truth_join("select item_key, label from intermediate.int_item_labels_aggregated")
    )[0]
    ties = query(ctx, "select count(*) filter (where is_tie) from intermediate.int_item_labels_aggregated")[0][0]
    return {**result, "accuracy": accuracy, "coverage": coverage, "notes": f"{ties:,} ties left unlabeled"}


def refinery_dawid_skene(ctx: Context) -> dict[str, Any]:
    result = dbt(ctx, "run", "--select", "int_dawid_skene_fitted")
    posterior_argmax = """
        select item_key, arg_max(label, probability) as label from intermediate.int_dawid_skene_fitted
        where component = 'posterior' group by item_key
    """
    _, coverage, accuracy = query(ctx, truth_join(posterior_argmax))[0]
    iterations, converged = query(
        ctx, "select any_value(iterations), bool_and(converged) from intermediate.int_dawid_skene_fitted"
    )[0]
    diagonal = query(
        ctx,
        """select annotator_key, avg(probability) from intermediate.int_dawid_skene_fitted
           where component = 'confusion' and label = true_label group by annotator_key""",
    )
    error = max(abs(value - ACCURACIES[int(key.split(":")[1]) - 1]) for key, value in diagonal)
    stopped = "" if converged else " (not converged)"
    notes = f"{iterations} iterations{stopped}; largest error of a confusion diagonal vs planted accuracy {error:.3f}"
    return {**result, "accuracy": accuracy, "coverage": coverage, "notes": notes}


def competitor(name: str) -> Callable[[Context], dict[str, Any]]:
    def run(ctx: Context) -> dict[str, Any]:
        result = measured(
            [
                ctx.competitor_python,
                str(REPO / "bench" / "labeling_competitors.py"),
                name,
                str(ctx.votes_parquet),
                str(ctx.truth_parquet),
            ]
        )
        report = json.loads(result["output"].strip().splitlines()[-1])
        report.setdefault("accuracy", None)
        report.setdefault("coverage", None)
        notes = {k: v for k, v in report.items() if k not in {"accuracy", "coverage", "seconds", "load_seconds"}}
        result["models"] = {"load": round(report["load_seconds"], 2), "fit": round(report["seconds"], 2)}
        return {
            **result,
            "accuracy": report["accuracy"],
            "coverage": report["coverage"],
            "notes": "; ".join(f"{k} {v}" for k, v in notes.items()),
        }

    return run


def refinery_agreement(ctx: Context) -> dict[str, Any]:
    result = dbt(ctx, "run", "--select", "label_agreement annotator_pair_agreement")
    metrics = dict(query(ctx, "select metric, value from marts.label_agreement where task_name = 'topic'"))
    pairs = query(ctx, "select count(*) from marts.annotator_pair_agreement")[0][0]
    notes = ", ".join(f"{name} {value:.4f}" for name, value in sorted(metrics.items())) + f"; {pairs} annotator pairs"
    return {**result, "accuracy": None, "coverage": None, "notes": notes}


add_method("refinery_majority_vote", refinery_majority_vote)
add_method("refinery_dawid_skene", refinery_dawid_skene, needs=["refinery_majority_vote"])
add_method("crowdkit_majority_vote", competitor("crowdkit_majority_vote"))
add_method("crowdkit_dawid_skene", competitor("crowdkit_dawid_skene"))
add_method("refinery_agreement", refinery_agreement, needs=["refinery_majority_vote"])
add_method("krippendorff_alpha", competitor("krippendorff_alpha"))


# --------------------------------------------------------------------------- main


def share(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--competitor-python",
        default=sys.executable,
        help="a Python with crowd-kit (default: this one; crowd-kit is in the dev extra)",
    )
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the REFINERY_HOME")
    parser.add_argument("--json", type=Path, default=None, help="write the results here too")
    args = parser.parse_args(argv)
    names = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        parser.error(f"unknown method(s) {unknown}; choose from {sorted(METHODS)}")
    for name in list(names):  # a method's prerequisites run first (their time is reported too)
        for needed in METHODS[name].needs:
            if needed not in names:
                names.insert(names.index(name), needed)

    root = Path(tempfile.mkdtemp(prefix="refinery-labeling-", dir=args.workdir))
    ctx = Context(root, root / "votes.parquet", root / "truth.parquet", args.competitor_python, args.threads)
    (root / "warehouse").mkdir()
    load_before = uptime()
    try:
        started = time.perf_counter()
        truth, annotator, answer = generate(args.items, args.classes, args.seed)
        land(ctx, truth, annotator, answer)
        print(
            f"generated and landed {len(answer):,} votes on {args.items:,} items in "
            f"{time.perf_counter() - started:.1f} s ({root})",
            flush=True,
        )
        setup = dbt(ctx, "run", "--select", "+int_label_votes")
        print(
            f"setup: dbt run +int_label_votes (JSON flattening) {setup['wall_seconds']:.1f} s, "
            f"peak RSS {setup['peak_rss_mb']:.0f} MB; models {setup['models']}",
            flush=True,
        )
        export_votes(ctx)
        results = {}
        for name in names:
            results[name] = METHODS[name].run(ctx)
            results[name].pop("output", None)
            r = results[name]
            print(
                f"{name}: {r['wall_seconds']:.1f} s wall, {r['cpu_seconds']:.1f} s CPU, {r['peak_rss_mb']:.0f} MB, "
                f"accuracy {share(r['accuracy'])}, coverage {share(r['coverage'])}; {r['models']}; {r['notes']}",
                flush=True,
            )
        load_after = uptime()
        print()
        print(
            f"{args.items:,} items x {len(ACCURACIES)} annotators = {len(answer):,} votes, {args.classes} classes, "
            f"seed {args.seed}, dbt --threads {args.threads}"
        )
        print(f"load before: {load_before}\nload after:  {load_after}\n")
        print("| method | wall s | CPU s | peak RSS MB | accuracy | coverage | parts (s) | notes |")
        print("|---|---:|---:|---:|---:|---:|---|---|")
        for name, r in results.items():
            parts = ", ".join(f"{k} {v}" for k, v in r["models"].items())
            print(
                f"| {name} | {r['wall_seconds']:.1f} | {r['cpu_seconds']:.1f} | {r['peak_rss_mb']:.0f} | "
                f"{share(r['accuracy'])} | {share(r['coverage'])} | {parts} | {r['notes']} |"
            )
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "items": args.items,
                        "votes": len(answer),
                        "classes": args.classes,
                        "seed": args.seed,
                        "load_before": load_before,
                        "load_after": load_after,
                        "setup": {k: v for k, v in setup.items() if k != "output"},
                        "results": results,
                    },
                    indent=1,
                )
            )
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
