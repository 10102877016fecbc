"""The release gate from a user's seat, one warehouse through five steps.

1. a broken source (most lines unparseable) fails the blocking check: nothing is published,
   and a config without the sample's `shop` connector builds fine;
2. fixing the file clears the gate on the next run: v1;
3. a `--select` run builds part of the project: no release from a partial build;
4. a direct `dbt build` rebuilds the table outside Refinery: the release step refuses it;
5. removing a source from refinery.yml removes its examples from the next release: v2.
"""

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from refinery.config import load_config
from refinery.release import read_release
from tests.conftest import PROJECT_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BIN = Path(sys.executable).parent
GOOD = '{"id": "g1", "body": "A perfectly ordinary support ticket body, long enough to keep as an example."}\n'


def refinery(args, env, check=None):
    result = subprocess.run([str(BIN / "refinery"), *args], env=env, capture_output=True, text=True, timeout=900)
    if check is not None:
        assert result.returncode == check, result.stdout + result.stderr
    return result


def write_config(path: Path, broken: Path | None) -> None:
    tickets = PROJECT_ROOT / "seeds" / "sample" / "tickets"
    lines = [
        "sources:",
        f"  tickets: {{kind: files, path: '{tickets}/*.jsonl', primary_key: ticket_id, text_field: body}}",
    ]
    if broken:
        # One-sentence bodies: no quality rule may drop them, or the source would not reach the release.
        lines.append(
            f"  broken: {{kind: files, path: '{broken}/*.jsonl', primary_key: id, text_field: body, "
            "quality_drop_rules: []}"
        )
    path.write_text("\n".join(lines) + "\n")


def test_release_gate_scenario(tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "export.jsonl").write_text(GOOD + "<html>\n<body>oops</body>\n</html>\n")
    config_path = tmp_path / "refinery.yml"
    write_config(config_path, broken)
    env = {**os.environ, "REFINERY_CONFIG": str(config_path), "REFINERY_HOME": str(tmp_path / "home")}

    # 1. the blocking check fails: exit 1, one reason line, no release
    failed = refinery(["run"], env, check=1)
    assert (
        failed.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "refinery: run failed: dbt_build: dbt build failed (1 error(s): assert_quarantine_rate_within_limit)"
        )
    )
    assert "Stack Trace" not in failed.stderr and "→ release" not in failed.stderr
    assert "no release" in refinery(["release", "list"], env, check=0).stdout
    assert "✗ assert_quarantine_rate_within_limit" in refinery(["status"], env, check=0).stdout

    # 2. the input is fixed: the changed file is read again, the gate passes, v1 is published
    (broken / "export.jsonl").write_text(GOOD + GOOD.replace("g1", "g2").replace("ordinary", "unusual"))
    fixed = refinery(["run"], env, check=0)
    assert "release: v1 (published)" in fixed.stderr
    config = load_config(config_path, home=tmp_path / "home")
    assert {row["source_name"] for row in read_release(config, "v1")} == {"tickets", "broken"}

    # 3. a partial build never publishes
    partial = refinery(["run", "--select", "key:raw/tickets__records+"], env, check=0)
    assert "not published: the last dbt build was partial (--select)" in partial.stderr

    # 4. a table rebuilt by a direct dbt build is not released
    direct = subprocess.run(
        [str(BIN / "dbt"), "build", "--quiet", "--vars", "{min_text_chars: 0, refinery_sources: [broken, tickets]}"],
        cwd=PROJECT_ROOT / "dbt_project",
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert direct.returncode == 0, direct.stdout + direct.stderr
    refused = refinery(["run", "--select", "key:release/training_examples"], env, check=1)
    assert "was built by dbt invocation" in refused.stderr
    assert "not by the last green Refinery build" in refused.stderr
    assert "v2" not in refinery(["release", "list"], env, check=0).stdout

    # 5. a source removed from refinery.yml leaves the next release (its raw table stays)
    write_config(config_path, None)
    removed = refinery(["run"], env, check=0)
    assert "release: v2 (published)" in removed.stderr
    assert {row["source_name"] for row in read_release(config, "v2")} == {"tickets"}
    assert {row["source_name"] for row in read_release(config, "v1")} == {"tickets", "broken"}
    with duckdb.connect(str(tmp_path / "home" / "warehouse" / "refinery.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from raw.broken__records").fetchone()[0] == 3
        funnel_sources = {
            r[0] for r in con.execute("select distinct source_name from marts.pipeline_funnel").fetchall()
        }
    assert funnel_sources == {"tickets"}
