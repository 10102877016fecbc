"""`kind: annotations_csv` and `kind: predictions_csv` — labels and model predictions in CSV files.

Configuration (refinery.yml)::

    urgency_sheet:
      kind: annotations_csv
      path: labels/urgency-*.csv       # a file or a glob of UTF-8 CSV files with a header row
      task: urgency                    # optional: the task of rows without a `task` value (default: the source name)
      text_field: text                 # optional: a column holding the annotated text
      item_source: tickets             # optional: item_id is an id of this source's items
      level: ordinal                   # optional: nominal (default) | ordinal | interval | ratio
      order: [low, medium, high]       # ordinal only: the label values from lowest to highest

    topic_model:
      kind: predictions_csv
      path: predictions/topic-*.csv
      task: topic                      # optional, as above
      item_source: topics              # optional, as above
      text_field: text                 # optional, as above

`annotations_csv` columns: `item_id`, `annotator_id`, `label` (required); `task`,
`created_at`, `updated_at`, `is_gold`, `annotation_id` (optional). One row is one vote. A row
with an empty label is a skip (status `skipped`: the annotator saw the item and gave no label;
it counts in their skip rate, never as a vote). `is_gold` is true/false, 1/0, yes/no (empty:
false). A row with an `annotation_id` replaces an earlier row of the same id (the newest
`updated_at`, then `created_at`, wins); rows without one are told apart by their content.

`predictions_csv` columns: `item_id`, `label`, `probability` (required); `model_version`,
`task`, `created_at` (optional). Several rows of one item, task, model version and
`created_at` are one prediction: a class-probability distribution.

The item a row is about (its `item_key`, docs/labeling/imports.md): the hash of its text
(`text_field`) when it has one; else, with `item_source`, the text of that source's item with
this id (a document's primary key, a Label Studio task id, an Argilla record id) — so a CSV
of ticket ids labels the tickets; else the id itself in the namespace of `item_source`, or of
this source.

One stream per kind, `annotations` or `predictions`, landed as `raw.<source>__<stream>` (role
`annotations`): one record per row, untouched (all values text). Quarantined with the file, the
line and the reason: a file without a required column (the whole file: no row can be read);
a row with an empty `item_id` or `annotator_id`, an unknown `is_gold` value, a timestamp that is
not ISO 8601, an empty prediction label, or a probability that is not a number in [0, 1]; and
what every CSV can get wrong (a wrong number of fields, bad quoting, invalid UTF-8; see
ingestion/sources/files.py). A file is read again when its size or modification time changes.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ingestion.protocol import Message, StreamSpec
from ingestion.sources import SavedState
from ingestion.sources._fileset import changed_bytes, glob_root, matching_files, read_changed_files
from ingestion.sources.files import read_csv_records
from refinery.config import Config, ConfigError, SourceConfig

KIND_OPTIONS: dict[str, tuple[set[str], set[str]]] = {
    "annotations_csv": ({"path"}, {"task", "text_field", "item_source", "level", "order"}),
    "predictions_csv": ({"path"}, {"task", "text_field", "item_source"}),
}
STREAMS = {"annotations_csv": "annotations", "predictions_csv": "predictions"}
REQUIRED_COLUMNS = {
    "annotations_csv": ("item_id", "annotator_id", "label"),
    "predictions_csv": ("item_id", "label", "probability"),
}
GOLD_VALUES = {"true": True, "t": True, "1": True, "yes": True, "y": True}
GOLD_VALUES |= {"false": False, "f": False, "0": False, "no": False, "n": False, "": False}
TIMESTAMP_COLUMNS = ("created_at", "updated_at")


def check_options(source: SourceConfig, where: str) -> None:
    """`task` and `item_source` are names; whether item_source exists is checked by refinery.config."""
    for key in ("task", "item_source", "text_field"):
        value = source.option(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f"{source.config_file}: '{where}.{key}' is {value!r}: give a name (a non-empty string)")
    if source.option("item_source") == source.name:
        raise ConfigError(
            f"{source.config_file}: '{where}.item_source' names the source itself; leave it out "
            "(item ids are then this source's own) or name the source whose items the ids belong to"
        )


def build(source: SourceConfig, config: Config, say: Any = print) -> LabelCsvSource:
    return LabelCsvSource(source)


class LabelCsvSource:
    def __init__(self, source: SourceConfig) -> None:
        self.source = source
        self.kind = source.kind
        self.stream = STREAMS[source.kind]
        self.pattern = source.resolve_glob(str(source.option("path")))
        self.text_field: str | None = source.option("text_field")
        self.required = REQUIRED_COLUMNS[source.kind] + ((self.text_field,) if self.text_field else ())

    def streams(self) -> list[StreamSpec]:
        return [StreamSpec(name=self.stream, role="annotations", text_field=self.text_field)]

    planned_streams = streams  # declaring them reads nothing

    def size_hint(self, saved: SavedState) -> int:
        return changed_bytes(matching_files(self.pattern), glob_root(self.pattern), saved.streams.get(self.stream))

    def read(self, saved: SavedState) -> Iterator[Message]:
        yield from read_changed_files(
            matching_files(self.pattern),
            glob_root(self.pattern),
            self.stream,
            saved.streams.get(self.stream),
            self._read_file,
        )

    def _read_file(self, path: Path, key: str) -> Iterator[Message]:
        row_problem: Callable[[dict[str, str]], str | None] = (
            annotation_problem if self.kind == "annotations_csv" else prediction_problem
        )
        yield from read_csv_records(path, key, self.stream, int(time.time() * 1000), row_problem, self._header_problem)

    def _header_problem(self, header: list[str]) -> str | None:
        missing = [column for column in self.required if column not in header]
        if not missing:
            return None
        named = ", ".join(repr(column) for column in missing)
        return (
            f"missing column{'s' if len(missing) > 1 else ''} {named}: {self.kind} files need "
            f"{', '.join(self.required)} (header: {', '.join(header)})"
        )


def annotation_problem(row: dict[str, str]) -> str | None:
    """Why a row of an annotations_csv file is not a vote, or None."""
    for column in ("item_id", "annotator_id"):
        if not row[column].strip():
            return f"empty {column}"
    gold = row.get("is_gold")
    if gold is not None and gold.strip().lower() not in GOLD_VALUES:
        return f"is_gold is {gold!r}: use true/false, 1/0 or yes/no"
    return _timestamp_problem(row)


def prediction_problem(row: dict[str, str]) -> str | None:
    """Why a row of a predictions_csv file is not a class probability, or None."""
    for column in ("item_id", "label"):
        if not row[column].strip():
            return f"empty {column}"
    text = row["probability"].strip()
    try:
        probability = float(text)
    except ValueError:
        return f"probability is {text!r}, not a number"
    if not (math.isfinite(probability) and 0.0 <= probability <= 1.0):
        return f"probability is {text}, outside [0, 1]"
    return _timestamp_problem(row)


def _timestamp_problem(row: dict[str, str]) -> str | None:
    for column in TIMESTAMP_COLUMNS:
        value = (row.get(column) or "").strip()
        if not value:
            continue
        try:
            dt.datetime.fromisoformat(value)
        except ValueError:
            return f"{column} is {value!r}, not an ISO 8601 timestamp (e.g. 2025-03-01T09:30:00Z)"
    return None
