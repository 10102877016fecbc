"""Airbyte protocol messages: parsing and the in-process message types.

A source is a generator of these messages. Packaged connectors print them as JSON lines
on stdout; built-in sources yield them directly. Anything that is not a valid message
becomes a `Quarantined` item with the reason and the original bytes — never dropped.

Message types follow the Airbyte protocol (v0.3): RECORD, STATE (STREAM, GLOBAL and
LEGACY forms), LOG, TRACE, CATALOG, SPEC, CONNECTION_STATUS, CONTROL.

Malformed input and its reasons (the same checks run on `kind: files` JSONL lines, see
`parse_json_object`; docs/raw-layer.md has the table):

- a record longer than `MAX_RECORD_BYTES` (env `REFINERY_MAX_RECORD_BYTES`, default 16 MiB)
  is quarantined unparsed, with its size and the limit (a connector line that starts with
  another message type, e.g. a large CATALOG or STATE, is exempt);
- a raw NUL byte, invalid UTF-8, invalid JSON: quarantined with the position;
- a key repeated in one JSON object (`{"id": 1, "id": 2}`; orjson would keep the last value
  silently): quarantined as "duplicate key 'id'". A cheap pre-check runs on every object
  (see `could_have_duplicate_keys`); the exact, slower check only when it says "maybe".
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

# Source and stream names become parts of table names: lowercase letters, digits and single underscores.
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
# What a stream holds, which decides the dbt models that read it (docs/raw-layer.md).
ROLES = {"documents", "annotations", "records"}

MAX_RECORD_BYTES_ENV = "REFINERY_MAX_RECORD_BYTES"
DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024


def _max_record_bytes_from_env() -> int:
    value = os.environ.get(MAX_RECORD_BYTES_ENV, "")
    try:
        limit = int(value) if value.strip() else DEFAULT_MAX_RECORD_BYTES
    except ValueError:
        raise ValueError(f"{MAX_RECORD_BYTES_ENV}={value!r}: give a whole number of bytes, e.g. 16777216") from None
    if limit < 1:
        raise ValueError(f"{MAX_RECORD_BYTES_ENV}={value!r}: the maximum record size must be at least 1 byte")
    return limit


# The largest record (one JSONL line, one CSV row, one line of connector output, without its
# line break) that is parsed and landed; a larger one is quarantined unparsed. Read once at
# import; readers look it up at call time, so tests can monkeypatch it.
MAX_RECORD_BYTES = _max_record_bytes_from_env()

MESSAGE_TYPES = {
    "RECORD",
    "STATE",
    "LOG",
    "TRACE",
    "CATALOG",
    "SPEC",
    "CONNECTION_STATUS",
    "CONTROL",
    "DESTINATION_CATALOG",
}
GLOBAL_STREAM = "_global"
UNKNOWN_STREAM = "_unknown"


@dataclass(slots=True)
class Record:
    """One RECORD: `data` is kept untouched; `emitted_at` is epoch milliseconds."""

    stream: str
    data: dict[str, Any]
    emitted_at: int
    namespace: str | None = None
    changes: list[Any] = field(default_factory=list)
    size: int = 0
    # The original bytes (one line of connector output), kept so a record the destination
    # rejects is quarantined as it arrived, not re-serialized. None for built-in sources.
    raw: bytes | None = None
    # `data` serialized exactly as `record_bytes(data)` writes it, when the source already made
    # those bytes (the files source does, for its duplicate-key check): the destination stores
    # them as `_airbyte_data` instead of serializing `data` again. None: the destination does it.
    data_bytes: bytes | None = None
    # The (primary key, text field) that `record_problem` already accepted this record for: the
    # destination does not run the same check again for a stream with the same rule. None: it does.
    checked: tuple[str | None, str | None] | None = None


@dataclass(slots=True)
class State:
    """One STATE message.

    `stream_states` maps stream name → stream state (STREAM form: one entry; GLOBAL form:
    one entry per stream plus `_global` for the shared state; LEGACY: `_global` only).
    `message` is the original `state` object, saved verbatim and handed back to the source.
    """

    state_type: str
    message: dict[str, Any]
    stream_states: dict[str, Any]


@dataclass(slots=True)
class Log:
    level: str
    message: str


@dataclass(slots=True)
class Trace:
    """A TRACE message: ERROR, ESTIMATE, STREAM_STATUS or ANALYTICS."""

    trace_type: str
    payload: dict[str, Any]

    @property
    def error_message(self) -> str:
        error = self.payload.get("error") or {}
        return str(error.get("message") or error.get("internal_message") or "source reported an error")

    @property
    def stream_status(self) -> tuple[str, str] | None:
        if self.trace_type != "STREAM_STATUS":
            return None
        status = self.payload.get("stream_status") or {}
        name = (status.get("stream_descriptor") or {}).get("name", "")
        return name, str(status.get("status", ""))


@dataclass(slots=True)
class Other:
    """CATALOG, SPEC, CONNECTION_STATUS, CONTROL: the payload under the type's key."""

    message_type: str
    payload: dict[str, Any]


