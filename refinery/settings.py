"""Where things are, and the environment every Refinery process runs with.

No network at run time: telemetry of dbt, Dagster and Soda is switched off here, before any
of them is imported by the code that follows.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from refinery.config import Config, load_config

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
WRITER_POOL = "duckdb_writer"


def venv_executable(name: str) -> str:
    """A console script of the running interpreter's environment (the venv need not be activated)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


TELEMETRY_OFF = {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "DO_NOT_TRACK": "1",
    "DAGSTER_DISABLE_TELEMETRY": "1",
    "SODA_CORE_TELEMETRY_ENABLED": "false",
}

DAGSTER_YAML = """\
# Written by refinery. Dagster keeps run history here, so CLI runs show in the UI.
telemetry:
  enabled: false
concurrency:
  pools:
    # Everything that writes the DuckDB file runs in pool 'duckdb_writer': one at a time.
    default_limit: 1
"""


def prepare_environment(config: Config) -> None:
    """Export the variables dbt, Dagster and subprocesses need, and write dagster.yaml."""
    for key, value in TELEMETRY_OFF.items():
        os.environ.setdefault(key, value)
    os.environ["REFINERY_CONFIG"] = str(config.path)
    os.environ["REFINERY_HOME"] = str(config.home)
    os.environ["DAGSTER_HOME"] = str(config.dagster_home)
    config.dagster_home.mkdir(parents=True, exist_ok=True)
    config.warehouse_dir.mkdir(parents=True, exist_ok=True)
    dagster_yaml = config.dagster_home / "dagster.yaml"
    if not dagster_yaml.exists() or dagster_yaml.read_text() != DAGSTER_YAML:
        dagster_yaml.write_text(DAGSTER_YAML)


def load_and_prepare() -> Config:
    """Load refinery.yml (REFINERY_CONFIG / ./refinery.yml, else the project's) and prepare."""
    if "REFINERY_CONFIG" not in os.environ and not (Path.cwd() / "refinery.yml").exists():
        os.environ["REFINERY_CONFIG"] = str(PROJECT_ROOT / "refinery.yml")
    config = load_config()
    prepare_environment(config)
    return config
