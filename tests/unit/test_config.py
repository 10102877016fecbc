"""refinery.yml errors name the file, the key and the fix."""

import re
from pathlib import Path

import pytest

from refinery.config import ConfigError, load_config, resolve_env_config

pytestmark = pytest.mark.unit


@pytest.fixture
def data(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.jsonl").write_text('{"id": 1}\n')
    (tmp_path / "docs").mkdir()
    return tmp_path


def test_valid_config_resolves_paths_and_home(data, write_config, monkeypatch):
    monkeypatch.delenv("REFINERY_HOME", raising=False)
    path = write_config("""
        sources:
          t: {kind: files, path: data/*.jsonl, primary_key: id, text_field: body}
          d: {kind: documents, path: docs}
          s: {kind: airbyte, connector: airbyte-source-faker==7.2.1, config: {count: 1}}
    """)
    config = load_config(path)
    assert list(config.sources) == ["t", "d", "s"]
    assert config.home == data
    assert config.database_path == data / "warehouse" / "refinery.duckdb"
    assert config.sources["t"].resolve_path("data/*.jsonl") == data / "data" / "*.jsonl"


def test_refinery_home_moves_warehouse_and_dagster_home(data, write_config, monkeypatch, tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("REFINERY_HOME", str(home))
    config = load_config(write_config("sources: {d: {kind: documents, path: docs}}"))
    assert (config.warehouse_dir, config.dagster_home) == (home / "warehouse", home / ".dagster")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "sources: {t: {kind: filez, path: data/a.jsonl}}",
            "'sources.t.kind' is 'filez': did you mean 'files'?",
        ),
        (
            "sources: {t: {kind: files, path: data/a.jsonl, primary_kye: id}}",
            "unknown key 'sources.t.primary_kye': did you mean 'primary_key'?",
        ),
        (
            "sources: {t: {kind: files, path: nowhere/*.jsonl}}",
            "'sources.t.path' = 'nowhere/*.jsonl' matches no file",
        ),
        ("sources: {t: {kind: documents, path: data/a.jsonl}}", "is not a folder"),
        ("sources: {t: {kind: files}}", "'sources.t.path' is required for kind 'files'"),
        ("sourcez: {}", "unknown key 'sourcez': did you mean 'sources'?"),
        ("sources: {Bad-Name: {kind: documents, path: docs}}", "source name 'Bad-Name' is not allowed"),
        ("sources: {a__b: {kind: documents, path: docs}}", "source name 'a__b' is not allowed"),
        ("sources: {t: {kind: files, path: data/a.jsonl, format: xml}}", "'sources.t.format' is 'xml'"),
        (
            "sources: {s: {kind: airbyte, connector: x, config: {k: 1}, config_from_env: {k: K}}}",
            "keep secrets only in config_from_env",
        ),
        ("sources: [1, 2]", "'sources' must be a non-empty mapping"),
        (
            "sources: {t: {kind: files, path: data/a.jsonl, text_field: [a, b]}}",
            "must be a single field name",
        ),
        ("sources: {t: {kind: files\n", "not valid YAML"),
        (
            "sources: {d: {kind: documents, path: docs, extensions: .md}}",
            "'sources.d.extensions' is '.md': give a list of file extensions with their leading dot",
        ),
        (
            "sources: {d: {kind: documents, path: docs, extensions: [md]}}",
            "'sources.d.extensions' is ['md']: give a list of file extensions with their leading dot",
        ),
        (
            "sources: {d: {kind: documents, path: docs, extensions: [.md, 3]}}",
            "'sources.d.extensions' is ['.md', 3]",
        ),
        (
            "sources: {t: {kind: files, path: data/a.jsonl, stream: Tickets}}",
            "'sources.t.stream' is 'Tickets': use lowercase letters, digits and single underscores",
        ),
        (
            "sources: {t: {kind: files, path: data/a.jsonl, stream: a__b}}",
            "'sources.t.stream' is 'a__b': use lowercase letters",
        ),
        (
            "sources: {t: {kind: files, path: data/a.jsonl, stream: 7days}}",
            "'sources.t.stream' is '7days'",
        ),
        (
            "sources: {s: {kind: airbyte, connector: x, streams: users}}",
            "'sources.s.streams' is 'users': give a list of the connector's stream names",
        ),
        (
            "sources: {s: {kind: airbyte, connector: x, streams: [users, '']}}",
            "'sources.s.streams' is ['users', '']",
        ),
        (
            "sources: {s: {kind: airbyte, connector: x, streams: [My Sheet, my_sheet]}}",
            "'sources.s.streams' has 'My Sheet' and 'my_sheet', which would land in the same table stream 'my_sheet'",
        ),
        (
            "sources: {s: {kind: airbyte, connector: x, streams: [users, users]}}",
            "'sources.s.streams' lists ['users'] more than once",
        ),
    ],
)
def test_bad_config_fails_fast_naming_file_key_and_fix(data, write_config, text, expected):
    path = write_config(text)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(path) in str(error.value)
    assert expected in str(error.value)


def test_missing_config_file_says_how_to_fix(tmp_path):
    with pytest.raises(ConfigError, match=r"config file not found.*REFINERY_CONFIG"):
        load_config(tmp_path / "nope.yml")


