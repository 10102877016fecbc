"""The cleaning models (quality signals, n-gram repetition, near-duplicates, clusters, incremental
runs) checked against an independent Python implementation of the definitions in
docs/cleaning/README.md, on documents built to trip each rule.

The raw layer is written by hand (docs/raw-layer.md), as in test_dbt_build.py, so these tests do
not depend on the ingestion code. Texts are already normalized (single spaces, `\n` line breaks),
so normalized_text == text and the reference reads the text directly.
"""

from __future__ import annotations

import random
import re
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from tests.integration.test_dbt_build import (
    DbtRun,
    _create_bookkeeping,
    _land,
    _register_stream,
    _sync_log,
    document_id,
    run_dbt,
)

pytestmark = pytest.mark.integration

# --------------------------------------------------------------------------- the definitions

# macro text_words: these characters become spaces, after lowercasing.
PUNCTUATION = ".,;:!?\"()[]{}<>/\\|@#$%^&*+=~`'_\n\t\r“”‘’«»„‹›—–‒―…·•‣◦⁃-"
WORD_TABLE = str.maketrans(dict.fromkeys(PUNCTUATION, " "))
TERMINAL = set(".!?\"'”’»…。！？)")
BULLETS = set("•-*‣⁃◦·–")
STOP_WORDS = {"the", "be", "to", "of", "and", "that", "have", "with"}
POLICY = re.compile("terms of use|privacy policy|cookie policy|uses cookies|use of cookies|use cookies")
SENTENCE_END = re.compile(r"[.!?…。！？]+[\")’”»]*(\s|$)")
TOP_NGRAMS = {2: 0.20, 3: 0.18, 4: 0.16}
DUP_NGRAMS = {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}


def words_of(text: str) -> list[str]:
    return [w for w in text.lower().translate(WORD_TABLE).split(" ") if w]


def shingles(text: str, n: int = 5) -> set[str]:
    ws = words_of(text)
    return {" ".join(ws[i : i + n]) for i in range(len(ws) - n + 1)}


