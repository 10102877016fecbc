"""Load and validate `refinery.yml`.

The file declares sources as a mapping `name → {kind, …options}`::

    sources:
      tickets:  {kind: files, path: seeds/sample/tickets/*.jsonl, primary_key: ticket_id, text_field: body}
      handbook: {kind: documents, path: seeds/sample/documents}
      shop:     {kind: airbyte, connector: airbyte-source-faker==7.2.1, config: {count: 200, seed: 42}}
      topics:   {kind: label_studio, path: seeds/sample/annotations/topics.json}

`REFINERY_CONFIG` points at another file; `REFINERY_HOME` at the folder that holds
`warehouse/` and `.dagster/` (default: the folder of the config file). Relative paths in
the file are relative to the file's folder, whose name is taken literally (a folder called
`o'neil [x]` is not a glob). Secrets are never written in the file: a source names the
environment variables that hold them (`config_from_env`).

Every problem raises `ConfigError` naming the file, the key and the fix.
"""

from __future__ import annotations

import difflib
import glob
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ingestion.protocol import NAME_PATTERN

DEFAULT_CONFIG_NAME = "refinery.yml"

# kind → (required option keys, optional option keys)
KIND_OPTIONS: dict[str, tuple[set[str], set[str]]] = {
    "files": (
        {"path"},
        {"primary_key", "text_field", "group_field", "cursor_field", "format", "stream"},
    ),
    "documents": ({"path"}, {"extensions", "group_field", "html_extractor"}),
    "airbyte": (
        {"connector"},
        {"config", "config_from_env", "streams", "executable", "full_refresh"},
    ),
    "label_studio": ({"path"}, {"text_field", "level", "order", "gold"}),
}
# Kinds that land annotations; they accept `level` (of measurement) and, for ordinal labels, `order`
# (dbt var label_sources; docs/labeling/imports.md).
ANNOTATION_KINDS = {"label_studio", "argilla", "annotations_csv"}
# Kinds whose rows name items by id and may say whose ids they are (`item_source`; dbt vars
# label_sources / prediction_sources; docs/labeling/imports.md).
ITEM_SOURCE_KINDS = {"annotations_csv", "predictions_csv"}
LEVELS = ("nominal", "ordinal", "interval", "ratio")
PATH_KINDS = {"files", "documents", "label_studio", "argilla", "annotations_csv", "predictions_csv"}
# Options every kind accepts. quality_drop_rules: which failed quality rules drop this source's
# documents (dbt var quality_drop_rules_by_source; default: dbt var quality_drop_rules).
COMMON_OPTIONS = {"quality_drop_rules"}
# The rules of dbt_project/models/intermediate/documents/int_documents_quality.sql and
# int_documents_repetition.sql (macro quality_rule_names; a unit test keeps the two equal).
QUALITY_RULES = (
    "gopher_word_count",
    "gopher_mean_word_length",
    "gopher_symbol_word_ratio",
    "gopher_bullet_lines",
    "gopher_ellipsis_lines",
    "gopher_alpha_words",
    "gopher_stop_words",
    "gopher_dup_lines",
    "gopher_dup_paragraphs",
    "gopher_dup_line_chars",
    "gopher_dup_paragraph_chars",
    "gopher_top_ngrams",
    "gopher_dup_ngrams",
    "c4_lorem_ipsum",
    "c4_curly_bracket",
    "c4_min_sentences",
    "fineweb_line_punctuation",
    "fineweb_dup_line_chars",
    "fineweb_short_lines",
    "fineweb_newline_ratio",
)
# Kinds whose module declares its own options: `KIND_OPTIONS` (kind → (required, optional)),
# `check_options(source, where)` raising ConfigError, and `build(source, config, say)`.
KIND_MODULES: dict[str, str] = {
    "postgres": "ingestion.sources.database",
    "mysql": "ingestion.sources.database",
    "sqlite": "ingestion.sources.database",
    "http": "ingestion.sources.http",
    "declarative": "ingestion.sources.declarative",
    "redis_stream": "ingestion.sources.streams",
    "nats_jetstream": "ingestion.sources.streams",
    "argilla": "ingestion.sources.argilla",
    "annotations_csv": "ingestion.sources.label_csv",
    "predictions_csv": "ingestion.sources.label_csv",
}
FILE_FORMATS = {"jsonl", "csv", "parquet"}


class ConfigError(ValueError):
    """A problem in refinery.yml; the message names the file, the key and the fix."""


def table_stream_name(stream: str) -> str:
    """A connector's stream name as it can appear in a table name (lowercase, [a-z0-9_])."""
    name = re.sub(r"[^a-z0-9_]+", "_", stream.lower())
    name = re.sub(r"_+", "_", name).strip("_")
    return name if name and name[0].isalpha() else f"s_{name}"


