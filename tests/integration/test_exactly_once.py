"""Exactly once under faults: SIGKILL at random points, failing sources, a second writer.

The kill loop runs the real `ingestion.sync.sync_source` in a subprocess on a folder of JSONL
files, SIGKILLs it after seeded random delays, checks the warehouse after every kill, then
lets it finish. Kill delays come from a seeded RNG (REFINERY_FAULT_SEED overrides the seed);
where each kill landed depends on timing, so the test prints a summary of the phases hit.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import orjson
import pytest

from ingestion.sources.files import FilesSource
from ingestion.sync import sync_source
from refinery.config import load_config
from tests.conftest import PROJECT_ROOT
from tests.integration.fake_connector import REQUIREMENT, install_fake_connector, yaml_config

pytestmark = pytest.mark.integration

SEED = int(os.environ.get("REFINERY_FAULT_SEED", "20261124"))
FILES, RECORDS_PER_FILE, BAD_EVERY = 80, 500, 97
KILLS = 20

SYNC_SCRIPT = textwrap.dedent("""
    import functools, sys
    from ingestion import destination, sync
    from refinery.config import load_config

    # small batches and one checkpoint per file, so kills land between and inside flushes and commits
    sync.DuckDBDestination = functools.partial(destination.DuckDBDestination, batch_size=int(sys.argv[3]))
    config = load_config(sys.argv[1], home=sys.argv[2])
    print("syncing", flush=True)
    result = sync.sync_source(config, "events", say=lambda _: None)
    print(result.status, result.total("landed"), result.total("quarantined"), flush=True)
