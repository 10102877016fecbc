"""kind: airbyte without a connector install: secrets only from the environment, stream names mapped."""

import pytest

from ingestion.protocol import Other, SourceFailed
from ingestion.sources.airbyte import AirbyteConnectorSource, secret_keys
from refinery.config import ConfigError, load_config

pytestmark = pytest.mark.unit

SPEC = {
    "connectionSpecification": {
        "type": "object",
        "required": ["api_key"],
        "properties": {
            "api_key": {"type": "string", "airbyte_secret": True},
            "count": {"type": "integer"},
            "credentials": {"type": "object", "airbyte_secret": False},
        },
    }
}
CATALOG = {
    "streams": [
        {"name": "Users", "supported_sync_modes": ["full_refresh"], "source_defined_primary_key": [["id"]]},
        {"name": "My Sheet", "supported_sync_modes": ["full_refresh"]},
        {"name": "my-sheet", "supported_sync_modes": ["full_refresh"]},
        {"name": "purchases", "supported_sync_modes": ["full_refresh"]},
    ]
}


def connector(write_config, tmp_path, monkeypatch, options: str) -> AirbyteConnectorSource:
    """An AirbyteConnectorSource whose spec and catalog are fakes (nothing is installed or run)."""
    monkeypatch.delenv("REFINERY_CONNECTORS_DIR", raising=False)
    monkeypatch.setenv("SHOP_API_KEY", "hunter2")
    config = load_config(write_config(f"sources: {{shop: {{kind: airbyte, connector: airbyte-source-x, {options}}}}}"))
    source = AirbyteConnectorSource(config.sources["shop"], tmp_path / "connectors")
    monkeypatch.setattr(AirbyteConnectorSource, "spec", lambda self: SPEC)
    monkeypatch.setattr(AirbyteConnectorSource, "discover", lambda self: CATALOG)
    monkeypatch.setattr(AirbyteConnectorSource, "ensure_installed", lambda self: None)
    monkeypatch.setattr(AirbyteConnectorSource, "_run", lambda self, args, **_: iter([connection_status("SUCCEEDED")]))
    return source


def connection_status(status: str, message: str = "") -> Other:
    return Other("CONNECTION_STATUS", {"status": status, "message": message})


def test_secret_keys_are_the_top_level_airbyte_secret_properties():
    assert secret_keys(SPEC) == {"api_key"}
    assert secret_keys({}) == set()


def test_a_secret_written_under_config_is_rejected(write_config, tmp_path, monkeypatch):
    source = connector(write_config, tmp_path, monkeypatch, "config: {api_key: hunter2, count: 3}")
    with pytest.raises(ConfigError) as error:
        source.validate_config()
    assert str(error.value) == (
        f"{source.source.config_file}: 'sources.shop.config.api_key' is a secret (airbyte_secret in the "
        "connector's spec): move it to config_from_env: {api_key: SOME_ENV_VAR}"
    )


def test_a_secret_from_the_environment_passes_and_is_redacted(write_config, tmp_path, monkeypatch):
    monkeypatch.setenv("SHOP_API_KEY", "hunter2")
    source = connector(
        write_config, tmp_path, monkeypatch, "config: {count: 3}, config_from_env: {api_key: SHOP_API_KEY}"
    )
    source.validate_config()
    assert source.config() == {"count": 3, "api_key": "hunter2"}
    assert source.redact("key=hunter2") == "key=***"


def test_schema_problems_still_name_the_key(write_config, tmp_path, monkeypatch):
    monkeypatch.setenv("SHOP_API_KEY", "hunter2")
    source = connector(
        write_config, tmp_path, monkeypatch, "config: {count: many}, config_from_env: {api_key: SHOP_API_KEY}"
    )
    with pytest.raises(ConfigError, match=r"'sources\.shop\.config\.count': 'many' is not of type 'integer'"):
        source.validate_config()


def test_connector_stream_names_are_selected_as_spelled_and_land_as_table_names(write_config, tmp_path, monkeypatch):
    source = connector(
        write_config, tmp_path, monkeypatch, "streams: [Users, My Sheet], config_from_env: {api_key: SHOP_API_KEY}"
    )
    assert [spec.name for spec in source.planned_streams()] == ["users", "my_sheet"]
    specs = source.streams()
    assert [(s.name, s.primary_key, s.full_refresh) for s in specs] == [("users", "id", True), ("my_sheet", None, True)]
    configured = [entry["stream"]["name"] for entry, _ in source._configured()]
    assert configured == ["Users", "My Sheet"]