@dataclass(frozen=True)
class SourceConfig:
    """One entry of `sources:` in refinery.yml."""

    name: str
    kind: str
    options: dict[str, Any]
    config_file: Path

    def option(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)

    def resolve_path(self, value: str) -> Path:
        """Resolve a path option relative to the config file's folder."""
        path = Path(os.path.expandvars(os.path.expanduser(value)))
        return path if path.is_absolute() else (self.config_file.parent / path)

    def resolve_glob(self, value: str) -> str:
        """Resolve a path-or-glob option to a pattern for `glob.glob`.

        A relative pattern starts at the config file's folder, whose name is matched
        literally: `o'neil [x]/` holds no glob metacharacters, only the option's own do.
        """
        path = Path(os.path.expandvars(os.path.expanduser(value)))
        if path.is_absolute():
            return str(path)
        return os.path.join(glob.escape(str(self.config_file.parent)), str(path))


@dataclass(frozen=True)
class Config:
    """The whole validated refinery.yml plus the folders Refinery works in."""

    path: Path
    home: Path
    sources: dict[str, SourceConfig] = field(default_factory=dict)

    @property
    def warehouse_dir(self) -> Path:
        return self.home / "warehouse"

    @property
    def database_path(self) -> Path:
        return self.warehouse_dir / "refinery.duckdb"

    @property
    def dagster_home(self) -> Path:
        return self.home / ".dagster"

    @property
    def connectors_dir(self) -> Path:
        return self.home / "connectors"


def config_path_from_env(cwd: Path | None = None) -> Path:
    """The config file: `REFINERY_CONFIG`, else `refinery.yml` in the working directory."""
    env = os.environ.get("REFINERY_CONFIG")
    if env:
        return Path(env).expanduser().resolve()
    return ((cwd or Path.cwd()) / DEFAULT_CONFIG_NAME).resolve()


def home_from_env(config_path: Path) -> Path:
    """The folder holding warehouse/ and .dagster/: `REFINERY_HOME`, else the config's folder."""
    env = os.environ.get("REFINERY_HOME")
    return Path(env).expanduser().resolve() if env else config_path.parent


def load_config(path: Path | str | None = None, home: Path | str | None = None) -> Config:
    """Read and validate refinery.yml.

    Args:
        path: the config file; default `REFINERY_CONFIG` or ./refinery.yml.
        home: the folder for warehouse/ and .dagster/; default `REFINERY_HOME` or the config's folder.

    Raises:
        ConfigError: the file is missing or invalid; the message says where and how to fix it.
    """
    config_path = Path(path).resolve() if path else config_path_from_env()
    if not config_path.is_file():
        raise ConfigError(
            f"{config_path}: config file not found. Create it (see README 'Configuration') "
            "or point REFINERY_CONFIG at an existing file."
        )
    try:
        raw = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{config_path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{config_path}: expected a mapping with a 'sources:' key at the top level")
    _reject_unknown(config_path, "", raw, {"sources"})
    sources_raw = raw.get("sources")
    if not isinstance(sources_raw, dict) or not sources_raw:
        raise ConfigError(f"{config_path}: key 'sources' must be a non-empty mapping of name → {{kind: …}}")
    sources = {name: _validate_source(config_path, name, spec) for name, spec in sources_raw.items()}
    _check_item_sources(config_path, sources)
    resolved_home = Path(home).resolve() if home else home_from_env(config_path)
    return Config(path=config_path, home=resolved_home, sources=sources)


def _reject_unknown(config_path: Path, where: str, mapping: dict, allowed: set[str]) -> None:
    for key in mapping:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(sorted(allowed))}"
            raise ConfigError(f"{config_path}: unknown key '{where}{key}': {hint}")


