"""Progress lines on stderr while `refinery run` works (the UI has Dagster's own logs)."""

from __future__ import annotations

import os
import sys
import time

from ingestion.destination import StreamCounts

ENV_FLAG = "REFINERY_PROGRESS"


def enabled() -> bool:
    return os.environ.get(ENV_FLAG) == "1"


def say(message: str) -> None:
    if enabled():
        print(message, file=sys.stderr, flush=True)


class SyncProgress:
    """Reports records landed so far and the rate, at most once a second."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.started = time.monotonic()

    def __call__(self, source: str, counts: dict[str, StreamCounts]) -> None:
        records = sum(c.read for c in counts.values())
        elapsed = max(time.monotonic() - self.started, 1e-6)
        megabytes = sum(c.bytes for c in counts.values()) / 1e6
        say(f"    {source}: {records:,} records read ({records / elapsed:,.0f}/s, {megabytes / elapsed:.1f} MB/s)")
