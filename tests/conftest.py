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

# `make test` inherits the Makefile's REFINERY_HOME (the checkout, for `make demo`): a test that
# loads a config without naming a home must get the config's own folder, never the checkout's
# warehouse, so no test can read or write another test's (or the demo's) data.
for _key in ("REFINERY_HOME", "REFINERY_CONFIG", "DAGSTER_HOME"):
    os.environ.pop(_key, None)

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


SERVICES = {  # name → (port, how to start it)
    "postgres": (
        5432,
        "PostgreSQL with trust auth, e.g. `docker run -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres`",
    ),
    "mysql": (
        3306,
        "MariaDB, root without password: `docker run -p 3306:3306 -e MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1 mariadb`",
    ),
    "redis": (6379, "Redis, e.g. `docker run -p 6379:6379 redis`"),
    "nats": (4222, "NATS with JetStream, e.g. `docker run -p 4222:4222 nats -js`"),
}


def require_service(name: str) -> None:
    """Skip (or, with REFINERY_REQUIRE_SERVICES=1, fail) unless the named service listens on 127.0.0.1."""
    import socket

    port, how = SERVICES[name]
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError as exc:
        message = f"{name} is not reachable on 127.0.0.1:{port} ({exc}); start {how}"
        if os.environ.get("REFINERY_REQUIRE_SERVICES") == "1":
            pytest.fail(message + " — REFINERY_REQUIRE_SERVICES=1 makes this a failure")
        pytest.skip(message)


@pytest.fixture
def postgres_service() -> None:
    require_service("postgres")


@pytest.fixture
def mysql_service() -> None:
    require_service("mysql")


@pytest.fixture
def redis_service() -> None:
    require_service("redis")


@pytest.fixture
def nats_service() -> None:
    require_service("nats")
