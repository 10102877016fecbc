"""Which reader should `kind: postgres | mysql | sqlite` use: the driver or DuckDB's scanner extension?

Loads the same N rows (a realistic mix: bigint key, int, short and long text, numeric(12,2),
double, timestamptz, timestamp, boolean, a nullable text and a nullable int) into PostgreSQL
(127.0.0.1:5432, database `test`), MariaDB (127.0.0.1:3306, database `test`) and a SQLite
file, then reads all of them through `DatabaseSource.read()` exactly as a sync does — rows
converted to JSON-ready dicts and serialized with `record_bytes` (what the destination
stores) — once per reader, `--runs` times, interleaved; and, to show where the time goes,
fetches only the raw tuples (no JSON). Reports the median seconds (connection and catalog
included), rows/s and MB/s of JSON. The tables are dropped afterwards.

    .venv/bin/python bench/db_readers.py --rows 200000 --runs 3

Results and method: docs/BENCHMARKS.md ("Database readers") (`reader: auto` follows them).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

import duckdb
import psycopg
import pymysql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingestion.protocol import Record, record_bytes
from ingestion.sources import SavedState
from ingestion.sources.database import DatabaseSource
from refinery.config import SourceConfig

COLUMNS = "id, customer_id, name, email, amount, score, created_at, updated_at, is_active, note, quantity"
WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "omicron",
    "pi",
    "rho",
    "sigma",
]


def make_rows(count: int, seed: int = 42) -> list[tuple]:
    rng = random.Random(seed)
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    rows = []
    for i in range(1, count + 1):
        created = start + dt.timedelta(seconds=rng.randrange(0, 365 * 86400), microseconds=rng.randrange(1_000_000))
        note = " ".join(rng.choices(WORDS, k=rng.randrange(5, 40))) if rng.random() > 0.3 else None
        rows.append(
            (
                i,
                rng.randrange(1, 5000),
                f"{rng.choice(WORDS).title()} {rng.choice(WORDS).title()}",
                f"user{i}@example.com",
                Decimal(rng.randrange(0, 10_000_000)) / 100,
                rng.random() * 100,
                created,
                (created + dt.timedelta(days=rng.randrange(0, 30))).replace(tzinfo=None),
                rng.random() > 0.5,
                note,
                rng.randrange(0, 100) if rng.random() > 0.2 else None,
            )
        )
    return rows


def load_postgres(rows: list[tuple], schema: str) -> None:
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="test", autocommit=True) as con:
        con.execute(f'create schema "{schema}"')
        con.execute(
            f'create table "{schema}".orders (id bigint primary key, customer_id integer, name varchar(80), '
            "email varchar(120), amount numeric(12,2), score double precision, created_at timestamptz, "
            "updated_at timestamp, is_active boolean, note text, quantity integer)"
        )
        with con.cursor() as cur, cur.copy(f'copy "{schema}".orders ({COLUMNS}) from stdin') as copy:
            for row in rows:
                copy.write_row(row)


def load_mysql(rows: list[tuple], table: str) -> None:
    con = pymysql.connect(host="127.0.0.1", user="root", database="test", autocommit=True)
    try:
        with con.cursor() as cur:
            cur.execute(
                f"create table `{table}` (id bigint primary key, customer_id int, name varchar(80), "
                "email varchar(120), amount decimal(12,2), score double, created_at datetime(6), "
                "updated_at datetime(6), is_active boolean, note text, quantity int)"
            )
            marks = ", ".join(["%s"] * 11)
            for start in range(0, len(rows), 5000):
                batch = [(*r[:6], r[6].replace(tzinfo=None), *r[7:]) for r in rows[start : start + 5000]]
                cur.executemany(f"insert into `{table}` ({COLUMNS}) values ({marks})", batch)
    finally:
        con.close()


def load_sqlite(rows: list[tuple], path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute(
        "create table orders (id integer primary key, customer_id integer, name text, email text, "
        "amount numeric, score real, created_at text, updated_at text, is_active integer, note text, quantity integer)"
    )
    con.executemany(
        f"insert into orders ({COLUMNS}) values ({', '.join(['?'] * 11)})",
        [(*r[:4], str(r[4]), r[5], r[6].isoformat(), r[7].isoformat(), int(r[8]), *r[9:]) for r in rows],
    )
    con.commit()
    con.close()


def read_once(source: SourceConfig, extension_dir: Path) -> tuple[float, int, int]:
    """Seconds, rows and JSON bytes for one full read through the source."""
    started = time.perf_counter()
    reader = DatabaseSource(source, extension_dir)
    reader.streams()
    count = size = 0
    for message in reader.read(SavedState()):
        if isinstance(message, Record):
            count += 1
            size += len(record_bytes(message.data))
    return time.perf_counter() - started, count, size


def fetch_once(source: SourceConfig, extension_dir: Path) -> tuple[float, int, int]:
    """Seconds and rows to fetch the raw tuples only (no JSON conversion): where the time goes."""
    started = time.perf_counter()
    reader = DatabaseSource(source, extension_dir)
    (table,) = reader._plan()
    count = 0
    with reader._reader() as rows:
        for _ in rows.rows(table, None):
            count += 1
    return time.perf_counter() - started, count, 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kinds", default="postgres,mysql,sqlite")
    args = parser.parse_args()
    kinds = args.kinds.split(",")
    suffix = uuid.uuid4().hex[:8]
    schema, my_table = f"bench_{suffix}", f"bench_readers_{suffix}"
    workdir = Path(tempfile.mkdtemp(prefix="refinery-bench-"))
    config_file = workdir / "refinery.yml"
    sqlite_path = workdir / "bench.db"
    extension_dir = workdir / ".extensions"
    rows = make_rows(args.rows)
    options = {
        "postgres": {"database": "test", "schema": schema, "tables": ["orders"]},
        "mysql": {"database": "test", "tables": [my_table]},
        "sqlite": {"path": str(sqlite_path), "tables": ["orders"]},
    }
    loaders = {
        "postgres": lambda: load_postgres(rows, schema),
        "mysql": lambda: load_mysql(rows, my_table),
        "sqlite": lambda: load_sqlite(rows, sqlite_path),
    }
    results: dict[tuple[str, str], list[tuple[float, int, int]]] = {}
    try:
        for kind in kinds:
            started = time.perf_counter()
            loaders[kind]()
            print(f"loaded {args.rows} rows into {kind} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
            for reader in ("driver", "duckdb"):  # warm-up: extension install, connection, page cache
                read_once(SourceConfig("bench", kind, {**options[kind], "reader": reader}, config_file), extension_dir)
            for _ in range(args.runs):
                for reader in ("driver", "duckdb"):
                    source = SourceConfig("bench", kind, {**options[kind], "reader": reader}, config_file)
                    results.setdefault((kind, reader), []).append(read_once(source, extension_dir))
                    results.setdefault((kind, f"{reader}, fetch only"), []).append(fetch_once(source, extension_dir))
    finally:
        if "postgres" in kinds:
            with psycopg.connect(host="127.0.0.1", user="postgres", dbname="test", autocommit=True) as con:
                con.execute(f'drop schema if exists "{schema}" cascade')
        if "mysql" in kinds:
            con = pymysql.connect(host="127.0.0.1", user="root", database="test", autocommit=True)
            with con.cursor() as cur:
                cur.execute(f"drop table if exists `{my_table}`")
            con.close()
        sqlite_path.unlink(missing_ok=True)

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    print(
        f"\nmachine: {os.cpu_count()} CPUs, {cpu}; Python {platform.python_version()}, duckdb {duckdb.__version__}, "
        f"psycopg {psycopg.__version__}, pymysql {pymysql.__version__}, sqlite {sqlite3.sqlite_version}; "
        f"{args.rows} rows, median of {args.runs} runs\n"
    )
    print("| kind | reader | median s | runs (s) | rows/s | MB/s (JSON) | JSON bytes |")
    print("|---|---|---|---|---|---|---|")
    for (kind, reader), runs in results.items():
        seconds = statistics.median(run[0] for run in runs)
        count, size = runs[0][1], runs[0][2]
        assert all(run[1] == args.rows for run in runs), f"{kind}/{reader} read {[run[1] for run in runs]} rows"
        throughput, json_bytes = (f"{size / seconds / 1e6:.1f}", f"{size:,}") if size else ("–", "–")
        print(
            f"| {kind} | {reader} | {seconds:.2f} | {', '.join(f'{run[0]:.2f}' for run in runs)} | "
            f"{count / seconds:,.0f} | {throughput} | {json_bytes} |"
        )


if __name__ == "__main__":
    main()
