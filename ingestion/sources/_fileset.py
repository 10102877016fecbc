"""Shared by the file-based sources: which files changed since the last checkpoint.

A file is read again when its size or modification time changed; its state entry is
checkpointed (a STATE message) right after its last record, so a crash re-reads at most
the file that was being read.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def matching_files(pattern: str) -> list[Path]:
    return sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())


def file_fingerprint(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def changed_files(files: list[Path], root: Path, stream_state: Any) -> Iterator[tuple[Path, str, dict[str, int]]]:
    """(path, key relative to root, fingerprint) for each new or changed file."""
    seen = (stream_state or {}).get("files", {}) if isinstance(stream_state, dict) else {}
    for path in files:
        key = relative_key(path, root)
        fingerprint = file_fingerprint(path)
        if seen.get(key) != fingerprint:
            yield path, key, fingerprint


def relative_key(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def glob_root(pattern: str) -> Path:
    """The longest folder prefix of a glob pattern (keys are relative to it)."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts:
        if any(ch in part for ch in "*?["):
            break
        fixed.append(part)
    root = Path(*fixed) if fixed else Path(".")
    return root if root.is_dir() else root.parent
