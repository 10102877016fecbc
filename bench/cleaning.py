"""Cleaning at corpus scale: Refinery's dbt cleaning models against the field's tools, on one corpus.

The corpus comes from `bench/cleaning_corpus.py` (planted bad documents, exact duplicates and
near-duplicate families with their exact Jaccard). In one run, on the same machine and corpus:

- `refinery`: the corpus landed by Refinery's real ingestion (`kind: files`, `text_field: text`,
  `primary_key: id`, `ingestion.sync.sync_source`) into a fresh REFINERY_HOME (timed separately), then
  `dbt build --select <selector> --threads 2`; every model timed from `target/run_results.json` and
  grouped (normalization, heuristics, language, PII, exact dedup, near dedup, other, tests). Near pairs
  come from `intermediate.int_document_near_pairs`, clusters from `marts.document_duplicates`.
  After the last run: a 1% increment (new ids, some near/exact copies of existing documents) is
  landed and the same `dbt build` re-run; its cost is reported as a fraction of the full build.
- the competitors of `bench/cleaning_competitors.py` (in the separate `.venv-bench`): the seed
  document's `IngestionPipeline`, Hugging Face `datasets`, datatrove's filters and MinHash pipeline,
  datasketch's `MinHashLSH`.

Every method runs in its own subprocess: wall time, CPU time (user + system, children included, from
`os.wait4` and /proc), peak RSS (`VmHWM` of the largest single process) and the peak of the summed RSS of
the process tree (both sampled every 0.2 s). MB = 10^6 bytes of document text. Near-duplicate precision and
recall are scored on PAIRS: a predicted pair is correct when its exact 5-gram shingle Jaccard
(`cleaning_rules`) is ≥ 0.75 (computed for every predicted pair); recall's denominator is every
planted pair with Jaccard ≥ 0.75 plus any correct predicted pair outside the plant.

    .venv/bin/python bench/cleaning.py --quick                       # 5,000 docs, 1 run, print only
    .venv/bin/python bench/cleaning.py --docs 100000 --runs 3 --write-doc docs/BENCHMARKS.md
    .venv/bin/python bench/cleaning.py --docs 1000000 --runs 1 --methods refinery,datasketch \\
        --memory-limit 4GB --write-doc docs/BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from cleaning_corpus import SEED, ensure_corpus, generate_increment  # noqa: E402
from cleaning_rules import jaccard, shingles  # noqa: E402

SECTION = "Cleaning at corpus scale"
THRESHOLD = 0.75
COMPETITORS = ("seed_pipeline", "hf_datasets", "datatrove_filters", "datatrove_minhash", "datasketch")
METHODS = ("refinery", *COMPETITORS)
DATATROVE = ("datatrove_filters", "datatrove_minhash")
SLOW = (*DATATROVE, "datasketch")  # run --slow-runs times (default once): minutes per run
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
DEFAULT_SELECT = "+tag:cleaning"  # the cleaning models and what they read; not their consumers
# Model name patterns -> work group (first match wins); tests are grouped separately.
GROUPS = (
    ("near dedup", re.compile(r"minhash|signature|near|band|cluster|document_duplicates")),
    ("exact dedup", re.compile(r"exact|deduplicated")),
    ("PII", re.compile(r"pii")),
    ("language", re.compile(r"lang")),
    ("heuristics", re.compile(r"quality|signal|heuristic|repetition|screen|gopher|c4|fineweb")),
    ("normalization", re.compile(r"normalized|stg_refinery__documents")),
)
# Which work of which method is compared with which (group name -> {method: stage names or None = all}).
# Refinery's side counts its normalization model too (the competitors read raw text), so the
# comparison is conservative; the per-group table in the report has each group alone.
WORK = {
    "heuristics": {
        "refinery": ["normalization", "heuristics"],
        "datatrove_filters": None,
        "hf_datasets": ["heuristics"],
    },
    "near dedup": {"refinery": ["normalization", "near dedup"], "datatrove_minhash": None, "datasketch": None},
    "exact dedup": {
        "refinery": ["normalization", "exact dedup"],
        "seed_pipeline": None,
        "hf_datasets": ["exact_dedup"],
    },
}


# -- measuring a subprocess ------------------------------------------------------------------------
def _tree_usage(root: int) -> dict[int, tuple[int, int, float]]:
    """pid -> (RSS kB, peak RSS kB since exec, user+system CPU s) for root and its descendants, from /proc."""
    children: dict[int, list[int]] = defaultdict(list)
    stats: dict[int, tuple[int, float]] = {}
    tick, page_kb = os.sysconf("SC_CLK_TCK"), os.sysconf("SC_PAGE_SIZE") // 1024
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        ppid, utime, stime, rss_pages = int(fields[1]), int(fields[11]), int(fields[12]), int(fields[21])
        children[ppid].append(int(entry))
        stats[int(entry)] = (rss_pages * page_kb, (utime + stime) / tick)
    tree, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            try:
                hwm = re.search(r"^VmHWM:\s+(\d+)", Path(f"/proc/{pid}/status").read_text(), re.M)
            except OSError:
                hwm = None
            tree[pid] = (stats[pid][0], int(hwm.group(1)) if hwm else 0, stats[pid][1])
        todo.extend(children.get(pid, []))
    return tree


def measure(cmd: list[str], env: dict, log: Path) -> dict:
    """Run cmd; wall, CPU (user+sys of the process tree), the largest process's peak RSS (VmHWM, sampled
    every 0.2 s) and the peak of the tree's summed RSS."""
    with log.open("w") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        peak, hwm = [0], [0]
        cpu_seen: dict[int, float] = {}  # last CPU seconds seen per process of the tree
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.2):
                tree = _tree_usage(proc.pid)
                peak[0] = max(peak[0], sum(rss for rss, _, _ in tree.values()))
                hwm[0] = max([hwm[0], *(high for _, high, _ in tree.values())])
                for pid, (_, _, cpu) in tree.items():
                    cpu_seen[pid] = max(cpu, cpu_seen.get(pid, 0.0))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd[:3])} … failed ({proc.returncode}); last lines of {log}:\n"
            + "\n".join(log.read_text().splitlines()[-25:])
        )
    return {
        "wall_s": wall,
        # Processes a pool kills without waiting for them are missing from wait4's total: take the
        # larger of it and the sampled per-process sum (which misses each process's last < 0.2 s).
        "cpu_s": max(usage.ru_utime + usage.ru_stime, sum(cpu_seen.values())),
        # ru_maxrss would count the harness's own pages as they were at fork time; VmHWM restarts at exec.
        "max_rss_mb": hwm[0] / 1024 if hwm[0] else usage.ru_maxrss / 1024,
        "tree_rss_mb": peak[0] / 1024,
    }