def jaccard(a: str, b: str) -> float:
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb)


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def reference_signals(text: str) -> dict:
    """Every column of int_documents_quality and int_documents_repetition, by the documented definitions."""
    chars = len(text)
    tokens = [t for t in text.replace("\n", " ").split(" ") if t]
    words = words_of(text)
    lines = [line for line in text.split("\n") if line]
    paragraphs = [p for p in text.split("\n\n") if p]
    newlines = text.count("\n")
    dup_line_chars = sum(map(len, lines)) - sum(map(len, set(lines)))
    c4_lines = [
        line
        for line in lines
        if line[-1] in TERMINAL
        and len(line.split(" ")) >= 3
        and "javascript" not in line.lower()
        and not POLICY.search(line.lower())
    ]
    signals = {
        "word_count": len(words),
        "mean_word_length": ratio(sum(map(len, words)), len(words)),
        "symbol_word_ratio": ratio(text.count("#") + text.count("...") + text.count("…"), len(words)),
        "bullet_lines_ratio": ratio(sum(line.lstrip(" ")[:1] in BULLETS for line in lines), len(lines)),
        "ellipsis_lines_ratio": ratio(sum(line.endswith(("...", "…")) for line in lines), len(lines)),
        "alpha_words_ratio": ratio(sum(any(c.isalpha() for c in t) for t in tokens), len(tokens)),
        "stop_word_count": len(STOP_WORDS & set(words)),
        "dup_line_fraction": ratio(len(lines) - len(set(lines)), len(lines)),
        "dup_paragraph_fraction": ratio(len(paragraphs) - len(set(paragraphs)), len(paragraphs)),
        "dup_line_char_fraction": ratio(dup_line_chars, chars),
        "dup_paragraph_char_fraction": ratio(sum(map(len, paragraphs)) - sum(map(len, set(paragraphs))), chars),
        "c4_sentence_count": sum(len(SENTENCE_END.findall(line)) for line in c4_lines),
        "has_lorem_ipsum": "lorem ipsum" in text.lower(),
        "has_curly_bracket": "{" in text,
        "javascript_line_count": sum("javascript" in line.lower() for line in lines),
        "line_punct_ratio": ratio(sum(line[-1] in TERMINAL for line in lines), len(lines)),
        "dup_line_char_ratio": ratio(dup_line_chars, chars - newlines),
        "short_line_ratio": ratio(sum(len(line) <= 30 for line in lines), len(lines)),
        "newline_word_ratio": ratio(newlines, len(tokens)),
    }
    for n in TOP_NGRAMS:
        grams = Counter(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
        top = max(grams.values(), default=0)
        # The most frequent n-gram is any of the tied ones: every candidate value is accepted.
        signals[f"top_{n}gram_char_fraction"] = (
            {ratio(top * len(g), chars) for g, c in grams.items() if c == top} if top > 1 else {0.0}
        )
    for n in DUP_NGRAMS:
        grams = [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
        signals[f"dup_{n}gram_fraction"] = ratio(len(grams) - len(set(grams)), len(grams))
    return signals


def reference_rules(s: dict, top_fractions: dict[int, float]) -> list[str]:
    failed = [
        ("gopher_word_count", not 50 <= s["word_count"] <= 100_000),
        ("gopher_mean_word_length", not 3 <= s["mean_word_length"] <= 10),
        ("gopher_symbol_word_ratio", s["symbol_word_ratio"] > 0.1),
        ("gopher_bullet_lines", s["bullet_lines_ratio"] > 0.9),
        ("gopher_ellipsis_lines", s["ellipsis_lines_ratio"] > 0.3),
        ("gopher_alpha_words", s["alpha_words_ratio"] < 0.8),
        ("gopher_stop_words", s["stop_word_count"] < 2),
        ("gopher_dup_lines", s["dup_line_fraction"] > 0.3),
        ("gopher_dup_paragraphs", s["dup_paragraph_fraction"] > 0.3),
        ("gopher_dup_line_chars", s["dup_line_char_fraction"] > 0.2),
        ("gopher_dup_paragraph_chars", s["dup_paragraph_char_fraction"] > 0.2),
        ("gopher_top_ngrams", any(top_fractions[n] > limit for n, limit in TOP_NGRAMS.items())),
        ("gopher_dup_ngrams", any(s[f"dup_{n}gram_fraction"] > limit for n, limit in DUP_NGRAMS.items())),
        ("c4_lorem_ipsum", s["has_lorem_ipsum"]),
        ("c4_curly_bracket", s["has_curly_bracket"]),
        ("c4_min_sentences", s["c4_sentence_count"] < 5),
        ("fineweb_line_punctuation", s["line_punct_ratio"] < 0.12),
        ("fineweb_dup_line_chars", s["dup_line_char_ratio"] > 0.01),
        ("fineweb_short_lines", s["short_line_ratio"] > 0.67),
        ("fineweb_newline_ratio", s["newline_word_ratio"] > 0.3),
    ]
    return [rule for rule, fails in failed if fails]


# --------------------------------------------------------------------------- the corpus

VOCABULARY = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "that",
    "have",
    "with",
    "be",
    "is",
    "for",
    "on",
    "as",
    "was",
    "at",
    "by",
    "it",
    "this",
    "from",
    "are",
    "or",
    "an",
    "which",
    "river",
    "mountain",
    "village",
    "engineer",
    "library",
    "harvest",
    "winter",
    "market",
    "teacher",
    "garden",
    "bridge",
    "station",
    "letter",
    "museum",
    "kitchen",
    "orchard",
    "harbour",
    "meadow",
    "lantern",
    "journey",
    "council",
    "ledger",
    "carpenter",
    "weaver",
    "signal",
    "archive",
    "compass",
    "furnace",
    "granary",
    "quarry",
    "vessel",
    "beacon",
]


def sentence(rng: random.Random, length: int | None = None) -> str:
    words = [rng.choice(VOCABULARY) for _ in range(length or rng.randint(8, 16))]
    return " ".join(words).capitalize() + rng.choice([".", ".", "!", "?"])


def paragraph(rng: random.Random, sentences: int = 4) -> str:
    return " ".join(sentence(rng) for _ in range(sentences))


def article(rng: random.Random, paragraphs: int = 4) -> str:
    return "\n\n".join(paragraph(rng) for _ in range(paragraphs))


def edited(rng: random.Random, text: str, rate: float) -> str:
    """Replace round(rate x words), at least one, words at random positions by a different word
    (line breaks kept)."""
    lines = [line.split(" ") for line in text.split("\n")]
    positions = [(i, j) for i, words in enumerate(lines) for j, w in enumerate(words) if w]
    for i, j in rng.sample(positions, max(1, round(rate * len(positions)))):
        lines[i][j] = rng.choice([w for w in VOCABULARY if w != lines[i][j].lower()])
    return "\n".join(" ".join(words) for words in lines)


def build_corpus() -> dict[str, str]:
    rng = random.Random(20261124)
    docs: dict[str, str] = {f"clean-{i}": article(rng) for i in range(8)}
    docs["short"] = sentence(rng, 10) + " " + sentence(rng, 12)
    docs["bullets"] = "Packing list for the journey.\n" + "\n".join(f"- {sentence(rng, 6)}" for _ in range(12))
    docs["ellipsis"] = "\n".join(sentence(rng, 9)[:-1] + "..." for _ in range(8))
    docs["symbols"] = " ".join(f"#{w}" for w in paragraph(rng, 6).split(" "))
    docs["lorem"] = article(rng) + "\n\nLorem ipsum dolor sit amet, consectetur adipiscing elit."
    docs["javascript"] = article(rng) + "\n\nPlease enable JavaScript to view this page properly today.\nOk"
    docs["braces"] = article(rng) + "\n\nfunction f() { return 1; }"
    docs["policy"] = article(rng) + "\n\nThis site uses cookies to improve your visit here."
    docs["dup-lines"] = "\n".join([sentence(rng, 12)] * 6 + [sentence(rng, 12) for _ in range(4)])
    repeated = paragraph(rng)
    docs["dup-paragraphs"] = "\n\n".join([repeated, paragraph(rng), repeated, paragraph(rng), repeated])
    docs["dup-ngrams"] = " ".join(["the river station harbour beacon ledger"] * 12) + " " + paragraph(rng)
    docs["no-stop"] = " ".join(w for w in article(rng).split(" ") if w.lower().strip(".!?") not in STOP_WORDS)
    docs["numbers"] = "\n".join(" ".join(str(rng.randint(0, 99999)) for _ in range(10)) + "." for _ in range(8))
    docs["short-lines"] = "\n".join(f"{rng.choice(VOCABULARY)} {rng.choice(VOCABULARY)}" for _ in range(60))
    docs["long-words"] = " ".join("".join(rng.choice("abcdefghij") for _ in range(14)) for _ in range(80)) + "."
    docs["unicode"] = article(rng).replace("river", "rivière").replace("market", "Märkte — «market»")
    # Exact duplicate: case and layout variants of clean-0.
    docs["exact-of-clean-0"] = docs["clean-0"].upper().replace("\n\n", "\n\n\n")
    # Near-duplicate families at known edit rates (Jaccard computed below, not assumed).
    for rate in (0.005, 0.01, 0.02, 0.04, 0.08, 0.2):
        docs[f"near-{rate}-of-clean-1"] = edited(rng, docs["clean-1"], rate)
    docs["near-0.005-of-clean-2"] = edited(rng, docs["clean-2"], 0.005)
    docs["near-0.005-of-near-0.005-of-clean-2"] = edited(rng, docs["near-0.005-of-clean-2"], 0.005)
    return docs


CORPUS = build_corpus()
T1 = "2025-01-01T00:00:00Z"
T2 = "2025-02-01T00:00:00Z"


def land_documents(database: Path, docs: dict[str, str], extracted_at: str, *, create: bool) -> None:
    con = duckdb.connect(str(database))
    try:
        if create:
            _create_bookkeeping(con)
            _register_stream(con, "corpus", "records", "files", "documents", "id", text_field="text")
        for key, text in docs.items():
            _land(con, "corpus__records", extracted_at, {"id": key, "text": text})
        _sync_log(con, f"sync-{extracted_at}", "corpus", "records", landed=len(docs))
    finally:
        con.close()


def build(home: Path) -> DbtRun:
    run = run_dbt(home, "build", "--vars", "{refinery_sources: [corpus]}")
    assert run.returncode == 0, run.output[-6000:]
    return run


def writers(run: DbtRun, model: str) -> dict[str, str]:
    """The dbt invocation that last wrote each document's row."""
    return dict(run.rows(f"select document_id, dbt_invocation_id from intermediate.{model}"))


@pytest.fixture(scope="module")
def cleaned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DbtRun]:
    home = tmp_path_factory.mktemp("cleaning_home")
    (home / "warehouse").mkdir()
    land_documents(home / "warehouse" / "refinery.duckdb", CORPUS, T1, create=True)
    yield build(home)
    shutil.rmtree(home, ignore_errors=True)


