"""Source kinds. Each module holds one kind and documents its configuration.

A source declares its streams (`streams()`, just before a sync; `planned_streams()`, for the
asset graph, without running anything) and yields Airbyte protocol messages (`read(saved)`);
it never touches the warehouse.

Checkpoint contract: the destination commits every record before a STATE, and the state
itself, before it asks `read()` for the next message. So code after `yield State(...)`
runs only once that state is durable in DuckDB: a stream source acknowledges messages to
its broker there, never earlier (see tests/unit/test_destination.py::test_code_after_state_runs_after_commit).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from ingestion.protocol import Message, StreamSpec
from refinery.config import Config, SourceConfig


@dataclass(frozen=True)
class SavedState:
    """What the destination saved for a source at its last checkpoint."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    streams: dict[str, Any] = field(default_factory=dict)


class Source(Protocol):
    def streams(self) -> list[StreamSpec]: ...

    def planned_streams(self) -> list[StreamSpec]: ...

    def read(self, saved: SavedState) -> Iterator[Message]: ...


def build_source(source: SourceConfig, config: Config, say: Callable[[str], None] = print) -> Source:
    """The source object for one entry of refinery.yml (`say` reports slow set-up, e.g. a connector install)."""
    if source.kind == "files":
        from ingestion.sources.files import FilesSource

        return FilesSource(source)
    if source.kind == "documents":
        from ingestion.sources.documents import DocumentsSource

        return DocumentsSource(source)
    if source.kind == "label_studio":
        from ingestion.sources.label_studio import LabelStudioSource

        return LabelStudioSource(source)
    if source.kind == "airbyte":
        from ingestion.sources.airbyte import AirbyteConnectorSource

        return AirbyteConnectorSource(source, config.connectors_dir, say=say)
    from refinery.config import kind_module

    module = kind_module(source.kind)
    if module is not None:
        return module.build(source, config, say)
    raise ValueError(f"unknown source kind {source.kind!r}")
