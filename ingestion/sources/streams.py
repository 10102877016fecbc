"""`kind: redis_stream` and `kind: nats_jetstream` — events from a broker, landed exactly once.

Configuration (refinery.yml)::

    clicks:
      kind: redis_stream
      stream: events:clicks              # the Redis stream key (required)
      url: redis://127.0.0.1:6379/0      # default; or url_from_env: CLICKS_REDIS_URL (a URL with a password)
      group: refinery_clicks             # optional: consumer group (default refinery_<source>)
      consumer: refinery                 # optional: consumer name inside the group
      field: data                        # optional: the entry field holding the JSON payload; "*" = all fields
      start: earliest                    # optional: where a new group starts: earliest | latest
      max_records: 10000                 # optional: at most this many entries per `refinery run`
      batch_size: 1000                   # optional: entries per checkpoint (one commit, one XACK)
      block_ms: 500                      # optional: wait this long for new entries before returning (0 = no wait)
      primary_key: _stream_id            # optional: default _stream_id (the entry id)
      event_time_field: ts               # optional: payload field copied to _event_time
      text_field: body                   # optional: each event is a document with this text (role documents)
      sensor_interval_seconds: 30        # optional: how often the Dagster sensor looks for new entries

    orders:
      kind: nats_jetstream
      stream: ORDERS                     # the JetStream stream (required)
      subject: orders.>                  # optional: filter subject (default: every subject of the stream)
      servers: nats://127.0.0.1:4222     # default; a list is accepted; or servers_from_env: ORDERS_NATS_URL
      token_from_env: ORDERS_NATS_TOKEN  # optional: or user_from_env + password_from_env
      durable: refinery_orders           # optional: durable pull consumer (default refinery_<source>)
      fetch_timeout_seconds: 1.0         # optional: wait this long for new messages before returning
      ack_wait_seconds: 300              # optional: the consumer's ack wait
      max_records, batch_size, start, primary_key, event_time_field, text_field, role, group_field: as above

One stream, `events`, landed as `raw.<source>__events`. A record is the JSON object of the
payload plus `_stream_id` (Redis entry id `"<ms>-<seq>"` / NATS stream sequence),
`_event_time` (the payload's `event_time_field`, as sent, else null) and `_arrival_time`
(the broker's timestamp, ISO 8601 UTC: the Redis id's milliseconds / the JetStream
message timestamp). These three keys replace payload keys of the same name.

Exactly once: the saved state holds the last landed position (`last_id` / `last_seq`). Each
batch is landed, its state committed, and only then acknowledged (XACK / ack): the code
after `yield State` runs once the destination committed (see ingestion/sources/__init__.py).
After a crash between commit and ack, the broker still has the batch pending: Redis entries
are reclaimed first (XAUTOCLAIM) and NATS's consumer is recreated at the saved position + 1;
anything at or before the saved position is acknowledged without landing again, anything
after it is landed once. A payload that is not UTF-8, not JSON or not a JSON object is
quarantined with its bytes (and acknowledged with its batch). Entries the broker deleted
before Refinery read them (MAXLEN/MINID trimming, XDEL, JetStream limits) are counted in the
state's `gap_entries`, reported by a Log WARN and a quarantine row whose reason gives the
count; they cannot be recovered. With no saved state at all (a new or rebuilt warehouse), an
existing group / durable is reset per `start` (a WARN), since its position is an earlier
reader's. See docs/sources/streams.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson

from ingestion.protocol import ROLES, Log, Message, Quarantined, Record, StreamSpec, stream_state_message
from refinery.config import Config, ConfigError, SourceConfig, redact

STREAM = "events"
PAYLOAD_KEYS = ("_stream_id", "_event_time", "_arrival_time")
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_NATS_SERVER = "nats://127.0.0.1:4222"
COMMON_OPTIONS = {
    "max_records",
    "batch_size",
    "start",
    "primary_key",
    "event_time_field",
    "text_field",
    "role",
    "group_field",
    "sensor_interval_seconds",
}
KIND_OPTIONS: dict[str, tuple[set[str], set[str]]] = {
    "redis_stream": ({"stream"}, COMMON_OPTIONS | {"url", "url_from_env", "group", "consumer", "field", "block_ms"}),
    "nats_jetstream": (
        {"stream"},
        COMMON_OPTIONS
        | {
            "subject",
            "servers",
            "servers_from_env",
            "token_from_env",
            "user_from_env",
            "password_from_env",
            "durable",
            "fetch_timeout_seconds",
            "ack_wait_seconds",
        },
    ),
}
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
NATS_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


class StreamUnavailable(RuntimeError):
    """The broker cannot be reached or the stream is missing; the message names the source and the fix."""


# -- configuration -----------------------------------------------------------------------------------
def check_options(source: SourceConfig, where: str) -> None:
    """Validate a stream source's options (called by refinery.config when refinery.yml is loaded).

    Raises:
        ConfigError: naming the file, the key and the fix.
    """
    options, file = source.options, source.config_file

    def fail(key: str, problem: str) -> None:
        raise ConfigError(f"{file}: '{where}.{key}' {problem}")

    if not isinstance(options["stream"], str) or not options["stream"].strip():
        fail("stream", "must be the stream's name as a string, e.g. events:clicks")
    for key in ("max_records", "batch_size"):
        value = options.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            fail(key, f"is {value!r}: give a whole number of at least 1, e.g. 1000")
    for key in ("block_ms", "sensor_interval_seconds"):
        value = options.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            fail(key, f"is {value!r}: give a whole number of 0 or more")
    for key in ("fetch_timeout_seconds", "ack_wait_seconds"):
        value = options.get(key)
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool) or value <= 0):
            fail(key, f"is {value!r}: give a number of seconds above 0, e.g. 1.5")
    if options.get("start", "earliest") not in ("earliest", "latest"):
        fail("start", f"is {options['start']!r}: use earliest (the whole stream) or latest (only new events)")
    role = options.get("role")
    if role is not None and role not in ROLES:
        fail("role", f"is {role!r}: use one of {', '.join(sorted(ROLES))}")
    if role == "documents" and not options.get("text_field"):
        fail("role", "is documents but no text_field is set: name the payload field holding the text")
    for key in ("event_time_field", "field", "group", "consumer", "subject"):
        value = options.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            fail(key, f"is {value!r}: give a non-empty string")
    for key in ("url_from_env", "servers_from_env", "token_from_env", "user_from_env", "password_from_env"):
        value = options.get(key)
        if value is not None and (not isinstance(value, str) or not ENV_NAME.match(value)):
            fail(key, f"is {value!r}: give the name of an environment variable, e.g. EVENTS_SECRET")
    if source.kind == "redis_stream":
        _check_redis(options, fail)
    else:
        _check_nats(options, fail)


def _check_redis(options: dict[str, Any], fail: Callable[[str, str], None]) -> None:
    url = options.get("url")
    if url is not None:
        if "url_from_env" in options:
            fail("url", "and 'url_from_env' are both set: keep one (url_from_env when the URL holds a password)")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("redis", "rediss", "unix"):
            fail("url", f"is {url!r}: give a Redis URL such as redis://127.0.0.1:6379/0")
        if urlsplit(url).password:
            fail(
                "url",
                "holds a password: remove it from refinery.yml and set url_from_env to a variable holding the URL",
            )


def _check_nats(options: dict[str, Any], fail: Callable[[str, str], None]) -> None:
    servers = options.get("servers")
    if servers is not None:
        if "servers_from_env" in options:
            fail("servers", "and 'servers_from_env' are both set: keep one")
        listed = [servers] if isinstance(servers, str) else servers
        if not isinstance(listed, list) or not listed or not all(isinstance(s, str) and s for s in listed):
            fail("servers", f"is {servers!r}: give a NATS URL or a list of them, e.g. nats://127.0.0.1:4222")
        if any(urlsplit(s).password or urlsplit(s).username for s in listed):
            fail("servers", "holds credentials: remove them and use token_from_env or user_from_env/password_from_env")
    durable = options.get("durable")
    if durable is not None and (not isinstance(durable, str) or not NATS_NAME.match(durable)):
        fail("durable", f"is {durable!r}: use letters, digits, '-' and '_' only")
    if not NATS_NAME.match(str(options["stream"])):
        fail("stream", f"is {options['stream']!r}: a JetStream stream name has letters, digits, '-' and '_' only")
    if ("user_from_env" in options) != ("password_from_env" in options):
        fail("user_from_env", "and 'password_from_env' go together: set both, or use token_from_env")


def build(source: SourceConfig, config: Config, say: Callable[[str], None] = print) -> RedisStreamSource | NatsSource:
    """The source object for a `redis_stream` or `nats_jetstream` entry of refinery.yml."""
    return RedisStreamSource(source) if source.kind == "redis_stream" else NatsSource(source)


def _env(source: SourceConfig, key: str) -> str | None:
    """The value of the environment variable named by option `key` (None if the option is unset)."""
    name = source.option(key)
    if name is None:
        return None
    value = os.environ.get(name)
    if value is None:
        raise ConfigError(
            f"{source.config_file}: 'sources.{source.name}.{key}' names environment variable {name}, "
            "which is not set; export it before running"
        )
    return value


USERINFO = re.compile(r"^((?:[A-Za-z][A-Za-z0-9+.-]*:)?//)?([^/?#]*)@")


def redact_url(url: str) -> str:
    """The URL with its user, password or token replaced by '***' (safe for errors and logs).

    Written without urlsplit so that a URL without a scheme (`TOKEN@host:4222`, which the NATS
    client accepts) or with a bad port is redacted too.
    """
    return USERINFO.sub(r"\1***@", url, count=1)


def url_secrets(url: str) -> list[str]:
    """Every credential part of a URL (the whole user info, the user or token, the password), as written and decoded."""
    match = USERINFO.match(url)
    if not match or not match.group(2):
        return []
    userinfo = match.group(2)
    parts = [userinfo, *userinfo.split(":", 1)]
    return [value for part in parts if part for value in (part, unquote(part))]


# -- shared: payload to record -------------------------------------------------------------------
@dataclass
class Settings:
    """What both kinds share: bounds, payload handling and the landed stream."""

    source: SourceConfig

    @property
    def max_records(self) -> int:
        return int(self.source.option("max_records", 10_000))

    @property
    def batch_size(self) -> int:
        return min(int(self.source.option("batch_size", 1_000)), self.max_records)

    @property
    def event_time_field(self) -> str | None:
        return self.source.option("event_time_field")

    @property
    def start_latest(self) -> bool:
        return self.source.option("start", "earliest") == "latest"

    def stream_spec(self) -> StreamSpec:
        text_field = self.source.option("text_field")
        role = self.source.option("role") or ("documents" if text_field else "records")
        return StreamSpec(
            name=STREAM,
            role=role,
            primary_key=self.source.option("primary_key", "_stream_id"),
            text_field=text_field,
            group_field=self.source.option("group_field"),
        )


def payload_record(
    raw: bytes, stream_id: str | int, arrival: datetime, event_time_field: str | None, where: str
) -> Record | Quarantined:
    """One event as a Record, or Quarantined (with `raw`) when it is not a UTF-8 JSON object."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
            reason = f"{where}: invalid JSON: {exc}"
        except UnicodeDecodeError:
            reason = f"{where}: invalid UTF-8"
        return Quarantined(reason, raw, STREAM)
    if not isinstance(data, dict):
        return Quarantined(f"{where}: expected a JSON object, got {type(data).__name__}", raw, STREAM)
    data["_stream_id"] = stream_id
    data["_event_time"] = data.get(event_time_field) if event_time_field else None
    data["_arrival_time"] = arrival.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return Record(STREAM, data, int(time.time() * 1000), size=len(raw))