# -- scoring -----------------------------------------------------------------------------------------
def read_pairs_tsv(path: Path) -> set[tuple[str, str]]:
    pairs = set()
    if path.exists():
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                a, b = line.rstrip("\n").split("\t")[:2]
                if a != b:
                    pairs.add((min(a, b), max(a, b)))
    return pairs


def cluster_pairs(rows) -> set[tuple[str, str]]:
    """All pairs inside each cluster; rows are (id, cluster)."""
    members: dict[str, list[str]] = defaultdict(list)
    for doc_id, cluster in rows:
        members[str(cluster)].append(doc_id)
    pairs = set()
    for ids in members.values():
        for a, b in itertools.combinations(sorted(set(ids)), 2):
            pairs.add((a, b))
    return pairs


def closure_pairs(pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Every pair inside the connected components of the given pairs (a star a-b, a-c also gives b-c)."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        parent[root(a)] = root(b)
    return cluster_pairs((x, root(x)) for x in parent)


def load_truth(stems: list[Path]) -> dict[tuple[str, str], float]:
    truth = {}
    for stem in stems:
        with stem.with_name(stem.name + ".pairs.tsv").open(encoding="utf-8") as handle:
            next(handle)
            for line in handle:
                a, b, _fam, _det, jac = line.rstrip("\n").split("\t")
                truth[(a, b)] = float(jac)
    return truth


def exact_group_pairs(stem: Path) -> set[tuple[str, str]]:
    """The planted exact-duplicate pairs (families `x…`: byte-identical, whitespace or case copies)."""
    with stem.with_name(stem.name + ".pairs.tsv").open(encoding="utf-8") as handle:
        next(handle)
        rows = (line.split("\t") for line in handle)
        return {(a, b) for a, b, family, *_ in rows if family.startswith("x")}


def exact_jaccards(pairs: set[tuple[str, str]], corpora: list[Path]) -> dict[tuple[str, str], float]:
    """Exact shingle Jaccard of the given pairs, reading only the texts they need from the corpora."""
    need = {i for pair in pairs for i in pair}
    sets: dict[str, frozenset] = {}
    for path in corpora:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                doc_id = line[8 : line.index('"', 8)]
                if doc_id in need:
                    sets[doc_id] = shingles(json.loads(line)["text"])
    return {(a, b): jaccard(sets.get(a, frozenset()), sets.get(b, frozenset())) for a, b in pairs}


def precision_recall(
    predicted: set[tuple[str, str]], truth: dict[tuple[str, str], float], extra: dict[tuple[str, str], float]
) -> dict:
    """Pair precision/recall at THRESHOLD.

    truth: planted pairs -> exact Jaccard; extra: exact Jaccard of predicted pairs outside the truth.
    A predicted pair is correct if its Jaccard ≥ THRESHOLD; the relevant pairs are the planted ones at
    or above it plus the correct predicted pairs that were not planted.
    """
    jac = {pair: truth[pair] if pair in truth else extra[pair] for pair in predicted}
    correct = sum(1 for j in jac.values() if j >= THRESHOLD)
    relevant = {p for p, j in truth.items() if j >= THRESHOLD} | {p for p, j in jac.items() if j >= THRESHOLD}
    found = sum(1 for p in relevant if p in jac)
    return {
        "predicted": len(predicted),
        "correct": correct,
        "relevant": len(relevant),
        "found": found,
        "precision": correct / len(predicted) if predicted else None,
        "recall": found / len(relevant) if relevant else None,
    }


def score(predicted: set[tuple[str, str]], truth: dict, corpora: list[Path]) -> dict:
    extra = exact_jaccards({p for p in predicted if p not in truth}, corpora)
    return precision_recall(predicted, truth, extra)


def labels(stems: list[Path]) -> dict[str, tuple[str, str]]:
    out = {}
    for stem in stems:
        with stem.with_name(stem.name + ".labels.tsv").open(encoding="utf-8") as handle:
            next(handle)
            for line in handle:
                doc_id, kind, detail, _ = line.rstrip("\n").split("\t")
                out[doc_id] = (kind, detail)
    return out


def heuristic_score(dropped: set[str], lab: dict[str, tuple[str, str]]) -> dict:
    """How the dropped set matches the planted bad documents (a sanity check, not a target)."""
    bad = {i for i, (k, _) in lab.items() if k == "bad"}
    return {
        "dropped": len(dropped),
        "bad_dropped": len(bad & dropped),
        "bad": len(bad),
        "good_dropped": len(dropped - bad),
    }


# -- Refinery ------------------------------------------------------------------------------------------
def land_worker(home: Path) -> None:
    from ingestion.sync import sync_source
    from refinery.config import load_config

    start = time.perf_counter()
    result = sync_source(load_config(home / "refinery.yml", home=home), "bench", say=lambda _: None)
    if result.status != "succeeded":
        raise SystemExit(f"refinery sync failed: {result.error}")
    counts = result.streams["documents"]
    print(
        json.dumps({"seconds": time.perf_counter() - start, "landed": counts.landed, "quarantined": counts.quarantined})
    )


def refinery_env(home: Path, memory_limit: str | None) -> dict:
    env = {
        **os.environ,
        "REFINERY_HOME": str(home),
        "PYTHONPATH": str(ROOT),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    }
    if memory_limit:
        env["REFINERY_DUCKDB_MEMORY_LIMIT"] = memory_limit
    return env


def group_of(name: str) -> str:
    for group, pattern in GROUPS:
        if pattern.search(name):
            return group
    return "other"


def dbt_timings(home: Path) -> dict:
    run_results = json.loads((home / "target" / "run_results.json").read_text())
    results = run_results["results"]
    models, groups = {}, defaultdict(float)
    for r in results:
        kind, _, name = r["unique_id"].split(".", 2)
        name = name.split(".")[-1]
        if kind == "model":
            models[name] = r["execution_time"]
            groups[group_of(name)] += r["execution_time"]
        else:
            groups["tests"] += r["execution_time"]
        if r["status"] not in ("success", "pass", "warn"):
            raise RuntimeError(f"dbt {r['unique_id']}: {r['status']} {r.get('message')}")
    return {"models": models, "groups": dict(groups), "elapsed_s": run_results["elapsed_time"]}


def dbt_build(home: Path, args, log: Path) -> dict:
    cmd = [
        str(ROOT / ".venv" / "bin" / "dbt"),
        "build",
        "--select",
        args.select,
        "--indirect-selection",
        "cautious",
        "--threads",
        "2",
        "--project-dir",
        str(args.dbt_project),
        "--profiles-dir",
        str(args.dbt_project),
        "--target-path",
        str(home / "target"),
        "--log-path",
        str(home / "logs"),
    ]
    run = measure(cmd, refinery_env(home, args.memory_limit), log)
    run.update(dbt_timings(home))
    run["overhead_s"] = run["wall_s"] - run["elapsed_s"]  # dbt start-up and parsing
    return run


def refinery_outputs(home: Path) -> tuple[dict, set, set, set]:
    """(near pairs -> Refinery's jaccard, exact pairs, cluster pairs, flagged ids), by source key.

    Exact pairs: documents sharing `content_hash` in `int_documents_normalized` (what exact dedup matches).

    Near pairs: the intermediate table whose name ends in `near_pairs` (`document_id_a`, `document_id_b`);
    clusters: `marts.document_duplicates` (`source_key`, `cluster_id`); flagged: documents with a failed
    quality rule (`failed_quality_rules` of the screening model; a check against the planted bad
    documents, not a target).
    """
    import duckdb

    con = duckdb.connect(str(home / "warehouse" / "refinery.duckdb"), read_only=True)
    try:
        columns: dict[str, set[str]] = defaultdict(set)
        for schema, table, column in con.execute(
            "select table_schema, table_name, column_name from information_schema.columns"
        ).fetchall():
            columns[f"{schema}.{table}"].add(column)
        normalized = "intermediate.int_documents_normalized"
        near, exact, clusters, dropped = {}, set(), set(), set()
        for table in sorted(columns):
            if table.startswith("intermediate.") and table.endswith("near_pairs"):
                jaccard_column = "p.jaccard" if "jaccard" in columns[table] else "null"
                rows = con.execute(
                    f"""select a.source_key, b.source_key, {jaccard_column} from {table} as p
                        join {normalized} as a on a.document_id = p.document_id_a
                        join {normalized} as b on b.document_id = p.document_id_b"""
                ).fetchall()
                near = {(min(a, b), max(a, b)): jac for a, b, jac in rows}
            if (
                table.startswith("intermediate.")
                and "failed_quality_rules" in columns[table]
                and "source_key" in columns[table]
            ):
                dropped = {
                    key
                    for (key,) in con.execute(
                        f"select source_key from {table} where len(failed_quality_rules) > 0"
                    ).fetchall()
                }
        if "content_hash" in columns.get(normalized, set()):
            rows = con.execute(
                f"""select source_key, content_hash from {normalized}
                    qualify count(*) over (partition by content_hash) > 1"""
            ).fetchall()
            exact = cluster_pairs(rows)
        if "marts.document_duplicates" in columns:
            rows = con.execute("select source_key, cluster_id from marts.document_duplicates").fetchall()
            clusters = cluster_pairs(rows)
        return near, exact, clusters, dropped
    finally:
        con.close()


def run_refinery(stem: Path, args, workdir: Path, last: bool) -> dict:
    home = Path(tempfile.mkdtemp(prefix="refinery-", dir=workdir))
    try:
        (home / "input").mkdir()
        (home / "warehouse").mkdir()
        (home / "input" / "part-000.jsonl").symlink_to(stem.with_name(stem.name + ".jsonl"))
        (home / "refinery.yml").write_text(
            json.dumps(
                {
                    "sources": {
                        "bench": {
                            "kind": "files",
                            "path": str(home / "input" / "*.jsonl"),
                            "stream": "documents",
                            "primary_key": "id",
                            "text_field": "text",
                        }
                    }
                }
            )
        )
        env = refinery_env(home, args.memory_limit)
        land = measure([sys.executable, __file__, "--land-worker", str(home)], env, home / "land.log")
        land.update(json.loads((home / "land.log").read_text().strip().splitlines()[-1]))
        build = dbt_build(home, args, home / "dbt.log")
        near, exact, clusters, dropped = refinery_outputs(home)
        result = {
            "landing": land,
            "build": build,
            "near": near,
            "exact": exact,
            "clusters": clusters,
            "dropped": dropped,
        }
        if last and args.increment > 0:
            inc = stem.with_name(stem.name + f".inc{args.increment}")
            if not inc.with_name(inc.name + ".jsonl").exists():
                generate_increment(inc, stem, args.increment)
            (home / "input" / "part-001.jsonl").symlink_to(inc.with_name(inc.name + ".jsonl"))
            inc_land = measure([sys.executable, __file__, "--land-worker", str(home)], env, home / "land2.log")
            inc_land.update(json.loads((home / "land2.log").read_text().strip().splitlines()[-1]))
            inc_build = dbt_build(home, args, home / "dbt2.log")
            near2, exact2, clusters2, _ = refinery_outputs(home)
            result["increment"] = {
                "stem": str(inc),
                "landing": inc_land,
                "build": inc_build,
                "near": near2,
                "exact": exact2,
                "clusters": clusters2,
            }
        return result
    finally:
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)


