"""An error-severity dbt test failure stops the run before the release: nothing is published."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REFINERY = str(Path(sys.executable).parent / "refinery")


def test_blocking_check_failure_publishes_nothing(tmp_path, connectors_dir):
    broken = tmp_path / "broken"
    broken.mkdir()
    # 3 of 4 lines are not JSON: the source is broken upstream, so the quarantine-rate gate fails.
    (broken / "export.jsonl").write_text(
        '{"id": "1", "body": "a perfectly fine support ticket body text"}\n<html>\n<body>oops</body>\n</html>\n'
    )
    seeds = PROJECT_ROOT / "seeds" / "sample"
    config = tmp_path / "refinery.yml"
    config.write_text(f"""
sources:
  tickets: {{kind: files, path: {seeds}/tickets/*.jsonl, primary_key: ticket_id, text_field: body}}
  shop: {{kind: airbyte, connector: airbyte-source-faker==7.2.1, config: {{count: 10, seed: 1}}}}
  broken: {{kind: files, path: {broken}/*.jsonl, primary_key: id, text_field: body}}
""")
    env = {
        **os.environ,
        "REFINERY_CONFIG": str(config),
        "REFINERY_HOME": str(tmp_path / "home"),
        "REFINERY_CONNECTORS_DIR": str(connectors_dir),
    }
    run = subprocess.run([REFINERY, "run"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "refinery: run failed: dbt_build: dbt build failed" in run.stderr
    assert "assert_quarantine_rate_within_limit" in run.stderr
    assert "→ release" not in run.stderr
    listing = subprocess.run([REFINERY, "release", "list"], env=env, capture_output=True, text=True, check=True)
    assert "no release" in listing.stdout
    status = subprocess.run([REFINERY, "status"], env=env, capture_output=True, text=True, check=True)
    assert "FAILED" in status.stdout
    assert "✗ assert_quarantine_rate_within_limit" in status.stdout
