"""Reference definitions shared by the cleaning benchmark: shingles, Jaccard, and the quality rules.

Pure standard library, so both the project's .venv (generator, harness, tests) and the competitor
venv `.venv-bench` (the Hugging Face `datasets` runner) import it.

- `shingles(text)`: the set of word 5-grams the benchmark's truth is computed on. Words = the text
  lower-cased, every character that is not a Unicode letter or digit replaced by a space, split on
  whitespace. The same definition as Refinery's near-dedup SQL.
- `rule_failures(text)`: the Gopher quality + Gopher repetition + C4 + FineWeb rules with the
  thresholds of the papers (the defaults of datatrove 0.10.1's filters), written plainly in Python.
  Words are `\\w+` runs and single punctuation characters (datatrove uses spaCy's English tokenizer;
  on the generated corpus the two agree on every rule outcome we check). Used as the test oracle for
  the generator's planted bad documents and as the `datasets` competitor's heuristics.
"""

from __future__ import annotations

import re
from collections import Counter

SHINGLE_WORDS = 5
NON_WORD = re.compile(r"[\W_]+")  # not a Unicode letter or digit (\w minus underscore)
TOKEN = re.compile(r"\w+|[^\w\s]")
WORD = re.compile(r"\w+")
ALPHA_WORD = re.compile(r"\w*[^\W\d_]\w*")  # a \w+ run with at least one letter
STOP_WORDS = frozenset(["the", "be", "to", "of", "and", "that", "have", "with"])
TERMINAL = (".", "!", "?", '"', "'")  # C4's END_PUNCTUATION
FINEWEB_STOP = (".", "!", "?", '"', "'", "…", ";", ":")  # the ASCII-relevant part of datatrove's set


def words(text: str) -> list[str]:
    """The word sequence shingles are made of (see the module docstring)."""
    return NON_WORD.sub(" ", text.lower()).split()


