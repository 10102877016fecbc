"""Airbyte protocol messages: parsing and the in-process message types.

A source is a generator of these messages. Packaged connectors print them as JSON lines
on stdout; built-in sources yield them directly. Anything that is not a valid message
becomes a `Quarantined` item with the reason and the original bytes — never dropped.

Message types follow the Airbyte protocol (v0.3): RECORD, STATE (STREAM, GLOBAL and
LEGACY forms), LOG, TRACE, CATALOG, SPEC, CONNECTION_STATUS, CONTROL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

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


def parse_line(line: bytes) -> Message:
    """Parse one line of connector output into a message.

    Never raises: anything invalid comes back as `Quarantined` with the reason.
    """
    stripped = line.strip()
    try:
        obj = orjson.loads(stripped)
    except orjson.JSONDecodeError as exc:
        reason = "invalid UTF-8" if _is_bad_utf8(stripped) else f"invalid JSON: {exc}"
        return Quarantined(reason=reason, raw=bytes(line))
    try:
        return parse_message(obj, size=len(stripped))
    except ProtocolError as exc:
        return Quarantined(reason=str(exc), raw=bytes(line), stream=_stream_hint(obj))


def _is_bad_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


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


def record_bytes(data: dict[str, Any]) -> bytes:
    """Serialize a record's data the way it is stored in `_airbyte_data`."""
    return orjson.dumps(data, default=str)