def test_secrets_come_only_from_named_environment_variables(data, write_config, monkeypatch):
    config = load_config(
        write_config(
            "sources: {s: {kind: airbyte, connector: x, config: {count: 1}, config_from_env: {api_key: SHOP_KEY}}}"
        )
    )
    source = config.sources["s"]
    monkeypatch.delenv("SHOP_KEY", raising=False)
    with pytest.raises(ConfigError, match="environment variable SHOP_KEY, which is not set"):
        resolve_env_config(source)
    monkeypatch.setenv("SHOP_KEY", "s3cret")
    merged, secrets = resolve_env_config(source)
    assert merged == {"count": 1, "api_key": "s3cret"}
    assert secrets == ["s3cret"]
    assert "s3cret" not in config.path.read_text()


def test_airbyte_streams_keep_the_connectors_spelling(data, write_config):
    config = load_config(
        write_config("sources: {s: {kind: airbyte, connector: x, streams: [Users, My Sheet, purchases]}}")
    )
    assert config.sources["s"].option("streams") == ["Users", "My Sheet", "purchases"]


def test_documents_extensions_with_dots_are_accepted(data, write_config):
    config = load_config(write_config("sources: {d: {kind: documents, path: docs, extensions: [.md, .HTML]}}"))
    assert config.sources["d"].option("extensions") == [".md", ".HTML"]


def test_glob_metacharacters_in_the_config_folder_are_literal(tmp_path, write_config):
    folder = tmp_path / "o'neil [x]"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "a.jsonl").write_text('{"id": 1}\n')
    path = folder / "refinery.yml"
    path.write_text("sources: {t: {kind: files, path: data/*.jsonl}, a: {kind: label_studio, path: data/a.jsonl}}")
    config = load_config(path)
    source = config.sources["t"]
    assert source.resolve_glob("data/*.jsonl") == f"{tmp_path}/o'neil [[]x]/data/*.jsonl"
    assert source.resolve_glob("/abs/*.jsonl") == "/abs/*.jsonl"
    assert source.resolve_path("data/*.jsonl") == folder / "data" / "*.jsonl"


def test_redact_replaces_every_secret_longest_first():
    from refinery.config import redact

    assert redact("user:pass@host user pass", ["user", "user:pass", ""]) == "***@host *** pass"


def test_quality_rules_match_the_dbt_macro() -> None:
    from refinery.config import QUALITY_RULES

    macro = (Path(__file__).resolve().parents[2] / "dbt_project" / "macros" / "sql_helpers.sql").read_text()
    body = macro[macro.index("macro quality_rule_names") :]
    body = body[: body.index("endmacro")]
    assert tuple(re.findall(r"'([a-z0-9_]+)'", body)) == QUALITY_RULES


def test_quality_drop_rules_option_is_checked(tmp_path: Path) -> None:
    from refinery.config import ConfigError, load_config

    (tmp_path / "a.jsonl").write_text("{}\n")
    config = tmp_path / "refinery.yml"
    config.write_text("sources:\n  a:\n    kind: files\n    path: a.jsonl\n    quality_drop_rules: [c4_lorem_ipsum]\n")
    assert load_config(config).sources["a"].options["quality_drop_rules"] == ["c4_lorem_ipsum"]
    config.write_text("sources:\n  a:\n    kind: files\n    path: a.jsonl\n    quality_drop_rules: [c4_lorem]\n")
    with pytest.raises(ConfigError, match="did you mean 'c4_lorem_ipsum'"):
        load_config(config)
    config.write_text("sources:\n  a:\n    kind: files\n    path: a.jsonl\n    quality_drop_rules: c4_lorem_ipsum\n")
    with pytest.raises(ConfigError, match="must be a list of rule names"):
        load_config(config)


def test_annotation_level_and_order_are_checked_and_passed_to_dbt(tmp_path: Path) -> None:
    from refinery.config import ConfigError, load_config
    from refinery.dbt import dbt_vars

    (tmp_path / "a.json").write_text("[]")
    config = tmp_path / "refinery.yml"
    base = "sources:\n  a:\n    kind: label_studio\n    path: a.json\n"
    config.write_text(base + "    level: ordinal\n    order: [low, mid, high]\n")
    assert dbt_vars(load_config(config))["label_sources"] == {
        "a": {"level": "ordinal", "order": ["low", "mid", "high"]}
    }
    config.write_text(base)
    assert dbt_vars(load_config(config))["label_sources"] == {"a": {"level": "nominal", "order": []}}
    # An adjudication export: every annotation is gold (docs/labeling/adjudication.md).
    config.write_text(base + "    gold: true\n")
    assert dbt_vars(load_config(config))["label_sources"] == {"a": {"level": "nominal", "order": [], "gold": True}}
    config.write_text(base + "    gold: false\n")
    assert dbt_vars(load_config(config))["label_sources"] == {"a": {"level": "nominal", "order": []}}
    for extra, message in [
        ("    gold: yes please\n", "'sources.a.gold' is 'yes please': it is true"),
        ("    level: ordnal\n", "did you mean 'ordinal'"),
        ("    level: ordinal\n", "must list the label values from lowest to highest"),
        ("    level: ordinal\n    order: [low, low]\n", "lists a value twice"),
        ("    level: interval\n    order: [1, 2]\n", "applies only to level: ordinal"),
    ]:
        config.write_text(base + extra)
        with pytest.raises(ConfigError, match=message):
            load_config(config)