def _validate_source(config_path: Path, name: Any, spec: Any) -> SourceConfig:
    where = f"sources.{name}"
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or "__" in name:
        raise ConfigError(
            f"{config_path}: source name '{name}' is not allowed: use lowercase letters, digits and "
            "single underscores, starting with a letter (it becomes part of table names)"
        )
    if not isinstance(spec, dict):
        raise ConfigError(f"{config_path}: '{where}' must be a mapping like {{kind: files, path: …}}")
    kind = spec.get("kind")
    kinds = sorted(set(KIND_OPTIONS) | set(KIND_MODULES))
    if kind not in kinds:
        close = difflib.get_close_matches(str(kind), kinds, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise ConfigError(f"{config_path}: '{where}.kind' is {kind!r}: {hint}supported kinds are {', '.join(kinds)}")
    module = kind_module(kind)
    required, optional = (module.KIND_OPTIONS if module else KIND_OPTIONS)[kind]
    options = {k: v for k, v in spec.items() if k != "kind"}
    _reject_unknown(config_path, f"{where}.", options, required | optional | COMMON_OPTIONS)
    for key in sorted(required):
        if options.get(key) in (None, ""):
            raise ConfigError(f"{config_path}: '{where}.{key}' is required for kind '{kind}'")
    source = SourceConfig(name=name, kind=kind, options=options, config_file=config_path)
    if kind in PATH_KINDS:
        _check_path(config_path, where, source)
    if kind == "files":
        _check_files(config_path, where, options)
    if kind == "documents":
        _check_documents(config_path, where, options)
    if kind == "airbyte":
        check_connector_options(config_path, where, options)
    if module is not None:
        module.check_options(source, where)
    if "quality_drop_rules" in options:
        _check_quality_rules(config_path, where, options["quality_drop_rules"])
    if kind in ANNOTATION_KINDS:
        _check_level(config_path, where, options)
    if "gold" in options and not isinstance(options["gold"], bool):
        raise ConfigError(
            f"{config_path}: '{where}.gold' is {options['gold']!r}: it is true (every annotation of this source "
            "is gold, e.g. an adjudicated export; docs/labeling/adjudication.md) or false"
        )
    for key in ("primary_key", "text_field", "group_field", "cursor_field"):
        if key in options and not isinstance(options[key], str):
            raise ConfigError(f"{config_path}: '{where}.{key}' must be a single field name (a string)")
    return source


def _check_item_sources(config_path: Path, sources: dict[str, SourceConfig]) -> None:
    """`item_source` names another configured source (whose item ids the rows use)."""
    for name, source in sources.items():
        item_source = source.options.get("item_source")
        if source.kind not in ITEM_SOURCE_KINDS or item_source is None:
            continue
        if item_source not in sources:
            close = difflib.get_close_matches(str(item_source), sorted(sources), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise ConfigError(
                f"{config_path}: 'sources.{name}.item_source' is {item_source!r}, which is not a source in this "
                f"file: {hint}name the source whose item ids the rows use ({', '.join(sorted(sources))})"
            )


def _check_quality_rules(config_path: Path, where: str, rules: Any) -> None:
    if not isinstance(rules, list) or not all(isinstance(rule, str) for rule in rules):
        raise ConfigError(
            f"{config_path}: '{where}.quality_drop_rules' must be a list of rule names, e.g. "
            "[c4_lorem_ipsum, gopher_dup_lines] ([] = no quality rule drops this source's documents)"
        )
    for rule in rules:
        if rule not in QUALITY_RULES:
            close = difflib.get_close_matches(rule, QUALITY_RULES, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise ConfigError(
                f"{config_path}: '{where}.quality_drop_rules' names {rule!r}: {hint}"
                f"the rules are {', '.join(QUALITY_RULES)} (docs/cleaning/README.md)"
            )


def _check_level(config_path: Path, where: str, options: dict) -> None:
    level = options.get("level", "nominal")
    if level not in LEVELS:
        close = difflib.get_close_matches(str(level), LEVELS, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise ConfigError(f"{config_path}: '{where}.level' is {level!r}: {hint}it is one of {', '.join(LEVELS)}")
    order = options.get("order")
    if level == "ordinal":
        if not isinstance(order, list) or len(order) < 2 or not all(isinstance(v, (str, int, float)) for v in order):
            raise ConfigError(
                f"{config_path}: '{where}.level' is ordinal, so '{where}.order' must list the label values "
                "from lowest to highest, e.g. order: [low, mid, high]"
            )
        if len({str(v) for v in order}) != len(order):
            raise ConfigError(f"{config_path}: '{where}.order' lists a value twice: {order}")
    elif order is not None:
        raise ConfigError(f"{config_path}: '{where}.order' applies only to level: ordinal (this source is {level})")


def kind_module(kind: str) -> Any:
    """The module implementing a kind listed in KIND_MODULES, or None for the built-in kinds."""
    if kind not in KIND_MODULES:
        return None
    import importlib

    return importlib.import_module(KIND_MODULES[kind])


def _check_path(config_path: Path, where: str, source: SourceConfig) -> None:
    value = source.options["path"]
    if not isinstance(value, str):
        raise ConfigError(
            f"{config_path}: '{where}.path' is {value!r}: give one path or glob as a string, e.g. data/*.jsonl"
        )
    resolved = source.resolve_path(value)
    if source.kind == "documents":
        if not resolved.is_dir():
            raise ConfigError(
                f"{config_path}: '{where}.path' = {value!r} is not a folder "
                f"(resolved to {resolved}); point it at a folder of .pdf/.docx/.html/.md/.txt files"
            )
        return
    if not glob.glob(source.resolve_glob(value), recursive=True):
        raise ConfigError(
            f"{config_path}: '{where}.path' = {value!r} matches no file "
            f"(resolved to {resolved}); fix the path or glob (relative paths start at the config's folder)"
        )


def _check_documents(config_path: Path, where: str, options: dict) -> None:
    if options.get("html_extractor", "basic") not in ("basic", "trafilatura"):
        raise ConfigError(
            f"{config_path}: '{where}.html_extractor' is {options['html_extractor']!r}: use basic (the default, "
            "the standard-library stripper) or trafilatura (for scraped web pages)"
        )
    extensions = options.get("extensions")
    if extensions is None:
        return
    if (
        not isinstance(extensions, list)
        or not extensions
        or not all(isinstance(e, str) and len(e) > 1 and e.startswith(".") for e in extensions)
    ):
        raise ConfigError(
            f"{config_path}: '{where}.extensions' is {extensions!r}: give a list of file extensions "
            "with their leading dot, e.g. [.md, .html]"
        )


def _check_files(config_path: Path, where: str, options: dict) -> None:
    if options.get("format") not in (None, *FILE_FORMATS):
        raise ConfigError(
            f"{config_path}: '{where}.format' is {options['format']!r}: use one of "
            f"{', '.join(sorted(FILE_FORMATS))}, or leave it out to infer it from the file extension"
        )
    stream = options.get("stream")
    if stream is not None and (not isinstance(stream, str) or not NAME_PATTERN.match(stream) or "__" in stream):
        raise ConfigError(
            f"{config_path}: '{where}.stream' is {stream!r}: use lowercase letters, digits and single "
            "underscores, starting with a letter (it becomes part of the table name), e.g. records"
        )


def check_connector_options(config_path: Path, where: str, options: dict) -> None:
    """`config`, `config_from_env` and `streams` of a connector kind (airbyte, declarative)."""
    if "config" in options and not isinstance(options["config"], dict):
        raise ConfigError(f"{config_path}: '{where}.config' must be a mapping of connector settings")
    env_map = options.get("config_from_env", {})
    if not isinstance(env_map, dict) or not all(isinstance(v, str) for v in env_map.values()):
        raise ConfigError(
            f"{config_path}: '{where}.config_from_env' must map connector setting → environment "
            "variable name, e.g. {api_key: SHOP_API_KEY}"
        )
    overlap = set(env_map) & set(options.get("config", {}))
    if overlap:
        raise ConfigError(
            f"{config_path}: '{where}' sets {sorted(overlap)} both in 'config' and 'config_from_env'; "
            "keep secrets only in config_from_env"
        )
    streams = options.get("streams")
    if streams is None:
        return
    if not isinstance(streams, list) or not all(isinstance(s, str) and s.strip() for s in streams):
        raise ConfigError(
            f"{config_path}: '{where}.streams' is {streams!r}: give a list of the connector's stream names, "
            "e.g. [users, purchases]"
        )
    repeated = sorted({s for s in streams if streams.count(s) > 1})
    if repeated:
        raise ConfigError(f"{config_path}: '{where}.streams' lists {repeated} more than once; list each stream once")
    tables: dict[str, str] = {}
    for stream in streams:
        table = table_stream_name(stream)
        first = tables.setdefault(table, stream)
        if first != stream:
            raise ConfigError(
                f"{config_path}: '{where}.streams' has {first!r} and {stream!r}, which would land in the same "
                f"table stream '{table}'; keep one here and read the other through a second source entry"
            )


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced by `***` (longest first, so `user:pass` goes before `user`)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def resolve_env_config(source: SourceConfig) -> tuple[dict[str, Any], list[str]]:
    """The connector config with secrets filled in from the environment.

    Returns:
        The merged config and the list of secret values (for redaction in logs and errors).

    Raises:
        ConfigError: a named environment variable is not set.
    """
    merged = dict(source.option("config", {}) or {})
    secrets: list[str] = []
    for key, env_name in (source.option("config_from_env", {}) or {}).items():
        value = os.environ.get(env_name)
        if value is None:
            raise ConfigError(
                f"{source.config_file}: 'sources.{source.name}.config_from_env.{key}' names "
                f"environment variable {env_name}, which is not set; export it before running"
            )
        merged[key] = value
        if value:
            secrets.append(value)
    return merged, secrets
