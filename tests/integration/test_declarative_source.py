"""kind: declarative — a low-code manifest run by the real airbyte-cdk against the local test API.

The first test installs airbyte-cdk into the session's connectors dir (~45 s on the 2-core machine;
REFINERY_CONNECTORS_DIR reuses an install across sessions), hence `slow`.
"""

from __future__ import annotations

import json
import logging
import time

import duckdb
import pytest

from ingestion.sources import build_source
from ingestion.sources.declarative import CDK_VERSION, DeclarativeSource
from ingestion.sync import sync_source
from refinery.config import ConfigError, load_config
from tests.http_server import ApiServer, make_records
from tests.secret_scan import secret_locations

pytestmark = pytest.mark.integration

API_KEY = "decl-key-9d1e-SECRET"

MANIFEST = """
version: 6.0.0
type: DeclarativeSource
check:
  type: CheckStream
  stream_names: [items]
streams:
  - type: DeclarativeStream
    name: items
    primary_key: [id]
    schema_loader:
      type: InlineSchemaLoader
      schema:
        type: object
        properties:
          id: {type: integer}
          updated_at: {type: string}
          title: {type: string}
          body: {type: string}
    incremental_sync:
      type: DatetimeBasedCursor
      cursor_field: updated_at
      datetime_format: "%Y-%m-%dT%H:%M:%SZ"
      start_datetime: "{{ config['start_date'] }}"
      start_time_option: {type: RequestOption, inject_into: request_parameter, field_name: since}
    retriever:
      type: SimpleRetriever
      requester:
        type: HttpRequester
        url_base: "{{ config['base_url'] }}"
        path: /pages
        http_method: GET
        authenticator:
          type: ApiKeyAuthenticator
          api_token: "{{ config['api_key'] }}"
          inject_into: {type: RequestOption, inject_into: header, field_name: X-API-Key}
      record_selector:
        type: RecordSelector
        extractor: {type: DpathExtractor, field_path: [items]}
      paginator:
        type: DefaultPaginator
        page_token_option: {type: RequestOption, inject_into: request_parameter, field_name: page}
        page_size_option: {type: RequestOption, inject_into: request_parameter, field_name: per_page}
        pagination_strategy: {type: PageIncrement, page_size: 10, start_from_page: 1}
spec:
  type: Spec
  connection_specification:
    type: object
    required: [base_url, api_key, start_date]
    properties:
      base_url: {type: string}
      start_date: {type: string}
      api_key: {type: string, airbyte_secret: true}
"""


@pytest.fixture
def api():
    with ApiServer(count=25) as server:
        server.require_header = ("X-API-Key", API_KEY)
        yield server


@pytest.fixture
def declarative_config(tmp_path, write_config, connectors_dir, monkeypatch, api):
    monkeypatch.setenv("REFINERY_CONNECTORS_DIR", str(connectors_dir))
    monkeypatch.setenv("REFINERY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DECL_API_KEY", API_KEY)
    (tmp_path / "items.yaml").write_text(MANIFEST)
    return write_config(f"""
        sources:
          items_api:
            kind: declarative
            manifest: items.yaml
            config: {{base_url: "{api.base}", start_date: "2024-01-01T00:00:00Z"}}
            config_from_env: {{api_key: DECL_API_KEY}}
    """)


