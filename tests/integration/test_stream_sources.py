"""`kind: redis_stream` and `kind: nats_jetstream` against the real brokers on 127.0.0.1.

Every test uses its own stream, group and consumer names (a random suffix) and deletes them,
since other test sessions share the services.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import duckdb
import pytest

from ingestion.sync import sync_source
from refinery.config import ConfigError, load_config

pytestmark = pytest.mark.integration
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def query(config, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(config.database_path), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def saved_state(config, source: str) -> dict:
    rows = query(
        config,
        "select state ->> '$.stream.stream_state' from raw._refinery_state where source_name = ? and stream_name = ?",
        [source, "events"],
    )
    return json.loads(rows[0][0]) if rows else {}


def sync(config, name: str = "ev"):
    result = sync_source(config, name, say=lambda _line: None)
    assert result.status == "succeeded", result.error
    return result


# -- Redis ----------------------------------------------------------------------------------------
@pytest.fixture
def redis_stream(redis_service):
    import redis

    client = redis.Redis()
    key = f"refinery-test:{uuid.uuid4().hex[:10]}"
    yield client, key
    client.delete(key)
    client.close()


def redis_config(write_config, tmp_path, key: str, **options):
    lines = "".join(f"    {k}: {json.dumps(v)}\n" for k, v in options.items())
    path = write_config(f"sources:\n  ev:\n    kind: redis_stream\n    stream: {json.dumps(key)}\n{lines}")
    return load_config(path, home=tmp_path)


def group_info(client, key: str, group: str = "refinery_ev") -> dict:
    return next(g for g in client.xinfo_groups(key) if g["name"].decode() == group)


def test_redis_lands_each_event_once_with_both_timestamps_and_out_of_order_event_times(
    redis_stream, write_config, tmp_path
):
    client, key = redis_stream
    event_times = ["2026-01-05T00:00:00Z", "2026-01-01T00:00:00Z", "2026-01-03T00:00:00Z"]  # late, out of order
    ids = [client.xadd(key, {"data": json.dumps({"n": i, "ts": t})}).decode() for i, t in enumerate(event_times)]
    config = redis_config(write_config, tmp_path, key, event_time_field="ts", block_ms=0)
    result = sync(config)
    assert result.total("landed") == 3
    rows = query(
        config,
        "select _airbyte_data->>'n', _airbyte_data->>'_stream_id', _airbyte_data->>'_event_time', "
        "_airbyte_data->>'_arrival_time' from raw.ev__events order by 1",
    )
    assert [(r[0], r[1], r[2]) for r in rows] == [(str(i), ids[i], event_times[i]) for i in range(3)]
    for _, stream_id, _, arrival in rows:  # the broker's time: the entry id's milliseconds
        millis = int(stream_id.split("-")[0])
        assert arrival == time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(millis / 1000)) + f".{millis % 1000:03d}Z"
    assert saved_state(config, "ev") == {"last_id": ids[-1], "gap_entries": 0}
    info = group_info(client, key)
    assert (info["pending"], info["lag"]) == (0, 0)
    streams = query(config, "select kind, role, primary_key from raw._refinery_streams")
    assert streams == [("redis_stream", "records", "_stream_id")]

    later = [client.xadd(key, {"data": json.dumps({"n": 10 + i, "ts": "2025-12-31T00:00:00Z"})}) for i in range(2)]
    assert sync(config).total("landed") == 2  # a second run lands only the new events, even older event times
    assert query(config, "select count(*), count(distinct _airbyte_data->>'_stream_id') from raw.ev__events") == [
        (5, 5)
    ]
    assert saved_state(config, "ev")["last_id"] == later[-1].decode()
    assert sync(config).total("landed") == 0


def test_redis_bad_payloads_are_quarantined_and_acknowledged(redis_stream, write_config, tmp_path):
    client, key = redis_stream
    client.xadd(key, {"data": b'{"ok": 1}'})
    client.xadd(key, {"data": b'{"broken": '})
    client.xadd(key, {"data": b'{"name": "\xff\xfe"}'})
    client.xadd(key, {"data": b"[1, 2]"})
    client.xadd(key, {"other": b"{}"})
    config = redis_config(write_config, tmp_path, key, block_ms=0)
    result = sync(config)
    assert (result.total("landed"), result.total("quarantined")) == (1, 4)
    rows = query(config, "select reason, raw_bytes from raw._refinery_quarantine order by quarantined_at, reason")
    reasons = sorted(reason.split(": ", 1)[1].split(":")[0] for reason, _ in rows)
    assert reasons == ["expected a JSON object, got list", "invalid JSON", "invalid UTF-8", "no field 'data' (fields"]
    assert sorted(raw for _, raw in rows) == sorted([b'{"broken": ', b'{"name": "\xff\xfe"}', b"[1, 2]", b"other={}"])
    info = group_info(client, key)
    assert (info["pending"], info["lag"]) == (0, 0)


def test_redis_max_records_bounds_a_run(redis_stream, write_config, tmp_path):
    client, key = redis_stream
    pipe = client.pipeline()
    for i in range(25):
        pipe.xadd(key, {"data": json.dumps({"n": i})})
    pipe.execute()
    config = redis_config(write_config, tmp_path, key, max_records=10, batch_size=4, block_ms=0)
    assert [sync(config).total("landed") for _ in range(4)] == [10, 10, 5, 0]
    assert query(config, "select count(distinct _airbyte_data->>'n') from raw.ev__events") == [(25,)]


def test_redis_all_fields_mode_and_documents_role(redis_stream, write_config, tmp_path):
    client, key = redis_stream
    client.xadd(key, {"user": "ada", "body": "hello"})
    config = redis_config(write_config, tmp_path, key, field="*", text_field="body", block_ms=0)
    sync(config)
    assert query(config, "select _airbyte_data->>'user', _airbyte_data->>'body' from raw.ev__events") == [
        ("ada", "hello")
    ]
    assert query(config, "select role, text_field from raw._refinery_streams") == [("documents", "body")]


def test_redis_redelivered_entries_already_landed_are_acked_not_landed_again(redis_stream, write_config, tmp_path):
    """The state says entries up to X are durable; the group still has them pending (crash before XACK)."""
    client, key = redis_stream
    ids = [client.xadd(key, {"data": json.dumps({"n": i})}) for i in range(6)]
    config = redis_config(write_config, tmp_path, key, block_ms=0)
    sync(config)
    # simulate the crash window: the group forgets the acks of the last 3 entries (re-read them, not acked)
    client.xgroup_setid(key, "refinery_ev", ids[2])
    client.xreadgroup("refinery_ev", "someone-else", {key: ">"})
    assert group_info(client, key)["pending"] == 3
    assert sync(config).total("landed") == 0
    assert query(config, "select count(*) from raw.ev__events") == [(6,)]
    assert group_info(client, key)["pending"] == 0


def test_redis_trimmed_before_read_is_counted_and_reported(redis_stream, write_config, tmp_path):
    client, key = redis_stream
    config = redis_config(write_config, tmp_path, key, block_ms=0)
    client.xadd(key, {"data": "{}"})
    sync(config)
    for i in range(10):
        client.xadd(key, {"data": json.dumps({"n": i})}, maxlen=4, approximate=False)
    result = sync(config)
    assert (result.total("landed"), result.total("quarantined")) == (4, 1)
    (reason,) = query(config, "select reason from raw._refinery_quarantine")[0]
    assert reason.startswith("gap: 6 events lost")
    assert saved_state(config, "ev")["gap_entries"] == 6
    assert sync(config).total("quarantined") == 0  # counted once


def test_redis_pending_entries_trimmed_before_commit_are_counted_once(redis_stream, write_config, tmp_path):
    client, key = redis_stream
    config = redis_config(write_config, tmp_path, key, block_ms=0)
    client.xadd(key, {"data": "{}"})
    sync(config)
    for i in range(3):
        client.xadd(key, {"data": json.dumps({"n": i})})
    client.xreadgroup("refinery_ev", "crashed", {key: ">"})  # delivered, never committed
    for i in range(3, 5):
        client.xadd(key, {"data": json.dumps({"n": i})})
    client.xtrim(key, maxlen=2, approximate=False)  # the 3 pending ones are gone
    result = sync(config)
    assert (result.total("landed"), result.total("quarantined")) == (2, 1)
    assert query(config, "select reason like 'gap: 3 events lost%' from raw._refinery_quarantine") == [(True,)]
    assert saved_state(config, "ev")["gap_entries"] == 3
    assert group_info(client, key)["pending"] == 0


def test_redis_xdel_before_read_is_reported_without_a_count(redis_stream, write_config, tmp_path):
    client, key = redis_stream
    config = redis_config(write_config, tmp_path, key, block_ms=0)
    client.xadd(key, {"data": "{}"})
    sync(config)
    ids = [client.xadd(key, {"data": json.dumps({"n": i})}) for i in range(3)]
    client.xdel(key, ids[1])
    result = sync(config)
    assert (result.total("landed"), result.total("quarantined")) == (2, 1)
    assert query(config, "select reason like 'gap: an unknown number of events lost%' from raw._refinery_quarantine")[
        0
    ] == (True,)
    assert sync(config).total("quarantined") == 0  # the group has read past it


def test_redis_group_deleted_by_someone_else_resumes_after_the_saved_position(redis_stream, write_config, tmp_path):
    client, key = redis_stream
    config = redis_config(write_config, tmp_path, key, block_ms=0)
    for i in range(3):
        client.xadd(key, {"data": json.dumps({"n": i})})
    sync(config)
    client.xgroup_destroy(key, "refinery_ev")
    client.xadd(key, {"data": '{"n": 3}'})
    assert sync(config).total("landed") == 1
    assert query(config, "select count(distinct _airbyte_data->>'n'), count(*) from raw.ev__events") == [(4, 4)]


def sync_saying(config, name: str = "ev") -> tuple:
    """(the result, the lines `refinery run` would print) of a successful sync."""
    lines: list[str] = []
    result = sync_source(config, name, say=lines.append)
    assert result.status == "succeeded", result.error
    return result, lines


def test_redis_fresh_warehouse_resets_an_existing_group_to_start(redis_stream, write_config, tmp_path):
    """A rebuilt warehouse (no saved state) must not trust the group's position: that is another warehouse's."""
    client, key = redis_stream
    for i in range(5):
        client.xadd(key, {"data": json.dumps({"n": i})})
    assert sync(redis_config(write_config, tmp_path / "first", key, block_ms=0)).total("landed") == 5
    for i in range(5, 7):
        client.xadd(key, {"data": json.dumps({"n": i})})
    client.xreadgroup("refinery_ev", "crashed", {key: ">"})  # 2 pending in the old warehouse's group
    rebuilt = redis_config(write_config, tmp_path / "rebuilt", key, block_ms=0)
    result, lines = sync_saying(rebuilt)
    assert result.total("landed") == 7
    assert query(rebuilt, "select count(distinct _airbyte_data->>'n'), count(*) from raw.ev__events") == [(7, 7)]
    assert any(
        "consumer group 'refinery_ev'" in line and "reset" in line and "no saved state" in line for line in lines
    )
    info = group_info(client, key)
    assert (info["pending"], info["lag"]) == (0, 0)
    result, lines = sync_saying(rebuilt)  # the state is saved now: the group is trusted, no second reset
    assert result.total("landed") == 0 and not any("reset" in line for line in lines)


def test_redis_fresh_warehouse_with_start_latest_resets_the_group_to_the_end(redis_stream, write_config, tmp_path):
    client, key = redis_stream
    for i in range(3):
        client.xadd(key, {"data": json.dumps({"n": i})})
    client.xgroup_create(key, "refinery_ev", id="0")
    client.xreadgroup("refinery_ev", "crashed", {key: ">"}, count=1)  # pending and lag: both from before
    config = redis_config(write_config, tmp_path, key, block_ms=0, start="latest")
    assert sync(config).total("landed") == 0
    assert group_info(client, key)["pending"] == 0
    client.xadd(key, {"data": '{"n": "between runs"}'})  # after the reset, before the next run: landed
    assert sync(config).total("landed") == 1
    client.xadd(key, {"data": '{"n": "later"}'})
    assert sync(config).total("landed") == 1
    assert query(config, "select _airbyte_data->>'n' from raw.ev__events order by 1") == [("between runs",), ("later",)]


def test_redis_recreated_stream_is_read_from_its_start(redis_stream, write_config, tmp_path):
    client, key = redis_stream
    client.xadd(key, {"data": "{}"}, id="5000-0")
    config = redis_config(write_config, tmp_path, key, block_ms=0)
    sync(config)
    client.delete(key)
    client.xadd(key, {"data": '{"again": 1}'}, id="10-1")  # explicit ids, lower than the saved position
    assert sync(config).total("landed") == 1
    assert saved_state(config, "ev")["last_id"] == "10-1"


def test_redis_config_errors_name_the_key_and_the_fix(write_config, tmp_path):
    path = write_config("sources:\n  ev: {kind: redis_stream, stream: s, url: 'redis://:hunter2@localhost:6379/0'}\n")
    with pytest.raises(ConfigError, match=r"'sources\.ev\.url' holds a password.*url_from_env"):
        load_config(path, home=tmp_path)
    path = write_config("sources:\n  ev: {kind: redis_stream, stream: s, max_records: 0}\n")
    with pytest.raises(ConfigError, match=r"'sources\.ev\.max_records' is 0"):
        load_config(path, home=tmp_path)


def test_redis_unreachable_fails_without_leaking_the_password(write_config, tmp_path, monkeypatch):
    monkeypatch.setenv("EV_REDIS_URL", "redis://:s3cret-pw@127.0.0.1:1/0")
    config = load_config(write_config("sources:\n  ev: {kind: redis_stream, stream: s, url_from_env: EV_REDIS_URL}\n"))
    result = sync_source(config, "ev", say=lambda _line: None)
    assert result.status == "failed"
    assert "redis://***@127.0.0.1:1/0" in result.error and "start Redis" in result.error
    assert "s3cret-pw" not in result.error
    assert all("s3cret-pw" not in str(row) for row in query(config, "select * from raw._refinery_sync_log"))


# -- NATS JetStream -------------------------------------------------------------------------------
def nats_call(coroutine_function):
    """Run `coroutine_function(js)` on a fresh connection (the tests are synchronous)."""
    import nats

    async def main():
        client = await nats.connect("nats://127.0.0.1:4222")
        try:
            return await coroutine_function(client.jetstream())
        finally:
            await client.close()

    return asyncio.run(main())


@pytest.fixture
def nats_stream(nats_service):
    name = f"REFTEST_{uuid.uuid4().hex[:10]}"
    subject = f"reftest.{name.lower()}"

    async def create(js):
        await js.add_stream(name=name, subjects=[f"{subject}.>"])

    nats_call(create)

    def publish(payloads: list[bytes], suffix: str = "a") -> list[int]:
        async def send(js):
            return [(await js.publish(f"{subject}.{suffix}", payload)).seq for payload in payloads]

        return nats_call(send)

    yield name, subject, publish

    async def delete(js):
        await js.delete_stream(name)

    nats_call(delete)


def nats_config(write_config, tmp_path, stream: str, **options):
    lines = "".join(f"    {k}: {json.dumps(v)}\n" for k, v in options.items())
    text = f"sources:\n  ev:\n    kind: nats_jetstream\n    stream: {stream}\n    fetch_timeout_seconds: 0.3\n{lines}"
    return load_config(write_config(text), home=tmp_path)


def consumer_info(stream: str, durable: str = "refinery_ev"):
    async def info(js):
        return await js.consumer_info(stream, durable)

    return nats_call(info)


def test_nats_lands_each_event_once_with_both_timestamps_and_out_of_order_event_times(
    nats_stream, write_config, tmp_path
):
    stream, _, publish = nats_stream
    event_times = [30, 10, 20]  # epoch seconds, out of order: all landed, as sent
    before = time.time()
    seqs = publish([json.dumps({"n": i, "at": t}).encode() for i, t in enumerate(event_times)])
    config = nats_config(write_config, tmp_path, stream, event_time_field="at")
    assert sync(config).total("landed") == 3
    rows = query(
        config,
        "select (_airbyte_data->>'n')::int, (_airbyte_data->>'_stream_id')::int, (_airbyte_data->>'_event_time')::int,"
        " (_airbyte_data->>'_arrival_time')::timestamptz from raw.ev__events order by 1",
    )
    assert [r[:3] for r in rows] == [(i, seqs[i], event_times[i]) for i in range(3)]
    for row in rows:  # the message's JetStream timestamp (ms precision)
        assert before - 1 <= row[3].timestamp() <= time.time()
    state = saved_state(config, "ev")
    assert state.pop("stream_created") is not None
    assert state == {"last_seq": seqs[-1], "gap_entries": 0, "gap_checked_seq": 0}
    more = publish([b'{"n": 3}', b'{"n": 4}'], suffix="b")
    assert sync(config).total("landed") == 2  # only the new ones
    assert sync(config).total("landed") == 0
    assert query(config, "select count(*), count(distinct _airbyte_data->>'_stream_id') from raw.ev__events") == [
        (5, 5)
    ]
    info = consumer_info(stream)
    assert (info.num_pending, info.num_ack_pending, info.delivered.stream_seq) == (0, 0, more[-1])


def test_nats_bad_payloads_are_quarantined_and_acknowledged(nats_stream, write_config, tmp_path):
    stream, _, publish = nats_stream
    publish([b'{"ok": 1}', b"not json", b'{"x": "\xff"}', b"42"])
    config = nats_config(write_config, tmp_path, stream)
    result = sync(config)
    assert (result.total("landed"), result.total("quarantined")) == (1, 3)
    rows = sorted(query(config, "select reason, raw_bytes from raw._refinery_quarantine"), key=lambda row: row[1])
    assert [raw for _, raw in rows] == [b"42", b"not json", b'{"x": "\xff"}']
    assert ["got int" in rows[0][0], "invalid JSON" in rows[1][0], "invalid UTF-8" in rows[2][0]] == [True] * 3
    info = consumer_info(stream)
    assert (info.num_pending, info.num_ack_pending) == (0, 0)


def test_nats_max_records_and_subject_filter(nats_stream, write_config, tmp_path):
    stream, subject, publish = nats_stream
    publish([json.dumps({"n": i}).encode() for i in range(12)], suffix="keep")
    publish([b'{"skip": true}'] * 3, suffix="other")
    config = nats_config(write_config, tmp_path, stream, subject=f"{subject}.keep", max_records=5, batch_size=2)
    assert [sync(config).total("landed") for _ in range(4)] == [5, 5, 2, 0]
    assert query(config, "select count(distinct _airbyte_data->>'n'), count(*) from raw.ev__events") == [(12, 12)]


def test_nats_unacked_after_commit_are_not_landed_again(nats_stream, write_config, tmp_path):
    """Delivered, committed, never acked (a crash in between): the consumer restarts after the saved sequence."""
    stream, _, publish = nats_stream
    publish([json.dumps({"n": i}).encode() for i in range(5)])
    config = nats_config(write_config, tmp_path, stream)
    sync(config)
    later = publish([json.dumps({"n": i}).encode() for i in range(5, 8)])

    async def deliver_without_ack(js):  # someone fetches the 3 new ones and dies without acking
        subscription = await js.pull_subscribe_bind(durable="refinery_ev", stream=stream)
        return [m.metadata.sequence.stream for m in await subscription.fetch(3, timeout=2)]

    assert nats_call(deliver_without_ack) == later
    assert consumer_info(stream).num_ack_pending == 3
    assert sync(config).total("landed") == 3  # delivered but not committed: landed, once, without waiting ack_wait
    assert sync(config).total("landed") == 0
    assert query(config, "select count(distinct _airbyte_data->>'n'), count(*) from raw.ev__events") == [(8, 8)]


def test_nats_messages_dropped_by_stream_limits_are_counted_once(nats_service, write_config, tmp_path):
    name = f"REFTEST_{uuid.uuid4().hex[:10]}"
    subject = f"reftest.{name.lower()}"

    async def create_and_publish(js):
        await js.add_stream(name=name, subjects=[subject], max_msgs=3)
        await js.publish(subject, b'{"n": 0}')

    async def publish_more(js):
        for i in range(1, 7):  # sequences 2..7; the limit keeps 5..7
            await js.publish(subject, json.dumps({"n": i}).encode())

    async def delete(js):
        await js.delete_stream(name)

    nats_call(create_and_publish)
    try:
        config = nats_config(write_config, tmp_path, name)
        sync(config)
        nats_call(publish_more)
        result = sync(config)
        assert (result.total("landed"), result.total("quarantined")) == (3, 1)
        (reason,) = query(config, "select reason from raw._refinery_quarantine")[0]
        assert reason.startswith("gap: 3 events lost") and "sequences 2..4" in reason
        assert saved_state(config, "ev")["gap_entries"] == 3
        assert sync(config).total("quarantined") == 0
    finally:
        nats_call(delete)


def test_nats_durable_deleted_by_someone_else_resumes_after_the_saved_position(nats_stream, write_config, tmp_path):
    stream, _, publish = nats_stream
    publish([json.dumps({"n": i}).encode() for i in range(3)])
    config = nats_config(write_config, tmp_path, stream)
    sync(config)

    async def delete_durable(js):
        await js.delete_consumer(stream, "refinery_ev")

    nats_call(delete_durable)
    publish([b'{"n": 3}'])
    assert sync(config).total("landed") == 1
    assert query(config, "select count(distinct _airbyte_data->>'n'), count(*) from raw.ev__events") == [(4, 4)]


def test_nats_fresh_warehouse_resets_an_existing_durable_to_start(nats_stream, write_config, tmp_path):
    """A rebuilt warehouse (no saved state) must not trust the durable's position: that is another warehouse's."""
    stream, _, publish = nats_stream
    publish([json.dumps({"n": i}).encode() for i in range(5)])
    assert sync(nats_config(write_config, tmp_path / "first", stream)).total("landed") == 5
    rebuilt = nats_config(write_config, tmp_path / "rebuilt", stream)
    result, lines = sync_saying(rebuilt)
    assert result.total("landed") == 5
    assert query(rebuilt, "select count(distinct _airbyte_data->>'n'), count(*) from raw.ev__events") == [(5, 5)]
    assert any(
        "durable consumer 'refinery_ev'" in line and "reset" in line and "no saved state" in line for line in lines
    )
    result, lines = sync_saying(rebuilt)
    assert result.total("landed") == 0 and not any("reset" in line for line in lines)


def test_nats_fresh_warehouse_with_start_latest_resets_the_durable_to_the_end(nats_stream, write_config, tmp_path):
    stream, _, publish = nats_stream
    publish([json.dumps({"n": i}).encode() for i in range(3)])
    assert sync(nats_config(write_config, tmp_path / "first", stream, max_records=1)).total("landed") == 1
    config = nats_config(write_config, tmp_path / "rebuilt", stream, start="latest")
    assert sync(config).total("landed") == 0
    publish([b'{"n": "between runs"}'])
    assert sync(config).total("landed") == 1
    assert query(config, "select _airbyte_data->>'n' from raw.ev__events") == [("between runs",)]


def test_nats_recreated_stream_is_read_from_its_start(nats_stream, write_config, tmp_path):
    stream, subject, publish = nats_stream
    publish([json.dumps({"n": i}).encode() for i in range(5)])
    config = nats_config(write_config, tmp_path, stream)
    sync(config)

    async def recreate(js):  # sequences restart at 1: without detection they would look already landed
        await js.delete_stream(stream)
        await js.add_stream(name=stream, subjects=[f"{subject}.>"])

    nats_call(recreate)
    publish([b'{"n": "new-1"}', b'{"n": "new-2"}'])
    assert sync(config).total("landed") == 2
    assert saved_state(config, "ev")["last_seq"] == 2


def test_nats_unreachable_fails_without_leaking_the_token(write_config, tmp_path, monkeypatch):
    monkeypatch.setenv("EV_NATS_TOKEN", "t0ken-s3cret")
    config = load_config(
        write_config(
            "sources:\n  ev: {kind: nats_jetstream, stream: S, servers: 'nats://127.0.0.1:1', "
            "token_from_env: EV_NATS_TOKEN}\n"
        )
    )
    result = sync_source(config, "ev", say=lambda _line: None)
    assert result.status == "failed"
    assert "nats://127.0.0.1:1" in result.error and "start NATS" in result.error
    assert "t0ken-s3cret" not in result.error


def test_nats_unreachable_fails_without_leaking_a_token_in_the_servers_url(write_config, tmp_path, monkeypatch):
    monkeypatch.setenv("EV_NATS_URL", "nats://t0ken-in-url@127.0.0.1:1,usr-x:pw-y@127.0.0.1:2,t0k%40en2@127.0.0.1:3")
    config = load_config(
        write_config("sources:\n  ev: {kind: nats_jetstream, stream: S, servers_from_env: EV_NATS_URL}\n"),
        home=tmp_path,
    )
    from ingestion.sources.streams import build

    with pytest.raises(Exception) as caught:  # what the sensor shows on its tick
        build(config.sources["ev"], config).backlog()
    result = sync_source(config, "ev", say=lambda _line: None)
    assert result.status == "failed"
    assert "nats://***@127.0.0.1:1, ***@127.0.0.1:2, ***@127.0.0.1:3" in result.error and "start NATS" in result.error
    logged = [str(row) for row in query(config, "select * from raw._refinery_sync_log")]
    for secret in ("t0ken-in-url", "usr-x", "pw-y", "t0k%40en2", "t0k@en2"):
        assert secret not in str(caught.value) and secret not in result.error
        assert all(secret not in row for row in logged)


# -- SIGKILL at random points, then run to completion: exactly once -------------------------------
FAULT_SYNC = textwrap.dedent("""
    import os, signal, sys
    from refinery.config import load_config
    from ingestion.sync import sync_source

    config, ack_kill, target = load_config(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    if ack_kill:  # die right after the n-th commit, before its acknowledgement reaches the broker
        if target == "redis":
            import redis
            owner, name = redis.Redis, "xack"
        else:
            from nats.aio.msg import Msg
            owner, name = Msg, "ack"
        original, calls = getattr(owner, name), {"n": 0}

        def dying(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == ack_kill:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(*args, **kwargs)

        setattr(owner, name, dying)
    print("ready", flush=True)
    while True:
        sync_source(config, "ev", say=lambda _line: None)
""")


def kill_repeatedly(config_path: Path, target: str, kills: int, seed: int, producing) -> int:
    """Start the sync loop in a subprocess and SIGKILL it `kills` times at seeded random points."""
    rng = random.Random(seed + int(os.environ.get("REFINERY_FAULT_SEED", "0")))
    script = config_path.parent / "fault_sync.py"
    script.write_text(FAULT_SYNC)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    killed = 0
    for _ in range(kills):
        ack_kill = rng.choice([0, 0, rng.randint(1, 6)])  # a third of the kills land between commit and ack
        process = subprocess.Popen(
            [sys.executable, str(script), str(config_path), str(ack_kill), target],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert process.stdout.readline().strip() == b"ready", process.stderr.read().decode()
        try:
            process.wait(timeout=rng.uniform(0.05, 0.6))
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
        assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()[-2000:]
        killed += 1
        producing()
    return killed


@pytest.mark.slow  # 15 subprocess starts: ~8-18 s alone, up to ~50 s on a loaded 2-core machine
def test_redis_sigkill_at_random_points_lands_every_event_exactly_once(redis_stream, write_config, tmp_path):
    client, key = redis_stream
    config = redis_config(write_config, tmp_path, key, batch_size=50, max_records=400, block_ms=0)
    total, chunk, produced = 5_000, 250, []

    def produce() -> None:
        pipe = client.pipeline()
        for i in range(len(produced), min(len(produced) + chunk, total)):
            pipe.xadd(key, {"data": json.dumps({"n": i})})
        produced.extend(pipe.execute())

    produce()
    assert kill_repeatedly(config.path, "redis", kills=15, seed=7, producing=produce) == 15
    while len(produced) < total:
        produce()
    while sync(config).total("landed"):
        pass
    counts = query(
        config,
        "select count(*), count(distinct _airbyte_data->>'_stream_id'), count(distinct _airbyte_data->>'n') "
        "from raw.ev__events",
    )
    assert counts == [(total, total, total)]
    assert saved_state(config, "ev") == {"last_id": produced[-1].decode(), "gap_entries": 0}
    info = group_info(client, key)
    assert (info["pending"], info["lag"]) == (0, 0)
    interrupted = query(config, "select count(*) from raw._refinery_sync_log where error like 'interrupted%'")[0][0]
    assert interrupted >= 5  # a third of the kills at least landed inside a sync (others between two)


@pytest.mark.slow  # 15 subprocess starts: ~8-18 s alone, up to ~50 s on a loaded 2-core machine
def test_nats_sigkill_at_random_points_lands_every_event_exactly_once(nats_stream, write_config, tmp_path):
    stream, subject, _ = nats_stream
    config = nats_config(write_config, tmp_path, stream, batch_size=50, max_records=400, fetch_timeout_seconds=0.1)
    total, chunk, produced = 5_000, 250, []

    def produce() -> None:
        async def send(js):
            start = len(produced)
            acks = await asyncio.gather(
                *(
                    js.publish(f"{subject}.a", json.dumps({"n": i}).encode())
                    for i in range(start, min(start + chunk, total))
                )
            )
            return [ack.seq for ack in acks]

        produced.extend(nats_call(send))

    produce()
    assert kill_repeatedly(config.path, "nats", kills=15, seed=11, producing=produce) == 15
    while len(produced) < total:
        produce()
    while sync(config).total("landed"):
        pass
    counts = query(
        config,
        "select count(*), count(distinct _airbyte_data->>'_stream_id'), count(distinct _airbyte_data->>'n') "
        "from raw.ev__events",
    )
    assert counts == [(total, total, total)]
    state = saved_state(config, "ev")
    assert (state["last_seq"], state["gap_entries"]) == (max(produced), 0)
    info = consumer_info(stream)
    assert (info.num_pending, info.num_ack_pending) == (0, 0)
    interrupted = query(config, "select count(*) from raw._refinery_sync_log where error like 'interrupted%'")[0][0]
    assert interrupted >= 5


# -- the Dagster sensor ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dagster_instance():
    import dagster as dg

    with dg.instance_for_test() as instance:
        yield instance


def evaluate_sensor(config, instance):
    """(sensor name, its run requests, the tick's skip message) for the config's one stream source."""
    import dagster as dg

    from dagster_project.assets.ingestion import build_ingestion_assets
    from dagster_project.sensors import build_stream_sensors

    (sensor,) = build_stream_sensors(config)
    defs = dg.Definitions(assets=build_ingestion_assets(config), sensors=[sensor])
    defs.resolve_job_def(sensor.job_name)  # the sensor's target resolves against the ingestion assets
    context = dg.build_sensor_context(instance=instance, definitions=defs, sensor_name=sensor.name)
    result = sensor.evaluate_tick(context)
    return sensor.name, list(result.run_requests or []), result.skip_message


def test_redis_sensor_requests_one_run_when_entries_wait_and_skips_otherwise(
    redis_stream, write_config, tmp_path, dagster_instance
):
    import dagster as dg

    client, key = redis_stream
    config = redis_config(write_config, tmp_path, key, block_ms=0, sensor_interval_seconds=45)
    client.xadd(key, {"data": "{}"})
    name, requests, _ = evaluate_sensor(config, dagster_instance)
    assert name == "ev_stream_sensor"
    assert [(r.asset_selection, r.tags["refinery/stream_source"]) for r in requests] == [
        ([dg.AssetKey(["raw", "ev__events"])], "ev")
    ]
    first_key = requests[0].run_key
    queued = dg.DagsterRun(job_name="__anonymous", status=dg.DagsterRunStatus.STARTED, tags=requests[0].tags)
    dagster_instance.add_run(queued)
    try:  # a run of the source is under way: no second one piles up behind it
        assert evaluate_sensor(config, dagster_instance)[1:] == (
            [],
            f"a run of 'ev' is already queued or running ({queued.run_id})",
        )
    finally:
        dagster_instance.delete_run(queued.run_id)
    sync(config)
    _, requests, skipped = evaluate_sensor(config, dagster_instance)
    assert requests == [] and "nothing new in 'ev'" in skipped
    client.xadd(key, {"data": "{}"})
    _, requests, _ = evaluate_sensor(config, dagster_instance)
    assert len(requests) == 1 and requests[0].run_key != first_key


def test_nats_sensor_requests_one_run_when_messages_wait_and_skips_otherwise(
    nats_stream, write_config, tmp_path, dagster_instance
):
    import dagster as dg

    stream, _, publish = nats_stream
    config = nats_config(write_config, tmp_path, stream)
    publish([b"{}"])
    _, requests, _ = evaluate_sensor(config, dagster_instance)
    assert [r.asset_selection for r in requests] == [[dg.AssetKey(["raw", "ev__events"])]]
    sync(config)
    _, requests, skipped = evaluate_sensor(config, dagster_instance)
    assert requests == [] and "nothing new in 'ev'" in skipped


def test_no_sensor_when_interval_is_zero(redis_service, write_config, tmp_path):
    from dagster_project.sensors import build_stream_sensors

    config = redis_config(write_config, tmp_path, "unused", sensor_interval_seconds=0)
    assert build_stream_sensors(config) == []


def test_sensor_skips_with_the_reason_when_the_broker_is_down(write_config, tmp_path, dagster_instance):
    config = redis_config(write_config, tmp_path, "s", url="redis://127.0.0.1:1/0")
    _, requests, skipped = evaluate_sensor(config, dagster_instance)
    assert requests == []
    assert (
        skipped.startswith("cannot check 'ev': source 'ev': Redis at redis://127.0.0.1:1/0")
        and "start Redis" in skipped
    )


def test_sensor_requests_again_after_a_run_failed_before_anything_was_delivered(
    redis_stream, write_config, tmp_path, dagster_instance
):
    """Dagster never reuses a run key: a key made of the broker position alone would strand the backlog."""
    import dagster as dg

    client, key = redis_stream
    config = redis_config(write_config, tmp_path, key, block_ms=0)
    client.xadd(key, {"data": "{}"})
    (request,) = evaluate_sensor(config, dagster_instance)[1]
    failed = dg.DagsterRun(
        job_name="__anonymous",
        status=dg.DagsterRunStatus.FAILURE,
        tags={**request.tags, "dagster/run_key": request.run_key},
    )
    dagster_instance.add_run(failed)
    try:  # the run failed (warehouse busy) before reading: the broker position is unchanged
        (again,) = evaluate_sensor(config, dagster_instance)[1]
        assert again.run_key != request.run_key
        used = dagster_instance.get_run_records(filters=dg.RunsFilter(tags={"dagster/run_key": again.run_key}))
        assert used == []
    finally:
        dagster_instance.delete_run(failed.run_id)
