import subprocess
import sys
import textwrap

import pytest

from ingestion.warehouse import warehouse_lock

pytestmark = pytest.mark.unit


def test_a_second_process_is_told_the_warehouse_is_busy_with_the_pid(tmp_path):
    import os

    with warehouse_lock(tmp_path), warehouse_lock(tmp_path):  # re-entrant inside one process
        probe = textwrap.dedent(f"""
            from pathlib import Path
            from ingestion.warehouse import WarehouseBusy, warehouse_lock
            try:
                with warehouse_lock(Path({str(tmp_path)!r})):
                    print("acquired")
            except WarehouseBusy as exc:
                print(exc)
        """)
        result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
        assert result.stdout.startswith(f"warehouse is busy (pid {os.getpid()})")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "acquired"
