"""`kind: files` — JSONL, CSV or Parquet files in a path or glob.

Configuration (refinery.yml)::

    tickets:
      kind: files
      path: seeds/sample/tickets/*.jsonl   # a file, a folder/*.ext glob, or **/ for recursion
      primary_key: ticket_id               # identifies a record; its latest version wins in staging
      text_field: body                     # optional: each record is a document with this text
      group_field: customer_id             # optional: split-assignment group (default: primary key)
      cursor_field: updated_at             # optional: orders versions of a record
      format: jsonl                        # optional: jsonl | csv | parquet (default: by extension)

One stream, `records` (or `stream:`), landed as `raw.<source>__records`. Incremental by
file: a file is read again only when its size or modification time changed. A line that is
not a JSON object, a CSV row with the wrong number of fields, or a corrupt Parquet file is
quarantined with the reason and its bytes; the rest of the file still lands. A file that
cannot be read (permissions, I/O error) is quarantined with the reason and read again on the
next run; the other files still land.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

from ingestion.config import SourceConfig
from ingestion.destination import StreamSpec
from ingestion.protocol import Message, Quarantined, Record
from ingestion.sources import SavedState
from ingestion.sources._fileset import changed_bytes, glob_root, matching_files, read_changed_files

EXTENSION_FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
}


class FilesSource:
    def __init__(self, source: SourceConfig) -> None:
        self.source = source
        self.pattern = source.resolve_glob(str(source.option("path")))
        self.stream = str(source.option("stream", "records"))

    def streams(self) -> list[StreamSpec]:
        text_field = self.source.option("text_field")
        return [
            StreamSpec(
                name=self.stream,
                role="documents" if text_field else "records",
                primary_key=self.source.option("primary_key"),
                cursor_field=self.source.option("cursor_field"),
                text_field=text_field,
                group_field=self.source.option("group_field"),
            )
        ]

    planned_streams = streams  # declaring them reads nothing

    def size_hint(self, saved: SavedState) -> int:
        """Bytes of the new and changed files (the progress bar's total)."""
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
        file_format = self.source.option("format") or EXTENSION_FORMATS.get(path.suffix.lower())
        if file_format is None:
            yield Quarantined(
                f"{key}: unknown file format {path.suffix!r}; set 'format' to jsonl, csv or parquet",
                path.read_bytes(),
                self.stream,
            )
            return
        emitted_at = int(time.time() * 1000)
        if file_format == "jsonl":
            yield from self._read_jsonl(path, key, emitted_at)
        elif file_format == "csv":
            yield from self._read_csv(path, key, emitted_at)
        else:
            yield from self._read_parquet(path, key, emitted_at)

    def _read_jsonl(self, path: Path, key: str, emitted_at: int) -> Iterator[Message]:
        with path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    data = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    try:
                        line.decode("utf-8")
                        reason = f"{key} line {number}: invalid JSON: {exc}"
                    except UnicodeDecodeError:
                        reason = f"{key} line {number}: invalid UTF-8"
                    yield Quarantined(reason, line, self.stream)
                    continue
                if not isinstance(data, dict):
                    yield Quarantined(
                        f"{key} line {number}: expected a JSON object, got {type(data).__name__}",
                        line,
                        self.stream,
                    )
                    continue
                yield Record(self.stream, data, emitted_at, size=len(line))

    def _read_csv(self, path: Path, key: str, emitted_at: int) -> Iterator[Message]:
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            yield Quarantined(f"{key}: invalid UTF-8 ({exc})", raw, self.stream)
            return
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None)
        if not header:
            return
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                buffer = io.StringIO()
                csv.writer(buffer).writerow(row)
                yield Quarantined(
                    f"{key} line {reader.line_num}: {len(row)} fields, the header has {len(header)}",
                    buffer.getvalue().encode(),
                    self.stream,
                )
                continue
            data = dict(zip(header, row, strict=True))
            yield Record(self.stream, data, emitted_at, size=sum(len(v) for v in row))

    def _read_parquet(self, path: Path, key: str, emitted_at: int) -> Iterator[Message]:
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as exc:  # a corrupt file: keep its bytes, land the rest of the folder
            yield Quarantined(f"{key}: unreadable Parquet file: {exc}", path.read_bytes(), self.stream)
            return
        for batch in table.to_batches(max_chunksize=10_000):
            for data in batch.to_pylist():
                yield Record(self.stream, data, emitted_at)
