"""Time the agreement models (label_agreement, annotator_pair_agreement) on synthetic votes.

Generates `--items` × `--annotators` submitted votes (default 100,000 × 10 = 1M, 5 classes) into
`intermediate.int_label_votes` of a fresh warehouse, then runs the models two ways:

* `sql`: the SQL dbt compiles, one model at a time in one DuckDB connection (the models'
  own cost; int_label_votes_counted is built first, a table as in the project);
* `dbt`: `dbt run --select int_label_votes_counted label_agreement annotator_pair_agreement`
  (adds dbt's start-up, parse and contract checks);
* `krippendorff`: the `krippendorff` package's alpha on the same votes (a dense annotators × items
  matrix), for comparison, when it is installed.

Each annotator is right with a probability from 0.55 to 0.95 (else a uniformly random class), so
alpha is well inside (0, 1). `--level ordinal` gives the votes ranks (label_value) and the marts
compute the ordinal alpha and the weighted kappas.

    .venv/bin/python bench/labeling_agreement.py                       # 1M votes, nominal
    .venv/bin/python bench/labeling_agreement.py --level ordinal --methods sql
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

REPO_ROOT = Path(__file__).resolve().parents[1]
DBT = Path(sys.executable).parent / "dbt"
MODELS = {
    "int_label_votes_counted": "intermediate/labels/int_label_votes_counted.sql",
    "label_agreement": "marts/labels/label_agreement.sql",
    "annotator_pair_agreement": "marts/labels/annotator_pair_agreement.sql",
}


def dbt_env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "REFINERY_HOME": str(home),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_TARGET_PATH": str(home / "target"),
        "DBT_LOG_PATH": str(home / "logs"),
    }


def generate(database: Path, items: int, annotators: int, classes: int, level: str, seed: float) -> int:
    """Write the synthetic votes; return their number."""
    con = duckdb.connect(str(database))
    con.execute("create schema if not exists intermediate")
    # int_label_votes_counted also reads when each task was landed (no rows needed here).
    con.execute("create schema if not exists staging")
    con.execute(
        "create or replace table staging.stg_refinery__annotation_tasks "
        "(source_name varchar, task_id varchar, extracted_at timestamptz)"
    )
    con.execute(f"select setseed({seed})")
    con.execute(
        f"""
        create or replace table intermediate.int_label_votes as
        with grid as (
            select
                item,
                annotator,
                hash(item) % {classes} as truth,
                random() as draw,
                (random() * {classes})::bigint % {classes} as noise,
                0.55 + 0.4 * annotator / greatest({annotators} - 1, 1) as accuracy
            from range({items}) as items(item)
            cross join range({annotators}) as annotators(annotator)
        )
        select
            md5(item::varchar || ':' || annotator::varchar) as vote_id,
            'bench' as source_name,
            'label_studio' as tool,
            item::varchar as task_id,
            item::varchar as item_id,
            (item * {annotators} + annotator)::varchar as annotation_id,
            annotator::varchar as annotator_id,
            'bench:' || annotator::varchar as annotator_key,
            0 as result_index,
            'topic' as task_name,
            'class_' || (case when draw < accuracy then truth else noise end)::varchar as label,
            '{level}' as level,
            case when '{level}' != 'nominal'
                then (case when draw < accuracy then truth else noise end)::double + 1 end as label_value,
            'submitted' as status,
            false as is_gold,
            null::double as lead_time_seconds,
            timestamptz '2025-01-01 00:00:00+00' as created_at,
            timestamptz '2025-01-01 00:00:00+00' as updated_at,
            null::varchar as item_text,
            md5(item::varchar) as item_hash,
            md5(item::varchar) as item_key
        from grid
        """
    )
    count = con.execute("select count(*) from intermediate.int_label_votes").fetchone()[0]
    con.close()
    return count


def compile_models(home: Path) -> dict[str, str]:
    subprocess.run(
        [str(DBT), "compile", "--quiet", "--select", *MODELS],
        cwd=REPO_ROOT / "dbt_project",
        env=dbt_env(home),
        stdout=subprocess.DEVNULL,
        check=True,
    )
    root = home / "target" / "compiled" / "refinery" / "models"
    return {name: (root / path).read_text() for name, path in MODELS.items()}


def time_sql(database: Path, compiled: dict[str, str], threads: int) -> dict[str, float]:
    con = duckdb.connect()
    con.execute(f"set threads = {threads}")
    con.execute(f"attach '{database}' as refinery")
    con.execute("create schema if not exists refinery.marts")
    con.execute(
        "create or replace table refinery.intermediate.int_label_votes_counted as "
        + compiled["int_label_votes_counted"]
    )
    seconds = {}
    for model in ("label_agreement", "annotator_pair_agreement"):
        start = time.perf_counter()
        con.execute(f"create or replace table refinery.marts.{model} as {compiled[model]}")
        seconds[model] = time.perf_counter() - start
    rows = con.execute(
        "select metric, round(value, 4), items, annotators, ratings from refinery.marts.label_agreement order by metric"
    ).fetchall()
    pairs = con.execute(
        "select count(*), round(avg(cohen_kappa), 4), round(avg(quadratic_weighted_kappa), 4)"
        " from refinery.marts.annotator_pair_agreement"
    ).fetchone()
    con.close()
    print("  label_agreement:", rows)
    print("  annotator_pair_agreement: pairs, mean kappa, mean quadratic kappa =", pairs)
    return seconds


def time_dbt(home: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [str(DBT), "run", "--quiet", "--select", *MODELS],
        cwd=REPO_ROOT / "dbt_project",
        env=dbt_env(home),
        check=True,
    )
    return time.perf_counter() - start


def time_krippendorff(database: Path, level: str) -> tuple[float, float]:
    import krippendorff
    import numpy as np

    con = duckdb.connect(str(database), read_only=True)
    frame = con.execute(
        "select annotator_key, item_key, coalesce(label_value, replace(label, 'class_', '')::double) as value"
        " from intermediate.int_label_votes"
    ).fetchnumpy()
    con.close()
    start = time.perf_counter()
    annotators, annotator_index = np.unique(frame["annotator_key"], return_inverse=True)
    items, item_index = np.unique(frame["item_key"], return_inverse=True)
    matrix = np.full((len(annotators), len(items)), np.nan)
    matrix[annotator_index, item_index] = frame["value"]
    alpha = krippendorff.alpha(reliability_data=matrix, level_of_measurement=level)
    return time.perf_counter() - start, alpha


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--annotators", type=int, default=10)
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--level", choices=["nominal", "ordinal", "interval", "ratio"], default="nominal")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=float, default=0.42)
    parser.add_argument("--methods", default="sql,dbt,krippendorff")
    args = parser.parse_args()
    methods = set(args.methods.split(","))

    with tempfile.TemporaryDirectory(prefix="refinery-agreement-") as tmp:
        home = Path(tmp)
        (home / "warehouse").mkdir()
        database = home / "warehouse" / "refinery.duckdb"
        start = time.perf_counter()
        votes = generate(database, args.items, args.annotators, args.classes, args.level, args.seed)
        print(f"generated {votes:,} votes ({args.level}) in {time.perf_counter() - start:.1f} s")
        print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
        compiled = compile_models(home)
        if "sql" in methods:
            seconds = time_sql(database, compiled, args.threads)
            total = sum(seconds.values())
            print(f"sql ({args.threads} threads): " + ", ".join(f"{k} {v:.2f} s" for k, v in seconds.items()))
            print(f"sql total: {total:.2f} s")
        if "dbt" in methods:
            print(f"dbt run (3 models, incl. dbt start-up): {time_dbt(home):.2f} s")
        if "krippendorff" in methods:
            try:
                seconds, alpha = time_krippendorff(database, args.level)
                print(f"krippendorff package: alpha {alpha:.4f} in {seconds:.2f} s (matrix build + alpha)")
            except ImportError:
                print("krippendorff package not installed: skipped")


if __name__ == "__main__":
    main()