""")


def rows(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def write_input(folder: Path) -> dict[str, tuple[int, int]]:
    """FILES JSONL files; every BAD_EVERY-th line is invalid JSON. Returns file → (good, bad)."""
    folder.mkdir(parents=True)
    counts = {}
    key = 0
    for index in range(FILES):
        lines, good, bad = [], 0, 0
        for line_number in range(RECORDS_PER_FILE):
            if line_number % BAD_EVERY == BAD_EVERY - 1:
                lines.append(b'{"event_id": "broken' + str(key).encode() + b'", \n')
                bad += 1
            else:
                lines.append(orjson.dumps({"event_id": f"e{key}", "body": f"event {key}", "file": index}) + b"\n")
                good += 1
            key += 1
        name = f"part-{index:03d}.jsonl"
        (folder / name).write_bytes(b"".join(lines))
        counts[name] = (good, bad)
    return counts


def saved_files(db: Path) -> list[str]:
    found = rows(db, "select state from raw._refinery_state where source_name = 'events' and stream_name = 'records'")
    if not found:
        return []
    return sorted(orjson.loads(found[0][0])["stream"]["stream_state"]["files"])


def check_consistent(db: Path, counts: dict[str, tuple[int, int]]) -> tuple[int, int]:
    """The raw layer holds exactly the records of the checkpointed files, once each."""
    if not db.exists() or not rows(db, "select 1 from duckdb_tables() where table_name = 'events__records'"):
        return 0, 0
    files = saved_files(db)
    landed, distinct = rows(
        db, "select count(*), count(distinct _airbyte_data ->> 'event_id') from raw.events__records"
    )[0]
    quarantined, distinct_reasons = rows(
        db, "select count(*), count(distinct reason) from raw._refinery_quarantine where source_name = 'events'"
    )[0]
    assert landed == distinct == sum(counts[name][0] for name in files)
    assert quarantined == distinct_reasons == sum(counts[name][1] for name in files)
    landed_files = rows(db, "select distinct (_airbyte_data ->> 'file')::int from raw.events__records order by 1")
    assert [f"part-{i:03d}.jsonl" for (i,) in landed_files] == files
    # the sync log's committed counters agree with what each sync left in raw
    per_sync = dict(rows(db, "select _airbyte_meta ->> 'sync_id', count(*) from raw.events__records group by all"))
    logged = rows(
        db,
        "select sync_id, records_read, records_landed, records_quarantined from raw._refinery_sync_log "
        "where source_name = 'events'",
    )
    for sync_id, read, landed_by_sync, quarantined_by_sync in logged:
        assert per_sync.get(sync_id, 0) == landed_by_sync
        assert read == landed_by_sync + quarantined_by_sync
    return len(files), landed


@pytest.mark.slow
def test_sigkill_at_random_points_then_completion_lands_every_record_exactly_once(tmp_path):
    counts = write_input(tmp_path / "data")
    total_good = sum(good for good, _ in counts.values())
    total_bad = sum(bad for _, bad in counts.values())
    config_path = tmp_path / "refinery.yml"
    config_path.write_text("sources: {events: {kind: files, path: 'data/*.jsonl', primary_key: event_id}}\n")
    home = tmp_path / "home"
    db = home / "warehouse" / "refinery.duckdb"
    script = tmp_path / "sync.py"
    script.write_text(SYNC_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    command = [sys.executable, str(script), str(config_path), str(home), "25"]

    rng = random.Random(SEED)
    phases: list[str] = []
    for kill in range(KILLS):
        before = rows(db, "select count(*) from raw._refinery_sync_log")[0][0] if db.exists() else 0
        files_before = saved_files(db) if db.exists() else []
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if kill % 5 == 4:  # now and then anywhere from the interpreter's start (imports, connecting)
            time.sleep(rng.uniform(0.0, 1.0))
        else:  # mostly inside the sync, whatever the machine's speed: from the moment it starts
            assert process.stdout.readline() == b"syncing\n"
            time.sleep(rng.uniform(0.0, 0.5))
        process.send_signal(signal.SIGKILL)
        stdout, stderr = process.communicate(timeout=60)
        if process.returncode == 0:
            phases.append("finished before the kill")
            assert stdout.split()[-3] == b"succeeded", stderr
            continue
        assert process.returncode == -signal.SIGKILL, stderr.decode()
        files, _ = check_consistent(db, counts)
        after = rows(db, "select count(*) from raw._refinery_sync_log")[0][0] if db.exists() else 0
        last_status = rows(db, "select status from raw._refinery_sync_log order by started_at desc limit 1")
        if after == before:
            phases.append("before the sync started (imports, connect, bookkeeping)")
        elif last_status == [("succeeded",)]:  # killed after its final commit, while exiting
            phases.append("finished before the kill")
        elif files == len(files_before):
            phases.append("in a sync, before its first commit")
        else:
            phases.append(f"in a sync, after committing {files - len(files_before)} files")
    summary = {phase: phases.count(phase) for phase in sorted(set(phases))}
    print(f"seed {SEED}: kills landed {summary}")
    # on a loaded machine a few more kills land before the sync starts; enough must land inside it
    assert sum(1 for phase in phases if phase.startswith("in a sync")) >= KILLS // 3, summary

    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0 and finished.stdout.split()[1] == "succeeded", finished.stderr
    assert check_consistent(db, counts) == (FILES, total_good)
    assert rows(db, "select count(*), count(distinct _airbyte_data ->> 'event_id') from raw.events__records") == [
        (total_good, total_good)
    ]
    assert rows(db, "select count(*) from raw._refinery_quarantine") == [(total_bad,)]
    # every interrupted sync that got as far as the log is marked failed, with the reason
    statuses = rows(
        db,
        "select status, error like 'interrupted: the process stopped before the sync finished%' "
        "from raw._refinery_sync_log order by started_at",
    )
    assert statuses[-1] == ("succeeded", None)
    assert sorted(set(statuses)) == [("failed", True), ("succeeded", None)]
    assert statuses.count(("failed", True)) == sum(1 for phase in phases if phase.startswith("in a sync"))
    assert statuses.count(("succeeded", None)) == phases.count("finished before the kill") + 1
    # a consistent state: running again lands nothing
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert again.stdout.split() == ["syncing", "succeeded", "0", "0"], again.stderr
    assert rows(db, "select count(*) from raw.events__records") == [(total_good,)]


def test_a_file_source_failing_mid_read_is_marked_failed_and_keeps_what_was_checkpointed(
    tmp_path, write_config, monkeypatch
):
    (tmp_path / "data").mkdir()
    for index in range(4):
        lines = [orjson.dumps({"id": f"{index}-{n}"}) for n in range(5)]
        (tmp_path / "data" / f"{index}.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    config = load_config(write_config("sources: {t: {kind: files, path: 'data/*.jsonl', primary_key: id}}"))
    original = FilesSource._read_file

    def failing(self, path, key):
        if path.name == "2.jsonl":
            yield from list(original(self, path, key))[:3]  # some records of the file, then the failure
            raise RuntimeError("disk went away")
        yield from original(self, path, key)

    with monkeypatch.context() as patch:
        patch.setattr(FilesSource, "_read_file", failing)
        failed = sync_source(config, "t", say=lambda _: None)
    assert (failed.status, failed.error) == ("failed", "RuntimeError: disk went away")
    db = config.database_path
    assert rows(db, "select status, records_landed, error from raw._refinery_sync_log") == [
        ("failed", 10, "RuntimeError: disk went away")
    ]
    assert rows(db, "select distinct split_part(_airbyte_data ->> 'id', '-', 1) from raw.t__records order by 1") == [
        ("0",),
        ("1",),
    ]
    resumed = sync_source(config, "t", say=lambda _: None)
    assert (resumed.status, resumed.total("landed")) == ("succeeded", 10)
    assert rows(db, "select count(*), count(distinct _airbyte_data ->> 'id') from raw.t__records") == [(20, 20)]


@pytest.fixture
def fake_connectors(tmp_path, monkeypatch) -> Path:
    connectors = tmp_path / "connectors"
    install_fake_connector(connectors)
    monkeypatch.setenv("REFINERY_CONNECTORS_DIR", str(connectors))
    return connectors


def test_a_connector_exiting_non_zero_fails_the_sync_and_keeps_its_checkpoints(tmp_path, write_config, fake_connectors):
    connector = {"streams": [{"name": "items", "primary_key": "id", "records": 40}], "checkpoint_every": 10}
    config = load_config(
        write_config(
            f"sources: {{api: {{kind: airbyte, connector: '{REQUIREMENT}', "
            f"config: {yaml_config({**connector, 'fail_after': 25, 'exit_code': 3})}}}}}"
        )
    )
    failed = sync_source(config, "api", say=lambda _: None)
    assert failed.status == "failed"
    assert failed.error == (
        "source 'api': `fake-connector read` exited with code 3: fake-connector: the upstream API went away"
    )
    db = config.database_path
    # records 0..19 were checkpointed (two STATEs); 20..24 came after the last one and were rolled back
    assert rows(
        db,
        "select min((_airbyte_data ->> 'id')::int), max((_airbyte_data ->> 'id')::int), count(*) from raw.api__items",
    ) == [(0, 19, 20)]
    assert rows(db, "select status, records_landed from raw._refinery_sync_log") == [("failed", 20)]

    config = load_config(
        write_config(
            f"sources: {{api: {{kind: airbyte, connector: '{REQUIREMENT}', config: {yaml_config(connector)}}}}}"
        )
    )
    resumed = sync_source(config, "api", say=lambda _: None)
    assert (resumed.status, resumed.total("landed")) == ("succeeded", 20)
    assert rows(db, "select count(*), count(distinct _airbyte_data ->> 'id') from raw.api__items") == [(40, 40)]


def warehouse_fingerprint(home: Path) -> dict[str, str]:
    """sha256 of every file under warehouse/ (the database, its WAL, the lock file)."""
    folder = home / "warehouse"
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_a_second_refinery_run_while_one_is_writing_exits_3_and_changes_nothing(tmp_path, fake_connectors):
    gate = tmp_path / "release"
    connector = {
        "streams": [{"name": "items", "primary_key": "id", "records": 30}],
        "checkpoint_every": 10,
        "block_after_first_state": str(gate),
    }
    config_path = tmp_path / "refinery.yml"
    config_path.write_text(
        f"sources: {{api: {{kind: airbyte, connector: '{REQUIREMENT}', streams: [items], "
        f"config: {yaml_config(connector)}}}}}\n"
    )
    home = tmp_path / "home"
    env = {
        **os.environ,
        "REFINERY_HOME": str(home),
        "REFINERY_CONFIG": str(config_path),
        "REFINERY_CONNECTORS_DIR": str(fake_connectors),
    }
    refinery = str(Path(sys.executable).parent / "refinery")
    first = subprocess.Popen(
        [refinery, "run", "--select", "key:raw/api__items"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        while not Path(f"{gate}.blocked").exists():  # the first run has committed one checkpoint and waits
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first run never reached its first checkpoint"
            time.sleep(0.1)
        before = warehouse_fingerprint(home)
        while True:  # the connector signals right after printing its STATE: let the destination commit it
            time.sleep(0.5)
            now = warehouse_fingerprint(home)
            if now == before:
                break
            before = now
        started = time.monotonic()
        second = subprocess.run([refinery, "run"], env=env, capture_output=True, text=True, timeout=120)
        took = time.monotonic() - started
        assert second.returncode == 3, second.stdout + second.stderr
        assert f"warehouse is busy (pid {first.pid})" in second.stderr
        assert warehouse_fingerprint(home) == before
    finally:
        gate.touch()
        out, err = first.communicate(timeout=300)
    assert first.returncode == 0, out.decode() + err.decode()
    print(f"the second `refinery run` exited in {took:.1f} s")
    db = home / "warehouse" / "refinery.duckdb"
    # exactly one sync happened, and it landed the 30 records once
    assert rows(db, "select source_name, status, records_landed from raw._refinery_sync_log") == [
        ("api", "succeeded", 30)
    ]
    assert rows(db, "select count(*), count(distinct _airbyte_data ->> 'id') from raw.api__items") == [(30, 30)]
    tables = rows(db, "select schema_name, table_name from duckdb_tables() order by all")
    assert tables == [
        ("raw", "_refinery_quarantine"),
        ("raw", "_refinery_schema_history"),
        ("raw", "_refinery_schemas"),
        ("raw", "_refinery_state"),
        ("raw", "_refinery_streams"),
        ("raw", "_refinery_sync_log"),
        ("raw", "api__items"),
    ]