@dataclass(slots=True)
class Quarantined:
    """Input that could not be landed: the reason and the original bytes."""

    reason: str
    raw: bytes
    stream: str = UNKNOWN_STREAM


Message = Record | State | Log | Trace | Other | Quarantined


class ProtocolError(ValueError):
    """A line that is not a valid Airbyte message."""


def parse_line(line: bytes, max_bytes: int | None = None) -> Message:
    """Parse one line of connector output into a message.

    Never raises: anything invalid comes back as `Quarantined` with the reason. A RECORD
    keeps the line as `raw`.
    """
    limit = MAX_RECORD_BYTES if max_bytes is None else max_bytes
    size = content_length(line)
    if size > limit and _declared_type(line) in (None, "RECORD"):  # a large CATALOG or STATE is still read
        return Quarantined(reason=oversized_reason(size, limit), raw=line, stream=_stream_hint_prefix(line))
    stripped = line.strip()
    try:
        obj = orjson.loads(stripped)
    except orjson.JSONDecodeError as exc:
        return Quarantined(reason=undecodable_reason(stripped, exc), raw=bytes(line))
    if isinstance(obj, dict) and obj.get("type") == "RECORD":
        duplicate = duplicate_key(stripped, obj)
        if duplicate is not None:
            return Quarantined(reason=f"duplicate key {duplicate!r}", raw=bytes(line), stream=_stream_hint(obj))
    try:
        message = parse_message(obj, size=len(stripped))
    except ProtocolError as exc:
        return Quarantined(reason=str(exc), raw=bytes(line), stream=_stream_hint(obj))
    if isinstance(message, Record):
        message.raw = line
    return message


def content_length(line: bytes) -> int:
    """A line's length without its line break (\\n or \\r\\n)."""
    if line.endswith(b"\r\n"):
        return len(line) - 2
    return len(line) - 1 if line.endswith(b"\n") else len(line)


def oversized_reason(size: int, limit: int) -> str:
    return (
        f"record of {size} bytes exceeds the maximum record size of {limit} bytes "
        f"(set {MAX_RECORD_BYTES_ENV} to raise it)"
    )


def undecodable_reason(text: bytes, exc: orjson.JSONDecodeError) -> str:
    """Why orjson could not read `text`: a raw NUL byte, invalid UTF-8, or the JSON error."""
    nul = text.find(b"\x00")
    if nul >= 0:
        return f"NUL byte at offset {nul} (not allowed in JSON text; inside a string write \\u0000)"
    try:
        text.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"invalid UTF-8 at offset {error.start}"
    return f"invalid JSON: {exc}"


def parse_json_object(text: bytes) -> tuple[dict[str, Any] | None, bytes, str | None]:
    """Decode one JSON object (a JSONL line).

    Returns (the object, its `record_bytes` serialization, None) or (None, b"", why it is
    rejected). The caller checks the size first. Rejected: invalid JSON / UTF-8 / NUL bytes, a
    value that is not an object, a key repeated in any object of the text. The serialization is
    the one the duplicate-key pre-check makes anyway; a source passes it on as `Record.data_bytes`.
    """
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None, b"", _undecodable_line_reason(text)
    if not isinstance(data, dict):
        return None, b"", f"expected a JSON object, got {type(data).__name__}"
    # What record_bytes writes: `default=str` is never called for a value orjson itself decoded.
    serialized = orjson.dumps(data)
    if could_have_duplicate_keys(text, data, serialized):
        duplicate = _repeated_key(text)
        if duplicate is not None:
            return None, b"", f"duplicate key {duplicate!r}"
    return data, serialized, None


def _undecodable_line_reason(text: bytes) -> str:
    stripped = text.rstrip(b"\r\n")  # parsed again so the error's position reads "line 1", not the line break
    try:
        orjson.loads(stripped)
    except orjson.JSONDecodeError as exc:
        return undecodable_reason(stripped, exc)
    return "invalid JSON"  # not reached: text and stripped differ only in trailing whitespace


