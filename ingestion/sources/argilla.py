"""`kind: argilla` — records exported from an Argilla 2.x dataset, with their responses and suggestions.

Configuration (refinery.yml)::

    urgency_argilla:
      kind: argilla
      path: exports/urgency/records.json   # a file or a glob: JSON arrays or JSON Lines of records
      text_field: text                     # optional (default `text`): the record field that was annotated
      level: ordinal                       # optional: nominal (default) | ordinal | interval | ratio
      order: [low, medium, high]           # ordinal only: the label values from lowest to highest

The files the `argilla` SDK (2.x) writes, in either of its two record shapes:

- nested, from `dataset.records.to_json(path)` or `dataset.to_disk(folder)` (its
  `records.json`), or `json.dump(dataset.records.to_list(flatten=False), f)`:
  `{"id", "fields": {...}, "metadata": {...}, "responses": {question: [{"value", "user_id"}]},
  "suggestions": {question: {"value", "score", "agent"}}, "status", "_server_id"}`. This shape
  has no response status (the SDK drops it); a response that carries a `status` key keeps it,
  one without is read as submitted.
- flattened, from `dataset.records.to_list(flatten=True)` dumped as JSON, or
  `dataset.records.to_datasets().to_json(path)` (JSON Lines): fields and metadata at the top
  level and, per question, parallel lists `<q>.responses`, `<q>.responses.users`,
  `<q>.responses.status`, plus `<q>.suggestion`, `<q>.suggestion.score`, `<q>.suggestion.agent`.

One stream, `records`, landed as `raw.<source>__records` (role `annotations`, primary key
`id`): one record per Argilla record, untouched; dbt flattens the responses into
`int_label_votes` (tool `argilla`) and the suggestions into `int_label_predictions`. A record
exported again (a later file) replaces its earlier version. Quarantined, with the file and
the record's position and id in the reason: a file that is neither a JSON array nor JSON Lines;
a record that is not an object or has no `id`; responses that are not lists of objects with a
`user_id`; flattened response lists of different lengths; a status other than submitted,
discarded or draft. An unreadable file is quarantined and read again on the next run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from ingestion.protocol import Message, Quarantined, Record, StreamSpec, record_bytes
from ingestion.sources import SavedState
from ingestion.sources._fileset import changed_bytes, glob_root, matching_files, read_changed_files
from refinery.config import Config, ConfigError, SourceConfig

STREAM = "records"
STATUSES = ("submitted", "discarded", "draft")
RESPONSES_SUFFIX = ".responses"

KIND_OPTIONS: dict[str, tuple[set[str], set[str]]] = {
    "argilla": ({"path"}, {"text_field", "level", "order"}),
}


def check_options(source: SourceConfig, where: str) -> None:
    """`text_field` names one record field (checked by refinery.config like every text_field)."""
    text_field = source.option("text_field")
    if text_field is not None and (not isinstance(text_field, str) or not text_field.strip()):
        raise ConfigError(
            f"{source.config_file}: '{where}.text_field' is {text_field!r}: name the record field that was "
            "annotated, e.g. text"
        )


def build(source: SourceConfig, config: Config, say: Any = print) -> ArgillaSource:
    return ArgillaSource(source)


class ArgillaSource:
    def __init__(self, source: SourceConfig) -> None:
        self.source = source
        self.pattern = source.resolve_glob(str(source.option("path")))

    def streams(self) -> list[StreamSpec]:
        return [
            StreamSpec(
                name=STREAM,
                role="annotations",
                primary_key="id",
                text_field=self.source.option("text_field", "text"),
            )
        ]

    planned_streams = streams  # declaring them reads nothing

    def size_hint(self, saved: SavedState) -> int:
        return changed_bytes(matching_files(self.pattern), glob_root(self.pattern), saved.streams.get(STREAM))

    def read(self, saved: SavedState) -> Iterator[Message]:
        yield from read_changed_files(
            matching_files(self.pattern), glob_root(self.pattern), STREAM, saved.streams.get(STREAM), self._records
        )

    def _records(self, path: Path, key: str) -> Iterator[Message]:
        raw = path.read_bytes()
        emitted_at = int(time.time() * 1000)
        try:
            document = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            lines = raw.splitlines()
            if raw.lstrip()[:1] == b"[" or len([line for line in lines if line.strip()]) < 2:
                # One line that is not JSON is a broken file, not a JSON Lines file.
                yield Quarantined(
                    f"{key}: not valid JSON ({exc}); expected an Argilla records export "
                    "(records.to_json, to_list dumped as JSON, or to_datasets().to_json as JSON Lines)",
                    raw,
                    STREAM,
                )
                return
            yield from self._json_lines(lines, key, emitted_at)
            return
        if isinstance(document, dict):
            # A JSON Lines file with a single record parses as one object.
            items: list[Any] = [document]
            where = "line"
        elif isinstance(document, list):
            items, where = document, "record #"
        else:
            yield Quarantined(
                f"{key}: expected a JSON array of Argilla records (or JSON Lines), got {type(document).__name__}",
                raw,
                STREAM,
            )
            return
        for index, item in enumerate(items):
            label = f"{key} line 1" if where == "line" else f"{key} record #{index}"
            yield self._message(item, label, emitted_at, None)

    def _json_lines(self, lines: list[bytes], key: str, emitted_at: int) -> Iterator[Message]:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                item = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield Quarantined(f"{key} line {number}: invalid JSON ({exc})", line, STREAM)
                continue
            yield self._message(item, f"{key} line {number}", emitted_at, line)

    def _message(self, item: Any, label: str, emitted_at: int, line: bytes | None) -> Message:
        problem = record_problem(item)
        if problem is None:
            return Record(STREAM, item, emitted_at)
        if isinstance(item, dict) and item.get("id") not in (None, ""):
            label = f"{label} (id {item['id']!r})"
        return Quarantined(f"{label}: {problem}", line if line is not None else record_bytes({"record": item}), STREAM)


def record_problem(record: Any) -> str | None:
    """Why an exported Argilla record cannot be landed, or None."""
    if not isinstance(record, dict):
        return f"expected a record object, got {type(record).__name__}"
    record_id = record.get("id")
    if record_id is None or record_id == "" or isinstance(record_id, dict | list | bool):
        return "no 'id' (a string or number): export the records with their ids"
    fields = record.get("fields")
    if fields is not None and not isinstance(fields, dict):
        return f"'fields' is {type(fields).__name__}, expected an object"
    responses = record.get("responses")
    if responses is not None:
        if not isinstance(responses, dict):
            return f"'responses' is {type(responses).__name__}, expected an object of question → list of responses"
        for question, answers in responses.items():
            problem = _nested_responses_problem(question, answers)
            if problem:
                return problem
    suggestions = record.get("suggestions")
    if suggestions is not None and not isinstance(suggestions, dict):
        return f"'suggestions' is {type(suggestions).__name__}, expected an object of question → suggestion"
    for question, suggestion in (suggestions or {}).items():
        if suggestion is not None and not isinstance(suggestion, dict):
            return f"suggestion of question {question!r} is {type(suggestion).__name__}, expected an object"
    for name in record:
        if isinstance(name, str) and name.endswith(RESPONSES_SUFFIX):
            problem = _flat_responses_problem(record, name[: -len(RESPONSES_SUFFIX)])
            if problem:
                return problem
    return None


def _nested_responses_problem(question: str, answers: Any) -> str | None:
    if answers is None:
        return None
    if not isinstance(answers, list):
        return f"responses of question {question!r} are {type(answers).__name__}, expected a list"
    for position, answer in enumerate(answers):
        if not isinstance(answer, dict):
            return f"response #{position} of question {question!r} is not an object"
        if answer.get("user_id") in (None, ""):
            return f"response #{position} of question {question!r} has no user_id"
        if answer.get("status") is not None and answer["status"] not in STATUSES:
            return (
                f"response #{position} of question {question!r} has status {answer['status']!r}, "
                f"expected one of {', '.join(STATUSES)}"
            )
    return None


def _flat_responses_problem(record: dict, question: str) -> str | None:
    values = record.get(question + RESPONSES_SUFFIX)
    users = record.get(f"{question}{RESPONSES_SUFFIX}.users")
    statuses = record.get(f"{question}{RESPONSES_SUFFIX}.status")
    if values is None and users is None:
        return None  # a record without responses to this question (to_list fills the keys with null)
    if not isinstance(values, list) or not isinstance(users, list):
        return (
            f"'{question}.responses' and '{question}.responses.users' must both be lists "
            "(the flattened export's parallel lists)"
        )
    if len(users) != len(values):
        return f"'{question}.responses' has {len(values)} values but '{question}.responses.users' has {len(users)}"
    if statuses is not None and not isinstance(statuses, list):
        return f"'{question}.responses.status' is {type(statuses).__name__}, expected a list"
    if statuses is not None and len(statuses) != len(values):
        return f"'{question}.responses' has {len(values)} values but '{question}.responses.status' has {len(statuses)}"
    for position, user in enumerate(users):
        if user in (None, ""):
            return f"response #{position} of question {question!r} has no user id"
    for position, status in enumerate(statuses or []):
        if status is not None and status not in STATUSES:
            return (
                f"response #{position} of question {question!r} has status {status!r}, "
                f"expected one of {', '.join(STATUSES)}"
            )
    return None