def gap_messages(count: int | None, what: str) -> list[Message]:
    """A WARN log and a quarantine row (empty bytes) for events the broker dropped before we read them."""
    amount = "an unknown number of" if count is None else f"{count}"
    text = f"{amount} events lost: {what}; they were deleted by the broker before Refinery read them"
    return [Log("WARN", text), Quarantined(f"gap: {text}", b"", STREAM)]


# -- Redis ----------------------------------------------------------------------------------------
def redis_id_key(entry_id: bytes | str) -> tuple[int, int]:
    """A Redis stream id as a sortable (milliseconds, sequence) pair."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def _redis_predecessor(entry_id: tuple[int, int]) -> str:
    ms, seq = entry_id
    return f"{ms}-{seq - 1}" if seq > 0 else f"{ms - 1}-18446744073709551615"


class RedisStreamSource:
    """A Redis stream read through a consumer group (see the module docstring)."""

    def __init__(self, source: SourceConfig) -> None:
        self.source = source
        self.settings = Settings(source)
        self.key = str(source.option("stream"))
        self.group = str(source.option("group") or f"refinery_{source.name}")
        self.consumer = str(source.option("consumer") or "refinery")
        self.field = str(source.option("field", "data"))
        self.block_ms = int(source.option("block_ms", 500))

    def streams(self) -> list[StreamSpec]:
        return [self.settings.stream_spec()]

    planned_streams = streams  # declaring them reads nothing

    def url(self) -> str:
        return _env(self.source, "url_from_env") or str(self.source.option("url", DEFAULT_REDIS_URL))

    def connect(self) -> Any:
        """A redis-py client (decode_responses off: payloads are bytes until we check them)."""
        import redis

        timeout = self.block_ms / 1000 + 10
        return redis.Redis.from_url(self.url(), socket_connect_timeout=5, socket_timeout=timeout)

    def unavailable(self, exc: Exception) -> StreamUnavailable:
        url = self.url()
        secrets = [url, *url_secrets(url)]
        return StreamUnavailable(
            f"source '{self.source.name}': Redis at {redact_url(url)}, stream {self.key!r}: "
            f"{redact(f'{type(exc).__name__}: {exc}', secrets)}; start Redis or fix 'url'/'url_from_env' "
            f"in {self.source.config_file}"
        )

    def ensure_group(self, client: Any, last: tuple[int, int] | None, fresh: bool = False) -> list[Message]:
        """Create the consumer group if missing: at the saved position, else per `start`.

        With no saved state at all (`fresh`: a new or rebuilt warehouse), an existing group's
        position and pending list belong to whatever read it before, not to this warehouse:
        trusting them would skip every event the stream still holds. The group is then
        destroyed and created again per `start`.
        """
        import redis

        start = ("$" if self.settings.start_latest else "0") if last is None else f"{last[0]}-{last[1]}"
        try:
            client.xgroup_create(self.key, self.group, id=start, mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
            if not fresh:
                return []
            client.xgroup_destroy(self.key, self.group)  # also drops its pending list
            client.xgroup_create(self.key, self.group, id=start, mkstream=True)
            where = "end (start: latest)" if self.settings.start_latest else "first entry (start: earliest)"
            return [
                Log(
                    "WARN",
                    f"consumer group {self.group!r} of stream {self.key!r} was reset to the stream's {where}: "
                    "the warehouse has no saved state for this source (new or rebuilt), so the group's position "
                    "and pending entries are an earlier reader's, not to be trusted",
                )
            ]
        if last is None:
            return []
        return [Log("WARN", f"consumer group {self.group!r} was missing; recreated after the saved position {start}")]

    def read(self, saved: Any) -> Iterator[Message]:
        import redis

        state = dict(saved.streams.get(STREAM) or {})
        fresh = not state
        position = {"last": redis_id_key(state["last_id"]) if state.get("last_id") else None}
        gaps = int(state.get("gap_entries", 0))
        client = self.connect()
        try:
            try:
                if position["last"] is not None and client.exists(self.key):
                    newest = redis_id_key(client.xinfo_stream(self.key)["last-generated-id"])
                    if newest < position["last"]:  # ids never go back: the key was deleted and recreated
                        yield Log(
                            "WARN",
                            f"stream {self.key!r} was recreated (its newest id is before the saved "
                            f"{state['last_id']}); reading it from the start",
                        )
                        position["last"] = None
                yield from self.ensure_group(client, position["last"], fresh)
                if fresh:  # saved now, so the next run trusts the group this run set up
                    yield self._state(None, gaps)
                trimmed, setid = self._trimmed(client)
            except redis.RedisError as exc:
                raise self.unavailable(exc) from None
            if trimmed != 0:
                gaps += trimmed or 0
                yield from gap_messages(trimmed, f"stream {self.key!r} was trimmed past the group's position")
                yield self._state(position["last"], gaps)
                if setid is not None:  # the gap is committed: move the group to it, so it is counted once
                    try:
                        client.xgroup_setid(self.key, self.group, setid[0], entries_read=setid[1])
                    except redis.RedisError as exc:
                        raise self.unavailable(exc) from None
            remaining = self.settings.max_records
            cursor: bytes | str = "0-0"
            while remaining > 0:  # first what was delivered before but never acknowledged
                try:
                    cursor, entries, deleted = client.xautoclaim(
                        self.key, self.group, self.consumer, 0, cursor, count=min(self.settings.batch_size, remaining)
                    )
                except redis.RedisError as exc:
                    raise self.unavailable(exc) from None
                lost = [d for d in deleted if position["last"] is None or redis_id_key(d) > position["last"]]
                if lost:
                    gaps += len(lost)
                    yield from gap_messages(len(lost), f"pending entries of stream {self.key!r} were trimmed")
                    yield self._state(position["last"], gaps)
                remaining -= len(entries)
                yield from self._batch(client, entries, position, gaps)
                if redis_id_key(cursor) == (0, 0):
                    break
            while remaining > 0:  # then new entries
                try:
                    response = client.xreadgroup(
                        self.group,
                        self.consumer,
                        {self.key: ">"},
                        count=min(self.settings.batch_size, remaining),
                        block=self.block_ms or None,
                    )
                except redis.RedisError as exc:
                    raise self.unavailable(exc) from None
                entries = response[0][1] if response else []
                if not entries:
                    break
                remaining -= len(entries)
                yield from self._batch(client, entries, position, gaps)
        finally:
            client.close()

    def _trimmed(self, client: Any) -> tuple[int | None, tuple[str, int] | None]:
        """Entries deleted after the group's last delivered id before delivery: (count or None, setid).

        0 = none. Trimming (MAXLEN/MINID) removes the oldest entries first, so when the first
        entry left is newer than the group's position, everything between was trimmed and the
        count is entries-added - length - entries-read. XDEL of newer entries is detected by
        max-deleted-entry-id, without a count.
        """
        info = client.xinfo_stream(self.key)
        group = next(g for g in client.xinfo_groups(self.key) if g["name"].decode() == self.group)
        delivered = redis_id_key(group["last-delivered-id"])
        first = info.get("first-entry")
        first_id = redis_id_key(first[0]) if first else None
        deleted = info["entries-added"] - info["length"]
        entries_read = group.get("entries-read")
        if (first_id is None or first_id > delivered) and entries_read is not None and deleted > entries_read:
            count = deleted - entries_read
            target = _redis_predecessor(first_id) if first_id else info["last-generated-id"].decode()
            return count, (target, deleted)
        max_deleted = info.get("max-deleted-entry-id")
        if max_deleted is not None and redis_id_key(max_deleted) > delivered:
            return None, None  # XDEL'd entries: no count; warned until the group reads past them
        return 0, None

    def _entry_payload(self, entry_id: str, fields: dict[bytes, bytes]) -> bytes | Quarantined:
        where = f"stream {self.key!r} entry {entry_id}"
        if self.field == "*":
            try:
                return orjson.dumps({k.decode(): v.decode() for k, v in fields.items()})
            except UnicodeDecodeError:
                raw = b"\n".join(k + b"=" + v for k, v in fields.items())
                return Quarantined(f"{where}: a field is not valid UTF-8", raw, STREAM)
        value = fields.get(self.field.encode())
        if value is None:
            raw = b"\n".join(k + b"=" + v for k, v in fields.items())
            names = ", ".join(k.decode("utf-8", "replace") for k in fields) or "none"
            return Quarantined(
                f"{where}: no field {self.field!r} (fields: {names}); set 'field' to the payload's field or '*'",
                raw,
                STREAM,
            )
        return value

    def _batch(
        self, client: Any, entries: list[tuple[bytes, dict[bytes, bytes]]], position: dict[str, Any], gaps: int
    ) -> Iterator[Message]:
        """Land the entries after the saved position, commit, then XACK the whole batch."""
        if not entries:
            return
        ids = [entry_id for entry_id, _ in entries]
        fresh = 0
        for entry_id, fields in entries:
            key = redis_id_key(entry_id)
            if position["last"] is not None and key <= position["last"]:
                continue  # landed before a crash that came before its XACK
            text = entry_id.decode()
            payload = self._entry_payload(text, fields or {})
            if isinstance(payload, Quarantined):
                yield payload
            else:
                arrival = datetime.fromtimestamp(key[0] / 1000, UTC)
                yield payload_record(
                    payload, text, arrival, self.settings.event_time_field, f"stream {self.key!r} entry {text}"
                )
            position["last"] = key
            fresh += 1
        if fresh:
            yield self._state(position["last"], gaps)
        # here the batch is committed (the checkpoint contract), so acknowledging cannot lose it
        import redis

        try:
            client.xack(self.key, self.group, *ids)
        except redis.RedisError as exc:
            raise self.unavailable(exc) from None

    @staticmethod
    def _state(last: tuple[int, int] | None, gaps: int) -> Message:
        last_id = None if last is None else f"{last[0]}-{last[1]}"
        return stream_state_message(STREAM, {"last_id": last_id, "gap_entries": gaps})

    def backlog(self) -> tuple[int, str]:
        """(entries waiting: undelivered + pending, a key naming this backlog) — cheap, for the sensor."""
        import redis

        client = self.connect()
        try:
            try:
                groups = client.xinfo_groups(self.key)
                info = client.xinfo_stream(self.key)
            except redis.ResponseError:  # no such stream yet
                return 0, "empty"
            group = next((g for g in groups if g["name"].decode() == self.group), None)
            last = info["last-generated-id"].decode()
            if group is None:
                waiting = 0 if self.settings.start_latest else info["length"]
                return waiting, f"{last}/new"
            lag = group.get("lag")
            if lag is None:  # unknown after deletions: is anything newer than the last delivered id?
                lag = int(redis_id_key(last) > redis_id_key(group["last-delivered-id"]))
            return lag + group["pending"], f"{last}/{group['last-delivered-id'].decode()}/{group['pending']}"
        except redis.RedisError as exc:
            raise self.unavailable(exc) from None
        finally:
            client.close()


# -- NATS JetStream -------------------------------------------------------------------------------
async def _ack_all(client: Any, messages: list[Any]) -> None:
    """Acknowledge a batch, then flush: when this returns the server has every ack."""
    for message in messages:
        await message.ack()
    await client.flush()


class NatsSource:
    """A JetStream stream read through a durable pull consumer (see the module docstring)."""

    def __init__(self, source: SourceConfig) -> None:
        self.source = source
        self.settings = Settings(source)
        self.stream = str(source.option("stream"))
        self.subject = source.option("subject")
        self.durable = str(source.option("durable") or f"refinery_{source.name}")
        self.fetch_timeout = float(source.option("fetch_timeout_seconds", 1.0))
        self.ack_wait = float(source.option("ack_wait_seconds", 300))

    def streams(self) -> list[StreamSpec]:
        return [self.settings.stream_spec()]

    planned_streams = streams  # declaring them reads nothing

    def servers(self) -> list[str]:
        from_env = _env(self.source, "servers_from_env")
        if from_env:
            return [s.strip() for s in from_env.split(",") if s.strip()]
        servers = self.source.option("servers", DEFAULT_NATS_SERVER)
        return [servers] if isinstance(servers, str) else list(servers)

    def secrets(self) -> list[str]:
        values = [_env(self.source, key) for key in ("token_from_env", "user_from_env", "password_from_env")]
        if self.source.option("servers_from_env"):  # a URL may carry a token as its user part: all of it is secret
            values += [secret for server in self.servers() for secret in url_secrets(server)]
        return [v for v in values if v]

    def unavailable(self, exc: BaseException) -> StreamUnavailable:
        servers = ", ".join(redact_url(s) for s in self.servers())
        text = redact(f"{type(exc).__name__}: {exc}".rstrip(": "), self.secrets())
        return StreamUnavailable(
            f"source '{self.source.name}': NATS at {servers}, JetStream stream {self.stream!r}: {text}; "
            f"start NATS with JetStream, create the stream, or fix 'servers'/'stream' in {self.source.config_file}"
        )

    async def connect(self) -> Any:
        import nats

        options: dict[str, Any] = {"connect_timeout": 3, "allow_reconnect": False, "max_reconnect_attempts": 1}
        options["reconnect_time_wait"] = 0.5  # 0 attempts would mean "retry forever"
        token = _env(self.source, "token_from_env")
        if token:
            options["token"] = token
        user = _env(self.source, "user_from_env")
        if user:
            options["user"], options["password"] = user, _env(self.source, "password_from_env")

        async def quiet(_exc: Exception) -> None:  # errors surface where they happen, with the fix
            return None

        return await nats.connect(servers=self.servers(), error_cb=quiet, **options)

    def consumer_config(self, start_seq: int | None) -> Any:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        if start_seq is not None:
            policy = DeliverPolicy.BY_START_SEQUENCE
        else:
            policy = DeliverPolicy.NEW if self.settings.start_latest else DeliverPolicy.ALL
        return ConsumerConfig(
            durable_name=self.durable,
            deliver_policy=policy,
            opt_start_seq=start_seq,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            filter_subject=self.subject,
            max_ack_pending=max(1_000, 2 * self.settings.batch_size),
        )

    async def _prepare(self, js: Any, last: int | None, fresh: bool = False) -> list[Message]:
        """Make the durable consumer start right after the saved position (recreating it if needed).

        A consumer with messages delivered but not acknowledged (a run that crashed) would
        redeliver them only after ack_wait, out of order with newer ones; recreating it at
        the saved position + 1 replays exactly what was not committed, in order. With no
        saved state at all (`fresh`: a new or rebuilt warehouse), an existing consumer's
        position is an earlier reader's: it is recreated per `start`.
        """
        from nats.js.errors import NotFoundError

        try:
            info = await js.consumer_info(self.stream, self.durable)
        except NotFoundError:
            info = None
        notes: list[Message] = []
        if info is not None and fresh:
            await js.delete_consumer(self.stream, self.durable)
            await js.add_consumer(self.stream, self.consumer_config(None))
            where = (
                "new messages only (start: latest)" if self.settings.start_latest else "first message (start: earliest)"
            )
            notes.append(
                Log(
                    "WARN",
                    f"durable consumer {self.durable!r} of JetStream stream {self.stream!r} was reset to the stream's "
                    f"{where}: the warehouse has no saved state for this source (new or rebuilt), so the consumer's "
                    "position is an earlier reader's, not to be trusted",
                )
            )
            return notes
        if info is None:
            await js.add_consumer(self.stream, self.consumer_config(None if last is None else last + 1))
            if last is not None:
                notes.append(Log("WARN", f"durable consumer {self.durable!r} was missing; recreated at {last + 1}"))
            return notes
        same_filter = (info.config.filter_subject or None) == (self.subject or None)
        # with a filter, delivered.stream_seq may run past `last` over other subjects' messages
        in_step = info.num_ack_pending == 0 and (last is None or info.delivered.stream_seq >= last)
        if same_filter and in_step:
            return notes
        start = last + 1 if last is not None else info.ack_floor.stream_seq + 1
        await js.delete_consumer(self.stream, self.durable)
        await js.add_consumer(self.stream, self.consumer_config(start))
        notes.append(Log("INFO", f"durable consumer {self.durable!r} restarted at stream sequence {start}"))
        return notes

    def read(self, saved: Any) -> Iterator[Message]:
        state = dict(saved.streams.get(STREAM) or {})
        fresh = not state
        last: int | None = state.get("last_seq")
        gaps = int(state.get("gap_entries", 0))
        checked = int(state.get("gap_checked_seq", 0))
        loop = asyncio.new_event_loop()
        run = loop.run_until_complete
        client = None
        try:
            try:
                client = run(self.connect())
                js = client.jetstream()
                stream_info = run(js.stream_info(self.stream))
                created = stream_info.created.isoformat() if stream_info.created else None
                recreated = state.get("stream_created") not in (None, created)
                if last is not None and (recreated or stream_info.state.last_seq < last):
                    yield Log("WARN", f"JetStream stream {self.stream!r} was recreated; reading it from the start")
                    last, checked = None, 0
                yield from run(self._prepare(js, last, fresh))
                subscription = run(js.pull_subscribe_bind(durable=self.durable, stream=self.stream))
            except Exception as exc:
                raise self.unavailable(exc) from None
            if fresh:  # saved now, so the next run trusts the consumer this run set up
                yield self._state(last, gaps, checked, created)
            first_seq = stream_info.state.first_seq
            expected = max((last or 0) + 1, checked)
            if (last is not None or not self.settings.start_latest) and first_seq > expected:
                count = first_seq - expected if not self.subject else None
                gaps += count or 0
                what = f"JetStream stream {self.stream!r} sequences {expected}..{first_seq - 1} are gone"
                yield from gap_messages(count, what + (" (some may be other subjects)" if self.subject else ""))
                checked = first_seq
                yield self._state(last, gaps, checked, created)
            remaining = self.settings.max_records
            while remaining > 0:
                try:
                    messages = run(subscription.fetch(min(self.settings.batch_size, remaining), self.fetch_timeout))
                except TimeoutError:  # nats.errors.TimeoutError too: nothing new
                    break
                except Exception as exc:
                    raise self.unavailable(exc) from None
                if not messages:
                    break
                remaining -= len(messages)
                fresh = 0
                for message in messages:
                    meta = message.metadata
                    seq = meta.sequence.stream
                    if last is not None and seq <= last:
                        continue  # landed before a crash that came before its ack
                    yield payload_record(
                        message.data,
                        seq,
                        meta.timestamp,
                        self.settings.event_time_field,
                        f"JetStream stream {self.stream!r} sequence {seq} ({message.subject})",
                    )
                    last = seq
                    fresh += 1
                if fresh:
                    yield self._state(last, gaps, checked, created)
                # here the batch is committed (the checkpoint contract), so acknowledging cannot lose it
                try:
                    run(_ack_all(client, messages))
                except Exception as exc:
                    raise self.unavailable(exc) from None
        finally:
            if client is not None and not client.is_closed:
                with contextlib.suppress(Exception):  # closing a broken connection: nothing is left to save
                    run(client.close())
            loop.close()

    @staticmethod
    def _state(last: int | None, gaps: int, checked: int, created: str | None) -> Message:
        state = {"last_seq": last, "gap_entries": gaps, "gap_checked_seq": checked, "stream_created": created}
        return stream_state_message(STREAM, state)

    def backlog(self) -> tuple[int, str]:
        """(messages waiting: undelivered + unacknowledged, a key naming this backlog) — for the sensor."""
        from nats.js.errors import NotFoundError

        async def probe() -> tuple[int, str]:
            client = await self.connect()
            try:
                js = client.jetstream()
                stream_info = await js.stream_info(self.stream)
                last = stream_info.state.last_seq
                try:
                    info = await js.consumer_info(self.stream, self.durable)
                except NotFoundError:
                    waiting = 0 if self.settings.start_latest else stream_info.state.messages
                    return waiting, f"{last}/new"
                waiting = info.num_pending + info.num_ack_pending
                return waiting, f"{last}/{info.delivered.stream_seq}/{info.num_ack_pending}"
            finally:
                await client.close()

        try:
            return asyncio.run(probe())
        except Exception as exc:
            raise self.unavailable(exc) from None