# -- competitors ------------------------------------------------------------------------------------
def shards_for(stem: Path) -> Path:
    """The corpus split into two JSONL files (datatrove parallelizes by file)."""
    folder = stem.with_name(stem.name + ".shards")
    if not (folder / "part-1.jsonl").exists():
        folder.mkdir(exist_ok=True)
        half = (corpus_stats(stem)["docs"] + 1) // 2
        with (
            stem.with_name(stem.name + ".jsonl").open("rb") as src,
            (folder / "part-0.jsonl").open("wb") as first,
            (folder / "part-1.jsonl").open("wb") as second,
        ):
            for n, line in enumerate(src):
                (first if n < half else second).write(line)
    return folder


def run_competitor(method: str, stem: Path, workdir: Path, keep: bool) -> dict:
    out = Path(tempfile.mkdtemp(prefix=f"{method}-", dir=workdir))
    try:
        cmd = [
            str(BENCH_PYTHON),
            str(ROOT / "bench" / "cleaning_competitors.py"),
            method,
            "--input",
            str(stem.with_name(stem.name + ".jsonl")),
            "--shards",
            str(shards_for(stem)),
            "--out",
            str(out / "run"),
        ]
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "DO_NOT_TRACK": "1",
            "HF_HOME": str(out / "hf-home"),
            "PYTHONPATH": "",
        }
        run = measure(cmd, env, out / "log.txt")
        run.update(json.loads((out / "run" / "result.json").read_text()))
        run["pairs"] = read_pairs_tsv(out / "run" / "pairs.tsv")
        clusters_file = out / "run" / "clusters.tsv"
        if clusters_file.exists():
            rows = [line.rstrip("\n").split("\t") for line in clusters_file.open(encoding="utf-8")]
            run["clusters"] = cluster_pairs(rows)
        dropped_file = out / "run" / "dropped.tsv"
        run["dropped"] = (
            {line.split("\t")[0] for line in dropped_file.open(encoding="utf-8")} if dropped_file.exists() else set()
        )
        return run
    finally:
        if not keep:
            shutil.rmtree(out, ignore_errors=True)