def could_have_duplicate_keys(text: bytes, decoded: Any, serialized: bytes | None = None) -> bool:
    """False only if `text` (valid JSON that decoded to `decoded`) certainly has no repeated key.

    Every member of every object in the text has exactly one ':' outside strings, and
    orjson's re-serialization writes every surviving member and every surviving string's
    ':' literally. A member dropped as a duplicate takes at least its own ':' with it, so
    the text then has more ':' than the re-serialization. The converse fails only when a
    string spells ':' as an escape (\\u003a), which sends the object to the exact check.
    Cost: one orjson.dumps (none when the caller passes `serialized`, `orjson.dumps(decoded)`)
    and two byte counts (1.5 µs for a 400-byte record on the 2-core machine).
    """
    if serialized is None:
        serialized = orjson.dumps(decoded)
    if text.count(b":") != serialized.count(b":"):
        return True
    return b"\\" in text and (b"\\u003a" in text or b"\\u003A" in text)  # memchr first: most texts have no "\\"


def duplicate_key(text: bytes, decoded: Any, serialized: bytes | None = None) -> str | None:
    """The first key repeated inside one object of `text`, or None (exact when the pre-check is unsure).

    `serialized`: `orjson.dumps(decoded)`, if the caller has it.
    """
    if not could_have_duplicate_keys(text, decoded, serialized):
        return None
    return _repeated_key(text)


def _repeated_key(text: bytes) -> str | None:
    """The first key repeated inside one object of `text` (valid JSON), or None: the exact, slow check."""
    found: list[str] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(pairs)
        if len(result) != len(pairs) and not found:
            seen: set[str] = set()
            found.append(next(key for key, _ in pairs if key in seen or seen.add(key)))
        return result

    json.loads(text, object_pairs_hook=pairs_hook)
    return found[0] if found else None


_PREFIX_STREAM = re.compile(
    rb'^\s*\{\s*"type"\s*:\s*"RECORD"\s*,\s*"record"\s*:\s*\{\s*"stream"\s*:\s*"([^"\\]{1,200})"'
)


_PREFIX_TYPE = re.compile(rb'^\s*\{\s*"type"\s*:\s*"([A-Z_]{1,40})"')


def _declared_type(line: bytes) -> str | None:
    """The message type of a line that starts with it (as Airbyte connectors write), else None."""
    match = _PREFIX_TYPE.match(line[:256])
    return match.group(1).decode() if match else None


def _stream_hint_prefix(line: bytes) -> str:
    """The stream of an unparsed RECORD line, if it starts the way Airbyte connectors write it."""
    match = _PREFIX_STREAM.match(line[:4096])
    if match:
        try:
            return match.group(1).decode("utf-8")
        except UnicodeDecodeError:
            pass
    return UNKNOWN_STREAM


def _stream_hint(obj: Any) -> str:
    if isinstance(obj, dict) and isinstance(obj.get("record"), dict):
        stream = obj["record"].get("stream")
        if isinstance(stream, str) and stream:
            return stream
    return UNKNOWN_STREAM


def parse_message(obj: Any, size: int = 0) -> Message:
    """Turn a decoded JSON object into a typed message.

    Raises:
        ProtocolError: the object is not a valid Airbyte message.
    """
    if not isinstance(obj, dict):
        raise ProtocolError(f"not an Airbyte message: expected a JSON object, got {type(obj).__name__}")
    message_type = obj.get("type")
    if message_type not in MESSAGE_TYPES:
        raise ProtocolError(f"not an Airbyte message: unknown type {message_type!r}")
    if message_type == "RECORD":
        return _parse_record(obj.get("record"), size)
    if message_type == "STATE":
        return parse_state(obj.get("state"))
    if message_type == "LOG":
        log = obj.get("log") or {}
        return Log(level=str(log.get("level", "INFO")), message=str(log.get("message", "")))
    if message_type == "TRACE":
        trace = obj.get("trace")
        if not isinstance(trace, dict):
            raise ProtocolError("TRACE message without a 'trace' object")
        return Trace(trace_type=str(trace.get("type", "")), payload=trace)
    key = {"CONNECTION_STATUS": "connectionStatus", "DESTINATION_CATALOG": "destination_catalog"}.get(
        message_type, message_type.lower()
    )
    payload = obj.get(key)
    if not isinstance(payload, dict):
        raise ProtocolError(f"{message_type} message without a '{key}' object")
    return Other(message_type=message_type, payload=payload)


