"""`kind: airbyte` — a packaged Airbyte connector from PyPI, run as a subprocess.

Configuration (refinery.yml)::

    shop:
      kind: airbyte
      connector: airbyte-source-faker==7.2.1   # a pip requirement
      config: {count: 200, seed: 42}           # the connector's settings (no secrets here)
      config_from_env: {api_key: SHOP_API_KEY} # optional: settings read from environment variables
      streams: [products, users, purchases]    # optional: default every discovered stream
      executable: source-faker                 # optional: default the package name minus "airbyte-"
      full_refresh: false                      # optional: force full refresh (overwrite) for every stream

On first use the package is installed into its own virtual environment under
`$REFINERY_HOME/connectors/` (connector pins clash with ours, as in Airbyte itself), then
driven through the Airbyte CLI protocol: `spec` (the config is validated against it),
`check`, `discover` (the catalog is cached for the Dagster asset graph) and
`read --config --catalog --state` with the state saved at the last checkpoint. Streams are
read incrementally where the connector supports it, else as full refresh (overwrite).
Secrets are passed in a private temporary file and redacted from every log and error; a
setting the spec marks `airbyte_secret` that is written under `config:` is a ConfigError.
`streams:` uses the connector's names (`Users`, `My Sheet`); each lands as its table stream
name (`users`, `my_sheet`), and two streams that map to the same table are a ConfigError.
"""

from __future__ import annotations

import collections
import fcntl
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ingestion.protocol import Log, Message, Other, Quarantined, Record, SourceFailed, StreamSpec, Trace, parse_line
from ingestion.sources import SavedState
from refinery.config import ConfigError, SourceConfig, redact, resolve_env_config, table_stream_name

INSTALLED_MARKER = ".refinery-installed"


def package_name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0]


def secret_keys(spec: dict[str, Any]) -> set[str]:
    """The top-level settings a connector's spec marks `airbyte_secret: true`."""
    properties = (spec.get("connectionSpecification") or {}).get("properties") or {}
    return {key for key, prop in properties.items() if isinstance(prop, dict) and prop.get("airbyte_secret") is True}