def doc(key: str) -> str:
    return document_id("corpus", "records", key)


KEY_OF = {doc(key): key for key in CORPUS}


# --------------------------------------------------------------------------- tests


def normalized_texts(run: DbtRun) -> dict[str, str]:
    return dict(run.rows("select document_id, normalized_text from intermediate.int_documents_normalized"))


def test_texts_are_already_normalized_except_the_layout_variant(cleaned: DbtRun) -> None:
    texts = normalized_texts(cleaned)
    assert {KEY_OF[d] for d, t in texts.items() if t != CORPUS[KEY_OF[d]]} == {"exact-of-clean-0"}
    assert texts[doc("exact-of-clean-0")] == CORPUS["clean-0"].upper()  # 3 line breaks became 2


def test_every_signal_matches_the_reference(cleaned: DbtRun) -> None:
    texts = normalized_texts(cleaned)
    expected = {KEY_OF[d]: reference_signals(text) for d, text in texts.items()}
    columns = list(next(iter(expected.values())))
    repetition_columns = [c for c in columns if re.fullmatch(r"(top|dup)_\d+gram_\w+", c)]
    quality_columns = [c for c in columns if c not in repetition_columns]
    got = {
        row[0]: dict(zip(quality_columns + repetition_columns, row[1:], strict=True))
        for row in cleaned.rows(
            f"select q.document_id, {', '.join('q.' + c for c in quality_columns)}, "
            f"{', '.join('r.' + c for c in repetition_columns)} "
            "from intermediate.int_documents_quality q join intermediate.int_documents_repetition r using (document_id)"
        )
    }
    assert {KEY_OF[d] for d in got} == set(CORPUS)
    mismatches = []
    for document, values in got.items():
        key = KEY_OF[document]
        for column, value in values.items():
            want = expected[key][column]
            if isinstance(want, set):
                ok = any(value == pytest.approx(w, abs=1e-9) for w in want)
            else:
                ok = value == pytest.approx(want, abs=1e-9)
            if not ok:
                mismatches.append((key, column, value, want))
    assert mismatches == []