# -- summary and report ----------------------------------------------------------------------------
def corpus_stats(stem: Path) -> dict:
    return json.loads(stem.with_name(stem.name + ".stats.json").read_text())


def work_seconds(method: str, run: dict, stages: list[str] | None) -> float | None:
    if method == "refinery":
        groups = run["build"]["groups"]
        present = [s for s in stages if s in groups]
        return sum(groups[s] for s in present) if present else None
    if stages is None:
        return sum(run["stages"].values())
    return sum(run["stages"][s] for s in stages if s in run["stages"]) or None


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(results: dict[str, list[dict]], stems: dict[str, Path]) -> dict:
    """Medians per method and per work, plus quality scores from the last run of each method."""
    summary = {}
    for method, runs in results.items():
        stem = stems[method]
        stats = corpus_stats(stem)
        mb = stats["text_bytes"] / 1e6
        truth = load_truth([stem])
        corpora = [stem.with_name(stem.name + ".jsonl")]
        last = runs[-1]
        s = {"docs": stats["docs"], "mb": mb, "runs": len(runs)}
        if method == "refinery":
            s["landing_s"] = med([r["landing"]["wall_s"] for r in runs])
            s["wall_s"] = med([r["build"]["wall_s"] for r in runs])
            s["all_wall_s"] = [round(r["build"]["wall_s"], 1) for r in runs]
            s["overhead_s"] = med([r["build"]["overhead_s"] for r in runs])
            s["cpu_s"] = med([r["build"]["cpu_s"] for r in runs])
            s["max_rss_mb"] = max(r["build"]["max_rss_mb"] for r in runs)
            s["tree_rss_mb"] = max(r["build"]["tree_rss_mb"] for r in runs)
            s["groups"] = {g: med([r["build"]["groups"].get(g) for r in runs]) for g in last["build"]["groups"]}
            s["models"] = {m: med([r["build"]["models"].get(m) for r in runs]) for m in last["build"]["models"]}
            if last["near"] or last["exact"]:
                # Direct pairs: the verified near pairs plus the exact (same content hash) pairs.
                s["near_pairs"] = score(set(last["near"]) | last["exact"], truth, corpora)
                diffs = [abs(j - truth[p]) for p, j in last["near"].items() if j is not None and p in truth]
                if diffs:  # Refinery's own jaccard column against the exact one (same shingle definition?)
                    s["jaccard_diff"] = {"pairs": len(diffs), "max": max(diffs), "mean": sum(diffs) / len(diffs)}
            if last["clusters"]:
                s["cluster_pairs"] = score(last["clusters"], truth, corpora)
            if last["dropped"]:
                s["heuristic_check"] = heuristic_score(last["dropped"], labels([stem]))
            if "increment" in last:
                s["increment"] = increment_summary(last, stem)
        else:
            s["wall_s"] = med([r["wall_s"] for r in runs])
            s["all_wall_s"] = [round(r["wall_s"], 1) for r in runs]
            s["cpu_s"] = med([r["cpu_s"] for r in runs])
            s["max_rss_mb"] = max(r["max_rss_mb"] for r in runs)
            s["tree_rss_mb"] = max(r["tree_rss_mb"] for r in runs)
            s["stages"] = {k: med([r["stages"].get(k) for r in runs]) for k in last["stages"]}
            if method in ("datatrove_minhash", "datasketch", "seed_pipeline", "hf_datasets"):
                s["direct_pairs"] = score(last["pairs"], truth, corpora)
            if method in ("seed_pipeline", "hf_datasets"):
                planted = exact_group_pairs(stem)
                grouped = closure_pairs(last["pairs"])  # a kept first copy and its duplicates form a group
                s["exact_recall"] = {"found": len(planted & grouped), "planted": len(planted)}
            if last.get("clusters"):
                s["cluster_pairs"] = score(last["clusters"], truth, corpora)
            if last.get("dropped") and method in ("datatrove_filters", "hf_datasets"):
                s["heuristic_check"] = heuristic_score(last["dropped"], labels([stem]))
        s["work"] = {}
        for work, methods in WORK.items():
            if method in methods:
                secs = med([work_seconds(method, r, methods[method]) for r in runs])
                if secs:
                    s["work"][work] = {"seconds": secs, "mb_per_s": mb / secs, "docs_per_s": stats["docs"] / secs}
        summary[method] = s
    return summary


