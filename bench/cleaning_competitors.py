"""The competitors of the cleaning benchmark, one per subprocess, run with `.venv-bench/bin/python`.

    .venv-bench/bin/python bench/cleaning_competitors.py METHOD --input corpus.jsonl --shards DIR --out DIR

Each method reads the generated corpus, does its work and writes into `--out`:
`result.json` (its own stage timings and counts), and where it applies `pairs.tsv` (id_a, id_b: the
pairs it matched directly), `clusters.tsv` (id, cluster) and `dropped.tsv` (id, rule). The harness
(`bench/cleaning.py`) measures wall time, CPU time and peak RSS from outside and scores the files.

- `seed_pipeline`: the seed document's `IngestionPipeline` as written there: a `Document` dataclass
  whose `__post_init__` takes sha256(content)[:16], a set of seen hashes, a length validator
  (`len(content) > 50`) and a strip transformer, in a Python loop. The only addition: the first id of
  each hash is remembered, so its duplicate pairs can be scored.
- `hf_datasets`: Hugging Face `datasets` with caching disabled (`disable_caching()`, a fresh cache dir):
  `load_dataset("json")`, a batched `map` (num_proc=2) computing every rule of `cleaning_rules.rule_failures`
  plus sha256 of the lower-cased, whitespace-collapsed text, `filter` on no failures, exact dedup by
  keeping the first index of each hash (`filter` with indices).
- `datatrove_filters`: datatrove's `GopherRepetitionFilter`, `GopherQualityFilter`, `C4QualityFilter`,
  `FineWebQualityFilter` (defaults; spaCy's blank English tokenizer, bundled — nothing downloaded) in one
  `LocalPipelineExecutor` pipeline over the 2 shards, 2 tasks on 2 workers, each with an exclusion writer.
- `datatrove_minhash`: datatrove's four MinHash stages (signatures, buckets, clusters, filter) with
  `MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8)`, 2 tasks for stages 1 and 4, 14 for
  stage 2, on 2 workers; pairs from the `.dups` files, clusters from `load_cluster_ids`.
- `datasketch`: `MinHashLSH(num_perm=112, params=(14, 8))` over `cleaning_rules.shingles` (the truth's
  shingles), `MinHash.update_batch`; each document queries the index, then is inserted: every colliding
  pair once. One process (datasketch has no parallel mode).
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cleaning_rules import rule_failures, shingles

METHODS = ("seed_pipeline", "hf_datasets", "datatrove_filters", "datatrove_minhash", "datasketch")
NUM_PERM, BANDS, ROWS = 112, 14, 8


def write_tsv(path: Path, rows) -> int:
    n = 0
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write("\t".join(map(str, row)) + "\n")
            n += 1
    return n


# -- seed document's pattern -----------------------------------------------------------------------
def run_seed_pipeline(args) -> dict:
    import hashlib
    import logging
    from collections.abc import Iterator
    from dataclasses import dataclass, field

    @dataclass
    class Document:
        source: str
        content: str
        metadata: dict = field(default_factory=dict)
        content_hash: str = ""

        def __post_init__(self):
            self.content_hash = hashlib.sha256(self.content.encode()).hexdigest()[:16]

    class IngestionPipeline:
        def __init__(self, validators=None, transformers=None):
            self.validators = validators or []
            self.transformers = transformers or []
            self.seen_hashes: dict = {}  # the seed's set, keeping the first id for scoring
            self.duplicate_pairs: list = []
            self.dropped: list = []
            self.stats = {"processed": 0, "dropped": 0, "duplicates": 0, "errors": 0}

        def run(self, documents: Iterator[dict]) -> Iterator[Document]:
            for raw in documents:
                try:
                    doc = Document(**raw)
                    if doc.content_hash in self.seen_hashes:
                        self.stats["duplicates"] += 1
                        self.duplicate_pairs.append((self.seen_hashes[doc.content_hash], doc.source))
                        continue
                    self.seen_hashes[doc.content_hash] = doc.source
                    if not all(v(doc) for v in self.validators):
                        self.stats["dropped"] += 1
                        self.dropped.append((doc.source, "length<=50"))
                        continue
                    for t in self.transformers:
                        doc = t(doc)
                    self.stats["processed"] += 1
                    yield doc
                except Exception as e:
                    logging.warning(f"Ingestion error on {raw.get('source', '?')}: {e}")
                    self.stats["errors"] += 1

    def records():
        with open(args.input, encoding="utf-8") as handle:
            for line in handle:
                data = json.loads(line)
                yield {"source": data["id"], "content": data["text"]}

    start = time.perf_counter()
    pipeline = IngestionPipeline(
        validators=[lambda d: len(d.content) > 50],
        transformers=[lambda d: Document(d.source, d.content.strip(), d.metadata)],
    )
    kept = sum(1 for _ in pipeline.run(records()))
    seconds = time.perf_counter() - start
    write_tsv(args.out / "pairs.tsv", pipeline.duplicate_pairs)
    write_tsv(args.out / "dropped.tsv", pipeline.dropped)
    return {"stages": {"exact_dedup+length_filter": seconds}, "kept": kept, "stats": pipeline.stats}


# -- Hugging Face datasets ------------------------------------------------------------------------------
def _signals(batch: dict) -> dict:
    import hashlib

    failed, hashes = [], []
    for text in batch["text"]:
        failed.append(rule_failures(text))
        hashes.append(hashlib.sha256(" ".join(text.lower().split()).encode()).hexdigest())
    return {"failed": failed, "hash": hashes}


def run_hf_datasets(args) -> dict:
    import datasets

    datasets.disable_caching()
    datasets.utils.logging.disable_progress_bar()
    stages = {}
    start = time.perf_counter()
    ds = datasets.load_dataset("json", data_files=str(args.input), split="train", cache_dir=str(args.out / "hf-cache"))
    stages["load"] = time.perf_counter() - start
    t = time.perf_counter()
    ds = ds.map(_signals, batched=True, batch_size=1000, num_proc=2)
    good = ds.filter(lambda failed: len(failed) == 0, input_columns="failed", batched=False, num_proc=2)
    stages["heuristics"] = time.perf_counter() - t
    t = time.perf_counter()
    first: dict[str, str] = {}
    keep: set[int] = set()
    pairs = []
    for index, (doc_id, digest) in enumerate(zip(ds["id"], ds["hash"], strict=True)):
        if digest in first:
            pairs.append((first[digest], doc_id))
        else:
            first[digest] = doc_id
            keep.add(index)
    deduped = ds.filter(lambda _, idx: idx in keep, with_indices=True, input_columns="id")
    stages["exact_dedup"] = time.perf_counter() - t
    dropped = [(i, f[0]) for i, f in zip(ds["id"], ds["failed"], strict=True) if f]
    write_tsv(args.out / "pairs.tsv", pairs)
    write_tsv(args.out / "dropped.tsv", dropped)
    return {"stages": stages, "kept_heuristics": len(good), "kept_dedup": len(deduped)}


# -- datatrove ------------------------------------------------------------------------------------------
def _executor(pipeline, tasks: int, logs: Path, workers: int = 2):
    from datatrove.executor import LocalPipelineExecutor

    return LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=workers, logging_dir=str(logs))


def run_datatrove_filters(args) -> dict:
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    out = args.out

    def excluded(name: str):
        return JsonlWriter(str(out / "excluded" / name), compression=None)

    pipeline = [
        JsonlReader(str(args.shards), glob_pattern="*.jsonl"),
        GopherRepetitionFilter(exclusion_writer=excluded("gopher_repetition")),
        GopherQualityFilter(exclusion_writer=excluded("gopher_quality")),
        C4QualityFilter(exclusion_writer=excluded("c4")),
        FineWebQualityFilter(exclusion_writer=excluded("fineweb")),
        JsonlWriter(str(out / "kept"), compression=None),
    ]
    start = time.perf_counter()
    _executor(pipeline, 2, out / "logs").run()
    seconds = time.perf_counter() - start
    dropped = []
    for path in sorted((out / "excluded").rglob("*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                doc = json.loads(line)
                dropped.append((doc["id"], f"{path.parent.name}:{doc['metadata'].get('filter_reason', '')}"))
    write_tsv(out / "dropped.tsv", dropped)
    return {"stages": {"heuristics": seconds}, "dropped": len(dropped)}


def run_datatrove_minhash(args) -> dict:
    from datatrove.pipeline.dedup import MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupBuckets
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    out = args.out
    config = MinhashConfig(n_grams=5, num_buckets=BANDS, hashes_per_bucket=ROWS)
    shards = sorted(Path(args.shards).glob("*.jsonl"))
    stages = {}

    def reader():
        return JsonlReader(str(args.shards), glob_pattern="*.jsonl")

    t = time.perf_counter()
    _executor([reader(), MinhashDedupSignature(str(out / "sigs"), config=config)], len(shards), out / "l1").run()
    stages["1_signatures"] = time.perf_counter() - t
    t = time.perf_counter()
    _executor([MinhashDedupBuckets(str(out / "sigs"), str(out / "buckets"), config=config)], BANDS, out / "l2").run()
    stages["2_buckets"] = time.perf_counter() - t
    t = time.perf_counter()
    cluster = MinhashDedupCluster(str(out / "buckets"), str(out / "remove"), config=config, save_cluster_id=True)
    _executor([cluster], 1, out / "l3", workers=1).run()
    stages["3_clusters"] = time.perf_counter() - t
    t = time.perf_counter()
    pipeline = [
        reader(),
        MinhashDedupFilter(
            str(out / "remove"),
            exclusion_writer=JsonlWriter(str(out / "removed"), compression=None),
            load_cluster_ids=True,
        ),
        JsonlWriter(str(out / "kept"), compression=None),
    ]
    _executor(pipeline, len(shards), out / "l4").run()
    stages["4_filter"] = time.perf_counter() - t

    # Scoring only (not timed): (rank, index in shard) -> id; rank r reads the r-th shard file in order.
    ids: dict[tuple[int, int], str] = {}
    for rank, shard in enumerate(shards):
        with shard.open(encoding="utf-8") as handle:
            for index, line in enumerate(handle):
                ids[(rank, index)] = line[8 : line.index('"', 8)]  # {"id": "<id>", ...
    pairs = set()
    for dups in (out / "buckets").glob("*.dups"):
        data = dups.read_bytes()
        for f1, d1, f2, d2 in struct.iter_unpack("<4I", data):
            a, b = ids[(f1, d1)], ids[(f2, d2)]
            pairs.add((min(a, b), max(a, b)))
    clusters = []
    for folder in ("kept", "removed"):
        for path in (out / folder).glob("*.jsonl"):
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    doc = json.loads(line)
                    cid = doc["metadata"].get("minhash_cluster_id", -1)
                    if cid != -1:
                        clusters.append((doc["id"], cid))
    write_tsv(out / "pairs.tsv", sorted(pairs))
    write_tsv(out / "clusters.tsv", clusters)
    return {"stages": stages, "direct_pairs": len(pairs), "clustered_docs": len(clusters)}


# -- datasketch ------------------------------------------------------------------------------------------
def run_datasketch(args) -> dict:
    from datasketch import LeanMinHash, MinHash, MinHashLSH

    start = time.perf_counter()
    lsh = MinHashLSH(num_perm=NUM_PERM, params=(BANDS, ROWS))
    pairs = []
    with open(args.input, encoding="utf-8") as handle:
        for line in handle:
            doc = json.loads(line)
            minhash = MinHash(num_perm=NUM_PERM)
            minhash.update_batch([s.encode() for s in shingles(doc["text"])])
            lean = LeanMinHash(minhash)
            for other in lsh.query(lean):
                pairs.append((other, doc["id"]))
            lsh.insert(doc["id"], lean, check_duplication=False)
    seconds = time.perf_counter() - start
    write_tsv(args.out / "pairs.tsv", pairs)
    return {"stages": {"near_dedup": seconds}, "direct_pairs": len(pairs)}


RUNNERS = {
    "seed_pipeline": run_seed_pipeline,
    "hf_datasets": run_hf_datasets,
    "datatrove_filters": run_datatrove_filters,
    "datatrove_minhash": run_datatrove_minhash,
    "datasketch": run_datasketch,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("method", choices=METHODS)
    parser.add_argument("--input", type=Path, required=True, help="the corpus JSONL")
    parser.add_argument("--shards", type=Path, help="folder of the corpus split into 2 JSONL files (datatrove)")
    parser.add_argument("--out", type=Path, required=True, help="an empty folder for this run's files")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    result = RUNNERS[args.method](args)
    (args.out / "result.json").write_text(json.dumps(result))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
