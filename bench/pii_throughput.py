"""Throughput of the PII macros (dbt_project/macros/pii.sql) on a synthetic corpus in DuckDB.

Compiles `pii_scan_ctes` through dbt (the same SQL the model int_documents_pii runs), builds
a deterministic corpus in an in-memory DuckDB — sentences of prose with numbers, dates,
times, versions, prices and ids, a few percent of them carrying an e-mail address, phone
number, IP address, card number, IBAN or SSN — and times
`create table … as select <counts and redacted text> from <scan>` with the given threads.

    .venv/bin/python bench/pii_throughput.py --mb 300 --threads 2

Prints MB/s (text bytes scanned per wall-clock second) and the entity counts. Results:
docs/cleaning/pii.md ("Speed").
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]
DBT_PROJECT = REPO / "dbt_project"

WORDS = re.findall(
    r"\w+",
    """the of and to in is was for on that with as by at from this it be are an or which have not had has but
    were their more one all been can would about there when who will also into other some time these only
    customer order delivery account invoice payment refund support ticket request update issue problem
    server error warning release version build deploy cluster service latency memory disk network user""",
)
NOISE = [
    "2024-03-15",
    "15.03.2024",
    "03/15/2024",
    "10:30:45",
    "14:05",
    "v2.3.1",
    "1.2.3",
    "10.0.19045.3803",
    "$1,299.99",
    "1.234,56 €",
    "#100234567",
    "ORD-2024-000123",
    "ISBN 978-3-16-148410-0",
    "12.5 kg",
    "4111111111111112",
    "123e4567-e89b-12d3-a456-426614174000",
    "00:1A:2B:3C:4D:5E",
    "999.1.1.1",
    "42",
    "7",
    "2019",
    "3.14",
    "100%",
    "x86_64",
    "std::vector",
    "page 123-125",
]
PII = [
    "jane.doe@example.com",
    "ops-team@example.io",
    "+1 (415) 555-2671",
    "020 7946 0958",
    "+49 30 901820",
    "06 12 34 56 78",
    "192.168.1.10",
    "2001:db8::1",
    "4111 1111 1111 1111",
    "5555555555554444",
    "DE89 3704 0044 0532 0130 00",
    "GB82WEST12345698765432",
    "536-22-1234",
    "415-555-0132",
]


def sentences(rng: random.Random, count: int, pii_rate: float) -> list[str]:
    out = []
    for _ in range(count):
        words = [rng.choice(WORDS) for _ in range(rng.randint(8, 22))]
        for _ in range(rng.randint(0, 2)):
            words.insert(rng.randrange(len(words)), rng.choice(NOISE))
        if rng.random() < pii_rate:
            words.insert(rng.randrange(len(words)), rng.choice(PII))
        text = " ".join(words)
        out.append(text[:1].upper() + text[1:] + ".")
    return out


def compile_scan(threads: int) -> str:
    home = Path(tempfile.mkdtemp(prefix="pii_bench_"))
    (home / "warehouse").mkdir()
    query = (
        "with docs as (select * from corpus), {{ pii_scan_ctes('docs', 'text') }} "
        "select document_id, {% for t in pii_types() %}pii_{{ t }}_count, {% endfor %}"
        "pii_total_count, pii_redacted_text from pii_scanned"
    )
    env = {**os.environ, "REFINERY_HOME": str(home), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"), "compile", "--quiet", "--inline", query,
            "--profiles-dir", str(DBT_PROJECT), "--project-dir", str(DBT_PROJECT), "--target", "ci",
            "--target-path", str(home / "target"), "--log-path", str(home / "logs"),
        ],
        cwd=DBT_PROJECT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        sys.exit(result.stdout + result.stderr)
    return result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=300.0, help="corpus size in MB of text (default 300)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pii-rate", type=float, default=0.03, help="share of sentences with an entity")
    parser.add_argument("--seed", type=int, default=20240315)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    sql = compile_scan(args.threads)
    rng = random.Random(args.seed)
    pool = sentences(rng, 20000, args.pii_rate)
    con = duckdb.connect()
    con.execute(f"set threads = {args.threads}")
    con.execute(
        "create table pool as select unnest(?::varchar[]) as sentence, generate_subscripts(?::varchar[], 1) as n",
        [pool, pool],
    )
    document_bytes = 25 * (sum(len(sentence.encode()) for sentence in pool) / len(pool) + 1)
    documents = int(args.mb * 1e6 / document_bytes)
    # Each document: 25 sentences picked by a hash of (document, position) — deterministic.
    con.execute(
        """
        create table corpus as
        select md5(picks.i::varchar) as document_id, string_agg(pool.sentence, ' ' order by picks.k) as text
        from (select d.i, s.k, 1 + hash(d.i, s.k) % 20000 as n from range(?) as d(i), range(25) as s(k)) as picks
        inner join pool on pool.n = picks.n
        group by picks.i
        """,
        [documents],
    )
    mb = con.execute("select sum(strlen(text)) / 1e6 from corpus").fetchone()[0]
    timings, cpu_timings = [], []
    for run in range(args.runs):
        con.execute("drop table if exists scanned")
        start, cpu_start = time.perf_counter(), time.process_time()
        con.execute(f"create table scanned as {sql}")
        timings.append(time.perf_counter() - start)
        cpu_timings.append(time.process_time() - cpu_start)
        print(
            f"run {run + 1}: {timings[-1]:.2f} s wall = {mb / timings[-1]:.1f} MB/s, "
            f"{cpu_timings[-1]:.2f} CPU-s = {mb / cpu_timings[-1]:.1f} MB per CPU-second"
        )
    types = ["email", "phone", "ip_address", "credit_card", "iban", "us_ssn"]
    counts = con.execute("select " + ", ".join(f"sum(pii_{t}_count)" for t in types) + " from scanned").fetchone()
    best, best_cpu = min(timings), min(cpu_timings)
    with_pii = con.execute("select avg((pii_total_count > 0)::int) from scanned").fetchone()[0]
    groups = con.execute("select count(distinct row_group_id) from pragma_storage_info('corpus')").fetchone()[0]
    print(
        f"{documents} documents ({with_pii:.0%} with an entity, {groups} row groups), {mb:.1f} MB, "
        f"threads={args.threads}, load average {os.getloadavg()[0]:.1f}: best {best:.2f} s = {mb / best:.1f} MB/s, "
        f"{documents / best:,.0f} documents/s; best {best_cpu:.2f} CPU-s = {mb / best_cpu:.1f} MB per CPU-second"
    )
    print("entities (email, phone, ip_address, credit_card, iban, us_ssn):", counts)


if __name__ == "__main__":
    main()
