"""The DuckDB warehouse file: connections, the writer lock, and offline extensions.

DuckDB allows one writing process per file. Refinery serializes its own writers (one
Dagster pool of size 1) and, across processes, holds an exclusive lock file while it
writes: a second `refinery run` exits at once with "warehouse is busy (pid …)".
Connections are short-lived; readers open the file read-only.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb

LOCK_NAME = ".refinery.lock"
_held: dict[Path, tuple[int, int]] = {}  # lock path → (fd, depth); re-entrant within a process
_held_guard = threading.Lock()


class WarehouseBusy(RuntimeError):
    """Another process is writing the warehouse."""


@contextlib.contextmanager
def warehouse_lock(warehouse_dir: Path) -> Iterator[None]:
    """Hold the warehouse's exclusive writer lock (re-entrant within one process).

    Raises:
        WarehouseBusy: another process holds it; the message names its pid.
    """
    warehouse_dir.mkdir(parents=True, exist_ok=True)
    lock_path = (warehouse_dir / LOCK_NAME).resolve()
    with _held_guard:
        if lock_path in _held:
            fd, depth = _held[lock_path]
            _held[lock_path] = (fd, depth + 1)
        else:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise busy(warehouse_dir) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            _held[lock_path] = (fd, 1)
    try:
        yield
    finally:
        with _held_guard:
            fd, depth = _held[lock_path]
            if depth > 1:
                _held[lock_path] = (fd, depth - 1)
            else:
                del _held[lock_path]
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)


def busy(warehouse_dir: Path) -> WarehouseBusy:
    """The error for a warehouse another process is writing, naming that process's pid."""
    lock_path = warehouse_dir / LOCK_NAME
    try:
        holder = lock_path.read_text(errors="replace").strip()
    except OSError:
        holder = ""
    return WarehouseBusy(
        f"warehouse is busy (pid {holder or 'unknown'}): another refinery process is writing "
        f"{warehouse_dir}; wait for it to finish, then run again"
    )


def connect(database: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file (creating its folder); the caller closes it."""
    if not read_only:
        database.parent.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(str(database), read_only=read_only)


def load_extension(con: duckdb.DuckDBPyConnection, name: str, extension_dir: Path) -> None:
    """INSTALL and LOAD a DuckDB extension from its `duckdb-extension-<name>` wheel (no download).

    Raises:
        RuntimeError: the wheel is not installed; the message names the package to install.
    """
    package = f"duckdb_extension_{name}"
    try:
        module = importlib.import_module(package)
    except ImportError as exc:
        raise RuntimeError(
            f"DuckDB extension '{name}' is not installed: pip install duckdb-extension-{name}=={duckdb.__version__}"
        ) from exc
    files = sorted(Path(module.__file__).parent.glob(f"extensions/*/{name}.duckdb_extension"))
    if not files:
        raise RuntimeError(f"package {package} ships no {name}.duckdb_extension file")
    extension_dir.mkdir(parents=True, exist_ok=True)
    con.execute(f"SET extension_directory = '{_sql_string(str(extension_dir))}'")
    try:
        con.execute(f"LOAD {name}")  # installed by an earlier call: loading alone takes milliseconds
        return
    except duckdb.Error:
        pass
    con.execute(f"FORCE INSTALL '{_sql_string(str(files[-1]))}'")
    con.execute(f"LOAD {name}")


def _sql_string(value: str) -> str:
    return value.replace("'", "''")


def quote_identifier(name: str) -> str:
    """Double-quote an identifier for DuckDB, doubling embedded quotes."""
    return '"' + name.replace('"', '""') + '"'


def sql_string(value: str) -> str:
    """A single-quoted SQL string literal."""
    return "'" + _sql_string(value) + "'"