def increment_summary(last: dict, stem: Path) -> dict:
    inc = last["increment"]
    inc_stem = Path(inc["stem"])
    truth = load_truth([inc_stem])
    wanted = {p for p, j in truth.items() if j >= THRESHOLD}
    found = inc["clusters"] | set(inc["near"]) | inc["exact"]
    full, again = last["build"], inc["build"]
    near_groups = ("near dedup",)
    return {
        "docs": corpus_stats(stem)["docs"],
        "new_docs": sum(1 for _ in inc_stem.with_name(inc_stem.name + ".jsonl").open()),
        "landing_s": inc["landing"]["wall_s"],
        "build_s": again["wall_s"],
        "overhead_s": again["overhead_s"],
        "full_build_s": full["wall_s"],
        "fraction_wall": again["wall_s"] / full["wall_s"],
        "fraction_models": sum(again["models"].values()) / max(sum(full["models"].values()), 1e-9),
        "fraction_near": (
            sum(again["groups"].get(g, 0) for g in near_groups)
            / max(sum(full["groups"].get(g, 0) for g in near_groups), 1e-9)
        ),
        "new_pairs_ge_075": len(wanted),
        "new_pairs_found": len(wanted & found),
    }


def fmt(x, spec=".2f", none="–"):
    return none if x is None else format(x, spec)


def pr_text(pr: dict | None) -> str:
    if not pr:
        return "–"
    return f"P {fmt(pr['precision'], '.3f')} / R {fmt(pr['recall'], '.3f')} ({pr['predicted']:,} pairs)"


