"""Exactly once with a packaged connector (airbyte-source-faker 7.2.1) under SIGKILL.

What faker's state allows (source_faker/streams.py, 7.2.1): a stream's STATE carries
`updated_at` and `loop_offset`, but `read_records` never resumes from `loop_offset`:
- `always_updated: true` (its default) ignores the state and re-emits every record on every
  sync, so records committed by an interrupted sync are landed again by the next one. The raw
  layer then holds repeats by design; staging keeps one row per primary key.
- `always_updated: false` emits nothing for a stream once any state with `updated_at` exists,
  so after a kill mid-stream the records after the last checkpoint are never read: exactly
  once holds (no repeat) but the stream stays incomplete until its state is reset.
Both are asserted below, together with what the destination guarantees for any connector:
each sync's committed rows equal its sync-log counters, with no repeat inside one sync.

The kill runs skip `spec`/`check` and reuse the cached catalog (the first sync ran them), so
each kill lands in `read`; the final sync runs the full path.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from tests.conftest import PROJECT_ROOT
from tests.integration.test_dbt_build import run_dbt

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FAKER = "airbyte-source-faker==7.2.1"
SEED = int(os.environ.get("REFINERY_FAULT_SEED", "20261124"))
USERS = 5000
STREAMS = ("products", "users", "purchases")

SYNC_SCRIPT = textwrap.dedent("""
    import json, os, signal, sys
    from ingestion import destination, sync
    from refinery.config import load_config
    from ingestion.protocol import State
    from ingestion.sources.airbyte import AirbyteConnectorSource

    config_path, home, mode = sys.argv[1:4]
    if mode != "full":
        AirbyteConnectorSource.validate_config = lambda self: None
        AirbyteConnectorSource.check = lambda self: None
        real_discover = AirbyteConnectorSource.discover

        def discover(self):
            if self._catalog is None and self.catalog_cache.exists():
                self._catalog = json.loads(self.catalog_cache.read_text())
            return real_discover(self)

        AirbyteConnectorSource.discover = discover
    if mode == "cached":
        plain_read = AirbyteConnectorSource.read

        def announce_read(self, saved):
            announced = False
            for message in plain_read(self, saved):
                if not announced and type(message).__name__ == "Record":
                    print("records", flush=True)
                    announced = True
                yield message

        AirbyteConnectorSource.read = announce_read
    if mode.startswith("die-after-state:"):
        _, stream, nth = mode.split(":")
        real_read = AirbyteConnectorSource.read

        def read(self, saved):
            seen = 0
            for message in real_read(self, saved):
                yield message
                # the destination asks for the next message only once this STATE is committed
                if isinstance(message, State) and stream in message.stream_states:
                    seen += 1
                    if seen == int(nth):
                        os.kill(os.getpid(), signal.SIGKILL)

        AirbyteConnectorSource.read = read
    real_run = destination.DuckDBDestination.run

    def run(self, *args, **kwargs):
        print("reading", flush=True)
        return real_run(self, *args, **kwargs)

    destination.DuckDBDestination.run = run
    result = sync.sync_source(load_config(config_path, home=home), "shop", say=lambda _: None)
    print(result.status, json.dumps({s: c.landed for s, c in sorted(result.streams.items())}), flush=True)
""")


def rows(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


@pytest.fixture
def faker_home(tmp_path, connectors_dir):
    def make(always_updated: bool) -> tuple[list[str], Path]:
        config = tmp_path / "refinery.yml"
        config.write_text(
            "sources:\n  shop:\n    kind: airbyte\n"
            f"    connector: {FAKER}\n    streams: [products, users, purchases]\n"
            f"    config: {{count: {USERS}, seed: 7, records_per_slice: 100, parallelism: 1, "
            f"always_updated: {str(always_updated).lower()}}}\n"
        )
        script = tmp_path / "sync.py"
        script.write_text(SYNC_SCRIPT)
        home = tmp_path / "home"
        return [sys.executable, str(script), str(config), str(home)], home / "warehouse" / "refinery.duckdb"

    return make


def environment(connectors_dir: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "REFINERY_CONNECTORS_DIR": str(connectors_dir)}


def check_each_sync(db: Path) -> dict[str, dict[str, int]]:
    """Every sync's rows equal its logged counters and hold no repeat; returns sync → stream → landed."""
    landed: dict[str, dict[str, int]] = {}
    for stream in STREAMS:
        per_sync = rows(
            db,
            f"select _airbyte_meta ->> 'sync_id', count(*), count(distinct _airbyte_data ->> 'id') "
            f"from raw.shop__{stream} group by all",
        )
        for sync_id, count, distinct in per_sync:
            assert count == distinct, (stream, sync_id)
            landed.setdefault(sync_id, {})[stream] = count
    logged = rows(
        db,
        "select sync_id, stream_name, records_landed, records_read, records_quarantined "
        "from raw._refinery_sync_log where stream_name in ('products', 'users', 'purchases')",
    )
    for sync_id, stream, count, read, quarantined in logged:
        assert landed.get(sync_id, {}).get(stream, 0) == count, (sync_id, stream)
        assert (read, quarantined) == (count, 0)
    return landed


