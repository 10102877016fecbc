"""`kind: postgres | mysql | sqlite` without a server: configuration checks, SQL building, JSON values."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

import pytest

from ingestion.sources import build_source
from ingestion.sources.database import Table, _json_value, _quote_postgres, _resume_point, select_sql
from refinery.config import ConfigError, load_config

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{kind: postgres, database: db, reader: fast}", r"'sources.src.reader' is 'fast': use one of auto, driver"),
        ("{kind: postgres, database: db, port: '5432'}", r"'sources.src.port' is '5432': give a TCP port number"),
        (
            "{kind: mysql, database: db, password_from_env: 'hunter 2!'}",
            r"'sources.src.password_from_env' is 'hunter 2!': give the NAME of an environment variable",
        ),
        ("{kind: mysql, database: db, schema: x}", r"unknown key 'sources.src.schema'"),
        ("{kind: postgres}", r"'sources.src.database' is required for kind 'postgres'"),
        ("{kind: sqlite, path: nowhere.db}", r"'sources.src.path' = 'nowhere.db' is not a file \(resolved to "),
        (
            "{kind: postgres, database: db, tables: [{name: a, cursor: x}]}",
            r"'sources.src.tables\[0\]' has unknown keys \['cursor'\]; allowed: cursor_field, full_refresh",
        ),
        (
            "{kind: postgres, database: db, tables: [{name: a, primary_key: [1]}]}",
            r"'sources.src.tables\[0\].primary_key' must be a column name or a list",
        ),
        (
            "{kind: postgres, database: db, tables: ['Order Items', order_items]}",
            r"tables 'Order Items' and 'order_items' would both land as stream 'order_items'; list only one",
        ),
        ("{kind: postgres, database: db, tables: [a, a]}", r"lists table 'a' more than once"),
        (
            "{kind: postgres, database: db, tables: [{name: a, text_field: body}, b]}",
            r"mixes tables with a text_field \(\['a'\]\) and tables without; give the document tables a source",
        ),
        ("{kind: postgres, database: db, tables: []}", r"'sources.src.tables' must be a non-empty list"),
        (
            "{kind: postgres, database: db, checkpoint_every: 0}",
            r"'sources.src.checkpoint_every' is 0: give a positive",
        ),
    ],
)
def test_configuration_errors_name_the_key_and_the_fix(write_config, entry: str, message: str) -> None:
    path = write_config(f"sources:\n  src: {entry}\n")
    with pytest.raises(ConfigError, match=message) as failure:
        load_config(path)
    assert str(failure.value).startswith(str(path))


def test_listed_tables_are_planned_without_connecting(write_config) -> None:
    config = load_config(
        write_config("sources:\n  src: {kind: postgres, database: db, port: 1, tables: [Orders, {name: audit log}]}\n")
    )
    planned = build_source(config.sources["src"], config).planned_streams()
    assert [(spec.name, spec.role) for spec in planned] == [("orders", "records"), ("audit_log", "records")]


EVENTS = Table(
    name='ev"il; %s',
    stream="ev_il_s",
    columns=(("id", "integer"), ("updated at", "timestamp"), ("body", "text")),
    primary_key=("id",),
    cursor_field="updated at",
    full_refresh=False,
)


def test_incremental_select_compares_row_values_with_parameters() -> None:
    query, params = select_sql(_quote_postgres, '"public"."t"', EVENTS, ["2024-01-01T00:00:00", 7], lambda _: "%s")
    assert query == (
        'select "id", "updated at", "body" from "public"."t" where "updated at" is not null and '
        '"updated at" >= %s and ("updated at", "id") > (%s, %s) order by "updated at", "id"'
    )
    assert params == ["2024-01-01T00:00:00", "2024-01-01T00:00:00", 7]
    first, no_params = select_sql(_quote_postgres, '"t"', EVENTS, None, lambda _: "%s")
    assert first.endswith('where "updated at" is not null order by "updated at", "id"') and no_params == []
    nulls, _ = select_sql(_quote_postgres, '"t"', EVENTS, None, lambda _: "%s", null_cursor=True)
    assert nulls.endswith('where "updated at" is null order by "id"')
    assert _quote_postgres('a"b%c') == '"a""b%%c"'


def test_resume_point_only_for_the_same_cursor_and_key() -> None:
    state = {"cursor_field": "updated at", "primary_key": ["id"], "last": ["2024-01-01", 3]}
    assert _resume_point(EVENTS, state) == ["2024-01-01", 3]
    assert _resume_point(EVENTS, {**state, "cursor_field": "created_at"}) is None
    assert _resume_point(EVENTS, {**state, "primary_key": ["id", "x"]}) is None
    assert _resume_point(EVENTS, None) is None


def test_json_values() -> None:
    assert _json_value(decimal.Decimal("1E-7")) == "0.0000001"
    assert _json_value(decimal.Decimal("12.50")) == "12.50"
    assert _json_value(decimal.Decimal("NaN")) == "NaN"
    assert [_json_value(x) for x in (float("nan"), float("inf"), float("-inf"), 0.5)] == [
        "NaN",
        "Infinity",
        "-Infinity",
        0.5,
    ]
    assert _json_value(dt.datetime(2024, 2, 29, 1, 2, 3, tzinfo=dt.UTC)) == "2024-02-29T01:02:03+00:00"
    assert _json_value(dt.date(2024, 2, 29)) == "2024-02-29"
    assert _json_value(dt.timedelta(days=-1, seconds=1)) == "-P0DT86399S"
    assert _json_value(memoryview(b"\x00\xff")) == "AP8="
    assert _json_value(uuid.UUID(int=1)) == "00000000-0000-0000-0000-000000000001"
    assert _json_value({"a": [decimal.Decimal("1.0"), None, True]}) == {"a": ["1.0", None, True]}