class AirbyteConnectorSource:
    install_note = "source-faker took 31–39 s here"

    def __init__(
        self,
        source: SourceConfig,
        connectors_dir: Path,
        say: Callable[[str], None] = print,
        requirement: str | None = None,
        executable: str | None = None,
    ) -> None:
        """`requirement` and `executable` default to the `connector` and `executable` options (kind: declarative
        passes the CDK and its `source-declarative-manifest` entry point)."""
        self.source = source
        self.say = say
        self.requirement = requirement or str(source.option("connector"))
        self.package = package_name(self.requirement)
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.requirement)
        self.connectors_dir = Path(os.environ.get("REFINERY_CONNECTORS_DIR", connectors_dir))
        self.venv = self.connectors_dir / slug
        default_exe = self.package.removeprefix("airbyte-")
        self.executable = self.venv / "bin" / (executable or str(source.option("executable", default_exe)))
        self.catalog_cache = self.connectors_dir / "catalogs" / f"{source.name}.json"
        self._config: dict[str, Any] | None = None
        self._secrets: list[str] = []
        self._catalog: dict[str, Any] | None = None

    # -- installation ------------------------------------------------------------------------
    def ensure_installed(self) -> None:
        """Create the connector's venv and pip-install it, once."""
        marker = self.venv / INSTALLED_MARKER
        if marker.exists() and marker.read_text() == self.requirement and self.executable.exists():
            return
        self.venv.parent.mkdir(parents=True, exist_ok=True)
        # one installer per venv: a second process (a sensor run, `refinery ui`, a parallel test) waits
        with open(self.venv.parent / f".{self.venv.name}.install.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if marker.exists() and marker.read_text() == self.requirement and self.executable.exists():
                return
            self._install(marker)

    def _install(self, marker: Path) -> None:
        self.say(f"installing {self.requirement} into {self.venv} (first use; {self.install_note})")
        steps = [
            [sys.executable, "-m", "venv", "--clear", str(self.venv)],
            [
                str(self.venv / "bin" / "pip"),
                "install",
                "--quiet",
                "--disable-pip-version-check",
                self.requirement,
            ],
        ]
        for command in steps:
            result = subprocess.run(command, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise SourceFailed(
                    f"source '{self.source.name}': installing {self.requirement} failed "
                    f"({' '.join(command[:3])} …): {result.stderr.strip()[-800:]}"
                )
        if not self.executable.exists():
            raise SourceFailed(
                f"source '{self.source.name}': {self.requirement} installed no executable named "
                f"{self.executable.name}; set 'executable' in refinery.yml to its console script"
            )
        marker.write_text(self.requirement)

    # -- protocol commands -----------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        if self._config is None:
            self._config, self._secrets = resolve_env_config(self.source)
        return self._config

    def connector_config(self) -> dict[str, Any]:
        """What the connector's `--config` file holds (kind: declarative adds the manifest)."""
        return self.config()

    def redact(self, text: str) -> str:
        self.config()
        return redact(text, self._secrets)

    def spec(self) -> dict[str, Any]:
        for message in self._run(["spec"]):
            if isinstance(message, Other) and message.message_type == "SPEC":
                return message.payload
        raise SourceFailed(f"source '{self.source.name}': the connector printed no SPEC message")

    def validate_config(self) -> None:
        """Check the config against the connector's spec; errors name the key.

        A setting the spec marks `airbyte_secret` must come from `config_from_env`, never
        from `config:` (which is in the file, and not redacted). That is checked first, so
        a schema error can never echo a secret written in the file.
        """
        import jsonschema

        spec = self.spec()
        in_file = sorted(secret_keys(spec) & set(self.source.option("config") or {}))
        if in_file:
            key = in_file[0]
            raise ConfigError(
                f"{self.source.config_file}: 'sources.{self.source.name}.config.{key}' is a secret "
                f"(airbyte_secret in the connector's spec): move it to config_from_env: {{{key}: SOME_ENV_VAR}}"
            )
        schema = spec.get("connectionSpecification") or {}
        validator = jsonschema.Draft7Validator(schema)
        problems = sorted(validator.iter_errors(self.config()), key=lambda e: list(e.path))
        if problems:
            first = problems[0]
            key = ".".join(str(p) for p in first.path) or "(config)"
            raise ConfigError(
                f"{self.source.config_file}: 'sources.{self.source.name}.config.{key}': "
                f"{self.redact(first.message)} (the connector's spec: `{self.executable.name} spec`)"
            )

    def check(self) -> None:
        for message in self._run(["check", "--config", "{config}"]):
            if isinstance(message, Other) and message.message_type == "CONNECTION_STATUS":
                if message.payload.get("status") != "SUCCEEDED":
                    raise SourceFailed(
                        f"source '{self.source.name}': connection check failed: "
                        f"{self.redact(str(message.payload.get('message', 'no message')))}"
                    )
                return
        raise SourceFailed(f"source '{self.source.name}': the connector printed no CONNECTION_STATUS")

    def discover(self) -> dict[str, Any]:
        """The connector's catalog (cached under connectors/catalogs/ for the asset graph)."""
        if self._catalog is not None:
            return self._catalog
        for message in self._run(["discover", "--config", "{config}"]):
            if isinstance(message, Other) and message.message_type == "CATALOG":
                self._catalog = message.payload
                self.catalog_cache.parent.mkdir(parents=True, exist_ok=True)
                self.catalog_cache.write_text(json.dumps(self._catalog, indent=1))
                return self._catalog
        raise SourceFailed(f"source '{self.source.name}': the connector printed no CATALOG message")

    # -- Source protocol -------------------------------------------------------------------------
    def planned_streams(self) -> list[StreamSpec]:
        """The streams from `streams:` or the cached catalog, without running the connector when possible."""
        selected = self.source.option("streams")
        if not selected and self.catalog_cache.exists():
            selected = [s["name"] for s in json.loads(self.catalog_cache.read_text()).get("streams", [])]
        if not selected:
            return self.streams()
        return [StreamSpec(name=table_stream_name(name), role="records") for name in selected]

    def streams(self) -> list[StreamSpec]:
        """Before a sync: install on first use, validate the config against the spec, check, discover."""
        self.ensure_installed()
        self.validate_config()
        self.check()
        return [spec for _, spec in self._configured()]

    def _configured(self) -> list[tuple[dict[str, Any], StreamSpec]]:
        catalog = self.discover()
        available = {stream["name"]: stream for stream in catalog.get("streams", [])}
        selected = self.source.option("streams") or list(available)
        missing = [name for name in selected if name not in available]
        if missing:
            raise ConfigError(
                f"{self.source.config_file}: 'sources.{self.source.name}.streams' names {missing}, which the "
                f"connector does not offer; available: {sorted(available)} (names are case-sensitive)"
            )
        tables: dict[str, str] = {}
        for name in selected:
            first = tables.setdefault(table_stream_name(name), name)
            if first != name:
                raise ConfigError(
                    f"{self.source.config_file}: the connector's streams {first!r} and {name!r} would land in the "
                    f"same table stream '{table_stream_name(name)}'; list the ones to read in "
                    f"'sources.{self.source.name}.streams' and read the other through a second source entry"
                )
        configured = []
        for name in selected:
            stream = available[name]
            cursor = stream.get("default_cursor_field") or []
            incremental = (
                "incremental" in (stream.get("supported_sync_modes") or [])
                and (stream.get("source_defined_cursor") or cursor)
                and not self.source.option("full_refresh", False)
            )
            key_paths = stream.get("source_defined_primary_key") or []
            primary_key = key_paths[0][0] if len(key_paths) == 1 and len(key_paths[0]) == 1 else None
            entry = {
                "stream": stream,
                "sync_mode": "incremental" if incremental else "full_refresh",
                "destination_sync_mode": "append" if incremental else "overwrite",
                "cursor_field": cursor if incremental else [],
                "primary_key": key_paths,
            }
            spec = StreamSpec(
                name=table_stream_name(name),
                role="records",
                primary_key=primary_key,
                cursor_field=cursor[0] if len(cursor) == 1 else None,
                full_refresh=not incremental,
                json_schema=stream.get("json_schema"),
            )
            configured.append((entry, spec))
        return configured

    def read(self, saved: SavedState) -> Iterator[Message]:
        configured = self._configured()
        renames = {entry["stream"]["name"]: spec.name for entry, spec in configured}
        catalog = {"streams": [entry for entry, _ in configured]}
        for message in self._run(
            ["read", "--config", "{config}", "--catalog", "{catalog}"]
            + (["--state", "{state}"] if saved.messages else []),
            catalog=catalog,
            state=saved.messages,
        ):
            if isinstance(message, Record):
                message.stream = renames.get(message.stream, table_stream_name(message.stream))
            elif isinstance(message, Quarantined) and message.stream in renames:
                message.stream = renames[message.stream]  # counted on its stream, not on _unknown
            elif isinstance(message, Log):
                message.message = self.redact(message.message)
            elif isinstance(message, Trace) and message.trace_type == "ERROR":
                # error_message falls back to internal_message when message is empty; stack_trace may be logged.
                error = message.payload.get("error") or {}
                for key in ("message", "internal_message", "stack_trace"):
                    if key in error or key == "message":
                        error[key] = self.redact(str(error.get(key) or ""))
            yield message

    # -- subprocess ------------------------------------------------------------------------------
    def _run(
        self,
        args: list[str],
        catalog: dict[str, Any] | None = None,
        state: list[dict[str, Any]] | None = None,
    ) -> Iterator[Message]:
        self.ensure_installed()
        with tempfile.TemporaryDirectory(prefix="refinery-connector-") as tmp:
            files = {"config": self.connector_config(), "catalog": catalog, "state": state}
            paths = {}
            for name, content in files.items():
                if content is None:
                    continue
                path = Path(tmp) / f"{name}.json"
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "w") as handle:
                    json.dump(content, handle)
                paths[name] = str(path)
            command = [str(self.executable)] + [a.format(**paths) if a.startswith("{") else a for a in args]
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp)
            stderr_tail: collections.deque[str] = collections.deque(maxlen=40)
            drain = threading.Thread(target=_drain, args=(process.stderr, stderr_tail), daemon=True)
            drain.start()
            completed = False
            try:
                assert process.stdout is not None
                for line in process.stdout:
                    if line.strip():
                        yield parse_line(line)
                completed = True
            finally:
                if not completed and process.poll() is None:
                    process.kill()
                process.wait()
                drain.join(timeout=5)
            if process.returncode != 0:
                tail = self.redact("".join(stderr_tail).strip()[-1500:])
                raise SourceFailed(
                    f"source '{self.source.name}': `{self.executable.name} {args[0]}` exited with code "
                    f"{process.returncode}: {tail or 'no error output'}"
                )


def _drain(stream: Any, tail: collections.deque[str]) -> None:
    for raw in stream:
        tail.append(raw.decode("utf-8", errors="replace"))
