"""bench/cleaning_corpus.py and bench/cleaning.py: the planted truth and the pair scoring the benchmark reports."""

from __future__ import annotations

import json
import sys

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.unit

sys.path.insert(0, str(PROJECT_ROOT / "bench"))
import cleaning  # noqa: E402
import cleaning_corpus  # noqa: E402
import cleaning_rules  # noqa: E402


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    stem = tmp_path_factory.mktemp("corpus") / "c"
    stats = cleaning_corpus.generate(stem, 1_200, seed=11)
    docs = {d["id"]: d["text"] for d in cleaning_corpus.read_jsonl(stem.with_name("c.jsonl"))}
    labels = {}
    for line in stem.with_name("c.labels.tsv").read_text().splitlines()[1:]:
        doc_id, kind, detail, family = line.split("\t")
        labels[doc_id] = (kind, detail, family)
    pairs = [line.split("\t") for line in stem.with_name("c.pairs.tsv").read_text().splitlines()[1:]]
    return stem, stats, docs, labels, pairs


def test_generation_is_deterministic_and_a_prefix(tmp_path, monkeypatch):
    monkeypatch.setattr(cleaning_corpus, "BLOCK", 100)  # small shuffle blocks keep this test fast
    for name in ("one", "two"):
        cleaning_corpus.generate(tmp_path / name, 300, seed=11)
    for ext in (".jsonl", ".labels.tsv", ".pairs.tsv"):
        assert (tmp_path / f"one{ext}").read_bytes() == (tmp_path / f"two{ext}").read_bytes()
    # A corpus of whole blocks is the first documents of a larger one (datatrove's subset).
    cleaning_corpus.generate(tmp_path / "large", 500, seed=11)
    large = (tmp_path / "large.jsonl").read_bytes().splitlines(keepends=True)
    assert b"".join(large[:300]) == (tmp_path / "one.jsonl").read_bytes()


def test_documents_look_like_the_spec(corpus):
    _, stats, docs, labels, _ = corpus
    assert stats["docs"] == len(docs) == 1_200
    good = [docs[i] for i, (kind, _, _) in labels.items() if kind == "good"]
    mean_bytes = sum(len(t.encode()) for t in good) / len(good)
    assert 2_500 < mean_bytes < 4_500
    assert all("\n\n" in t for t in good)
    assert sum("\n- " in t for t in good) > len(good) * 0.1  # some bullet lists
    assert set(stats["kinds"]) == {"good", "bad", "exact", "near"}


def test_good_documents_pass_every_rule_and_bad_ones_fail_theirs(corpus):
    _, _, docs, labels, _ = corpus
    seen_types = set()
    for n, (doc_id, (kind, detail, _)) in enumerate(labels.items()):
        if kind != "bad" and n % 3:
            continue  # every bad document, a third of the others (the rules take ~3 ms a document)
        failed = cleaning_rules.rule_failures(docs[doc_id])
        if kind == "bad":
            assert cleaning_corpus.BAD_RULES[detail] in failed, (doc_id, detail, failed)
            seen_types.add(detail)
        else:
            assert failed == [], (doc_id, kind, failed)
    assert seen_types == set(cleaning_corpus.BAD_TYPES)


def test_planted_pairs_carry_their_exact_jaccard(corpus):
    _, stats, docs, labels, pairs = corpus
    assert len(pairs) == stats["pairs"] > 100
    above = 0
    for a, b, family, details, jac in pairs:
        assert a < b and labels[a][2] == labels[b][2] == family
        exact = cleaning_rules.jaccard(cleaning_rules.shingles(docs[a]), cleaning_rules.shingles(docs[b]))
        assert float(jac) == pytest.approx(exact, abs=1e-6)
        if family.startswith("x"):  # exact-duplicate group: identical, whitespace or case copies
            assert exact == 1.0
        if details in ("base|rate=0.005", "rate=0.005|base"):
            assert exact > 0.85
        if "rate=0.3" in details:
            assert exact < 0.5
        above += exact >= 0.75
    assert 0.2 * len(pairs) < above < 0.85 * len(pairs)  # the families straddle the threshold
    assert above == stats["pairs_ge_075"]


