"""Progress on stderr while `refinery run` works (the UI has Dagster's own logs).

A sync reports records read, the rate (records/s and MB/s) and, when its source can say how
many bytes it is about to read (`size_hint`), a bar with the share done and the time left.
On a terminal the line is redrawn in place; otherwise (CI, a log file) a line is printed at
most every `LOG_INTERVAL` seconds.
"""

from __future__ import annotations

import os
import sys
import time

from ingestion.destination import StreamCounts

ENV_FLAG = "REFINERY_PROGRESS"
LOG_INTERVAL = 5.0
BAR_WIDTH = 24


def enabled() -> bool:
    return os.environ.get(ENV_FLAG) == "1"


def say(message: str) -> None:
    if enabled():
        _end_line()
        print(message, file=sys.stderr, flush=True)


_open_line = False  # a progress line drawn with \r that the next message must not overwrite


def _end_line() -> None:
    global _open_line
    if _open_line:
        print(file=sys.stderr, flush=True)
        _open_line = False


def format_progress(
    source: str, records: int, nbytes: int, elapsed: float, total_bytes: int | None = None, width: int = BAR_WIDTH
) -> str:
    """One progress line, e.g. `tickets [######------]  50%  1,000 records  500/s  0.2 MB/s  ETA 0:02`."""
    elapsed = max(elapsed, 1e-6)
    rate = f"{records:,} records  {records / elapsed:,.0f}/s  {nbytes / 1e6 / elapsed:.1f} MB/s"
    if not total_bytes:
        return f"    {source}  {rate}  {_clock(elapsed)} elapsed"
    share = min(nbytes / total_bytes, 1.0)
    filled = int(share * width)
    left = elapsed * (1 - share) / share if share > 0 else None
    eta = _clock(left) if left is not None else "?"
    return f"    {source}  [{'#' * filled}{'-' * (width - filled)}] {share:4.0%}  {rate}  ETA {eta}"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds + 0.5), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}" if minutes >= 60 else f"{minutes}:{secs:02d}"


class SyncProgress:
    """The destination's progress callback for one source (at most one report a second)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.started = time.monotonic()
        self.total_bytes: int | None = None
        self.last_logged = 0.0

    def set_total(self, total_bytes: int | None) -> None:
        """What the source expects to read (bytes), if it knows; turns the counter into a bar."""
        self.total_bytes = total_bytes or None

    def __call__(self, source: str, counts: dict[str, StreamCounts]) -> None:
        global _open_line
        if not enabled():
            return
        now = time.monotonic()
        line = format_progress(
            source,
            sum(c.read for c in counts.values()),
            sum(c.bytes for c in counts.values()),
            now - self.started,
            self.total_bytes,
        )
        if sys.stderr.isatty():
            print("\r" + line + "\x1b[K", end="", file=sys.stderr, flush=True)
            _open_line = True
        elif now - self.last_logged >= LOG_INTERVAL:
            print(line, file=sys.stderr, flush=True)
            self.last_logged = now
