"""`dbt build` of int_documents_language on a hand-written raw layer: the real UDF plugin,
the real model, incremental runs and the configuration vars.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from tests.integration.test_dbt_build import (
    H_EMPTY,
    H_INTRO,
    H_NO_TEXT,
    T,
    _land,
    _register_stream,
    document_id,
    make_home,
    run_dbt,
)

pytestmark = pytest.mark.integration

GERMAN = "Guten Tag, meine Bestellung sollte schon am Montag ankommen, aber die Sendungsverfolgung zeigt nichts."
JAPANESE = "ご注文の商品が届いていません。配送状況を確認していただけますか。よろしくお願いいたします。"
ITALIAN = "Buongiorno, il mio ordine doveva arrivare lunedì ma il tracciamento non mostra alcun aggiornamento."
ENGLISH_LATE = "The replacement arrived today and works perfectly, thank you for the quick help with my order."

D_DE = document_id("intl", "documents", "de.txt")
D_JA = document_id("intl", "documents", "ja.txt")
D_LATE = document_id("intl", "documents", "late.txt")
# The model, its parents, and only the tests whose every parent is selected.
SELECT = ["build", "-s", "+int_documents_language", "--indirect-selection", "cautious"]


def land_international(database: Path) -> None:
    con = duckdb.connect(str(database))
    try:
        table = _register_stream(con, "intl", "documents", "documents", "documents", "path", text_field="text")
        _land(con, table, "2024-01-10T00:00:00Z", {"path": "de.txt", "text": GERMAN})
        _land(con, table, "2024-01-10T00:00:00Z", {"path": "ja.txt", "text": f"<p>{JAPANESE}</p>"})
    finally:
        con.close()


def languages(run) -> dict[str, tuple]:
    return {
        row[0]: row[1:]
        for row in run.rows(
            "select document_id, language, language_confidence, is_language_allowed, extracted_at::varchar "
            "from intermediate.int_documents_language"
        )
    }


def test_language_model_builds_detects_and_is_incremental(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    land_international(home / "warehouse" / "refinery.duckdb")

    first = run_dbt(home, *SELECT)
    assert first.returncode == 0, first.output[-6000:]
    assert "test_language_gate_follows_allowed_languages_and_confidence" in first.output
    rows = languages(first)
    assert len(rows) == 14  # every document of int_documents_normalized
    assert rows[H_INTRO][0] == "en" and rows[H_INTRO][1] > 0.65 and rows[H_INTRO][2] is True
    assert rows[T[3]][0] == "en" and rows[T[3]][2] is True
    assert rows[D_DE][0] == "de" and rows[D_DE][1] > 0.9 and rows[D_DE][2] is True
    assert rows[D_JA][0] == "ja" and rows[D_JA][1] > 0.9 and rows[D_JA][2] is True
    assert rows[H_EMPTY][:3] == (None, None, False)
    assert rows[H_NO_TEXT][:3] == (None, None, False)

    # A new document and a new version of the German one (now Italian), extracted after the
    # latest extracted_at so far (2024-02-01, the intro page); the vars change
    # without --full-refresh, so only those two are detected and gated under the new vars.
    con = duckdb.connect(str(home / "warehouse" / "refinery.duckdb"))
    try:
        _land(con, "intl__documents", "2024-03-01T00:00:00Z", {"path": "de.txt", "text": ITALIAN})
        _land(con, "intl__documents", "2024-03-01T00:00:00Z", {"path": "late.txt", "text": ENGLISH_LATE})
    finally:
        con.close()
    second = run_dbt(home, *SELECT, "--vars", "{allowed_languages: [it]}")
    assert second.returncode == 0, second.output[-6000:]
    rows_after = languages(second)
    assert rows_after[D_DE][0] == "it" and rows_after[D_DE][2] is True
    assert rows_after[D_DE][3].startswith("2024-03-01")
    assert rows_after[D_LATE][0] == "en" and rows_after[D_LATE][2] is False
    # Untouched documents keep the row (and the gate) of the first run.
    unchanged = set(rows) - {D_DE}
    assert {doc: rows_after[doc] for doc in unchanged} == {doc: rows[doc] for doc in unchanged}

    # --full-refresh applies the vars to every document.
    third = run_dbt(home, *SELECT, "--full-refresh", "--vars", "{allowed_languages: [it]}")
    assert third.returncode == 0, third.output[-6000:]
    rows_full = languages(third)
    assert rows_full[H_INTRO][2] is False
    assert rows_full[D_DE][2] is True
    assert {doc for doc, row in rows_full.items() if row[2]} == {D_DE}


def test_minimum_confidence_gates_short_english(tmp_path: Path) -> None:
    """At 0.999 hardly anything passes; the short "Too short." note never does."""
    home = make_home(tmp_path / "home")
    run = run_dbt(home, *SELECT, "--vars", "{min_language_confidence: 0.999}")
    assert run.returncode == 0, run.output[-6000:]
    rows = languages(run)
    short = document_id("handbook", "documents", "notes/short.md")
    assert rows[short][2] is False
    assert all(row[2] is (row[1] is not None and row[1] >= 0.999) for row in rows.values())


def test_max_chars_must_be_positive(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    run = run_dbt(home, *SELECT, "--vars", "{language_detection_max_chars: 0}")
    assert run.returncode != 0
    assert "language_detection_max_chars is 0" in run.output


def show(home: Path, sql: str, *args: str) -> tuple[int, list[dict], str]:
    """`dbt show --inline` through the real profile (and so the real UDF plugin)."""
    run = run_dbt(home, "show", "--inline", sql, "--output", "json", "--log-format", "json", *args)
    for line in run.output.splitlines():
        if '"ShowNode"' in line:
            return run.returncode, json.loads(json.loads(line)["data"]["preview"]), run.output
    return run.returncode, [], run.output


def test_text_repair_macros_through_dbt(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    sql = (
        "select {{ fix_mojibake(\"'CafÃ© doesnâ€™t, NÃO'\") }} as fixed, "
        "{{ fix_mojibake('null') }} as fixed_null, "
        "{{ unicode_normalize(\"'ﬁnal ² Cafe\u0301'\") }} as normalized"
    )
    code, rows, output = show(home, sql)
    assert code == 0, output[-3000:]
    assert rows == [{"fixed": "Café doesn’t, NÃO", "fixed_null": None, "normalized": "ﬁnal ² Café"}]
    code, rows, output = show(home, sql, "--vars", "{unicode_normalization_form: nfkc}")
    assert code == 0, output[-3000:]
    assert rows[0]["normalized"] == "final 2 Café"
    code, rows, output = show(home, sql, "--vars", "{unicode_normalization_form: NFD}")
    assert code != 0
    assert "var unicode_normalization_form is 'NFD'" in output