def table(summary: dict) -> str:
    lines = [
        "| method | corpus | runs | wall s (median; all) | CPU s | MB/s end to end | docs/s | peak RSS "
        "MB (1 proc / tree) | near-dup pairs (direct) | near-dup pairs (in clusters) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for method, s in summary.items():
        runs = ", ".join(f"{x:.1f}" for x in s["all_wall_s"])
        name = f"`{method}` (dbt build)" if method == "refinery" else f"`{method}`"
        pairs = s.get("near_pairs") or s.get("direct_pairs")
        lines.append(
            f"| {name} | {s['docs']:,} docs, {s['mb']:.0f} MB | {s['runs']} | {s['wall_s']:.1f} ({runs}) "
            f"| {s['cpu_s']:.1f} | "
            f"{s['mb'] / s['wall_s']:.2f} | {s['docs'] / s['wall_s']:,.0f} | {s['max_rss_mb']:,.0f} / "
            f"{s['tree_rss_mb']:,.0f} | "
            f"{pr_text(pairs)} | {pr_text(s.get('cluster_pairs'))} |"
        )
    return "\n".join(lines)


def work_table(summary: dict) -> str:
    lines = ["| work | method | seconds (median) | MB/s | docs/s | Refinery's speed-up |", "|---|---|---|---|---|---|"]
    for work in WORK:
        ref = summary.get("refinery", {}).get("work", {}).get(work)
        for method, s in summary.items():
            w = s.get("work", {}).get(work)
            if not w:
                continue
            ratio = "" if method == "refinery" or not ref else f"{ref['mb_per_s'] / w['mb_per_s']:.1f}×"
            lines.append(
                f"| {work} | `{method}` | {w['seconds']:.1f} | {w['mb_per_s']:.2f} | {w['docs_per_s']:,.0f} | {ratio} |"
            )
    return "\n".join(lines)


def targets(summary: dict, memory_limit: str | None) -> list[str]:
    ref = summary.get("refinery")
    if not ref:
        return ["Refinery not measured in this run."]
    out = []

    def verdict(ok: bool | None) -> str:
        return "not measured" if ok is None else ("met" if ok else "**missed**")

    def alone(group: str) -> str:
        secs = ref["groups"].get(group)
        return f"{fmt(secs and ref['mb'] / secs)} MB/s for its models alone"

    heur = ref["work"].get("heuristics")
    out.append(
        f"- heuristics ≥ 20 MB/s: {verdict(heur and heur['mb_per_s'] >= 20)} "
        f"({fmt(heur and heur['mb_per_s'])} MB/s with normalization, {alone('heuristics')})"
    )
    near = ref["work"].get("near dedup")
    pr = ref.get("near_pairs") or ref.get("cluster_pairs")  # the pairs it matched (verified near + exact)
    out.append(
        f"- near-dedup ≥ 10 MB/s: {verdict(near and near['mb_per_s'] >= 10)} "
        f"({fmt(near and near['mb_per_s'])} MB/s with normalization, {alone('near dedup')}); "
        f"precision ≥ 0.99: {verdict(pr and pr['precision'] is not None and pr['precision'] >= 0.99)} "
        f"({fmt(pr and pr['precision'], '.3f')}); recall ≥ 0.95: "
        f"{verdict(pr and pr['recall'] is not None and pr['recall'] >= 0.95)} ({fmt(pr and pr['recall'], '.3f')})"
    )
    for work, other in (("heuristics", "datatrove_filters"), ("near dedup", "datatrove_minhash")):
        a, b = ref["work"].get(work), summary.get(other, {}).get("work", {}).get(work)
        ratio = a["mb_per_s"] / b["mb_per_s"] if a and b else None
        out.append(
            f"- ≥ 10× datatrove ({work}): {verdict(None if ratio is None else ratio >= 10)} ({fmt(ratio, '.1f')}×)"
        )
    if memory_limit:
        out.append(
            f"- completes under a {memory_limit} DuckDB memory limit: met (dbt build succeeded; "
            f"peak RSS {ref['max_rss_mb']:,.0f} MB)"
        )
    inc = ref.get("increment")
    if inc:
        out.append(
            f"- 1% increment ≤ 5% of a full run: {verdict(inc['fraction_wall'] <= 0.05)} "
            f"({inc['fraction_wall']:.1%} of the dbt build's wall time; {inc['fraction_models']:.1%} of "
            f"summed model time)"
        )
    return out


def refinery_detail(s: dict) -> str:
    lines = [
        f"Landing ({s['docs']:,} documents, `sync_source`): {s['landing_s']:.1f} s (not part of the build times). "
        f"dbt start-up and parsing (wall − run_results `elapsed_time`): {s['overhead_s']:.1f} s of the "
        f"build's wall time.",
        "",
    ]
    lines.append("| group | model seconds (median, summed over its models) | MB/s |")
    lines.append("|---|---|---|")
    for group, secs in sorted(s["groups"].items(), key=lambda kv: -(kv[1] or 0)):
        lines.append(f"| {group} | {fmt(secs, '.1f')} | {fmt(secs and s['mb'] / secs, '.1f')} |")
    lines += [
        "",
        "Models (median s): "
        + ", ".join(f"`{m}` {t:.1f}" for m, t in sorted(s["models"].items(), key=lambda kv: -kv[1])),
    ]
    inc = s.get("increment")
    if inc:
        lines += [
            "",
            f"Increment: {inc['new_docs']:,} new documents on top of {inc['docs']:,} — landing "
            f"{inc['landing_s']:.1f} s, "
            f"`dbt build` {inc['build_s']:.1f} s = {inc['fraction_wall']:.1%} of the full build's "
            f"{inc['full_build_s']:.1f} s "
            f"({inc['overhead_s']:.1f} s of it dbt start-up and parsing; summed model time "
            f"{inc['fraction_models']:.1%}; "
            f"near-dedup models {inc['fraction_near']:.1%}); "
            f"planted new pairs with Jaccard ≥ 0.75 found: {inc['new_pairs_found']} of {inc['new_pairs_ge_075']}.",
        ]
    if s.get("jaccard_diff"):
        d = s["jaccard_diff"]
        lines += [
            "",
            f"Refinery's `jaccard` column against the exact Jaccard of the same pairs ({d['pairs']:,} planted pairs): "
            f"mean absolute difference {d['mean']:.4f}, largest {d['max']:.4f}.",
        ]
    if s.get("heuristic_check"):
        h = s["heuristic_check"]
        lines += [
            "",
            f"Heuristics check: {h['dropped']:,} documents fail a quality rule; planted bad documents among them "
            f"{h['bad_dropped']:,} of {h['bad']:,}; "
            f"other documents {h['good_dropped']:,}.",
        ]
    return "\n".join(lines)


def run_text(summary: dict, args, loads: tuple[float, float], commit: str, note: str = "") -> str:
    parts = [
        f"### {args.docs:,}-document run",
        "",
        f"Commit {commit}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; `{' '.join(sys.argv[1:])}`; 1-minute load average "
        f"{loads[0]:.1f} at the start, {loads[1]:.1f} at the end; DuckDB memory limit: "
        f"{args.memory_limit or 'default (80% of RAM)'}; "
        f"dbt selector `{args.select}`.",
        *([note] if note else []),
        "",
        table(summary),
        "",
        "Same work, side by side (Refinery: summed execution time of the normalization model plus the models of the "
        "group, from run_results.json; competitors: their own timing of that stage, no interpreter start-up):",
        "",
        work_table(summary),
        "",
        "Targets:",
        "",
        *targets(summary, args.memory_limit),
    ]
    if "refinery" in summary:
        parts += ["", refinery_detail(summary["refinery"])]
    for method in ("seed_pipeline", "hf_datasets"):
        e = summary.get(method, {}).get("exact_recall")
        if e:
            parts += [
                "",
                f"`{method}` exact dedup: {e['found']:,} of the {e['planted']:,} planted exact-duplicate pairs "
                "(byte-identical, whitespace and case copies) fall in one of its duplicate groups.",
            ]
    for method in ("datatrove_filters", "hf_datasets"):
        h = summary.get(method, {}).get("heuristic_check")
        if h:
            parts += [
                "",
                f"`{method}` dropped {h['dropped']:,}: {h['bad_dropped']:,} of {h['bad']:,} planted bad documents, "
                f"{h['good_dropped']:,} good ones.",
            ]
    return "\n".join(parts) + "\n"


def section_head() -> str:
    return f"""## {SECTION}

Produced by `make bench BENCH=cleaning` (`bench/cleaning.py`; how to re-run: bench/README.md). Refinery's
cleaning models (`dbt build` on DuckDB) against the seed document's Python `IngestionPipeline`, Hugging
Face `datasets`, datatrove's filters and MinHash pipeline and datasketch's `MinHashLSH`, on the same
generated corpus on the machine above. Competitors run from `.venv-bench`
(`bench/requirements-competitors.txt`).

**Corpus** (`bench/cleaning_corpus.py`, seed {SEED}): ~3 KB English-like documents (Zipf over a 30,000-word
vocabulary with real English at its head, sentences, paragraphs, some bullet lists); planted: 8% of
generation units bad documents built to fail one Gopher/C4/FineWeb rule each, 4% exact-duplicate groups
(byte-identical, whitespace or case variants), 5% near-duplicate families (word substitutions,
insertions and deletions at 0.5–30% of words). The truth is every pair inside a family with its exact
Jaccard over word 5-grams (words: lower-cased, non-letters/digits to spaces).

**Method**: each method in its own subprocess; wall and CPU (user + system incl. child processes) from
`os.wait4` and /proc; peak RSS as the largest single process's `VmHWM` and as the sampled sum over the
process tree. MB = 10^6 bytes of document text. Near-duplicate pairs: a predicted pair is correct if its exact
Jaccard ≥ 0.75; recall over planted pairs ≥ 0.75 (plus correct unplanted ones). "Direct" pairs are those a
method matched itself (a shared LSH band, a shared hash); "in clusters" = every pair inside an output
cluster (transitive). datatrove is measured on the first 4,000 documents of the same corpus (`--datatrove-docs`;
the same documents, generation is a prefix; its cost is per document, ~0.05–0.2 MB/s here, so the full
corpus would take hours): its row says so in the corpus column, and its MB/s is compared as is.
datatrove and datasketch run once (`--slow-runs`), the others `--runs` times.

**Refinery's times**: the corpus is first landed with `ingestion.sync.sync_source` (reported apart), then
`dbt build --select +tag:cleaning --indirect-selection cautious --threads 2` runs in a fresh warehouse.
The table's wall time is that whole command (dbt start-up and parsing and the data tests included); the
per-group times are the models' `execution_time` from `target/run_results.json`, summed per group
(models named `*normalized*` = normalization, `*quality*`/`*repetition*`/`*screened*` = heuristics,
`*minhash*`/`*near*`/`*cluster*`/`document_duplicates` = near dedup, …: `GROUPS` in the script). In the
side-by-side table Refinery's heuristics and dedup times also include the normalization model, which
they read, so the comparison with tools that start from raw text is conservative.
"""


def write_doc(path: Path, body: str, docs: int) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from landing import machine_section, replace_section

    text = path.read_text() if path.exists() else "# Benchmarks\n"
    text = replace_section(text, "Machine", machine_section())
    pattern = re.compile(rf"^## {re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    match = pattern.search(text)
    runs: dict[str, str] = {}
    if match:
        for block in re.split(r"(?=^### )", match.group(0), flags=re.M)[1:]:
            head = block.splitlines()[0]
            runs[head] = block.rstrip() + "\n"
    head = body.splitlines()[0]
    runs[head] = body
    # Runs by corpus size; hand-written `### ` blocks without a number (notes) are kept, last.
    ordered = sorted(runs.items(), key=lambda kv: int(re.sub(r"\D", "", kv[0]) or 10**12))
    section = section_head() + "\n" + "\n".join(block for _, block in ordered)
    text = replace_section(text, SECTION, section)
    path.write_text(text.rstrip() + "\n")


def git_commit() -> str:
    out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "dbt_project", "bench"], capture_output=True, text=True
    )
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3, help="runs per method")
    parser.add_argument("--slow-runs", type=int, default=1, help="runs of datatrove and datasketch (at most --runs)")
    parser.add_argument("--quick", action="store_true", help="5,000 documents, 1 run, datatrove on 1,000")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--datatrove-docs", type=int, default=4_000, help="datatrove's corpus: the first N documents")
    parser.add_argument(
        "--increment", type=float, default=0.01, help="fraction appended after the last Refinery run (0: skip)"
    )
    parser.add_argument("--memory-limit", help="REFINERY_DUCKDB_MEMORY_LIMIT for dbt, e.g. 4GB")
    parser.add_argument("--select", default=DEFAULT_SELECT, help="dbt selector of the cleaning models")
    parser.add_argument("--dbt-project", type=Path, default=ROOT / "dbt_project", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "refinery-bench")
    parser.add_argument("--keep", action="store_true", help="keep each run's folder (REFINERY_HOME, outputs)")
    parser.add_argument("--write-doc", type=Path, help="update the section of this file (docs/BENCHMARKS.md)")
    parser.add_argument("--json", type=Path, help="also write the summary as JSON here")
    parser.add_argument(
        "--reuse", type=Path, help="a --json of an earlier run on the same corpus: report its other methods"
    )
    parser.add_argument("--land-worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.land_worker:
        land_worker(args.land_worker)
        return
    if args.quick:
        args.docs, args.runs, args.datatrove_docs = 5_000, 1, 1_000
    args.slow_runs = min(args.slow_runs, args.runs)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise SystemExit(f"unknown methods {sorted(unknown)}; choose from {METHODS}")
    if set(methods) - {"refinery"} and not BENCH_PYTHON.exists():
        raise SystemExit(f"{BENCH_PYTHON} missing: run `make bench-venv` (competitors need their own venv)")
    args.workdir.mkdir(parents=True, exist_ok=True)

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    stem = ensure_corpus(args.workdir, args.docs, args.seed, say)
    dt_docs = min(args.docs, args.datatrove_docs)
    stems = {m: (ensure_corpus(args.workdir, dt_docs, args.seed, say) if m in DATATROVE else stem) for m in methods}
    stats = corpus_stats(stem)
    say(
        f"corpus {stem}: {stats['docs']:,} docs, {stats['text_bytes'] / 1e6:.1f} MB text, "
        f"{stats['pairs_ge_075']:,} planted pairs ≥ 0.75"
    )
    results: dict[str, list[dict]] = {m: [] for m in methods}
    loads = [os.getloadavg()[0]]
    for run in range(args.runs):
        for method in methods:
            if method in SLOW and run >= args.slow_runs:
                continue
            if method == "refinery":
                r = run_refinery(stem, args, args.workdir, last=run == args.runs - 1)
                say(
                    f"run {run + 1}/{args.runs} refinery: landing {r['landing']['wall_s']:.1f} s, "
                    f"dbt build {r['build']['wall_s']:.1f} s "
                    f"{dict((k, round(v, 1)) for k, v in r['build']['groups'].items())}"
                )
            else:
                r = run_competitor(method, stems[method], args.workdir, args.keep)
                say(
                    f"run {run + 1}/{args.runs} {method}: {r['wall_s']:.1f} s "
                    f"{dict((k, round(v, 1)) for k, v in r['stages'].items())}"
                )
            results[method].append(r)
    loads.append(os.getloadavg()[0])
    summary = summarize(results, stems)
    commit, when = git_commit(), f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    note = ""
    if args.reuse:  # rows of methods not run now, from an earlier --json of the same corpus
        old = json.loads(args.reuse.read_text())
        reused = [m for m in old["summary"] if m not in summary]
        merged = {**summary, **{m: old["summary"][m] for m in reused}}
        summary = {m: merged[m] for m in METHODS if m in merged}
        note = (
            f"Rows of {', '.join(f'`{m}`' for m in reused)} are from an earlier invocation on the same corpus "
            f"({old['when']}, commit {old['commit']}, load {old['loads'][0]:.1f}–{old['loads'][1]:.1f}: "
            f"`{old['argv']}`)."
        )
    body = run_text(summary, args, (loads[0], loads[1]), commit, note)
    print(body)
    if args.json:
        meta = {"when": when, "commit": commit, "loads": loads, "argv": " ".join(sys.argv[1:])}
        args.json.write_text(json.dumps({**meta, "summary": summary}, indent=1, default=str))
    if args.write_doc:
        write_doc(args.write_doc, body, args.docs)
        say(f"updated {args.write_doc}")


if __name__ == "__main__":
    main()
