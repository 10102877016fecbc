"""sqlfluff (dbt templater, duckdb dialect, config in pyproject.toml) finds nothing in dbt_project/.

Marked `integration`: the dbt templater compiles the project, which opens the DuckDB file
of the `ci` target (an empty one in a temporary REFINERY_HOME is enough: the stream union
macro then renders its typed empty select).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
SQLFLUFF = Path(sys.executable).parent / "sqlfluff"
LINTED_FOLDERS = ["dbt_project/models", "dbt_project/macros", "dbt_project/tests"]


def test_sqlfluff_finds_no_violations(tmp_path: Path) -> None:
    (tmp_path / "warehouse").mkdir()
    env = {
        **os.environ,
        "REFINERY_HOME": str(tmp_path),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
        # Keep dbt's compile artefacts out of the repository and apart from parallel runs.
        "DBT_TARGET_PATH": str(tmp_path / "target"),
        "DBT_LOG_PATH": str(tmp_path / "logs"),
    }
    result = subprocess.run(
        [str(SQLFLUFF), "lint", *LINTED_FOLDERS, "--format", "json", "--nofail"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    files = json.loads(result.stdout)
    linted = {Path(entry["filepath"]).as_posix() for entry in files}
    sql_files = {
        path.relative_to(REPO_ROOT).as_posix()
        for folder in LINTED_FOLDERS
        for path in (REPO_ROOT / folder).rglob("*.sql")
    }
    # Every SQL file was seen (a templating failure would show up as a violation too).
    assert linted == sql_files
    violations = [
        f"{entry['filepath']}:{violation.get('start_line_no')}: {violation['code']} {violation['description']}"
        for entry in files
        for violation in entry["violations"]
    ]
    assert violations == [], "\n".join(violations)
