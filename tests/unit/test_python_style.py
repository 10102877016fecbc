"""ruff (configured in pyproject.toml) finds nothing, and the code is formatted."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.unit

RUFF = str(Path(sys.executable).parent / "ruff")


def test_ruff_check_finds_no_violations():
    result = subprocess.run(
        [RUFF, "check", "--output-format", "concise", "."], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_leaves_every_file_unchanged():
    result = subprocess.run([RUFF, "format", "--check", "."], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
