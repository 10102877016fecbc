"""Shared fixtures. Telemetry is off for every tool the tests start."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

for _key, _value in {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "DO_NOT_TRACK": "1",
    "DAGSTER_DISABLE_TELEMETRY": "1",
    "SODA_CORE_TELEMETRY_ENABLED": "false",
}.items():
    os.environ.setdefault(_key, _value)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def connectors_dir(tmp_path_factory) -> Path:
    """One connector install per test session (installing source-faker takes ~30 s).

    REFINERY_CONNECTORS_DIR, when set, is reused across sessions.
    """
    existing = os.environ.get("REFINERY_CONNECTORS_DIR")
    return Path(existing) if existing else tmp_path_factory.mktemp("connectors")


@pytest.fixture
def write_config(tmp_path):
    """Write a refinery.yml into tmp_path and return its path."""

    def _write(text: str, name: str = "refinery.yml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return _write
