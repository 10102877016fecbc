"""Tabular streams through a real `dbt build`: coercion, missing-value policies, outlier flags.

A hand-written raw layer (docs/raw-layer.md) holds small tables whose expected results are
computed by hand in the comments below; var `tabular_columns` declares their columns. The
`lab` build runs the whole project with only `lab` configured (the shop models are
disabled); the `shop` build uses the project's default declarations for the sample source.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.integration.test_dbt_build import (
    DBT_PROJECT,
    DbtRun,
    _create_bookkeeping,
    _land,
    _register_stream,
    run_dbt,
)

pytestmark = pytest.mark.integration

ROBUST_Z_UNIT = 1 / 0.6745  # MAD / 0.6745 estimates the standard deviation (Iglewicz & Hoaglin)

# lab.measurements: id → fields (None is JSON null; a field not listed is absent). Records 11 and 12 are dropped
# (label "NA" is a missing token; label absent), so their extreme values must not move any
# statistic. Record 4 also has an older version (by cursor) with reading 5000 that must lose.
MEASUREMENTS: dict[int, dict] = {
    1: {
        "label": "x",
        "reading": 10,
        "weight": 70,
        "size": 1,
        "grade": "a",
        "city": "Oslo",
        "seen_on": "2024-01-15",
        "price": "12.345",
        "flag": True,
    },
    2: {
        "label": "x",
        "reading": 12,
        "weight": 72,
        "size": 2,
        "grade": "b",
        "city": None,
        "seen_on": "2024-02-30",
        "price": "12.34",
        "flag": "yes",
    },
    3: {
        "label": "x",
        "reading": 11,
        "weight": 68,
        "size": 2,
        "grade": "b",
        "city": "NULL",
        "seen_on": "2024-01-01",
        "price": 12,
        "flag": "maybe",
    },
    4: {"label": "x", "reading": 13, "weight": 71, "size": 4, "grade": "a", "city": "Rome"},
    5: {"label": "x", "reading": 12, "weight": 69, "size": None, "grade": "c", "city": "Rome"},
    6: {"label": "x", "reading": "11.0", "weight": 70, "size": 3, "grade": None, "city": "Rome"},
    7: {"label": "x", "reading": None, "weight": "3.7", "size": 3, "grade": "  ", "city": "Rome"},
    8: {"label": "x", "reading": "abc", "weight": 150, "size": 2, "grade": "b", "city": "Rome"},
    9: {"label": "x", "reading": 95, "weight": None, "size": 1, "grade": "a", "city": "Rome"},
    10: {"label": "x", "reading": "inf", "weight": "N/A", "size": "5", "grade": "c", "city": "Rome"},
    11: {"label": "NA", "reading": 1000, "weight": 500, "size": 100, "grade": "b", "city": "Rome"},
    12: {"reading": -1000, "size": 100, "grade": "b", "city": "Rome"},
}

LAB_COLUMNS = {
    "lab": {
        "measurements": {
            "label": {"type": "varchar", "missing": "drop_row"},
            "reading": {"type": "double", "outliers": "iqr"},
            "weight": {"type": "integer", "missing": {"impute": "median"}, "outliers": "robust_z"},
            "size": {"type": "integer", "missing": {"impute": "mean"}},
            "grade": {"missing": {"impute": "mode"}},
            "city": {"missing": {"fill": "unknown"}},
            "seen_on": "date",
            "price": {"type": "decimal(10, 2)"},
            "flag": {"type": "boolean"},
        },
        "constant": {
            "v_robust": {"field": "v", "type": "integer", "outliers": "robust_z"},
            "v_iqr": {"field": "v", "type": "integer", "outliers": {"method": "iqr", "k": 3}},
            "inner_v": {"field": ["nested", "v"], "type": "bigint"},
        },
        "absent": {"x": "integer"},
    }
}

CONSTANT_VALUES = [5, 5, 5, 5, 5, 6, 20]


def _lab_home(root: Path) -> Path:
    import duckdb

    (root / "warehouse").mkdir(parents=True)
    con = duckdb.connect(str(root / "warehouse" / "refinery.duckdb"))
    try:
        _create_bookkeeping(con)
        table = _register_stream(con, "lab", "measurements", "files", "records", "id", cursor_field="updated_at")
        for record_id, fields in MEASUREMENTS.items():
            _land(con, table, "2024-01-01T00:00:00Z", {"id": record_id, "updated_at": "2024-01-02", **fields})
        _land(
            con,
            table,
            "2024-01-05T00:00:00Z",  # extracted later, but an older cursor: not the latest version
            {"id": 4, "updated_at": "2024-01-01", "label": "x", "reading": 5000, "weight": 71},
        )
        # No primary key: each record is keyed by the md5 of its JSON (hence the distinct `n`).
        constant = _register_stream(con, "lab", "constant", "files", "records", None)
        for number, value in enumerate(CONSTANT_VALUES):
            _land(con, constant, "2024-01-01T00:00:00Z", {"n": number, "v": value, "nested": {"v": value}})
    finally:
        con.close()
    return root


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> DbtRun:
    home = _lab_home(tmp_path_factory.mktemp("tabular_lab"))
    variables = {"refinery_sources": ["lab"], "tabular_columns": LAB_COLUMNS}
    run = run_dbt(home, "build", "--vars", json.dumps(variables))
    assert run.returncode == 0, run.output[-5000:]
    assert " ERROR=0 " in run.output
    return run


def quality(run: DbtRun, stream: str, column: str) -> dict:
    rows = run.rows(
        "select * from marts.tabular_quality where source_name = 'lab' and stream_name = ? and column_name = ?",
        [stream, column],
    )
    assert len(rows) == 1, rows
    names = [r[0] for r in run.rows("select column_name from (describe marts.tabular_quality)")]
    return dict(zip(names, rows[0], strict=True))


def cells(run: DbtRun, stream: str, column: str) -> dict[str, tuple]:
    """record_key → (raw_value, value_text, is_missing_raw, is_coercion_failure, is_filled,
    is_row_dropped, is_outlier) of one declared column."""
    rows = run.rows(
        """
        select record_key, raw_value, value_text, is_missing_raw, is_coercion_failure, is_filled,
            is_row_dropped, is_outlier
        from intermediate.int_tabular_cells_cleaned
        where source_name = 'lab' and stream_name = ? and column_name = ?
        """,
        [stream, column],
    )
    return {row[0]: row[1:] for row in rows}


def test_shop_models_are_disabled_without_the_shop_source(lab: DbtRun) -> None:
    tables = {row[0] for row in lab.rows("select table_name from information_schema.tables")}
    assert "tabular_quality" in tables
    assert "int_tabular_cells_cleaned" in tables
    assert not any(name.startswith(("int_shop__", "stg_shop__")) for name in tables)


def test_latest_version_and_drop_row(lab: DbtRun) -> None:
    reading = cells(lab, "measurements", "reading")
    assert sorted(reading, key=int) == [str(i) for i in range(1, 13)]
    assert reading["4"][1] == "13.0"  # the version with the newest cursor, not the last extracted
    dropped = {key for key, values in reading.items() if values[5]}
    assert dropped == {"11", "12"}
    label = quality(lab, "measurements", "label")
    assert (label["rows_total"], label["rows_dropped"], label["rows_kept"]) == (12, 2, 10)
    assert (label["missing_in_source"], label["rows_dropped_by_column"], label["missing_after"]) == (2, 2, 0)


def test_keep_policy_coercion_failures_and_iqr(lab: DbtRun) -> None:
    # Kept observed readings: 10 12 11 13 12 11 95 (ids 1-6, 9); "abc" and "inf" fail, id 7 is null.
    # Sorted 10 11 11 12 12 13 95: Q1 = 11 (position 1.5), Q3 = 12.5 (position 4.5), IQR = 1.5,
    # fences 11 - 2.25 = 8.75 and 12.5 + 2.25 = 14.75: only 95 is outside.
    reading = cells(lab, "measurements", "reading")
    assert reading["8"][:4] == ("abc", None, False, True)
    assert reading["10"][:4] == ("inf", None, False, True)
    assert reading["7"][:4] == (None, None, True, False)
    assert reading["6"][1] == "11.0"
    assert {key for key, values in reading.items() if values[6]} == {"9"}
    assert not any(values[4] for values in reading.values())  # keep fills nothing
    row = quality(lab, "measurements", "reading")
    assert row["missing_policy"] == "keep"
    assert (row["missing_in_source"], row["coercion_failures"], row["missing_before"]) == (1, 2, 3)
    assert (row["filled"], row["missing_after"], row["outliers"]) == (0, 3, 1)
    assert (row["outlier_method"], row["outlier_parameter"]) == ("iqr", 1.5)
    assert (row["outlier_lower_bound"], row["outlier_upper_bound"]) == (8.75, 14.75)
    assert (row["min_value"], row["median_value"], row["max_value"]) == (10.0, 12.0, 95.0)


def test_impute_median_and_robust_z(lab: DbtRun) -> None:
    # Kept observed weights 68 69 70 70 71 72 150 ("3.7" would round: a coercion failure):
    # median 70, absolute deviations 0 0 1 1 2 2 80, MAD 1; |0.6745 (x - 70) / 1| > 3.5 only
    # for 150 (M = 53.96). Missing: id 7 (failure), 9 (null), 10 ("N/A"), 12 (absent, dropped).
    weight = cells(lab, "measurements", "weight")
    assert weight["7"][:5] == ("3.7", "70", False, True, True)
    assert weight["9"][:5] == (None, "70", True, False, True)
    assert weight["10"][:5] == ("N/A", "70", True, False, True)
    assert weight["12"][:6] == (None, None, True, False, False, True)  # dropped: not filled
    assert {key for key, values in weight.items() if values[6]} == {"8"}
    row = quality(lab, "measurements", "weight")
    assert row["replacement_value"] == "70"
    assert (row["missing_in_source"], row["coercion_failures"], row["missing_before"]) == (3, 1, 4)
    assert (row["filled"], row["missing_after"], row["outliers"]) == (3, 0, 1)
    assert row["outlier_parameter"] == 3.5
    assert row["outlier_lower_bound"] == pytest.approx(70 - 3.5 * ROBUST_Z_UNIT)
    assert row["outlier_upper_bound"] == pytest.approx(70 + 3.5 * ROBUST_Z_UNIT)
    assert (row["min_value"], row["median_value"], row["max_value"]) == (68.0, 70.0, 150.0)


def test_impute_mean_rounds_to_the_integer_type(lab: DbtRun) -> None:
    # Kept observed sizes 1 2 2 4 3 3 2 1 5 ("5" is a string): mean 23 / 9 = 2.56 → 3.
    size = cells(lab, "measurements", "size")
    assert size["5"][:5] == (None, "3", True, False, True)
    assert size["10"][1] == "5"
    row = quality(lab, "measurements", "size")
    assert (row["missing_policy"], row["replacement_value"], row["filled"], row["missing_after"]) == (
        "impute_mean",
        "3",
        1,
        0,
    )


def test_impute_mode_ties_go_to_the_smallest_value_and_dropped_rows_do_not_vote(lab: DbtRun) -> None:
    # Kept grades a b b a c - - b a c: a and b 3 times each (the dropped rows add two b's) → a.
    grade = cells(lab, "measurements", "grade")
    assert grade["6"][:5] == (None, "a", True, False, True)
    assert grade["7"][:5] == ("  ", "a", True, False, True)  # blank is a missing token after trim
    row = quality(lab, "measurements", "grade")
    assert (row["replacement_value"], row["filled"], row["missing_after"]) == ("a", 2, 0)
    assert row["min_value"] is None  # not numeric


def test_fill_policy(lab: DbtRun) -> None:
    city = cells(lab, "measurements", "city")
    assert city["2"][:5] == (None, "unknown", True, False, True)
    assert city["3"][:5] == ("NULL", "unknown", True, False, True)
    assert city["1"][1] == "Oslo"
    row = quality(lab, "measurements", "city")
    assert (row["missing_policy"], row["replacement_value"], row["filled"], row["missing_after"]) == (
        "fill",
        "unknown",
        2,
        0,
    )


def test_date_decimal_and_boolean_coercion(lab: DbtRun) -> None:
    seen_on = cells(lab, "measurements", "seen_on")
    assert seen_on["1"][:4] == ("2024-01-15", "2024-01-15", False, False)
    assert seen_on["2"][:4] == ("2024-02-30", None, False, True)
    price = cells(lab, "measurements", "price")
    assert price["1"][:4] == ("12.345", None, False, True)  # decimal(10, 2) would round it
    assert price["2"][1] == "12.34"
    assert price["3"][:2] == ("12", "12.00")
    flag = cells(lab, "measurements", "flag")
    assert [flag[key][:2] for key in ("1", "2", "3")] == [("true", "true"), ("yes", "true"), ("maybe", None)]
    for column, failures, in_source in (("seen_on", 1, 9), ("price", 1, 9), ("flag", 1, 9)):
        row = quality(lab, "measurements", column)
        assert (row["coercion_failures"], row["missing_in_source"]) == (failures, in_source), column
        # Identity: filled + missing_after = missing_before - missing cells of dropped records (2).
        assert row["missing_after"] == failures + in_source - 2, column


def test_robust_z_falls_back_to_mean_absolute_deviation_when_mad_is_zero(lab: DbtRun) -> None:
    # 5 5 5 5 5 6 20: median 5, MAD 0 → unit 1.253314 * mean |x - 5| = 1.253314 * 16 / 7;
    # 3.5 units = 10.03: 20 (15 away) is an outlier, 6 is not.
    unit = 1.253314 * 16 / 7
    row = quality(lab, "constant", "v_robust")
    assert row["outliers"] == 1
    assert row["outlier_lower_bound"] == pytest.approx(5 - 3.5 * unit)
    assert row["outlier_upper_bound"] == pytest.approx(5 + 3.5 * unit)
    flagged = lab.rows(
        "select raw_value from intermediate.int_tabular_cells_cleaned "
        "where stream_name = 'constant' and column_name = 'v_robust' and is_outlier"
    )
    assert flagged == [("20",)]


def test_iqr_with_a_per_column_k(lab: DbtRun) -> None:
    # Q1 = 5, Q3 = 5.5 (position 4.5 between 5 and 6), IQR 0.5, k = 3: fences 3.5 and 7.0.
    row = quality(lab, "constant", "v_iqr")
    assert (row["outlier_parameter"], row["outlier_lower_bound"], row["outlier_upper_bound"]) == (3.0, 3.5, 7.0)
    assert row["outliers"] == 1


def test_nested_field_and_streams_without_primary_key(lab: DbtRun) -> None:
    rows = lab.rows(
        "select record_key, raw_value from intermediate.int_tabular_cells_cleaned "
        "where stream_name = 'constant' and column_name = 'inner_v' order by raw_value::int"
    )
    assert [value for _, value in rows] == [str(v) for v in sorted(CONSTANT_VALUES)]
    assert all(len(key) == 32 for key, _ in rows)  # md5 of the record JSON


def test_declared_stream_not_landed_has_a_zero_row(lab: DbtRun) -> None:
    row = quality(lab, "absent", "x")
    assert (row["rows_total"], row["missing_before"], row["outliers"], row["target_type"]) == (0, 0, 0, "integer")


def test_quality_mart_has_one_row_per_declared_column(lab: DbtRun) -> None:
    rows = lab.rows("select stream_name, column_name from marts.tabular_quality order by column_position")
    expected = [(stream, column) for stream, columns in sorted(LAB_COLUMNS["lab"].items()) for column in columns]
    assert rows == expected


# --------------------------------------------------------------------------- the shop defaults


def test_default_shop_declarations_build_wide_cleaned_models(tmp_path: Path) -> None:
    import duckdb

    defaults = yaml.safe_load((DBT_PROJECT / "dbt_project.yml").read_text())["vars"]["tabular_columns"]
    assert set(defaults["shop"]) == {"users", "products", "purchases"}
    home = tmp_path / "home"
    (home / "warehouse").mkdir(parents=True)
    con = duckdb.connect(str(home / "warehouse" / "refinery.duckdb"))
    try:
        _create_bookkeeping(con)
        for stream in ("users", "products", "purchases"):
            _register_stream(con, "shop", stream, "airbyte", "records", "id", cursor_field="updated_at")
        users = [
            {"id": 1, "age": 30, "height": "1.80", "weight": 80, "gender": "F", "blood_type": "A+"},
            {"id": 2, "age": "thirty", "height": "1.70", "weight": 70, "blood_type": "B+"},
            {"id": 3, "age": 50, "height": "abc", "weight": 60, "gender": "M", "blood_type": "A+"},
            {"age": 20, "height": "1.60", "weight": 65, "gender": "M"},  # no id: dropped
        ]
        for user in users:
            _land(con, "shop__users", "2024-01-01T00:00:00Z", {**user, "created_at": "2020-01-01T00:00:00+00:00"})
        for product in (
            {"id": 1, "make": "Mazda", "model": "MX-5", "year": 2023, "price": 15001},
            {"id": 2, "make": "Ford", "model": "T", "year": 2023, "price": "n/a"},
            {"id": 3, "model": "?", "year": 2023, "price": 20000},  # no make: dropped
        ):
            _land(con, "shop__products", "2024-01-01T00:00:00Z", product)
        _land(con, "shop__purchases", "2024-01-01T00:00:00Z", {"id": 1, "user_id": 1, "product_id": 1})
    finally:
        con.close()

    run = run_dbt(home, "build", "--select", "stg_refinery__tabular_cells+", "--vars", "{refinery_sources: [shop]}")
    assert run.returncode == 0, run.output[-5000:]
    users_rows = run.rows(
        "select user_id, age, age_raw, age_is_filled, height_m, height_m_raw, height_m_is_filled, gender, "
        "gender_is_filled from intermediate.int_shop__users_cleaned order by user_id"
    )
    assert users_rows == [
        (1, 30, "30", False, 1.8, "1.80", False, "F", False),
        (2, 40, "thirty", True, 1.7, "1.70", False, "unknown", True),  # median of 30 and 50
        (3, 50, "50", False, 1.75, "abc", True, "M", False),  # median of 1.80 and 1.70
    ]
    products = run.rows(
        "select product_id, price, price_raw, price_is_filled from intermediate.int_shop__products_cleaned"
    )
    assert sorted(products) == [(1, 15001, "15001", False), (2, 15001, "n/a", True)]
    age = run.rows(
        "select rows_total, rows_dropped, coercion_failures, filled, replacement_value from marts.tabular_quality "
        "where stream_name = 'users' and column_name = 'age'"
    )
    assert age == [(4, 1, 1, 1, "40")]
    purchases = run.rows(
        "select purchase_id, user_id, product_id, purchased_at from intermediate.int_shop__purchases_cleaned"
    )
    assert purchases == [(1, 1, 1, None)]


def test_a_wrong_declaration_stops_compilation_naming_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "warehouse").mkdir(parents=True)
    bad = {"lab": {"m": {"grade": {"type": "varchar", "missing": {"impute": "median"}}}}}
    run = run_dbt(home, "parse", "--vars", json.dumps({"refinery_sources": ["lab"], "tabular_columns": bad}))
    assert run.returncode != 0
    assert "var tabular_columns.lab.m.grade: impute median needs a numeric type, not varchar" in run.output
    bad = {"lab": {"m": {"x": {"type": "money"}}}}
    run = run_dbt(home, "parse", "--vars", json.dumps({"refinery_sources": ["lab"], "tabular_columns": bad}))
    assert run.returncode != 0
    assert "var tabular_columns.lab.m.x: type 'money' is not supported" in run.output
