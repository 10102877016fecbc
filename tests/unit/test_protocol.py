import orjson
import pytest

from ingestion.protocol import Log, Other, Quarantined, Record, State, Trace, parse_line

pytestmark = pytest.mark.unit


def line(obj) -> bytes:
    return orjson.dumps(obj) + b"\n"


def test_record_keeps_data_and_meta_changes():
    message = parse_line(
        line(
            {
                "type": "RECORD",
                "record": {
                    "stream": "users",
                    "data": {"id": 1, "name": "Ada"},
                    "emitted_at": 1700000000123,
                    "meta": {
                        "changes": [{"field": "name", "change": "TRUNCATED", "reason": "SOURCE_FIELD_SIZE_LIMITATION"}]
                    },
                },
            }
        )
    )
    assert isinstance(message, Record)
    assert (message.stream, message.data, message.emitted_at) == (
        "users",
        {"id": 1, "name": "Ada"},
        1700000000123,
    )
    assert message.changes[0]["change"] == "TRUNCATED"


def test_stream_state_names_its_stream():
    message = parse_line(
        line(
            {
                "type": "STATE",
                "state": {
                    "type": "STREAM",
                    "stream": {"stream_descriptor": {"name": "users"}, "stream_state": {"cursor": 5}},
                },
            }
        )
    )
    assert isinstance(message, State)
    assert message.state_type == "STREAM"
    assert message.stream_states == {"users": {"cursor": 5}}


def test_global_state_carries_shared_and_per_stream_state():
    message = parse_line(
        line(
            {
                "type": "STATE",
                "state": {
                    "type": "GLOBAL",
                    "global": {
                        "shared_state": {"lsn": 42},
                        "stream_states": [
                            {"stream_descriptor": {"name": "a"}, "stream_state": {"x": 1}},
                            {"stream_descriptor": {"name": "b"}, "stream_state": {"x": 2}},
                        ],
                    },
                },
            }
        )
    )
    assert message.state_type == "GLOBAL"
    assert message.stream_states == {"_global": {"lsn": 42}, "a": {"x": 1}, "b": {"x": 2}}


def test_state_without_type_is_legacy():
    message = parse_line(line({"type": "STATE", "state": {"data": {"cursor": "2024"}}}))
    assert (message.state_type, message.stream_states) == ("LEGACY", {"_global": {"cursor": "2024"}})


def test_log_trace_and_other_messages():
    log = parse_line(line({"type": "LOG", "log": {"level": "WARN", "message": "slow"}}))
    trace = parse_line(
        line({"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": 1, "error": {"message": "boom"}}})
    )
    status = parse_line(line({"type": "CONNECTION_STATUS", "connectionStatus": {"status": "SUCCEEDED"}}))
    catalog = parse_line(line({"type": "CATALOG", "catalog": {"streams": []}}))
    spec = parse_line(line({"type": "SPEC", "spec": {"connectionSpecification": {}}}))
    assert isinstance(log, Log) and log.level == "WARN" and log.message == "slow"
    assert isinstance(trace, Trace) and trace.error_message == "boom"
    assert isinstance(status, Other) and status.payload == {"status": "SUCCEEDED"}
    assert (catalog.message_type, spec.message_type) == ("CATALOG", "SPEC")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json\n", "invalid JSON"),
        (b'{"type": "RECORD", "record": {"stream": "s", "data": "\xff"}}\n', "invalid UTF-8"),
        (b"[1, 2]\n", "expected a JSON object"),
        (b'{"type": "BANANA"}\n', "unknown type"),
        (
            b'{"type": "RECORD", "record": {"stream": "s", "data": [1], "emitted_at": 1}}\n',
            "'data' must be a JSON object",
        ),
        (b'{"type": "RECORD", "record": {"stream": "s", "data": {}}}\n', "emitted_at"),
        (b'{"type": "STATE", "state": {"type": "STREAM", "stream": {}}}\n', "stream_descriptor"),
        (b'{"type": "RECORD", "record": {"data": {}, "emitted_at": 1}}\n', "without a stream name"),
    ],
)
def test_invalid_lines_are_quarantined_with_reason_and_bytes(raw, reason):
    message = parse_line(raw)
    assert isinstance(message, Quarantined)
    assert reason in message.reason
    assert message.raw == raw


def test_quarantined_record_keeps_its_stream_when_known():
    message = parse_line(b'{"type": "RECORD", "record": {"stream": "users", "data": 5, "emitted_at": 1}}')
    assert isinstance(message, Quarantined) and message.stream == "users"
