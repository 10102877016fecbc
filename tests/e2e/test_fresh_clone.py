"""`make demo` from a fresh clone of the committed tree: installs, runs, publishes v1."""

import os
import shutil
import subprocess

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.skipif(not (PROJECT_ROOT / ".git").exists(), reason="needs a git checkout to clone")
@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_demo_from_a_fresh_clone(tmp_path, connectors_dir):
    clone = tmp_path / "refinery"
    subprocess.run(["git", "clone", "--quiet", str(PROJECT_ROOT), str(clone)], check=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REFINERY_HOME", "REFINERY_CONFIG", "DAGSTER_HOME", "VIRTUAL_ENV"}
    }
    env["REFINERY_CONNECTORS_DIR"] = str(connectors_dir)  # the connector install is tested elsewhere
    demo = subprocess.run(["make", "demo"], cwd=clone, env=env, capture_output=True, text=True, timeout=1200)
    assert demo.returncode == 0, demo.stdout[-4000:] + demo.stderr[-4000:]
    assert "Funnel (records per source and outcome)" in demo.stdout
    assert "release: v1 (published)" in demo.stderr
    listing = subprocess.run(
        [str(clone / ".venv" / "bin" / "refinery"), "release", "list"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    versions = [line.split()[0] for line in listing.stdout.splitlines()[2:]]
    assert versions == ["v1"]
    assert (clone / "warehouse" / "refinery.duckdb").exists()