def test_increment_pairs_point_at_existing_documents(tmp_path, corpus):
    stem, _, docs, _, _ = corpus
    inc = tmp_path / "inc"
    stats = cleaning_corpus.generate_increment(inc, stem, fraction=0.02)
    new = {d["id"]: d["text"] for d in cleaning_corpus.read_jsonl(tmp_path / "inc.jsonl")}
    assert len(new) == stats["docs"] == 24 and all(i.startswith("inc-") for i in new)
    rows = [line.split("\t") for line in (tmp_path / "inc.pairs.tsv").read_text().splitlines()[1:]]
    assert len(rows) == stats["pairs"] > 0
    for a, b, _, _, jac in rows:
        old, fresh = (a, b) if a in docs else (b, a)
        exact = cleaning_rules.jaccard(cleaning_rules.shingles(docs[old]), cleaning_rules.shingles(new[fresh]))
        assert float(jac) == pytest.approx(exact, abs=1e-6)


def test_shingle_words():
    assert cleaning_rules.words("Don't STOP—the café's 2_cats!\nNo.") == [
        "don",
        "t",
        "stop",
        "the",
        "café",
        "s",
        "2",
        "cats",
        "no",
    ]
    assert cleaning_rules.shingles("one two three four") == frozenset()
    assert cleaning_rules.shingles("a b c d e f") == {"a b c d e", "b c d e f"}
    assert cleaning_rules.jaccard(frozenset(), frozenset()) == 0.0
    assert cleaning_rules.jaccard(frozenset({"x", "y"}), frozenset({"y", "z"})) == pytest.approx(1 / 3)


def test_precision_recall_arithmetic():
    truth = {("a", "b"): 0.9, ("a", "c"): 0.8, ("b", "c"): 0.7, ("d", "e"): 1.0}
    # predicted: two correct planted pairs, one planted pair below the threshold, one unplanted pair
    # that is in fact similar (counts as correct and joins the relevant set) and one that is not.
    predicted = {("a", "b"), ("d", "e"), ("b", "c"), ("x", "y"), ("p", "q")}
    extra = {("x", "y"): 0.75, ("p", "q"): 0.1}
    got = cleaning.precision_recall(predicted, truth, extra)
    assert got == {
        "predicted": 5,
        "correct": 3,  # (a,b), (d,e), (x,y)
        "relevant": 4,  # (a,b), (a,c), (d,e) planted + (x,y)
        "found": 3,
        "precision": 3 / 5,
        "recall": 3 / 4,
    }
    assert cleaning.precision_recall(set(), truth, {})["precision"] is None


def test_cluster_pairs_are_every_pair_inside_a_cluster(tmp_path):
    rows = [("a", 1), ("b", 1), ("c", 1), ("d", 2), ("e", 3), ("f", 3)]
    assert cleaning.cluster_pairs(rows) == {("a", "b"), ("a", "c"), ("b", "c"), ("e", "f")}
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("b\ta\na\tb\nc\tc\n")
    assert cleaning.read_pairs_tsv(tsv) == {("a", "b")}


def test_exact_jaccards_reads_the_texts_it_needs(tmp_path):
    corpus = tmp_path / "c.jsonl"
    texts = {"d1": "one two three four five six", "d2": "one two three four five seven", "d3": "x"}
    corpus.write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in texts.items()))
    got = cleaning.exact_jaccards({("d1", "d2"), ("d1", "d3")}, [corpus])
    assert got == {("d1", "d2"): pytest.approx(1 / 3), ("d1", "d3"): 0.0}


def test_closure_pairs_join_stars_into_groups():
    assert cleaning.closure_pairs({("a", "b"), ("a", "c"), ("d", "e")}) == {
        ("a", "b"),
        ("a", "c"),
        ("b", "c"),
        ("d", "e"),
    }