def test_failed_rules_match_the_reference_and_each_planted_document_fails_its_rule(cleaned: DbtRun) -> None:
    got = dict(cleaned.rows("select document_id, failed_quality_rules from intermediate.int_documents_screened"))
    top = {
        row[0]: {2: row[1], 3: row[2], 4: row[3]}
        for row in cleaned.rows(
            "select document_id, top_2gram_char_fraction, top_3gram_char_fraction, top_4gram_char_fraction "
            "from intermediate.int_documents_repetition"
        )
    }
    texts = normalized_texts(cleaned)
    for document, rules in got.items():
        want = reference_rules(reference_signals(texts[document]), top[document])
        assert sorted(rules) == sorted(want), KEY_OF[document]
    planted = {
        "short": "gopher_word_count",
        "bullets": "gopher_bullet_lines",
        "ellipsis": "gopher_ellipsis_lines",
        "symbols": "gopher_symbol_word_ratio",
        "lorem": "c4_lorem_ipsum",
        "braces": "c4_curly_bracket",
        "dup-lines": "gopher_dup_lines",
        "dup-paragraphs": "gopher_dup_paragraphs",
        "dup-ngrams": "gopher_top_ngrams",
        "no-stop": "gopher_stop_words",
        "numbers": "gopher_alpha_words",
        "short-lines": "fineweb_short_lines",
        "long-words": "gopher_mean_word_length",
    }
    for key, rule in planted.items():
        assert rule in got[doc(key)], (key, got[doc(key)])
    for i in range(8):
        assert got[doc(f"clean-{i}")] == [], i
    # The javascript and cookie-policy lines are not C4 sentence lines, but the articles still have >= 5.
    assert "c4_min_sentences" not in got[doc("javascript")]


