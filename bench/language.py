"""Language identification and mojibake repair: accuracy and throughput inside DuckDB.

The text is real translated software messages: the gettext catalogs (`*.mo`) under
/usr/share/locale, one language per folder, msgstr of the language (English: the msgids).
Documents are random messages of one language joined by spaces (deterministic seed).

- accuracy: 60 documents per language in 24 languages plus English, detected on prefixes of
  40 … 2,000 characters; the expected label is the catalog's language.
- throughput: `--docs` documents (default 100,000, ~3 KB each ≈ 300 MB, 70% English) in a
  DuckDB file, then, each timed on its own:
    * `scan`: `sum(length(text))`, the floor;
    * `language_<n>`: `create table … as select document_id, refinery_language(left(text, n))`
      for n = 300, 500 (the default of var language_detection_max_chars) and 1,000;
    * `mojibake`: the fix_mojibake macro's SQL over every document, 1% of which were broken
      (UTF-8 read as Windows-1252): how many are flagged and how many come back exact;
    * `nfkc`: the NFKC form of macro unicode_normalize.
  MB/s counts the bytes of the whole texts (MB = 10^6 bytes), docs/s every document; both
  by wall clock. CPU s is the process's CPU time (both DuckDB threads), shown because the
  shared VM's load moves wall-clock numbers.

    .venv/bin/python bench/language.py                # ~3 min on the 2-core VM
    .venv/bin/python bench/language.py --docs 20000   # quick
"""

from __future__ import annotations

import argparse
import difflib
import gettext
import glob
import os
import platform
import random
import re
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import refinery_udfs
from refinery_udfs.language import detect_language

REPO_ROOT = Path(__file__).resolve().parents[1]
# catalog folder → the lid.176 label expected
LANGUAGES = {
    "de": "de", "es": "es", "fr": "fr", "it": "it", "pt_BR": "pt", "nl": "nl", "sv": "sv", "da": "da",
    "fi": "fi", "pl": "pl", "cs": "cs", "ru": "ru", "uk": "uk", "tr": "tr", "ja": "ja", "zh_CN": "zh",
    "ko": "ko", "el": "el", "hu": "hu", "ro": "ro", "vi": "vi", "id": "id", "bg": "bg", "ca": "ca",
}  # fmt: skip
PREFIXES = (40, 80, 160, 300, 500, 1000, 2000)


def load_messages(min_chars: int = 20) -> dict[str, list[str]]:
    """Translated messages per language label ('en' = the English msgids)."""
    messages: dict[str, list[str]] = {}
    english: set[str] = set()
    for folder, label in LANGUAGES.items():
        for path in sorted(glob.glob(f"/usr/share/locale/{folder}/LC_MESSAGES/*.mo")):
            try:
                with open(path, "rb") as handle:
                    catalog = gettext.GNUTranslations(handle)._catalog
            except (OSError, UnicodeDecodeError):  # a few old catalogs are not UTF-8
                continue
            for key, value in sorted(catalog.items(), key=lambda item: str(item[0])):
                if isinstance(key, str) and key and isinstance(value, str) and value != key:
                    if len(value) >= min_chars:
                        messages.setdefault(label, []).append(" ".join(value.split()))
                    if len(key) >= min_chars and re.fullmatch(r"[\x20-\x7e\s]+", key):
                        english.add(" ".join(key.split()))
    messages["en"] = sorted(english)
    missing = [label for label in [*LANGUAGES.values(), "en"] if len(messages.get(label, [])) < 200]
    if missing:
        raise SystemExit(f"too few gettext messages under /usr/share/locale for {missing}; install locales")
    return messages


def make_document(rng: random.Random, messages: list[str], chars: int) -> str:
    parts: list[str] = []
    size = 0
    while size < chars:
        message = rng.choice(messages)
        parts.append(message)
        size += len(message) + 1
    return " ".join(parts)


def accuracy(messages: dict[str, list[str]], per_language: int = 60, seed: int = 4) -> None:
    rng = random.Random(seed)
    documents = [
        (label, make_document(rng, messages[label], 2000)) for label in sorted(messages) for _ in range(per_language)
    ]
    print(f"\n## Accuracy: {len(documents)} documents, {len(messages)} languages, {per_language} each")
    print("| prefix (chars) | accuracy | docs/s (one core, Python) |")
    print("|---:|---:|---:|")
    wrong_at_1000: dict[str, int] = {}
    for prefix in PREFIXES:
        correct = 0
        start = time.perf_counter()
        for label, text in documents:
            language, _confidence = detect_language(text[:prefix])
            correct += language == label
            if prefix == 1000 and language != label:
                wrong_at_1000[label] = wrong_at_1000.get(label, 0) + 1
        elapsed = time.perf_counter() - start
        print(f"| {prefix:,} | {correct / len(documents):.3f} | {len(documents) / elapsed:,.0f} |")
    print(f"errors at 1,000 by language: {wrong_at_1000 or 'none'}")


def break_encoding(text: str) -> str:
    """UTF-8 bytes read as Windows-1252 (its five undefined bytes as Latin-1)."""
    return "".join(
        chr(byte) if byte in (0x81, 0x8D, 0x8F, 0x90, 0x9D) else bytes([byte]).decode("cp1252")
        for byte in text.encode("utf-8")
    )