@pytest.mark.slow
def test_manifest_pages_through_the_api_lands_each_record_once_and_resumes_incrementally(
    declarative_config, api, capsys, caplog
):
    caplog.set_level(logging.DEBUG)
    config = load_config(declarative_config)
    source = build_source(config.sources["items_api"], config)
    assert isinstance(source, DeclarativeSource)
    assert [s.name for s in source.planned_streams()] == ["items"]  # from the manifest, nothing installed yet
    started = time.monotonic()
    source.ensure_installed()
    with capsys.disabled():
        print(f"\nairbyte-cdk=={CDK_VERSION} ready in {time.monotonic() - started:.1f} s")

    first = sync_source(config, "items_api", say=lambda _: None)
    assert first.status == "succeeded", first.error
    assert first.streams["items"].landed == 25
    pages = [r.query.get("page", "1") for r in api.data_requests("/pages")]
    assert pages[-3:] == ["1", "2", "3"]  # the check reads one page first, then the sync pages through
    assert {r.headers.get("X-API-Key") for r in api.requests} == {API_KEY}
    with duckdb.connect(str(config.database_path), read_only=True) as con:
        ids = con.execute(
            "select count(distinct _airbyte_data ->> 'id'), count(*) from raw.items_api__items"
        ).fetchone()
        state = con.execute("select state from raw._refinery_state where source_name = 'items_api'").fetchone()[0]
        stream = con.execute(
            "select kind, role, primary_key, cursor_field from raw._refinery_streams where source_name = 'items_api'"
        ).fetchone()
    assert ids == (25, 25)
    assert json.loads(state)["stream"]["stream_state"] == {"updated_at": "2024-01-01T00:13:00Z"}
    assert stream == ("declarative", "records", "id", "updated_at")

    api.records.extend(make_records(28)[25:])  # 26 shares 25's updated_at; 27 and 28 are later
    api.requests.clear()
    second = sync_source(config, "items_api", say=lambda _: None)
    assert second.status == "succeeded", second.error
    # the check reads from start_date; the sync from the saved state
    assert [r.query["since"] for r in api.data_requests("/pages")] == ["2024-01-01T00:00:00Z", "2024-01-01T00:13:00Z"]
    with duckdb.connect(str(config.database_path), read_only=True) as con:
        landed_ids = sorted(
            row[0] for row in con.execute("select (_airbyte_data ->> 'id')::int from raw.items_api__items").fetchall()
        )
    # The CDK's cursor is inclusive: the boundary record 25 is read again (staging keeps its latest version).
    assert second.streams["items"].landed == 4
    assert landed_ids == [*range(1, 25), 25, 25, 26, 27, 28]

    assert secret_locations(config.database_path, API_KEY) == []  # bytes of the file and WAL, and every text column
    if source.catalog_cache.exists():
        assert API_KEY.encode() not in source.catalog_cache.read_bytes()
    captured = capsys.readouterr()
    assert API_KEY not in captured.out + captured.err + caplog.text


@pytest.mark.slow
def test_a_rejected_key_fails_the_check_without_echoing_it(declarative_config, api, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    api.require_header = ("X-API-Key", "another-key")
    api.records[0]["body"] = API_KEY
    config = load_config(declarative_config)
    with pytest.raises(Exception) as error:
        sync_source(config, "items_api", say=print)
    assert "source 'items_api': connection check failed" in str(error.value)
    assert "401" in str(error.value)
    assert API_KEY not in str(error.value)
    with capsys.disabled():
        print(f"\n{error.value}")
    captured = capsys.readouterr()
    assert API_KEY not in captured.out + captured.err + caplog.text


def test_a_secret_written_in_the_file_is_refused_before_anything_runs(tmp_path, write_config, monkeypatch, api):
    monkeypatch.setenv("REFINERY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("REFINERY_CONNECTORS_DIR", str(tmp_path / "no-connectors"))
    (tmp_path / "items.yaml").write_text(MANIFEST)
    config = load_config(
        write_config(f"""
        sources:
          items_api:
            kind: declarative
            manifest: items.yaml
            config: {{base_url: "{api.base}", start_date: "2024", api_key: {API_KEY}}}
    """)
    )
    source = build_source(config.sources["items_api"], config)
    with pytest.raises(ConfigError) as error:
        source.validate_config()  # reads the manifest's spec: no install, no subprocess
    assert str(error.value) == (
        f"{config.path}: 'sources.items_api.config.api_key' is a secret (airbyte_secret in the connector's spec): "
        "move it to config_from_env: {api_key: SOME_ENV_VAR}"
    )
    assert not (tmp_path / "no-connectors").exists()


@pytest.mark.parametrize(
    ("manifest_text", "options", "message"),
    [
        (None, "", "'sources.d.manifest' = 'm.yaml' is not a file"),
        ("streams: [", "", "'sources.d.manifest': {dir}/m.yaml is not valid YAML"),
        ("version: 6.0.0\n", "", "'sources.d.manifest': {dir}/m.yaml is not a declarative manifest"),
        (MANIFEST, "cdk_version: 7", "'sources.d.cdk_version' is 7: give an airbyte-cdk release as a quoted string"),
        (
            MANIFEST,
            "config: {__injected_declarative_manifest: {}}",
            "'sources.d.config.__injected_declarative_manifest' is set by Refinery",
        ),
        (MANIFEST, "config_from_env: {api_key: 3}", "'sources.d.config_from_env' must map connector setting"),
    ],
)
def test_config_errors_name_the_key_and_the_fix(tmp_path, write_config, manifest_text, options, message):
    if manifest_text is not None:
        (tmp_path / "m.yaml").write_text(manifest_text)
    extra = f", {options}" if options else ""
    path = write_config(f"sources:\n  d: {{kind: declarative, manifest: m.yaml{extra}}}\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value).startswith(f"{path}: {message.format(dir=tmp_path)}")