def test_near_duplicates_are_verified_and_complete(cleaned: DbtRun) -> None:
    pairs = {
        frozenset((KEY_OF[a], KEY_OF[b])): j
        for a, b, j in cleaned.rows(
            "select document_id_a, document_id_b, jaccard from intermediate.int_document_near_pairs"
        )
    }
    keys = sorted(CORPUS)
    truth = {}
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            if CORPUS[a].lower().split() == CORPUS[b].lower().split():
                continue  # exact duplicates are exact dedup's, not near pairs
            j = jaccard(CORPUS[a], CORPUS[b])
            if j >= 0.75:
                truth[frozenset((a, b))] = j
    # Every reported pair is real, with its exact Jaccard; no pair below the threshold.
    for pair, j in pairs.items():
        assert j == pytest.approx(jaccard(*(CORPUS[k] for k in pair)), abs=1e-12)
        assert j >= 0.75
    # 14 bands x 8 rows miss a pair with probability (1 - J^8)^14: 0.23 at J = 0.75, 0.012 at
    # 0.85, 3e-7 at 0.95. Above 0.95 every pair must be found; overall most are.
    assert {p for p, j in truth.items() if j >= 0.95} <= set(pairs)
    assert len(set(pairs)) >= 0.75 * len(truth)
    assert set(pairs) <= set(truth)
    assert frozenset(("clean-1", "near-0.005-of-clean-1")) in pairs
    assert frozenset(("clean-1", "near-0.2-of-clean-1")) not in pairs  # J ~ 0.3: far below


