"""`kind: label_studio` — a Label Studio JSON export (the array of tasks).

Configuration (refinery.yml)::

    topics:
      kind: label_studio
      path: seeds/sample/annotations/topics.json   # a file or a glob of export files
      text_field: text                             # optional: key of the task's `data` holding the text

One stream, `tasks`, landed as `raw.<source>__tasks`: one record per task, untouched
(annotations, skips, predictions and all), so dbt can flatten it. A re-exported file
lands again and the latest version of each task id wins in staging. A file that is not a
JSON array, or a task that is not an object with an `id`, is quarantined; so is an unreadable
file, which is read again on the next run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import orjson

from ingestion.protocol import Message, Quarantined, Record, StreamSpec, record_bytes
from ingestion.sources import SavedState
from ingestion.sources._fileset import glob_root, matching_files, read_changed_files
from refinery.config import SourceConfig

STREAM = "tasks"


class LabelStudioSource:
    def __init__(self, source: SourceConfig) -> None:
        self.source = source
        self.pattern = source.resolve_glob(str(source.option("path")))

    def streams(self) -> list[StreamSpec]:
        return [
            StreamSpec(
                name=STREAM,
                role="annotations",
                primary_key="id",
                cursor_field="updated_at",
                text_field=self.source.option("text_field", "text"),
            )
        ]

    planned_streams = streams  # declaring them reads nothing

    def read(self, saved: SavedState) -> Iterator[Message]:
        yield from read_changed_files(
            matching_files(self.pattern), glob_root(self.pattern), STREAM, saved.streams.get(STREAM), self._tasks
        )

    def _tasks(self, path: Path, key: str) -> Iterator[Message]:
        raw = path.read_bytes()
        try:
            tasks = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            yield Quarantined(f"{key}: not valid JSON ({exc}); expected a Label Studio JSON export", raw, STREAM)
            return
        if not isinstance(tasks, list):
            yield Quarantined(
                f"{key}: expected a JSON array of tasks (Label Studio 'JSON' export), got {type(tasks).__name__}",
                raw,
                STREAM,
            )
            return
        emitted_at = int(time.time() * 1000)
        for index, task in enumerate(tasks):
            if not isinstance(task, dict) or task.get("id") is None:
                yield Quarantined(
                    f"{key} task #{index}: not an object with an 'id'", record_bytes({"task": task}), STREAM
                )
                continue
            yield Record(STREAM, task, emitted_at)
