"""Run one configured source into the warehouse: the whole ingestion step for a source."""

from __future__ import annotations

from collections.abc import Callable

from ingestion.destination import DuckDBDestination, ProgressCallback, SyncResult, stream_states_of
from ingestion.protocol import Log
from ingestion.sources import SavedState, build_source
from ingestion.warehouse import warehouse_lock
from refinery.config import Config

WARNINGS_SHOWN = 5


def sync_source(
    config: Config,
    name: str,
    on_progress: ProgressCallback | None = None,
    say: Callable[[str], None] = print,
) -> SyncResult:
    """Land everything new from source `name`; resume from its last checkpoint.

    Holds the warehouse lock for the whole sync (raises WarehouseBusy if another process
    writes). Returns the result; a failed source has status 'failed' and keeps what was
    committed before the failure.
    """
    source_config = config.sources[name]
    source = build_source(source_config, config, say=say)
    destination = DuckDBDestination(config.database_path, name, source_config.kind)
    with warehouse_lock(config.warehouse_dir):
        streams = source.streams()  # a connector installs, validates its config and checks here
        messages = destination.saved_state()
        saved = SavedState(messages=messages, streams=stream_states_of(messages))
        size_hint = getattr(source, "size_hint", None)
        if size_hint is not None and hasattr(on_progress, "set_total"):
            on_progress.set_total(size_hint(saved))  # a source that knows how much it will read gets a bar

        warnings = 0

        def on_log(message: Log) -> None:
            nonlocal warnings
            if message.level in {"ERROR", "FATAL"}:
                say(f"{name}: {message.level}: {message.message}")
            elif message.level in {"WARN", "WARNING"}:  # e.g. a stream gap, an odd PDF: shown, but not flooding
                warnings += 1
                if warnings <= WARNINGS_SHOWN:
                    say(f"{name}: WARN: {message.message}")
                elif warnings == WARNINGS_SHOWN + 1:
                    say(f"{name}: further warnings not shown (documents keep theirs in the `warnings` field)")

        return destination.run(streams, source.read(saved), on_progress=on_progress, on_log=on_log)