def test_a_stream_name_in_the_wrong_case_says_names_are_case_sensitive(write_config, tmp_path, monkeypatch):
    source = connector(
        write_config, tmp_path, monkeypatch, "streams: [users], config_from_env: {api_key: SHOP_API_KEY}"
    )
    with pytest.raises(ConfigError, match=r"names \['users'\], which the connector does not offer.*case-sensitive"):
        source.streams()


def test_discovered_streams_that_map_to_one_table_are_a_config_error(write_config, tmp_path, monkeypatch):
    source = connector(
        write_config, tmp_path, monkeypatch, "config: {count: 1}, config_from_env: {api_key: SHOP_API_KEY}"
    )
    with pytest.raises(ConfigError) as error:
        source.streams()
    assert "the connector's streams 'My Sheet' and 'my-sheet' would land in the same table stream 'my_sheet'" in str(
        error.value
    )
    assert "'sources.shop.streams'" in str(error.value)


def test_streams_validates_then_checks_the_connection_before_discovering(write_config, tmp_path, monkeypatch):
    monkeypatch.setenv("SHOP_API_KEY", "hunter2")
    source = connector(
        write_config, tmp_path, monkeypatch, "config: {count: 3}, config_from_env: {api_key: SHOP_API_KEY}"
    )
    ran: list[list[str]] = []

    def failing_check(self, args, **_):
        ran.append(args)
        return iter([connection_status("FAILED", "401 Unauthorized for key hunter2")])

    monkeypatch.setattr(AirbyteConnectorSource, "_run", failing_check)
    discovered = []
    monkeypatch.setattr(AirbyteConnectorSource, "discover", lambda self: discovered.append(1) or CATALOG)
    with pytest.raises(SourceFailed) as error:
        source.streams()
    assert str(error.value) == "source 'shop': connection check failed: 401 Unauthorized for key ***"
    assert ran == [["check", "--config", "{config}"]]
    assert discovered == []


def test_streams_refuses_a_secret_in_the_file_before_running_anything(write_config, tmp_path, monkeypatch):
    source = connector(write_config, tmp_path, monkeypatch, "config: {api_key: hunter2, count: 3}")
    monkeypatch.setattr(AirbyteConnectorSource, "_run", lambda self, args, **_: pytest.fail(f"ran {args}"))
    with pytest.raises(ConfigError, match=r"'sources\.shop\.config\.api_key' is a secret"):
        source.streams()


def test_a_connector_error_trace_is_redacted_in_message_internal_message_and_stack_trace(tmp_path, monkeypatch):
    """Through the real connector runner: the fake connector prints a TRACE error that echoes the secret."""
    import json

    from ingestion.protocol import Trace
    from ingestion.sources import SavedState
    from ingestion.sync import sync_source
    from tests.integration.fake_connector import REQUIREMENT, install_fake_connector, yaml_config
    from tests.secret_scan import secret_locations

    secret = "sk-live-9d2e-SECRET"
    install_fake_connector(tmp_path / "connectors")
    monkeypatch.setenv("REFINERY_CONNECTORS_DIR", str(tmp_path / "connectors"))
    monkeypatch.setenv("FAKE_API_KEY", secret)
    error = {
        "message": "",  # empty: the sync reports internal_message instead
        "internal_message": f"401 for Authorization: Bearer {secret}",
        "stack_trace": f'Traceback: requests.get(headers={{"Authorization": "Bearer {secret}"}})',
        "failure_type": "system_error",
    }
    trace = {"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": 1, "error": error}}
    connector = {
        "streams": [{"name": "Users", "primary_key": "id", "records": 3}],
        "extra_lines": [json.dumps(trace)],
    }
    config_path = tmp_path / "refinery.yml"
    config_path.write_text(
        f"sources: {{api: {{kind: airbyte, connector: '{REQUIREMENT}', config: {yaml_config(connector)}, "
        "config_from_env: {api_key: FAKE_API_KEY}}}"
    )
    config = load_config(config_path, home=tmp_path / "home")

    source = AirbyteConnectorSource(config.sources["api"], config.connectors_dir)
    traces = [m for m in source.read(SavedState()) if isinstance(m, Trace)]
    assert [t.payload["error"] for t in traces] == [
        {
            "message": "",
            "internal_message": "401 for Authorization: Bearer ***",
            "stack_trace": 'Traceback: requests.get(headers={"Authorization": "Bearer ***"})',
            "failure_type": "system_error",
        }
    ]

    result = sync_source(config, "api", say=lambda _: None)
    assert result.status == "failed"
    assert result.error == "401 for Authorization: Bearer ***"
    assert secret_locations(config.database_path, secret) == []