def shingles(text: str, n: int = SHINGLE_WORDS) -> frozenset[str]:
    """Set of word n-grams (space-joined). A text with fewer than n words has no shingles."""
    w = words(text)
    return frozenset(" ".join(w[i : i + n]) for i in range(len(w) - n + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a ∩ b| / |a ∪ b|; 0.0 when both are empty (nothing to compare)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def _duplicates(items: list[str]) -> tuple[int, int]:
    seen: set[str] = set()
    count = chars = 0
    for item in items:
        if item in seen:
            count += 1
            chars += len(item)
        else:
            seen.add(item)
    return count, chars


def _all_duplicate_chars(tokens: list[str], n: int) -> int:
    seen: set[str] = set()
    chars = idx = 0
    while idx < len(tokens) - n + 1:
        gram = "".join(tokens[idx : idx + n])
        if gram in seen:
            chars += len(gram)
            idx += n
        else:
            seen.add(gram)
            idx += 1
    return chars


def gopher_repetition(text: str) -> list[str]:
    """Gopher (Rae et al. 2021, table A1) repetition rules; names of the rules the text fails."""
    failed = []
    paragraphs = re.split(r"\n{2,}", text.strip())
    dup, chars = _duplicates(paragraphs)
    if dup / len(paragraphs) > 0.3:
        failed.append("gopher_dup_para_frac")
    if chars / len(text) > 0.2:
        failed.append("gopher_dup_para_char_frac")
    lines = re.split(r"\n+", text)
    dup, chars = _duplicates(lines)
    if dup / len(lines) > 0.3:
        failed.append("gopher_dup_line_frac")
    if chars / len(text) > 0.2:
        failed.append("gopher_dup_line_char_frac")
    tokens = TOKEN.findall(text)
    for n, limit in ((2, 0.2), (3, 0.18), (4, 0.16)):
        grams = Counter(zip(*(tokens[i:] for i in range(n)), strict=False))
        if grams:
            gram, count = grams.most_common(1)[0]
            if (sum(map(len, gram)) + n - 1) * count / len(text) > limit:
                failed.append(f"gopher_top_{n}_gram")
    five = list(zip(*(tokens[i:] for i in range(5)), strict=False))
    if len(set(five)) < len(five):  # no repeated 5-gram means no repeated longer n-gram either
        for n, limit in ((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10)):
            if _all_duplicate_chars(tokens, n) / len(text) > limit:
                failed.append(f"gopher_dup_{n}_gram")
    return failed


def gopher_quality(text: str) -> list[str]:
    """Gopher quality rules (word count, word length, symbols, bullets, ellipses, alphabetic words, stop words)."""
    failed = []
    tokens = TOKEN.findall(text)
    n_tokens = max(len(tokens), 1)
    real = WORD.findall(text)  # the tokens that are not a punctuation character
    if not 50 <= len(real) <= 100_000:
        failed.append("gopher_word_count")
    mean_len = sum(map(len, real)) / len(real) if real else 0.0
    if not 3 <= mean_len <= 10:
        failed.append("gopher_mean_word_length")
    if text.count("#") / n_tokens > 0.1 or (text.count("...") + text.count("…")) / n_tokens > 0.1:
        failed.append("gopher_symbol_word_ratio")
    lines = text.splitlines() or [""]
    if sum(line.lstrip().startswith(("•", "-")) for line in lines) / len(lines) > 0.9:
        failed.append("gopher_bullet_lines")
    if sum(line.rstrip().endswith(("...", "…")) for line in lines) / len(lines) > 0.3:
        failed.append("gopher_ellipsis_lines")
    if len(ALPHA_WORD.findall(text)) / n_tokens < 0.8:
        failed.append("gopher_alpha_words")
    if len(STOP_WORDS.intersection(t.lower() for t in tokens)) < 2:
        failed.append("gopher_stop_words")
    return failed


def c4(text: str) -> tuple[list[str], str]:
    """C4 rules (Raffel et al. 2020): the document-level failures and the text with C4's line removals."""
    failed = []
    kept = []
    sentences = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line.endswith(TERMINAL) or line.endswith("..."):
            continue
        if len(line.split()) < 3:
            continue
        lower = line.lower()
        if "lorem ipsum" in lower:
            failed.append("c4_lorem_ipsum")
            break
        if "javascript" in lower:
            continue
        if "{" in line:
            failed.append("c4_curly_bracket")
            break
        sentences += max(1, len(re.findall(r"[.!?]+(?:\s|$)", line)))
        kept.append(line)
    if not failed and sentences < 5:
        failed.append("c4_too_few_sentences")
    return failed, "\n".join(kept)


def fineweb(text: str) -> list[str]:
    """FineWeb (Penedo et al. 2024) rules: line punctuation, short lines, duplicated-line characters, list ratio."""
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        return ["fineweb_empty"]
    failed = []
    if sum(line.endswith(FINEWEB_STOP) for line in lines) / len(lines) < 0.12:
        failed.append("fineweb_line_punct_ratio")
    if sum(len(line) <= 30 for line in lines) / len(lines) > 0.67:
        failed.append("fineweb_short_line_ratio")
    if _duplicates(lines)[1] / max(len(text.replace("\n", "")), 1) > 0.01:
        failed.append("fineweb_char_dup_ratio")
    if text.count("\n") / max(len(TOKEN.findall(text)), 1) > 0.3:
        failed.append("fineweb_list_ratio")
    return failed


def rule_failures(text: str) -> list[str]:
    """Every rule the text fails, in datatrove's pipeline order; FineWeb sees the text after C4's line removal."""
    if not text.strip():
        return ["empty"]
    failed = gopher_repetition(text) + gopher_quality(text)
    c4_failed, c4_text = c4(text)
    failed += c4_failed
    failed += fineweb(c4_text if c4_text.strip() else text)
    return failed
