"""`kind: declarative` — an Airbyte low-code (declarative) manifest, run unchanged by the Airbyte CDK.

Configuration (refinery.yml)::

    tickets:
      kind: declarative
      manifest: connectors/tickets.yaml                 # the manifest YAML, as the Connector Builder exports it
      config: {base_url: https://api.example.com, start_date: "2024-01-01T00:00:00Z"}
      config_from_env: {api_key: TICKETS_API_KEY}       # settings read from environment variables (secrets)
      streams: [tickets]                                # optional: default every stream of the manifest
      full_refresh: false                               # optional: force full refresh for every stream
      cdk_version: 7.39.1                               # optional: the airbyte-cdk release that runs it

The manifest runs through the CDK's `source-declarative-manifest` entry point, which reads it
from the `__injected_declarative_manifest` key of the connector config (Refinery adds it; the
file is not changed). The CDK is installed on first use into its own virtual environment under
`$REFINERY_HOME/connectors/airbyte-cdk==<version>` (its pins clash with ours), shared by every
declarative source with the same `cdk_version`. Everything else is `kind: airbyte`
(ingestion/sources/airbyte.py): the config is validated against the manifest's
`spec.connection_specification` (a setting it marks `airbyte_secret` must come from
`config_from_env`), then `check`, `discover` and `read` with the saved state; streams are
incremental where the manifest declares `incremental_sync`, else full refresh; secrets are
passed in a private temporary file and redacted from every log and error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from ingestion.protocol import StreamSpec
from ingestion.sources.airbyte import AirbyteConnectorSource
from refinery.config import Config, ConfigError, SourceConfig, check_connector_options, table_stream_name

# Verified to install from PyPI on Python 3.11 and to run the manifests in the tests (install: ~45 s here).
CDK_VERSION = "7.39.1"
ENTRY_POINT = "source-declarative-manifest"
INJECTED_KEY = "__injected_declarative_manifest"

KIND_OPTIONS: dict[str, tuple[set[str], set[str]]] = {
    "declarative": ({"manifest"}, {"config", "config_from_env", "streams", "full_refresh", "cdk_version"}),
}


def load_manifest(source: SourceConfig, where: str = "") -> dict[str, Any]:
    """The manifest as a mapping; ConfigError if the file is missing, not YAML, or not a manifest."""
    where = where or f"sources.{source.name}"
    value = source.option("manifest")
    path = source.resolve_path(str(value))
    if not path.is_file():
        raise ConfigError(
            f"{source.config_file}: '{where}.manifest' = {value!r} is not a file (resolved to {path}); point it at "
            "the manifest YAML (relative paths start at the config's folder)"
        )
    try:
        manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source.config_file}: '{where}.manifest': {path} is not valid YAML: {exc}") from exc
    if not isinstance(manifest, dict) or not (manifest.get("streams") or manifest.get("dynamic_streams")):
        raise ConfigError(
            f"{source.config_file}: '{where}.manifest': {path} is not a declarative manifest (a mapping with "
            "'streams'); export it from the Airbyte Connector Builder or write one by its schema"
        )
    return manifest


def check_options(source: SourceConfig, where: str) -> None:
    """Validate a `kind: declarative` entry; raise ConfigError naming the file, the key and the fix."""
    options = source.options
    if not isinstance(options["manifest"], str):
        raise ConfigError(f"{source.config_file}: '{where}.manifest' must be a path to the manifest YAML")
    load_manifest(source, where)
    check_connector_options(source.config_file, where, options)
    for key in ("config", "config_from_env"):
        if INJECTED_KEY in (options.get(key) or {}):
            raise ConfigError(
                f"{source.config_file}: '{where}.{key}.{INJECTED_KEY}' is set by Refinery from 'manifest'; remove it"
            )
    version = options.get("cdk_version")
    if version is not None and not (isinstance(version, str) and re.fullmatch(r"\d+\.\d+\.\d+", version)):
        raise ConfigError(
            f"{source.config_file}: '{where}.cdk_version' is {version!r}: give an airbyte-cdk release as a quoted "
            f'string, e.g. "{CDK_VERSION}"'
        )
    if "full_refresh" in options and not isinstance(options["full_refresh"], bool):
        raise ConfigError(f"{source.config_file}: '{where}.full_refresh' must be true or false")


def build(source: SourceConfig, config: Config, say: Callable[[str], None] = print) -> DeclarativeSource:
    return DeclarativeSource(source, config.connectors_dir, say=say)


class DeclarativeSource(AirbyteConnectorSource):
    """A packaged-connector source whose connector is the CDK and whose definition is the manifest."""

    install_note = "airbyte-cdk took 35–55 s here"

    def __init__(self, source: SourceConfig, connectors_dir: Path, say: Callable[[str], None] = print) -> None:
        version = str(source.option("cdk_version", CDK_VERSION))
        super().__init__(source, connectors_dir, say=say, requirement=f"airbyte-cdk=={version}", executable=ENTRY_POINT)
        self._manifest: dict[str, Any] | None = None

    def manifest(self) -> dict[str, Any]:
        if self._manifest is None:
            self._manifest = load_manifest(self.source)
        return self._manifest

    def spec(self) -> dict[str, Any]:
        """The manifest's own spec (the entry point's `spec` command only describes the injection key)."""
        connection = (self.manifest().get("spec") or {}).get("connection_specification") or {}
        return {"connectionSpecification": connection}

    def connector_config(self) -> dict[str, Any]:
        return {**self.config(), INJECTED_KEY: self.manifest()}

    def planned_streams(self) -> list[StreamSpec]:
        """The streams named in `streams:` or in the manifest, without installing or running anything."""
        selected = self.source.option("streams")
        if not selected and not self.manifest().get("dynamic_streams"):
            selected = [s.get("name") for s in self.manifest().get("streams") or [] if isinstance(s, dict)]
        if selected and all(isinstance(name, str) and name for name in selected):
            return [StreamSpec(name=table_stream_name(name), role="records") for name in selected]
        return super().planned_streams()