def test_faker_killed_at_random_points_then_completed_lands_each_key_once_in_staging(
    faker_home, connectors_dir, tmp_path
):
    command, db = faker_home(always_updated=True)
    env = environment(connectors_dir)
    rng = random.Random(SEED)
    kills = []
    for _ in range(6):
        process = subprocess.Popen([*command, "cached"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert process.stdout.readline() == b"reading\n", process.communicate()
        # records flow a few seconds after the connector starts, then ~5000 a second: kill within the next second
        assert process.stdout.readline() == b"records\n", process.communicate()
        time.sleep(rng.uniform(0.0, 1.0))
        process.send_signal(signal.SIGKILL)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode in (-signal.SIGKILL, 0), stderr.decode()
        # 'running': interrupted; 'succeeded': it finished before the kill landed
        (last,) = rows(db, "select status from raw._refinery_sync_log order by started_at desc limit 1")
        kills.append(last[0])
        check_each_sync(db)
    committed_by_killed = {sync: counts for sync, counts in check_each_sync(db).items()}
    print(f"seed {SEED}: killed syncs committed {sorted(committed_by_killed.values(), key=str)}")

    final = subprocess.run([*command, "full"], env=env, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    status, _ = final.stdout.splitlines()[-1].split(" ", 1)
    assert status == "succeeded"
    per_sync = check_each_sync(db)
    (final_sync,) = rows(db, "select sync_id from raw._refinery_sync_log order by started_at desc limit 1")[0]

    # an uninterrupted reference run into a fresh warehouse
    reference_home = tmp_path / "reference"
    reference_run = subprocess.run(
        [*command[:3], str(reference_home), "full"], env=env, capture_output=True, text=True, timeout=300
    )
    assert reference_run.returncode == 0, reference_run.stderr
    reference_db = reference_home / "warehouse" / "refinery.duckdb"
    reference = {
        stream: set(rows(reference_db, f"select _airbyte_data ->> 'id' from raw.shop__{stream}")) for stream in STREAMS
    }
    for stream in STREAMS:
        last = f"select _airbyte_data ->> 'id' from raw.shop__{stream} where _airbyte_meta ->> 'sync_id' = ?"
        assert set(rows(db, last, [final_sync])) == reference[stream]
    assert len(reference["users"]) == USERS
    for stream in STREAMS:
        # the interrupted syncs added no key the reference lacks; their repeats are the only extra rows
        everything = set(rows(db, f"select distinct _airbyte_data ->> 'id' from raw.shop__{stream}"))
        assert everything == reference[stream]
        total = rows(db, f"select count(*) from raw.shop__{stream}")[0][0]
        assert total == sum(counts.get(stream, 0) for counts in per_sync.values())
    statuses = rows(
        db,
        "select status, error like 'interrupted:%', count(distinct sync_id) from raw._refinery_sync_log "
        "group by all order by all",
    )
    assert statuses == [("failed", True, kills.count("running")), ("succeeded", None, kills.count("succeeded") + 1)]
    assert kills.count("running") >= 3, kills

    home = db.parent.parent
    built = run_dbt(home, "build", "--select", "staging.shop")
    assert built.returncode == 0, built.output[
        -4000:
    ]  # includes unique(user_id), unique(purchase_id), unique(product_id)
    staged_users = rows(db, "select user_id::varchar from staging.stg_shop__users")
    assert len(staged_users) == USERS and set(staged_users) == reference["users"]
    staged_purchases = rows(db, "select purchase_id::varchar from staging.stg_shop__purchases")
    assert len(staged_purchases) == len(reference["purchases"]) and set(staged_purchases) == reference["purchases"]


def test_faker_without_always_updated_does_not_resume_a_stream_after_its_last_checkpoint(faker_home, connectors_dir):
    command, db = faker_home(always_updated=False)
    env = environment(connectors_dir)
    killed = subprocess.run([*command, "die-after-state:users:2"], env=env, capture_output=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    committed = rows(db, "select count(*), count(distinct _airbyte_data ->> 'id') from raw.shop__users")[0]
    assert committed[0] == committed[1] and 0 < committed[0] < USERS
    state = rows(
        db, "select state ->> '$.stream.stream_state.loop_offset' from raw._refinery_state where stream_name = 'users'"
    )
    assert state and state[0][0] is not None

    resumed = subprocess.run([*command, "cached"], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.splitlines()[-1].startswith("succeeded")
    # faker sees a users state and emits no user at all: the rest of the stream is never read
    assert rows(db, "select count(*), count(distinct _airbyte_data ->> 'id') from raw.shop__users")[0] == committed
    assert rows(
        db, "select records_landed from raw._refinery_sync_log where status = 'succeeded' and stream_name = 'users'"
    ) == [(0,)]
    purchases = rows(db, "select count(*), count(distinct _airbyte_data ->> 'id') from raw.shop__purchases")[0]
    assert purchases[0] == purchases[1] > 0  # purchases had no state yet: read in full, once