def macro_sql(name: str) -> str:
    """The SQL body of a macro in dbt_project/macros/text_repair.sql, for plain DuckDB."""
    source = (REPO_ROOT / "dbt_project" / "macros" / "text_repair.sql").read_text()
    pattern = re.search(r"macro mojibake_pattern\(\) -%\}\s*(.*?)\s*\{%- endmacro", source, re.S).group(1)
    if name == "fix_mojibake":
        return f"case when regexp_matches(text, '{pattern}') then refinery_fix_encoding(text) else text end"
    if name == "mojibake_flag":
        return f"regexp_matches(text, '{pattern}')"
    if name == "nfkc":
        return "refinery_nfkc(text)"
    raise ValueError(name)


def throughput(messages: dict[str, list[str]], docs: int, seed: int, workdir: Path) -> None:
    rng = random.Random(seed)
    labels = sorted(label for label in messages if label != "en")
    ids, texts, originals, broken_flags = [], [], [], []
    for index in range(docs):
        label = "en" if rng.random() < 0.7 else rng.choice(labels)
        text = make_document(rng, messages[label], int(rng.lognormvariate(7.6, 0.7)))
        broken = label != "en" and rng.random() < 0.01 / 0.3
        ids.append(index)
        originals.append(text)
        texts.append(break_encoding(text) if broken else text)
        broken_flags.append(broken)
    database = workdir / "language_bench.duckdb"
    database.unlink(missing_ok=True)
    con = duckdb.connect(str(database))
    refinery_udfs.register(con)
    corpus = pa.table({"document_id": ids, "text": texts, "original": originals, "is_broken": broken_flags})
    con.register("corpus_arrow", corpus)
    con.execute("create table corpus as select * from corpus_arrow")
    con.unregister("corpus_arrow")
    total_bytes = con.execute("select sum(octet_length(encode(text))) from corpus").fetchone()[0]
    print(
        f"\n## Throughput in DuckDB {duckdb.__version__}: {docs:,} documents, {total_bytes / 1e6:,.0f} MB, "
        f"threads={con.execute('select current_setting(' + repr('threads') + ')').fetchone()[0]}, "
        f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}"
    )
    print("| step | wall s | CPU s | docs/s | MB/s |")
    print("|---|---:|---:|---:|---:|")

    def timed(step: str, sql: str) -> None:
        start, cpu_start = time.perf_counter(), time.process_time()
        con.execute(sql)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        print(f"| {step} | {elapsed:.1f} | {cpu:.1f} | {docs / elapsed:,.0f} | {total_bytes / 1e6 / elapsed:,.1f} |")

    timed("scan: sum(length(text))", "select sum(length(text)) from corpus")
    for prefix in (300, 500, 1000):
        timed(
            f"refinery_language(left(text, {prefix}))",
            f"create or replace table detected_{prefix} as "
            f"select document_id, refinery_language(left(text, {prefix})) as detection from corpus",
        )
    timed(
        "fix_mojibake(text)",
        f"create or replace table repaired as select document_id, {macro_sql('fix_mojibake')} as text from corpus",
    )
    timed(
        "unicode_normalize(text), NFKC",
        f"create or replace table nfkc as select document_id, {macro_sql('nfkc')} as text from corpus",
    )
    flagged, broken, restored, changed_clean = con.execute(
        f"""
        select
            count(*) filter ({macro_sql("mojibake_flag").replace("(text,", "(corpus.text,")}),
            count(*) filter (is_broken),
            count(*) filter (is_broken and repaired.text = corpus.original),
            count(*) filter (not is_broken and repaired.text != corpus.text)
        from corpus join repaired using (document_id)
        """
    ).fetchone()
    print(
        f"\nmojibake: {broken:,} broken documents, {flagged:,} flagged by the pattern "
        f"({flagged / docs:.2%} of all), {restored:,} restored exactly, {changed_clean:,} clean documents changed"
    )
    for original, repaired_text in con.execute(
        "select corpus.text, repaired.text from corpus join repaired using (document_id) "
        "where not is_broken and repaired.text != corpus.text limit 3"
    ).fetchall():
        matcher = difflib.SequenceMatcher(None, original, repaired_text, autojunk=False)
        changes = [
            f"{original[max(a1 - 12, 0) : a2 + 12]!r} → {repaired_text[max(b1 - 12, 0) : b2 + 12]!r}"
            for tag, a1, a2, b1, b2 in matcher.get_opcodes()
            if tag != "equal"
        ]
        print(f"  clean document changed (mojibake already in the catalog): {'; '.join(changes[:2])}")
    for prefix in (300, 500):
        same = con.execute(
            "select avg((a.detection.language = b.detection.language)::int) "
            f"from detected_{prefix} as a join detected_1000 as b using (document_id)"
        ).fetchone()[0]
        print(f"prefix {prefix} and prefix 1000 agree on {same:.2%} of documents")
    con.close()
    database.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "refinery-bench")
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    messages = load_messages()
    print(f"messages: {sum(len(v) for v in messages.values()):,} in {len(messages)} languages")
    if not args.skip_accuracy:
        accuracy(messages)
    throughput(messages, args.docs, args.seed, args.workdir)


if __name__ == "__main__":
    main()