def _parse_record(record: Any, size: int) -> Record:
    if not isinstance(record, dict):
        raise ProtocolError("RECORD message without a 'record' object")
    stream = record.get("stream")
    if not isinstance(stream, str) or not stream:
        raise ProtocolError("RECORD without a stream name")
    data = record.get("data")
    if not isinstance(data, dict):
        raise ProtocolError(f"RECORD for stream {stream!r}: 'data' must be a JSON object")
    emitted_at = record.get("emitted_at")
    if not isinstance(emitted_at, int | float) or isinstance(emitted_at, bool):
        raise ProtocolError(f"RECORD for stream {stream!r}: 'emitted_at' must be epoch milliseconds")
    meta = record.get("meta") or {}
    changes = meta.get("changes", []) if isinstance(meta, dict) else []
    return Record(
        stream=stream,
        data=data,
        emitted_at=int(emitted_at),
        namespace=record.get("namespace"),
        changes=changes if isinstance(changes, list) else [],
        size=size,
    )


def parse_state(state: Any) -> State:
    """Parse the `state` object of a STATE message (STREAM, GLOBAL or LEGACY form)."""
    if not isinstance(state, dict):
        raise ProtocolError("STATE message without a 'state' object")
    state_type = state.get("type") or "LEGACY"
    if state_type == "STREAM":
        stream = state.get("stream") or {}
        name = (stream.get("stream_descriptor") or {}).get("name")
        if not isinstance(name, str) or not name:
            raise ProtocolError("STREAM state without stream.stream_descriptor.name")
        return State("STREAM", state, {name: stream.get("stream_state")})
    if state_type == "GLOBAL":
        global_state = state.get("global")
        if not isinstance(global_state, dict):
            raise ProtocolError("GLOBAL state without a 'global' object")
        per_stream: dict[str, Any] = {GLOBAL_STREAM: global_state.get("shared_state")}
        for entry in global_state.get("stream_states") or []:
            name = ((entry or {}).get("stream_descriptor") or {}).get("name")
            if isinstance(name, str) and name:
                per_stream[name] = entry.get("stream_state")
        return State("GLOBAL", state, per_stream)
    if state_type == "LEGACY":
        return State("LEGACY", state, {GLOBAL_STREAM: state.get("data")})
    raise ProtocolError(f"STATE with unknown type {state_type!r}")


def stream_state_message(stream: str, stream_state: Any) -> State:
    """Build a STREAM-form STATE (what built-in sources emit after each checkpoint)."""
    message = {
        "type": "STREAM",
        "stream": {"stream_descriptor": {"name": stream}, "stream_state": stream_state},
    }
    return State("STREAM", message, {stream: stream_state})


def record_problem(data: dict[str, Any], primary_key: str | None, text_field: str | None) -> str | None:
    """Why a record cannot be landed in a stream with this primary key and text field, or None.

    The primary key must be present and not null or "" (a number, string or boolean: an object
    or array has no stable text form to deduplicate on); the text field, when given, must be
    present and be a string or null.
    """
    if primary_key:
        key = data.get(primary_key)
        if key is None or key == "":
            return f"missing primary key field {primary_key!r}"
        if isinstance(key, dict | list):
            kind = "an object" if isinstance(key, dict) else "an array"
            return f"primary key field {primary_key!r} is {kind}, expected a string or a number"
    if text_field:
        if text_field not in data:
            return f"missing text field {text_field!r}"
        value = data[text_field]
        if value is not None and not isinstance(value, str):
            return f"text field {text_field!r} is {type(value).__name__}, expected a string"
    return None


def record_bytes(data: dict[str, Any]) -> bytes:
    """Serialize a record's data the way it is stored in `_airbyte_data`."""
    return orjson.dumps(data, default=str)


@dataclass(frozen=True)
class StreamSpec:
    """How one stream is landed and later read by dbt (see docs/raw-layer.md)."""

    name: str
    role: str = "records"
    primary_key: str | None = None
    cursor_field: str | None = None
    text_field: str | None = None
    group_field: str | None = None
    full_refresh: bool = False
    # The stream's discovered schema (JSON Schema with `properties`), if the source knows it.
    # The destination compares it with the last one it saw and records added, removed and
    # retyped columns in raw._refinery_schema_history. A property's type is its
    # `x-sql-type` (a database column type) if present, else its JSON type(s) and format.
    json_schema: dict[str, Any] | None = field(default=None, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not NAME_PATTERN.match(self.name) or "__" in self.name:
            raise ValueError(
                f"stream name {self.name!r} cannot become a table name: use lowercase letters, digits and "
                "single underscores"
            )
        if self.role not in ROLES:
            raise ValueError(f"stream {self.name!r}: role must be one of {sorted(ROLES)}")


class SourceFailed(RuntimeError):
    """The source reported an error or stopped abnormally; what was committed stays."""
