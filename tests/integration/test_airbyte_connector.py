"""airbyte-source-faker 7.2.1 through the connector runner: its own venv, spec, discover, read, state."""

import json

import duckdb
import pytest

from ingestion.sources.airbyte import AirbyteConnectorSource
from ingestion.sync import sync_source
from refinery.config import ConfigError, load_config

pytestmark = pytest.mark.integration

FAKER = "airbyte-source-faker==7.2.1"


@pytest.fixture
def faker_config(tmp_path, write_config, connectors_dir, monkeypatch):
    monkeypatch.setenv("REFINERY_CONNECTORS_DIR", str(connectors_dir))
    monkeypatch.setenv("REFINERY_HOME", str(tmp_path / "home"))
    return write_config(f"""
        sources:
          shop:
            kind: airbyte
            connector: {FAKER}
            config: {{count: 25, seed: 7, always_updated: false}}
            streams: [users, purchases]
    """)


def test_faker_lands_each_stream_once_and_resumes_from_saved_state(faker_config):
    config = load_config(faker_config)
    first = sync_source(config, "shop", say=lambda _: None)
    assert first.status == "succeeded", first.error
    assert {s: c.landed for s, c in first.streams.items()} == {"users": 25, "purchases": 25}
    with duckdb.connect(str(config.database_path), read_only=True) as con:
        ids = con.execute("select count(distinct _airbyte_data ->> 'id'), count(*) from raw.shop__users").fetchone()
        states = con.execute("select stream_name, state_type, state from raw._refinery_state order by 1").fetchall()
        streams = con.execute(
            "select stream_name, role, primary_key, cursor_field from raw._refinery_streams order by 1"
        ).fetchall()
        email = con.execute("select _airbyte_data ->> 'email' from raw.shop__users limit 1").fetchone()[0]
    assert ids == (25, 25)
    assert "@" in email
    assert [(s, t) for s, t, _ in states] == [("purchases", "STREAM"), ("users", "STREAM")]
    assert json.loads(states[1][2])["stream"]["stream_state"]["updated_at"]
    assert streams == [("purchases", "records", "id", "updated_at"), ("users", "records", "id", "updated_at")]

    second = sync_source(config, "shop", say=lambda _: None)
    assert second.status == "succeeded"
    assert second.total("landed") == 0
    with duckdb.connect(str(config.database_path), read_only=True) as con:
        assert con.execute("select count(*) from raw.shop__users").fetchone()[0] == 25


def test_connector_config_is_validated_against_its_spec(faker_config, write_config):
    config = load_config(
        write_config(
            f"""
        sources:
          shop: {{kind: airbyte, connector: {FAKER}, config: {{count: many}}}}
    """,
            name="bad.yml",
        )
    )
    with pytest.raises(ConfigError, match=r"'sources\.shop\.config\.count': 'many' is not of type 'integer'"):
        sync_source(config, "shop", say=lambda _: None)


def test_unknown_stream_is_named_with_the_available_ones(faker_config, write_config):
    config = load_config(
        write_config(
            f"""
        sources:
          shop: {{kind: airbyte, connector: {FAKER}, config: {{count: 1}}, streams: [orders]}}
    """,
            name="streams.yml",
        )
    )
    with pytest.raises(ConfigError, match=r"names \['orders'\].*available: \['products', 'purchases', 'users'\]"):
        sync_source(config, "shop", say=lambda _: None)


def test_connector_failure_is_reported_with_its_error_and_secrets_redacted(faker_config, write_config, monkeypatch):
    monkeypatch.setenv("FAKER_SECRET", "hunter2-secret")
    config = load_config(
        write_config(
            f"""
        sources:
          shop:
            kind: airbyte
            connector: {FAKER}
            config: {{count: 5}}
            config_from_env: {{seed: FAKER_SECRET}}
    """,
            name="secret.yml",
        )
    )
    source = AirbyteConnectorSource(config.sources["shop"], config.connectors_dir)
    assert source.redact("token hunter2-secret leaked") == "token *** leaked"
    with pytest.raises(ConfigError) as error:
        sync_source(config, "shop", say=lambda _: None)
    assert "hunter2-secret" not in str(error.value)
    assert "'sources.shop.config.seed'" in str(error.value)