def reference_band_hashes(con: duckdb.DuckDBPyConnection, text: str) -> list[int] | None:
    """int_document_minhash by its definition, step by step in Python: word hashes, 5-gram hashes
    (xor of word hashes shifted by their position), seeded hash, one-permutation bins (hash % 112,
    value hash // 112 halved, packed bin-first), per-bin minimum, 14 bands of 8 bins hashed with
    their band number. DuckDB's `hash` is the only function borrowed from the database."""
    n, bands, rows, seed = 5, 14, 8, 1
    bins, bin_bits, mask = bands * rows, 7, 2**64 - 1
    words = words_of(text)
    if len(words) < n:
        return None
    (word_hashes,) = con.execute("select list_transform(?::varchar[], w -> hash(w))", [words]).fetchone()
    grams = []
    for i in range(len(words) - n + 1):
        h = 0
        for k in range(n):
            h ^= word_hashes[i + k] >> k
        grams.append(h & mask)
    (seeded,) = con.execute(
        "select list_transform(?::ubigint[], h -> hash(xor(h, ?::ubigint)))", [grams, seed]
    ).fetchone()
    minimum: dict[int, int] = {}
    for x in seeded:
        key = ((x % bins) << (64 - bin_bits)) | ((x // bins) >> 1)
        minimum[x % bins] = min(minimum.get(x % bins, key), key)
    hashes = []
    for band in range(bands):
        keys = sorted(v for b, v in minimum.items() if b // rows == band)
        if keys:
            hashes.append(con.execute("select hash(?::bigint, ?::ubigint[])", [band, keys]).fetchone()[0])
    return hashes


def test_minhash_signatures_match_the_definition(cleaned: DbtRun) -> None:
    stored = dict(cleaned.rows("select document_id, band_hashes from intermediate.int_document_minhash"))
    con = duckdb.connect()
    checked = 0
    for key, text in CORPUS.items():
        expected = reference_band_hashes(con, text)
        if expected is None:
            assert doc(key) not in stored  # too short for one n-gram: no signature
            continue
        assert stored[doc(key)] == expected, key
        checked += 1
    assert checked >= 20


def test_clusters_and_decisions(cleaned: DbtRun) -> None:
    clusters = {
        KEY_OF[d]: (KEY_OF[rep], match_type)
        for d, rep, match_type in cleaned.rows(
            "select document_id, representative_document_id, match_type from marts.document_duplicates"
        )
    }
    # Same first_extracted_at everywhere: source_key order decides (clean-0 < exact-of-clean-0).
    assert clusters["clean-0"] == ("clean-0", "representative")
    assert clusters["exact-of-clean-0"] == ("clean-0", "exact")
    assert clusters["near-0.005-of-clean-1"] == ("clean-1", "near")
    # A chain: the second-generation copy joins its parent's cluster.
    assert clusters["near-0.005-of-near-0.005-of-clean-2"] == ("clean-2", "near")
    assert clusters["near-0.005-of-clean-2"] == ("clean-2", "near")
    decisions = {
        KEY_OF[d]: (reason, kept)
        for d, reason, kept in cleaned.rows(
            "select document_id, drop_reason, is_kept from intermediate.int_documents_deduplicated"
        )
    }
    assert decisions["exact-of-clean-0"] == ("exact_duplicate", False)
    assert decisions["near-0.005-of-clean-1"] == ("near_duplicate", False)
    assert decisions["clean-1"] == (None, True)
    assert decisions["lorem"][0] == "c4_lorem_ipsum"
    funnel = dict(
        cleaned.rows(
            "select reason, records from marts.pipeline_funnel where source_name = 'corpus' and outcome = 'dropped'"
        )
    )
    assert funnel["c4_lorem_ipsum"] == sum(1 for r, _ in decisions.values() if r == "c4_lorem_ipsum")
    training = {KEY_OF[d] for (d,) in cleaned.rows("select document_id from marts.training_examples")}
    assert training == {k for k, (r, kept) in decisions.items() if kept}


def test_incremental_run_processes_only_new_documents(cleaned: DbtRun) -> None:
    home = cleaned.home
    before = dict(cleaned.rows("select document_id, band_hashes from intermediate.int_document_minhash"))
    incremental = (
        "int_documents_normalized",
        "int_documents_quality",
        "int_documents_repetition",
        "int_documents_language",
        "int_document_minhash",
    )
    writers_before = {model: writers(cleaned, model) for model in incremental}
    rng = random.Random(7)
    new_docs = {
        "late-near-of-clean-3": edited(rng, CORPUS["clean-3"], 0.005),
        "late-unique": article(rng),
        # A new version of clean-4 that is no longer anything like it: its old pairs must go.
        "clean-4": article(rng),
    }
    land_documents(home / "warehouse" / "refinery.duckdb", new_docs, T2, create=False)
    run = build(home)
    changed = {doc(key) for key in new_docs}
    for model in incremental:
        old, new = writers_before[model], writers(run, model)
        # Only the 3 new or changed documents were (re)written, by the second build.
        assert {d for d, w in new.items() if old.get(d) != w} == changed, model
        assert len(set(old.values())) == 1 and len(set(new.values())) == 2, model
        assert len(new) == len(old) + 2, model
    after = dict(run.rows("select document_id, band_hashes from intermediate.int_document_minhash"))
    unchanged = set(before) - {doc("clean-4")}
    assert all(after[d] == before[d] for d in unchanged)
    pairs = {
        frozenset((KEY_OF.get(a, a), KEY_OF.get(b, b)))
        for a, b in run.rows("select document_id_a, document_id_b from intermediate.int_document_near_pairs")
    }
    assert frozenset(("clean-3", doc("late-near-of-clean-3"))) in pairs
    decisions = dict(run.rows("select document_id, drop_reason from intermediate.int_documents_deduplicated"))
    assert decisions[doc("late-near-of-clean-3")] == "near_duplicate"
    assert decisions[doc("clean-4")] is None
    assert len(decisions) == len(CORPUS) + 2
