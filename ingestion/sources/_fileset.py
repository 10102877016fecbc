"""Shared by the file-based sources: which files changed since the last checkpoint.

A file is read again when its size or modification time changed; its state entry is
checkpointed (a STATE message) right after its last record, so a crash re-reads at most
the file that was being read. A file that cannot be read (permissions, removed mid-run, an
I/O error) is quarantined with the reason and is not checkpointed, so the next run tries it
again; the other files still land.

Patterns come from `SourceConfig.resolve_glob`: the config's folder is glob-escaped
(`[[]` for a literal `[`), so keys and roots are computed on the unescaped folder.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from ingestion.protocol import Message, Quarantined, stream_state_message

ESCAPED_CHAR = re.compile(r"\[([*?\[])\]")  # what glob.escape writes for a literal *, ? or [


def matching_files(pattern: str) -> list[Path]:
    return sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())


def file_fingerprint(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def saved_fingerprints(stream_state: Any) -> dict[str, Any]:
    """key → fingerprint of the files checkpointed in a stream state."""
    files = stream_state.get("files", {}) if isinstance(stream_state, dict) else {}
    return dict(files) if isinstance(files, dict) else {}


def read_changed_files(
    files: list[Path],
    root: Path,
    stream: str,
    stream_state: Any,
    read_file: Callable[[Path, str], Iterable[Message]],
) -> Iterator[Message]:
    """The messages of each new or changed file, each file followed by a checkpoint of its fingerprint.

    `read_file(path, key)` yields a file's records and quarantined items; an `OSError` it
    raises quarantines the file as unreadable (no bytes) and leaves its fingerprint out of the
    checkpoint, so it is read again on the next run.
    """
    saved = saved_fingerprints(stream_state)
    seen = dict(saved)
    for path in files:
        key = relative_key(path, root)
        try:
            fingerprint = file_fingerprint(path)
            if saved.get(key) == fingerprint:
                continue
            yield from read_file(path, key)
        except OSError as exc:
            yield Quarantined(f"{key}: unreadable: {exc}", b"", stream)
            continue
        seen[key] = fingerprint
        yield stream_state_message(stream, {"files": dict(seen)})


def changed_bytes(files: list[Path], root: Path, stream_state: Any) -> int:
    """How many bytes `read_changed_files` is about to read (for a progress bar)."""
    saved = saved_fingerprints(stream_state)
    total = 0
    for path in files:
        try:
            fingerprint = file_fingerprint(path)
        except OSError:
            continue
        if saved.get(relative_key(path, root)) != fingerprint:
            total += fingerprint["size"]
    return total


def relative_key(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def glob_root(pattern: str) -> Path:
    """The longest folder prefix of a glob pattern (keys are relative to it), unescaped."""
    fixed = []
    for part in Path(pattern).parts:
        literal = ESCAPED_CHAR.sub("", part)
        if any(ch in literal for ch in "*?["):
            break
        fixed.append(ESCAPED_CHAR.sub(r"\1", part))
    root = Path(*fixed) if fixed else Path(".")
    return root if root.is_dir() else root.parent
